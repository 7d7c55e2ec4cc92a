//! Answering on Weibo: the dispatcher's replier.
//!
//! Replies travel on the relay's socket (§6: there is no HTTP fallback for text), while the
//! dispatcher may run elsewhere (a Lambda on AWS). So, as for WeCom's long connection, the
//! replier writes the answer, whole so far, into the stream buffer the connector created for
//! the message, with a growing version, and the relay's pusher ([`crate::long::pusher`]) sends
//! what is new as delta frames. A retried queue message finds the buffer where the last
//! attempt left it and goes on; the pusher alone gives out `chunkId`s, so they keep rising.
//!
//! Images (`![alt](https://…)`) are sent as links: Weibo's socket carries text only, and its
//! file API (`/open/dm/send_file`) names no recipient (the token decides who receives), so it
//! cannot answer the user who asked. While the answer streams, an image still arriving is held
//! back so the text only ever grows (the pusher sends deltas).
//!
//! A finished answer is reported delivered only once the pusher wrote its closing frame (the
//! delivered mark): while the socket is down `finish` waits up to [`DELIVERY_WAIT`] and then
//! fails, so the queue retries the message (the answer is recorded and is not asked for
//! again) and nothing is marked replied that the user has not been sent.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::markdown::{images_to_links, streaming_images};
use imgate_core::event::ReplyContext;
use imgate_core::ports::{Replier, ReplyError, ReplyStream, ReplyTarget, Store, StreamState};
use imgate_core::{IntegrationId, Timestamp};

use crate::long::pusher::delivered_key;

/// How long `finish` waits for the relay to send the answer's closing frame.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(20);
/// How often the delivered mark is looked for.
const DELIVERY_POLL: Duration = Duration::from_millis(100);
/// How long a stream buffer is kept.
pub const STREAM_TTL: Duration = Duration::from_secs(24 * 3600);

/// The empty stream buffer of an answer, as the connector creates it when the message comes.
pub fn new_buffer(integration_id: &IntegrationId, stream_id: &str, now: Timestamp) -> StreamState {
    StreamState {
        integration_id: integration_id.clone(),
        id: stream_id.to_owned(),
        content: String::new(),
        finished: false,
        card: None,
        version: 1,
        created_at: now,
        expires_at: now.plus(STREAM_TTL),
    }
}

/// The Weibo replier.
#[derive(Clone)]
pub struct WeiboReplier {
    store: Arc<dyn Store>,
    delivery_wait: Duration,
}

impl WeiboReplier {
    /// A replier writing stream buffers in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            delivery_wait: DELIVERY_WAIT,
        }
    }

    /// The same replier waiting `wait` for delivery (tests).
    #[must_use]
    pub fn with_delivery_wait(mut self, wait: Duration) -> Self {
        self.delivery_wait = wait;
        self
    }
}

#[async_trait]
impl Replier for WeiboReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Weibo { stream_id, .. } = &target.event.reply else {
            return Err(ReplyError::Unsupported(format!(
                "{:?} is not a Weibo reply context",
                target.event.reply
            )));
        };
        let integration = &target.event.integration_id;
        let now = Timestamp::now();
        let state = match self.store.get_stream(integration, stream_id, now).await? {
            Some(state) => state,
            None => {
                // The connector creates the buffer before the message is queued; it is gone
                // only when it expired. Written anyway: a redelivery makes the pusher carry it.
                let state = new_buffer(integration, stream_id, now);
                self.store.create_stream(&state).await?;
                state
            }
        };
        Ok(Box::new(Stream {
            store: self.store.clone(),
            state,
            delivery_wait: self.delivery_wait,
        }))
    }
}

/// One answer being written into its buffer.
struct Stream {
    store: Arc<dyn Store>,
    state: StreamState,
    delivery_wait: Duration,
}

impl Stream {
    /// Writes the answer so far; a finished buffer is never reopened.
    async fn write(&mut self, content: &str, finished: bool) -> Result<(), ReplyError> {
        if self.state.finished || (self.state.content == content && !finished) {
            return Ok(());
        }
        let mut next = self.state.clone();
        next.version += 1;
        next.content = content.to_owned();
        next.finished = finished;
        if !self.store.update_stream(&next).await? {
            // Another writer moved the buffer on (a stale retry): read where it stands.
            if let Some(current) = self
                .store
                .get_stream(&self.state.integration_id, &self.state.id, Timestamp::now())
                .await?
            {
                self.state = current;
                if !self.state.finished {
                    return Box::pin(self.write(content, finished)).await;
                }
            }
            return Ok(());
        }
        self.state = next;
        Ok(())
    }

    /// Waits until the pusher marked the answer delivered.
    async fn delivered(&self) -> Result<(), ReplyError> {
        let key = delivered_key(&self.state.id);
        let deadline = tokio::time::Instant::now() + self.delivery_wait;
        loop {
            if self.store.is_claimed(&key, Timestamp::now()).await? {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ReplyError::Transport(
                    "the Weibo stream is not connected: the answer is kept and goes out once it is back".into(),
                ));
            }
            tokio::time::sleep(DELIVERY_POLL).await;
        }
    }
}

#[async_trait]
impl ReplyStream for Stream {
    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        self.write(&streaming_images(text), false).await
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        self.write(&images_to_links(text), true).await?;
        self.delivered().await
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        // The error goes out as the answer's last text (the pusher closes a partial answer
        // first and sends it as a reply of its own). Not waited for: the message goes to the
        // dead-letter queue either way.
        self.write(message, true).await
    }
}
