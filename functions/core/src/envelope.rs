//! The versioned JSON body of every queue message.
//!
//! A deploy can leave old messages in the queue; the version lets a newer dispatcher recognise
//! them and an older one refuse what it cannot read instead of misreading it.

use serde::{Deserialize, Serialize};

use crate::event::InboundEvent;
use crate::time::Timestamp;

/// The envelope version this build writes and reads.
pub const VERSION: u32 = 1;

/// A queue message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// When it was enqueued.
    pub enqueued_at: Timestamp,
    /// What to do.
    pub payload: Payload,
}

/// The work a queue message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    /// A platform event to dispatch.
    Inbound {
        /// The event.
        event: Box<InboundEvent>,
        /// True for the merged event of an aggregation window: it is dispatched at once.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        aggregated: bool,
    },
    /// The end of an aggregation window: dispatch the buffered messages if no newer ones came.
    Flush {
        /// The aggregation buffer (the conversation's queue group).
        key: String,
        /// The buffer version this flush was scheduled for.
        version: u64,
    },
}

/// The queue body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Written by a newer or unknown format.
    #[error("unsupported envelope version {0} (this build reads {VERSION})")]
    UnsupportedVersion(u32),
    /// Not valid envelope JSON.
    #[error("malformed envelope: {0}")]
    Malformed(#[source] serde_json::Error),
}

impl Envelope {
    /// A current-version envelope for an inbound event.
    pub fn inbound(event: InboundEvent, now: Timestamp) -> Self {
        Self {
            v: VERSION,
            enqueued_at: now,
            payload: Payload::Inbound {
                event: Box::new(event),
                aggregated: false,
            },
        }
    }

    /// A current-version envelope for the merged event of an aggregation window.
    pub fn aggregated(event: InboundEvent, now: Timestamp) -> Self {
        Self {
            v: VERSION,
            enqueued_at: now,
            payload: Payload::Inbound {
                event: Box::new(event),
                aggregated: true,
            },
        }
    }

    /// A current-version envelope for an aggregation flush.
    pub fn flush(key: String, version: u64, now: Timestamp) -> Self {
        Self {
            v: VERSION,
            enqueued_at: now,
            payload: Payload::Flush { key, version },
        }
    }

