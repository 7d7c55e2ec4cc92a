//! The per-integration event log: what kind of line is written, and the writer that stamps,
//! traces and stores lines without ever raising (the log explains, it must never block a
//! message).
//!
//! Writers name a line's kind with [`EventKind`]; it is stored as its string
//! ([`EventKind::as_str`]). Stored entries ([`EventLogEntry`]) keep their kind as a string
//! when read: lines written by older or newer versions, with kinds this build does not know,
//! must still be shown unchanged by the admin views and API. [`EventKind::parse`] reads a
//! stored string back where a caller wants the typed kind.

use std::fmt;
use std::time::Duration;

use crate::ids::IntegrationId;
use crate::ports::{EventLogEntry, Store};
use crate::time::Timestamp;

/// How long event-log lines are kept.
pub const EVENT_LOG_TTL: Duration = Duration::from_secs(24 * 3600);

/// The kind of an event-log line. Each variant is stored as the string in its doc comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `received`: a platform callback or long-connection event arrived and was read.
    Received,
    /// `verified`: a platform verified the callback URL (WeCom).
    Verified,
    /// `duplicate`: an event seen before (a platform retry or redelivery) was ignored.
    Duplicate,
    /// `enqueued`: an event was stored on the queue for the agent.
    Enqueued,
    /// `rejected`: a callback was refused before it could be authenticated.
    Rejected,
    /// `ignored`: an event was acknowledged without being queued because it is not for the
    /// agent (or, in the dispatcher, not something it answers).
    Ignored,
    /// `dropped`: the dispatcher dropped an event (a disabled integration, a bot's message, …).
    Dropped,
    /// `session`: the dispatcher started a new session (a new conversation, a `new` command or
    /// a card's new-conversation action).
    Session,
    /// `feedback`: a user's feedback on an answer was received.
    Feedback,
    /// `aggregating`: a message was held to be sent to the agent together with the next ones.
    Aggregating,
    /// `media`: a file the user sent was fetched and kept for the agent, or was not (too
    /// large, failed, no media store), or a voice note's transcript stood in for it.
    Media,
    /// `replied`: the agent's answer was delivered to the platform.
    Replied,
    /// `error`: something failed (enqueue, agent, reply, an unreadable frame, a connection).
    Error,
    /// `connecting`: a relay connection is being opened.
    Connecting,
    /// `connected`: a relay connection is established.
    Connected,
    /// `resumed`: the dispatcher delivers an answer the agent gave before the gateway stopped.
    Resumed,
    /// `retrying`: a relay connection failed and reconnects after a delay, or the agent failed
    /// and the queue message will be retried.
    Retrying,
    /// `stopped`: a relay connection was stopped (shutdown, restart, lost lease, given up).
    Stopped,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 18] = [
        Self::Received,
        Self::Verified,
        Self::Duplicate,
        Self::Enqueued,
        Self::Rejected,
        Self::Ignored,
        Self::Dropped,
        Self::Session,
        Self::Feedback,
        Self::Aggregating,
        Self::Media,
        Self::Replied,
        Self::Error,
        Self::Connecting,
        Self::Connected,
        Self::Resumed,
        Self::Retrying,
        Self::Stopped,
    ];

    /// The stored string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Verified => "verified",
            Self::Duplicate => "duplicate",
            Self::Enqueued => "enqueued",
            Self::Rejected => "rejected",
            Self::Ignored => "ignored",
            Self::Dropped => "dropped",
            Self::Session => "session",
            Self::Feedback => "feedback",
            Self::Aggregating => "aggregating",
            Self::Media => "media",
            Self::Replied => "replied",
            Self::Error => "error",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Resumed => "resumed",
            Self::Retrying => "retrying",
            Self::Stopped => "stopped",
        }
    }

    /// The kind stored as `text`, or `None` for a kind this build does not know (the stored
    /// entry still reads, with its string kind).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Appends to an integration's event log, logging (not raising) failures: the log explains,
/// it must never block a message.
pub async fn record(
    store: &dyn Store,
    integration: &IntegrationId,
    kind: EventKind,
    event_id: Option<&str>,
    detail: &str,
) {
    let mut log = EventLines::default();
    log.push(integration, kind, event_id, detail);
    log.write(store, integration).await;
}

/// Event-log lines collected during one step and written together.
#[derive(Default)]
pub struct EventLines(Vec<EventLogEntry>);

impl EventLines {
    /// Adds a line (stamped now) and writes it to the process log at once, where operators
    /// search across integrations.
    pub fn push(&mut self, integration: &IntegrationId, kind: EventKind, event_id: Option<&str>, detail: &str) {
        let kind = kind.as_str();
        tracing::info!(integration_id = %integration, kind, event_id = event_id.unwrap_or_default(), detail, "event");
        self.0.push(EventLogEntry {
            at: Timestamp::now(),
            kind: kind.to_owned(),
            event_id: event_id.map(|id| id.chars().take(128).collect()),
            detail: detail.to_owned(),
        });
    }

    /// Adds the lines of `earlier` (already traced when they were pushed) after these.
    pub fn append(&mut self, earlier: Self) {
        self.0.extend(earlier.0);
    }

    /// True when no line was pushed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The lines, oldest first, for a store call that writes them with others.
    pub fn into_entries(self) -> Vec<EventLogEntry> {
        self.0
    }

    /// Stores the lines; failures are logged, never raised.
    pub async fn write(self, store: &dyn Store, integration: &IntegrationId) {
        if self.0.is_empty() {
            return;
        }
        if let Err(error) = store.record_events(integration, &self.0, EVENT_LOG_TTL).await {
            tracing::warn!(integration_id = %integration, %error, "event log write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn kinds_read_back_from_their_strings() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(EventKind::parse("some-future-kind"), None);
    }
}
