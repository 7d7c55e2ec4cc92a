//! The relay's DingTalk Stream connector: one [`imgate_core::relay::Connector`] run per Stream
//! connection of an integration, following the connection loop of [`super`].
//!
//! - Registration: `connections/open` with the client id and secret, subscribed to robot
//!   messages only (§1.1). 401/403 end the run with [`LinkEnd::AuthFailed`]: the supervisor does
//!   not retry until the credentials change. Other failures are reported and end it with
//!   [`LinkEnd::Closed`] (reconnect with backoff; every attempt gets a new ticket).
//! - Robot messages are normalized and handed to the ingress (dedupe on `msgId`, durable
//!   enqueue). The ACK is sent only after the ingress returned `Ok`; a duplicate is ACKed too.
//!   When the queue keeps failing ([`Settings::enqueue_attempts`]) the frame is left
//!   un-ACKed and the failure is reported. Note: DingTalk's Stream FAQ (protocol.md, "机器人消息当前是
//!   fire-forgot 模式") says robot messages are currently not re-pushed on a missing ACK, unlike
//!   events; a server that does re-push (or a later DingTalk) gets the message processed once
//!   thanks to the dedupe. The short in-process retry is what saves a message from a brief
//!   queue hiccup.
//! - `ping` is echoed, other SYSTEM frames are ACKed, `disconnect` (a graceful rotation, §1.5)
//!   opens the next connection at once within the same run and closes the old one, so a
//!   rotation is invisible in the status. EVENT frames (not subscribed) are ACKed as consumed so
//!   DingTalk does not re-push them; other callbacks get 404.
//! - Frames that cannot be read are logged (their position and kind, never content) and the
//!   connection goes on.
//! - Watchdog: after [`Settings::keepalive_idle`] without any frame the connector sends a
//!   WebSocket ping; no frame or pong within [`Settings::keepalive_timeout`] means the link is
//!   dead ([`LinkEnd::Closed`]). The server's own `ping` interval is UNVERIFIED (§1.5), so the
//!   client-side ping is what detects a dead link; the Go SDK pings after 120 s idle and waits
//!   5 s, the Python SDK pings every 60 s.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use imgate_core::Timestamp;
use imgate_core::credentials::{Credentials, Dingtalk};
use imgate_core::event::InboundEvent;
use imgate_core::event_log::EventKind;
use imgate_core::relay::{Link, LinkEnd};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use super::socket::{self, Socket};
use super::{
    Frame, FrameKind, StreamError, Subscription, ack, callback_ack, connect_url, event_ack, open_connection,
    parse_frame, ping_ack,
};
use crate::{Endpoints, normalize};

/// Tunables of the connector. [`Settings::default`] gives the production values.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Quiet time after which a WebSocket ping is sent.
    pub keepalive_idle: Duration,
    /// How long to wait for any frame after that ping before the link counts as dead.
    pub keepalive_timeout: Duration,
    /// How long the WebSocket handshake may take.
    pub handshake_timeout: Duration,
    /// Enqueue attempts per robot message before it is left un-ACKed.
    pub enqueue_attempts: u32,
    /// Delay before the second enqueue attempt (doubled for each further one).
    pub enqueue_retry_delay: Duration,
    /// How long a polite close of a replaced or stopped socket may take.
    pub close_timeout: Duration,
}

impl Default for Settings {
    /// 60 s idle before a ping (the Python SDK's interval), 10 s for an answer, 15 s for the
    /// handshake, 3 enqueue attempts 200 ms and 400 ms apart, 2 s to close.
    fn default() -> Self {
        Self {
            keepalive_idle: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(15),
            enqueue_attempts: 3,
            enqueue_retry_delay: Duration::from_millis(200),
            close_timeout: Duration::from_secs(2),
        }
    }
}

/// Runs DingTalk Stream connections for the relay.
#[derive(Clone)]
pub struct Connector {
    http: reqwest::Client,
    endpoints: Endpoints,
    settings: Settings,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("endpoints", &self.endpoints)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How one WebSocket ended.
enum Served {
    /// DingTalk asked to rotate: open the next connection now; the old socket comes back to be
    /// closed once the new one is up.
    Rotate(Box<Socket>),
    /// The run ends.
    End(LinkEnd),
}

/// What a frame asks of the loop.
enum Flow {
    Continue,
    Rotate,
    End(LinkEnd),
}

impl Connector {
    /// A connector registering at `endpoints.gateway` with [`Settings::default`].
    pub fn new(http: reqwest::Client, endpoints: Endpoints) -> Self {
        Self {
            http,
            endpoints,
            settings: Settings::default(),
        }
    }

