//! Carries the dispatcher's answers from the store's stream buffers onto the long connection.
//!
//! The dispatcher (in `imgate serve` or a Lambda) answers a long-connection message exactly as
//! a callback-mode one: [`crate::reply::WecomReplier`] writes the cumulative answer
//! into the stream buffer with a growing version. The relay that holds the connection runs one
//! pusher per connection: for every open answer it reads the buffer every [`POLL_EVERY`] and,
//! when nothing of that answer is waiting for WeCom's ack, sends one `aibot_respond_msg` stream
//! frame with the newest content. So frames of one answer go out in order, never twice for one
//! version, and a slow ack coalesces intermediate versions instead of queueing them. The frame
//! that carries `finish` also carries the buffer's card, if any (`stream_with_template_card`:
//! one card per message, §2.4).
//!
//! A reply's req_id is valid only on the connection its callback arrived on (846605 after a
//! reconnect, §3.1), so answers still open when a connection ends are carried to the next one
//! ([`Pusher::into_carry`]) and finished there with one proactive `aibot_send_msg` to the chat
//! (what the official OpenClaw plugin does when a stream can no longer be updated, §3.7) —
//! unless WeCom delivers the callback again on the new connection, which gives a fresh req_id
//! to continue the same stream on ([`Command::Again`]). A final frame whose fate is unknown
//! (written, not acked, connection gone) is not sent again: nothing is shown twice.
//!
//! On the long connection the stream buffer holds the whole answer, however long: the pusher
//! cuts it to what WeCom takes. A stream bubble holds 20,480 bytes, so an answer that outgrows
//! it finishes the stream with its first part and a continuation mark, and the rest follows,
//! once the answer is complete, as `aibot_send_msg` messages of at most 20,480 bytes each, one
//! after another's ack, in order (callback mode has `response_url` for this; the long
//! connection has proactive messages).
//!
//! An answer whose finished buffer lists images ([`crate::reply::images`]) goes on once its
//! last text frame is acked: each image is uploaded over the socket and sent as an `image`
//! message ([`super::uploads`]), one frame at a time like the text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use imgate_core::ports::{Store, StreamState};
use imgate_core::{IntegrationId, Timestamp};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use imgate_channel_kit::text::split;

use super::driver::{Delivery, DeliveryStatus};
use super::frame::{self, Outgoing, cmd};
use super::uploads::{Next, Uploads};
use crate::format::MAX_CONTENT_BYTES;
use crate::reply::{images, payload};

/// How often open answers are read from the store.
pub const POLL_EVERY: Duration = Duration::from_millis(400);
/// Ends a stream whose answer continues in proactive messages.
pub const CONTINUED: &str = "\n\n…";

/// What the connection tells its pusher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A new message was enqueued: show its stream on `req_id` at once (the "thinking" frame).
    Open {
        /// The callback's req_id.
        req_id: String,
        /// The stream buffer the dispatcher writes.
        stream_id: String,
        /// Where a proactive message goes if the stream cannot be finished (userid or chatid).
        chatid: String,
    },
    /// A callback seen before arrived again with a new req_id: continue its stream there if it
    /// is still open.
    Again {
        /// The new req_id.
        req_id: String,
        /// The stream buffer.
        stream_id: String,
        /// As for [`Command::Open`].
        chatid: String,
    },
    /// What became of a frame this pusher sent.
    Delivered(Delivery),
}

/// How an open answer reaches WeCom.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// Stream frames with the callback's req_id, on this connection.
    Stream { req_id: String },
    /// Once the answer is finished, what `shown` does not hold goes out as `aibot_send_msg`
    /// messages, part `next` next. `shown` is what a finished stream already shows (empty when
    /// the stream could not be finished: then the whole answer is pushed).
    Push { shown: String, next: usize },
    /// The text is out; the answer's images follow ([`Answer::uploads`]).
    Images,
}

impl Route {
    /// The whole answer as proactive messages.
    fn push_all() -> Self {
        Self::Push {
            shown: String::new(),
            next: 0,
        }
    }

