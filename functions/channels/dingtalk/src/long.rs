//! Stream mode (§1): pure functions over WebSocket text frames, the `connections/open`
//! registration call, and the relay's [`Connector`] that runs the loop below over a real
//! WebSocket.
//!
//! A connection loop built on this module:
//! 1. [`open_connection`] → endpoint + single-use ticket (valid 90 s; never reuse or cache);
//! 2. open a WebSocket to [`connect_url`];
//! 3. for each text frame, [`parse_frame`] and act on [`Frame::classify`]:
//!    - [`FrameKind::Ping`] (and other SYSTEM frames) → send [`ping_ack`] at once;
//!    - [`FrameKind::Disconnect`] → ACK, start a new connection (step 1) right away, let this one
//!      drain, close it (the server drops it after ~10 s of silence);
//!    - [`FrameKind::BotMessage`] → [`Frame::robot_message`], enqueue, then [`callback_ack`]
//!      (robot messages are not re-pushed, so ACK after the durable enqueue; dedupe on
//!      `msgId`);
//!    - [`FrameKind::Event`] → [`event_ack`] (`false` asks DingTalk to push it again later);
//!    - anything else → [`ack`] with 404.
//! 4. on any failure go back to step 1 with backoff ([`StreamError::is_retryable`]).
//!
//! IM replies cannot be sent over the socket; use [`crate::api`].

use std::collections::BTreeMap;

use imgate_core::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::{MessageError, RobotMessage, millis, parse_robot_message, scalar};

mod connector;
mod open;
mod socket;

pub use connector::{Connector, Settings};
pub use open::{
    OPEN_PATH, OpenConnectionRequest, OpenConnectionResponse, Subscription, SubscriptionType, connect_url,
    open_connection,
};

/// Topics (§1.1).
pub mod topics {
    /// Robot messages (CALLBACK).
    pub const BOT_MESSAGE: &str = "/v1.0/im/bot/messages/get";
    /// Interactive-card actions (CALLBACK).
    pub const CARD_CALLBACK: &str = "/v1.0/card/instances/callback";
    /// Every event ticked in the developer console (EVENT; the only supported event topic).
    pub const ALL_EVENTS: &str = "*";
    /// Server health check (SYSTEM).
    pub const PING: &str = "ping";
    /// Graceful connection rotation (SYSTEM).
    pub const DISCONNECT: &str = "disconnect";
}

/// The `contentType` of every ACK.
const CONTENT_TYPE_JSON: &str = "application/json";

/// A frame or its data could not be read, or registration failed. Messages never contain
/// frame data, secrets, tickets or URLs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A frame is not a JSON object (or `data` not the JSON it should be).
    #[error("malformed frame: {0}")]
    Frame(String),
    /// `connections/open` refused the client id / secret (HTTP 401 / 403).
    #[error("DingTalk refused the app credentials (HTTP {status}, code {code:?})")]
    BadCredentials {
        /// HTTP status.
        status: u16,
        /// DingTalk's error code (e.g. `authFailed`).
        code: String,
    },
    /// `connections/open` answered another 4xx.
    #[error("DingTalk refused the connection request (HTTP {status}, code {code:?})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// DingTalk's error code, when the body has one.
        code: String,
    },
    /// `connections/open` answered 429 or 5xx: back off and retry.
    #[error("DingTalk is unavailable (HTTP {status})")]
    Unavailable {
        /// HTTP status.
        status: u16,
    },
    /// The request did not reach DingTalk.
    #[error("DingTalk could not be reached: {0}")]
    Transport(String),
    /// A 2xx answer without a usable endpoint and ticket.
    #[error("unexpected connections/open answer: {0}")]
    BadResponse(&'static str),
    /// The endpoint is not a `ws`/`wss` URL.
    #[error("the stream endpoint is not a WebSocket URL")]
    BadEndpoint,
}

impl StreamError {
    /// Whether trying again later (with backoff) can succeed. Bad credentials and other 4xx
    /// answers need a configuration change instead.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Transport(_) | Self::BadResponse(_) | Self::BadEndpoint
        )
    }
}

/// `SYSTEM`, `EVENT` or `CALLBACK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum FrameType {
    /// Connection management (`ping`, `disconnect`, …).
    System,
    /// An event push (ACK with a `status`).
    Event,
    /// A callback (robot message, card action, …).
    Callback,
    /// Anything else (or missing).
    #[default]
    #[serde(other)]
    Unknown,
}

