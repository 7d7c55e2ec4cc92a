//! Answering Lark / Feishu messages with a streaming CardKit card (§5), replying to the user's
//! message (§4.3).
//!
//! - **Thinking**: when the agent starts ([`ReplyStream::start`]), a card entity in streaming
//!   mode showing [`card::THINKING`] is created and sent as the reply (in the message's thread
//!   when it has one; to the chat when the message was recalled or deleted).
//! - **Streaming**: the answer so far goes into the card's markdown element, at most once per
//!   [`LarkReplier::with_interval`] (default 200 ms, within Lark's 10 operations/s per card);
//!   a rate-limited intermediate update is skipped. `sequence` grows strictly per card: it is
//!   the milliseconds since the card was created (or the previous value + 1), so a retried
//!   queue message that resumes the card keeps it increasing without storing every step.
//! - **Long answers**: past [`CARD_TEXT_BUDGET`] characters the card is finished with what fits
//!   (cut at a paragraph or line break) and the answer continues in a new card.
//! - **Finish**: the card is replaced by its finished form (streaming off, the answer as chat
//!   preview). This, creating and sending a card, and sending messages wait out rate-limit
//!   answers (a few times, each at most 5 s) since they carry the answer.
//! - **Images**: the answer's images (`![alt](https://…)`) show as links in the card while it
//!   streams (a card image needs an uploaded key). When the answer is finished they are taken
//!   out of the text, downloaded ([`imgate_channel_kit::download`], 10 MB at most), uploaded
//!   (`im/v1/images`) and sent after it as `image` replies, at most [`MAX_IMAGES`]; one that
//!   cannot be downloaded or uploaded stays a link in the text, and one Lark refuses to send
//!   follows as its link.
//! - **Failure**: the card (or a new card when none was started) shows the error and a
//!   "new conversation" button whose callback starts a new session.
//! - **Fallback**: when the app may not create or send cards (a platform refusal, e.g. the
//!   CardKit scope is missing), the answer is sent as rich-text (`post`) replies, split at
//!   [`POST_TEXT_BUDGET`], and the reason goes to the integration's event log. Fixed texts
//!   (`/help`, "not bound", …) are always such replies.
//!
//! Once only: the cards of an answer are recorded in the stream store under the event, so a
//! retried queue message streams into the card it already sent; every send carries a `uuid`
//! derived from the event and part, which Lark honours for an hour (§4.2).

pub mod card;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::download::Downloader;
use imgate_channel_kit::markdown::{Image, MAX_IMAGES, images_to_send, labels, streaming_images, with_links};
use imgate_channel_kit::patience::patiently;
use imgate_channel_kit::text::{head_chars, split};
use imgate_core::credentials::{Credentials, Lark};
use imgate_core::event::{ConversationKind, ReplyContext};
use imgate_core::event_log::{EventKind, record};
use imgate_core::ports::{Replier, ReplyError, ReplyStream, ReplyTarget, Store, StreamState};
use imgate_core::{IntegrationId, Timestamp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::api::{CODE_DELETED, CODE_RECALLED, Destination, LarkApi};
use crate::format::to_card_markdown;
use card::{ANSWER_ELEMENT, THINKING};

/// Characters of the answer one card holds before it continues in the next (Lark's own channel
/// rolls over at 30 000 characters per element, §5.3).
pub const CARD_TEXT_BUDGET: usize = 25_000;

/// Bytes of Markdown per `post` reply (the request body limit is 30 KB, §4.2).
pub const POST_TEXT_BUDGET: usize = 24_000;

/// Default spacing of streamed updates.
pub const UPDATE_INTERVAL: Duration = Duration::from_millis(200);

/// How long the cards of an answer are remembered.
const CARDS_TTL: Duration = Duration::from_secs(24 * 3600);

/// Ends a card whose answer continues in the next one.
const CONTINUED: &str = "\n\n…";

/// The Lark replier.
#[derive(Clone)]
pub struct LarkReplier {
    store: Arc<dyn Store>,
    api: LarkApi,
    downloader: Downloader,
    interval: Duration,
    budget: usize,
}

impl std::fmt::Debug for LarkReplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LarkReplier")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl LarkReplier {
    /// A replier over the store (card records, event log) and the Open API client.
    pub fn new(store: Arc<dyn Store>, api: LarkApi) -> Self {
        Self {
            store,
            downloader: Downloader::new(api.http().clone()),
            api,
            interval: UPDATE_INTERVAL,
            budget: CARD_TEXT_BUDGET,
        }
    }

    /// The same replier with another minimum spacing of streamed updates.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The same replier with another per-card text budget (tests of long answers).
    #[must_use]
    pub fn with_card_budget(mut self, characters: usize) -> Self {
        self.budget = characters.max(16);
        self
    }
}

