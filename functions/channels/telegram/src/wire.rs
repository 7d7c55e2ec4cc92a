//! The Bot API's `Update` and `Message` (§4), with the fields the gateway uses; unknown fields
//! and update kinds are ignored, so a new Bot API version never breaks parsing.
//!
//! Entity offsets and lengths count UTF-16 code units; [`Message::entity_text`] converts them
//! before slicing Rust strings.

use serde::Deserialize;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not an `Update`: the kind of failure and where, never the body.
    #[error("not a Telegram update: {0}")]
    Json(String),
}

/// One update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Update {
    /// Sequential per bot: the dedupe key and the long-polling offset.
    pub update_id: i64,
    /// A new message.
    #[serde(default)]
    pub message: Option<Message>,
    /// An edited message (not answered).
    #[serde(default)]
    pub edited_message: Option<Message>,
    /// A channel post (not answered).
    #[serde(default)]
    pub channel_post: Option<Message>,
}

/// Reads an update from a webhook body or a `getUpdates` result item.
///
/// # Errors
/// [`WireError::Json`], describing the failure without the input.
pub fn parse_update(body: &[u8]) -> Result<Update, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError::Json(imgate_channel_kit::redact::json_error(&e)))
}

/// A user or bot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    /// Up to 52 significant bits.
    pub id: i64,
    /// Whether it is a bot.
    #[serde(default)]
    pub is_bot: bool,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// `@username` without the `@`.
    #[serde(default)]
    pub username: Option<String>,
}

impl User {
    /// First and last name.
    pub fn display_name(&self) -> String {
        match &self.last_name {
            Some(last) if !last.is_empty() => format!("{} {last}", self.first_name),
            _ => self.first_name.clone(),
        }
    }
}

/// `Chat.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// A private chat with one user.
    Private,
    /// A basic group.
    Group,
    /// A supergroup (forums included).
    Supergroup,
    /// A channel.
    Channel,
    /// A type this build does not know.
    #[serde(other)]
    Other,
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Chat {
    /// Negative for groups, supergroups and channels.
    pub id: i64,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ChatType,
    /// Title of groups and channels.
    #[serde(default)]
    pub title: Option<String>,
}

/// An entity in a message's text or caption.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MessageEntity {
    /// `mention`, `bot_command`, `text_mention`, `bold`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Start, in UTF-16 code units.
    pub offset: usize,
    /// Length, in UTF-16 code units.
    pub length: usize,
    /// The user of a `text_mention`.
    #[serde(default)]
    pub user: Option<User>,
}

/// One size of a photo.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhotoSize {
    /// Download key (`getFile`).
    pub file_id: String,
    /// Width.
    #[serde(default)]
    pub width: u32,
    /// Height.
    #[serde(default)]
    pub height: u32,
    /// Bytes.
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// A document, voice note, video or sticker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct File {
    /// Download key (`getFile`).
    pub file_id: String,
    /// Original file name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Bytes.
    #[serde(default)]
    pub file_size: Option<u64>,
}

/// `getFile`'s answer: a file the bot received, as the file server has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FilePath {
    /// Bytes, when known.
    #[serde(default)]
    pub file_size: Option<u64>,
    /// Its path on the file server (`https://api.telegram.org/file/bot<token>/<file_path>`);
    /// Telegram guarantees it for at least an hour.
    #[serde(default)]
    pub file_path: Option<String>,
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// Unique in its chat.
    pub message_id: i64,
    /// Forum topic or thread.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Whether it was sent in a forum topic.
    #[serde(default)]
    pub is_topic_message: bool,
    /// The author; absent in channels.
    #[serde(default)]
    pub from: Option<User>,
    /// The chat.
    pub chat: Chat,
    /// Unix seconds.
    #[serde(default)]
    pub date: i64,
    /// Text of text messages.
    #[serde(default)]
    pub text: Option<String>,
    /// Entities of `text`.
    #[serde(default)]
    pub entities: Vec<MessageEntity>,
    /// Caption of media messages.
    #[serde(default)]
    pub caption: Option<String>,
    /// Entities of `caption`.
    #[serde(default)]
    pub caption_entities: Vec<MessageEntity>,
    /// The message this one replies to (one level deep).
    #[serde(default)]
    pub reply_to_message: Option<Box<Message>>,
    /// Sizes of a photo, smallest first.
    #[serde(default)]
    pub photo: Vec<PhotoSize>,
    /// A document.
    #[serde(default)]
    pub document: Option<File>,
    /// A voice note.
    #[serde(default)]
    pub voice: Option<File>,
    /// A video.
    #[serde(default)]
    pub video: Option<File>,
    /// A sticker.
    #[serde(default)]
    pub sticker: Option<File>,
}