/// What a frame asks of a connection loop (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// SYSTEM `ping`: answer with [`ping_ack`] at once.
    Ping,
    /// SYSTEM `disconnect`: reconnect now.
    Disconnect,
    /// Another SYSTEM topic (`CONNECTED`, `REGISTERED`, `KEEPALIVE`, …): ACK with [`ping_ack`].
    System,
    /// CALLBACK on [`topics::BOT_MESSAGE`].
    BotMessage,
    /// CALLBACK on [`topics::CARD_CALLBACK`].
    CardCallback,
    /// A CALLBACK on another topic.
    Callback,
    /// An EVENT.
    Event,
    /// A frame of unknown type.
    Unknown,
}

/// One frame from the server (§1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `specVersion` (`1.0`), if sent.
    pub spec_version: Option<String>,
    /// The frame type.
    pub kind: FrameType,
    /// All headers (`topic`, `messageId`, `contentType`, `time`, `eventType`, …) as text.
    pub headers: BTreeMap<String, String>,
    /// The payload: a JSON document encoded as a string (decode with [`Frame::data_json`]).
    pub data: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFrame {
    #[serde(default)]
    spec_version: Option<String>,
    #[serde(default, rename = "type")]
    kind: FrameType,
    // One example in the protocol page spells it `header`.
    #[serde(default, alias = "header")]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    data: Value,
}

/// Parses a text frame. Header values that are numbers (`time` is documented as a Number) are
/// kept as their decimal text; a `data` that is already an object is re-encoded as a string.
///
/// # Errors
/// [`StreamError::Frame`] when the text is not a JSON object of the frame shape.
pub fn parse_frame(text: &str) -> Result<Frame, StreamError> {
    let raw: RawFrame =
        serde_json::from_str(text).map_err(|e| StreamError::Frame(imgate_channel_kit::redact::json_error(&e)))?;
    let headers = raw
        .headers
        .into_iter()
        .filter_map(|(k, v)| {
            scalar(&v)
                .or_else(|| v.as_bool().map(|b| b.to_string()))
                .map(|v| (k, v))
        })
        .collect();
    let data = match raw.data {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    };
    Ok(Frame {
        spec_version: raw.spec_version,
        kind: raw.kind,
        headers,
        data,
    })
}

impl Frame {
    /// A header's value.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.get(key).map(String::as_str)
    }

    /// `headers.topic` (empty if absent).
    pub fn topic(&self) -> &str {
        self.header("topic").unwrap_or_default()
    }

    /// `headers.messageId` (empty if absent): what the ACK must carry, and the dedupe key.
    pub fn message_id(&self) -> &str {
        self.header("messageId").unwrap_or_default()
    }

    /// `headers.time` (Unix ms, sent as a string or number).
    pub fn time(&self) -> Option<Timestamp> {
        self.header("time")
            .and_then(|t| millis(&Value::from(t)))
            .map(Timestamp::from_millis)
    }

    /// What the frame asks of a connection loop.
    pub fn classify(&self) -> FrameKind {
        match (self.kind, self.topic()) {
            (FrameType::System, topics::PING) => FrameKind::Ping,
            (FrameType::System, topics::DISCONNECT) => FrameKind::Disconnect,
            (FrameType::System, _) => FrameKind::System,
            (FrameType::Callback, topics::BOT_MESSAGE) => FrameKind::BotMessage,
            (FrameType::Callback, topics::CARD_CALLBACK) => FrameKind::CardCallback,
            (FrameType::Callback, _) => FrameKind::Callback,
            (FrameType::Event, _) => FrameKind::Event,
            (FrameType::Unknown, _) => FrameKind::Unknown,
        }
    }

    /// True for the SYSTEM `disconnect` frame.
    pub fn is_disconnect(&self) -> bool {
        self.classify() == FrameKind::Disconnect
    }

    /// The `reason` of a `disconnect` frame (e.g. `connection is expired`).
    pub fn disconnect_reason(&self) -> Option<String> {
        if !self.is_disconnect() {
            return None;
        }
        let data: Value = self.data_json().ok()?;
        data.get("reason").and_then(Value::as_str).map(str::to_owned)
    }

    /// Decodes `data` (the second decode).
    ///
    /// # Errors
    /// [`StreamError::Frame`] when `data` is not JSON of type `T`.
    pub fn data_json<T: DeserializeOwned>(&self) -> Result<T, StreamError> {
        serde_json::from_str(&self.data)
            .map_err(|e| StreamError::Frame(format!("data: {}", imgate_channel_kit::redact::json_error(&e))))
    }

    /// The robot message in a [`FrameKind::BotMessage`] frame's `data`.
    ///
    /// # Errors
    /// As for [`parse_robot_message`].
    pub fn robot_message(&self) -> Result<RobotMessage, MessageError> {
        parse_robot_message(self.data.as_bytes())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AckHeaders<'a> {
    content_type: &'a str,
    message_id: &'a str,
}

