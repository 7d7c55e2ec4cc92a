//! The WeCom long connection as a relay [`imgate_core::relay::Connector`]: one WebSocket per
//! bot, subscribed with its bot id and secret, callbacks into the shared ingress, answers out
//! through the [`Pusher`].
//!
//! What each callback becomes:
//! - a message: its stream buffer is created (the id of [`normalize::stream_id_for`], as in
//!   callback mode) with the "thinking" text, the event is deduped and enqueued with that
//!   stream id and the callback's req_id, and only then the pusher shows the stream; the
//!   dispatcher, wherever it runs, answers through [`crate::reply::WecomReplier`]
//!   into the buffer and the pusher carries it out;
//! - `enter_chat`: a welcome (`aibot_respond_welcome_msg`, within WeCom's 5 s) at once, as the
//!   webhook answers it, nothing enqueued;
//! - `template_card_event` and `feedback_event`: enqueued; the "new conversation" button also
//!   gets its card update (`aibot_respond_update_msg`, within 5 s);
//! - `disconnected_event` (another connection took the bot over): [`LinkEnd::Kicked`], never
//!   fought (§3.5).
//!
//! WeCom has no client ack for callbacks (§3.6) and documents no redelivery. When a callback
//! cannot be enqueued (queue or store down) it is logged as failed, and the connection is
//! closed and reopened with backoff instead of going on as if nothing happened: if WeCom
//! delivers unconfirmed pushes again on the new connection, the message is processed then
//! (its dedupe claim was given back), and once only; if it does not, the event log says which
//! message was lost. Malformed frames are logged without their content and skipped.

use std::collections::HashMap;
use std::future::pending;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::credentials::Credentials;
use imgate_core::event::InboundEvent;
use imgate_core::event_log::EventKind;
use imgate_core::ingress::{Accepted, IngressError};
use imgate_core::ports::Store;
use imgate_core::relay::{self, Link, LinkEnd};
use imgate_core::{IntegrationId, Timestamp};
use tokio::sync::{Notify, mpsc, oneshot};

use super::driver::{DriverError, InboundFrame, Outcome, run_reporting};
use super::frame;
use super::pusher::{Answer, Command, Pusher};
use super::session::Session;
use super::socket;
use crate::normalize;
use crate::reply::payload;
use crate::webhook::{WELCOME, thinking_stream};
use crate::wire::{BotCallback, BotEvent, BotEventKind};

/// How long the TCP, TLS and WebSocket handshakes may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Frames waiting for the driver.
const OUTBOX_CAPACITY: usize = 64;

/// Runs WeCom smart bots over the long connection. One instance serves every WeCom
/// long-connection integration of a relay.
pub struct Connector {
    store: Arc<dyn Store>,
    url: String,
    /// Answers still open when an integration's last connection ended, for its next one.
    carried: Mutex<HashMap<IntegrationId, HashMap<String, Answer>>>,
}

impl Connector {
    /// A connector to `url` (normally [`socket::DEFAULT_URL`]; private deployments and tests
    /// use their own) reading and creating stream buffers in `store`.
    pub fn new(store: Arc<dyn Store>, url: impl Into<String>) -> Self {
        Self {
            store,
            url: url.into(),
            carried: Mutex::default(),
        }
    }

