//! Answering Telegram messages (§5, §7), replying to the user's message (in its forum topic).
//!
//! - **Thinking**: `typing` is shown when the agent starts, and again every 4 s until the
//!   answer is finished (Telegram shows it for 5 s). In groups a placeholder message is
//!   sent at once as the reply, and edited as the answer grows.
//! - **Streaming**: private chats get a native draft (`sendMessageDraft`, §7.3) refreshed at
//!   most every [`DRAFT_INTERVAL`]; groups an `editMessageText` of the whole text so far at most
//!   every [`EDIT_INTERVAL`] (Telegram's one-edit-per-second practice). A draft Telegram refuses
//!   switches the answer to edits. A rate-limited intermediate update is dropped and later ones
//!   wait out `retry_after`; the final text waits (a few times) since it carries the answer.
//! - **Long answers**: past [`PART_BUDGET`] characters (Telegram's cap is 4,096 after entity
//!   parsing) the message is finished and the answer continues in a new one, cut at a paragraph,
//!   line or word break: never cut off.
//! - **Formatting**: HTML parse mode ([`crate::format`]); a message Telegram refuses to parse is
//!   sent again as plain text.
//! - **Images**: while the answer is written its images (`![alt](https://…)`) show as links;
//!   when it is finished they are taken out of the text and sent after it, each as a photo
//!   (`sendPhoto` with the URL: Telegram downloads it, up to 5 MB), at most
//!   [`MAX_IMAGES`]. A photo Telegram cannot get is sent as its link instead. An answer that is
//!   only images says their alt texts.
//! - **Failure**: the error is the answer, with how to start a new conversation.
//!
//! Once only: every message sent for an answer is recorded in the stream store under the event
//! (its photos after its text), so a retried queue message edits the messages it already sent
//! instead of sending them again, and sends only the photos not recorded yet.
//! (A crash between Telegram accepting a message and the record being written can still show
//! that one message twice: the Bot API has no idempotency key.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::markdown::{Image, MAX_IMAGES, images_to_send, labels, streaming_images};
use imgate_channel_kit::parts::{PartSink, Parts};
use imgate_channel_kit::patience::patiently;
use imgate_channel_kit::text::head_chars;
use imgate_core::credentials::Credentials;
use imgate_core::event::{ConversationKind, ReplyContext};
use imgate_core::ports::{Replier, ReplyError, ReplyStream, ReplyTarget, Store};
use imgate_core::secret::Secret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::api::{ApiError, BotApi};
use crate::format::to_html;

/// The most characters of Markdown in one message, under Telegram's 4,096 with room for what
/// formatting adds.
pub const PART_BUDGET: usize = 4000;

/// Least time between two edits of a group answer.
pub const EDIT_INTERVAL: Duration = Duration::from_millis(1000);

/// Least time between two draft refreshes in a private chat.
pub const DRAFT_INTERVAL: Duration = Duration::from_millis(400);

/// What a group answer shows before the agent writes.
pub const THINKING: &str = "…";

/// Appended to a failure so the user knows the way out.
pub use imgate_channel_kit::failure::NEW_CONVERSATION_HINT;

/// Answers Telegram events.
#[derive(Clone)]
pub struct TelegramReplier {
    store: Arc<dyn Store>,
    api: BotApi,
    edit_interval: Duration,
    draft_interval: Duration,
}

impl TelegramReplier {
    /// A replier recording its messages in `store`, calling the Bot API through `api`.
    pub fn new(store: Arc<dyn Store>, api: BotApi) -> Self {
        Self {
            store,
            api,
            edit_interval: EDIT_INTERVAL,
            draft_interval: DRAFT_INTERVAL,
        }
    }

    /// The same replier with other refresh intervals (tests).
    #[must_use]
    pub fn with_intervals(mut self, edit: Duration, draft: Duration) -> Self {
        self.edit_interval = edit;
        self.draft_interval = draft;
        self
    }
}

#[async_trait]
impl Replier for TelegramReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Telegram {
            chat_id,
            message_id,
            message_thread_id,
        } = target.event.reply
        else {
            return Err(ReplyError::Unsupported(
                "an event without a Telegram reply context".into(),
            ));
        };
        let Credentials::Telegram(bot) = &target.credentials else {
            return Err(ReplyError::Unsupported(
                "Telegram replies without Telegram credentials".into(),
            ));
        };
        let key = target.event.dedupe_key();
        let private = target.event.conversation.kind == ConversationKind::Direct;
        let parts = Parts::load(
            self.store.clone(),
            target.event.integration_id.clone(),
            format!("telegram_messages:{key}"),
        )
        .await?;
        // A previous attempt that already shows messages keeps streaming into them.
        let drafts = private && parts.sent().is_empty();
        Ok(Box::new(Answer {
            sink: Sink {
                api: self.api.clone(),
                token: bot.bot_token.clone(),
                chat_id,
                reply_to: message_id,
                thread: message_thread_id,
            },
            parts,
            draft_id: draft_id(&key),
            drafts,
            interval: if drafts {
                self.draft_interval
            } else {
                self.edit_interval
            },
            edit_interval: self.edit_interval,
            last_op: None,
            hold_until: None,
            typing: None,
            so_far: String::new(),
        }))
    }
}

