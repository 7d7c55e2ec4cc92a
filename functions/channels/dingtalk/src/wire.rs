//! Robot message wire types (§2): the `data` of `/v1.0/im/bot/messages/get` Stream frames and
//! the body of HTTP-mode callbacks (same JSON).
//!
//! Parsing is forward compatible: unknown fields are ignored, unknown `msgtype`s become
//! [`Content::Unsupported`], and fields documented as one JSON type but plausibly sent as
//! another (`conversationType` is a string, `createAt` a number, `duration` either) are read
//! in both forms. Only bodies that are not JSON objects, or lack `msgId` / `conversationId`,
//! are errors.

use serde::Deserialize;
use serde_json::{Map, Value};

/// A robot message could not be read. Messages name positions and fields, never content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not a JSON object.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// A field every robot message carries is missing or empty.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
}

impl MessageError {
    /// A JSON error without serde's echo of the offending value.
    pub(crate) fn json(e: &serde_json::Error) -> Self {
        Self::Json(imgate_channel_kit::redact::json_error(e))
    }
}

/// `conversationType`: `"1"` single chat, `"2"` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversationType {
    /// A one-to-one chat with the robot (every message is delivered).
    Single,
    /// A group (only messages that @-mention the robot are delivered).
    Group,
    /// A value this gateway does not know, verbatim.
    Other(String),
}

impl ConversationType {
    fn parse(value: &Value) -> Self {
        match scalar(value).as_deref() {
            Some("1") => Self::Single,
            Some("2") => Self::Group,
            Some(other) => Self::Other(other.to_owned()),
            None => Self::Other(String::new()),
        }
    }
}

/// One entry of `atUsers`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AtUser {
    /// The mentioned user's encrypted DingTalk id (the robot's own is `chatbotUserId`).
    #[serde(default)]
    pub dingtalk_id: String,
    /// The mentioned user's staff id, for members of the robot's org.
    #[serde(default)]
    pub staff_id: Option<String>,
}

/// A downloadable attachment; fetch it with `downloadCode` via `/v1.0/robot/messageFiles/download`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Media {
    /// The download code (the key for the download API).
    pub download_code: String,
    /// Pictures only: a second code for the picture itself.
    pub picture_download_code: Option<String>,
    /// Files only: the file name.
    pub file_name: Option<String>,
    /// Audio / video: the duration as DingTalk sends it (seconds or milliseconds, as text).
    pub duration: Option<String>,
    /// Video only: the container (`mp4`).
    pub video_type: Option<String>,
}

/// One element of a `richText` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RichTextItem {
    /// A text run.
    Text(String),
    /// An inline picture.
    Picture(Media),
    /// An element type this gateway does not know (its `type`).
    Other(String),
}

/// What was sent, by `msgtype`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `text`: `text.content` (in groups DingTalk has already removed the robot's @-mention,
    /// often leaving a leading space).
    Text(String),
    /// `richText`: text runs and pictures in order.
    RichText(Vec<RichTextItem>),
    /// `picture`.
    Picture(Media),
    /// `audio`, with DingTalk's speech recognition result when it has one.
    Audio {
        /// The voice file.
        media: Media,
        /// The ASR text.
        recognition: Option<String>,
    },
    /// `video`.
    Video(Media),
    /// `file`.
    File(Media),
    /// `unknownMsgType` (content DingTalk does not forward) or a `msgtype` this gateway does not
    /// know.
    Unsupported {
        /// The wire `msgtype`.
        msgtype: String,
    },
}

/// A robot message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotMessage {
    /// Unique message id: the dedupe key.
    pub msg_id: String,
    /// `cid…`; for groups the openConversationId used by the robot OpenAPI and cards.
    pub conversation_id: String,
    /// Single chat or group.
    pub conversation_type: ConversationType,
    /// The group name (groups only).
    pub conversation_title: Option<String>,
    /// The sender's encrypted id (`$:LWCP_v1:$…`), always present.
    pub sender_id: String,
    /// The sender's userId in the org; may be absent for users outside it.
    pub sender_staff_id: Option<String>,
    /// The sender's display name.
    pub sender_nick: Option<String>,
    /// The sender's corp id.
    pub sender_corp_id: Option<String>,
    /// Whether the sender is an org admin.
    pub is_admin: bool,
    /// The robot's own encrypted id.
    pub chatbot_user_id: Option<String>,
    /// The robot's corp id.
    pub chatbot_corp_id: Option<String>,
    /// The robot code (for internal apps, the AppKey / clientId).
    pub robot_code: Option<String>,
    /// Whether the robot was @-mentioned; `None` when DingTalk leaves the field out.
    pub is_in_at_list: Option<bool>,
    /// Everyone @-mentioned (the robot included).
    pub at_users: Vec<AtUser>,
    /// Send time, Unix milliseconds.
    pub create_at: Option<i64>,
    /// The per-conversation reply URL (its query is a credential: never log it).
    pub session_webhook: Option<String>,
    /// When [`RobotMessage::session_webhook`] expires, Unix milliseconds (~90 minutes after
    /// `createAt` in every sample).
    pub session_webhook_expired_time: Option<i64>,
    /// What was sent.
    pub content: Content,
}

