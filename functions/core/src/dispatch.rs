//! The dispatcher: from a queued event to an agent's streamed answer on the platform.
//!
//! One queue message is handled by [`Dispatcher::handle`]: trigger lookup, group policy,
//! commands (`/new`, `/help`, `/status`), the aggregation window, the session, the agent call
//! and the reply. The same code runs in the `dispatcher` Lambda (SQS batches, see
//! [`Dispatcher::handle_batch`]) and in `imgate serve`'s worker.
//!
//! Delivery is at least once, so every side effect is guarded: an event that was answered
//! is remembered (its last event-log line, kept under the event's key, see
//! [`Dispatcher::mark_answered`]) and a redelivery is acknowledged without a second answer.

mod answers;
mod batch;
mod busy;
mod conversation;
pub mod heartbeat;
mod texts;
pub mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use batch::{BatchRecord, group_in_order};

use crate::envelope::{Envelope, EnvelopeError, Payload};
use crate::event::{InboundEvent, InboundKind};
use crate::event_log::{EventKind, EventLines, record};
use crate::integration::OpenRecordError;
use crate::keyring::Keyring;
use crate::media::{MediaPipeline, MediaSettings};
use crate::platform::Platform;
use crate::ports::{
    AgentClient, MediaFetcher, MediaStore, Queue, QueueError, Replier, ReplyError, ReplyTarget, Store, StoreError,
};
use crate::time::Timestamp;

/// The card action that starts a new conversation (the button on failure cards).
pub const NEW_SESSION_ACTION: &str = "imgate_new_session";
/// How long an answered event is remembered, so a redelivery does not answer twice.
/// As long as the recorded answer: a redelivery within it finds one or the other.
const REPLIED_TTL: Duration = crate::session::ANSWER_TTL;

/// Tunables of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Receives after which the queue dead-letters a message; on the last one a failing agent
    /// gets an error reply instead of another retry.
    pub max_receives: u32,
    /// Minimum time between two streamed updates of one reply.
    pub update_interval: Duration,
    /// How long session history is kept.
    pub history_ttl: Duration,
    /// How long a received message stays hidden between two heartbeats of its handler (see
    /// [`heartbeat`]): the longest a dead handler blocks its conversation.
    pub visibility: Duration,
    /// How often an answer being streamed looks for a `/cancel` of its conversation (one
    /// store read each time; see [`crate::cancel`]).
    pub cancel_poll: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            max_receives: 5,
            update_interval: Duration::from_millis(500),
            history_ttl: Duration::from_secs(7 * 86400),
            visibility: heartbeat::VISIBILITY,
            cancel_poll: Duration::from_secs(2),
        }
    }
}

/// Handling a queue message failed; the message should be retried (and dead-lettered after
/// the queue's max receive count).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The body is not a readable envelope; retrying will not help, the dead-letter queue keeps it.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealed data could not be opened.
    #[error(transparent)]
    Open(#[from] OpenRecordError),
    /// The queue failed (scheduling an aggregation flush).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The platform did not take the reply.
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// The agent failed; the user was told if this was the last attempt.
    #[error("agent failed: {0}")]
    Agent(#[from] crate::ports::AgentError),
}

/// Platform → reply implementation.
#[derive(Clone, Default)]
pub struct Repliers(HashMap<Platform, Arc<dyn Replier>>);

impl Repliers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the replier of a platform.
    #[must_use]
    pub fn with(mut self, platform: Platform, replier: Arc<dyn Replier>) -> Self {
        self.0.insert(platform, replier);
        self
    }

    fn get(&self, platform: Platform) -> Result<&Arc<dyn Replier>, ReplyError> {
        self.0
            .get(&platform)
            .ok_or_else(|| ReplyError::Unsupported(platform.to_string()))
    }
}

/// The dispatcher.
#[derive(Clone)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    keyring: Arc<dyn Keyring>,
    agents: Arc<dyn AgentClient>,
    repliers: Repliers,
    settings: DispatchSettings,
    /// Where the media users send are fetched and kept; `None`: they are described to the
    /// agent as not kept.
    media: Option<MediaPipeline>,
}

impl Dispatcher {
    /// A dispatcher over the given backends.
    pub fn new(
        deps: &crate::ports::Deps,
        agents: Arc<dyn AgentClient>,
        repliers: Repliers,
        settings: DispatchSettings,
    ) -> Self {
        Self {
            store: deps.store.clone(),
            queue: deps.queue.clone(),
            keyring: deps.keyring.clone(),
            agents,
            repliers,
            settings,
            media: None,
        }
    }

    /// The same dispatcher, fetching the media users send with `fetcher` (one per platform,
    /// e.g. `imgate_channels::Channels::media`) and keeping them in `store` for the agent.
    /// Without this, the agent is told about each file but not given it.
    #[must_use]
    pub fn with_media(
        mut self,
        fetcher: Arc<dyn MediaFetcher>,
        store: Arc<dyn MediaStore>,
        settings: MediaSettings,
    ) -> Self {
        self.media = Some(MediaPipeline::new(fetcher, store, settings));
        self
    }

    /// Handles one queue message received `receive_count` times (1 on the first delivery).
    ///
    /// # Errors
    /// [`DispatchError`] when the message must be retried.
    pub async fn handle(&self, body: &str, receive_count: u32) -> Result<(), DispatchError> {
        let envelope = Envelope::from_body(body)?;
        match envelope.payload {
            Payload::Inbound { event, aggregated } => self.handle_event(*event, receive_count, aggregated).await,
            Payload::Flush { key, version } => self.flush(&key, version, receive_count).await,
        }
    }

