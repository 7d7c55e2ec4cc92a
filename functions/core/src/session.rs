//! Conversation sessions.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{AgentId, IntegrationId, SessionId, UserId};
use crate::time::Timestamp;

/// Identifies one conversation thread: integration + conversation + sender.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    /// The integration the message came through.
    pub integration_id: IntegrationId,
    /// The platform's chat / conversation id.
    pub conversation: String,
    /// The platform's sender id.
    pub sender: String,
}

impl SessionKey {
    /// A fixed-length, storage-safe digest of the key (platform ids may hold any characters).
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [self.integration_id.as_str(), &self.conversation, &self.sender] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let bytes = h.finalize();
        hex::encode(&bytes[..16])
    }

    /// The SQS FIFO message group of this conversation: `<integration>:<digest>` (≤ 128 chars).
    pub fn queue_group(&self) -> String {
        format!("{}:{}", self.integration_id, self.digest())
    }
}

/// One session of a conversation with an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The conversation it belongs to.
    pub key: SessionKey,
    /// The session id passed to the agent.
    pub id: SessionId,
    /// The agent this session talks to.
    pub agent_id: AgentId,
    /// The stable user the sender maps to.
    pub user_id: UserId,
    /// When the session started.
    pub started_at: Timestamp,
    /// Last message in or out.
    pub last_active_at: Timestamp,
    /// When the conversation ends for lack of messages (the trigger's session timeout).
    pub expires_at: Timestamp,
    /// The agent's answer to the event answered last, kept with the session so that a
    /// redelivery of that event delivers it instead of asking the agent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<RecordedAnswer>,
}

/// How long a recorded answer is kept: longer than any redelivery (the queue dead-letters a
/// message within hours), and as long as the dispatcher's answered mark.
pub const ANSWER_TTL: Duration = Duration::from_secs(24 * 3600);

/// The agent's whole answer to one event, written before it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAnswer {
    /// The event's dedupe key ([`crate::event::InboundEvent::dedupe_key`]).
    pub event_key: String,
    /// The answer.
    pub text: String,
    /// When it was recorded.
    pub at: Timestamp,
}

impl Session {
    /// True while the conversation goes on at `now` (its timeout has not passed).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    /// Until when the store keeps the session: the conversation's end, or later while its
    /// recorded answer is still needed.
    pub fn keep_until(&self) -> Timestamp {
        let answer = self.answer.as_ref().map(|a| a.at.plus(ANSWER_TTL));
        answer.map_or(self.expires_at, |until| until.max(self.expires_at))
    }

    /// The recorded answer to the event with `event_key`, if this session holds it.
    pub fn answer_to(&self, event_key: &str) -> Option<&str> {
        self.answer
            .as_ref()
            .filter(|a| a.event_key == event_key)
            .map(|a| a.text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_separates_parts() {
        let id = IntegrationId::generate();
        let a = SessionKey {
            integration_id: id.clone(),
            conversation: "ab".into(),
            sender: "c".into(),
        };
        let b = SessionKey {
            integration_id: id,
            conversation: "a".into(),
            sender: "bc".into(),
        };
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest().len(), 32);
        assert!(a.queue_group().len() <= 128);
    }
}
