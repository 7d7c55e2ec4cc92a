//! Runs one long connection over any text socket: subscribe, heartbeats, callbacks in,
//! replies out, until WeCom or the socket ends it.
//!
//! The socket is a `Sink<String> + Stream<Item = Result<String, E>>` of text frames, so tests
//! drive it over channels and production over tokio-tungstenite ([`super::connect`]). Time is
//! `tokio::time`, so tests can run with a paused clock.
//!
//! WeCom has no client ack for callbacks (neither official SDK sends one, §3.6): a callback is
//! delivered once it is written to the socket. The driver awaits `inbound` before reading the
//! next frame, so callbacks are handed over in order, but a callback the caller could not
//! enqueue is lost (it is logged). A callback WeCom sends again after a reconnect is an
//! ordinary duplicate, dropped by the dedupe in [`imgate_core::ingress::Ingress`].

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};

use super::frame::Route;
use super::queue::Queue;
use super::session::{Action, Refusal, Session, Tick};
use crate::wire::BotCallback;

/// How long a graceful close may take before the socket is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the driver hands to its caller.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundFrame {
    /// A message or event callback (never `disconnected_event`, which ends the run). Replies
    /// carry `req_id`; normalize with [`super::inbound_event`].
    Callback {
        /// The callback frame's req_id.
        req_id: String,
        /// The parsed body.
        callback: Box<BotCallback>,
    },
    /// What became of a frame from the outbox.
    Delivery(Delivery),
}

/// The fate of one outbox frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The frame's req_id.
    pub req_id: String,
    /// The frame's command.
    pub cmd: String,
    /// What happened.
    pub status: DeliveryStatus,
    /// What WeCom's ack carried (an upload's `upload_id` or `media_id`).
    pub body: Option<serde_json::Value>,
}

/// How an outbox frame ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// WeCom acked it with errcode 0.
    Acked,
    /// WeCom answered with an error (846608: stream expired, 846605: bad req_id, …).
    Rejected {
        /// WeCom's code.
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
    },
    /// Written, but no ack within 5 seconds; the next frame of its req_id went out anyway.
    TimedOut,
    /// Not written: WeCom would refuse it.
    Refused(Refusal),
    /// Not written: too many frames are waiting.
    QueueFull,
    /// Not written or not acked before the connection ended.
    Cancelled,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The subscribe was refused (853000: bad bot id or secret). Retrying needs new credentials.
    AuthFailed {
        /// WeCom's code.
        errcode: i64,
        /// WeCom's message.
        errmsg: String,
    },
    /// `disconnected_event`: another connection took this bot over. Do not reconnect
    /// automatically, or the two connections kick each other forever (§3.5).
    Kicked,
    /// Two pings went un-acked (or the subscribe was never answered); reconnect.
    Dead,
    /// The socket ended; reconnect.
    Closed,
    /// The outbox's senders were all dropped and every queued frame was settled.
    Stopped,
}

/// The transport failed; reconnect. Messages never contain frame content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Writing a frame failed.
    #[error("WebSocket send failed: {0}")]
    Send(String),
    /// Reading a frame failed.
    #[error("WebSocket receive failed: {0}")]
    Receive(String),
}

