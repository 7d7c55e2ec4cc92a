//! The decrypted smart-bot callback JSON (§2.2 messages, §2.3 events, stream refreshes).

use serde::Deserialize;
use serde_json::Value;

use super::CallbackError;

/// One decrypted smart-bot callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotCallback {
    /// A user message for the bot.
    Message(BotMessage),
    /// WeCom asks for the current content of a stream we opened (callback mode only).
    StreamRefresh {
        /// The callback's own id.
        msgid: String,
        /// Our stream id.
        stream_id: String,
    },
    /// An event (enter chat, card click, feedback, …).
    Event(BotEvent),
}

/// `single` or `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    /// One-to-one chat with the bot.
    #[default]
    Single,
    /// A group chat (the bot only receives messages that @-mention it).
    Group,
    /// Anything else WeCom may add.
    #[serde(other)]
    Other,
}

impl ChatType {
    /// The wire name (`other` for unknown kinds).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Group => "group",
            Self::Other => "other",
        }
    }
}

/// Who triggered a callback.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct BotFrom {
    /// The sender's userid.
    #[serde(default)]
    pub userid: String,
    /// The sender's corp id (absent for internal bots).
    #[serde(default)]
    pub corpid: Option<String>,
}

/// A user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotMessage {
    /// Unique id of this callback: the dedupe key.
    pub msgid: String,
    /// The bot's id.
    pub aibotid: String,
    /// The group id; only present in groups.
    pub chatid: Option<String>,
    /// Single or group.
    pub chattype: ChatType,
    /// The sender.
    pub from: BotFrom,
    /// Single-use active-reply URL (valid 1 h).
    pub response_url: Option<String>,
    /// Unix seconds, when WeCom sends it.
    pub create_time: Option<i64>,
    /// What was sent.
    pub content: BotContent,
    /// The message the user quoted, if any.
    pub quote: Option<BotQuote>,
}

/// The payload of a message, by `msgtype`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotContent {
    /// `text`; in groups it includes the literal `@BotName` mention.
    Text(String),
    /// `image` (single chat only).
    Image(BotMedia),
    /// `mixed`: text and images in order.
    Mixed(Vec<MixedItem>),
    /// `voice`: WeCom's speech-to-text result, not audio.
    Voice(String),
    /// `file` (single chat only).
    File(BotMedia),
    /// `video` (single chat only).
    Video(BotMedia),
    /// A message type this gateway does not know.
    Unsupported {
        /// The wire `msgtype`.
        msgtype: String,
    },
}

/// A downloadable, AES-encrypted media file (URL valid 5 minutes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct BotMedia {
    /// The download URL.
    #[serde(default)]
    pub url: String,
    /// Per-URL key (long connection only); in callback mode the bot's EncodingAESKey applies.
    #[serde(default)]
    pub aeskey: Option<String>,
}

/// One element of a `mixed` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MixedItem {
    /// A text run.
    Text(String),
    /// An image.
    Image(BotMedia),
    /// An element type this gateway does not know.
    Other(String),
}

/// A quoted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotQuote {
    /// What was quoted.
    pub content: BotContent,
}

/// An event callback with its envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotEvent {
    /// Unique id of this callback: the dedupe key.
    pub msgid: String,
    /// The bot's id.
    pub aibotid: String,
    /// The group id, in groups.
    pub chatid: Option<String>,
    /// Single or group.
    pub chattype: ChatType,
    /// Who triggered it.
    pub from: BotFrom,
    /// Present on `template_card_event`.
    pub response_url: Option<String>,
    /// Unix seconds.
    pub create_time: Option<i64>,
    /// Which event.
    pub kind: BotEventKind,
}

/// The event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotEventKind {
    /// The user opened the bot's single chat for the first time today.
    EnterChat,
    /// A template card button / selection / menu was used.
    TemplateCard(TemplateCardEvent),
    /// The user rated a reply that carried a `feedback.id`.
    Feedback(FeedbackEvent),
    /// Another connection took over this bot (long connection).
    Disconnected,
    /// An event type this gateway does not know.
    Unknown {
        /// The wire `eventtype`.
        eventtype: String,
    },
}

