//! An answer shown as a run of messages that are edited as it grows: the part being written is
//! edited in place, a part that is full stays as it is and the answer continues in a new
//! message. The messages sent are recorded in the stream store under the answer, so a retried
//! queue message edits them instead of sending them again.
//!
//! Platforms supply the sending and editing ([`PartSink`]) and how parts are cut; this keeps
//! the record, decides what to send or edit, and waits out rate limits for the final text.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::ports::{ReplyError, Store, StreamState};
use imgate_core::{IntegrationId, Timestamp};
use serde_json::{Value, json};

use crate::patience::patiently;

/// How long the messages of an answer are remembered.
const RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// Sends and edits one platform's messages.
#[async_trait]
pub trait PartSink: Send + Sync {
    /// Sends part `index` of the answer as a new message; returns the message's id.
    async fn send(&self, index: usize, text: &str) -> Result<String, ReplyError>;
    /// Replaces the text of part `index`, message `id`.
    async fn edit(&self, index: usize, id: &str, text: &str) -> Result<(), ReplyError>;
}

/// The messages of one answer.
pub struct Parts {
    store: Arc<dyn Store>,
    integration_id: IntegrationId,
    record_id: String,
    record: Option<StreamState>,
    sent: Vec<String>,
}

impl Parts {
    /// The messages recorded for `record_id` (none for a new answer).
    ///
    /// # Errors
    /// [`ReplyError::Store`].
    pub async fn load(
        store: Arc<dyn Store>,
        integration_id: IntegrationId,
        record_id: String,
    ) -> Result<Self, ReplyError> {
        let record = store.get_stream(&integration_id, &record_id, Timestamp::now()).await?;
        let sent = record
            .as_ref()
            .and_then(|r| r.card.as_ref())
            .and_then(|c| c["messages"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|id| match id {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        Ok(Self {
            store,
            integration_id,
            record_id,
            record,
            sent,
        })
    }

    /// The ids of the messages sent so far, in order.
    pub fn sent(&self) -> &[String] {
        &self.sent
    }

    /// Shows `parts`: parts not sent yet are sent (and recorded), the last one sent is edited
    /// to its current text. `patient` waits out rate limits (for the final text).
    ///
    /// # Errors
    /// The sink's errors, [`ReplyError::Store`].
    pub async fn show(&mut self, sink: &dyn PartSink, parts: &[String], patient: bool) -> Result<(), ReplyError> {
        for (index, part) in parts.iter().enumerate() {
            if let Some(id) = self.sent.get(index).cloned() {
                // A part with a later part sent is final: only the newest sent one can be stale.
                if index + 1 == self.sent.len() {
                    if patient {
                        patiently(|| sink.edit(index, &id, part)).await?;
                    } else {
                        sink.edit(index, &id, part).await?;
                    }
                }
            } else {
                let id = if patient {
                    patiently(|| sink.send(index, part)).await?
                } else {
                    sink.send(index, part).await?
                };
                self.remember(id).await?;
            }
        }
        Ok(())
    }

    /// Records a sent message.
    ///
    /// # Errors
    /// [`ReplyError::Store`].
    pub async fn remember(&mut self, id: String) -> Result<(), ReplyError> {
        self.sent.push(id);
        let card = Some(json!({ "messages": self.sent }));
        match &mut self.record {
            Some(state) => {
                state.card = card;
                state.version += 1;
                self.store.update_stream(state).await?;
            }
            None => {
                let now = Timestamp::now();
                let state = StreamState {
                    integration_id: self.integration_id.clone(),
                    id: self.record_id.clone(),
                    content: String::new(),
                    finished: false,
                    card,
                    version: 1,
                    created_at: now,
                    expires_at: now.plus(RECORD_TTL),
                };
                self.store.create_stream(&state).await?;
                self.record = Some(state);
            }
        }
        Ok(())
    }
}
