//! Answering WeCom: smart bots in callback mode through the shared stream buffer (WeCom pulls
//! it), `response_url` for what does not fit the stream, self-built apps through `message/send`.
//!
//! A stream bubble holds at most 20,480 bytes and WeCom stops pulling 6 minutes after the
//! user's message. An answer that outgrows either is finished in the stream and continued in a
//! second message through the single-use `response_url`, never silently cut. A retried queue
//! message finds its stream already finished and shows nothing twice.
//!
//! Images (`![alt](https://…)`): a callback-mode answer finished within its stream carries them
//! in its finishing frame as `msg_item` ([`images`]); on the long connection the relay's pusher
//! uploads the same stored images over the socket and sends each as an `image` message after
//! the text ([`crate::long::uploads`]: `msg_item` is documented as unsupported there); a
//! self-built app sends each after the text as an `image` message of an uploaded `media_id`
//! (`media/upload`). An image that cannot be had, and every image of an answer that goes
//! through `response_url` (which takes Markdown only), is a link.
//!
//! On the long connection there is no `response_url`: the stream buffer takes the whole answer
//! and the relay's pusher ([`crate::long::pusher`]) cuts it into the stream and proactive
//! messages, and pushes it whole when the stream can no longer be updated.

pub mod images;
pub mod payload;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::Timestamp;
use imgate_core::credentials::Credentials;
use imgate_core::event::ReplyContext;
use imgate_core::ports::{Claim, Replier, ReplyError, ReplyStream, ReplyTarget, Store, StreamState};

use crate::api::{AppClient, ResponseUrl};
use imgate_channel_kit::download::{Downloader, ImageKind};
use imgate_channel_kit::markdown::{
    Image, MAX_IMAGES, images_to_links, images_to_send, labels, streaming_images, with_links,
};
use imgate_channel_kit::text::split;

use crate::format::{self, MAX_CONTENT_BYTES};

/// Stream content is finalized this long after the user's message, before WeCom's 6 minutes.
pub const STREAM_DEADLINE: Duration = Duration::from_secs(330);
/// WeCom pulls a stream for this long after the user's message: what is written later is never
/// seen, so an answer that comes later (a slow agent, a redelivery after a crash) goes whole
/// through `response_url` (usable once within an hour).
pub const PULL_WINDOW: Duration = Duration::from_secs(360);
/// Marks a stream that continues in a second message.
const CONTINUED: &str = "\n\n…";
/// How long a used `response_url` is remembered.
const RESPONSE_URL_TTL: Duration = Duration::from_secs(3600);

/// The WeCom replier.
#[derive(Clone)]
pub struct WecomReplier {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    app: AppClient,
    downloader: Downloader,
}

impl WecomReplier {
    /// A replier over the shared store, an HTTP client and the self-built app client.
    pub fn new(store: Arc<dyn Store>, http: reqwest::Client, app: AppClient) -> Self {
        Self {
            store,
            downloader: Downloader::new(http.clone()),
            http,
            app,
        }
    }
}

