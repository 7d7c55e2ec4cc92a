//! Inbound `message` frames → [`InboundEvent`]s (§5.1).
//!
//! - The text is the `input_text` parts of the user's `input` joined by `\n`; without them,
//!   `payload.text` (the older mirror). `input` wins when both are there.
//! - `input_image` and `input_file` parts become attachment references with name, type and
//!   decoded size only: the bytes arrive inline as base64 and are not kept (the agent is told
//!   what was attached, not given it).
//! - The event id is `messageId`; an empty one is replaced by `h` + the first 16 hex digits of
//!   a SHA-1 over sender, text, timestamp and input (the plugin's fallback, §5.1), so a pushed
//!   duplicate still dedupes.
//! - Weibo has private chats only: the conversation is the sender, a direct one, and the
//!   answer goes back to `fromUserId`.
//! - A message with neither text nor attachments is not for the agent (`None`).

use base64::Engine;
use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Message, ReplyContext,
    Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};
use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::wire::InboundMessage;

/// What one message says: its text and its attachments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Content {
    /// The text (may be empty when only attachments came).
    pub text: String,
    /// Attachment references.
    pub media: Vec<MediaRef>,
}

/// The text and attachments of `message`.
pub fn content(message: &InboundMessage) -> Content {
    let mut texts = Vec::new();
    let mut media = Vec::new();
    let items = message
        .input
        .as_ref()
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for item in items {
        let role = item.get("role").and_then(Value::as_str);
        if role.is_some_and(|role| role != "user") {
            continue;
        }
        let parts = item
            .get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for part in parts {
            match part.get("type").and_then(Value::as_str) {
                Some("input_text") => {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        texts.push(text);
                    }
                }
                Some("input_image") => media.extend(attachment(part, MediaKind::Image)),
                Some("input_file") => media.extend(attachment(part, MediaKind::File)),
                _ => {}
            }
        }
    }
    let text = if texts.is_empty() {
        message.text.clone().unwrap_or_default()
    } else {
        texts.join("\n")
    };
    Content { text, media }
}

/// An `input_image` / `input_file` part as a reference: name, type and decoded size.
fn attachment(part: &Value, kind: MediaKind) -> Option<MediaRef> {
    let source = part.get("source")?;
    let data = source.get("data").and_then(Value::as_str).unwrap_or_default();
    let size = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()
        .map(|bytes| bytes.len() as u64)?;
    let string = |value: Option<&Value>| value.and_then(Value::as_str).map(|s| s.chars().take(200).collect());
    Some(MediaRef {
        kind,
        url: None,
        key: None,
        name: string(part.get("filename")),
        mime: string(source.get("media_type")),
        size: Some(size),
        aes_key: None,
    })
}

/// The dedupe id of `message`: its `messageId`, or the content fallback when that is empty.
pub fn dedupe_id(message: &InboundMessage) -> String {
    if !message.message_id.trim().is_empty() {
        return message.message_id.clone();
    }
    let input = message.input.as_ref().map(Value::to_string).unwrap_or_default();
    let timestamp = message.timestamp.map(|t| t.to_string()).unwrap_or_default();
    let digest = Sha1::new()
        .chain_update(message.from_user_id.as_bytes())
        .chain_update(b"\n")
        .chain_update(message.text.as_deref().unwrap_or_default().as_bytes())
        .chain_update(b"\n")
        .chain_update(timestamp.as_bytes())
        .chain_update(b"\n")
        .chain_update(input.as_bytes())
        .finalize();
    hex_id("h", &digest[..8])
}

/// `prefix` followed by `bytes` in lowercase hex.
fn hex_id(prefix: &str, bytes: &[u8]) -> String {
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stream buffer of the answer to event `event_id` of `integration_id`.
pub fn stream_id_for(integration_id: &IntegrationId, event_id: &str) -> String {
    let digest = Sha1::new()
        .chain_update(integration_id.as_str().as_bytes())
        .chain_update(b"|")
        .chain_update(event_id.as_bytes())
        .finalize();
    hex_id("wb", &digest[..12])
}

/// The event of `message`, or `None` when it has no sender or nothing for the agent.
pub fn normalize(
    message: &InboundMessage,
    integration_id: &IntegrationId,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    let sender = message.from_user_id.trim();
    if sender.is_empty() {
        return None;
    }
    let content = content(message);
    if content.text.trim().is_empty() && content.media.is_empty() {
        return None;
    }
    let event_id = dedupe_id(message);
    let stream_id = stream_id_for(integration_id, &event_id);
    Some(InboundEvent {
        platform: Platform::Weibo,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: sender.to_owned(),
            kind: ConversationKind::Direct,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: sender.to_owned(),
            name: None,
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            command: Command::parse(&content.text),
            text: content.text,
            mentions_bot: true,
            mentions: Vec::new(),
            media: content.media,
            quoted: None,
        }),
        reply: ReplyContext::Weibo {
            to_user_id: sender.to_owned(),
            stream_id,
        },
        occurred_at: message.timestamp.filter(|t| *t > 0).map(Timestamp::from_millis),
        received_at,
        event_id,
    })
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
