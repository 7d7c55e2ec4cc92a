//! The Weibo stream as the relay's [`imgate_core::relay::Connector`]: one socket per app,
//! under the relay's lease (Weibo pushes every message to every open socket of an app id, §9.5,
//! so two would answer twice).
//!
//! One run: a token ([`crate::api::TokenClient`]), the socket to `/ws/stream` through the
//! kit's dial (proxy settings included), then one loop that reads frames, keeps the heartbeat
//! and pushes answers:
//! - `{"type":"ping"}` every 30 s; the link is dead once 40 s pass without a pong (the text
//!   `pong`, a JSON pong however written, or a WebSocket pong frame), and the run ends so the
//!   supervisor reconnects with its backoff;
//! - the server's JSON ping is answered with `{"type":"pong"}`;
//! - a `message` is normalized, its stream buffer created, deduped and enqueued through the
//!   ingress, and its answer handed to the [`Pusher`]. Weibo has no acknowledgement: a message
//!   that cannot be enqueued is logged as not taken and the socket is reopened, so that a
//!   redelivery, if Weibo makes one, is taken then;
//! - close 4002 or a reason naming an invalid token drops the cached token before the
//!   reconnect; 4000 and 4001 (wrong path, missing parameters) are configuration and stop.
//!
//! The connection is reported up once the server sent its first frame, or a second passed
//! without the server closing it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use imgate_channel_kit::dial::{self, DialError, Socket};
use imgate_core::credentials::Credentials;
use imgate_core::ingress::IngressError;
use imgate_core::ports::Store;
use imgate_core::relay::{self, Link, LinkEnd};
use imgate_core::{IntegrationId, Timestamp};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::pusher::{Answer, Outlet, Pusher};
use crate::api::{TokenClient, TokenError, ws_url};
use crate::normalize;
use crate::reply::new_buffer;
use crate::wire::{self, Frame, InboundMessage, SendMessage};

/// The `version` the gateway names itself with on the stream.
pub const CLIENT_VERSION: &str = concat!("imgate-", env!("CARGO_PKG_VERSION"));
/// Largest frame accepted: attachments arrive inline as base64 (images up to 10 MB, §5.1).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// A socket open this long without being closed counts as connected.
const SETTLED_AFTER: Duration = Duration::from_secs(1);

/// The heartbeat and push timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often the client pings (§4: 30 s).
    pub ping_every: Duration,
    /// How long without a pong until the link is dead (§4: 30 s + 10 s).
    pub dead_after: Duration,
    /// How often open answers are read from the store.
    pub poll_every: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(30),
            dead_after: Duration::from_secs(40),
            poll_every: Duration::from_millis(300),
        }
    }
}

/// Runs Weibo apps over the stream. One instance serves every Weibo integration of a relay.
pub struct Connector {
    store: Arc<dyn Store>,
    tokens: TokenClient,
    ws_base: String,
    timing: Timing,
    /// Answers still open when an integration's socket ended, for its next one.
    carried: Mutex<HashMap<IntegrationId, HashMap<String, Answer>>>,
}

impl Connector {
    /// A connector fetching tokens through `tokens` and opening the stream at `ws_base`
    /// (normally [`crate::api::DEFAULT_WS_BASE`]).
    pub fn new(store: Arc<dyn Store>, tokens: TokenClient, ws_base: impl Into<String>) -> Self {
        Self {
            store,
            tokens,
            ws_base: ws_base.into(),
            timing: Timing::default(),
            carried: Mutex::default(),
        }
    }