    /// Nothing of the answer has been pushed yet, and no stream shows part of it.
    fn nothing_pushed(&self) -> bool {
        matches!(self, Self::Push { shown, next: 0 } if shown.is_empty())
    }
}

/// The parts of `content` past `shown`, each within WeCom's message limit.
fn rest_parts(content: &str, shown: &str) -> Vec<String> {
    let rest = content.strip_prefix(shown).unwrap_or(content).trim_start();
    if rest.trim().is_empty() {
        return Vec::new();
    }
    split(rest, MAX_CONTENT_BYTES)
}

/// One answer on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    stream_id: String,
    chatid: String,
    route: Route,
    /// The stream version last sent.
    sent_version: u64,
    /// The req_id of this answer's frame waiting for its ack, if one is.
    in_flight: Option<String>,
    /// The frame in flight (or the last one sent) was the final one.
    final_sent: bool,
    /// The images that follow the text, once its final frame is acked.
    uploads: Option<Uploads>,
}

impl Answer {
    /// An answer about to stream on `req_id`, nothing sent yet.
    fn streaming(stream_id: &str, chatid: String, req_id: String) -> Self {
        Self {
            stream_id: stream_id.to_owned(),
            chatid,
            route: Route::Stream { req_id },
            sent_version: 0,
            in_flight: None,
            final_sent: false,
            uploads: None,
        }
    }
}

/// The pusher of one connection.
pub struct Pusher {
    store: Arc<dyn Store>,
    integration_id: IntegrationId,
    outbox: mpsc::Sender<String>,
    /// Open answers by stream id.
    answers: HashMap<String, Answer>,
}

impl Pusher {
    /// A pusher writing frames to `outbox`, starting with the answers `carried` over from the
    /// previous connection of the same integration.
    pub fn new(
        store: Arc<dyn Store>,
        integration_id: IntegrationId,
        outbox: mpsc::Sender<String>,
        carried: HashMap<String, Answer>,
    ) -> Self {
        Self {
            store,
            integration_id,
            outbox,
            answers: carried,
        }
    }

    /// How many answers are open.
    pub fn open_answers(&self) -> usize {
        self.answers.len()
    }

