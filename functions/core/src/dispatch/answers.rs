//! The agent's answer to an event, recorded before it is shown, so that a redelivery of the
//! event (its handler died after the agent answered, before the queue message was deleted)
//! finishes the delivery with the same answer instead of calling the agent a second time.
//!
//! The record is a finished stream buffer under `answer:<event dedupe key>`: a text with an
//! expiry that every instance can read, which is what the stream store keeps.

use std::time::Duration;

use super::Dispatcher;
use crate::event::InboundEvent;
use crate::ports::{StoreResult, StreamState};
use crate::time::Timestamp;

/// How long a recorded answer is kept: as long as the answered mark, longer than any
/// redelivery (the queue dead-letters a message within hours).
const ANSWER_TTL: Duration = Duration::from_secs(24 * 3600);
/// Answers larger than this are not recorded (a store item has a size limit; DynamoDB's is
/// 400 KB): a redelivery of such an answer asks the agent again.
const MAX_RECORDED_BYTES: usize = 256 * 1024;

fn answer_id(event: &InboundEvent) -> String {
    format!("answer:{}", event.dedupe_key())
}

impl Dispatcher {
    /// The answer recorded for `event` by an earlier delivery, if any.
    pub(super) async fn recorded_answer(&self, event: &InboundEvent) -> StoreResult<Option<String>> {
        let stream = self
            .store
            .get_stream(&event.integration_id, &answer_id(event), Timestamp::now())
            .await?;
        Ok(stream.filter(|s| s.finished).map(|s| s.content))
    }

    /// Records the agent's whole `answer` to `event` (once; a second record keeps the first).
    pub(super) async fn record_answer(&self, event: &InboundEvent, answer: &str) -> StoreResult<()> {
        if answer.len() > MAX_RECORDED_BYTES {
            tracing::warn!(integration_id = %event.integration_id, event_id = %event.event_id, bytes = answer.len(), "answer too large to record; a redelivery would ask the agent again");
            return Ok(());
        }
        let now = Timestamp::now();
        let record = StreamState {
            integration_id: event.integration_id.clone(),
            id: answer_id(event),
            content: answer.to_owned(),
            finished: true,
            card: None,
            version: 1,
            created_at: now,
            expires_at: now.plus(ANSWER_TTL),
        };
        self.store.create_stream(&record).await.map(drop)
    }
}
