//! Lark / Feishu event callbacks over HTTP: the outer body, the url_verification challenge, the
//! schema 2.0 envelope and `im.message.receive_v1` (`protocols/lark.md` §2.2–§2.9).
//!
//! [`Verifier::open`] runs the SDKs' processing order (§2.7): decrypt an `{"encrypt": …}` body,
//! parse the envelope, check the Verification Token (§2.6), answer url_verification without a
//! signature check, otherwise verify `X-Lark-Signature` when an Encrypt Key is set. Unknown
//! event and message types parse to `Other` / [`Content::Unsupported`], so a new platform
//! feature never breaks parsing; only bodies that are not JSON, or lack the fields identifying
//! a callback, are errors.

use imgate_core::credentials::Lark;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::verify::{CryptoError, EventCipher, verify_signature};

/// The event type of a received message.
pub const MESSAGE_RECEIVE: &str = "im.message.receive_v1";
/// The event type of a card button click (card callbacks, schema 2.0).
pub const CARD_ACTION_TRIGGER: &str = "card.action.trigger";

/// Why a callback was refused. Messages name fields and positions, never body content or
/// secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Decryption or signature verification failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The body is encrypted but the integration has no Encrypt Key.
    #[error("the body is encrypted but no Encrypt Key is configured")]
    NoEncryptKey,
    /// Not well-formed JSON, or not the expected shape.
    #[error("malformed JSON in {0}")]
    Json(String),
    /// A field this kind of callback always carries is missing or empty.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// The Verification Token is missing or wrong.
    #[error("verification token mismatch")]
    BadToken,
}

impl EventError {
    /// A JSON error naming where it happened, without serde's echo of the offending value.
    fn json(what: &str, e: &serde_json::Error) -> Self {
        Self::Json(format!("{what}: {}", imgate_channel_kit::redact::json_error(e)))
    }
}

/// The three `X-Lark-Request-*` / `X-Lark-Signature` headers; `""` for a missing one.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignatureHeaders<'a> {
    /// `X-Lark-Request-Timestamp`.
    pub timestamp: &'a str,
    /// `X-Lark-Request-Nonce`.
    pub nonce: &'a str,
    /// `X-Lark-Signature`.
    pub signature: &'a str,
}

/// A verified callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// url_verification: answer 200 `{"challenge": <challenge>}` within 1 s (§2.3), see
    /// [`challenge_response`].
    Challenge {
        /// The value to echo.
        challenge: String,
    },
    /// An event to acknowledge with 200 and process asynchronously (§2.10).
    Event(Envelope),
}

/// An event with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The header (for schema 1.0 events, filled from `uuid`, `ts` and `event.type`).
    pub header: Header,
    /// The event.
    pub event: Event,
}

/// The schema 2.0 `header` (§2.8).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Header {
    /// The dedupe key (`uuid` for schema 1.0 events).
    #[serde(default)]
    pub event_id: String,
    /// E.g. `im.message.receive_v1`.
    #[serde(default)]
    pub event_type: String,
    /// Epoch milliseconds, as a string.
    #[serde(default)]
    pub create_time: Option<String>,
    /// The Verification Token.
    #[serde(default)]
    pub token: Option<String>,
    /// The app the event is for (`cli_…`).
    #[serde(default)]
    pub app_id: Option<String>,
    /// The tenant.
    #[serde(default)]
    pub tenant_key: Option<String>,
}

/// The events this gateway understands; everything else is `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `im.message.receive_v1`.
    MessageReceive(Box<MessageReceive>),
    /// `card.action.trigger`: a button on one of the bot's cards was clicked.
    CardAction(Box<CardAction>),
    /// Any other event type (see [`Header::event_type`]), acknowledged and ignored.
    Other,
}

/// The `event` of `im.message.receive_v1` (§2.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageReceive {
    /// Who sent it.
    pub sender: EventSender,
    /// The message.
    pub message: EventMessage,
}

