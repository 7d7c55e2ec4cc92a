//! Answering DingTalk robot messages (Stream and HTTP mode alike).
//!
//! - **Messages**: the answer is sent when it is complete, as Markdown, through the message's
//!   `sessionWebhook` while it is valid (§4.1; ~90 minutes), else through the robot OpenAPI
//!   (§4.3: `groupMessages/send` for groups, `oToMessages/batchSend` to the sender's staff id for
//!   single chats) with an access token cached in the store. Session webhook messages cannot be
//!   edited, so no "thinking" message is sent first (nothing in the protocol notes makes that
//!   usual, and it would stay in the chat as noise). Long answers are split into parts of at
//!   most [`payload::MAX_CONTENT_BYTES`] at paragraph or line breaks, never cut. In groups the
//!   first part @-mentions the sender when their staff id is known.
//! - **AI card** (when the credentials carry `card_template_id`, §4.4): the first streamed
//!   update creates and delivers a card and streams the answer into its `msgContent`, at most
//!   once per [`DingtalkReplier::with_card_interval`] (800 ms by default, the spacing DingTalk's
//!   own connector settled on after hitting the card QPS quota); a rate-limited intermediate
//!   frame is skipped, not an error. The final text is always written and the card is marked
//!   finished (or failed). Text beyond one card's budget continues in messages. Should the card
//!   not be created (missing permission, bad template), the answer falls back to messages.
//!   Answers that are never streamed (fixed texts, `/help`) are plain messages.
//! - **Images**: while the card streams, the answer's images (`![alt](https://…)`) show as
//!   links; when it is finished they are taken out of the text and each follows it as its own
//!   message, at most [`MAX_IMAGES`]: through the `sessionWebhook` a Markdown message that is
//!   only the image (it has no image message), through the robot OpenAPI a `sampleImageMsg`
//!   with the URL as `photoURL`. DingTalk fetches the URL itself, so nothing is uploaded.
//!
//! Once only: every message part, image and card step is claimed in the store (keyed by the
//! event) before it is sent and released if sending failed, so a retried queue message shows
//! nothing twice; the card's `outTrackId` is derived from the event, so a retry streams into the
//! card it already created.

pub mod payload;

mod card;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::IntegrationId;
use imgate_core::Timestamp;
use imgate_core::credentials::{Credentials, Dingtalk};
use imgate_core::event::{ConversationKind, ReplyContext};
use imgate_core::ports::{Claim, Replier, ReplyError, ReplyStream, ReplyTarget, Store};

use crate::api::{RobotApi, SessionWebhook};
use imgate_channel_kit::markdown::{Image, MAX_IMAGES, images_to_send, labels, streaming_images};
use imgate_channel_kit::text::split;

use card::Card;
use payload::Sample;

/// How long sent parts and card steps are remembered (longer than any queue redelivery).
const ONCE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Default spacing of streamed card updates.
pub const CARD_UPDATE_INTERVAL: Duration = Duration::from_millis(800);

/// The DingTalk replier.
#[derive(Clone)]
pub struct DingtalkReplier {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    api: RobotApi,
    card_interval: Duration,
}

impl std::fmt::Debug for DingtalkReplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DingtalkReplier")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl DingtalkReplier {
    /// A replier over the shared store (claims), an HTTP client (session webhooks) and the
    /// OpenAPI client (fallback sends, cards).
    pub fn new(store: Arc<dyn Store>, http: reqwest::Client, api: RobotApi) -> Self {
        Self {
            store,
            http,
            api,
            card_interval: CARD_UPDATE_INTERVAL,
        }
    }

    /// The same replier with another minimum spacing of streamed card updates.
    #[must_use]
    pub fn with_card_interval(mut self, interval: Duration) -> Self {
        self.card_interval = interval;
        self
    }
}

#[async_trait]
impl Replier for DingtalkReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Dingtalk {
            session_webhook,
            session_webhook_expires_at,
            conversation_id,
            sender_staff_id,
        } = &target.event.reply
        else {
            // The other context is not printed: it may hold a platform's reply URL.
            return Err(ReplyError::Unsupported(
                "an event without a DingTalk reply context".into(),
            ));
        };
        let Credentials::Dingtalk(app) = &target.credentials else {
            return Err(ReplyError::Unsupported(
                "DingTalk replies without DingTalk credentials".into(),
            ));
        };
        let key = format!("dingtalk_reply:{}", target.event.dedupe_key());
        let group = target.event.conversation.kind == ConversationKind::Group;
        let sender = Sender {
            store: self.store.clone(),
            http: self.http.clone(),
            api: self.api.clone(),
            app: app.clone(),
            webhook: session_webhook.clone(),
            webhook_expires_at: *session_webhook_expires_at,
            group,
            conversation_id: conversation_id.clone(),
            staff_id: sender_staff_id.clone(),
            key,
            integration_id: target.event.integration_id.clone(),
        };
        let card = Card::plan(&sender, self.card_interval);
        Ok(Box::new(Answer { sender, card }))
    }
}