    /// The same connector with other timing (tests shorten the dead-link wait).
    #[must_use]
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    fn carried(&self) -> MutexGuard<'_, HashMap<IntegrationId, HashMap<String, Answer>>> {
        // A plain map that no panic can leave half-written.
        self.carried.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl relay::Connector for Connector {
    async fn run(&self, link: Link) -> LinkEnd {
        let Credentials::Weibo(app) = link.credentials() else {
            return LinkEnd::AuthFailed("the credentials are not those of a Weibo app".into());
        };
        let token = tokio::select! {
            token = self.tokens.token(&app.app_id, &app.app_secret) => token,
            () = link.stopping() => return LinkEnd::Stopped,
        };
        let token = match token {
            Ok(token) => token,
            Err(TokenError::Refused(why)) => return LinkEnd::AuthFailed(format!("Weibo refused the app: {why}")),
            Err(error @ TokenError::Unavailable(_)) => return closed(&link, &error.to_string()).await,
        };
        let url = ws_url(&self.ws_base, &app.app_id, token.expose(), CLIENT_VERSION);
        let limits = dial::Limits {
            max_message_bytes: MAX_FRAME_BYTES,
            ..dial::Limits::default()
        };
        let opened = tokio::select! {
            opened = dial::dial(&url, limits) => opened,
            () = link.stopping() => return LinkEnd::Stopped,
        };
        let socket = match opened {
            Ok(socket) => socket,
            Err(DialError::Socket(error)) if refused_token(&error) => {
                self.tokens.invalidate(&app.app_id, &app.app_secret).await;
                return closed(&link, &format!("{}; fetching a new token", dial::describe(&error))).await;
            }
            Err(error) => return closed(&link, &format!("the Weibo stream could not be opened: {error}")).await,
        };
        let id = link.integration_id().clone();
        let carried = self.carried().remove(&id).unwrap_or_default();
        let mut run = Run {
            link: &link,
            store: self.store.as_ref(),
            socket,
            pusher: Pusher::new(self.store.clone(), id.clone(), carried),
            timing: self.timing,
        };
        let ended = run.drive().await;
        let Run { pusher, .. } = run;
        if pusher.open_answers() > 0 {
            tracing::info!(platform = "weibo", integration_id = %id, open = pusher.open_answers(),
                "answers still open continue on the next socket");
            self.carried().insert(id, pusher.into_carry());
        }
        match ended {
            Ended::Stopped => LinkEnd::Stopped,
            Ended::Fatal(why) => LinkEnd::AuthFailed(why),
            Ended::InvalidToken(why) => {
                self.tokens.invalidate(&app.app_id, &app.app_secret).await;
                closed(&link, &why).await
            }
            Ended::Reconnect(why) => closed(&link, &why).await,
        }
    }
}

/// A handshake refused for the token (HTTP 401 or 403).
fn refused_token(error: &WsError) -> bool {
    matches!(error, WsError::Http(response) if matches!(response.status().as_u16(), 401 | 403))
}

async fn closed(link: &Link, why: &str) -> LinkEnd {
    link.error(why).await;
    LinkEnd::Closed
}

/// How one socket ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// Told to stop.
    Stopped,
    /// Reconnect with backoff.
    Reconnect(String),
    /// Drop the token, then reconnect with backoff.
    InvalidToken(String),
    /// Configuration Weibo will keep refusing.
    Fatal(String),
}

/// How a close frame ends the socket (§3).
fn on_close(code: Option<u16>, reason: &str) -> Ended {
    let reason: String = reason.chars().take(80).collect();
    match code {
        Some(4002) => Ended::InvalidToken(format!(
            "Weibo refused the token (close 4002 {reason}); fetching a new one"
        )),
        _ if reason.to_ascii_lowercase().contains("invalid token") => {
            Ended::InvalidToken(format!("Weibo refused the token ({reason}); fetching a new one"))
        }
        Some(code @ (4000 | 4001)) => Ended::Fatal(format!(
            "Weibo refused the stream address (close {code} {reason}): check the WebSocket endpoint"
        )),
        Some(code) => Ended::Reconnect(format!("Weibo closed the stream (close {code} {reason})")),
        None => Ended::Reconnect("Weibo closed the stream".into()),
    }
}

/// One socket's loop.
struct Run<'a> {
    link: &'a Link,
    store: &'a dyn Store,
    socket: Socket,
    pusher: Pusher,
    timing: Timing,
}

