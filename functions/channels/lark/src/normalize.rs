//! Lark / Feishu messages → [`InboundEvent`]s.
//!
//! - Event id (the dedupe key): the `message_id` of a received message, so both a retry (same
//!   `event_id`, same message) and the same message delivered under a new event id (§2.10) are
//!   one message; `header.event_id` for other events.
//! - Card clicks (`card.action.trigger`): [`InboundKind::CardAction`] with the button value's
//!   `action`, from the clicking user in the card's chat, replying to the card's message. The
//!   chat kind comes from the value's `chat_type` (callbacks do not carry it); the buttons this
//!   gateway puts on cards always set both.
//! - Conversation: the `chat_id` for both kinds (Lark has an `oc_…` id for p2p chats too);
//!   `thread_id` carries the topic id when there is one.
//! - Sender: the `open_id` (what the IM API addresses), else `user_id`, else `union_id`;
//!   senders whose `sender_type` is not `user` are marked as bots.
//! - Mentions: the bot is the mention whose `open_id` is the bot's own (from
//!   `/open-apis/bot/v3/info`, §2.9); its `@_user_N` placeholder is removed from the text and
//!   other users' placeholders become `@Name`. Without a known bot open_id, a mention typed
//!   `bot` counts as the bot's, and group messages are assumed to mention the bot, since groups
//!   only deliver @-mentions by default (§2.9).
//! - Media: [`MediaRef::key`] holds the message id and the `image_key` / `file_key`
//!   ([`crate::media::resource_key`]: the message-resource API needs both), downloaded later
//!   through that API, never a URL.

use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Mention, Message, Quote,
    ReplyContext, Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::wire::{CardAction, ChatType, Content, Envelope, Event, Header, MentionEvent, MessageReceive};

/// Normalizes an envelope: `Some` for received messages and card clicks, `None` for other event
/// types and for clicks without a chat or user (to be acknowledged and logged, not queued).
pub fn envelope(
    integration_id: &IntegrationId,
    envelope: &Envelope,
    bot_open_id: Option<&str>,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    match &envelope.event {
        Event::MessageReceive(msg) => Some(message_receive(
            integration_id,
            &envelope.header,
            msg,
            bot_open_id,
            received_at,
        )),
        Event::CardAction(action) => card_action(integration_id, &envelope.header, action, received_at),
        Event::Other => None,
    }
}

/// Normalizes a card click; `None` without the chat, message or user it came from.
pub fn card_action(
    integration_id: &IntegrationId,
    header: &Header,
    click: &CardAction,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    let chat_id = non_empty(&click.context.open_chat_id)?;
    let message_id = non_empty(&click.context.open_message_id)?;
    let user = click.operator.best()?.to_owned();
    let value = click.action.value.clone();
    let field = |name: &str| value.as_ref().and_then(|v| v.get(name)).and_then(|v| v.as_str());
    let action = field("action")
        .map(str::to_owned)
        .or_else(|| non_empty(&click.action.name))
        .unwrap_or_default();
    let group = field("chat_type").is_some_and(|t| t != "p2p");
    Some(InboundEvent {
        event_id: header.event_id.clone(),
        platform: Platform::Lark,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: chat_id.clone(),
            kind: if group {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            },
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: user,
            name: None,
            is_bot: false,
        },
        kind: InboundKind::CardAction { action, value },
        reply: ReplyContext::Lark {
            message_id,
            chat_id,
            root_id: None,
        },
        occurred_at: header
            .create_time
            .as_deref()
            .and_then(|t| t.parse().ok())
            .map(Timestamp::from_millis),
        received_at,
    })
}