/// A non-zero draft id per event (§7.3: the same id animates one draft).
fn draft_id(key: &str) -> i64 {
    let digest = Sha256::digest(key.as_bytes());
    i64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) >> 1 | 1)
}

/// Sends and edits the messages of one answer in one chat.
struct Sink {
    api: BotApi,
    token: Secret,
    chat_id: i64,
    reply_to: i64,
    thread: Option<i64>,
}

impl Sink {
    fn base_params(&self) -> Value {
        let mut params = json!({"chat_id": self.chat_id, "link_preview_options": {"is_disabled": true}});
        if let Some(thread) = self.thread {
            params["message_thread_id"] = json!(thread);
        }
        params
    }
}

#[async_trait]
impl PartSink for Sink {
    /// HTML first, plain when Telegram cannot parse it; the first part replies to the user.
    async fn send(&self, index: usize, text: &str) -> Result<String, ReplyError> {
        let mut params = self.base_params();
        if index == 0 {
            params["reply_parameters"] = json!({"message_id": self.reply_to, "allow_sending_without_reply": true});
        }
        let (api, token) = (&self.api, &self.token);
        let sent = with_plain_fallback(params, text, |p| async move { api.send_message(token, &p).await }).await?;
        Ok(sent.message_id.to_string())
    }

    async fn edit(&self, _: usize, id: &str, text: &str) -> Result<(), ReplyError> {
        let message_id: i64 = id
            .parse()
            .map_err(|_| ReplyError::Unsupported("a recorded message id that is not a number".into()))?;
        let params =
            json!({"chat_id": self.chat_id, "message_id": message_id, "link_preview_options": {"is_disabled": true}});
        let (api, token) = (&self.api, &self.token);
        with_plain_fallback(params, text, |p| async move { api.edit_message_text(token, &p).await }).await
    }
}

/// One answer being written.
struct Answer {
    sink: Sink,
    parts: Parts,
    draft_id: i64,
    /// Streaming into a private chat's draft (until Telegram refuses one).
    drafts: bool,
    interval: Duration,
    edit_interval: Duration,
    last_op: Option<Instant>,
    hold_until: Option<Instant>,
    /// Re-sends `typing` while the agent works (it shows for 5 s at most).
    typing: Option<tokio::task::JoinHandle<()>>,
    /// The answer so far, which a failure note follows.
    so_far: String,
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.stop_typing();
    }
}

/// How often `typing` is shown again while the agent works.
const TYPING_EVERY: Duration = Duration::from_secs(4);

impl Answer {
    /// Shows `typing` now and every [`TYPING_EVERY`] until the answer is finished.
    async fn keep_typing(&mut self) {
        let (api, token, chat, thread) = (
            self.sink.api.clone(),
            self.sink.token.clone(),
            self.sink.chat_id,
            self.sink.thread,
        );
        if let Err(error) = api.typing(&token, chat, thread).await {
            tracing::debug!(%error, "typing not shown");
        }
        self.typing = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(TYPING_EVERY).await;
                if let Err(error) = api.typing(&token, chat, thread).await {
                    tracing::debug!(%error, "typing not shown");
                }
            }
        }));
    }

    fn stop_typing(&mut self) {
        if let Some(typing) = self.typing.take() {
            typing.abort();
        }
    }

    /// Whether an intermediate update should wait.
    fn throttled(&self, now: Instant) -> bool {
        self.hold_until.is_some_and(|until| now < until)
            || self.last_op.is_some_and(|at| now.duration_since(at) < self.interval)
    }

    /// Notes a rate limit on an intermediate update: skip until it has passed.
    fn held(&mut self, result: Result<(), ReplyError>) -> Result<(), ReplyError> {
        match result {
            Err(ReplyError::RateLimited { retry_after }) => {
                self.hold_until = Some(Instant::now() + retry_after);
                Ok(())
            }
            other => other,
        }
    }

    /// Refreshes the private chat's draft with the part being written.
    async fn draft(&mut self, part: &str) -> Result<(), ReplyError> {
        let mut params = self.sink.base_params();
        params["draft_id"] = json!(self.draft_id);
        let (api, token) = (&self.sink.api, &self.sink.token);
        let drafted =
            with_plain_fallback(params, part, |p| async move { api.send_message_draft(token, &p).await }).await;
        match drafted {
            Err(ReplyError::Platform { code, message }) => {
                tracing::info!(code, %message, "drafts refused; streaming by edits");
                self.drafts = false;
                self.interval = self.edit_interval;
                Ok(())
            }
            other => other,
        }
    }
}