/// Runs one connection on an open `socket` until it ends.
///
/// Sends the subscribe first and nothing else until its ack; then answers the clock with
/// pings every 30 s, hands callbacks to `inbound` (its `bool` says whether the caller took
/// the callback durably; `false` is logged, as WeCom cannot be asked to redeliver), and
/// writes `outbox` frames (wire text, e.g. [`super::frame::respond_stream`]`.to_text()`) in
/// order, one in flight per req_id until its ack or a 5 s timeout. Every outbox frame's fate
/// is reported to `inbound` as an [`InboundFrame::Delivery`] (the `bool` is ignored there).
/// The outbox is borrowed so that frames queued during a reconnect go out on the next
/// connection; once all its senders are dropped (noticed after the subscribe), the run settles
/// what is queued and ends with [`Outcome::Stopped`]. Frames still queued or in flight when a
/// run ends are reported as [`DeliveryStatus::Cancelled`].
///
/// # Errors
/// [`DriverError`] when the socket fails to read or write.
pub async fn run<S, E, F, Fut>(
    socket: S,
    session: Session,
    inbound: F,
    outbox: &mut mpsc::Receiver<String>,
) -> Result<Outcome, DriverError>
where
    S: Sink<String> + Stream<Item = Result<String, E>> + Unpin,
    <S as Sink<String>>::Error: Display,
    E: Display,
    F: FnMut(InboundFrame) -> Fut,
    Fut: Future<Output = bool>,
{
    run_reporting(socket, session, inbound, outbox, None).await
}

/// [`run`], also telling `subscribed` the moment WeCom accepted the subscribe (a relay reports
/// the connection as up then, not when the socket opened).
///
/// # Errors
/// [`DriverError`] when the socket fails to read or write.
pub async fn run_reporting<S, E, F, Fut>(
    socket: S,
    session: Session,
    inbound: F,
    outbox: &mut mpsc::Receiver<String>,
    subscribed: Option<oneshot::Sender<()>>,
) -> Result<Outcome, DriverError>
where
    S: Sink<String> + Stream<Item = Result<String, E>> + Unpin,
    <S as Sink<String>>::Error: Display,
    E: Display,
    F: FnMut(InboundFrame) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut driver = Driver {
        socket,
        session,
        inbound,
        outbox,
        outbox_open: true,
        queue: Queue::default(),
        subscribed,
    };
    let result = driver.drive().await;
    match &result {
        Ok(Outcome::Closed) | Err(_) => {}
        Ok(outcome) => {
            tracing::info!(platform = "wecom", outcome = ?outcome, "closing long connection");
            let _ = timeout(CLOSE_TIMEOUT, driver.socket.close()).await;
        }
    }
    for route in driver.queue.drain() {
        driver.report(route, DeliveryStatus::Cancelled).await;
    }
    result
}

struct Driver<'a, S, F> {
    socket: S,
    session: Session,
    inbound: F,
    outbox: &'a mut mpsc::Receiver<String>,
    outbox_open: bool,
    queue: Queue,
    subscribed: Option<oneshot::Sender<()>>,
}

