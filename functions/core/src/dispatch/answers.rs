//! The agent's answer to an event, recorded before it is shown, so that a redelivery of the
//! event (its handler died after the agent answered, before the answer was marked delivered)
//! finishes the delivery with the same answer instead of calling the agent a second time.
//!
//! The record is kept in the conversation's session item ([`Session::answer`]), which is
//! written after every answer anyway to note the conversation's activity: one write for both.
//! Versions before this kept it as a finished stream buffer under `answer:<event dedupe key>`;
//! a redelivery still looks there, so an answer recorded before an upgrade is not lost.

use super::Dispatcher;
use crate::event::InboundEvent;
use crate::ports::StoreResult;
use crate::session::{RecordedAnswer, Session};
use crate::time::Timestamp;

/// Answers larger than this are not recorded (a store item has a size limit; DynamoDB's is
/// 400 KB): a redelivery of such an answer asks the agent again.
const MAX_RECORDED_BYTES: usize = 256 * 1024;

impl Dispatcher {
    /// The answer recorded for `event` by an earlier delivery, if any: in the stored session,
    /// or, on a redelivery, where earlier versions recorded it.
    pub(super) async fn recorded_answer(
        &self,
        event: &InboundEvent,
        stored: Option<&Session>,
        receive_count: u32,
    ) -> StoreResult<Option<String>> {
        let key = event.dedupe_key();
        if let Some(answer) = stored.and_then(|s| s.answer_to(&key)) {
            return Ok(Some(answer.to_owned()));
        }
        if receive_count <= 1 {
            return Ok(None);
        }
        let legacy = self
            .store
            .get_stream(&event.integration_id, &format!("answer:{key}"), Timestamp::now())
            .await?;
        Ok(legacy.filter(|s| s.finished).map(|s| s.content))
    }
}

/// `session` holding the agent's whole `answer` to `event`, to be written before the answer is
/// shown; an answer too large to record is left out (the session is still written).
pub(super) fn with_answer(session: Session, event: &InboundEvent, answer: &str) -> Session {
    if answer.len() > MAX_RECORDED_BYTES {
        tracing::warn!(integration_id = %event.integration_id, event_id = %event.event_id, bytes = answer.len(), "answer too large to record; a redelivery would ask the agent again");
        return Session {
            answer: None,
            ..session
        };
    }
    Session {
        answer: Some(RecordedAnswer {
            event_key: event.dedupe_key(),
            text: answer.to_owned(),
            at: Timestamp::now(),
        }),
        ..session
    }
}