/// The `event` of `card.action.trigger` (the fields this gateway reads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct CardAction {
    /// Who clicked.
    #[serde(default)]
    pub operator: UserId,
    /// What was clicked.
    #[serde(default)]
    pub action: CardActionDetail,
    /// Where the card is.
    #[serde(default)]
    pub context: CardActionContext,
}

/// `event.action` of a card callback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct CardActionDetail {
    /// The `value` object the card put on the button.
    #[serde(default)]
    pub value: Option<Value>,
    /// The component's tag (`button`, …).
    #[serde(default)]
    pub tag: Option<String>,
    /// The component's name, if it has one.
    #[serde(default)]
    pub name: Option<String>,
}

/// `event.context` of a card callback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct CardActionContext {
    /// The message that carries the card (`om_…`).
    #[serde(default)]
    pub open_message_id: Option<String>,
    /// The chat it is in (`oc_…`).
    #[serde(default)]
    pub open_chat_id: Option<String>,
}

/// `event.sender`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct EventSender {
    /// The sender's ids.
    #[serde(default)]
    pub sender_id: UserId,
    /// `user`, `app`, …
    #[serde(default)]
    pub sender_type: String,
    /// The sender's tenant.
    #[serde(default)]
    pub tenant_key: Option<String>,
}

/// A user's ids; `user_id` needs the contact scope and may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct UserId {
    /// `ou_…`, per app.
    #[serde(default)]
    pub open_id: Option<String>,
    /// `on_…`, per developer.
    #[serde(default)]
    pub union_id: Option<String>,
    /// The tenant's user id.
    #[serde(default)]
    pub user_id: Option<String>,
}

impl UserId {
    /// The most useful non-empty id: open_id, else user_id, else union_id.
    pub fn best(&self) -> Option<&str> {
        [&self.open_id, &self.user_id, &self.union_id]
            .into_iter()
            .filter_map(|id| id.as_deref())
            .find(|id| !id.is_empty())
    }
}

/// `p2p` or a group; unknown values (e.g. topic groups) count as groups (§2.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatType {
    /// A one-to-one chat with the bot.
    P2p,
    /// Any group.
    Group,
}

/// `event.message`, with its `content` parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMessage {
    /// `om_…`.
    pub message_id: String,
    /// The thread root of a reply chain, if any.
    pub root_id: Option<String>,
    /// The message replied to, if any.
    pub parent_id: Option<String>,
    /// The topic / thread id, if any.
    pub thread_id: Option<String>,
    /// Epoch milliseconds.
    pub create_time: Option<i64>,
    /// `oc_…`.
    pub chat_id: String,
    /// P2p or group.
    pub chat_type: ChatType,
    /// The wire `message_type`.
    pub message_type: String,
    /// The parsed content.
    pub content: Content,
    /// Users and bots mentioned; their `key`s appear in text as `@_user_N`.
    pub mentions: Vec<MentionEvent>,
}

/// One entry of `message.mentions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct MentionEvent {
    /// The placeholder in the text, e.g. `@_user_1`.
    #[serde(default)]
    pub key: String,
    /// Who was mentioned.
    #[serde(default)]
    pub id: UserId,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `user` or `bot`, where the platform says.
    #[serde(default)]
    pub mentioned_type: Option<String>,
}

/// A message's content by `message_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// `text`: the text with `@_user_N` placeholders.
    Text(String),
    /// `post` (rich text) flattened: title, then one line per paragraph; `at` elements become
    /// their `@_user_N` placeholder, links their text.
    Post {
        /// The text.
        text: String,
        /// `img` / `media` elements' image keys.
        image_keys: Vec<String>,
    },
    /// `image`.
    Image {
        /// The image key.
        image_key: String,
    },
    /// `file`.
    File {
        /// The file key.
        file_key: String,
        /// The file name.
        file_name: Option<String>,
    },
    /// `audio`.
    Audio {
        /// The file key.
        file_key: String,
    },
    /// `media` (video).
    Media {
        /// The file key.
        file_key: String,
        /// The file name.
        file_name: Option<String>,
    },
    /// `sticker`.
    Sticker {
        /// The file key.
        file_key: String,
    },
    /// Any other type (interactive, share_chat, merge_forward, …).
    Unsupported,
}