#[derive(Serialize)]
struct Ack<'a> {
    code: u16,
    headers: AckHeaders<'a>,
    message: &'a str,
    data: &'a str,
}

/// An ACK frame (§1.4): `code` 200 success, 404 topic not supported, 500 internal error (400
/// is also used by the SDKs); `data` is the JSON text to carry (sent as a string).
pub fn ack(message_id: &str, code: u16, data: &str) -> String {
    let message = match code {
        200 => "OK",
        404 => "topic not supported",
        400..=499 => "bad request",
        _ => "internal error",
    };
    let ack = Ack {
        code,
        headers: AckHeaders {
            content_type: CONTENT_TYPE_JSON,
            message_id,
        },
        message,
        data,
    };
    serde_json::to_string(&ack).unwrap_or_default()
}

/// The answer to a SYSTEM frame: 200 echoing its `data` (which carries ping's `opaque`).
pub fn ping_ack(frame: &Frame) -> String {
    ack(frame.message_id(), 200, &frame.data)
}

/// The ACK of an EVENT: `status` `SUCCESS` (consumed) or `LATER` (push it again later).
pub fn event_ack(message_id: &str, success: bool) -> String {
    let data = if success {
        r#"{"status":"SUCCESS","message":"success"}"#
    } else {
        r#"{"status":"LATER","message":"later"}"#
    };
    ack(message_id, 200, data)
}

/// The ACK of a CALLBACK (robot message): DingTalk ignores its data; the documented
/// `{"response": null}` is sent.
pub fn callback_ack(message_id: &str) -> String {
    ack(message_id, 200, r#"{"response":null}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_shapes() {
        let ping = parse_frame(
            r#"{"specVersion":"1.0","type":"SYSTEM","headers":{"topic":"ping","messageId":"sys-ping-1",
                "contentType":"application/json","time":1690362102194},"data":"{\"opaque\":\"op-123\"}"}"#,
        )
        .unwrap();
        assert_eq!(ping.classify(), FrameKind::Ping);
        assert_eq!(ping.time(), Some(Timestamp::from_millis(1_690_362_102_194)));
        let answer: Value = serde_json::from_str(&ping_ack(&ping)).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"code": 200, "headers": {"contentType": "application/json",
                "messageId": "sys-ping-1"}, "message": "OK", "data": "{\"opaque\":\"op-123\"}"})
        );
        let event: Value = serde_json::from_str(&event_ack("ev-1", false)).unwrap();
        let data: Value = serde_json::from_str(event["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["status"], "LATER");
        let not_supported: Value = serde_json::from_str(&ack("x\"y", 404, "")).unwrap();
        assert_eq!(not_supported["headers"]["messageId"], "x\"y");
        assert_eq!(not_supported["code"], 404);
    }

    #[test]
    fn odd_frames_still_parse() {
        let frame = parse_frame(r#"{"type":"NEW","header":{"topic":"t","messageId":"m"},"data":{"a":1}}"#).unwrap();
        assert_eq!(frame.kind, FrameType::Unknown);
        assert_eq!(frame.classify(), FrameKind::Unknown);
        assert_eq!(frame.message_id(), "m");
        assert_eq!(frame.data, r#"{"a":1}"#);
        let frame = parse_frame("{}").unwrap();
        assert_eq!(frame.message_id(), "");
        assert!(frame.data.is_empty());
        assert!(matches!(parse_frame("[1]"), Err(StreamError::Frame(_))));
        let err = parse_frame(r#"{"type": ["leak-me"]}"#).unwrap_err();
        assert!(!err.to_string().contains("leak-me"), "{err}");
    }
}