    /// Serializes to the queue body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a queue body, checking the version first.
    ///
    /// # Errors
    /// [`EnvelopeError`] for other versions or malformed JSON.
    pub fn from_body(body: &str) -> Result<Self, EnvelopeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version = serde_json::from_str(body).map_err(EnvelopeError::Malformed)?;
        if version.v != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(version.v));
        }
        serde_json::from_str(body).map_err(EnvelopeError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::*;
    use crate::ids::IntegrationId;
    use crate::platform::Platform;

    fn sample_events() -> Vec<InboundEvent> {
        let integration_id = IntegrationId::generate();
        let base = InboundEvent {
            event_id: "msg-1".into(),
            platform: Platform::Wecom,
            integration_id,
            conversation: Conversation {
                id: "chat".into(),
                kind: ConversationKind::Group,
                thread_id: None,
                name: None,
            },
            sender: Sender {
                id: "zhangsan".into(),
                name: Some("张三".into()),
                is_bot: false,
            },
            kind: InboundKind::Message(Message {
                text: "/new 你好".into(),
                mentions_bot: true,
                mentions: vec![Mention {
                    id: "lisi".into(),
                    name: None,
                }],
                media: vec![MediaRef {
                    kind: MediaKind::Image,
                    url: Some("https://example.com/x".into()),
                    key: None,
                    name: None,
                    mime: None,
                    size: Some(10),
                    aes_key: Some("k".into()),
                }],
                command: Command::parse("/new 你好"),
                quoted: Some(Quote {
                    message_id: Some("m0".into()),
                    text: None,
                }),
            }),
            reply: ReplyContext::WecomBot {
                response_url: Some("https://qyapi.weixin.qq.com/x".into()),
                req_id: None,
                stream_id: Some("s1".into()),
                chat_type: "group".into(),
            },
            occurred_at: Some(Timestamp::from_millis(1_700_000_000_000)),
            received_at: Timestamp::from_millis(1_700_000_000_500),
        };
        let mut events = vec![base.clone()];
        let contexts = [
            ReplyContext::WecomApp {
                agent_id: "1000002".into(),
                to_user: "u".into(),
            },
            ReplyContext::Lark {
                message_id: "om_1".into(),
                chat_id: "oc_1".into(),
                root_id: None,
            },
            ReplyContext::Dingtalk {
                session_webhook: Some("https://oapi.dingtalk.com/robot/sendBySession?session=x".into()),
                session_webhook_expires_at: Some(Timestamp::from_millis(1)),
                conversation_id: "cid".into(),
                sender_staff_id: Some("staff".into()),
            },
            ReplyContext::Telegram {
                chat_id: -100,
                message_id: 5,
                message_thread_id: Some(2),
            },
            ReplyContext::Discord {
                channel_id: "c".into(),
                message_id: None,
                interaction_token: Some("t".into()),
                guild_id: None,
            },
            ReplyContext::Weibo {
                to_user_id: "1234567890".into(),
                stream_id: "s".into(),
            },
            ReplyContext::Wechat {
                to_user_id: "o9cq80abc@im.wechat".into(),
                context_token: Some(crate::secret::Secret::new("AARzJWAF")),
            },
        ];
        for (platform, reply) in [
            Platform::Wecom,
            Platform::Lark,
            Platform::Dingtalk,
            Platform::Telegram,
            Platform::Discord,
            Platform::Weibo,
            Platform::Wechat,
        ]
        .into_iter()
        .zip(contexts)
        {
            events.push(InboundEvent {
                platform,
                reply,
                ..base.clone()
            });
        }
        let kinds = [
            InboundKind::EnterChat,
            InboundKind::CardAction {
                action: "new_session".into(),
                value: Some(serde_json::json!({"a": 1})),
            },
            InboundKind::Feedback {
                rating: "like".into(),
                comment: None,
            },
            InboundKind::Unsupported {
                raw_type: "location".into(),
            },
        ];
        for kind in kinds {
            events.push(InboundEvent { kind, ..base.clone() });
        }
        events
    }

    #[test]
    fn round_trips_every_platform_and_kind() {
        let flush = Envelope::flush("int_x:abc".into(), 3, Timestamp::from_millis(1));
        assert_eq!(Envelope::from_body(&flush.to_body()).unwrap(), flush);
        let merged = Envelope::aggregated(sample_events().remove(0), Timestamp::from_millis(2));
        assert!(merged.to_body().contains("\"aggregated\":true"));
        assert_eq!(Envelope::from_body(&merged.to_body()).unwrap(), merged);
        assert!(
            !Envelope::inbound(sample_events().remove(0), Timestamp::from_millis(2))
                .to_body()
                .contains("aggregated")
        );
        for event in sample_events() {
            let envelope = Envelope::inbound(event, Timestamp::from_millis(42));
            let body = envelope.to_body();
            assert_eq!(Envelope::from_body(&body).unwrap(), envelope, "{body}");
            // parse -> serialize -> parse is stable
            assert_eq!(Envelope::from_body(&body).unwrap().to_body(), body);
        }
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        let mut value: serde_json::Value =
            serde_json::from_str(&Envelope::inbound(sample_events().remove(0), Timestamp::now()).to_body()).unwrap();
        value["v"] = 2.into();
        assert!(matches!(
            Envelope::from_body(&value.to_string()),
            Err(EnvelopeError::UnsupportedVersion(2))
        ));
        assert!(matches!(Envelope::from_body("{"), Err(EnvelopeError::Malformed(_))));
        assert!(matches!(
            Envelope::from_body(r#"{"v":1}"#),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
