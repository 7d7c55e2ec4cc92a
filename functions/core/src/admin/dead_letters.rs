//! Dead letters: queue messages that failed every delivery attempt.
//!
//! The queue's dead-letter queue is shared by every organization and hides a message from
//! others while one reader holds it, so it is no place to browse. Listing first collects what
//! the dead-letter queue holds into the store (one item per message, under its organization,
//! with the reason the event log gives), acknowledging each only after it is stored; the
//! operator then lists, redrives (enqueued again, then removed) or discards stored letters.
//! A crash between the steps repeats a step, never loses a letter: storing is idempotent (the
//! id is the body's digest) and a redrive enqueues before it deletes.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Admin, AdminError, AdminResult, Principal, org_of};
use crate::envelope::{Envelope, Payload};
use crate::event_log::EventKind;
use crate::ids::IntegrationId;
use crate::ports::{DeadLetter, OutgoingMessage};
use crate::time::Timestamp;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// How long a collected dead letter is kept (as long as SQS keeps one at most).
pub const DEAD_LETTER_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// The most dead letters one listing shows.
pub const DEAD_LETTERS_LISTED: usize = 500;
/// How many receives one collection makes at most (10 messages each).
const COLLECT_ROUNDS: usize = 20;
/// How long a collected message stays hidden from other collectors while it is stored.
const COLLECT_VISIBILITY: Duration = Duration::from_secs(60);

/// A dead letter as the API shows it (never the message text).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    /// Id.
    pub id: String,
    /// The integration it came through.
    pub integration_id: String,
    /// The integration's name.
    pub integration_name: String,
    /// The platform event id, when it is a message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `message` or `timer` (the end of an aggregation window).
    pub kind: &'static str,
    /// Why it failed.
    pub reason: String,
    /// When it was collected from the dead-letter queue.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub failed_at: Timestamp,
    /// How many times it was delivered.
    pub receive_count: u32,
}

impl Admin {
    /// The organization's dead letters, newest first, after collecting the dead-letter queue.
    ///
    /// # Errors
    /// Storage or queue failures.
    pub async fn list_dead_letters(&self, principal: &Principal) -> AdminResult<Vec<DeadLetterView>> {
        let org_id = org_of(principal)?.clone();
        self.collect_dead_letters().await?;
        let letters = self
            .deps
            .store
            .list_dead_letters(&org_id, Timestamp::now(), DEAD_LETTERS_LISTED)
            .await?;
        let mut views = Vec::with_capacity(letters.len());
        // Letters of one integration share its name: each integration is read once.
        let mut names: std::collections::HashMap<crate::ids::IntegrationId, String> = std::collections::HashMap::new();
        for letter in letters {
            if !names.contains_key(&letter.integration_id) {
                let name = self
                    .deps
                    .store
                    .get_integration(&letter.integration_id)
                    .await?
                    .map(|r| r.name)
                    .unwrap_or_default();
                names.insert(letter.integration_id.clone(), name);
            }
            let name = names.get(&letter.integration_id).cloned().unwrap_or_default();
            views.push(view(letter, name));
        }
        Ok(views)
    }

    /// Puts a dead letter back on the queue and removes it from the list.
    ///
    /// # Errors
    /// 404 for an unknown letter; 503 when the queue refuses it (the letter stays).
    pub async fn redrive_dead_letter(&self, principal: &Principal, id: &str) -> AdminResult<()> {
        let org_id = org_of(principal)?;
        let now = Timestamp::now();
        let letter = self
            .deps
            .store
            .get_dead_letter(org_id, id, now)
            .await?
            .ok_or_else(|| AdminError::not_found("dead letter", id))?;
        let queued = if letter.group.is_empty() {
            self.deps.queue.enqueue_delayed(&letter.body, Duration::ZERO).await
        } else {
            let message = OutgoingMessage {
                group: letter.group.clone(),
                // A new id: the queue drops a repeat of the original id for 5 minutes.
                dedupe_id: format!("redrive:{}:{}", letter.id, now.as_millis()),
                body: letter.body.clone(),
            };
            self.deps.queue.enqueue(&message).await
        };
        queued.map_err(|error| {
            tracing::error!(%error, dead_letter = id, "redrive failed");
            AdminError::Unavailable("the queue did not take the message; it is kept, retry later")
        })?;
        self.deps.store.delete_dead_letter(org_id, id).await?;
        tracing::info!(org_id = %org_id, dead_letter = id, "dead letter redriven");
        Ok(())
    }