/// One answer: an optional card, and the messages.
struct Answer {
    sender: Sender,
    card: Option<Card>,
}

#[async_trait]
impl ReplyStream for Answer {
    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        if let Some(card) = &mut self.card
            && !card.update(&self.sender, &streaming_images(text)).await?
        {
            // The card could not be created: the answer goes out as messages at the end.
            self.card = None;
        }
        Ok(())
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        let (body, images) = images_to_send(text, MAX_IMAGES);
        let text = if body.trim().is_empty() && !images.is_empty() {
            &labels(&images)
        } else {
            &body
        };
        // An answer that came before the first update still goes into the card.
        if self.card.as_ref().is_some_and(|card| !card.is_live()) {
            self.update(text).await?;
        }
        let rest = match &mut self.card {
            Some(card) if card.is_live() => card.finish(&self.sender, text).await?,
            _ => text.to_owned(),
        };
        self.sender.send_all("answer", &rest).await?;
        for (n, image) in images.iter().enumerate() {
            self.sender.send_image(n, image).await?;
        }
        Ok(())
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        match &mut self.card {
            Some(card) if card.is_live() => card.fail(&self.sender, message).await,
            _ => self.sender.send_all("failure", message).await,
        }
    }
}

/// Sends message parts for one event, each once.
struct Sender {
    store: Arc<dyn Store>,
    http: reqwest::Client,
    api: RobotApi,
    app: Dingtalk,
    webhook: Option<String>,
    webhook_expires_at: Option<Timestamp>,
    group: bool,
    conversation_id: String,
    staff_id: Option<String>,
    /// The event's claim prefix.
    key: String,
    /// For the integration's event log.
    integration_id: IntegrationId,
}

impl Sender {
    /// Sends `text` split into parts; `kind` separates the claims of answers and failure notes.
    async fn send_all(&self, kind: &str, text: &str) -> Result<(), ReplyError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        for (i, part) in split(text, payload::MAX_CONTENT_BYTES).iter().enumerate() {
            let key = format!("{}:{kind}:{i}", self.key);
            if !self.claim(&key).await? {
                continue;
            }
            if let Err(error) = self.send(part, i == 0).await {
                self.store.release(&key).await?;
                return Err(error);
            }
        }
        Ok(())
    }

    /// Sends image `n` of the answer, once: through the session webhook while valid, else the
    /// OpenAPI.
    async fn send_image(&self, n: usize, image: &Image) -> Result<(), ReplyError> {
        let key = format!("{}:image:{n}", self.key);
        if !self.claim(&key).await? {
            return Ok(());
        }
        let sent = async {
            if let Some(url) = &self.webhook
                && SessionWebhook::is_usable(self.webhook_expires_at, Timestamp::now())
            {
                match SessionWebhook::send(&self.http, url, &payload::image(&image.alt, &image.url)).await {
                    Err(ReplyError::Expired) => {}
                    other => return other,
                }
            }
            self.send_sample(&Sample::image(&image.url)).await
        }
        .await;
        if let Err(error) = sent {
            self.store.release(&key).await?;
            return Err(error);
        }
        Ok(())
    }

    /// Sends one Markdown message: session webhook while valid, else the OpenAPI.
    async fn send(&self, text: &str, first: bool) -> Result<(), ReplyError> {
        let title = payload::title_for(text);
        if let Some(url) = &self.webhook
            && SessionWebhook::is_usable(self.webhook_expires_at, Timestamp::now())
        {
            let mut body = payload::markdown(&title, text);
            if self.group && first {
                body = payload::mention(body, &[self.staff_id.as_deref().unwrap_or_default()]);
            }
            match SessionWebhook::send(&self.http, url, &body).await {
                Err(ReplyError::Expired) => {
                    tracing::info!(platform = "dingtalk", client_id = %self.app.client_id, "session webhook expired; using the robot API");
                }
                other => return other,
            }
        }
        self.send_sample(&Sample::markdown(&title, text)).await
    }

    /// Sends one robot OpenAPI message: to the group, or to the sender (by staff id).
    async fn send_sample(&self, sample: &Sample) -> Result<(), ReplyError> {
        if self.group {
            self.api.send_to_group(&self.app, &self.conversation_id, sample).await?;
        } else {
            let Some(staff_id) = self.staff_id.as_deref() else {
                // A user outside the org has no staff id: only the session webhook reaches them.
                return Err(ReplyError::Expired);
            };
            self.api.send_to_user(&self.app, staff_id, sample).await?;
        }
        Ok(())
    }

    /// Claims `key`; false when it was claimed before (done already).
    async fn claim(&self, key: &str) -> Result<bool, ReplyError> {
        Ok(self.store.claim(key, Timestamp::now(), ONCE_TTL).await? == Claim::Claimed)
    }
}
