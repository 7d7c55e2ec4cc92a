//! Weibo's wire frames (`protocols/weibo.md` §4–§6): what the WebSocket server sends, parsed
//! with errors that quote nothing, and the frames the gateway sends back.
//!
//! Every frame is a UTF-8 text JSON envelope `{"type": …, "payload": {…}}`, except that a pong
//! may also be the bare text `pong`. Pongs are recognized by parsing, never by comparing the
//! raw text with one spelling (§10.2: a server pong with other whitespace or extra fields
//! would otherwise go unnoticed and the link would be killed every 40 s).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use imgate_channel_kit::redact;

/// A frame from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An inbound private message (§5.1).
    Message(Box<InboundMessage>),
    /// The server's JSON ping: answer with [`pong`].
    Ping,
    /// A pong (text `pong` or `{"type":"pong"}` with anything around it).
    Pong,
    /// Sent right after the connect (§5.2); may name the server's pong timeout.
    System {
        /// `payload.pongTimeoutMs`, when given.
        pong_timeout_ms: Option<u64>,
    },
    /// The server noted a `send_message` (informational; its id is the server's record id).
    Ack,
    /// The server refused something; `payload.message` says what.
    Error {
        /// The server's message, cut to 200 characters.
        message: String,
    },
    /// Another `type` (`connected`, …): logged and ignored.
    Other {
        /// The frame's type, cut to 40 characters.
        kind: String,
    },
}

/// The frame was not one the gateway can read. Never quotes the frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or not the expected shape.
    #[error("unreadable frame: {0}")]
    Json(String),
    /// A `message` frame without `payload`.
    #[error("a message frame without a payload")]
    NoPayload,
}

/// `payload` of a `message` frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InboundMessage {
    /// The dedupe key; may be empty (then [`crate::normalize::dedupe_id`] derives one).
    #[serde(default, rename = "messageId", alias = "message_id", deserialize_with = "id_string")]
    pub message_id: String,
    /// The sender's numeric UID, kept as a string.
    #[serde(
        default,
        rename = "fromUserId",
        alias = "from_user_id",
        deserialize_with = "id_string"
    )]
    pub from_user_id: String,
    /// The older plain-text mirror of the message.
    #[serde(default)]
    pub text: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// The newer Responses-API-style input; kept as JSON (the dedupe fallback hashes it).
    #[serde(default)]
    pub input: Option<Value>,
}

/// A string id that some clients send as a number.
fn id_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    })
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    payload: Option<Value>,
}

/// True for every spelling of a pong: the text `pong` (any surrounding whitespace) or a JSON
/// object whose `type` is `pong`, whatever else it carries.
pub fn is_pong(text: &str) -> bool {
    let trimmed = text.trim();
    if trimmed == "pong" {
        return true;
    }
    trimmed.starts_with('{') && serde_json::from_str::<Envelope>(trimmed).is_ok_and(|envelope| envelope.kind == "pong")
}

/// Parses one text frame.
///
/// # Errors
/// [`WireError`] for frames that are not JSON envelopes, or `message` frames that do not fit.
pub fn parse(text: &str) -> Result<Frame, WireError> {
    if text.trim() == "pong" {
        return Ok(Frame::Pong);
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| WireError::Json(redact::json_error(&e)))?;
    let payload = envelope.payload.unwrap_or(Value::Null);
    Ok(match envelope.kind.as_str() {
        "message" => {
            if payload.is_null() {
                return Err(WireError::NoPayload);
            }
            let message: InboundMessage =
                serde_json::from_value(payload).map_err(|e| WireError::Json(redact::json_error(&e)))?;
            Frame::Message(Box::new(message))
        }
        "ping" => Frame::Ping,
        "pong" => Frame::Pong,
        "system" => Frame::System {
            pong_timeout_ms: payload.get("pongTimeoutMs").and_then(Value::as_u64),
        },
        "ack" => Frame::Ack,
        "error" => Frame::Error {
            message: payload
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        },
        other => Frame::Other {
            kind: other.chars().take(40).collect(),
        },
    })
}

/// The client's heartbeat, every 30 s (§4).
pub fn ping() -> String {
    r#"{"type":"ping"}"#.to_owned()
}

/// The answer to the server's JSON ping (§4, §10.3).
pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_owned()
}

/// `payload` of a `send_message` frame (§6), in the field order both reference clients write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The recipient: the inbound `fromUserId`.
    #[serde(rename = "toUserId")]
    pub to_user_id: String,
    /// This frame's delta (never the text so far); `""` only on a closing frame.
    pub text: String,
    /// The same for every frame of one reply.
    #[serde(rename = "messageId")]
    pub message_id: String,
    /// 0, 1, 2, … within one `messageId`.
    #[serde(rename = "chunkId")]
    pub chunk_id: u64,
    /// True only on the last frame of the reply.
    pub done: bool,
}

#[derive(Serialize)]
struct Outgoing<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    payload: &'a SendMessage,
}

impl SendMessage {
    /// The frame as compact JSON, UTF-8 unescaped (§11).
    pub fn to_text(&self) -> String {
        let frame = Outgoing {
            kind: "send_message",
            payload: self,
        };
        // A struct of strings, integers and booleans always serializes.
        serde_json::to_string(&frame).unwrap_or_default()
    }
}