    /// Discards a dead letter for good.
    ///
    /// # Errors
    /// 404 for an unknown letter.
    pub async fn discard_dead_letter(&self, principal: &Principal, id: &str) -> AdminResult<()> {
        let org_id = org_of(principal)?;
        if !self.deps.store.delete_dead_letter(org_id, id).await? {
            return Err(AdminError::not_found("dead letter", id));
        }
        tracing::info!(org_id = %org_id, dead_letter = id, "dead letter discarded");
        Ok(())
    }

    /// Moves what the dead-letter queue holds into the store; returns how many were moved.
    async fn collect_dead_letters(&self) -> AdminResult<usize> {
        let mut moved = 0;
        for _ in 0..COLLECT_ROUNDS {
            let deliveries = self
                .deps
                .queue
                .receive_dead_letters(10, COLLECT_VISIBILITY)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "reading the dead-letter queue failed");
                    AdminError::Unavailable("the dead-letter queue cannot be read; retry later")
                })?;
            if deliveries.is_empty() {
                break;
            }
            for delivery in deliveries {
                if let Some(letter) = self
                    .letter_of(&delivery.body, &delivery.group, delivery.receive_count)
                    .await?
                {
                    self.deps.store.put_dead_letter(&letter, DEAD_LETTER_TTL).await?;
                    moved += 1;
                } else {
                    tracing::warn!("a dead letter of a deleted integration or of an unknown format was dropped");
                }
                if let Err(error) = self.deps.queue.ack(&delivery.receipt).await {
                    // Stored already; the next collection stores it again under the same id.
                    tracing::warn!(%error, "acknowledging a collected dead letter failed");
                }
            }
        }
        Ok(moved)
    }

    /// The stored form of a dead-lettered body, or `None` when its integration is gone or the
    /// body cannot be read.
    async fn letter_of(&self, body: &str, group: &str, receive_count: u32) -> AdminResult<Option<DeadLetter>> {
        let Ok(envelope) = Envelope::from_body(body) else {
            return Ok(None);
        };
        let (integration_id, event_id) = match &envelope.payload {
            Payload::Inbound { event, .. } => (event.integration_id.clone(), Some(event.event_id.clone())),
            Payload::Flush { key, .. } => {
                let Some(Ok(id)) = key.split(':').next().map(str::parse::<IntegrationId>) else {
                    return Ok(None);
                };
                (id, None)
            }
        };
        let Some(record) = self.deps.store.get_integration(&integration_id).await? else {
            return Ok(None);
        };
        let now = Timestamp::now();
        let reason = match &event_id {
            Some(event_id) => self
                .deps
                .store
                .recent_events(&integration_id, 500, now)
                .await?
                .into_iter()
                .find(|e| e.event_id.as_deref() == Some(event_id) && e.kind == EventKind::Error.as_str())
                .map(|e| e.detail),
            None => None,
        };
        Ok(Some(DeadLetter {
            id: format!("dl_{}", &hex::encode(Sha256::digest(body.as_bytes()))[..32]),
            org_id: record.org_id,
            integration_id,
            event_id,
            group: group.to_owned(),
            body: body.to_owned(),
            reason: reason.unwrap_or_else(|| format!("every one of {receive_count} delivery attempts failed")),
            failed_at: now,
            receive_count,
        }))
    }
}

fn view(letter: DeadLetter, integration_name: String) -> DeadLetterView {
    DeadLetterView {
        kind: if letter.group.is_empty() { "timer" } else { "message" },
        id: letter.id,
        integration_id: letter.integration_id.to_string(),
        integration_name,
        event_id: letter.event_id,
        reason: letter.reason,
        failed_at: letter.failed_at,
        receive_count: letter.receive_count,
    }
}