#[async_trait]
impl Replier for LarkReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Lark {
            message_id, chat_id, ..
        } = &target.event.reply
        else {
            return Err(ReplyError::Unsupported("an event without a Lark reply context".into()));
        };
        let Credentials::Lark(app) = &target.credentials else {
            return Err(ReplyError::Unsupported("Lark replies without Lark credentials".into()));
        };
        Ok(Box::new(Answer {
            store: self.store.clone(),
            api: self.api.clone(),
            downloader: self.downloader.clone(),
            app: app.clone(),
            integration_id: target.event.integration_id.clone(),
            key: target.event.dedupe_key(),
            message_id: message_id.clone(),
            chat_id: chat_id.clone(),
            in_thread: target.event.conversation.thread_id.is_some(),
            group: target.event.conversation.kind == ConversationKind::Group,
            interval: self.interval,
            budget: self.budget,
            mode: Mode::Idle,
            last_op: None,
            so_far: String::new(),
        }))
    }
}

/// Where the answer is.
enum Mode {
    /// Nothing shown yet.
    Idle,
    /// Streaming into a card.
    Card(LiveCard),
    /// Cards are not available: the answer goes out as `post` replies at the end.
    Plain,
}

/// The card currently streamed into.
struct LiveCard {
    /// The part of the answer this card holds (0 for the first card).
    part: usize,
    card_id: String,
    created_at: Timestamp,
    last_sequence: u64,
    /// Where this card's text starts in the answer (characters).
    offset: usize,
}

impl LiveCard {
    /// The next `sequence`: strictly above the last one and the milliseconds since creation.
    fn next_sequence(&mut self) -> u64 {
        let elapsed = Timestamp::now().as_millis().saturating_sub(self.created_at.as_millis());
        let elapsed = u64::try_from(elapsed).unwrap_or_default();
        self.last_sequence = elapsed.max(self.last_sequence + 1);
        self.last_sequence
    }
}

/// One answer.
struct Answer {
    store: Arc<dyn Store>,
    api: LarkApi,
    downloader: Downloader,
    app: Lark,
    integration_id: IntegrationId,
    key: String,
    message_id: String,
    chat_id: String,
    in_thread: bool,
    group: bool,
    interval: Duration,
    budget: usize,
    mode: Mode,
    last_op: Option<Instant>,
    /// The latest answer so far (kept for a failure card).
    so_far: String,
}

