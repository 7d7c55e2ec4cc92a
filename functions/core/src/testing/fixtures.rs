//! What repliers' tests answer: a user's direct message on a platform, with its integration
//! and credentials.

use crate::credentials::Credentials;
use crate::event::{Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender};
use crate::ids::{IntegrationId, OrgId};
use crate::integration::IntegrationRecord;
use crate::keyring::SealedSecret;
use crate::platform::ConnectionMode;
use crate::platform::Platform;
use crate::ports::ReplyTarget;
use crate::time::Timestamp;

/// A direct text message `event_id` from user `u1` on `platform`, received through
/// `integration` at `received_at`, to be answered through `reply` with `credentials`.
pub fn reply_target(
    platform: Platform,
    integration: &IntegrationId,
    credentials: Credentials,
    reply: ReplyContext,
    event_id: &str,
    received_at: Timestamp,
) -> ReplyTarget {
    ReplyTarget {
        integration: IntegrationRecord {
            id: integration.clone(),
            org_id: OrgId::generate(),
            name: "bot".into(),
            platform,
            mode: ConnectionMode::Webhook,
            enabled: true,
            credentials: SealedSecret::from_stored("unused"),
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
            version: 1,
            account: None,
        },
        credentials,
        event: InboundEvent {
            event_id: event_id.into(),
            platform,
            integration_id: integration.clone(),
            conversation: Conversation {
                id: "u1".into(),
                kind: ConversationKind::Direct,
                thread_id: None,
                name: None,
            },
            sender: Sender {
                id: "u1".into(),
                name: None,
                is_bot: false,
            },
            kind: InboundKind::Message(Message {
                text: "hi".into(),
                ..Message::default()
            }),
            reply,
            occurred_at: None,
            received_at,
        },
    }
}
