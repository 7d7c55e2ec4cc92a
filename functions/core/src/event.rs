//! The normalized inbound event: one shape for what every platform delivers.
//!
//! Channels translate their wire payloads into [`InboundEvent`]; the dispatcher only ever sees
//! this type. Platform-specific facts needed to answer (a WeCom `response_url`, a DingTalk
//! `sessionWebhook`, …) travel in [`ReplyContext`].

use serde::{Deserialize, Serialize};

use crate::ids::IntegrationId;
use crate::platform::Platform;
use crate::session::SessionKey;
use crate::time::Timestamp;

/// One event from a platform, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// The platform's message or event id: the dedupe key.
    pub event_id: String,
    /// Where it came from.
    pub platform: Platform,
    /// Which integration received it.
    pub integration_id: IntegrationId,
    /// The chat it belongs to.
    pub conversation: Conversation,
    /// Who sent it.
    pub sender: Sender,
    /// What happened.
    pub kind: InboundKind,
    /// How to answer.
    pub reply: ReplyContext,
    /// When the platform says it happened, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<Timestamp>,
    /// When imgate received it.
    pub received_at: Timestamp,
}

impl InboundEvent {
    /// The session / ordering key: integration + conversation + sender.
    pub fn session_key(&self) -> SessionKey {
        SessionKey {
            integration_id: self.integration_id.clone(),
            conversation: self.conversation.id.clone(),
            sender: self.sender.id.clone(),
        }
    }

    /// The dedupe key, scoped so ids from different integrations never collide.
    pub fn dedupe_key(&self) -> String {
        format!("{}:{}:{}", self.platform, self.integration_id, self.event_id)
    }
}

/// Direct (one-to-one) or group chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    /// A one-to-one chat with the bot.
    Direct,
    /// A group, channel or room.
    Group,
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The platform's chat id (for direct chats on platforms without one, the sender id).
    pub id: String,
    /// Direct or group.
    pub kind: ConversationKind,
    /// Thread / topic inside the chat, where the platform has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Chat title, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A message author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The platform's user id (WeCom userid, Lark open_id, DingTalk staff/sender id, …).
    pub id: String,
    /// Display name, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the sender is itself a bot.
    #[serde(default)]
    pub is_bot: bool,
}

/// What the event is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    /// A message for the agent.
    Message(Message),
    /// The user opened a chat with the bot (WeCom `enter_chat`, Lark p2p chat created, …).
    EnterChat,
    /// A button or card action.
    CardAction {
        /// The action key / callback id.
        action: String,
        /// The action's value, as the platform sends it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<serde_json::Value>,
    },
    /// Thumbs-up / down or similar feedback on a reply.
    Feedback {
        /// The platform's feedback kind.
        rating: String,
        /// Free text, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    /// Anything else; kept so a new platform event never breaks the pipeline.
    Unsupported {
        /// The platform's event or message type.
        raw_type: String,
    },
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Message {
    /// Plain text with platform mention markup removed.
    pub text: String,
    /// True when the bot was @-mentioned.
    #[serde(default)]
    pub mentions_bot: bool,
    /// Other users mentioned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
    /// Attached images, files, voice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// A `/command` at the start of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// The message this one quotes or replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted: Option<Quote>,
}

/// An @-mention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// Platform user id.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Kinds of attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A picture.
    Image,
    /// A voice note.
    Voice,
    /// A video.
    Video,
    /// Any file.
    File,
    /// A sticker / emoji image.
    Sticker,
}

/// A reference to platform-hosted media (downloaded on demand, never inlined in the queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// What it is.
    pub kind: MediaKind,
    /// A download URL, where the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A platform file key (Lark `file_key`, DingTalk `downloadCode`, Telegram `file_id`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Per-file decryption key (WeCom smart-bot media are AES-encrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aes_key: Option<String>,
}

/// A parsed `/command args`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Lowercase name without the slash (`new`, `help`, `status`).
    pub name: String,
    /// The rest of the text, trimmed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub args: String,
}

/// The Chinese names of the commands, each with the name it stands for.
pub const CHINESE_NAMES: [(&str, &str); 7] = [
    ("新对话", "new"),
    ("新会话", "new"),
    ("取消", "cancel"),
    ("停止", "cancel"),
    ("切换", "switch"),
    ("状态", "status"),
    ("帮助", "help"),
];