impl Message {
    /// The text or caption, with its entities.
    pub fn body(&self) -> (&str, &[MessageEntity]) {
        match (&self.text, &self.caption) {
            (Some(text), _) => (text, &self.entities),
            (None, Some(caption)) => (caption, &self.caption_entities),
            (None, None) => ("", &[]),
        }
    }

    /// The byte range in [`Message::body`] that `entity` covers, if its UTF-16 offsets fall on
    /// characters of the text.
    pub fn entity_range(text: &str, entity: &MessageEntity) -> Option<std::ops::Range<usize>> {
        let start = utf16_to_byte(text, entity.offset)?;
        let end = utf16_to_byte(text, entity.offset.checked_add(entity.length)?)?;
        (start <= end).then_some(start..end)
    }

    /// The text `entity` covers.
    pub fn entity_text<'t>(text: &'t str, entity: &MessageEntity) -> Option<&'t str> {
        Self::entity_range(text, entity).map(|range| &text[range])
    }
}

/// The byte index of UTF-16 position `units` in `text`; `None` past the end or inside a
/// character.
fn utf16_to_byte(text: &str, units: usize) -> Option<usize> {
    let mut counted = 0;
    for (index, c) in text.char_indices() {
        if counted == units {
            return Some(index);
        }
        if counted > units {
            return None;
        }
        counted += c.len_utf16();
    }
    (counted == units).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP_UPDATE: &str = r#"{"update_id": 10000,
     "message": {"message_id": 1365, "message_thread_id": 7,
       "from": {"id": 1111111, "is_bot": false, "first_name": "A", "username": "alice", "language_code": "en"},
       "chat": {"id": -1001234567890, "type": "supergroup", "title": "Team", "is_forum": true},
       "date": 1700000000, "is_topic_message": true,
       "reply_to_message": {"message_id": 1360, "from": {"id": 42, "is_bot": true, "first_name": "MyBot"},
         "chat": {"id": -1001234567890, "type": "supergroup"}, "date": 1699999990, "text": "..."},
       "text": "/ask@my_bot hello @my_bot",
       "entities": [{"type": "bot_command", "offset": 0, "length": 11},
                    {"type": "mention", "offset": 18, "length": 7}],
       "new_field_from_a_later_api": {"x": 1}}}"#;

    #[test]
    fn the_notes_example_parses() {
        let update = parse_update(GROUP_UPDATE.as_bytes()).unwrap();
        assert_eq!(update.update_id, 10000);
        let message = update.message.unwrap();
        assert_eq!(message.chat.kind, ChatType::Supergroup);
        assert_eq!(message.chat.id, -1_001_234_567_890);
        assert_eq!(message.message_thread_id, Some(7));
        assert_eq!(message.reply_to_message.as_ref().unwrap().from.as_ref().unwrap().id, 42);
        let (text, entities) = message.body();
        assert_eq!(Message::entity_text(text, &entities[0]), Some("/ask@my_bot"));
        assert_eq!(Message::entity_text(text, &entities[1]), Some("@my_bot"));
    }

    #[test]
    fn entity_offsets_count_utf16_units() {
        // "😀" is two UTF-16 units and four bytes; "é" one unit and two bytes.
        let text = "😀 é @bot hi";
        let mention = MessageEntity {
            kind: "mention".into(),
            offset: 5,
            length: 4,
            user: None,
        };
        assert_eq!(Message::entity_text(text, &mention), Some("@bot"));
        let inside_the_emoji = MessageEntity {
            offset: 1,
            ..mention.clone()
        };
        assert_eq!(Message::entity_text(text, &inside_the_emoji), None);
        let past_the_end = MessageEntity {
            offset: 10,
            length: 5,
            ..mention
        };
        assert_eq!(Message::entity_text(text, &past_the_end), None);
    }

    #[test]
    fn unknown_kinds_and_broken_bodies() {
        let update = parse_update(br#"{"update_id": 5, "poll": {"id": "1"}}"#).unwrap();
        assert_eq!(update.message, None);
        let channel = parse_update(
            br#"{"update_id": 6, "message": {"message_id": 1, "date": 0,
            "chat": {"id": -1, "type": "some_future_type"}}}"#,
        )
        .unwrap();
        assert_eq!(channel.message.unwrap().chat.kind, ChatType::Other);
        let error = parse_update(br#"{"update_id": "secret-looking-value"}"#).unwrap_err();
        assert!(!error.to_string().contains("secret-looking-value"), "{error}");
        assert!(parse_update(b"{").is_err());
    }
}