#[async_trait]
impl Replier for WecomReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let event = &target.event;
        match &event.reply {
            ReplyContext::WecomBot {
                stream_id,
                response_url,
                req_id,
                ..
            } => {
                let once = ResponseUrlOnce {
                    store: self.store.clone(),
                    http: self.http.clone(),
                    url: response_url.clone(),
                    key: format!("response_url:{}", event.dedupe_key()),
                };
                let state = match stream_id {
                    Some(id) => {
                        self.store
                            .get_stream(&event.integration_id, id, Timestamp::now())
                            .await?
                    }
                    None => None,
                };
                let mode = match state {
                    Some(s) if s.finished => Mode::Done,
                    Some(s) => Mode::Streaming(s),
                    None => Mode::Collecting,
                };
                let mut stream = BotStream {
                    store: self.store.clone(),
                    downloader: self.downloader.clone(),
                    integration_id: event.integration_id.clone(),
                    mode,
                    once,
                    deadline: event.received_at.plus(STREAM_DEADLINE),
                    pulled_until: event.received_at.plus(PULL_WINDOW),
                    long_connection: req_id.is_some(),
                };
                if !stream.long_connection && Timestamp::now() >= stream.pulled_until {
                    // Too late to stream (the message waited: a slow queue, a redelivery after
                    // a crash). The bubble is closed as it stands and the answer goes whole
                    // through response_url.
                    stream.close_late().await?;
                }
                Ok(Box::new(stream))
            }
            ReplyContext::WecomApp { agent_id, to_user } => {
                let Credentials::WecomWebhook(credentials) = &target.credentials else {
                    return Err(ReplyError::Unsupported(
                        "WeCom app replies without webhook credentials".into(),
                    ));
                };
                let (Some(corp_id), Some(secret)) = (credentials.corp_id.clone(), credentials.corp_secret.clone())
                else {
                    return Err(ReplyError::Unsupported(
                        "self-built app replies need corp_id and corp_secret in the credentials".into(),
                    ));
                };
                Ok(Box::new(AppStream {
                    app: self.app.clone(),
                    downloader: self.downloader.clone(),
                    store: self.store.clone(),
                    corp_id,
                    secret,
                    agent_id: agent_id.clone(),
                    to_user: to_user.clone(),
                    key: format!("app_reply:{}", event.dedupe_key()),
                }))
            }
            other => Err(ReplyError::Unsupported(format!(
                "{other:?} is not a WeCom reply context"
            ))),
        }
    }
}

enum Mode {
    /// Writing the stream buffer WeCom pulls.
    Streaming(StreamState),
    /// The stream is finished; the text shown so far is this prefix of the answer.
    Overflowed { shown: String },
    /// No stream (expired or none): the whole answer goes through `response_url`.
    Collecting,
    /// Answered before (a redelivery): show nothing.
    Done,
}

struct BotStream {
    store: Arc<dyn Store>,
    downloader: Downloader,
    integration_id: imgate_core::IntegrationId,
    mode: Mode,
    once: ResponseUrlOnce,
    /// When streaming stops and the stream is finished (before WeCom stops pulling).
    deadline: Timestamp,
    /// When WeCom stops pulling the stream.
    pulled_until: Timestamp,
    /// The message came on the long connection: the buffer takes the whole answer, the pusher
    /// fits it to WeCom.
    long_connection: bool,
}

impl BotStream {
    async fn write(
        &mut self,
        content: &str,
        finished: bool,
        card: Option<serde_json::Value>,
    ) -> Result<(), ReplyError> {
        if let Mode::Streaming(state) = &mut self.mode {
            state.version += 1;
            state.content = content.to_owned();
            state.finished = finished;
            state.card = card;
            self.store.update_stream(state).await?;
        }
        Ok(())
    }

    /// Finishes an open stream with what it shows now; the whole answer then goes through
    /// `response_url`.
    async fn close_late(&mut self) -> Result<(), ReplyError> {
        if let Mode::Streaming(state) = &self.mode {
            let shown = state.content.clone();
            self.write(&shown, true, None).await?;
            self.mode = Mode::Overflowed { shown: String::new() };
        }
        Ok(())
    }

    /// Finishes the stream with the first part of `content` and remembers what was shown; past
    /// WeCom's pull window nothing more is shown there, and all of `content` goes on.
    async fn overflow(&mut self, content: &str) -> Result<(), ReplyError> {
        if Timestamp::now() >= self.pulled_until {
            return self.close_late().await;
        }
        let first = split(content, MAX_CONTENT_BYTES - CONTINUED.len())
            .into_iter()
            .next()
            .unwrap_or_default();
        self.write(&format!("{first}{CONTINUED}"), true, None).await?;
        self.mode = Mode::Overflowed { shown: first };
        Ok(())
    }