    /// The same connector with other tunables (tests use short ones).
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// Registers and opens one WebSocket; `Err` carries how the run ends instead.
    async fn open(&self, link: &Link, app: &Dingtalk) -> Result<Socket, LinkEnd> {
        let subscriptions = [Subscription::bot_messages()];
        let registration = open_connection(
            &self.http,
            &self.endpoints.gateway,
            &app.client_id,
            &app.client_secret,
            &subscriptions,
        );
        let registered = tokio::select! {
            () = link.stopping() => return Err(LinkEnd::Stopped),
            registered = registration => registered,
        };
        let (endpoint, ticket) = match registered {
            Ok(answer) => answer,
            Err(error @ StreamError::BadCredentials { .. }) => {
                tracing::warn!(platform = "dingtalk", integration_id = %link.integration_id(), %error, "stream registration refused the credentials");
                return Err(LinkEnd::AuthFailed(error.to_string()));
            }
            Err(error) => return Err(closed(link, &error.to_string()).await),
        };
        let url = match connect_url(&endpoint, &ticket) {
            Ok(url) => url,
            Err(error) => return Err(closed(link, &error.to_string()).await),
        };
        let handshake = tokio::time::timeout(self.settings.handshake_timeout, socket::connect(&url));
        tokio::select! {
            () = link.stopping() => Err(LinkEnd::Stopped),
            connected = handshake => match connected {
                Ok(Ok(socket)) => Ok(socket),
                Ok(Err(error)) => Err(closed(link, &error).await),
                Err(_) => Err(closed(link, "the WebSocket handshake timed out").await),
            },
        }
    }