#[async_trait]
impl ReplyStream for Answer {
    async fn start(&mut self) -> Result<(), ReplyError> {
        if matches!(self.mode, Mode::Idle) {
            self.open_card(0, 0, THINKING).await?;
        }
        Ok(())
    }

    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        self.start().await?;
        text.clone_into(&mut self.so_far);
        if self.last_op.is_some_and(|at| at.elapsed() < self.interval) {
            return Ok(());
        }
        self.roll_over(text).await?;
        let Mode::Card(live) = &mut self.mode else {
            return Ok(());
        };
        let shown = to_card_markdown(&streaming_images(&tail(text, live.offset)));
        let sequence = live.next_sequence();
        let card_id = live.card_id.clone();
        match self
            .api
            .stream_text(&self.app, &card_id, ANSWER_ELEMENT, &shown, sequence)
            .await
        {
            Ok(()) => {}
            // An intermediate update is not worth failing for; a later one carries the text.
            Err(ReplyError::RateLimited { .. }) => {
                tracing::debug!(platform = "lark", "card update skipped: rate limited");
            }
            Err(error) => return Err(error),
        }
        self.last_op = Some(Instant::now());
        Ok(())
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        let (body, images) = images_to_send(text, MAX_IMAGES);
        let mut uploaded = Vec::new();
        let mut failed = Vec::new();
        for (n, image) in images.into_iter().enumerate() {
            match self.upload(&image).await {
                Some(key) => uploaded.push((n, key, image)),
                None => failed.push(image),
            }
        }
        let body = with_links(&body, &failed);
        let body = if body.trim().is_empty() && !uploaded.is_empty() {
            labels(&uploaded.iter().map(|(_, _, image)| image.clone()).collect::<Vec<_>>())
        } else {
            body
        };
        self.finish_text(&body).await?;
        for (n, key, image) in uploaded {
            match self.send("image", n, "image", &json!({ "image_key": key })).await {
                Err(ReplyError::Platform { code, message }) => {
                    tracing::warn!(platform = "lark", code, %message, "the image message was refused; its link follows");
                    self.send_posts(&format!("image-link-{n}"), &image.link()).await?;
                }
                other => drop(other?),
            }
        }
        Ok(())
    }

    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        match &self.mode {
            Mode::Card(live) => {
                let failure = card::failed(&tail(&self.so_far, live.offset), message, self.group);
                self.replace_card(&failure).await
            }
            Mode::Idle => {
                let failure = card::failed("", message, self.group);
                match self.send("failure", 0, "interactive", &failure).await {
                    Err(ReplyError::Platform { code, message: why }) => {
                        self.note_fallback(&format!("{code} {why}")).await;
                        self.send_posts("failure", message).await
                    }
                    other => other.map(drop),
                }
            }
            Mode::Plain => self.send_posts("failure", message).await,
        }
    }
}

impl Answer {
    /// Finishes the text of the answer: its card, or `post` replies.
    async fn finish_text(&mut self, text: &str) -> Result<(), ReplyError> {
        match self.mode {
            Mode::Idle | Mode::Plain => self.send_posts("answer", text).await,
            Mode::Card(_) => {
                self.roll_over(text).await?;
                let Mode::Card(live) = &mut self.mode else {
                    return self.send_posts("answer", &tail(text, 0)).await;
                };
                let rest = tail(text, live.offset);
                let shown = if rest.trim().is_empty() { "…".to_owned() } else { rest };
                let final_card = card::finished(&to_card_markdown(&shown), &shown);
                self.replace_card(&final_card).await
            }
        }
    }