/// An integration's event-subscription secrets (§2.1).
#[derive(Clone)]
pub struct Verifier {
    verification_token: Option<String>,
    encrypt_key: Option<String>,
    cipher: Option<EventCipher>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("has_verification_token", &self.verification_token.is_some())
            .field("has_encrypt_key", &self.encrypt_key.is_some())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Both secrets; an empty one counts as not configured (as in the SDKs).
    pub fn new(verification_token: Option<&str>, encrypt_key: Option<&str>) -> Self {
        let verification_token = verification_token.filter(|t| !t.is_empty()).map(str::to_owned);
        let encrypt_key = encrypt_key.filter(|k| !k.is_empty()).map(str::to_owned);
        Self {
            cipher: encrypt_key.as_deref().map(EventCipher::new),
            verification_token,
            encrypt_key,
        }
    }

    /// The secrets of a Lark integration's credentials.
    pub fn from_credentials(credentials: &Lark) -> Self {
        Self::new(
            credentials.verification_token.as_ref().map(|t| t.expose()),
            credentials.encrypt_key.as_ref().map(|k| k.expose()),
        )
    }

    /// Whether events must be signed (an Encrypt Key is configured, §2.5).
    pub fn checks_signatures(&self) -> bool {
        self.encrypt_key.is_some()
    }

    /// Opens a callback: `body` exactly as received, with its signature headers (§2.7).
    ///
    /// # Errors
    /// [`EventError::NoEncryptKey`], [`EventError::Crypto`] (decryption, signature),
    /// [`EventError::Json`] / [`EventError::MissingField`] (body, envelope, message content) or
    /// [`EventError::BadToken`].
    pub fn open(&self, body: &[u8], headers: SignatureHeaders<'_>) -> Result<Callback, EventError> {
        // One pass over the body for `encrypt` (other fields skipped), one over the payload.
        #[derive(Deserialize)]
        struct Outer<'a> {
            #[serde(default, borrow)]
            encrypt: Option<std::borrow::Cow<'a, str>>,
        }
        let outer: Outer<'_> = serde_json::from_slice(body).map_err(|e| EventError::json("body", &e))?;
        let raw: RawPayload = match outer.encrypt.as_deref().filter(|s| !s.is_empty()) {
            Some(encrypt) => {
                let cipher = self.cipher.as_ref().ok_or(EventError::NoEncryptKey)?;
                let plain = cipher.decrypt(encrypt)?;
                serde_json::from_slice(&plain).map_err(|e| EventError::json("decrypted body", &e))?
            }
            None => serde_json::from_slice(body).map_err(|e| EventError::json("envelope", &e))?,
        };
        let challenge = raw.kind.as_deref() == Some("url_verification");
        self.check_token(&raw, challenge)?;
        if challenge {
            let challenge = raw.challenge.filter(|c| !c.is_empty());
            return Ok(Callback::Challenge {
                challenge: challenge.ok_or(EventError::MissingField("challenge"))?,
            });
        }
        if let Some(key) = &self.encrypt_key {
            verify_signature(headers.signature, headers.timestamp, headers.nonce, key, body)?;
        }
        envelope(raw).map(Callback::Event)
    }

    /// The Verification Token check of §2.6: when a token is configured, it is required with no
    /// Encrypt Key, for url_verification, or whenever the payload carries one.
    fn check_token(&self, raw: &RawPayload, challenge: bool) -> Result<(), EventError> {
        let Some(expected) = &self.verification_token else {
            return Ok(());
        };
        let carried = raw
            .header
            .as_ref()
            .and_then(|h| h.token.as_deref())
            .or(raw.token.as_deref());
        if self.encrypt_key.is_some() && !challenge && carried.is_none() {
            return Ok(());
        }
        let given = carried.unwrap_or_default();
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(EventError::BadToken)
        }
    }
}