/// `event.template_card_event`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateCardEvent {
    /// The card type (`button_interaction`, …).
    pub card_type: String,
    /// The key of the clicked button / submit button / menu action.
    pub event_key: String,
    /// The card's task id.
    pub task_id: String,
    /// Selections of vote / multiple-choice cards.
    pub selected_items: Vec<SelectedItem>,
}

/// One answered question of an interactive card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelectedItem {
    /// The question key.
    pub question_key: String,
    /// The chosen option ids.
    pub option_ids: Vec<String>,
}

/// `event.feedback_event`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedbackEvent {
    /// The `feedback.id` we put on the reply.
    pub id: String,
    /// 1 = like, 2 = dislike (3 = cancel is UNVERIFIED); 0 when absent.
    pub kind: i64,
    /// Free text, if the user wrote some.
    pub content: Option<String>,
    /// Reasons picked for an inaccurate answer.
    pub inaccurate_reason_list: Vec<i64>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    msgid: String,
    #[serde(default)]
    aibotid: String,
    #[serde(default)]
    chatid: Option<String>,
    #[serde(default)]
    chattype: ChatType,
    #[serde(default)]
    from: BotFrom,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    create_time: Option<Value>,
    #[serde(default)]
    msgtype: String,
    #[serde(default)]
    stream: Option<Value>,
    #[serde(default)]
    event: Option<Value>,
    #[serde(default)]
    quote: Option<Value>,
    // The payload of each message type this gateway reads, under its `msgtype` (named fields,
    // not a flattened map: serde buffers every field of a flattened struct, which made
    // parsing twice as slow).
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    voice: Option<Value>,
    #[serde(default)]
    image: Option<Value>,
    #[serde(default)]
    file: Option<Value>,
    #[serde(default)]
    video: Option<Value>,
    #[serde(default)]
    mixed: Option<Value>,
}

impl Raw {
    /// The payload under `msgtype`, for the types [`content`] reads.
    fn payload(&self, msgtype: &str) -> Option<&Value> {
        match msgtype {
            "text" => self.text.as_ref(),
            "voice" => self.voice.as_ref(),
            "image" => self.image.as_ref(),
            "file" => self.file.as_ref(),
            "video" => self.video.as_ref(),
            "mixed" => self.mixed.as_ref(),
            _ => None,
        }
    }
}

/// Parses a decrypted smart-bot callback (or a long-connection callback `body`).
///
/// # Errors
/// [`CallbackError::Json`] when it is not a JSON object, [`CallbackError::MissingField`] when
/// `msgtype`, `msgid`, the sender of a message or a refreshed stream's id are missing.
pub fn parse_bot_callback(json: &[u8]) -> Result<BotCallback, CallbackError> {
    let raw: Raw = serde_json::from_slice(json).map_err(|e| CallbackError::json(&e))?;
    if raw.msgtype.is_empty() {
        return Err(CallbackError::MissingField("msgtype"));
    }
    if raw.msgid.is_empty() {
        return Err(CallbackError::MissingField("msgid"));
    }
    let create_time = raw.create_time.as_ref().and_then(int);
    match raw.msgtype.as_str() {
        "stream" => {
            let stream_id = raw.stream.as_ref().and_then(|s| s.get("id")).and_then(Value::as_str);
            match stream_id {
                Some(id) if !id.is_empty() => Ok(BotCallback::StreamRefresh {
                    msgid: raw.msgid,
                    stream_id: id.to_owned(),
                }),
                _ => Err(CallbackError::MissingField("stream.id")),
            }
        }
        "event" => {
            let event = raw.event.unwrap_or(Value::Null);
            Ok(BotCallback::Event(BotEvent {
                kind: event_kind(&event),
                msgid: raw.msgid,
                aibotid: raw.aibotid,
                chatid: raw.chatid.filter(|c| !c.is_empty()),
                chattype: raw.chattype,
                from: raw.from,
                response_url: raw.response_url.filter(|u| !u.is_empty()),
                create_time,
            }))
        }
        msgtype => {
            if raw.from.userid.is_empty() {
                return Err(CallbackError::MissingField("from.userid"));
            }
            let payload = raw.payload(msgtype).unwrap_or(&Value::Null);
            Ok(BotCallback::Message(BotMessage {
                content: content(msgtype, payload),
                quote: raw.quote.as_ref().and_then(quote),
                msgid: raw.msgid,
                aibotid: raw.aibotid,
                chatid: raw.chatid.filter(|c| !c.is_empty()),
                chattype: raw.chattype,
                from: raw.from,
                response_url: raw.response_url.filter(|u| !u.is_empty()),
                create_time,
            }))
        }
    }
}