impl Answer {
    /// Sends the photos of the answer after its `after` text messages, those not recorded yet;
    /// one Telegram cannot get goes as its link.
    async fn send_photos(&mut self, after: usize, images: &[Image]) -> Result<(), ReplyError> {
        for (n, image) in images.iter().enumerate() {
            if self.parts.sent().len() > after + n {
                continue;
            }
            let mut params = self.sink.base_params();
            params["photo"] = json!(image.url);
            let (api, token, params) = (&self.sink.api, &self.sink.token, &params);
            let sent = match patiently(|| async move { api.send_photo(token, params).await.map_err(ReplyError::from) })
                .await
            {
                Ok(message) => message.message_id.to_string(),
                Err(ReplyError::Platform { code, message }) => {
                    tracing::info!(platform = "telegram", code, %message, "the photo was refused; its link is sent instead");
                    let link = image.link();
                    patiently(|| self.sink.send(after + n, &link)).await?
                }
                Err(error) => return Err(error),
            };
            self.parts.remember(sent).await?;
        }
        Ok(())
    }
}

/// Calls `call` with `params` plus `text` as HTML; when Telegram cannot parse the entities,
/// once more with `text` plain.
async fn with_plain_fallback<T, F, Fut>(params: Value, text: &str, call: F) -> Result<T, ReplyError>
where
    F: Fn(Value) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut html = params.clone();
    html["text"] = json!(to_html(text));
    html["parse_mode"] = json!("HTML");
    match call(html).await {
        Err(error) if error.is(400) && error.description().contains("parse entities") => {
            tracing::warn!("Telegram could not parse the formatted text; sending it plain");
            let mut plain = params;
            plain["text"] = json!(text);
            call(plain).await.map_err(ReplyError::from)
        }
        other => other.map_err(ReplyError::from),
    }
}

/// `text` in parts of at most [`PART_BUDGET`] characters, cut at breaks.
fn parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let head = head_chars(rest, PART_BUDGET);
        parts.push(head.to_owned());
        rest = &rest[head.len()..];
    }
    if parts.is_empty() {
        parts.push(THINKING.to_owned());
    }
    parts
}

#[async_trait]
impl ReplyStream for Answer {
    async fn start(&mut self) -> Result<(), ReplyError> {
        self.keep_typing().await;
        if !self.drafts && self.parts.sent().is_empty() {
            self.last_op = Some(Instant::now());
            let placeholder = self.parts.show(&self.sink, &[THINKING.to_owned()], false).await;
            return self.held(placeholder);
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
        let parts = parts(&streaming_images(text));
        let result = if self.drafts {
            let current = parts.last().cloned().unwrap_or_else(|| THINKING.to_owned());
            self.draft(&current).await
        } else {
            self.parts.show(&self.sink, &parts, false).await
        };
        self.held(result)
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        self.stop_typing();
        let (body, images) = images_to_send(text, MAX_IMAGES);
        let body = match body.trim() {
            "" if images.is_empty() => THINKING.to_owned(),
            "" => labels(&images),
            _ => body,
        };
        let text_parts = parts(&body);
        self.parts.show(&self.sink, &text_parts, true).await?;
        self.send_photos(text_parts.len(), &images).await
    }

    /// The failure note follows what was already shown.
    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        let text = imgate_channel_kit::failure::failure_text(&self.so_far, message);
        self.finish(&text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draft_ids_are_non_zero_and_stable() {
        assert_ne!(draft_id("a"), 0);
        assert_eq!(draft_id("telegram:i:1"), draft_id("telegram:i:1"));
        assert_ne!(draft_id("telegram:i:1"), draft_id("telegram:i:2"));
        assert!(draft_id("x") > 0 && draft_id("x") <= i64::from(i32::MAX));
    }

    #[test]
    fn long_texts_are_cut_into_parts_that_fit() {
        let paragraph = "word ".repeat(300);
        let text = format!("{paragraph}\n\n{paragraph}\n\n{paragraph}\n\n{paragraph}");
        let cut = parts(&text);
        assert!(cut.len() >= 2);
        assert!(cut.iter().all(|p| p.chars().count() <= PART_BUDGET));
        assert_eq!(cut.concat(), text, "nothing lost");
        assert_eq!(parts(""), [THINKING.to_owned()]);
    }
}
