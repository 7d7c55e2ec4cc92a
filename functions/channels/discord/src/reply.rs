//! Answering Discord (§2.4–2.5, §4): a gateway message gets a reply in its channel; a slash
//! command's deferred answer is edited, with follow-ups for more.
//!
//! - **Thinking**: a gateway message shows the typing indicator when the agent starts, again
//!   every 8 s until the answer is finished (Discord shows it for 10 s); a slash command already
//!   shows "thinking…" from its deferred response.
//! - **Streaming**: the answer so far is edited into the message at most every
//!   [`EDIT_INTERVAL`], within the rate-limit buckets the REST client keeps; a rate-limited
//!   intermediate edit is dropped and later ones wait out `retry_after`; the final text waits.
//! - **Long answers**: past 2,000 characters (UTF-16 units) the answer continues in a new
//!   message, cut at a paragraph, line or word break, code fences closed and reopened so each
//!   message renders.
//! - Mentions in agent text never ping anyone (`allowed_mentions` empty) and links do not
//!   unfold into embeds.
//! - **Images**: while the answer is written its images (`![alt](https://…)`) show as links;
//!   when it is finished they are taken out of the text and each follows it as a message with
//!   an image embed (Discord fetches the URL through its media proxy), at most [`MAX_IMAGES`].
//!   An answer that is only images says their alt texts.
//! - **Failure**: the error, with a "New conversation" button.
//!
//! Once only: the messages of an answer are recorded ([`imgate_channel_kit::parts`]), its image
//! messages after its text, so a retried queue message edits them instead of sending them again
//! and sends only the images not recorded yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::markdown::{Image, MAX_IMAGES, images_to_send, labels, streaming_images};
use imgate_channel_kit::parts::{PartSink, Parts};
use imgate_channel_kit::patience::patiently;
use imgate_channel_kit::text::split_utf16;
use imgate_core::credentials::Credentials;
use imgate_core::dispatch::NEW_SESSION_ACTION;
use imgate_core::event::ReplyContext;
use imgate_core::ports::{Replier, ReplyError, ReplyStream, ReplyTarget, Store};
use imgate_core::secret::Secret;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::api::{RestApi, message_body};

/// Discord's limit on a message's content.
pub const MESSAGE_LIMIT: usize = 2000;

/// Least time between two edits of an answer.
pub const EDIT_INTERVAL: Duration = Duration::from_millis(1000);

/// What an answer shows before the agent writes.
pub const THINKING: &str = "…";

/// How often typing is shown again while the agent works.
const TYPING_EVERY: Duration = Duration::from_secs(8);

/// The id a deferred interaction answer is edited under.
const ORIGINAL: &str = "@original";

/// How long a message this replier created is remembered as its own.
pub const SENT_RECORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// The store key that marks channel message `message_id` as sent by imgate. The gateway sees
/// every message the bot user creates; one without this mark was sent by another program using
/// the same bot token ([`crate::long`] reports it).
#[must_use]
pub fn sent_key(message_id: &str) -> String {
    format!("discord:sent:{message_id}")
}

/// Answers Discord events.
#[derive(Clone)]
pub struct DiscordReplier {
    store: Arc<dyn Store>,
    api: RestApi,
    edit_interval: Duration,
}

impl DiscordReplier {
    /// A replier recording its messages in `store`, calling Discord through `api`.
    pub fn new(store: Arc<dyn Store>, api: RestApi) -> Self {
        Self {
            store,
            api,
            edit_interval: EDIT_INTERVAL,
        }
    }

    /// The same replier with another edit interval (tests).
    #[must_use]
    pub fn with_edit_interval(mut self, interval: Duration) -> Self {
        self.edit_interval = interval;
        self
    }
}

#[async_trait]
impl Replier for DiscordReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Discord {
            channel_id,
            message_id,
            interaction_token,
            ..
        } = &target.event.reply
        else {
            return Err(ReplyError::Unsupported(
                "an event without a Discord reply context".into(),
            ));
        };
        let Credentials::Discord(app) = &target.credentials else {
            return Err(ReplyError::Unsupported(
                "Discord replies without Discord credentials".into(),
            ));
        };
        let to = match interaction_token {
            Some(token) => To::Interaction {
                application_id: app.application_id.clone(),
                token: token.clone(),
            },
            None => To::Channel {
                channel_id: channel_id.clone(),
                reply_to: message_id.clone(),
            },
        };
        let parts = Parts::load(
            self.store.clone(),
            target.event.integration_id.clone(),
            format!("discord_messages:{}", target.event.dedupe_key()),
        )
        .await?;
        Ok(Box::new(Answer {
            sink: Sink {
                api: self.api.clone(),
                store: self.store.clone(),
                token: app.bot_token.clone(),
                to,
                button_on: AtomicUsize::new(usize::MAX),
            },
            parts,
            interval: self.edit_interval,
            last_op: None,
            hold_until: None,
            typing: None,
            so_far: String::new(),
        }))
    }
}

/// Where the answer goes.
enum To {
    /// A reply in the message's channel.
    Channel {
        channel_id: String,
        reply_to: Option<String>,
    },
    /// The deferred answer of a slash command, then follow-ups.
    Interaction { application_id: String, token: String },
}

