//! Typed long-connection frames (§3.1–§3.3).
//!
//! Every frame is one JSON text message. Requests and pushes are
//! `{"cmd", "headers": {"req_id"}, "body"?}`; acks have no `cmd` and are matched by `req_id`:
//! `{"headers": {"req_id"}, "errcode", "errmsg", "body"?}`.

use std::time::{SystemTime, UNIX_EPOCH};

use imgate_core::secret::Secret;
use serde_json::{Map, Value, json};

use crate::reply::payload;

/// The `cmd` values of §3.2.
pub mod cmd {
    /// Authenticate and subscribe; the first frame after the handshake.
    pub const SUBSCRIBE: &str = "aibot_subscribe";
    /// Application-level heartbeat.
    pub const PING: &str = "ping";
    /// Reply to a message callback (stream, card, markdown, media), with the callback's req_id.
    pub const RESPOND_MSG: &str = "aibot_respond_msg";
    /// Welcome for `enter_chat`, with the event's req_id, within 5 s.
    pub const RESPOND_WELCOME: &str = "aibot_respond_welcome_msg";
    /// Card update after `template_card_event`, with the event's req_id, within 5 s.
    pub const RESPOND_UPDATE: &str = "aibot_respond_update_msg";
    /// Proactive push to a chat the user already talked to the bot in.
    pub const SEND_MSG: &str = "aibot_send_msg";
    /// A user message (pushed by WeCom).
    pub const MSG_CALLBACK: &str = "aibot_msg_callback";
    /// An event, including `disconnected_event` (pushed by WeCom).
    pub const EVENT_CALLBACK: &str = "aibot_event_callback";
    /// Starts a temporary media upload (§3.8); the ack carries `upload_id`.
    pub const UPLOAD_INIT: &str = "aibot_upload_media_init";
    /// One chunk of an upload.
    pub const UPLOAD_CHUNK: &str = "aibot_upload_media_chunk";
    /// Ends an upload; the ack carries `media_id`.
    pub const UPLOAD_FINISH: &str = "aibot_upload_media_finish";
}

/// The errcodes of §3.9 this module acts on or reports.
pub mod errcode {
    /// Success.
    pub const OK: i64 = 0;
    /// `invalid bot_id or secret`, the answer to a bad subscribe.
    pub const INVALID_CREDENTIALS: i64 = 853_000;
    /// `invalid req_id`: a req_id from another connection, or an event's req_id on `aibot_respond_msg`.
    pub const INVALID_REQ_ID: i64 = 846_605;
    /// `stream message update expired`: more than 6 minutes after the first stream frame.
    pub const STREAM_EXPIRED: i64 = 846_608;
    /// `aibot websocket not subscribed`: sent before the subscribe ack.
    pub const NOT_SUBSCRIBED: i64 = 846_609;
}

/// The `eventtype` WeCom sends to the old connection when another one subscribes.
pub const DISCONNECTED_EVENT: &str = "disconnected_event";

/// A fresh req_id for a frame we originate: `<cmd>_<unix_ms>_<8 hex>`, as the official SDKs
/// make them (§3.1).
pub fn new_req_id(cmd: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{cmd}_{millis}_{:08x}", rand::random::<u32>())
}

/// A frame to send. `Debug` never shows the subscribe secret; only [`Outgoing::to_text`]
/// writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    cmd: String,
    req_id: String,
    body: Option<Value>,
    secret: Option<Secret>,
}

impl Outgoing {
    /// Any command with any body (card updates, uploads, …).
    pub fn new(cmd: impl Into<String>, req_id: impl Into<String>, body: Option<Value>) -> Self {
        Self {
            cmd: cmd.into(),
            req_id: req_id.into(),
            body,
            secret: None,
        }
    }

    /// The command.
    pub fn cmd(&self) -> &str {
        &self.cmd
    }

    /// The req_id the ack will carry.
    pub fn req_id(&self) -> &str {
        &self.req_id
    }

    /// The body without the subscribe secret.
    pub fn body(&self) -> Option<&Value> {
        self.body.as_ref()
    }

