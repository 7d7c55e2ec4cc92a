//! The AI card of one answer (see the parent module for the behaviour).

use std::time::Duration;

use imgate_core::event_log::{EventKind, record};
use imgate_core::ports::ReplyError;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::Sender;
use crate::api::card::{CONTENT_KEY, STATUS_KEY, params};
use crate::api::{CardSpace, FlowStatus};
use imgate_channel_kit::text::split;

use crate::reply::payload;

/// Ends a card whose answer continues in messages.
const CONTINUED: &str = "\n\n…";

/// Where the card goes.
enum Space {
    Group(String),
    Single(String),
}

/// The card of one answer.
pub(super) struct Card {
    template_id: String,
    out_track_id: String,
    space: Space,
    interval: Duration,
    /// Streaming into a delivered card.
    live: bool,
    last_frame: Option<Instant>,
}

impl Card {
    /// The card this answer would use: `None` without a template id, or in a single chat with a
    /// sender without staff id (cards are delivered to staff ids).
    pub(super) fn plan(sender: &Sender, interval: Duration) -> Option<Self> {
        let template_id = sender
            .app
            .card_template_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())?;
        let space = if sender.group {
            Space::Group(sender.conversation_id.clone())
        } else {
            Space::Single(sender.staff_id.clone()?)
        };
        Some(Self {
            template_id: template_id.to_owned(),
            out_track_id: out_track_id(&sender.key),
            space,
            interval,
            live: false,
            last_frame: None,
        })
    }

    /// Whether the card was delivered and is being streamed into.
    pub(super) fn is_live(&self) -> bool {
        self.live
    }

    /// Streams `text` (the answer so far), creating the card first if needed. `Ok(false)` when
    /// the card could not be created: the answer then goes out as messages.
    pub(super) async fn update(&mut self, sender: &Sender, text: &str) -> Result<bool, ReplyError> {
        if !self.live {
            if let Err(error) = self.start(sender).await {
                tracing::warn!(platform = "dingtalk", client_id = %sender.app.client_id, %error, "AI card unavailable; answering with messages");
                let detail = format!("AI card unavailable, answering with messages: {error}");
                record(
                    sender.store.as_ref(),
                    &sender.integration_id,
                    EventKind::Error,
                    None,
                    &detail,
                )
                .await;
                return Ok(false);
            }
            self.live = true;
        }
        if self.last_frame.is_some_and(|at| at.elapsed() < self.interval) {
            return Ok(true);
        }
        let (head, rest) = fit(text);
        let shown = if rest.is_empty() {
            head
        } else {
            format!("{head}{CONTINUED}")
        };
        match sender
            .api
            .stream_card(&sender.app, &self.out_track_id, CONTENT_KEY, &shown, false)
            .await
        {
            Ok(()) => {}
            // An intermediate frame is not worth failing for; the next one or the final one
            // carries the text.
            Err(ReplyError::RateLimited { .. }) => {
                tracing::debug!(platform = "dingtalk", "card frame skipped: rate limited");
            }
            Err(error) => return Err(error),
        }
        self.last_frame = Some(Instant::now());
        Ok(true)
    }

    /// Writes the final `text` into the card and marks it finished; returns what did not fit
    /// (to be sent as messages).
    pub(super) async fn finish(&mut self, sender: &Sender, text: &str) -> Result<String, ReplyError> {
        let (head, rest) = fit(text);
        let shown = if rest.is_empty() {
            head
        } else {
            format!("{head}{CONTINUED}")
        };
        sender
            .api
            .stream_card(&sender.app, &self.out_track_id, CONTENT_KEY, &shown, true)
            .await?;
        self.set(sender, FlowStatus::Finished, &shown).await?;
        Ok(rest)
    }

    /// Shows `message` in the card and marks it failed.
    pub(super) async fn fail(&mut self, sender: &Sender, message: &str) -> Result<(), ReplyError> {
        self.set(sender, FlowStatus::Failed, message).await
    }

    /// Creates and delivers the card (each once per event) and switches it to inputting.
    async fn start(&self, sender: &Sender) -> Result<(), ReplyError> {
        let app = &sender.app;
        let created = format!("{}:card:created", sender.key);
        if sender.claim(&created).await? {
            let initial = params([(STATUS_KEY, FlowStatus::Processing.as_str()), (CONTENT_KEY, "")]);
            if let Err(error) = sender
                .api
                .create_card(app, &self.template_id, &self.out_track_id, &initial)
                .await
            {
                sender.store.release(&created).await?;
                return Err(error);
            }
        }
        let delivered = format!("{}:card:delivered", sender.key);
        if sender.claim(&delivered).await? {
            let space = match &self.space {
                Space::Group(id) => CardSpace::Group(id),
                Space::Single(id) => CardSpace::Single(id),
            };
            if let Err(error) = sender.api.deliver_card(app, &self.out_track_id, space).await {
                sender.store.release(&delivered).await?;
                return Err(error);
            }
        }
        let inputting = params([(STATUS_KEY, FlowStatus::Inputting.as_str())]);
        sender.api.update_card(app, &self.out_track_id, &inputting).await
    }

    async fn set(&self, sender: &Sender, status: FlowStatus, content: &str) -> Result<(), ReplyError> {
        let data: Map<String, Value> = params([(STATUS_KEY, status.as_str()), (CONTENT_KEY, content)]);
        sender.api.update_card(&sender.app, &self.out_track_id, &data).await
    }
}

/// Splits `text` into what one card shows and the rest (empty when it all fits).
fn fit(text: &str) -> (String, String) {
    if text.len() <= payload::MAX_CONTENT_BYTES {
        return (text.to_owned(), String::new());
    }
    let parts = split(text, payload::MAX_CONTENT_BYTES - CONTINUED.len());
    let mut parts = parts.into_iter();
    let head = parts.next().unwrap_or_default();
    (head, parts.collect())
}

/// The card's `outTrackId`: derived from the event, so a retried answer finds its card.
fn out_track_id(event_key: &str) -> String {
    let digest = Sha256::digest(event_key.as_bytes());
    let hex: String = hex::encode(&digest[..20]);
    format!("imgate-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_continue_outside_the_card() {
        let (head, rest) = fit("short");
        assert_eq!((head.as_str(), rest.as_str()), ("short", ""));
        let text = "paragraph\n\n".repeat(3_000);
        let (head, rest) = fit(&text);
        assert!(head.len() + CONTINUED.len() <= payload::MAX_CONTENT_BYTES);
        assert!(!rest.is_empty());
        assert_eq!(format!("{head}{rest}"), text);
    }

    #[test]
    fn track_ids_are_stable_per_event() {
        assert_eq!(out_track_id("a"), out_track_id("a"));
        assert_ne!(out_track_id("a"), out_track_id("b"));
        assert!(out_track_id("a").starts_with("imgate-"));
        assert_eq!(out_track_id("a").len(), "imgate-".len() + 40);
    }
}
