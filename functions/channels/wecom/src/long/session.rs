//! The long-connection state machine, without I/O: the caller feeds it the socket opening,
//! received frames and the clock, and sends what it returns.
//!
//! `Connecting` → (`on_open`) `Subscribing` → (subscribe ack 0) `Ready` → `Closed { reason }`
//! on a failed subscribe, a `disconnected_event`, missed heartbeats or the socket closing.

use std::collections::HashMap;
use std::time::Duration;

use imgate_core::secret::Secret;
use serde_json::Value;
use tokio::time::Instant;

use super::frame::{self, DISCONNECTED_EVENT, Incoming, Outgoing, Route, cmd};
use crate::wire::{BotCallback, parse_bot_callback};

/// Heartbeat period after a successful subscribe ("建议每 30 秒发送一次", §3.5).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// Un-acked pings after which the link is dead, checked before each ping (SDK rule, §3.5).
pub const MAX_MISSED_PINGS: usize = 2;
/// How long to wait for the subscribe ack. WeCom documents no value; this is ours.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream can be updated for 6 minutes from its first frame (§3.7).
pub const STREAM_WINDOW: Duration = Duration::from_secs(6 * 60);
/// `aibot_respond_msg` is accepted for 24 hours after the callback (§3.7).
pub const REPLY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Welcome messages and card updates must follow their event within 5 seconds (§3.2).
pub const QUICK_REPLY_WINDOW: Duration = Duration::from_secs(5);

/// Where the connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// The socket is not open yet.
    Connecting,
    /// `aibot_subscribe` was sent; waiting for its ack.
    Subscribing,
    /// Subscribed: callbacks flow, replies may be sent, heartbeats run.
    Ready,
    /// Over; the socket must be closed and nothing more sent.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The subscribe was refused (853000: bad bot id or secret). WeCom keeps the socket open.
    AuthFailed {
        /// WeCom's code.
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
    },
    /// `disconnected_event`: another connection subscribed this bot. Do not reconnect.
    Kicked,
    /// Pings went un-acked, or the subscribe was never answered.
    Dead,
    /// The socket ended.
    SocketClosed,
}

/// What a received frame means for the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The subscribe succeeded: heartbeats start, replies may be sent.
    Subscribed,
    /// The subscribe failed; close the socket.
    AuthFailed {
        /// WeCom's code (853000 for bad credentials).
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
    },
    /// A message or event for the gateway; replies carry `req_id`.
    Inbound {
        /// The callback frame's req_id.
        req_id: String,
        /// The parsed callback body.
        callback: Box<BotCallback>,
    },
    /// `disconnected_event`; close and do not reconnect.
    Kicked,
    /// The ack of a frame that is neither the subscribe nor a ping (replies, pushes).
    AckFor {
        /// The acked frame's req_id.
        req_id: String,
        /// 0 on success.
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
        /// What the ack carries (an upload's `upload_id`, `media_id`).
        body: Option<Value>,
    },
    /// Nothing to do (ping acks, unknown or malformed frames, frames after close).
    Ignore,
}

/// What the clock asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Nothing due.
    Idle,
    /// Send this heartbeat.
    Ping(Outgoing),
    /// The link is dead; close it.
    Dead,
}

/// Which callback a req_id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// `aibot_msg_callback`.
    Message,
    /// `aibot_event_callback`.
    Event,
}

/// The reply window of one callback req_id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyWindow {
    /// When the callback arrived.
    pub received_at: Instant,
    /// Message or event.
    pub kind: CallbackKind,
    /// When the first stream frame for it was sent.
    pub first_stream_at: Option<Instant>,
}

/// Why an outgoing frame is not sent: WeCom would refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A reply whose req_id did not arrive on this connection (WeCom: 846605).
    #[error("req_id unknown on this connection")]
    UnknownReqId,
    /// A stream update more than 6 minutes after the stream's first frame (WeCom: 846608).
    #[error("stream window of 6 minutes is over")]
    StreamExpired,
    /// A reply after its window: 24 h for messages, 5 s for welcomes and card updates.
    #[error("reply window is over")]
    WindowClosed,
}

/// One long connection's protocol state. Debug output never contains the secret.
#[derive(Debug)]
pub struct Session {
    bot_id: String,
    secret: Secret,
    state: State,
    subscribe: Option<(String, Instant)>,
    next_ping: Option<Instant>,
    unacked_pings: Vec<String>,
    windows: HashMap<String, ReplyWindow>,
}