    /// The wire text (with the secret, for `aibot_subscribe`).
    pub fn to_text(&self) -> String {
        let mut frame = json!({ "cmd": self.cmd, "headers": { "req_id": self.req_id } });
        let mut body = self.body.clone();
        if let Some(secret) = &self.secret {
            let object = body.get_or_insert_with(|| Value::Object(Map::new()));
            object["secret"] = Value::String(secret.expose().to_owned());
        }
        if let Some(body) = body {
            frame["body"] = body;
        }
        frame.to_string()
    }
}

/// `aibot_subscribe` with the bot's credentials.
pub fn subscribe(req_id: &str, bot_id: &str, secret: &Secret) -> Outgoing {
    Outgoing {
        secret: Some(secret.clone()),
        ..Outgoing::new(cmd::SUBSCRIBE, req_id, Some(json!({ "bot_id": bot_id })))
    }
}

/// A heartbeat (no body).
pub fn ping(req_id: &str) -> Outgoing {
    Outgoing::new(cmd::PING, req_id, None)
}

/// One stream frame answering the callback `req_id`: the whole answer so far (cumulative),
/// `finish` on the last one; every frame of one answer reuses the callback's req_id and the
/// same `stream_id`.
pub fn respond_stream(req_id: &str, stream_id: &str, content: &str, finish: bool) -> Outgoing {
    Outgoing::new(
        cmd::RESPOND_MSG,
        req_id,
        Some(payload::stream(stream_id, content, finish, None)),
    )
}

/// A welcome text answering the `enter_chat` event `req_id` (within 5 s).
pub fn respond_welcome(req_id: &str, text: &str) -> Outgoing {
    Outgoing::new(cmd::RESPOND_WELCOME, req_id, Some(payload::welcome_text(text)))
}

/// A template card answering the message callback `req_id`.
pub fn respond_card(req_id: &str, card: &Value) -> Outgoing {
    Outgoing::new(cmd::RESPOND_MSG, req_id, Some(payload::template_card(card)))
}

/// A card update answering the `template_card_event` `req_id` (within 5 s); `update` as built
/// by [`payload::update_card_done`].
pub fn respond_update(req_id: &str, update: &Value) -> Outgoing {
    Outgoing::new(cmd::RESPOND_UPDATE, req_id, Some(update.clone()))
}

/// A proactive Markdown message to `chatid` (a userid for single chats, the group chatid);
/// `req_id` is ours ([`new_req_id`]).
pub fn send_markdown(req_id: &str, chatid: &str, content: &str) -> Outgoing {
    let mut body = payload::markdown(content);
    body["chatid"] = Value::String(chatid.to_owned());
    Outgoing::new(cmd::SEND_MSG, req_id, Some(body))
}

/// `aibot_upload_media_init` of an image of `total_size` bytes in `total_chunks` chunks, with
/// the hex MD5 of the whole file (§3.8).
pub fn upload_init(req_id: &str, filename: &str, total_size: usize, total_chunks: usize, md5: &str) -> Outgoing {
    let body = serde_json::json!({"type": "image", "filename": filename, "total_size": total_size,
        "total_chunks": total_chunks, "md5": md5});
    Outgoing::new(cmd::UPLOAD_INIT, req_id, Some(body))
}

/// `aibot_upload_media_chunk` number `index` (0-based, as the official SDK sends them) of
/// upload `upload_id`: at most 512 KB before base64.
pub fn upload_chunk(req_id: &str, upload_id: &str, index: usize, base64_data: &str) -> Outgoing {
    let body = serde_json::json!({"upload_id": upload_id, "chunk_index": index, "base64_data": base64_data});
    Outgoing::new(cmd::UPLOAD_CHUNK, req_id, Some(body))
}

/// `aibot_upload_media_finish` of upload `upload_id`.
pub fn upload_finish(req_id: &str, upload_id: &str) -> Outgoing {
    Outgoing::new(
        cmd::UPLOAD_FINISH,
        req_id,
        Some(serde_json::json!({"upload_id": upload_id})),
    )
}