    /// Reads one WebSocket until it ends, is rotated, or the run is told to stop.
    async fn serve(&self, link: &Link, mut socket: Socket) -> Served {
        let mut last_seen = Instant::now();
        let mut pinged = false;
        loop {
            let deadline = if pinged {
                last_seen + self.settings.keepalive_idle + self.settings.keepalive_timeout
            } else {
                last_seen + self.settings.keepalive_idle
            };
            let message = tokio::select! {
                biased;
                () = link.stopping() => {
                    self.close(socket).await;
                    return Served::End(LinkEnd::Stopped);
                }
                () = sleep_until(deadline) => {
                    if pinged {
                        let text = format!(
                            "no traffic for {} s after a keepalive ping: the link is dead",
                            self.settings.keepalive_timeout.as_secs_f32()
                        );
                        return Served::End(closed(link, &text).await);
                    }
                    if let Err(error) = socket.send(Message::Ping(Vec::new().into())).await {
                        return Served::End(closed(link, &socket::describe(&error)).await);
                    }
                    pinged = true;
                    continue;
                }
                message = socket.next() => message,
            };
            last_seen = Instant::now();
            pinged = false;
            let text = match message {
                None | Some(Ok(Message::Close(_))) => {
                    return Served::End(closed(link, "DingTalk closed the connection").await);
                }
                Some(Err(error)) => return Served::End(closed(link, &socket::describe(&error)).await),
                Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                Some(Ok(Message::Binary(bytes))) => match String::from_utf8(bytes.to_vec()) {
                    Ok(text) => text,
                    Err(_) => {
                        bad_frame(link, "a binary frame that is not UTF-8").await;
                        continue;
                    }
                },
                // Pings are answered by tungstenite; pongs only prove the link is alive.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
            match self.frame(link, &mut socket, &text).await {
                Flow::Continue => {}
                Flow::Rotate => return Served::Rotate(Box::new(socket)),
                Flow::End(end) => return Served::End(end),
            }
        }
    }

    /// Handles one text frame.
    async fn frame(&self, link: &Link, socket: &mut Socket, text: &str) -> Flow {
        let frame = match parse_frame(text) {
            Ok(frame) => frame,
            Err(error) => {
                bad_frame(link, &error.to_string()).await;
                return Flow::Continue;
            }
        };
        let (answer, flow) = match frame.classify() {
            FrameKind::Ping | FrameKind::System => (Some(ping_ack(&frame)), Flow::Continue),
            FrameKind::Disconnect => {
                let reason = frame.disconnect_reason().unwrap_or_default();
                tracing::info!(platform = "dingtalk", integration_id = %link.integration_id(), reason = %reason, "DingTalk rotates the connection");
                (Some(ping_ack(&frame)), Flow::Rotate)
            }
            FrameKind::BotMessage => match self.bot_message(link, &frame).await {
                Some(answer) => (Some(answer), Flow::Continue),
                None => (None, Flow::Continue),
            },
            // Not subscribed: consumed, so DingTalk does not push it again.
            FrameKind::Event => (Some(event_ack(frame.message_id(), true)), Flow::Continue),
            FrameKind::CardCallback | FrameKind::Callback | FrameKind::Unknown => {
                tracing::debug!(platform = "dingtalk", integration_id = %link.integration_id(), topic = frame.topic(), "frame of an unhandled topic");
                (Some(ack(frame.message_id(), 404, "")), Flow::Continue)
            }
        };
        if let Some(answer) = answer
            && let Err(error) = socket.send(Message::text(answer)).await
        {
            return Flow::End(closed(link, &socket::describe(&error)).await);
        }
        flow
    }

    /// Normalizes and enqueues a robot message; the ACK to send, or `None` to leave it
    /// un-ACKed (the queue is down).
    async fn bot_message(&self, link: &Link, frame: &Frame) -> Option<String> {
        let message_id = frame.message_id();
        let message = match frame.robot_message() {
            Ok(message) => message,
            Err(error) => {
                bad_frame(link, &format!("robot message {message_id}: {error}")).await;
                // Unreadable now means unreadable on a re-push: tell DingTalk it was refused.
                return Some(ack(message_id, 400, ""));
            }
        };
        let event = normalize::robot_message(link.integration_id(), &message, Timestamp::now());
        if !self.enqueue(link, event).await {
            let text = format!("queue unavailable: robot message {message_id} left unacknowledged");
            link.error(&text).await;
            return None;
        }
        link.event_received().await;
        Some(callback_ack(message_id))
    }

    /// Hands `event` to the ingress, retrying briefly; true once it was accepted (enqueued or a
    /// duplicate).
    async fn enqueue(&self, link: &Link, event: InboundEvent) -> bool {
        let mut delay = self.settings.enqueue_retry_delay;
        for attempt in 1..=self.settings.enqueue_attempts.max(1) {
            match link.ingress().accept(event.clone()).await {
                Ok(_) => return true,
                Err(error) => {
                    tracing::warn!(platform = "dingtalk", integration_id = %link.integration_id(), event_id = %event.event_id, attempt, %error, "enqueue failed");
                }
            }
            if attempt < self.settings.enqueue_attempts {
                tokio::select! {
                    () = link.stopping() => return false,
                    () = tokio::time::sleep(delay) => {}
                }
                delay *= 2;
            }
        }
        false
    }

    /// Closes a socket politely, within [`Settings::close_timeout`].
    async fn close(&self, mut socket: Socket) {
        let _ = tokio::time::timeout(self.settings.close_timeout, socket.close(None)).await;
    }
}

#[async_trait]
impl imgate_core::relay::Connector for Connector {
    /// Registers, connects and serves until the run ends (the relay worker runs this on a task
    /// of its own, so it goes on while the lease is renewed).
    async fn run(&self, link: Link) -> LinkEnd {
        self.connection(link).await
    }
}

impl Connector {
    /// Registers, connects and serves until the run ends; a `disconnect` rotation opens the
    /// next connection within the same run.
    async fn connection(&self, link: Link) -> LinkEnd {
        let Credentials::Dingtalk(app) = link.credentials() else {
            return LinkEnd::AuthFailed("the integration's credentials are not DingTalk credentials".into());
        };
        let app = app.clone();
        let mut previous: Option<Box<Socket>> = None;
        loop {
            let opened = self.open(&link, &app).await;
            if let Some(old) = previous.take() {
                // The replacement is up (or failed): the old one has nothing more to say.
                let this = self.clone();
                tokio::spawn(async move { this.close(*old).await });
            }
            let socket = match opened {
                Ok(socket) => socket,
                Err(end) => return end,
            };
            link.connected().await;
            tracing::info!(platform = "dingtalk", integration_id = %link.integration_id(), "stream connected");
            match self.serve(&link, socket).await {
                Served::Rotate(old) => previous = Some(old),
                Served::End(end) => return end,
            }
        }
    }
}

/// Reports a connection failure and asks for a reconnect.
async fn closed(link: &Link, text: &str) -> LinkEnd {
    tracing::warn!(platform = "dingtalk", integration_id = %link.integration_id(), error = text, "stream connection ended");
    link.error(text).await;
    LinkEnd::Closed
}

/// Logs a frame that could not be read (what was wrong, never its content); the connection
/// goes on.
async fn bad_frame(link: &Link, what: &str) {
    tracing::warn!(platform = "dingtalk", integration_id = %link.integration_id(), error = what, "unreadable stream frame ignored");
    link.ingress()
        .log(
            link.integration_id(),
            EventKind::Error,
            None,
            &format!("unreadable stream frame ignored: {what}"),
        )
        .await;
}