impl Session {
    /// A session for one bot, before the socket opens.
    pub fn new(bot_id: impl Into<String>, secret: Secret) -> Self {
        Self {
            bot_id: bot_id.into(),
            secret,
            state: State::Connecting,
            subscribe: None,
            next_ping: None,
            unacked_pings: Vec::new(),
            windows: HashMap::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// True once subscribed and not closed.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// How many pings are waiting for their ack.
    pub fn missed_pings(&self) -> usize {
        self.unacked_pings.len()
    }

    /// The socket opened: returns the `aibot_subscribe` frame to send first.
    pub fn on_open(&mut self, now: Instant) -> Outgoing {
        let req_id = frame::new_req_id(cmd::SUBSCRIBE);
        let subscribe = frame::subscribe(&req_id, &self.bot_id, &self.secret);
        self.subscribe = Some((req_id, now));
        self.state = State::Subscribing;
        subscribe
    }

    /// The socket ended.
    pub fn on_close(&mut self) {
        self.close(CloseReason::SocketClosed);
    }

    /// A text frame arrived at `now`.
    pub fn on_frame(&mut self, text: &str, now: Instant) -> Action {
        if matches!(self.state, State::Closed { .. }) {
            return Action::Ignore;
        }
        match frame::parse(text) {
            Incoming::Ack {
                req_id,
                errcode,
                errmsg,
                body,
            } => self.on_ack(req_id, errcode, errmsg, body, now),
            Incoming::EventCallback { eventtype, .. } if eventtype == DISCONNECTED_EVENT => {
                self.close(CloseReason::Kicked);
                Action::Kicked
            }
            Incoming::MessageCallback { req_id, body } => self.on_callback(req_id, &body, CallbackKind::Message, now),
            Incoming::EventCallback { req_id, body, .. } => self.on_callback(req_id, &body, CallbackKind::Event, now),
            Incoming::Unknown { cmd, reason } => {
                tracing::debug!(
                    platform = "wecom",
                    cmd = cmd.as_deref(),
                    reason,
                    "ignored long-connection frame"
                );
                Action::Ignore
            }
        }
    }

    /// Advances the clock: the next heartbeat, or the verdict that the link is dead. Also
    /// forgets reply windows older than 24 hours.
    pub fn tick(&mut self, now: Instant) -> Tick {
        match self.state {
            State::Subscribing => match self.subscribe {
                Some((_, sent_at)) if now >= sent_at + SUBSCRIBE_TIMEOUT => {
                    self.close(CloseReason::Dead);
                    Tick::Dead
                }
                _ => Tick::Idle,
            },
            State::Ready => match self.next_ping {
                Some(due) if now >= due => {
                    if self.unacked_pings.len() >= MAX_MISSED_PINGS {
                        self.close(CloseReason::Dead);
                        return Tick::Dead;
                    }
                    self.windows.retain(|_, w| now < w.received_at + REPLY_WINDOW);
                    self.next_ping = Some(due + HEARTBEAT_INTERVAL);
                    let req_id = frame::new_req_id(cmd::PING);
                    self.unacked_pings.push(req_id.clone());
                    Tick::Ping(frame::ping(&req_id))
                }
                _ => Tick::Idle,
            },
            State::Connecting | State::Closed { .. } => Tick::Idle,
        }
    }

    /// When [`Session::tick`] has something to do next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Subscribing => self.subscribe.as_ref().map(|(_, sent_at)| *sent_at + SUBSCRIBE_TIMEOUT),
            State::Ready => self.next_ping,
            State::Connecting | State::Closed { .. } => None,
        }
    }

    /// Checks an outgoing frame against its reply window just before it is written, and
    /// starts the 6-minute stream window on a stream's first frame. Frames we originate
    /// (`aibot_send_msg`, uploads) always pass.
    ///
    /// # Errors
    /// A [`Refusal`] when WeCom would reject the frame.
    pub fn admit(&mut self, route: &Route, now: Instant) -> Result<(), Refusal> {
        let limit = match route.cmd.as_str() {
            cmd::RESPOND_MSG => REPLY_WINDOW,
            cmd::RESPOND_WELCOME | cmd::RESPOND_UPDATE => QUICK_REPLY_WINDOW,
            _ => return Ok(()),
        };
        let window = self.windows.get_mut(&route.req_id).ok_or(Refusal::UnknownReqId)?;
        if now >= window.received_at + limit {
            return Err(Refusal::WindowClosed);
        }
        if route.is_stream() {
            let first = *window.first_stream_at.get_or_insert(now);
            if now >= first + STREAM_WINDOW {
                return Err(Refusal::StreamExpired);
            }
        }
        Ok(())
    }

    /// The reply window of a callback req_id received on this connection.
    pub fn reply_window(&self, req_id: &str) -> Option<ReplyWindow> {
        self.windows.get(req_id).copied()
    }

    /// When the stream answering `req_id` stops accepting updates, once its first frame was
    /// sent: roll over to a new message before this.
    pub fn stream_deadline(&self, req_id: &str) -> Option<Instant> {
        self.windows
            .get(req_id)?
            .first_stream_at
            .map(|first| first + STREAM_WINDOW)
    }

    fn on_ack(&mut self, req_id: String, errcode: i64, errmsg: String, body: Option<Value>, now: Instant) -> Action {
        if self.subscribe.as_ref().is_some_and(|(id, _)| *id == req_id) {
            if self.state != State::Subscribing {
                return Action::Ignore;
            }
            if errcode == frame::errcode::OK {
                self.state = State::Ready;
                self.next_ping = Some(now + HEARTBEAT_INTERVAL);
                return Action::Subscribed;
            }
            self.close(CloseReason::AuthFailed {
                errcode,
                errmsg: errmsg.clone(),
            });
            return Action::AuthFailed { errcode, errmsg };
        }
        if self.unacked_pings.contains(&req_id) {
            if errcode == frame::errcode::OK {
                self.unacked_pings.clear();
            } else {
                tracing::warn!(platform = "wecom", errcode, "heartbeat ack with an error");
            }
            return Action::Ignore;
        }
        Action::AckFor {
            req_id,
            errcode,
            errmsg,
            body,
        }
    }

    fn on_callback(&mut self, req_id: String, body: &[u8], kind: CallbackKind, now: Instant) -> Action {
        match parse_bot_callback(body) {
            Ok(callback) => {
                self.windows.entry(req_id.clone()).or_insert(ReplyWindow {
                    received_at: now,
                    kind,
                    first_stream_at: None,
                });
                Action::Inbound {
                    req_id,
                    callback: Box::new(callback),
                }
            }
            Err(e) => {
                tracing::warn!(platform = "wecom", error = %e, "ignored malformed long-connection callback");
                Action::Ignore
            }
        }
    }

    fn close(&mut self, reason: CloseReason) {
        if !matches!(self.state, State::Closed { .. }) {
            self.state = State::Closed { reason };
        }
        self.next_ping = None;
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
