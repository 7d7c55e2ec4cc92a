//! One open WebSocket (§3.6, §3.7): pings, pongs and their config, the silence watchdog, and
//! data frames into the ingress with the ACK sent only once the event is safe.

use std::time::Instant as StdInstant;

use futures_util::{SinkExt, StreamExt};
use imgate_core::Timestamp;
use imgate_core::credentials::Lark;
use imgate_core::event::InboundKind;
use imgate_core::relay::Link;
use prost::Message as _;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use super::config::{ClientConfig, ConfigUpdate};
use super::fragments::{Fragment, Reassembler};
use super::frame::{self, Frame, METHOD_CONTROL, METHOD_DATA, types};
use super::socket::{self, Socket};
use super::{Connector, IGNORED, UNREADABLE, log_unqueued};
use crate::{normalize, wire};

/// How a socket ended.
pub(super) enum Ended {
    /// The run was told to stop; the socket was closed.
    Stopped,
    /// The connection is gone (closed, failed, or silent too long); the text says why.
    Lost(String),
}

/// The state of one socket.
pub(super) struct Session<'a> {
    pub(super) connector: &'a Connector,
    pub(super) link: &'a Link,
    pub(super) app: &'a Lark,
    /// The run's config: pongs update it, and the reconnect loop reads it afterwards.
    pub(super) config: &'a mut ClientConfig,
    pub(super) service_id: i32,
}

/// What one data frame needs sent back.
enum Answer {
    /// The ACK with this response payload.
    Ack(Vec<u8>),
    /// Nothing (a card frame, a pending fragment, an event that could not be queued).
    None,
}

/// Per-socket state the frame handlers share.
struct State {
    bot_open_id: Option<String>,
    fragments: Reassembler,
    text_seen: bool,
    last_ping: Instant,
    next_ping: Instant,
}