/// A reply `messageId` as the reference clients make them: `msg_<unix ms>_<8 hex>`.
pub fn new_message_id(now_ms: i64) -> String {
    format!("msg_{now_ms}_{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pongs_in_every_spelling() {
        for text in [
            "pong",
            " pong\n",
            r#"{"type":"pong"}"#,
            r#"{ "type" : "pong" }"#,
            "{\n  \"type\": \"pong\",\n  \"serverTime\": 1767225600000\n}",
            r#"{"payload":{},"type":"pong","extra":[1,2]}"#,
        ] {
            assert!(is_pong(text), "{text:?}");
            assert_eq!(parse(text), Ok(Frame::Pong), "{text:?}");
        }
        for text in [
            "ping",
            r#"{"type":"ping"}"#,
            r#"{"type":"pongs"}"#,
            "pong!",
            "",
            r#"{"kind":"pong"}"#,
        ] {
            assert!(!is_pong(text), "{text:?}");
        }
    }

    #[test]
    fn server_frames() {
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(Frame::Ping));
        assert_eq!(
            parse(
                r#"{"type":"system","payload":{"message":"connected","serverTime":"2026-01-01T00:00:00Z","pongTimeoutMs":120000}}"#
            ),
            Ok(Frame::System {
                pong_timeout_ms: Some(120_000)
            })
        );
        assert_eq!(
            parse(r#"{"type":"ack","payload":{"messageId":"srv_1","receivedAt":1}}"#),
            Ok(Frame::Ack)
        );
        assert_eq!(
            parse(r#"{"type":"error","payload":{"message":"toUserId is required"}}"#),
            Ok(Frame::Error {
                message: "toUserId is required".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"connected"}"#),
            Ok(Frame::Other {
                kind: "connected".into()
            })
        );
        let Ok(Frame::Message(message)) = parse(
            r#"{"type":"message","payload":{"messageId":"msg_in_1","fromUserId":"123456789","text":"hi","timestamp":1741080000000}}"#,
        ) else {
            panic!("a message frame");
        };
        assert_eq!(message.message_id, "msg_in_1");
        assert_eq!(message.from_user_id, "123456789");
        assert_eq!(message.text.as_deref(), Some("hi"));
        assert_eq!(message.timestamp, Some(1_741_080_000_000));
        let Ok(Frame::Message(snake)) =
            parse(r#"{"type":"message","payload":{"message_id":"m2","from_user_id":1234567890123}}"#)
        else {
            panic!("snake_case ids");
        };
        assert_eq!(
            (snake.message_id.as_str(), snake.from_user_id.as_str()),
            ("m2", "1234567890123")
        );
    }

    #[test]
    fn bad_frames_are_refused_without_quoting_them() {
        let secret = "tk-secret-value";
        for text in [
            format!("not json {secret}"),
            format!(r#"{{"type":"message","payload":{{"text":{{"x":"{secret}"}}}}}}"#),
        ] {
            let error = parse(&text).unwrap_err();
            assert!(!error.to_string().contains(secret), "{error}");
        }
        assert_eq!(parse(r#"{"type":"message"}"#), Err(WireError::NoPayload));
    }

    /// §11: the streamed reply and the single reply, byte for byte.
    #[test]
    fn send_message_frames_match_the_vectors() {
        let frame = |text: &str, chunk_id, done| SendMessage {
            to_user_id: "1234567890".into(),
            text: text.into(),
            message_id: "msg_1767225600000_ab12cd34".into(),
            chunk_id,
            done,
        };
        assert_eq!(
            frame("Hello, 微博! ", 0, false).to_text(),
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"Hello, 微博! ","messageId":"msg_1767225600000_ab12cd34","chunkId":0,"done":false}}"#
        );
        assert_eq!(
            frame("This is a streamed reply.", 1, false).to_text(),
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"This is a streamed reply.","messageId":"msg_1767225600000_ab12cd34","chunkId":1,"done":false}}"#
        );
        assert_eq!(
            frame("", 2, true).to_text(),
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"","messageId":"msg_1767225600000_ab12cd34","chunkId":2,"done":true}}"#
        );
        let single = SendMessage {
            to_user_id: "1234567890".into(),
            text: "pong!".into(),
            message_id: "msg_1767225600001_9f3e0c11".into(),
            chunk_id: 0,
            done: true,
        };
        assert_eq!(
            single.to_text(),
            r#"{"type":"send_message","payload":{"toUserId":"1234567890","text":"pong!","messageId":"msg_1767225600001_9f3e0c11","chunkId":0,"done":true}}"#
        );
        assert_eq!(ping(), r#"{"type":"ping"}"#);
        assert_eq!(pong(), r#"{"type":"pong"}"#);
    }

    #[test]
    fn message_ids_look_like_the_reference_clients() {
        let id = new_message_id(1_767_225_600_000);
        let hex = id.strip_prefix("msg_1767225600000_").unwrap();
        assert_eq!(hex.len(), 8);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(new_message_id(1), new_message_id(1));
    }
}