impl<S, E, F, Fut> Driver<'_, S, F>
where
    S: Sink<String> + Stream<Item = Result<String, E>> + Unpin,
    <S as Sink<String>>::Error: Display,
    E: Display,
    F: FnMut(InboundFrame) -> Fut,
    Fut: Future<Output = bool>,
{
    async fn drive(&mut self) -> Result<Outcome, DriverError> {
        let subscribe = self.session.on_open(Instant::now());
        self.write(subscribe.to_text()).await?;
        loop {
            if !self.outbox_open && self.queue.is_idle() {
                return Ok(Outcome::Stopped);
            }
            let deadline = match (self.session.next_deadline(), self.queue.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let read_outbox = self.outbox_open && self.session.is_ready();
            let step = tokio::select! {
                received = self.socket.next() => match received {
                    Some(Ok(text)) => self.on_text(&text).await?,
                    Some(Err(e)) => return Err(DriverError::Receive(e.to_string())),
                    None => {
                        self.session.on_close();
                        Some(Outcome::Closed)
                    }
                },
                () = sleep_until_some(deadline) => self.on_timer().await?,
                item = self.outbox.recv(), if read_outbox => {
                    match item {
                        Some(text) => self.enqueue(text).await,
                        None => self.outbox_open = false,
                    }
                    None
                },
            };
            if let Some(outcome) = step {
                return Ok(outcome);
            }
            if self.session.is_ready() {
                self.flush().await?;
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<Option<Outcome>, DriverError> {
        match self.session.on_frame(text, Instant::now()) {
            Action::Subscribed => {
                tracing::info!(platform = "wecom", "long connection subscribed");
                if let Some(subscribed) = self.subscribed.take() {
                    let _ = subscribed.send(());
                }
            }
            Action::AuthFailed { errcode, errmsg } => {
                tracing::warn!(platform = "wecom", errcode, errmsg = %errmsg, "long connection subscribe refused");
                return Ok(Some(Outcome::AuthFailed { errcode, errmsg }));
            }
            Action::Kicked => {
                tracing::warn!(platform = "wecom", "another connection took over this bot");
                return Ok(Some(Outcome::Kicked));
            }
            Action::Inbound { req_id, callback } => {
                let taken = (self.inbound)(InboundFrame::Callback {
                    req_id: req_id.clone(),
                    callback,
                })
                .await;
                if !taken {
                    tracing::warn!(platform = "wecom", req_id = %req_id, "callback was not taken; WeCom will not resend it");
                }
            }
            Action::AckFor {
                req_id,
                errcode,
                errmsg,
                body,
            } => match self.queue.acked(&req_id) {
                Some(route) => {
                    let status = if errcode == 0 {
                        DeliveryStatus::Acked
                    } else {
                        tracing::warn!(platform = "wecom", req_id = %req_id, cmd = %route.cmd, errcode, "frame rejected");
                        DeliveryStatus::Rejected { errcode, errmsg }
                    };
                    self.report_with(route, status, body).await;
                }
                None => tracing::debug!(platform = "wecom", req_id = %req_id, errcode, "ack for no frame in flight"),
            },
            Action::Ignore => {}
        }
        Ok(None)
    }

    async fn on_timer(&mut self) -> Result<Option<Outcome>, DriverError> {
        let now = Instant::now();
        for route in self.queue.expired(now) {
            tracing::warn!(platform = "wecom", req_id = %route.req_id, cmd = %route.cmd, "no ack within 5 s");
            self.report(route, DeliveryStatus::TimedOut).await;
        }
        match self.session.tick(now) {
            Tick::Idle => Ok(None),
            Tick::Ping(ping) => {
                self.write(ping.to_text()).await?;
                Ok(None)
            }
            Tick::Dead => {
                tracing::warn!(platform = "wecom", "long connection dead: heartbeats unanswered");
                Ok(Some(Outcome::Dead))
            }
        }
    }

    async fn enqueue(&mut self, text: String) {
        let Some(route) = Route::of(&text) else {
            tracing::warn!(platform = "wecom", "dropped an outbox item that is not a frame");
            return;
        };
        if let Err(route) = self.queue.push(route, text) {
            self.report(route, DeliveryStatus::QueueFull).await;
        }
    }

    /// Writes every frame that may go now.
    async fn flush(&mut self) -> Result<(), DriverError> {
        while let Some((route, text)) = self.queue.pop_ready() {
            let now = Instant::now();
            match self.session.admit(&route, now) {
                Ok(()) => {
                    self.queue.sent(route, now);
                    self.write(text).await?;
                }
                Err(refusal) => {
                    tracing::warn!(platform = "wecom", req_id = %route.req_id, cmd = %route.cmd, %refusal, "frame not sent");
                    self.report(route, DeliveryStatus::Refused(refusal)).await;
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self, text: String) -> Result<(), DriverError> {
        self.socket
            .send(text)
            .await
            .map_err(|e| DriverError::Send(e.to_string()))
    }

    async fn report(&mut self, route: Route, status: DeliveryStatus) {
        self.report_with(route, status, None).await;
    }

    async fn report_with(&mut self, route: Route, status: DeliveryStatus, body: Option<serde_json::Value>) {
        let delivery = Delivery {
            req_id: route.req_id,
            cmd: route.cmd,
            status,
            body,
        };
        (self.inbound)(InboundFrame::Delivery(delivery)).await;
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