    /// Whether the finished stream can carry images with `text`: on the long connection (the
    /// pusher sends them), or a callback-mode stream still pulled, the text fitting one bubble.
    fn carries_images(&self, text: &str) -> bool {
        matches!(self.mode, Mode::Streaming(_))
            && (self.long_connection
                || (format::for_bot(text).len() <= MAX_CONTENT_BYTES && Timestamp::now() < self.pulled_until))
    }

    /// Finishes the stream with `body` and `images` in its finishing frame (those that cannot
    /// be had stay links); a download that outlasts the pull window leaves them all links.
    async fn finish_with_images(&mut self, body: &str, images: Vec<Image>) -> Result<(), ReplyError> {
        let Mode::Streaming(state) = &self.mode else {
            return Ok(());
        };
        let all = with_links(body, &images);
        let body = if body.trim().is_empty() {
            labels(&images)
        } else {
            body.to_owned()
        };
        let stream_id = state.id.clone();
        let (manifest, links) =
            images::keep(&self.store, &self.downloader, &self.integration_id, &stream_id, images).await?;
        if !self.long_connection && Timestamp::now() >= self.pulled_until {
            return Box::pin(self.finish(&all)).await;
        }
        self.write(&format::for_bot(&with_links(&body, &links)), true, manifest)
            .await
    }
}

#[async_trait]
impl ReplyStream for BotStream {
    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        if !matches!(self.mode, Mode::Streaming(_)) {
            return Ok(());
        }
        let content = format::for_bot(&streaming_images(text));
        if self.long_connection {
            return self.write(&content, false, None).await;
        }
        if content.len() > MAX_CONTENT_BYTES || Timestamp::now() >= self.deadline {
            return self.overflow(&content).await;
        }
        self.write(&content, false, None).await
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        let (body, images) = images_to_send(text, MAX_IMAGES);
        if !images.is_empty() && self.carries_images(&with_links(&body, &images)) {
            return self.finish_with_images(&body, images).await;
        }
        // Elsewhere images are links.
        let text = &images_to_links(text);
        let content = format::for_bot(text);
        match &self.mode {
            Mode::Done => Ok(()),
            Mode::Streaming(_) if self.long_connection => self.write(&content, true, None).await,
            Mode::Streaming(_) if content.len() <= MAX_CONTENT_BYTES && Timestamp::now() < self.pulled_until => {
                self.write(&content, true, None).await
            }
            Mode::Streaming(_) => {
                self.overflow(&content).await?;
                Box::pin(self.finish(text)).await
            }
            Mode::Overflowed { shown } => {
                let rest = content.strip_prefix(shown.as_str()).unwrap_or(&content).trim_start();
                self.once.send(&payload::markdown(&fit(rest))).await
            }
            Mode::Collecting if content.is_empty() => Ok(()),
            Mode::Collecting => self.once.send(&payload::markdown(&fit(&content))).await,
        }
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        match &self.mode {
            Mode::Done => Ok(()),
            Mode::Streaming(state) => {
                let card = payload::new_conversation_card(&state.id);
                self.write(message, true, Some(card)).await
            }
            Mode::Overflowed { .. } | Mode::Collecting => self.once.send(&payload::markdown(message)).await,
        }
    }
}

/// The second message of a callback-mode answer has one slot; text beyond it is cut with a note.
fn fit(text: &str) -> String {
    const NOTE: &str = "\n\n（回答过长，已截断 / answer too long for WeCom, cut here）";
    if text.len() <= MAX_CONTENT_BYTES {
        return text.to_owned();
    }
    let head = split(text, MAX_CONTENT_BYTES - NOTE.len())
        .into_iter()
        .next()
        .unwrap_or_default();
    format!("{head}{NOTE}")
}

/// The single-use `response_url`, guarded so a retry never posts twice.
struct ResponseUrlOnce {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    url: Option<String>,
    key: String,
}