/// Parses an event that arrived on the long connection (§3.1): plaintext JSON, authenticated
/// when the connection was opened, so neither decryption nor token nor signature applies.
///
/// # Errors
/// [`EventError::Json`] / [`EventError::MissingField`] as for webhook bodies.
pub fn parse_plain(payload: &[u8]) -> Result<Envelope, EventError> {
    let raw: RawPayload = serde_json::from_slice(payload).map_err(|e| EventError::json("event", &e))?;
    envelope(raw)
}

/// The response body for url_verification: `{"challenge": …}` (§2.3).
pub fn challenge_response(challenge: &str) -> String {
    serde_json::json!({ "challenge": challenge }).to_string()
}

/// Every shape the decrypted payload can take (challenge, schema 2.0, schema 1.0).
#[derive(Deserialize)]
struct RawPayload {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    header: Option<Header>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    /// Kept as text and parsed once into the typed event, without a `Value` tree in between.
    #[serde(default)]
    event: Option<Box<serde_json::value::RawValue>>,
}

/// Builds the envelope: schema 2.0 when `schema` is present, else 1.0 when `uuid` is (§2.8).
fn envelope(raw: RawPayload) -> Result<Envelope, EventError> {
    let header = if raw.schema.as_deref().is_some_and(|s| !s.is_empty()) {
        raw.header.ok_or(EventError::MissingField("header"))?
    } else if let Some(uuid) = raw.uuid.filter(|u| !u.is_empty()) {
        #[derive(Deserialize)]
        struct V1Event {
            #[serde(default, rename = "type")]
            kind: String,
        }
        let event_type = raw
            .event
            .as_ref()
            .and_then(|e| serde_json::from_str::<V1Event>(e.get()).ok())
            .map(|e| e.kind);
        Header {
            event_id: uuid,
            event_type: event_type.unwrap_or_default(),
            create_time: raw.ts,
            token: raw.token,
            ..Header::default()
        }
    } else {
        return Err(EventError::MissingField("schema"));
    };
    if header.event_id.is_empty() {
        return Err(EventError::MissingField("header.event_id"));
    }
    let schema_2 = raw.schema.is_some();
    let event = match header.event_type.as_str() {
        MESSAGE_RECEIVE if schema_2 => {
            let event = raw.event.ok_or(EventError::MissingField("event"))?;
            Event::MessageReceive(Box::new(message_receive(event.get())?))
        }
        CARD_ACTION_TRIGGER if schema_2 => {
            let event = raw.event.ok_or(EventError::MissingField("event"))?;
            let action: CardAction = serde_json::from_str(event.get()).map_err(|e| EventError::json("event", &e))?;
            Event::CardAction(Box::new(action))
        }
        _ => Event::Other,
    };
    Ok(Envelope { header, event })
}

/// Parses the `event` of `im.message.receive_v1` (JSON text), including its `content` string.
///
/// # Errors
/// [`EventError::Json`] for a wrong shape or unparsable content of a known message type,
/// [`EventError::MissingField`] without a message id or chat id.
pub fn message_receive(event: &str) -> Result<MessageReceive, EventError> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        sender: EventSender,
        message: RawMessage,
    }
    #[derive(Deserialize)]
    struct RawMessage {
        #[serde(default)]
        message_id: String,
        #[serde(default)]
        root_id: Option<String>,
        #[serde(default)]
        parent_id: Option<String>,
        #[serde(default)]
        thread_id: Option<String>,
        #[serde(default)]
        create_time: Option<Value>,
        #[serde(default)]
        chat_id: String,
        #[serde(default)]
        chat_type: String,
        #[serde(default)]
        message_type: String,
        #[serde(default)]
        content: String,
        #[serde(default)]
        mentions: Option<Vec<MentionEvent>>,
    }
    let raw: Raw = serde_json::from_str(event).map_err(|e| EventError::json("event", &e))?;
    let m = raw.message;
    if m.message_id.is_empty() {
        return Err(EventError::MissingField("message.message_id"));
    }
    if m.chat_id.is_empty() {
        return Err(EventError::MissingField("message.chat_id"));
    }
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(MessageReceive {
        sender: raw.sender,
        message: EventMessage {
            content: parse_content(&m.message_type, &m.content)?,
            message_id: m.message_id,
            root_id: non_empty(m.root_id),
            parent_id: non_empty(m.parent_id),
            thread_id: non_empty(m.thread_id),
            // Epoch ms: a string in the docs' samples, a number in the Python model (§2.9).
            create_time: m.create_time.and_then(|t| match t {
                Value::String(s) => s.parse().ok(),
                other => other.as_i64(),
            }),
            chat_id: m.chat_id,
            chat_type: if m.chat_type == "p2p" {
                ChatType::P2p
            } else {
                ChatType::Group
            },
            message_type: m.message_type,
            mentions: m.mentions.unwrap_or_default(),
        },
    })
}

