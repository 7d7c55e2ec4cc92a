//! Discord's wire types: the gateway envelope (§3.2), `READY` (§3.4), `MESSAGE_CREATE` (§3.8)
//! and interactions (§2.3). Unknown fields are ignored. Snowflakes are strings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not the expected JSON: the kind of failure and where, never the input.
    #[error("{what}: {detail}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// The failure, without the input.
        detail: String,
    },
}

fn json<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::Json {
        what,
        detail: imgate_channel_kit::redact::json_error(&e),
    })
}

/// Gateway opcodes (§3.2).
pub mod op {
    /// An event.
    pub const DISPATCH: u8 = 0;
    /// A heartbeat (both ways).
    pub const HEARTBEAT: u8 = 1;
    /// Identify (sent).
    pub const IDENTIFY: u8 = 2;
    /// Resume (sent).
    pub const RESUME: u8 = 6;
    /// Reconnect and resume (received).
    pub const RECONNECT: u8 = 7;
    /// The session is invalid (received).
    pub const INVALID_SESSION: u8 = 9;
    /// Hello (received first).
    pub const HELLO: u8 = 10;
    /// Heartbeat acknowledged (received).
    pub const HEARTBEAT_ACK: u8 = 11;
}

/// One gateway payload `{"op","d","s","t"}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Payload {
    /// Opcode.
    pub op: u8,
    /// Data.
    #[serde(default)]
    pub d: Value,
    /// Sequence number (dispatches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s: Option<u64>,
    /// Event name (dispatches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<String>,
}

/// Reads a gateway frame.
///
/// # Errors
/// [`WireError`].
pub fn parse_payload(frame: &str) -> Result<Payload, WireError> {
    json("gateway payload", frame.as_bytes())
}

/// `READY`'s data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Ready {
    /// The bot user.
    pub user: User,
    /// What Resume needs.
    pub session_id: String,
    /// Where to resume.
    pub resume_gateway_url: String,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Snowflake.
    pub id: String,
    /// Username.
    #[serde(default)]
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub global_name: Option<String>,
    /// Whether it is a bot.
    #[serde(default)]
    pub bot: bool,
}

impl User {
    /// The name people see.
    pub fn display_name(&self) -> String {
        self.global_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.username.clone())
    }
}

/// An attachment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Attachment {
    /// Snowflake.
    pub id: String,
    /// File name.
    #[serde(default)]
    pub filename: String,
    /// MIME type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// Download URL.
    #[serde(default)]
    pub url: Option<String>,
}

/// A reply's reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reference {
    /// The message replied to.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// `MESSAGE_CREATE`'s data: a message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Snowflake.
    pub id: String,
    /// The channel.
    pub channel_id: String,
    /// The guild; absent in DMs.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The author.
    pub author: User,
    /// The text (empty without the message-content intent unless the bot is mentioned or it
    /// is a DM).
    #[serde(default)]
    pub content: String,
    /// ISO 8601.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Users mentioned.
    #[serde(default)]
    pub mentions: Vec<User>,
    /// Attachments.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Set for messages sent by webhooks (interaction answers and follow-ups too).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// Set for a message that answers an interaction.
    #[serde(default)]
    pub interaction_metadata: Option<Value>,
    /// The message replied to.
    #[serde(default)]
    pub message_reference: Option<Reference>,
    /// The message replied to, resolved.
    #[serde(default)]
    pub referenced_message: Option<Box<Message>>,
}

/// Reads `MESSAGE_CREATE` data.
///
/// # Errors
/// [`WireError`].
pub fn parse_message(data: &Value) -> Result<Message, WireError> {
    serde_json::from_value(data.clone()).map_err(|e| WireError::Json {
        what: "MESSAGE_CREATE",
        detail: imgate_channel_kit::redact::json_error(&e),
    })
}

/// Interaction types (§2.3).
pub mod interaction_type {
    /// Discord checks the endpoint.
    pub const PING: u8 = 1;
    /// A slash command.
    pub const APPLICATION_COMMAND: u8 = 2;
    /// A button or select.
    pub const MESSAGE_COMPONENT: u8 = 3;
}

/// A guild member (carries the user in guilds).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    /// The user.
    #[serde(default)]
    pub user: Option<User>,
}

/// A slash command's option.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommandOption {
    /// Its name.
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: Option<Value>,
}

/// A slash command's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CommandData {
    /// The command's name.
    pub name: String,
    /// Its options.
    #[serde(default)]
    pub options: Vec<CommandOption>,
    /// A component's custom id.
    #[serde(default)]
    pub custom_id: Option<String>,
}

/// An interaction (§2.3).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Interaction {
    /// Snowflake.
    pub id: String,
    /// The application.
    pub application_id: String,
    /// PING, APPLICATION_COMMAND, …
    #[serde(rename = "type")]
    pub kind: u8,
    /// The command.
    #[serde(default)]
    pub data: Option<CommandData>,
    /// The guild, absent in DMs.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The channel.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The member (guilds).
    #[serde(default)]
    pub member: Option<Member>,
    /// The user (DMs).
    #[serde(default)]
    pub user: Option<User>,
    /// The continuation token (15 minutes).
    pub token: String,
}

impl Interaction {
    /// Who used it.
    pub fn invoker(&self) -> Option<&User> {
        self.user
            .as_ref()
            .or_else(|| self.member.as_ref().and_then(|m| m.user.as_ref()))
    }
}

/// Reads an interaction from the endpoint's raw body.
///
/// # Errors
/// [`WireError`].
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, WireError> {
    json("interaction", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_examples_parse() {
        let ping = parse_interaction(br#"{"application_id":"123456789012345678","id":"987654321098765432","token":"aW50ZXJhY3Rpb24tdG9rZW4","type":1,"version":1}"#).unwrap();
        assert_eq!(ping.kind, interaction_type::PING);
        let command = parse_interaction(br#"{"type":2,"token":"A_UNIQUE_TOKEN","id":"786008729715212338","application_id":"1","guild_id":"290926798626357999","channel_id":"645027906669510667","member":{"user":{"id":"53908232506183680","username":"Mason"}},"data":{"type":1,"name":"cardsearch","id":"771825006014889984","options":[{"type":3,"name":"cardname","value":"The Gitrog Monster"}]}}"#).unwrap();
        assert_eq!(command.invoker().unwrap().id, "53908232506183680");
        assert_eq!(
            command.data.unwrap().options[0].value,
            Some(Value::from("The Gitrog Monster"))
        );
        let hello = parse_payload(r#"{"op":10,"d":{"heartbeat_interval":45000},"s":null,"t":null}"#).unwrap();
        assert_eq!(
            (hello.op, hello.d["heartbeat_interval"].as_u64()),
            (op::HELLO, Some(45_000))
        );
    }

    #[test]
    fn broken_input_says_what_without_quoting_it() {
        let error = parse_interaction(br#"{"type":"secret-token-value"}"#).unwrap_err();
        assert!(!error.to_string().contains("secret-token-value"), "{error}");
        assert!(parse_payload("{").is_err());
    }
}
