//! Carries the dispatcher's answers from the store's stream buffers onto the socket.
//!
//! The dispatcher (in `imgate serve` or a Lambda) writes each answer, whole so far, into the
//! stream buffer of its message ([`crate::reply`]); the relay holding the socket polls the open
//! answers every [`super::Timing::poll_every`] and sends what is new as delta frames
//! ([`super::frames::plan`]). Only this pusher gives out `chunkId`s, one answer after another,
//! so they rise without gaps however often the dispatcher retries. A frame counts as sent only
//! once the socket took it; an answer still open when the socket ends is carried to the next
//! one and continues there as a new reply. Once the closing frame is written, the answer is
//! marked delivered ([`delivered_key`]) for the dispatcher, which waits for that mark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use imgate_core::ports::{Claim, Store};
use imgate_core::{IntegrationId, Timestamp};

use super::frames::{Progress, plan};
use crate::wire::{SendMessage, new_message_id};

/// How long the delivered mark of an answer is kept.
pub const DELIVERED_TTL: Duration = Duration::from_secs(24 * 3600);

/// The mark the pusher writes once an answer's closing frame went out.
pub fn delivered_key(stream_id: &str) -> String {
    format!("weibo:delivered:{stream_id}")
}

/// Where frames are written: the socket, or a recorder in tests.
pub trait Outlet {
    /// Writes one frame; `Err` (a description without content) when the socket did not take it.
    fn write(&mut self, frame: &SendMessage) -> impl Future<Output = Result<(), String>> + Send;
}

/// One answer on its way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    to_user_id: String,
    progress: Progress,
}

/// The open answers of one integration's socket.
pub struct Pusher {
    store: Arc<dyn Store>,
    integration_id: IntegrationId,
    answers: HashMap<String, Answer>,
}

impl Pusher {
    /// A pusher starting with the answers `carried` over from the previous socket.
    pub fn new(store: Arc<dyn Store>, integration_id: IntegrationId, carried: HashMap<String, Answer>) -> Self {
        Self {
            store,
            integration_id,
            answers: carried,
        }
    }

    /// How many answers are open.
    pub fn open_answers(&self) -> usize {
        self.answers.len()
    }

    /// Starts carrying the answer in `stream_id` to `to_user_id`, unless it is carried already
    /// or was delivered before (a message pushed again).
    pub async fn open(&mut self, stream_id: &str, to_user_id: &str) {
        if self.answers.contains_key(stream_id) {
            return;
        }
        match self.store.is_claimed(&delivered_key(stream_id), Timestamp::now()).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(platform = "weibo", integration_id = %self.integration_id, %error,
                    "the delivered mark could not be read; the answer is carried and checked again");
            }
        }
        self.answers.insert(
            stream_id.to_owned(),
            Answer {
                to_user_id: to_user_id.to_owned(),
                progress: Progress::default(),
            },
        );
    }

    /// Sends what is new in every open answer to `outlet`. Stops at the first frame the
    /// socket refused, with what was written recorded (`Err` then: the socket is gone).
    ///
    /// # Errors
    /// The socket's failure, as the outlet reported it.
    pub async fn poll(&mut self, outlet: &mut impl Outlet) -> Result<(), String> {
        let ids: Vec<String> = self.answers.keys().cloned().collect();
        for stream_id in ids {
            let state = match self
                .store
                .get_stream(&self.integration_id, &stream_id, Timestamp::now())
                .await
            {
                Ok(Some(state)) => state,
                Ok(None) => {
                    tracing::warn!(platform = "weibo", integration_id = %self.integration_id, stream_id,
                        "stream buffer expired before the answer went out; dropped");
                    self.answers.remove(&stream_id);
                    continue;
                }
                Err(error) => {
                    tracing::warn!(platform = "weibo", integration_id = %self.integration_id, %error,
                        "reading a stream buffer failed; tried again on the next poll");
                    continue;
                }
            };
            let Some(answer) = self.answers.get_mut(&stream_id) else {
                continue;
            };
            let now_ms = Timestamp::now().as_millis();
            let step = plan(
                &answer.progress,
                &answer.to_user_id,
                &state.content,
                state.finished,
                || new_message_id(now_ms),
            );
            for (frame, after) in step.frames {
                outlet.write(&frame).await?;
                answer.progress = after;
            }
            answer.progress = step.after;
            if answer.progress.done {
                self.settle(&stream_id).await;
            }
        }
        Ok(())
    }

    /// Marks a closed answer delivered and forgets it (kept until the mark is written).
    async fn settle(&mut self, stream_id: &str) {
        match self
            .store
            .claim(&delivered_key(stream_id), Timestamp::now(), DELIVERED_TTL)
            .await
        {
            Ok(Claim::Claimed | Claim::Duplicate) => {
                self.answers.remove(stream_id);
            }
            Err(error) => {
                tracing::warn!(platform = "weibo", integration_id = %self.integration_id, %error,
                    "the delivered mark could not be written; tried again on the next poll");
            }
        }
    }

    /// The open answers for the next socket: what was sent stays sent, the rest goes out there
    /// as a new reply.
    pub fn into_carry(self) -> HashMap<String, Answer> {
        self.answers
            .into_iter()
            .map(|(id, answer)| {
                (
                    id,
                    Answer {
                        progress: answer.progress.on_new_socket(),
                        ..answer
                    },
                )
            })
            .collect()
    }
}