impl Command {
    /// Parses text that starts with `/name` (or a full-width `／`, as Chinese input methods
    /// type it); Telegram's `/name@botname` form is accepted, and a Chinese name
    /// ([`CHINESE_NAMES`]) is the command it stands for.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim_start();
        let rest = text.strip_prefix('/').or_else(|| text.strip_prefix('／'))?;
        let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let name = head.split('@').next().unwrap_or_default();
        if let Some((_, english)) = CHINESE_NAMES.iter().find(|(chinese, _)| *chinese == name) {
            return Some(Self {
                name: (*english).to_owned(),
                args: args.trim().to_owned(),
            });
        }
        let valid =
            !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        valid.then(|| Self {
            name: name.to_ascii_lowercase(),
            args: args.trim().to_owned(),
        })
    }
}

/// A quoted message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The quoted message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Its text, where the platform includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Platform facts needed to answer an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum ReplyContext {
    /// WeCom smart bot (callback or long connection).
    WecomBot {
        /// Single-use active-reply URL (valid 1 h), in callback mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        response_url: Option<String>,
        /// The long-connection request id replies must carry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<String>,
        /// The stream id of the pull-based streamed answer, in callback mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stream_id: Option<String>,
        /// `single` or `group`.
        chat_type: String,
    },
    /// WeCom self-built app (replies through message/send).
    WecomApp {
        /// The app's AgentID.
        agent_id: String,
        /// The user to send to.
        to_user: String,
    },
    /// Lark / Feishu.
    Lark {
        /// The message to reply to.
        message_id: String,
        /// The chat id.
        chat_id: String,
        /// Thread root, for replies in threads.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        root_id: Option<String>,
    },
    /// DingTalk.
    Dingtalk {
        /// The per-conversation reply webhook.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_webhook: Option<String>,
        /// When the session webhook expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_webhook_expires_at: Option<Timestamp>,
        /// The open conversation id (robot OpenAPI fallback).
        conversation_id: String,
        /// The sender's staff id (robot OpenAPI direct sends).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_staff_id: Option<String>,
    },
    /// Telegram.
    Telegram {
        /// Chat id.
        chat_id: i64,
        /// The message to reply to.
        message_id: i64,
        /// Forum topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_thread_id: Option<i64>,
    },
    /// Discord.
    Discord {
        /// Channel id.
        channel_id: String,
        /// The message to reply to (gateway messages).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// Interaction token (slash commands; valid 15 min).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        interaction_token: Option<String>,
        /// Guild id, absent in DMs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        guild_id: Option<String>,
    },
    /// Weibo direct messages: answered on the relay's socket from a stream buffer.
    Weibo {
        /// The peer to answer (the message's `fromUserId`), a numeric string.
        to_user_id: String,
        /// The stream buffer the replier writes and the relay's connector sends as deltas.
        stream_id: String,
    },
    /// WeChat (iLink): private chats only.
    Wechat {
        /// The user to answer (`…@im.wechat`).
        to_user_id: String,
        /// The message's `context_token`, the latest of that user when it arrived: every
        /// `sendmessage` of the answer carries it. A secret: never logged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context_token: Option<crate::secret::Secret>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            Command::parse("/new"),
            Some(Command {
                name: "new".into(),
                args: String::new()
            })
        );
        assert_eq!(
            Command::parse("  /New  hello there "),
            Some(Command {
                name: "new".into(),
                args: "hello there".into()
            })
        );
        assert_eq!(
            Command::parse("/help@my_bot"),
            Some(Command {
                name: "help".into(),
                args: String::new()
            })
        );
        assert_eq!(
            Command::parse("/取消"),
            Some(Command {
                name: "cancel".into(),
                args: String::new()
            })
        );
        assert_eq!(
            Command::parse("／切换 gpt"),
            Some(Command {
                name: "switch".into(),
                args: "gpt".into()
            })
        );
        assert_eq!(
            Command::parse("/新对话 你好").map(|c| (c.name, c.args)),
            Some(("new".into(), "你好".into()))
        );
        assert_eq!(Command::parse("/取消吧"), None, "only the names themselves");
        assert_eq!(Command::parse("hello /new"), None);
        assert_eq!(Command::parse("/"), None);
        assert_eq!(Command::parse("/a/b"), None);
    }
}