    /// The image downloaded and uploaded for a message: its key, or `None` (logged) when it
    /// cannot be had, and it stays a link.
    async fn upload(&self, image: &Image) -> Option<String> {
        let downloaded = match self.downloader.image(&image.url).await {
            Ok(downloaded) => downloaded,
            Err(error) => {
                tracing::warn!(platform = "lark", %error, "an image of the answer could not be downloaded; it stays a link");
                return None;
            }
        };
        match patiently(|| self.api.upload_image(&self.app, &downloaded)).await {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::warn!(platform = "lark", %error, "an image of the answer could not be uploaded; it stays a link");
                None
            }
        }
    }

    /// Shows card `part` (holding the answer from character `offset`), resuming the one a
    /// previous attempt sent; falls back to [`Mode::Plain`] when Lark refuses cards.
    async fn open_card(&mut self, part: usize, offset: usize, text: &str) -> Result<(), ReplyError> {
        let mut record = self.cards().await?;
        let recorded = record.as_ref().and_then(|r| card_at(r, part));
        let (created, created_at, sent) = match recorded {
            Some(card) => card,
            None => {
                let document = card::streaming(text);
                let created = match patiently(|| self.api.create_card(&self.app, &document)).await {
                    Ok(card_id) => card_id,
                    Err(ReplyError::Platform { code, message }) => {
                        self.note_fallback(&format!("{code} {message}")).await;
                        self.mode = Mode::Plain;
                        return Ok(());
                    }
                    Err(error) => return Err(error),
                };
                let created_at = Timestamp::now();
                self.remember_card(&mut record, part, &created, created_at, false)
                    .await?;
                (created, created_at, false)
            }
        };
        if !sent {
            // Sent again after a failed attempt: the uuid keeps Lark from showing it twice.
            let reference = card::entity_reference(&created);
            match self.send("card", part, "interactive", &reference).await {
                Ok(_) => {}
                Err(ReplyError::Platform { code, message }) => {
                    self.note_fallback(&format!("{code} {message}")).await;
                    self.mode = Mode::Plain;
                    return Ok(());
                }
                Err(error) => return Err(error),
            }
            self.remember_card(&mut record, part, &created, created_at, true)
                .await?;
        }
        self.mode = Mode::Card(LiveCard {
            part,
            card_id: created,
            created_at,
            last_sequence: 0,
            offset,
        });
        self.last_op = Some(Instant::now());
        Ok(())
    }

    /// While the card's share of `text` is over the budget: finish the card with what fits and
    /// continue in the next card.
    async fn roll_over(&mut self, text: &str) -> Result<(), ReplyError> {
        loop {
            let Mode::Card(live) = &self.mode else {
                return Ok(());
            };
            let (part, offset) = (live.part, live.offset);
            let share = tail(text, offset);
            if share.chars().count() <= self.budget {
                return Ok(());
            }
            let head = head_chars(&share, self.budget);
            let head_chars = head.chars().count();
            let done = format!("{head}{CONTINUED}");
            self.replace_card(&card::finished(&to_card_markdown(&done), head))
                .await?;
            self.open_card(part + 1, offset + head_chars, THINKING).await?;
            if matches!(self.mode, Mode::Plain) {
                return Ok(());
            }
        }
    }

    /// Replaces the live card, waiting out rate limits a few times (final states matter).
    async fn replace_card(&mut self, document: &Value) -> Result<(), ReplyError> {
        let Mode::Card(live) = &mut self.mode else {
            return Ok(());
        };
        let api = &self.api;
        let app = &self.app;
        let result = patiently(|| {
            let sequence = live.next_sequence();
            let card_id = live.card_id.clone();
            async move { api.replace_card(app, &card_id, document, sequence).await }
        })
        .await;
        self.last_op = Some(Instant::now());
        result
    }

    /// Sends `text` as `post` replies of at most [`POST_TEXT_BUDGET`] bytes; `kind` separates
    /// the idempotency keys of answers and failure notes.
    async fn send_posts(&mut self, kind: &str, text: &str) -> Result<(), ReplyError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        for (part, text) in split(text, POST_TEXT_BUDGET).iter().enumerate() {
            self.send(kind, part, "post", &card::post(text)).await?;
        }
        Ok(())
    }

    /// Sends one message as a reply to the user's message (to the chat when that message is
    /// gone), idempotent per event, `kind` and `part`.
    async fn send(&self, kind: &str, part: usize, msg_type: &str, content: &Value) -> Result<String, ReplyError> {
        let uuid = uuid_for(&self.key, kind, part);
        let reply = Destination::Reply {
            message_id: &self.message_id,
            in_thread: self.in_thread,
        };
        match patiently(|| self.api.send(&self.app, reply, msg_type, content, &uuid)).await {
            Err(ReplyError::Platform { code, .. }) if code == CODE_RECALLED || code == CODE_DELETED => {
                tracing::info!(
                    platform = "lark",
                    "the message was recalled or deleted; answering in the chat"
                );
                let chat = Destination::Chat(&self.chat_id);
                patiently(|| self.api.send(&self.app, chat, msg_type, content, &uuid)).await
            }
            other => other,
        }
    }

    /// The cards recorded for this answer.
    async fn cards(&self) -> Result<Option<StreamState>, ReplyError> {
        Ok(self
            .store
            .get_stream(&self.integration_id, &self.record_id(), Timestamp::now())
            .await?)
    }

    /// Records card `part` (before it is sent, and again once it is), so a retry finds it and
    /// knows whether it still has to be sent.
    async fn remember_card(
        &self,
        record: &mut Option<StreamState>,
        part: usize,
        card_id: &str,
        created_at: Timestamp,
        sent: bool,
    ) -> Result<(), ReplyError> {
        let entry = json!({"card_id": card_id, "created_at": created_at.as_millis(), "sent": sent});
        let now = Timestamp::now();
        match record {
            Some(state) => {
                let mut cards = state
                    .card
                    .as_ref()
                    .and_then(|c| c["cards"].as_array().cloned())
                    .unwrap_or_default();
                cards.truncate(part);
                cards.push(entry);
                state.card = Some(json!({ "cards": cards }));
                state.version += 1;
                self.store.update_stream(state).await?;
            }
            None => {
                let state = StreamState {
                    integration_id: self.integration_id.clone(),
                    id: self.record_id(),
                    content: String::new(),
                    finished: false,
                    card: Some(json!({ "cards": [entry] })),
                    version: 1,
                    created_at: now,
                    expires_at: now.plus(CARDS_TTL),
                };
                self.store.create_stream(&state).await?;
                *record = Some(state);
            }
        }
        Ok(())
    }

    fn record_id(&self) -> String {
        format!("lark_cards:{}", self.key)
    }

    /// Tells the operator why the answer is not a card.
    async fn note_fallback(&self, why: &str) {
        tracing::warn!(platform = "lark", app_id = %self.app.app_id, reason = why, "cards unavailable; answering with rich text");
        let detail =
            format!("card refused ({why}); answering with rich text. Check the app's cardkit:card:write scope");
        record(
            self.store.as_ref(),
            &self.integration_id,
            EventKind::Error,
            None,
            &detail,
        )
        .await;
    }
}

