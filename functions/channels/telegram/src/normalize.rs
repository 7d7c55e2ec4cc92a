//! Updates → [`InboundEvent`]s (§4, §8).
//!
//! - Only new messages are answered; edits, channel posts and other update kinds are left out
//!   (`None`), and the caller logs them.
//! - The event id is the `update_id`: sequential per bot, so with the integration id in the
//!   dedupe key a webhook retry or a re-polled update is processed once.
//! - Private chats are direct conversations; groups and supergroups are group conversations, a
//!   forum topic is the conversation's thread, and answers go back into it.
//! - A group message addresses the bot when a command carries no `@suffix` or the bot's own, a
//!   `mention` is `@<bot username>` (any case), a `text_mention` names the bot's id, or it
//!   replies to one of the bot's messages. Without the bot's identity (`getMe` failed) every
//!   group message counts as addressed: with Telegram's default privacy mode those are the only
//!   group messages a bot receives.
//! - The bot's own mentions are cut out of the text the agent sees; `/new@bot` style commands
//!   are parsed as commands.

use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Mention,
    Message as EventMessage, Quote, ReplyContext, Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::wire::{ChatType, File, Message, MessageEntity, Update};

/// The bot's own identity (`getMe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    /// Its user id.
    pub id: i64,
    /// Its username, without the `@`.
    pub username: String,
}

/// The event of `update` for `integration_id`, or `None` for an update imgate does not answer.
pub fn normalize(
    update: &Update,
    integration_id: &IntegrationId,
    bot: Option<&Bot>,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    let message = update.message.as_ref()?;
    let (text, entities) = message.body();
    let group = message.chat.kind != ChatType::Private;
    let addressed = !group || bot.is_none_or(|bot| addresses(message, text, entities, bot));
    let thread = message.is_topic_message.then_some(message.message_thread_id).flatten();
    let sender = sender(message);
    Some(InboundEvent {
        event_id: update.update_id.to_string(),
        platform: Platform::Telegram,
        integration_id: integration_id.clone(),
        conversation: Conversation {
            id: message.chat.id.to_string(),
            kind: if group {
                ConversationKind::Group
            } else {
                ConversationKind::Direct
            },
            thread_id: thread.map(|t| t.to_string()),
            name: message.chat.title.clone(),
        },
        sender,
        kind: InboundKind::Message(EventMessage {
            text: without_bot_mentions(text, entities, bot),
            mentions_bot: addressed,
            mentions: mentions(text, entities, bot),
            media: media(message),
            command: Command::parse(text),
            quoted: message.reply_to_message.as_ref().map(|quoted| Quote {
                message_id: Some(quoted.message_id.to_string()),
                text: Some(quoted.body().0).filter(|t| !t.is_empty()).map(str::to_owned),
            }),
        }),
        reply: ReplyContext::Telegram {
            chat_id: message.chat.id,
            message_id: message.message_id,
            message_thread_id: thread,
        },
        occurred_at: (message.date > 0).then(|| Timestamp::from_millis(message.date.saturating_mul(1000))),
        received_at,
    })
}

/// Whether a group message addresses `bot` (see the module docs).
fn addresses(message: &Message, text: &str, entities: &[MessageEntity], bot: &Bot) -> bool {
    let own_username = |name: &str| name.eq_ignore_ascii_case(&bot.username);
    let by_entity = entities.iter().any(|entity| {
        let covered = Message::entity_text(text, entity).unwrap_or_default();
        match entity.kind.as_str() {
            "bot_command" => covered.split_once('@').is_none_or(|(_, suffix)| own_username(suffix)),
            "mention" => covered.strip_prefix('@').is_some_and(own_username),
            "text_mention" => entity.user.as_ref().is_some_and(|user| user.id == bot.id),
            _ => false,
        }
    });
    let replies_to_bot = message
        .reply_to_message
        .as_ref()
        .and_then(|quoted| quoted.from.as_ref())
        .is_some_and(|author| author.id == bot.id);
    by_entity || replies_to_bot
}

/// Whether `entity` mentions `bot`.
fn is_bot_mention(text: &str, entity: &MessageEntity, bot: Option<&Bot>) -> bool {
    let Some(bot) = bot else {
        return false;
    };
    match entity.kind.as_str() {
        "mention" => Message::entity_text(text, entity)
            .and_then(|t| t.strip_prefix('@'))
            .is_some_and(|name| name.eq_ignore_ascii_case(&bot.username)),
        "text_mention" => entity.user.as_ref().is_some_and(|user| user.id == bot.id),
        _ => false,
    }
}

/// `text` without the bot's mentions, whitespace tidied where they stood.
fn without_bot_mentions(text: &str, entities: &[MessageEntity], bot: Option<&Bot>) -> String {
    let mut ranges: Vec<_> = entities
        .iter()
        .filter(|entity| is_bot_mention(text, entity, bot))
        .filter_map(|entity| Message::entity_range(text, entity))
        .collect();
    if ranges.is_empty() {
        return text.trim().to_owned();
    }
    ranges.sort_by_key(|range| range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in ranges {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out.split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_owned()
}

/// The other users the message mentions.
fn mentions(text: &str, entities: &[MessageEntity], bot: Option<&Bot>) -> Vec<Mention> {
    entities
        .iter()
        .filter(|entity| !is_bot_mention(text, entity, bot))
        .filter_map(|entity| match entity.kind.as_str() {
            "mention" => Message::entity_text(text, entity).map(|name| Mention {
                id: name.trim_start_matches('@').to_owned(),
                name: Some(name.to_owned()),
            }),
            "text_mention" => entity.user.as_ref().map(|user| Mention {
                id: user.id.to_string(),
                name: Some(user.display_name()),
            }),
            _ => None,
        })
        .collect()
}

/// The author: the user, or the chat a message was sent on behalf of.
fn sender(message: &Message) -> Sender {
    match &message.from {
        Some(user) => Sender {
            id: user.id.to_string(),
            name: Some(user.display_name()),
            is_bot: user.is_bot,
        },
        None => Sender {
            id: message.chat.id.to_string(),
            name: message.chat.title.clone(),
            is_bot: false,
        },
    }
}

/// The attachments: the largest size of a photo, documents, voice notes, videos, stickers.
fn media(message: &Message) -> Vec<MediaRef> {
    let file = |kind: MediaKind, file: &File| MediaRef {
        kind,
        url: None,
        key: Some(file.file_id.clone()),
        name: file.file_name.clone(),
        mime: file.mime_type.clone(),
        size: file.file_size,
        aes_key: None,
    };
    let mut media = Vec::new();
    if let Some(photo) = message
        .photo
        .iter()
        .max_by_key(|p| u64::from(p.width) * u64::from(p.height))
    {
        media.push(MediaRef {
            kind: MediaKind::Image,
            url: None,
            key: Some(photo.file_id.clone()),
            name: None,
            mime: None,
            size: photo.file_size,
            aes_key: None,
        });
    }
    let attached = [
        (MediaKind::File, &message.document),
        (MediaKind::Voice, &message.voice),
        (MediaKind::Video, &message.video),
        (MediaKind::Sticker, &message.sticker),
    ];
    media.extend(
        attached
            .into_iter()
            .filter_map(|(kind, f)| f.as_ref().map(|f| file(kind, f))),
    );
    media
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