    async fn handle_event(
        &self,
        event: InboundEvent,
        receive_count: u32,
        aggregated: bool,
    ) -> Result<(), DispatchError> {
        if self.answered(&event).await? {
            tracing::info!(integration_id = %event.integration_id, event_id = %event.event_id, "already answered");
            return Ok(());
        }
        let Some(integration) = self.store.get_integration(&event.integration_id).await? else {
            tracing::warn!(integration_id = %event.integration_id, "event for a deleted integration dropped");
            return Ok(());
        };
        let log = |kind: EventKind, detail: String| {
            let store = self.store.clone();
            let (id, event_id) = (integration.id.clone(), event.event_id.clone());
            async move { record(store.as_ref(), &id, kind, Some(&event_id), &detail).await }
        };
        if !integration.enabled {
            log(EventKind::Dropped, "the integration is disabled".into()).await;
            return Ok(());
        }
        if event.sender.is_bot && matches!(event.kind, InboundKind::Message(_)) {
            let why = "sent by a bot: bots are not answered, so two bots cannot answer each other in a loop";
            return self.mark_answered(&event, Done::new(EventKind::Ignored, why)).await;
        }
        let credentials = integration.open_credentials(self.keyring.as_ref()).await?;
        let target = ReplyTarget {
            integration: integration.clone(),
            credentials,
            event: event.clone(),
        };
        let trigger = self.store.get_trigger(&integration.id).await?.filter(|t| t.enabled);
        let Some(trigger) = trigger else {
            log(EventKind::Dropped, "no enabled trigger binds this integration".into()).await;
            self.reply_text(target, texts::NOT_BOUND).await?;
            let told = Done::new(EventKind::Replied, "told the sender that no agent is bound");
            return self.mark_answered(&event, told).await;
        };
        match &event.kind {
            InboundKind::Message(_) => match self.handle_message(target, &trigger, receive_count, aggregated).await? {
                Some(done) => self.mark_answered(&event, done).await,
                None => Ok(()),
            },
            InboundKind::CardAction { action, .. } if action == NEW_SESSION_ACTION => {
                self.store.delete_session(&event.session_key()).await?;
                self.reply_text(target, texts::NEW_SESSION).await?;
                let done = Done::new(EventKind::Session, "new conversation started from a card");
                self.mark_answered(&event, done).await
            }
            InboundKind::Feedback { rating, .. } => {
                log(EventKind::Feedback, format!("rating {rating}")).await;
                Ok(())
            }
            InboundKind::EnterChat | InboundKind::CardAction { .. } | InboundKind::Unsupported { .. } => {
                log(EventKind::Ignored, "event needs no agent".into()).await;
                Ok(())
            }
        }
    }

    /// Answers with a fixed text.
    async fn reply_text(&self, target: ReplyTarget, text: &str) -> Result<(), DispatchError> {
        let replier = self.repliers.get(target.integration.platform)?.clone();
        let mut stream = replier.open(target).await?;
        stream.finish(text).await?;
        Ok(())
    }

    /// True if `key` was marked before (a read; marks nothing).
    async fn already(&self, key: &str) -> Result<bool, StoreError> {
        self.store.is_claimed(key, Timestamp::now()).await
    }

    /// Remembers that `key` happened.
    async fn mark(&self, key: &str) -> Result<(), DispatchError> {
        self.store.claim(key, Timestamp::now(), REPLIED_TTL).await?;
        Ok(())
    }

    /// True when this delivery of `event` was answered before: its last event-log line, kept
    /// under the event's key at the time the gateway received it, is there.
    async fn answered(&self, event: &InboundEvent) -> Result<bool, StoreError> {
        self.store
            .has_keyed_events(
                &event.integration_id,
                &answered_key(event),
                event.received_at,
                Timestamp::now(),
            )
            .await
    }

    /// Writes the last event-log line of `event`'s handling, which is also the mark that it
    /// was answered (one write for both): a redelivery of the queue message finds it and is
    /// acknowledged without a second answer.
    async fn mark_answered(&self, event: &InboundEvent, done: Done) -> Result<(), DispatchError> {
        let mut lines = done.earlier;
        lines.push(&event.integration_id, done.kind, Some(&event.event_id), &done.detail);
        self.store
            .record_keyed_events(
                &event.integration_id,
                &answered_key(event),
                event.received_at,
                &lines.into_entries(),
                REPLIED_TTL,
            )
            .await?;
        Ok(())
    }
}

/// The key an event's answered mark is kept under.
fn answered_key(event: &InboundEvent) -> String {
    format!("answered:{}", event.dedupe_key())
}

/// How the handling of an event ended: the event-log line that marks it answered, and the
/// lines of the handling not stored yet (stored with it, in the same write).
pub(crate) struct Done {
    kind: EventKind,
    detail: std::borrow::Cow<'static, str>,
    earlier: EventLines,
}

impl Done {
    pub(crate) fn new(kind: EventKind, detail: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            earlier: EventLines::default(),
        }
    }

    /// The same end, with `lines` stored before its last line.
    pub(crate) fn after(mut self, lines: EventLines) -> Self {
        self.earlier.append(lines);
        self
    }
}