/// The recorded card of `part`: its id, creation time and whether it was sent.
fn card_at(record: &StreamState, part: usize) -> Option<(String, Timestamp, bool)> {
    let entry = record.card.as_ref()?.get("cards")?.get(part)?;
    let card_id = entry["card_id"].as_str()?.to_owned();
    let created_at = Timestamp::from_millis(entry["created_at"].as_i64()?);
    Some((card_id, created_at, entry["sent"].as_bool().unwrap_or(true)))
}

/// `text` from character `offset`.
fn tail(text: &str, offset: usize) -> String {
    text.chars().skip(offset).collect()
}

/// A send's idempotency key (≤ 50 characters, §4.2): a digest of the event, kind and part.
fn uuid_for(key: &str, kind: &str, part: usize) -> String {
    let digest = Sha256::digest(format!("{key}\n{kind}\n{part}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_count_characters() {
        assert_eq!(tail("héllo", 2), "llo");
    }

    #[test]
    fn uuids_are_short_and_distinct() {
        let a = uuid_for("lark:i:om_1", "answer", 0);
        assert_eq!(a.len(), 32);
        assert_ne!(a, uuid_for("lark:i:om_1", "answer", 1));
        assert_ne!(a, uuid_for("lark:i:om_1", "failure", 0));
        assert_eq!(a, uuid_for("lark:i:om_1", "answer", 0));
    }

    #[test]
    fn sequences_grow_strictly() {
        let mut live = LiveCard {
            part: 0,
            card_id: "c".into(),
            created_at: Timestamp::now(),
            last_sequence: 0,
            offset: 0,
        };
        let a = live.next_sequence();
        let b = live.next_sequence();
        assert!(b > a);
        // A resumed card (created long ago) starts above anything used before.
        live.created_at = Timestamp::now().minus(Duration::from_secs(60));
        live.last_sequence = 0;
        assert!(live.next_sequence() >= 60_000);
    }
}