    /// Serves `commands` and polls the open answers until the future is dropped (with the
    /// connection). Dropping it at any await leaves the state consistent: a frame counts as sent
    /// only once it is in the outbox. Commands come boxed: the channel allocates its first block
    /// of slots up front, and a relay holds thousands of mostly idle connections.
    pub async fn run(&mut self, commands: &mut mpsc::UnboundedReceiver<Box<Command>>) {
        // Only a connection with open answers has a timer: idle ones cost no wakeups.
        let mut tick: Option<Interval> = None;
        let mut commands_open = true;
        loop {
            if self.answers.is_empty() {
                tick = None;
                if !commands_open {
                    std::future::pending::<()>().await;
                }
            } else if tick.is_none() {
                let mut interval = tokio::time::interval_at(Instant::now() + POLL_EVERY, POLL_EVERY);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                tick = Some(interval);
            }
            tokio::select! {
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.on_command(*command).await,
                    None => commands_open = false,
                },
                () = next_tick(&mut tick) => self.poll().await,
            }
        }
    }

    /// The answers to carry to the next connection: all become proactive pushes (their req_ids
    /// die with this connection), except those whose final frame may already have been shown.
    pub fn into_carry(self) -> HashMap<String, Answer> {
        let integration_id = self.integration_id;
        self.answers
            .into_iter()
            .filter_map(|(id, mut answer)| {
                if answer.final_sent {
                    tracing::warn!(platform = "wecom", integration_id = %integration_id, stream_id = %id,
                        "the final frame's fate is unknown after the connection ended; not sent again");
                    return None;
                }
                match &mut answer.route {
                    Route::Stream { .. } => answer.route = Route::push_all(),
                    Route::Images => {
                        if let Some(uploads) = &mut answer.uploads {
                            uploads.restart();
                        }
                    }
                    Route::Push { .. } => {}
                }
                answer.in_flight = None;
                Some((id, answer))
            })
            .collect()
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Open {
                req_id,
                stream_id,
                chatid,
            } => {
                self.answers
                    .insert(stream_id.clone(), Answer::streaming(&stream_id, chatid, req_id));
                self.push(&stream_id).await;
            }
            Command::Again {
                req_id,
                stream_id,
                chatid,
            } => self.again(req_id, stream_id, chatid).await,
            Command::Delivered(delivery) => self.delivered(delivery),
        }
    }

    /// A redelivered callback: a carried answer, or one this relay does not know yet (taken over
    /// from another relay), continues on the new req_id; a finished one is left alone.
    async fn again(&mut self, req_id: String, stream_id: String, chatid: String) {
        match self.answers.get_mut(&stream_id) {
            Some(answer) if answer.route.nothing_pushed() && answer.in_flight.is_none() => {
                answer.route = Route::Stream { req_id };
                answer.sent_version = 0;
            }
            Some(_) => return, // already streaming here, or its push is on its way
            None => match self.read(&stream_id).await {
                Some(state) if !state.finished => {
                    self.answers
                        .insert(stream_id.clone(), Answer::streaming(&stream_id, chatid, req_id));
                }
                _ => return,
            },
        }
        self.push(&stream_id).await;
    }

    fn delivered(&mut self, delivery: Delivery) {
        let Some(answer) = self
            .answers
            .values_mut()
            .find(|a| a.in_flight.as_deref() == Some(delivery.req_id.as_str()))
        else {
            return; // a welcome, a card update, or an answer already settled
        };
        answer.in_flight = None;
        let id = answer.stream_id.clone();
        if let (Route::Images, Some(uploads)) = (&answer.route, &mut answer.uploads) {
            match delivery.status {
                DeliveryStatus::Acked => uploads.acked(delivery.body.as_ref()),
                DeliveryStatus::TimedOut => uploads.timed_out(),
                DeliveryStatus::Rejected { .. } | DeliveryStatus::Refused(_) => {
                    tracing::warn!(platform = "wecom", integration_id = %self.integration_id, stream_id = %id,
                        cmd = %delivery.cmd, status = ?delivery.status, "an image of the answer was refused; its link follows");
                    uploads.failed();
                }
                DeliveryStatus::QueueFull | DeliveryStatus::Cancelled => {}
            }
            if uploads.done() {
                self.answers.remove(&id);
            }
            return;
        }
        match delivery.status {
            // A frame without its ack within 5 s was written: counted as shown, never repeated.
            DeliveryStatus::Acked | DeliveryStatus::TimedOut => {
                if answer.final_sent && answer.uploads.is_some() {
                    answer.route = Route::Images;
                    answer.final_sent = false;
                } else if answer.final_sent {
                    self.answers.remove(&id);
                } else if let (Route::Push { next, .. }, true) = (&mut answer.route, delivery.cmd == cmd::SEND_MSG) {
                    *next += 1;
                }
            }
            DeliveryStatus::Rejected { .. } | DeliveryStatus::Refused(_) if delivery.cmd == cmd::RESPOND_MSG => {
                tracing::warn!(platform = "wecom", integration_id = %self.integration_id, stream_id = %id,
                    status = ?delivery.status, "stream can no longer be updated; the answer follows as a new message");
                answer.route = Route::push_all();
                answer.final_sent = false;
            }
            DeliveryStatus::Rejected { .. } | DeliveryStatus::Refused(_) => {
                tracing::error!(platform = "wecom", integration_id = %self.integration_id, stream_id = %id,
                    status = ?delivery.status, "WeCom refused the answer's proactive message; it is dropped");
                self.answers.remove(&id);
            }
            // Not written: tried again on the next poll (on this connection or the next).
            DeliveryStatus::QueueFull | DeliveryStatus::Cancelled => answer.final_sent = false,
        }
    }

    async fn poll(&mut self) {
        let waiting: Vec<String> = self
            .answers
            .values()
            .filter(|a| a.in_flight.is_none())
            .map(|a| a.stream_id.clone())
            .collect();
        for id in waiting {
            self.push(&id).await;
        }
    }

    /// Sends the next frame of one answer, if it has news and nothing in flight.
    async fn push(&mut self, stream_id: &str) {
        if self.answers.get(stream_id).is_none_or(|a| a.in_flight.is_some()) {
            return;
        }
        let Some(state) = self.read(stream_id).await else {
            return;
        };
        let Some(answer) = self.answers.get(stream_id) else {
            return;
        };
        // What the frame leaves behind: the route after it, and whether it ends the answer.
        let (frame, route, last) = match &answer.route {
            Route::Stream { req_id } if state.version > answer.sent_version => {
                if state.content.len() <= MAX_CONTENT_BYTES {
                    let frame = payload::stream(&state.id, &state.content, state.finished, state.card.as_ref());
                    (
                        Outgoing::new(cmd::RESPOND_MSG, req_id.clone(), Some(frame)),
                        answer.route.clone(),
                        state.finished,
                    )
                } else {
                    // The bubble is full: finished with the first part, the rest is pushed.
                    let first = split(&state.content, MAX_CONTENT_BYTES - CONTINUED.len())
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    let frame = payload::stream(&state.id, &format!("{first}{CONTINUED}"), true, None);
                    (
                        Outgoing::new(cmd::RESPOND_MSG, req_id.clone(), Some(frame)),
                        Route::Push { shown: first, next: 0 },
                        false,
                    )
                }
            }
            Route::Push { shown, next } if state.finished => {
                let parts = rest_parts(&state.content, shown);
                let Some(part) = parts.get(*next) else {
                    self.answers.remove(stream_id);
                    return;
                };
                let frame = frame::send_markdown(&frame::new_req_id(cmd::SEND_MSG), &answer.chatid, part);
                (frame, answer.route.clone(), *next + 1 == parts.len())
            }
            Route::Images => {
                let Some(uploads) = answer.uploads.as_ref() else {
                    self.answers.remove(stream_id);
                    return;
                };
                match uploads
                    .frame(self.store.as_ref(), &self.integration_id, stream_id, &answer.chatid)
                    .await
                {
                    Next::Frame(frame) => (frame, Route::Images, false),
                    Next::Missing => {
                        tracing::warn!(platform = "wecom", integration_id = %self.integration_id, stream_id,
                            "an image of the answer expired before it was sent; its link follows");
                        if let Some(uploads) = self.answers.get_mut(stream_id).and_then(|a| a.uploads.as_mut()) {
                            uploads.failed();
                        }
                        return;
                    }
                    Next::Wait => return,
                    Next::Done => {
                        self.answers.remove(stream_id);
                        return;
                    }
                }
            }
            Route::Stream { .. } | Route::Push { .. } => return,
        };
        if self.outbox.send(frame.to_text()).await.is_err() {
            return; // the connection is gone; the answer is carried
        }
        if let Some(answer) = self.answers.get_mut(stream_id) {
            answer.in_flight = Some(frame.req_id().to_owned());
            answer.sent_version = state.version;
            answer.final_sent = last;
            answer.route = route;
            if last && answer.uploads.is_none() {
                answer.uploads = Uploads::new(images::manifest(&state));
            }
        }
    }

    /// The answer's stream buffer; an answer whose buffer is gone (expired) is dropped.
    async fn read(&mut self, stream_id: &str) -> Option<StreamState> {
        match self
            .store
            .get_stream(&self.integration_id, stream_id, Timestamp::now())
            .await
        {
            Ok(Some(state)) => Some(state),
            Ok(None) => {
                if self.answers.remove(stream_id).is_some() {
                    tracing::warn!(platform = "wecom", integration_id = %self.integration_id, stream_id,
                        "stream buffer expired before the answer finished; dropped");
                }
                None
            }
            Err(error) => {
                tracing::warn!(platform = "wecom", integration_id = %self.integration_id, %error,
                    "reading a stream buffer failed; tried again on the next poll");
                None
            }
        }
    }
}

/// The next tick of `tick`, never without one.
async fn next_tick(tick: &mut Option<Interval>) {
    match tick {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
#[path = "pusher_tests.rs"]
mod tests;