impl ResponseUrlOnce {
    async fn send(&self, body: &serde_json::Value) -> Result<(), ReplyError> {
        let url = self.url.as_deref().ok_or(ReplyError::Expired)?;
        if self.store.claim(&self.key, Timestamp::now(), RESPONSE_URL_TTL).await? == Claim::Duplicate {
            return Ok(());
        }
        if let Err(error) = ResponseUrl::send(&self.http, url, body).await {
            self.store.release(&self.key).await?;
            return Err(error);
        }
        Ok(())
    }
}

/// A self-built app answer: sent whole through `message/send` when finished (apps cannot stream),
/// in parts of at most 2,048 bytes.
struct AppStream {
    app: AppClient,
    downloader: Downloader,
    store: Arc<dyn Store>,
    corp_id: String,
    secret: imgate_core::secret::Secret,
    agent_id: String,
    to_user: String,
    key: String,
}

impl AppStream {
    async fn send(&self, text: &str) -> Result<(), ReplyError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let parts = split(&format::for_app(text), format::APP_MAX_CONTENT_BYTES);
        for (i, part) in parts.iter().enumerate() {
            self.send_once(
                &format!("{}:{i}", self.key),
                async || serde_json::json!({"msgtype": "markdown", "markdown": {"content": part}}),
            )
            .await?;
        }
        Ok(())
    }

    /// Sends image `n` of the answer, once: an `image` message of its uploaded `media_id`, or
    /// its link when it cannot be downloaded (or is not JPG or PNG) or uploaded.
    async fn send_image(&self, n: usize, image: &Image) -> Result<(), ReplyError> {
        self.send_once(&format!("{}:image:{n}", self.key), async || {
            match self.upload(image).await {
                Some(media_id) => serde_json::json!({"msgtype": "image", "image": {"media_id": media_id}}),
                None => serde_json::json!({"msgtype": "markdown", "markdown": {"content": image.link()}}),
            }
        })
        .await
    }

    /// Sends the message `body` makes, unless `key` was claimed before; the claim is released
    /// when sending fails.
    async fn send_once(&self, key: &str, body: impl AsyncFnOnce() -> serde_json::Value) -> Result<(), ReplyError> {
        if self.store.claim(key, Timestamp::now(), RESPONSE_URL_TTL * 24).await? == Claim::Duplicate {
            return Ok(());
        }
        let body = body().await;
        if let Err(error) = self
            .app
            .send(&self.corp_id, &self.secret, &self.agent_id, &self.to_user, &body)
            .await
        {
            self.store.release(key).await?;
            return Err(error);
        }
        Ok(())
    }

    /// The `media_id` of `image` uploaded, or `None` (logged) when it cannot be had.
    async fn upload(&self, image: &Image) -> Option<String> {
        let downloaded = match self.downloader.image(&image.url).await {
            Ok(downloaded) if matches!(downloaded.kind, ImageKind::Png | ImageKind::Jpeg) => downloaded,
            Ok(_) => {
                tracing::info!(
                    platform = "wecom",
                    "WeCom apps show JPG and PNG only; the image goes as a link"
                );
                return None;
            }
            Err(error) => {
                tracing::warn!(platform = "wecom", %error, "an image of the answer could not be downloaded; its link is sent");
                return None;
            }
        };
        match self.app.upload_image(&self.corp_id, &self.secret, &downloaded).await {
            Ok(media_id) => Some(media_id),
            Err(error) => {
                tracing::warn!(platform = "wecom", %error, "an image of the answer could not be uploaded; its link is sent");
                None
            }
        }
    }
}

#[async_trait]
impl ReplyStream for AppStream {
    async fn update(&mut self, _text: &str) -> Result<(), ReplyError> {
        Ok(())
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        let (body, images) = images_to_send(text, MAX_IMAGES);
        let body = if body.trim().is_empty() { labels(&images) } else { body };
        self.send(&body).await?;
        for (n, image) in images.iter().enumerate() {
            self.send_image(n, image).await?;
        }
        Ok(())
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        self.send(message).await
    }
}
