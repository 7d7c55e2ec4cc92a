//! `WeixinMessage`s → [`InboundEvent`]s (§3.2, §3.3, §9).
//!
//! - Every chat is private: the conversation is the sender, the bot is always addressed.
//! - The event id is the `message_id` (uint64 as text); without one the `client_id`, then the
//!   `seq`, then a digest of (sender, text, `create_time_ms`) (§3.1), so a redelivery always
//!   carries the same id.
//! - The text is the first text item, else a voice note's transcript; image, voice, file and
//!   video items become attachment references (not downloaded). A quoted message's text or
//!   title becomes the quote.
//! - The bot's own messages (`message_type` 2) and messages without a sender are left out.

use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Message as EventMessage,
    Quote, ReplyContext, Sender,
};
use imgate_core::secret::Secret;
use imgate_core::{IntegrationId, Platform, Timestamp};
use sha2::{Digest, Sha256};

use crate::wire::{Item, MESSAGE_TYPE_BOT, MediaItem, Message, item};

/// The event of `message` for `integration_id`, or `None` for one imgate does not answer.
pub fn normalize(message: &Message, integration_id: &IntegrationId, received_at: Timestamp) -> Option<InboundEvent> {
    if message.message_type == Some(MESSAGE_TYPE_BOT) {
        return None;
    }
    let from = message.from_user_id.as_deref().filter(|f| !f.is_empty())?;
    let text = body(&message.item_list);
    Some(InboundEvent {
        event_id: event_id(message, from, &text),
        platform: Platform::Wechat,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: from.to_owned(),
            kind: ConversationKind::Direct,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: from.to_owned(),
            name: None,
            is_bot: false,
        },
        kind: InboundKind::Message(EventMessage {
            command: Command::parse(&text),
            mentions_bot: true,
            mentions: Vec::new(),
            media: message.item_list.iter().filter_map(media).collect(),
            quoted: message.item_list.iter().find_map(quote),
            text,
        }),
        reply: ReplyContext::Wechat {
            to_user_id: from.to_owned(),
            context_token: message
                .context_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(Secret::new),
        },
        occurred_at: message.create_time_ms.filter(|ms| *ms > 0).map(Timestamp::from_millis),
        received_at,
    })
}

/// The dedupe id (§3.1's order of fallbacks).
fn event_id(message: &Message, from: &str, text: &str) -> String {
    if let Some(id) = &message.message_id {
        return id.clone();
    }
    if let Some(id) = message.client_id.as_deref().filter(|c| !c.is_empty()) {
        return format!("client:{id}");
    }
    if let Some(seq) = &message.seq {
        return format!("seq:{seq}");
    }
    let mut digest = Sha256::new();
    for part in [from, text, &message.create_time_ms.unwrap_or_default().to_string()] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let hex: String = hex::encode(&digest.finalize()[..12]);
    format!("hash:{hex}")
}

/// The first text item's text, else the first voice transcript.
fn body(items: &[Item]) -> String {
    let text = items
        .iter()
        .filter(|i| i.kind == Some(item::TEXT))
        .find_map(|i| i.text_item.as_ref()?.text.clone());
    text.or_else(|| {
        items
            .iter()
            .filter(|i| i.kind == Some(item::VOICE))
            .find_map(|i| i.voice_item.as_ref()?.text.clone().filter(|t| !t.is_empty()))
    })
    .unwrap_or_default()
}

/// An attachment reference for a media item.
fn media(i: &Item) -> Option<MediaRef> {
    let (kind, payload): (MediaKind, &MediaItem) = match i.kind? {
        item::IMAGE => (MediaKind::Image, i.image_item.as_ref()?),
        item::VOICE => (MediaKind::Voice, i.voice_item.as_ref()?),
        item::FILE => (MediaKind::File, i.file_item.as_ref()?),
        item::VIDEO => (MediaKind::Video, i.video_item.as_ref()?),
        _ => return None,
    };
    let cdn = payload.media.as_ref();
    Some(MediaRef {
        kind,
        url: cdn.and_then(|m| m.full_url.clone()),
        key: cdn.and_then(|m| m.encrypt_query_param.clone()),
        name: payload.file_name.clone(),
        mime: None,
        size: payload.len.as_ref().and_then(|len| match len {
            serde_json::Value::String(s) => s.parse().ok(),
            other => other.as_u64(),
        }),
        // §5.3: an image's own `aeskey` (hex) wins over `media.aes_key`; the fetcher reads both.
        aes_key: payload
            .aeskey
            .clone()
            .filter(|k| !k.is_empty())
            .or_else(|| cdn.and_then(|m| m.aes_key.clone())),
    })
}

/// The quoted message, if an item quotes one.
fn quote(i: &Item) -> Option<Quote> {
    let quoted = i.ref_msg.as_ref()?;
    let text = quoted
        .message_item
        .as_ref()
        .and_then(|m| m.text_item.as_ref()?.text.clone())
        .or_else(|| quoted.title.clone())
        .filter(|t| !t.is_empty());
    Some(Quote {
        message_id: quoted.svr_id.clone(),
        text,
    })
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