fn content(msgtype: &str, payload: &Value) -> BotContent {
    let text = || str_field(payload, "content");
    match msgtype {
        "text" => BotContent::Text(text()),
        "voice" => BotContent::Voice(text()),
        "image" => BotContent::Image(media(payload)),
        "file" => BotContent::File(media(payload)),
        "video" => BotContent::Video(media(payload)),
        "mixed" => BotContent::Mixed(
            payload
                .get("msg_item")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(mixed_item).collect())
                .unwrap_or_default(),
        ),
        other => BotContent::Unsupported {
            msgtype: other.to_owned(),
        },
    }
}

fn mixed_item(item: &Value) -> MixedItem {
    let kind = item.get("msgtype").and_then(Value::as_str).unwrap_or_default();
    let payload = item.get(kind).unwrap_or(&Value::Null);
    match kind {
        "text" => MixedItem::Text(str_field(payload, "content")),
        "image" => MixedItem::Image(media(payload)),
        other => MixedItem::Other(other.to_owned()),
    }
}

fn quote(value: &Value) -> Option<BotQuote> {
    let msgtype = value.get("msgtype").and_then(Value::as_str)?;
    let payload = value.get(msgtype).unwrap_or(&Value::Null);
    Some(BotQuote {
        content: content(msgtype, payload),
    })
}

fn media(payload: &Value) -> BotMedia {
    serde_json::from_value(payload.clone()).unwrap_or_default()
}

fn event_kind(event: &Value) -> BotEventKind {
    let eventtype = event.get("eventtype").and_then(Value::as_str).unwrap_or_default();
    let body = event.get(eventtype).unwrap_or(&Value::Null);
    match eventtype {
        "enter_chat" => BotEventKind::EnterChat,
        "disconnected_event" => BotEventKind::Disconnected,
        "template_card_event" => BotEventKind::TemplateCard(TemplateCardEvent {
            card_type: str_field(body, "card_type"),
            event_key: str_field(body, "event_key"),
            task_id: str_field(body, "task_id"),
            selected_items: body
                .pointer("/selected_items/selected_item")
                .and_then(Value::as_array)
                .map(|items| items.iter().map(selected_item).collect())
                .unwrap_or_default(),
        }),
        "feedback_event" => BotEventKind::Feedback(FeedbackEvent {
            id: str_field(body, "id"),
            kind: body.get("type").and_then(int).unwrap_or(0),
            content: body
                .get("content")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            inaccurate_reason_list: body
                .get("inaccurate_reason_list")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(int).collect())
                .unwrap_or_default(),
        }),
        other => BotEventKind::Unknown {
            eventtype: other.to_owned(),
        },
    }
}

fn selected_item(item: &Value) -> SelectedItem {
    SelectedItem {
        question_key: str_field(item, "question_key"),
        option_ids: item
            .pointer("/option_ids/option_id")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

fn str_field(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// An integer sent as a JSON number or a decimal string.
fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}
