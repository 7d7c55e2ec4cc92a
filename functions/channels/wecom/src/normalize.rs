//! WeCom callbacks → [`InboundEvent`]s.
//!
//! Conversation ids: the group `chatid` in groups, otherwise the sender's userid (WeCom has no
//! id for a one-to-one chat with a bot). Event ids: the callback `msgid` for smart bots; the
//! `MsgId` (or `FromUserName:CreateTime:Event` for event pushes, after WeCom's documented
//! FromUserName + CreateTime dedupe rule) for self-built apps.

use imgate_channel_kit::mention::strip_leading_mention;
use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Message, Quote,
    ReplyContext, Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::wire::{AppKind, AppMessage, BotContent, BotEvent, BotEventKind, BotMedia, BotMessage, ChatType, MixedItem};

/// Normalizes a smart-bot message answered through stream `stream_id` (see [`stream_id_for`]).
///
/// In groups WeCom only delivers messages that @-mention the bot, so `mentions_bot` is true and
/// the leading `@BotName` token is stripped from the text. Image, file and video URLs point to
/// content AES-encrypted with the bot's EncodingAESKey in callback mode (decrypt with
/// [`crate::Crypto::decrypt_bot_media`]), or with the per-URL `aeskey` carried in
/// [`MediaRef::aes_key`] over the long connection; URLs expire after 5 minutes.
pub fn bot_message(
    integration_id: &IntegrationId,
    msg: &BotMessage,
    stream_id: &str,
    received_at: Timestamp,
) -> InboundEvent {
    let group = is_group(msg.chattype, msg.chatid.as_deref());
    let kind = match &msg.content {
        BotContent::Unsupported { msgtype } => InboundKind::Unsupported {
            raw_type: msgtype.clone(),
        },
        content => {
            let (text, media) = text_and_media(content);
            let text = if group { strip_leading_mention(&text) } else { text };
            InboundKind::Message(Message {
                command: Command::parse(&text),
                text,
                mentions_bot: group,
                mentions: Vec::new(),
                media,
                quoted: msg.quote.as_ref().map(|q| Quote {
                    message_id: None,
                    text: Some(text_and_media(&q.content).0).filter(|t| !t.is_empty()),
                }),
            })
        }
    };
    InboundEvent {
        event_id: msg.msgid.clone(),
        platform: Platform::Wecom,
        integration_id: integration_id.clone(),
        conversation: conversation(group, msg.chatid.as_deref(), &msg.from.userid),
        sender: sender(&msg.from.userid),
        kind,
        reply: ReplyContext::WecomBot {
            response_url: msg.response_url.clone(),
            req_id: None,
            stream_id: Some(stream_id.to_owned()),
            chat_type: msg.chattype.as_str().to_owned(),
        },
        occurred_at: msg.create_time.map(from_secs),
        received_at,
    }
}

/// Normalizes a smart-bot event; `None` for `disconnected_event` and unknown events, which are
/// not for the agent (callers log them).
pub fn bot_event(integration_id: &IntegrationId, event: &BotEvent, received_at: Timestamp) -> Option<InboundEvent> {
    let kind = match &event.kind {
        BotEventKind::EnterChat => InboundKind::EnterChat,
        BotEventKind::TemplateCard(card) => InboundKind::CardAction {
            action: card.event_key.clone(),
            value: Some(json!({
                "task_id": card.task_id,
                "card_type": card.card_type,
                "selected_items": card.selected_items.iter().map(|item| json!({
                    "question_key": item.question_key,
                    "option_ids": item.option_ids,
                })).collect::<Vec<_>>(),
            })),
        },
        BotEventKind::Feedback(feedback) => InboundKind::Feedback {
            rating: match feedback.kind {
                1 => "like".to_owned(),
                2 => "dislike".to_owned(),
                3 => "cancel".to_owned(),
                other => other.to_string(),
            },
            comment: feedback.content.clone(),
        },
        BotEventKind::Disconnected | BotEventKind::Unknown { .. } => return None,
    };
    let group = is_group(event.chattype, event.chatid.as_deref());
    Some(InboundEvent {
        event_id: event.msgid.clone(),
        platform: Platform::Wecom,
        integration_id: integration_id.clone(),
        conversation: conversation(group, event.chatid.as_deref(), &event.from.userid),
        sender: sender(&event.from.userid),
        kind,
        reply: ReplyContext::WecomBot {
            response_url: event.response_url.clone(),
            req_id: None,
            stream_id: None,
            chat_type: event.chattype.as_str().to_owned(),
        },
        occurred_at: event.create_time.map(from_secs),
        received_at,
    })
}

