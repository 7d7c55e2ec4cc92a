//! Self-built app (自建应用) callback XML: the encrypted envelope and the decrypted message.
//!
//! Both are flat `<xml><Field>value</Field>…</xml>` documents (values usually in CDATA), so they
//! are read with quick-xml's pull parser into a field list instead of through serde; nested
//! elements (e.g. a card event's `SelectedItems`) are kept under dotted paths.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::CallbackError;

/// The POSTed, still encrypted app callback: `<xml><ToUserName/><Encrypt/><AgentID/></xml>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEnvelope {
    /// The CorpID.
    pub to_user_name: String,
    /// The Base64 ciphertext.
    pub encrypt: String,
    /// The app's AgentID, when present.
    pub agent_id: Option<String>,
}

/// A decrypted app message or event push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMessage {
    /// The CorpID.
    pub to_user_name: String,
    /// The sender's userid.
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: Option<i64>,
    /// The wire `MsgType`.
    pub msg_type: String,
    /// The message id (absent on events).
    pub msg_id: Option<String>,
    /// The app's AgentID.
    pub agent_id: Option<String>,
    /// The typed payload.
    pub kind: AppKind,
}

/// The payload of an app callback, by `MsgType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKind {
    /// `text`.
    Text {
        /// The text.
        content: String,
    },
    /// `image`.
    Image {
        /// A picture URL.
        pic_url: Option<String>,
        /// The temporary media id (for `media/get`).
        media_id: Option<String>,
    },
    /// `voice`.
    Voice {
        /// The temporary media id.
        media_id: Option<String>,
        /// Audio format (`amr`, …).
        format: Option<String>,
        /// Speech-to-text, when the app has recognition enabled.
        recognition: Option<String>,
    },
    /// `video`.
    Video {
        /// The temporary media id.
        media_id: Option<String>,
        /// The thumbnail's media id.
        thumb_media_id: Option<String>,
    },
    /// `event`: menu clicks, entering the app, card buttons, …
    Event {
        /// The event name (`click`, `enter_agent`, `template_card_event`, …).
        event: String,
        /// Its key, when it has one.
        event_key: Option<String>,
        /// A template card's task id.
        task_id: Option<String>,
    },
    /// A message type this gateway does not know.
    Unsupported {
        /// The wire `MsgType`.
        msg_type: String,
    },
}

/// Parses the POSTed app callback body.
///
/// # Errors
/// [`CallbackError::Xml`] for ill-formed XML, [`CallbackError::MissingField`] without `Encrypt`.
pub fn parse_app_envelope(body: &[u8]) -> Result<AppEnvelope, CallbackError> {
    let fields = Fields::parse(body)?;
    Ok(AppEnvelope {
        encrypt: fields.required("Encrypt")?,
        to_user_name: fields.get("ToUserName").unwrap_or_default(),
        agent_id: fields.get("AgentID"),
    })
}

/// Parses a decrypted app message.
///
/// # Errors
/// [`CallbackError::Xml`] for ill-formed XML, [`CallbackError::MissingField`] without
/// `FromUserName` or `MsgType`.
pub fn parse_app_message(xml: &[u8]) -> Result<AppMessage, CallbackError> {
    let f = Fields::parse(xml)?;
    let msg_type = f.required("MsgType")?;
    let kind = match msg_type.as_str() {
        "text" => AppKind::Text {
            content: f.get("Content").unwrap_or_default(),
        },
        "image" => AppKind::Image {
            pic_url: f.get("PicUrl"),
            media_id: f.get("MediaId"),
        },
        "voice" => AppKind::Voice {
            media_id: f.get("MediaId"),
            format: f.get("Format"),
            recognition: f.get("Recognition"),
        },
        "video" => AppKind::Video {
            media_id: f.get("MediaId"),
            thumb_media_id: f.get("ThumbMediaId"),
        },
        "event" => AppKind::Event {
            event: f.get("Event").unwrap_or_default(),
            event_key: f.get("EventKey"),
            task_id: f.get("TaskId"),
        },
        other => AppKind::Unsupported {
            msg_type: other.to_owned(),
        },
    };
    Ok(AppMessage {
        from_user_name: f.required("FromUserName")?,
        to_user_name: f.get("ToUserName").unwrap_or_default(),
        create_time: f.get("CreateTime").and_then(|t| t.trim().parse().ok()),
        msg_id: f.get("MsgId"),
        agent_id: f.get("AgentID"),
        msg_type,
        kind,
    })
}

/// The text of the root element's descendants, by (dotted) element path.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(xml: &[u8]) -> Result<Self, CallbackError> {
        let mut reader = Reader::from_reader(xml);
        let mut path: Vec<String> = Vec::new();
        let mut fields = Vec::new();
        let mut text = String::new();
        let mut saw_root = false;
        loop {
            let position = reader.buffer_position();
            let ill_formed = |_| CallbackError::Xml(format!("ill-formed document near byte {position}"));
            match reader.read_event().map_err(ill_formed)? {
                Event::Start(_) | Event::Empty(_) if path.is_empty() && saw_root => {
                    return Err(CallbackError::Xml("more than one root element".into()));
                }
                Event::Start(start) => {
                    saw_root = true;
                    path.push(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
                    text.clear();
                }
                Event::Empty(_) if path.is_empty() => saw_root = true,
                Event::Text(t) if path.len() > 1 => text.push_str(&t.unescape().map_err(ill_formed)?),
                Event::CData(c) => {
                    let s = std::str::from_utf8(&c).map_err(|_| CallbackError::Xml("CDATA is not UTF-8".into()))?;
                    text.push_str(s);
                }
                Event::End(_) => {
                    if path.len() > 1 {
                        fields.push((path[1..].join("."), std::mem::take(&mut text)));
                    }
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(CallbackError::Xml("no root element".into()));
        }
        if !path.is_empty() {
            return Err(CallbackError::Xml("unclosed element".into()));
        }
        Ok(Self(fields))
    }

    /// The trimmed text of the first element at `path`, if non-empty.
    fn get(&self, path: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, CallbackError> {
        self.get(name).ok_or(CallbackError::MissingField(name))
    }
}