impl Run<'_> {
    async fn drive(&mut self) -> Ended {
        let opened = Instant::now();
        let mut last_pong = opened;
        let mut reported = false;
        let mut ping = tokio::time::interval_at(opened + self.timing.ping_every, self.timing.ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(self.timing.poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let ended = tokio::select! {
                () = self.link.stopping() => {
                    let _ = self.socket.close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() })).await;
                    return Ended::Stopped;
                }
                () = tokio::time::sleep_until(opened + SETTLED_AFTER), if !reported => {
                    reported = true;
                    self.link.connected().await;
                    None
                }
                () = tokio::time::sleep_until(last_pong + self.timing.dead_after) => {
                    Some(Ended::Reconnect(format!(
                        "no pong for {} s: the link is dead",
                        self.timing.dead_after.as_secs()
                    )))
                }
                _ = ping.tick() => self.send(wire::ping()).await.err(),
                _ = poll.tick() => self.push().await.err(),
                frame = self.socket.next() => {
                    if !reported {
                        reported = true;
                        self.link.connected().await;
                    }
                    self.on_frame(frame, &mut last_pong).await
                }
            };
            if let Some(ended) = ended {
                if !matches!(ended, Ended::Fatal(_) | Ended::InvalidToken(_)) {
                    let _ = self
                        .socket
                        .close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: "".into(),
                        }))
                        .await;
                }
                return ended;
            }
        }
    }

    /// Sends what is new in the open answers.
    async fn push(&mut self) -> Result<(), Ended> {
        self.pusher.poll(&mut self.socket).await.map_err(Ended::Reconnect)
    }

    async fn send(&mut self, text: String) -> Result<(), Ended> {
        send(&mut self.socket, text).await.map_err(Ended::Reconnect)
    }

    async fn on_frame(&mut self, frame: Option<Result<Message, WsError>>, last_pong: &mut Instant) -> Option<Ended> {
        let text = match frame {
            None => return Some(Ended::Reconnect("the Weibo stream ended".into())),
            Some(Err(error)) => return Some(Ended::Reconnect(dial::describe(&error))),
            Some(Ok(Message::Close(frame))) => {
                return Some(match frame {
                    Some(frame) => on_close(Some(u16::from(frame.code)), frame.reason.as_str()),
                    None => on_close(None, ""),
                });
            }
            Some(Ok(Message::Pong(_))) => {
                *last_pong = Instant::now();
                return None;
            }
            Some(Ok(Message::Text(text))) => text,
            // Binary frames are not Weibo's (§3); pings are answered by tungstenite.
            Some(Ok(_)) => return None,
        };
        if wire::is_pong(text.as_str()) {
            *last_pong = Instant::now();
            return None;
        }
        match wire::parse(text.as_str()) {
            Ok(Frame::Ping) => self.send(wire::pong()).await.err(),
            Ok(Frame::Message(message)) => self.on_message(&message).await.err(),
            Ok(Frame::System { pong_timeout_ms }) => {
                tracing::info!(platform = "weibo", integration_id = %self.link.integration_id(), ?pong_timeout_ms, "stream opened");
                None
            }
            Ok(Frame::Error { message }) => {
                self.link.error(&format!("Weibo reported an error: {message}")).await;
                None
            }
            Ok(Frame::Pong | Frame::Ack) => None,
            Ok(Frame::Other { kind }) => {
                tracing::debug!(platform = "weibo", kind, "frame ignored");
                None
            }
            Err(error) => {
                self.link.error(&format!("a frame was skipped: {error}")).await;
                None
            }
        }
    }

    /// Takes one message: stream buffer, dedupe and enqueue, then its answer is carried.
    async fn on_message(&mut self, message: &InboundMessage) -> Result<(), Ended> {
        let id = self.link.integration_id().clone();
        self.link.event_received().await;
        let now = Timestamp::now();
        let Some(event) = normalize::normalize(message, &id, now) else {
            self.link
                .ingress()
                .log(
                    &id,
                    imgate_core::event_log::EventKind::Ignored,
                    Some(&normalize::dedupe_id(message)),
                    "a message with no text or attachments",
                )
                .await;
            return Ok(());
        };
        let (event_id, to_user_id) = (event.event_id.clone(), event.sender.id.clone());
        let stream_id = normalize::stream_id_for(&id, &event_id);
        let buffer = new_buffer(&id, &stream_id, now);
        if let Err(error) = self.store.create_stream(&buffer).await {
            tracing::error!(platform = "weibo", integration_id = %id, event_id, %error, "creating the stream buffer failed");
            return Err(Ended::Reconnect(format!(
                "message {event_id} not taken: the store is unavailable; reopening the stream"
            )));
        }
        match self.link.ingress().receive(event, "direct message").await {
            Ok(_) => {
                self.pusher.open(&stream_id, &to_user_id).await;
                Ok(())
            }
            Err(error) => {
                let what = match error {
                    IngressError::Store(_) => "the dedupe store is unavailable",
                    IngressError::Queue(_) => "the queue is unavailable",
                };
                Err(Ended::Reconnect(format!(
                    "message {event_id} not taken: {what}; reopening the stream"
                )))
            }
        }
    }
}

impl Outlet for Socket {
    async fn write(&mut self, frame: &SendMessage) -> Result<(), String> {
        send(self, frame.to_text()).await
    }
}

/// Writes one text frame; the only delivery signal Weibo gives (§6).
async fn send(socket: &mut Socket, text: String) -> Result<(), String> {
    socket
        .send(Message::text(text))
        .await
        .map_err(|e| format!("the Weibo stream could not be written: {}", dial::describe(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_what_the_notes_say() {
        assert!(matches!(on_close(Some(4002), "Invalid token"), Ended::InvalidToken(_)));
        assert!(matches!(
            on_close(Some(1008), "INVALID TOKEN for app"),
            Ended::InvalidToken(_)
        ));
        assert!(matches!(on_close(Some(4000), "Invalid path"), Ended::Fatal(_)));
        assert!(matches!(
            on_close(Some(4001), "Missing app_id or token"),
            Ended::Fatal(_)
        ));
        for code in [4005, 1011, 1001, 1000, 1006] {
            assert!(matches!(on_close(Some(code), ""), Ended::Reconnect(_)), "{code}");
        }
        assert!(matches!(on_close(None, ""), Ended::Reconnect(_)));
    }
}