impl RobotMessage {
    /// True in groups.
    pub fn is_group(&self) -> bool {
        self.conversation_type == ConversationType::Group
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    msg_id: String,
    #[serde(default)]
    conversation_id: String,
    #[serde(default)]
    conversation_type: Value,
    #[serde(default)]
    conversation_title: Option<String>,
    #[serde(default)]
    sender_id: String,
    #[serde(default)]
    sender_staff_id: Option<String>,
    #[serde(default)]
    sender_nick: Option<String>,
    #[serde(default)]
    sender_corp_id: Option<String>,
    #[serde(default)]
    is_admin: Option<bool>,
    #[serde(default)]
    chatbot_user_id: Option<String>,
    #[serde(default)]
    chatbot_corp_id: Option<String>,
    #[serde(default)]
    robot_code: Option<String>,
    #[serde(default)]
    is_in_at_list: Option<bool>,
    #[serde(default)]
    at_users: Option<Vec<AtUser>>,
    #[serde(default)]
    create_at: Value,
    #[serde(default)]
    session_webhook: Option<String>,
    #[serde(default)]
    session_webhook_expired_time: Value,
    #[serde(default)]
    msgtype: String,
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    content: Option<Value>,
}

/// Parses a robot message (a Stream frame's decoded `data`, or an HTTP-mode body).
///
/// # Errors
/// [`MessageError::Json`] for a body that is not a JSON object, [`MessageError::MissingField`]
/// without a non-empty `msgId` or `conversationId`.
pub fn parse_robot_message(body: &[u8]) -> Result<RobotMessage, MessageError> {
    let raw: Raw = serde_json::from_slice(body).map_err(|e| MessageError::json(&e))?;
    if raw.msg_id.is_empty() {
        return Err(MessageError::MissingField("msgId"));
    }
    if raw.conversation_id.is_empty() {
        return Err(MessageError::MissingField("conversationId"));
    }
    let content = content(&raw.msgtype, raw.text.as_ref(), raw.content.as_ref());
    Ok(RobotMessage {
        msg_id: raw.msg_id,
        conversation_id: raw.conversation_id,
        conversation_type: ConversationType::parse(&raw.conversation_type),
        conversation_title: non_empty(raw.conversation_title),
        sender_id: raw.sender_id,
        sender_staff_id: non_empty(raw.sender_staff_id),
        sender_nick: non_empty(raw.sender_nick),
        sender_corp_id: non_empty(raw.sender_corp_id),
        is_admin: raw.is_admin.unwrap_or(false),
        chatbot_user_id: non_empty(raw.chatbot_user_id),
        chatbot_corp_id: non_empty(raw.chatbot_corp_id),
        robot_code: non_empty(raw.robot_code),
        is_in_at_list: raw.is_in_at_list,
        at_users: raw.at_users.unwrap_or_default(),
        create_at: millis(&raw.create_at),
        session_webhook: non_empty(raw.session_webhook),
        session_webhook_expired_time: millis(&raw.session_webhook_expired_time),
        content,
    })
}

fn content(msgtype: &str, text: Option<&Value>, content: Option<&Value>) -> Content {
    let empty = Map::new();
    let fields = content.and_then(Value::as_object).unwrap_or(&empty);
    match msgtype {
        "text" => Content::Text(
            text.and_then(|t| t.get("content"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        "richText" => Content::RichText(
            fields
                .get("richText")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(rich_text_item).collect())
                .unwrap_or_default(),
        ),
        "picture" => Content::Picture(media(fields)),
        "audio" => Content::Audio {
            media: media(fields),
            recognition: string(fields, "recognition"),
        },
        "video" => Content::Video(media(fields)),
        "file" => Content::File(media(fields)),
        other => Content::Unsupported {
            msgtype: other.to_owned(),
        },
    }
}

fn rich_text_item(item: &Value) -> RichTextItem {
    let empty = Map::new();
    let fields = item.as_object().unwrap_or(&empty);
    match fields.get("type").and_then(Value::as_str) {
        Some("picture") => RichTextItem::Picture(media(fields)),
        Some("text") | None => match fields.get("text").and_then(Value::as_str) {
            Some(text) => RichTextItem::Text(text.to_owned()),
            None => RichTextItem::Other(String::new()),
        },
        Some(other) => RichTextItem::Other(other.to_owned()),
    }
}

fn media(fields: &Map<String, Value>) -> Media {
    Media {
        download_code: string(fields, "downloadCode").unwrap_or_default(),
        picture_download_code: string(fields, "pictureDownloadCode"),
        file_name: string(fields, "fileName"),
        duration: fields.get("duration").and_then(scalar),
        video_type: string(fields, "videoType"),
    }
}

fn string(fields: &Map<String, Value>, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A string or number as text; `None` for anything else or an empty string.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Milliseconds sent as a number or a numeric string.
pub(crate) fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
