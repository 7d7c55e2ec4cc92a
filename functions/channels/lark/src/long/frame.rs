//! The long connection's binary frame (§3.4): `pbbp2.Frame` and `pbbp2.Header` (proto2) as
//! hand-written prost messages, with the header lookups, the ping frame and the ACK built from
//! a data frame (§3.6, §3.7).
//!
//! The four scalar fields of a frame are proto2 `required`, so they are written even when they
//! are 0 (the ping of §3.10 starts `08 00 10 00`); a proto3-style encoder would leave them out.
//! `payload_encoding`, `payload_type` and `LogIDNew` are never read but survive an echo.

use std::time::Duration;

use base64::Engine;
use prost::Message;

/// `method` of control frames (`ping`, `pong`).
pub const METHOD_CONTROL: i32 = 0;
/// `method` of data frames (`event`, `card`).
pub const METHOD_DATA: i32 = 1;

/// Header keys (GO `ws/const.go`); every value is a string.
pub mod keys {
    /// The frame's message type (see [`super::types`]).
    pub const TYPE: &str = "type";
    /// The logical message a fragment belongs to.
    pub const MESSAGE_ID: &str = "message_id";
    /// How many fragments the message has (`"1"` when it is not split).
    pub const SUM: &str = "sum";
    /// The 0-based index of this fragment.
    pub const SEQ: &str = "seq";
    /// Lark's tracing id.
    pub const TRACE_ID: &str = "trace_id";
    /// Added by the client to an ACK: how long the handler took, in milliseconds.
    pub const BIZ_RT: &str = "biz_rt";
}

/// Values of the `type` header.
pub mod types {
    /// Client → server keepalive (control).
    pub const PING: &str = "ping";
    /// Server → client answer to a ping, possibly carrying a new client config (control).
    pub const PONG: &str = "pong";
    /// An event push (data): ACKed.
    pub const EVENT: &str = "event";
    /// A card callback (data): ignored without an ACK, as all SDKs do.
    pub const CARD: &str = "card";
}

/// One `{key, value}` header.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Header {
    /// The key (see [`keys`]).
    #[prost(string, required, tag = "1")]
    pub key: String,
    /// The value, always text.
    #[prost(string, required, tag = "2")]
    pub value: String,
}

impl Header {
    /// A header from two strings.
    pub fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.to_owned(),
            value: value.to_owned(),
        }
    }
}

/// One WebSocket binary message. `Debug` shows the payload's length, never its content.
#[derive(Clone, PartialEq, Eq, prost::Message)]
#[prost(skip_debug)]
pub struct Frame {
    /// `SeqID`, echoed in the ACK.
    #[prost(uint64, required, tag = "1")]
    pub seq_id: u64,
    /// `LogID`, echoed in the ACK.
    #[prost(uint64, required, tag = "2")]
    pub log_id: u64,
    /// The `service_id` of the connection URL (every client frame carries it).
    #[prost(int32, required, tag = "3")]
    pub service: i32,
    /// [`METHOD_CONTROL`] or [`METHOD_DATA`].
    #[prost(int32, required, tag = "4")]
    pub method: i32,
    /// Headers in wire order.
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<Header>,
    /// Unused by every SDK; kept when echoing.
    #[prost(string, optional, tag = "6")]
    pub payload_encoding: Option<String>,
    /// Unused by every SDK; kept when echoing.
    #[prost(string, optional, tag = "7")]
    pub payload_type: Option<String>,
    /// The event JSON (data), the client config (pong), the response (ACK). `payload()` reads
    /// it as bytes, empty when absent.
    #[prost(bytes = "vec", optional, tag = "8")]
    pub payload: Option<Vec<u8>>,
    /// `LogIDNew`: unused by every SDK; kept when echoing.
    #[prost(string, optional, tag = "9")]
    pub log_id_new: Option<String>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("seq_id", &self.seq_id)
            .field("log_id", &self.log_id)
            .field("service", &self.service)
            .field("method", &self.method)
            .field("headers", &self.headers)
            .field("payload_bytes", &self.payload.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// A binary message that is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed frame: {0}")]
pub struct FrameError(String);

impl Frame {
    /// Decodes a binary WebSocket message.
    ///
    /// # Errors
    /// [`FrameError`] when the bytes are not a protobuf `Frame` (the text names the wire
    /// problem, never the content).
    pub fn decode_from(bytes: &[u8]) -> Result<Self, FrameError> {
        Self::decode(bytes).map_err(|e| FrameError(e.to_string()))
    }

    /// The client's keepalive: `{SeqID:0, LogID:0, service, method:0, headers:[type=ping]}`.
    pub fn ping(service: i32) -> Self {
        Self {
            service,
            method: METHOD_CONTROL,
            headers: vec![Header::new(keys::TYPE, types::PING)],
            ..Self::default()
        }
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|h| h.key == key).map(|h| h.value.as_str())
    }

    /// The `type` header (empty when absent).
    pub fn kind(&self) -> &str {
        self.header(keys::TYPE).unwrap_or_default()
    }

    /// The `message_id` header (empty when absent).
    pub fn message_id(&self) -> &str {
        self.header(keys::MESSAGE_ID).unwrap_or_default()
    }

    /// The `trace_id` header (empty when absent).
    pub fn trace_id(&self) -> &str {
        self.header(keys::TRACE_ID).unwrap_or_default()
    }

    /// How many fragments the message has: the `sum` header, 1 when absent or unreadable.
    pub fn sum(&self) -> usize {
        self.number(keys::SUM).unwrap_or(1)
    }

    /// This fragment's index: the `seq` header, 0 when absent or unreadable.
    pub fn seq(&self) -> usize {
        self.number(keys::SEQ).unwrap_or(0)
    }

    fn number(&self, key: &str) -> Option<usize> {
        self.header(key).and_then(|v| v.trim().parse().ok())
    }

    /// The ACK of this data frame (§3.7): the same frame with a `biz_rt` header (the handler's
    /// run time in whole milliseconds) appended and the payload replaced by `response`.
    pub fn ack(&self, biz_rt: Duration, response: Vec<u8>) -> Self {
        let mut ack = self.clone();
        let millis = u64::try_from(biz_rt.as_millis()).unwrap_or(u64::MAX);
        ack.headers.push(Header::new(keys::BIZ_RT, &millis.to_string()));
        ack.payload = Some(response);
        ack
    }
}

/// The payload of a successful ACK: `{"code":200}`.
pub fn ok_response() -> Vec<u8> {
    br#"{"code":200}"#.to_vec()
}

/// The payload of a successful ACK that answers a card click with a toast: `{"code":200,
/// "data":"<base64 of {"toast":{"type":"info","content":…}}>"}` (§3.7, `data` carries the
/// handler's JSON answer).
pub fn toast_response(content: &str) -> Vec<u8> {
    let answer = serde_json::json!({"toast": {"type": "info", "content": content}}).to_string();
    let data = base64::engine::general_purpose::STANDARD.encode(answer);
    serde_json::json!({"code": 200, "data": data}).to_string().into_bytes()
}
