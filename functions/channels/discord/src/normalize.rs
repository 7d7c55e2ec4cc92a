//! Gateway messages and interactions → [`InboundEvent`]s (§2.3, §3.8).
//!
//! - The bot's own messages are dropped (`None`); other bots' and webhooks' messages are marked
//!   as from bots, and the dispatcher never answers them.
//! - A message without a guild is a direct conversation; a guild channel (or thread) is a group
//!   conversation, addressed when it mentions the bot or replies to one of its messages. The
//!   bot's mention (`<@id>`, `<@!id>`) is cut from the text the agent sees.
//! - A slash command addresses the bot: `/ask <text>` carries `text` as the message,
//!   `/new`, `/status` and `/help` are the gateway's commands; the "new conversation" button
//!   (custom id [`NEW_SESSION_ACTION`]) is a card action.
//! - The event id is the message's or the interaction's snowflake: Discord redelivers neither
//!   under another id.

use imgate_core::dispatch::NEW_SESSION_ACTION;
use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Mention,
    Message as EventMessage, Quote, ReplyContext, Sender,
};
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::wire::{Attachment, Interaction, Message, User, interaction_type};

/// The event of a gateway `MESSAGE_CREATE`, or `None` for the bot's own messages.
pub fn message(
    message: &Message,
    integration_id: &IntegrationId,
    bot_id: &str,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    if message.author.id == bot_id {
        return None;
    }
    let direct = message.guild_id.is_none();
    let replies_to_bot = message
        .referenced_message
        .as_ref()
        .is_some_and(|quoted| quoted.author.id == bot_id);
    let mentions_bot = direct || replies_to_bot || message.mentions.iter().any(|u| u.id == bot_id);
    let text = without_mention(&message.content, bot_id);
    Some(InboundEvent {
        event_id: message.id.clone(),
        platform: Platform::Discord,
        integration_id: integration_id.clone(),
        conversation: conversation(&message.channel_id, direct),
        sender: sender(&message.author, message.webhook_id.is_some()),
        kind: InboundKind::Message(EventMessage {
            command: Command::parse(&text),
            text,
            mentions_bot,
            mentions: message
                .mentions
                .iter()
                .filter(|u| u.id != bot_id)
                .map(|u| Mention {
                    id: u.id.clone(),
                    name: Some(u.display_name()),
                })
                .collect(),
            media: message.attachments.iter().map(media).collect(),
            quoted: message.referenced_message.as_ref().map(|quoted| Quote {
                message_id: Some(quoted.id.clone()),
                text: Some(quoted.content.clone()).filter(|t| !t.is_empty()),
            }),
        }),
        reply: ReplyContext::Discord {
            channel_id: message.channel_id.clone(),
            message_id: Some(message.id.clone()),
            interaction_token: None,
            guild_id: message.guild_id.clone(),
        },
        occurred_at: None,
        received_at,
    })
}

/// The event of an interaction, or `None` for kinds imgate does not answer (PING is answered by
/// the endpoint itself).
pub fn interaction(
    interaction: &Interaction,
    integration_id: &IntegrationId,
    received_at: Timestamp,
) -> Option<InboundEvent> {
    let data = interaction.data.as_ref()?;
    let channel_id = interaction.channel_id.clone()?;
    let invoker = interaction.invoker()?;
    let kind = match interaction.kind {
        interaction_type::APPLICATION_COMMAND => {
            let argument = data
                .options
                .iter()
                .find_map(|o| o.value.as_ref().and_then(|v| v.as_str()))
                .unwrap_or_default()
                .trim()
                .to_owned();
            let text = match data.name.as_str() {
                "ask" => argument,
                name if argument.is_empty() => format!("/{name}"),
                name => format!("/{name} {argument}"),
            };
            InboundKind::Message(EventMessage {
                command: Command::parse(&text),
                text,
                mentions_bot: true,
                ..EventMessage::default()
            })
        }
        interaction_type::MESSAGE_COMPONENT => InboundKind::CardAction {
            action: data.custom_id.clone().filter(|id| id == NEW_SESSION_ACTION)?,
            value: None,
        },
        _ => return None,
    };
    let direct = interaction.guild_id.is_none();
    Some(InboundEvent {
        event_id: interaction.id.clone(),
        platform: Platform::Discord,
        integration_id: integration_id.clone(),
        conversation: conversation(&channel_id, direct),
        sender: sender(invoker, false),
        kind,
        reply: ReplyContext::Discord {
            channel_id,
            message_id: None,
            interaction_token: Some(interaction.token.clone()),
            guild_id: interaction.guild_id.clone(),
        },
        occurred_at: None,
        received_at,
    })
}

fn conversation(channel_id: &str, direct: bool) -> Conversation {
    Conversation {
        id: channel_id.to_owned(),
        kind: if direct {
            ConversationKind::Direct
        } else {
            ConversationKind::Group
        },
        thread_id: None,
        name: None,
    }
}

fn sender(user: &User, webhook: bool) -> Sender {
    Sender {
        id: user.id.clone(),
        name: Some(user.display_name()),
        is_bot: user.bot || webhook,
    }
}

/// `content` without the bot's mentions, spaces tidied.
fn without_mention(content: &str, bot_id: &str) -> String {
    let cleaned = content
        .replace(&format!("<@{bot_id}>"), " ")
        .replace(&format!("<@!{bot_id}>"), " ");
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn media(attachment: &Attachment) -> MediaRef {
    let mime = attachment.content_type.as_deref().unwrap_or_default();
    let kind = match mime.split('/').next().unwrap_or_default() {
        "image" => MediaKind::Image,
        "audio" => MediaKind::Voice,
        "video" => MediaKind::Video,
        _ => MediaKind::File,
    };
    MediaRef {
        kind,
        url: attachment.url.clone(),
        key: Some(attachment.id.clone()),
        name: Some(attachment.filename.clone()).filter(|n| !n.is_empty()),
        mime: attachment.content_type.clone(),
        size: attachment.size,
        aes_key: None,
    }
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