/// A proactive `image` message of an uploaded `media_id` to `chatid` (§3.7).
pub fn send_image(req_id: &str, chatid: &str, media_id: &str) -> Outgoing {
    let body = serde_json::json!({"chatid": chatid, "msgtype": "image", "image": {"media_id": media_id}});
    Outgoing::new(cmd::SEND_MSG, req_id, Some(body))
}

/// A frame received from WeCom.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to one of our frames.
    Ack {
        /// The req_id of the frame it answers.
        req_id: String,
        /// 0 on success (§3.9).
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
        /// Extra data (upload ids, media ids).
        body: Option<Value>,
    },
    /// `aibot_msg_callback`; `body` is ready for [`crate::wire::parse_bot_callback`].
    MessageCallback {
        /// The req_id replies must carry.
        req_id: String,
        /// The callback JSON.
        body: Vec<u8>,
    },
    /// `aibot_event_callback`, including [`DISCONNECTED_EVENT`].
    EventCallback {
        /// The req_id replies (welcome, card update) must carry.
        req_id: String,
        /// `body.event.eventtype` (empty when absent).
        eventtype: String,
        /// The callback JSON, for [`crate::wire::parse_bot_callback`].
        body: Vec<u8>,
    },
    /// Not JSON, no req_id, or a command this module does not know.
    Unknown {
        /// The `cmd`, when there is one.
        cmd: Option<String>,
        /// What was wrong, never the frame content.
        reason: &'static str,
    },
}

/// Reads one received text frame. Never fails: anything unexpected is [`Incoming::Unknown`].
pub fn parse(text: &str) -> Incoming {
    let unknown = |cmd: Option<&str>, reason| Incoming::Unknown {
        cmd: cmd.map(str::to_owned),
        reason,
    };
    let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
        return unknown(None, "not a JSON object");
    };
    let cmd = frame.get("cmd").and_then(Value::as_str).filter(|c| !c.is_empty());
    let req_id = frame
        .get("headers")
        .and_then(|h| h.get("req_id"))
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty());
    let Some(req_id) = req_id.map(str::to_owned) else {
        return unknown(cmd, "missing headers.req_id");
    };
    let body = frame.get("body").filter(|b| b.is_object());
    match cmd {
        Some(cmd::MSG_CALLBACK) => match body {
            Some(body) => Incoming::MessageCallback {
                req_id,
                body: body.to_string().into_bytes(),
            },
            None => unknown(Some(cmd::MSG_CALLBACK), "missing body"),
        },
        Some(cmd::EVENT_CALLBACK) => match body {
            Some(body) => Incoming::EventCallback {
                req_id,
                eventtype: body
                    .pointer("/event/eventtype")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                body: body.to_string().into_bytes(),
            },
            None => unknown(Some(cmd::EVENT_CALLBACK), "missing body"),
        },
        Some(other) => unknown(Some(other), "unknown cmd"),
        None => match frame.get("errcode").and_then(int) {
            Some(errcode) => Incoming::Ack {
                req_id,
                errcode,
                errmsg: frame
                    .get("errmsg")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                body: frame.get("body").filter(|b| !b.is_null()).cloned(),
            },
            None => unknown(None, "neither cmd nor errcode"),
        },
    }
}

/// Where an outgoing frame goes: what the driver needs to serialise and police it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The command.
    pub cmd: String,
    /// The req_id (the callback's for replies, ours otherwise).
    pub req_id: String,
    /// `body.msgtype`, when there is one.
    pub msgtype: Option<String>,
}

impl Route {
    /// Reads the routing fields of an outgoing frame's text; `None` when it is not a frame
    /// (no `cmd` or no `headers.req_id`).
    pub fn of(text: &str) -> Option<Self> {
        let frame: Value = serde_json::from_str(text).ok()?;
        let field = |pointer| {
            frame
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Self {
            cmd: field("/cmd")?,
            req_id: field("/headers/req_id")?,
            msgtype: field("/body/msgtype"),
        })
    }

    /// A reply frame that updates a stream (`stream` or `stream_with_template_card`).
    pub fn is_stream(&self) -> bool {
        self.cmd == cmd::RESPOND_MSG && matches!(self.msgtype.as_deref(), Some("stream" | "stream_with_template_card"))
    }
}

/// An integer sent as a JSON number or a decimal string.
fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