/// Normalizes an `im.message.receive_v1` event received at `received_at`.
///
/// Text is trimmed and `/commands` are parsed after the bot's mention is removed.
pub fn message_receive(
    integration_id: &IntegrationId,
    header: &Header,
    msg: &MessageReceive,
    bot_open_id: Option<&str>,
    received_at: Timestamp,
) -> InboundEvent {
    let m = &msg.message;
    let group = m.chat_type == ChatType::Group;
    let is_bot = |mention: &MentionEvent| match bot_open_id {
        Some(bot) => mention.id.open_id.as_deref() == Some(bot),
        None => mention.mentioned_type.as_deref() == Some("bot"),
    };
    let kind = if m.content == Content::Unsupported {
        InboundKind::Unsupported {
            raw_type: if m.message_type.is_empty() {
                "unknown".to_owned()
            } else {
                m.message_type.clone()
            },
        }
    } else {
        let (text, media) = text_and_media(&m.message_id, &m.content);
        let text = replace_mentions(&text, &m.mentions, is_bot);
        InboundKind::Message(Message {
            command: Command::parse(&text),
            text,
            mentions_bot: m.mentions.iter().any(&is_bot) || (bot_open_id.is_none() && group),
            mentions: m
                .mentions
                .iter()
                .filter(|mention| !is_bot(mention))
                .filter_map(|mention| {
                    Some(Mention {
                        id: mention.id.best()?.to_owned(),
                        name: mention.name.clone().filter(|n| !n.is_empty()),
                    })
                })
                .collect(),
            media,
            quoted: m.parent_id.as_ref().map(|id| Quote {
                message_id: Some(id.clone()),
                text: None,
            }),
        })
    };
    InboundEvent {
        event_id: if m.message_id.is_empty() {
            header.event_id.clone()
        } else {
            m.message_id.clone()
        },
        platform: Platform::Lark,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: m.chat_id.clone(),
            kind: if group {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            },
            thread_id: m.thread_id.clone(),
            name: None,
        },
        sender: Sender {
            id: msg.sender.sender_id.best().unwrap_or_default().to_owned(),
            name: None,
            is_bot: !msg.sender.sender_type.is_empty() && msg.sender.sender_type != "user",
        },
        kind,
        reply: ReplyContext::Lark {
            message_id: m.message_id.clone(),
            chat_id: m.chat_id.clone(),
            root_id: m.root_id.clone(),
        },
        occurred_at: m
            .create_time
            .or_else(|| header.create_time.as_deref().and_then(|t| t.parse().ok()))
            .map(Timestamp::from_millis),
        received_at,
    }
}

/// Replaces `@_user_N` placeholders: the bot's (with one following space) are removed, other
/// users' become `@Name`. Longer keys go first so `@_user_1` never eats into `@_user_10`.
pub fn replace_mentions(text: &str, mentions: &[MentionEvent], is_bot: impl Fn(&MentionEvent) -> bool) -> String {
    let mut ordered: Vec<&MentionEvent> = mentions.iter().filter(|m| !m.key.is_empty()).collect();
    ordered.sort_by_key(|m| std::cmp::Reverse(m.key.len()));
    let mut out = text.to_owned();
    for mention in ordered {
        if is_bot(mention) {
            out = out.replace(&format!("{} ", mention.key), "").replace(&mention.key, "");
        } else {
            let name = mention.name.as_deref().filter(|n| !n.is_empty());
            let shown = name.map_or_else(|| mention.key.clone(), |n| format!("@{n}"));
            out = out.replace(&mention.key, &shown);
        }
    }
    out.trim().to_owned()
}

fn text_and_media(message_id: &str, content: &Content) -> (String, Vec<MediaRef>) {
    let media_ref = |kind, key: &str, name: Option<&str>| MediaRef {
        kind,
        url: None,
        key: Some(key)
            .filter(|k| !k.is_empty())
            .map(|k| crate::media::resource_key(message_id, k)),
        name: name.filter(|n| !n.is_empty()).map(str::to_owned),
        mime: None,
        size: None,
        aes_key: None,
    };
    match content {
        Content::Text(text) => (text.clone(), Vec::new()),
        Content::Post { text, image_keys } => (
            text.clone(),
            image_keys
                .iter()
                .map(|k| media_ref(MediaKind::Image, k, None))
                .collect(),
        ),
        Content::Image { image_key } => (String::new(), vec![media_ref(MediaKind::Image, image_key, None)]),
        Content::File { file_key, file_name } => (
            String::new(),
            vec![media_ref(MediaKind::File, file_key, file_name.as_deref())],
        ),
        Content::Audio { file_key } => (String::new(), vec![media_ref(MediaKind::Voice, file_key, None)]),
        Content::Media { file_key, file_name } => (
            String::new(),
            vec![media_ref(MediaKind::Video, file_key, file_name.as_deref())],
        ),
        Content::Sticker { file_key } => (String::new(), vec![media_ref(MediaKind::Sticker, file_key, None)]),
        Content::Unsupported => (String::new(), Vec::new()),
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