    fn carried(&self) -> MutexGuard<'_, HashMap<IntegrationId, HashMap<String, Answer>>> {
        // A plain map that no panic can leave half-written.
        self.carried.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl relay::Connector for Connector {
    async fn run(&self, link: Link) -> LinkEnd {
        let Credentials::WecomLongConnection(credentials) = link.credentials() else {
            return LinkEnd::AuthFailed("the credentials are not those of a WeCom long-connection bot".into());
        };
        let session = Session::new(credentials.bot_id.clone(), credentials.secret.clone());
        let opened = tokio::select! {
            opened = tokio::time::timeout(CONNECT_TIMEOUT, socket::connect(&self.url)) => opened,
            () = link.stopping() => return LinkEnd::Stopped,
        };
        let socket = match opened {
            Ok(Ok(socket)) => socket,
            Ok(Err(error)) => return closed(&link, &error.to_string()).await,
            Err(_) => return closed(&link, "WebSocket connect timed out").await,
        };
        let id = link.integration_id().clone();
        let (outbox, mut outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let (commands, mut commands_rx) = mpsc::unbounded_channel();
        let carried = self.carried().remove(&id).unwrap_or_default();
        let mut pusher = Pusher::new(self.store.clone(), id.clone(), outbox.clone(), carried);
        let handler = Handler {
            link: &link,
            store: self.store.as_ref(),
            commands,
            outbox,
            failed: Notify::new(),
        };
        let end = {
            let (subscribed, subscribed_rx) = oneshot::channel();
            let driver = run_reporting(
                socket,
                session,
                |frame| handler.on_frame(frame),
                &mut outbox_rx,
                Some(subscribed),
            );
            let report_connected = async {
                if subscribed_rx.await.is_ok() {
                    link.connected().await;
                }
                pending::<()>().await;
            };
            tokio::select! {
                outcome = driver => link_end(&link, outcome).await,
                () = pusher.run(&mut commands_rx) => LinkEnd::Closed,
                () = report_connected => LinkEnd::Closed,
                () = handler.failed.notified() => LinkEnd::Closed,
                () = link.stopping() => LinkEnd::Stopped,
            }
        };
        let carry = pusher.into_carry();
        if !carry.is_empty() {
            tracing::info!(platform = "wecom", integration_id = %id, open = carry.len(),
                "answers still open are finished on the next connection");
            self.carried().insert(id, carry);
        }
        end
    }
}

/// Maps how the driver ended to what the supervisor does next.
async fn link_end(link: &Link, outcome: Result<Outcome, DriverError>) -> LinkEnd {
    match outcome {
        Ok(Outcome::AuthFailed { errcode, errmsg }) => {
            LinkEnd::AuthFailed(format!("WeCom refused the subscribe: errcode {errcode} {errmsg}"))
        }
        Ok(Outcome::Kicked) => LinkEnd::Kicked,
        Ok(Outcome::Dead) => closed(link, "heartbeats went unanswered; the link is dead").await,
        Ok(Outcome::Closed | Outcome::Stopped) => closed(link, "WeCom closed the connection").await,
        Err(error) => closed(link, &error.to_string()).await,
    }
}

async fn closed(link: &Link, why: &str) -> LinkEnd {
    link.error(why).await;
    LinkEnd::Closed
}

/// Handles what the driver receives, in order.
struct Handler<'a> {
    link: &'a Link,
    store: &'a dyn Store,
    commands: mpsc::UnboundedSender<Box<Command>>,
    outbox: mpsc::Sender<String>,
    /// Notified when a callback could not be taken: the connection is then reopened.
    failed: Notify,
}

impl Handler<'_> {
    /// Returns whether the frame was taken (callbacks: durably enqueued or a known duplicate).
    async fn on_frame(&self, frame: InboundFrame) -> bool {
        match frame {
            InboundFrame::Delivery(delivery) => {
                self.command(Command::Delivered(delivery));
                true
            }
            InboundFrame::Callback { req_id, callback } => {
                self.link.event_received().await;
                let taken = match &*callback {
                    BotCallback::Message(message) => self.on_message(&req_id, &callback, &message.msgid).await,
                    BotCallback::Event(event) => self.on_event(&req_id, &callback, event).await,
                    BotCallback::StreamRefresh { .. } => Ok(()),
                };
                match taken {
                    Ok(()) => true,
                    Err(why) => {
                        self.link.error(&why).await;
                        self.failed.notify_one();
                        false
                    }
                }
            }
        }
    }