/// Normalizes a self-built app message or event push (always a direct chat with the app).
pub fn app_message(integration_id: &IntegrationId, msg: &AppMessage, received_at: Timestamp) -> InboundEvent {
    let message = |text: String, media: Vec<MediaRef>| {
        InboundKind::Message(Message {
            command: Command::parse(&text),
            text,
            media,
            ..Message::default()
        })
    };
    let media_ref = |kind, url: &Option<String>, key: &Option<String>| MediaRef {
        kind,
        url: url.clone(),
        key: key.clone(),
        name: None,
        mime: None,
        size: None,
        aes_key: None,
    };
    let kind = match &msg.kind {
        AppKind::Text { content } => message(content.clone(), Vec::new()),
        AppKind::Image { pic_url, media_id } => {
            message(String::new(), vec![media_ref(MediaKind::Image, pic_url, media_id)])
        }
        AppKind::Voice {
            media_id, recognition, ..
        } => message(
            recognition.clone().unwrap_or_default(),
            vec![media_ref(MediaKind::Voice, &None, media_id)],
        ),
        AppKind::Video { media_id, .. } => message(String::new(), vec![media_ref(MediaKind::Video, &None, media_id)]),
        AppKind::Event {
            event,
            event_key,
            task_id,
        } => match event.as_str() {
            "enter_agent" => InboundKind::EnterChat,
            "click" | "template_card_event" | "template_card_menu_event" => InboundKind::CardAction {
                action: event_key.clone().unwrap_or_default(),
                value: task_id.as_ref().map(|t| json!({ "task_id": t })),
            },
            other => InboundKind::Unsupported {
                raw_type: format!("event:{other}"),
            },
        },
        AppKind::Unsupported { msg_type } => InboundKind::Unsupported {
            raw_type: msg_type.clone(),
        },
    };
    let event_id = match (&msg.msg_id, &msg.kind) {
        (Some(id), _) => id.clone(),
        // WeCom's dedupe rule for events is FromUserName + CreateTime; the event name is added so
        // two different events in the same second do not collide (a retry repeats all three).
        (None, AppKind::Event { event, .. }) => {
            format!("{}:{}:{event}", msg.from_user_name, msg.create_time.unwrap_or_default())
        }
        (None, _) => format!("{}:{}", msg.from_user_name, msg.create_time.unwrap_or_default()),
    };
    InboundEvent {
        event_id,
        platform: Platform::Wecom,
        integration_id: integration_id.clone(),
        conversation: conversation(false, None, &msg.from_user_name),
        sender: sender(&msg.from_user_name),
        kind,
        reply: ReplyContext::WecomApp {
            agent_id: msg.agent_id.clone().unwrap_or_default(),
            to_user: msg.from_user_name.clone(),
        },
        occurred_at: msg.create_time.map(from_secs),
        received_at,
    }
}

/// A deterministic stream id for a callback: a retried callback (same `msgid`) reopens the same
/// stream instead of starting a second answer. `"s"` + 24 hex digits of
/// SHA-256(`integration|msgid`).
pub fn stream_id_for(integration_id: &IntegrationId, msgid: &str) -> String {
    let digest = Sha256::new()
        .chain_update(integration_id.as_str().as_bytes())
        .chain_update(b"|")
        .chain_update(msgid.as_bytes())
        .finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(25);
    id.push('s');
    for b in &digest[..12] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

fn is_group(chattype: ChatType, chatid: Option<&str>) -> bool {
    chattype == ChatType::Group || (chattype == ChatType::Other && chatid.is_some())
}

fn conversation(group: bool, chatid: Option<&str>, userid: &str) -> Conversation {
    let (id, kind) = match (group, chatid) {
        (true, Some(chatid)) => (chatid, ConversationKind::Group),
        (true, None) => (userid, ConversationKind::Group),
        (false, _) => (userid, ConversationKind::Direct),
    };
    Conversation {
        id: id.to_owned(),
        kind,
        thread_id: None,
        name: None,
    }
}

fn sender(userid: &str) -> Sender {
    Sender {
        id: userid.to_owned(),
        name: None,
        is_bot: false,
    }
}

fn text_and_media(content: &BotContent) -> (String, Vec<MediaRef>) {
    match content {
        BotContent::Text(text) | BotContent::Voice(text) => (text.clone(), Vec::new()),
        BotContent::Image(m) => (String::new(), vec![bot_media(MediaKind::Image, m)]),
        BotContent::File(m) => (String::new(), vec![bot_media(MediaKind::File, m)]),
        BotContent::Video(m) => (String::new(), vec![bot_media(MediaKind::Video, m)]),
        BotContent::Mixed(items) => {
            let mut texts = Vec::new();
            let mut media = Vec::new();
            for item in items {
                match item {
                    MixedItem::Text(t) if !t.is_empty() => texts.push(t.as_str()),
                    MixedItem::Image(m) => media.push(bot_media(MediaKind::Image, m)),
                    MixedItem::Text(_) | MixedItem::Other(_) => {}
                }
            }
            (texts.join("\n"), media)
        }
        BotContent::Unsupported { .. } => (String::new(), Vec::new()),
    }
}

fn bot_media(kind: MediaKind, media: &BotMedia) -> MediaRef {
    MediaRef {
        kind,
        url: Some(media.url.clone()).filter(|u| !u.is_empty()),
        key: None,
        name: None,
        mime: None,
        size: None,
        aes_key: media.aeskey.clone(),
    }
}

fn from_secs(secs: i64) -> Timestamp {
    Timestamp::from_millis(secs.saturating_mul(1000))
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