/// Parses a message's `content` JSON string by `message_type`.
///
/// # Errors
/// [`EventError::Json`] when the content of a known type is not the expected JSON.
pub fn parse_content(message_type: &str, content: &str) -> Result<Content, EventError> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Raw {
        text: String,
        image_key: String,
        file_key: String,
        file_name: Option<String>,
    }
    let known = matches!(
        message_type,
        "text" | "post" | "image" | "file" | "audio" | "media" | "sticker"
    );
    if !known {
        return Ok(Content::Unsupported);
    }
    if message_type == "post" {
        let value: Value = serde_json::from_str(content).map_err(|e| EventError::json("message content", &e))?;
        return Ok(post(&value));
    }
    let raw: Raw = serde_json::from_str(content).map_err(|e| EventError::json("message content", &e))?;
    Ok(match message_type {
        "text" => Content::Text(raw.text),
        "image" => Content::Image {
            image_key: raw.image_key,
        },
        "file" => Content::File {
            file_key: raw.file_key,
            file_name: raw.file_name,
        },
        "audio" => Content::Audio { file_key: raw.file_key },
        "media" => Content::Media {
            file_key: raw.file_key,
            file_name: raw.file_name,
        },
        _ => Content::Sticker { file_key: raw.file_key },
    })
}

/// Flattens rich text: `{"title":…, "content":[[element…]…]}`, or the same under a locale key
/// (`{"zh_cn": {…}}`) as in sent posts.
fn post(value: &Value) -> Content {
    let body = if value.get("content").is_some() {
        Some(value)
    } else {
        value
            .as_object()
            .and_then(|locales| locales.values().find(|v| v.get("content").is_some()))
    };
    let mut lines = Vec::new();
    let mut image_keys = Vec::new();
    let Some(body) = body else {
        return Content::Post {
            text: String::new(),
            image_keys,
        };
    };
    let title = body.get("title").and_then(Value::as_str).unwrap_or_default();
    if !title.trim().is_empty() {
        lines.push(title.trim().to_owned());
    }
    let paragraphs = body
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for paragraph in paragraphs {
        let mut line = String::new();
        for element in paragraph.as_array().map_or(&[][..], Vec::as_slice) {
            let field = |name: &str| element.get(name).and_then(Value::as_str).unwrap_or_default();
            match field("tag") {
                "text" | "a" | "code_block" => line.push_str(field("text")),
                "at" => {
                    let key = field("user_id");
                    if key.starts_with("@_") {
                        line.push_str(key);
                    } else if !field("user_name").is_empty() {
                        line.push('@');
                        line.push_str(field("user_name"));
                    }
                }
                "img" | "media" if !field("image_key").is_empty() => image_keys.push(field("image_key").to_owned()),
                _ => {}
            }
        }
        if !line.trim().is_empty() {
            lines.push(line.trim().to_owned());
        }
    }
    Content::Post {
        text: lines.join("\n"),
        image_keys,
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(crate) mod tests;