    async fn on_message(&self, req_id: &str, callback: &BotCallback, msgid: &str) -> Result<(), String> {
        let id = self.link.integration_id();
        let now = Timestamp::now();
        let Some(event) = super::inbound_event(id, req_id, callback, now) else {
            return Ok(());
        };
        let stream_id = normalize::stream_id_for(id, msgid);
        let placeholder = thinking_stream(id, &stream_id, now);
        if let Err(error) = self.store.create_stream(&placeholder).await {
            tracing::error!(platform = "wecom", integration_id = %id, event_id = msgid, %error, "creating the stream buffer failed");
            return Err(format!(
                "message {msgid} not accepted: the store is unavailable; reconnecting"
            ));
        }
        let ingress = self.link.ingress();
        ingress
            .log(
                id,
                EventKind::Received,
                Some(msgid),
                "message callback (long connection)",
            )
            .await;
        // The conversation id is the group chatid in groups and the userid in single chats:
        // exactly the `chatid` of `aibot_send_msg`.
        let chatid = event.conversation.id.clone();
        let (req_id, stream_id) = (req_id.to_owned(), stream_id);
        match self.accept(event, msgid).await? {
            Accepted::Enqueued => self.command(Command::Open {
                req_id,
                stream_id,
                chatid,
            }),
            Accepted::Duplicate => self.command(Command::Again {
                req_id,
                stream_id,
                chatid,
            }),
        }
        Ok(())
    }

    async fn on_event(&self, req_id: &str, callback: &BotCallback, event: &BotEvent) -> Result<(), String> {
        let id = self.link.integration_id();
        let ingress = self.link.ingress();
        match &event.kind {
            BotEventKind::EnterChat => {
                ingress
                    .log(
                        id,
                        EventKind::Received,
                        Some(&event.msgid),
                        "enter_chat event; welcome sent",
                    )
                    .await;
                self.send(frame::respond_welcome(req_id, WELCOME));
            }
            BotEventKind::TemplateCard(card) => {
                self.enqueue_event(req_id, callback, &event.msgid, "card event (long connection)")
                    .await?;
                if card.event_key == payload::NEW_SESSION_KEY {
                    let update = payload::update_card_done(&card.task_id, Some(event.from.userid.as_str()));
                    self.send(frame::respond_update(req_id, &update));
                }
            }
            BotEventKind::Feedback(_) => {
                self.enqueue_event(req_id, callback, &event.msgid, "feedback event (long connection)")
                    .await?;
            }
            BotEventKind::Disconnected | BotEventKind::Unknown { .. } => {}
        }
        Ok(())
    }

    /// Logs and enqueues an event for the dispatcher.
    async fn enqueue_event(
        &self,
        req_id: &str,
        callback: &BotCallback,
        msgid: &str,
        detail: &str,
    ) -> Result<(), String> {
        let id = self.link.integration_id();
        self.link
            .ingress()
            .log(id, EventKind::Received, Some(msgid), detail)
            .await;
        if let Some(normalized) = super::inbound_event(id, req_id, callback, Timestamp::now()) {
            self.accept(normalized, msgid).await?;
        }
        Ok(())
    }

    async fn accept(&self, event: InboundEvent, event_id: &str) -> Result<Accepted, String> {
        self.link.ingress().accept(event).await.map_err(|error| {
            let what = match error {
                IngressError::Store(_) => "the dedupe store is unavailable",
                IngressError::Queue(_) => "the queue is unavailable",
            };
            format!("callback {event_id} not accepted: {what}; reconnecting so WeCom can deliver it again")
        })
    }

    fn command(&self, command: Command) {
        // The pusher lives as long as the connection; a send can only fail while both end.
        let _ = self.commands.send(Box::new(command));
    }

    /// Queues a quick reply (welcome, card update) without waiting: the driver is the reader.
    fn send(&self, frame: frame::Outgoing) {
        if self.outbox.try_send(frame.to_text()).is_err() {
            tracing::warn!(platform = "wecom", integration_id = %self.link.integration_id(), cmd = frame.cmd(),
                "outbox full; quick reply dropped");
        }
    }
}