/// Sends and edits the messages of one answer.
struct Sink {
    api: RestApi,
    store: Arc<dyn Store>,
    token: Secret,
    to: To,
    /// The part that carries the "New conversation" button (none: `usize::MAX`).
    button_on: AtomicUsize,
}

impl Sink {
    fn body(&self, index: usize, text: &str) -> Value {
        let mut body = message_body(text);
        if self.button_on.load(Ordering::Relaxed) == index {
            body["components"] = json!([{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "New conversation", "custom_id": NEW_SESSION_ACTION}
            ]}]);
        }
        body
    }
}

impl Sink {
    /// Posts message `index` of the answer: in the channel (the first one as a reply), or as
    /// the interaction's deferred answer and then its follow-ups.
    async fn post(&self, index: usize, mut body: Value) -> Result<String, ReplyError> {
        match &self.to {
            To::Channel { channel_id, reply_to } => {
                if let (0, Some(reply_to)) = (index, reply_to) {
                    body["message_reference"] = json!({"message_id": reply_to, "fail_if_not_exists": false});
                }
                let id = self.api.create_message(&self.token, channel_id, &body).await?.id;
                if let Err(error) = self
                    .store
                    .claim(&sent_key(&id), imgate_core::Timestamp::now(), SENT_RECORD_TTL)
                    .await
                {
                    tracing::warn!(platform = "discord", %error, "a sent message could not be marked as imgate's own");
                }
                Ok(id)
            }
            To::Interaction { application_id, token } if index == 0 => {
                self.api.edit_original(application_id, token, &body).await?;
                Ok(ORIGINAL.to_owned())
            }
            To::Interaction { application_id, token } => Ok(self.api.followup(application_id, token, &body).await?.id),
        }
    }
}

/// A message showing `image` as an embed (without the flag that suppresses embeds).
fn image_body(image: &Image) -> Value {
    json!({"embeds": [{"image": {"url": image.url}}], "allowed_mentions": {"parse": []}})
}

#[async_trait]
impl PartSink for Sink {
    async fn send(&self, index: usize, text: &str) -> Result<String, ReplyError> {
        self.post(index, self.body(index, text)).await
    }

    async fn edit(&self, index: usize, id: &str, text: &str) -> Result<(), ReplyError> {
        let body = self.body(index, text);
        match &self.to {
            To::Channel { channel_id, .. } => self.api.edit_message(&self.token, channel_id, id, &body).await,
            To::Interaction { application_id, token } if id == ORIGINAL => {
                self.api.edit_original(application_id, token, &body).await
            }
            To::Interaction { application_id, token } => self.api.edit_followup(application_id, token, id, &body).await,
        }
    }
}

/// One answer being written.
struct Answer {
    sink: Sink,
    parts: Parts,
    interval: Duration,
    last_op: Option<Instant>,
    hold_until: Option<Instant>,
    typing: Option<tokio::task::JoinHandle<()>>,
    /// The answer so far, which a failure note follows.
    so_far: String,
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.stop_typing();
    }
}

impl Answer {
    fn stop_typing(&mut self) {
        if let Some(typing) = self.typing.take() {
            typing.abort();
        }
    }

    fn throttled(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|until| now < until)
            || self.last_op.is_some_and(|at| now.duration_since(at) < self.interval)
    }

    async fn show_final(&mut self, text: &str) -> Result<(), ReplyError> {
        self.stop_typing();
        let (body, images) = images_to_send(text, MAX_IMAGES);
        let body = match body.trim() {
            "" if images.is_empty() => THINKING.to_owned(),
            "" => labels(&images),
            _ => body,
        };
        let text_parts = split_utf16(&body, MESSAGE_LIMIT);
        self.parts.show(&self.sink, &text_parts, true).await?;
        for (n, image) in images.iter().enumerate() {
            let index = text_parts.len() + n;
            if self.parts.sent().len() > index {
                continue;
            }
            let body = image_body(image);
            let id = patiently(|| self.sink.post(index, body.clone())).await?;
            self.parts.remember(id).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ReplyStream for Answer {
    async fn start(&mut self) -> Result<(), ReplyError> {
        if let To::Channel { channel_id, .. } = &self.sink.to {
            let (api, token, channel) = (self.sink.api.clone(), self.sink.token.clone(), channel_id.clone());
            if let Err(error) = api.typing(&token, &channel).await {
                tracing::debug!(%error, "typing not shown");
            }
            self.typing = Some(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(TYPING_EVERY).await;
                    if let Err(error) = api.typing(&token, &channel).await {
                        tracing::debug!(%error, "typing not shown");
                    }
                }
            }));
        }
        Ok(())
    }

    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        text.clone_into(&mut self.so_far);
        let now = Instant::now();
        if text.trim().is_empty() || self.throttled(now) {
            return Ok(());
        }
        self.last_op = Some(now);
        match self
            .parts
            .show(&self.sink, &split_utf16(&streaming_images(text), MESSAGE_LIMIT), false)
            .await
        {
            Err(ReplyError::RateLimited { retry_after }) => {
                self.hold_until = Some(Instant::now() + retry_after);
                Ok(())
            }
            other => other,
        }
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        self.show_final(text).await
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        let parts = split_utf16(message, MESSAGE_LIMIT);
        self.sink.button_on.store(
            parts
                .len()
                .saturating_sub(1)
                .max(self.parts.sent().len().saturating_sub(1)),
            Ordering::Relaxed,
        );
        self.show_final(message).await
    }
}