impl Session<'_> {
    /// Serves `socket` until it ends or the run is told to stop.
    pub(super) async fn serve(mut self, mut socket: Socket) -> Ended {
        let settings = &self.connector.settings;
        let now = Instant::now();
        if let Err(error) = self.send(&mut socket, &Frame::ping(self.service_id)).await {
            return Ended::Lost(error);
        }
        let lookup = tokio::time::timeout(settings.identity_timeout, self.connector.identity.bot_open_id(self.app));
        let bot_open_id = tokio::select! {
            () = self.link.stopping() => return self.close(socket).await,
            found = lookup => found.unwrap_or_default(),
        };
        if bot_open_id.is_none() {
            tracing::warn!(platform = "lark", integration_id = %self.link.integration_id(), "bot open_id unknown; group messages count as mentions");
        }
        let mut state = State {
            bot_open_id,
            fragments: Reassembler::new(settings.fragments),
            text_seen: false,
            last_ping: now,
            next_ping: now + self.config.ping_interval,
        };
        // The watchdog starts once the socket is read.
        let mut last_heard = Instant::now();
        loop {
            let silence = self.config.silence_limit(settings.silence_grace);
            let message = tokio::select! {
                biased;
                () = self.link.stopping() => return self.close(socket).await,
                () = sleep_until(state.next_ping) => {
                    if let Err(error) = self.send(&mut socket, &Frame::ping(self.service_id)).await {
                        return Ended::Lost(error);
                    }
                    state.last_ping = Instant::now();
                    state.next_ping = state.last_ping + self.config.ping_interval;
                    continue;
                }
                // Before the watchdog: frames that queued up while an event was handled count.
                message = socket.next() => message,
                () = sleep_until(last_heard + silence) => {
                    return Ended::Lost(format!("nothing from Lark for {} s: the connection is dead", silence.as_secs()));
                }
            };
            last_heard = Instant::now();
            let bytes = match message {
                None | Some(Ok(Message::Close(_))) => return Ended::Lost("Lark closed the connection".to_owned()),
                Some(Err(error)) => return Ended::Lost(socket::describe(&error)),
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Text(_))) => {
                    if !state.text_seen {
                        state.text_seen = true;
                        tracing::warn!(platform = "lark", integration_id = %self.link.integration_id(), "text frames ignored; Lark speaks binary frames only");
                    }
                    continue;
                }
                // Pings are answered by tungstenite; any of these proves the link alive.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
            let frame = match Frame::decode_from(&bytes) {
                Ok(frame) => frame,
                Err(error) => {
                    tracing::warn!(platform = "lark", integration_id = %self.link.integration_id(), %error, "unreadable frame ignored");
                    continue;
                }
            };
            let answer = match frame.method {
                METHOD_CONTROL => {
                    self.control(&frame, &mut state);
                    continue;
                }
                METHOD_DATA => self.data(&frame, &mut state).await,
                other => {
                    tracing::debug!(platform = "lark", integration_id = %self.link.integration_id(), method = other, "frame of an unknown method ignored");
                    continue;
                }
            };
            match answer {
                Some((Answer::Ack(response), started)) => {
                    let ack = frame.ack(started.elapsed(), response);
                    if let Err(error) = self.send(&mut socket, &ack).await {
                        return Ended::Lost(error);
                    }
                }
                Some((Answer::None, _)) => {}
                None => return self.close(socket).await,
            }
        }
    }

    /// A control frame: a pong may carry a new config, which applies at once; the server's own
    /// pings need no answer (the SDKs send none).
    fn control(&mut self, frame: &Frame, state: &mut State) {
        if frame.kind() != types::PONG || frame.payload().is_empty() {
            return;
        }
        match ConfigUpdate::parse(frame.payload()) {
            Ok(update) => {
                self.config.apply(&update);
                state.next_ping = state.last_ping + self.config.ping_interval;
                tracing::debug!(platform = "lark", integration_id = %self.link.integration_id(), ping_interval_s = self.config.ping_interval.as_secs(), "client config from pong");
            }
            Err(error) => {
                tracing::warn!(platform = "lark", integration_id = %self.link.integration_id(), %error, "unreadable client config in a pong ignored");
            }
        }
    }

    /// A data frame: reassembled, then handled by type. `None` when the run was told to stop
    /// meanwhile; otherwise what to send and when handling started (for `biz_rt`).
    async fn data(&self, frame: &Frame, state: &mut State) -> Option<(Answer, StdInstant)> {
        let started = StdInstant::now();
        let payload = match frame.sum() {
            sum if sum > 1 => {
                let message_id = frame.message_id();
                match state
                    .fragments
                    .add(message_id, sum, frame.seq(), frame.payload().to_vec(), started)
                {
                    Fragment::Complete(payload) => payload,
                    Fragment::Pending => return Some((Answer::None, started)),
                    Fragment::Refused(why) => {
                        tracing::warn!(platform = "lark", integration_id = %self.link.integration_id(), message_id, trace_id = frame.trace_id(), why, "fragment dropped");
                        return Some((Answer::None, started));
                    }
                }
            }
            _ => frame.payload().to_vec(),
        };
        match frame.kind() {
            types::EVENT => {
                self.link.event_received().await;
                let answer = self.event(&payload, state.bot_open_id.as_deref()).await?;
                Some((answer, started))
            }
            // The SDKs drop card frames without an ACK; card clicks arrive as events.
            types::CARD => {
                tracing::debug!(platform = "lark", integration_id = %self.link.integration_id(), message_id = frame.message_id(), "card frame ignored");
                Some((Answer::None, started))
            }
            other => {
                tracing::debug!(platform = "lark", integration_id = %self.link.integration_id(), kind = other, "data frame of an unknown type ignored");
                Some((Answer::None, started))
            }
        }
    }

    /// An event: queued when it is for the agent (ACKed only after the ingress accepted it),
    /// otherwise ACKed and written to the event log with the reason. `None` when the run was
    /// told to stop while the ingress worked.
    async fn event(&self, payload: &[u8], bot_open_id: Option<&str>) -> Option<Answer> {
        let link = self.link;
        let envelope = match wire::parse_plain(payload) {
            Ok(envelope) => envelope,
            Err(error) => {
                // Unreadable now is unreadable on every re-push: consume it, say so.
                log_unqueued(
                    link,
                    UNREADABLE,
                    None,
                    &format!("unreadable event acknowledged and dropped: {error}"),
                )
                .await;
                return Some(Answer::Ack(frame::ok_response()));
            }
        };
        let event_type: String = envelope.header.event_type.chars().take(100).collect();
        let event_id = envelope.header.event_id.as_str();
        let Some(inbound) = normalize::envelope(link.integration_id(), &envelope, bot_open_id, Timestamp::now()) else {
            let why = match envelope.event {
                wire::Event::CardAction(_) => format!("{event_type} without its chat, message or user: not queued"),
                _ => format!("{event_type} is not handled: acknowledged, not queued"),
            };
            log_unqueued(link, IGNORED, Some(event_id), &why).await;
            return Some(Answer::Ack(frame::ok_response()));
        };
        let click = matches!(inbound.kind, InboundKind::CardAction { .. });
        let detail = format!("{event_type} (long connection)");
        let accepted = tokio::select! {
            () = link.stopping() => return None,
            accepted = link.ingress().receive(inbound, &detail) => accepted,
        };
        match accepted {
            Ok(_) => Some(Answer::Ack(match (&self.connector.settings.click_toast, click) {
                (Some(toast), true) => frame::toast_response(toast),
                _ => frame::ok_response(),
            })),
            Err(error) => {
                let text = format!("{error}: event {event_id} left unacknowledged; Lark pushes it again");
                tracing::warn!(platform = "lark", integration_id = %link.integration_id(), event_id, %error, "event not queued; no ACK");
                link.error(&text).await;
                Some(Answer::None)
            }
        }
    }

    /// Encodes and sends one frame; `Err` describes a failed socket.
    async fn send(&self, socket: &mut Socket, frame: &Frame) -> Result<(), String> {
        socket
            .send(Message::Binary(frame.encode_to_vec().into()))
            .await
            .map_err(|e| socket::describe(&e))
    }

    /// Closes the socket politely (bounded) because the run is stopping.
    async fn close(&self, mut socket: Socket) -> Ended {
        let _ = tokio::time::timeout(self.connector.settings.close_timeout, socket.close(None)).await;
        Ended::Stopped
    }
}
