//! Answering WeChat messages (§4, §7, §8): whole blocks, never edits, within the send budget.
//!
//! - **Thinking**: `getconfig` gives a typing ticket; `sendtyping` shows the indicator when the
//!   agent starts and again every [`TYPING_EVERY`], and cancels it when the answer is done.
//!   Failures are ignored (typing does not count toward the send budget, §4.4).
//! - **Blocks**: WeChat has no edit, so nothing is streamed: the answer is buffered and sent
//!   when finished, in blocks of at most [`crate::format::BLOCK_CHARS`] characters cut at
//!   paragraph breaks (of at most [`crate::format::LONG_BLOCK_CHARS`] when the budget needs
//!   it), each one `sendmessage` with the user's context token.
//! - **Pace**: blocks go out at least [`BLOCK_GAP`] apart (§7).
//! - **Budget**: one inbound message allows [`SEND_BUDGET`] sends (§7). An answer takes at most
//!   [`MAX_BLOCKS`] of them and keeps one for the retry below; an answer longer than that
//!   many long blocks is cut with a note, and the event log says so.
//! - **Refusal** (`ret=-2`): nothing is hammered. The answer stops, waits the back-off, then
//!   sends everything not yet delivered as one merged block (within one long block, cut with a
//!   note past it), once; the event log says so. A
//!   second refusal is logged and the rest is dropped: only a new message from the user
//!   reliably lifts the penalty, and every try during it reportedly lengthens it.
//! - **Images** (`![alt](https://…)`): when the answer is finished they are taken out of the
//!   text, downloaded ([`imgate_channel_kit::download`]), encrypted and uploaded to the media
//!   CDN (§5.1) and each sent after the text as an image item (§4.2), at most as many as the
//!   send budget leaves after the text's blocks; one that cannot be had, or has no room in the
//!   budget, stays a link in the text. An image refused with `ret=-2` ends the answer there
//!   (logged), as every further send would be refused too.
//! - **Once only**: each delivered block is recorded in the stream store under the event
//!   (`wechat_blocks:<event>`), so a retried queue message sends only the blocks not yet
//!   delivered; a refusal is recorded before the back-off, so a retry after a crash goes
//!   straight to the merged block; a merged last block, or a given-up answer, marks the answer
//!   done. Each sent image is recorded as well (`image:<n>`), so a retry sends only the images
//!   not sent yet.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::download::Downloader;
use imgate_channel_kit::markdown::{Image, MAX_IMAGES, images_to_send, labels, with_links};
use imgate_channel_kit::parts::Parts;
use imgate_core::IntegrationId;
use imgate_core::credentials::Credentials;
use imgate_core::event::ReplyContext;
use imgate_core::event_log::{EventKind, record};
use imgate_core::ports::{Replier, ReplyError, ReplyStream, ReplyTarget, Store};
use imgate_core::secret::Secret;
use sha2::{Digest, Sha256};

use crate::api::{Account, ApiError, Client, DEFAULT_CDN_URL, Uploaded};
use crate::format::{LONG_BLOCK_CHARS, blocks, is_cut, merged};
use crate::long::account;

/// Sends one inbound message allows (§7).
pub const SEND_BUDGET: usize = 10;

/// The most blocks of one answer: the budget less one kept for the merged retry.
pub const MAX_BLOCKS: usize = SEND_BUDGET - 1;

/// How long a refused send waits before its one merged retry (§7: minutes, not seconds).
pub const REFUSAL_BACKOFF: Duration = Duration::from_secs(120);

/// The least time between two blocks of one answer: about 1 s between sends to one user
/// (§7: three sends within a second were seen refused).
pub const BLOCK_GAP: Duration = Duration::from_millis(1100);

/// How often the typing indicator is shown again (the plugin's 5 s, §4.4).
pub const TYPING_EVERY: Duration = Duration::from_secs(5);

/// Appended to a failure so the user knows the way out.
pub use imgate_channel_kit::failure::NEW_CONVERSATION_HINT;

/// Recorded ids that mark an answer as done (a merged last block, or given up).
const DONE_MARK: &str = "done:";

/// A recorded id that marks a refused send (the next try is the merged block).
const REFUSED_MARK: &str = "refused:";

/// Recorded ids of sent images: `image:<n>`.
const IMAGE_MARK: &str = "image:";

/// Answers WeChat events.
#[derive(Clone)]
pub struct WechatReplier {
    store: Arc<dyn Store>,
    client: Client,
    default_base: String,
    backoff: Duration,
    cdn: String,
    downloader: Downloader,
}

impl WechatReplier {
    /// A replier recording its blocks in `store`, calling iLink through `client` (at
    /// `default_base` unless the login named another base).
    pub fn new(store: Arc<dyn Store>, client: Client, default_base: String) -> Self {
        Self {
            store,
            downloader: Downloader::new(client.http().clone()),
            client,
            default_base,
            backoff: REFUSAL_BACKOFF,
            cdn: DEFAULT_CDN_URL.to_owned(),
        }
    }

    /// The same replier uploading images to the CDN at `cdn`.
    #[must_use]
    pub fn with_cdn(mut self, cdn: String) -> Self {
        self.cdn = cdn;
        self
    }

    /// The same replier with another back-off after a refused send (tests).
    #[must_use]
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }
}

#[async_trait]
impl Replier for WechatReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let ReplyContext::Wechat {
            to_user_id,
            context_token,
        } = &target.event.reply
        else {
            return Err(ReplyError::Unsupported(
                "an event without a WeChat reply context".into(),
            ));
        };
        let Credentials::Wechat(bot) = &target.credentials else {
            return Err(ReplyError::Unsupported(
                "WeChat replies without WeChat credentials".into(),
            ));
        };
        let Some(account) = account(bot, &self.default_base) else {
            return Err(ReplyError::Unsupported(
                "a WeChat integration that is not logged in".into(),
            ));
        };
        let key = target.event.dedupe_key();
        let parts = Parts::load(
            self.store.clone(),
            target.event.integration_id.clone(),
            format!("wechat_blocks:{key}"),
        )
        .await?;
        Ok(Box::new(Answer {
            chat: Chat {
                client: self.client.clone(),
                account,
                to_user: to_user_id.clone(),
                context_token: context_token.clone(),
            },
            store: self.store.clone(),
            cdn: self.cdn.clone(),
            downloader: self.downloader.clone(),
            integration_id: target.event.integration_id.clone(),
            event_id: target.event.event_id.clone(),
            client_ids: client_id_base(&key),
            parts,
            backoff: self.backoff,
            typing: None,
            so_far: String::new(),
        }))
    }
}

/// A stable prefix of the `client_id`s of one answer's blocks.
fn client_id_base(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = hex::encode(&digest[..10]);
    format!("imgate-{hex}")
}

/// Where one answer goes.
#[derive(Clone)]
struct Chat {
    client: Client,
    account: Account,
    to_user: String,
    context_token: Option<Secret>,
}

impl Chat {
    async fn send(&self, client_id: &str, text: &str) -> Result<(), ApiError> {
        self.client
            .send_text(
                &self.account,
                &self.to_user,
                self.context_token.as_ref(),
                client_id,
                text,
            )
            .await
    }

    /// Shows the typing indicator once; a failure only leaves it unshown.
    async fn show_typing(&self, ticket: &str) {
        if let Err(error) = self
            .client
            .send_typing(&self.account, &self.to_user, ticket, true)
            .await
        {
            tracing::debug!(%error, "typing not shown");
        }
    }

    /// Shows typing now and every [`TYPING_EVERY`]; the ticket, if one was given.
    async fn start_typing(&self) -> Option<Typing> {
        let ticket = match self
            .client
            .typing_ticket(&self.account, &self.to_user, self.context_token.as_ref())
            .await
        {
            Ok(Some(ticket)) => ticket,
            Ok(None) => return None,
            Err(error) => {
                tracing::debug!(%error, "no typing ticket; typing not shown");
                return None;
            }
        };
        // Shown before `start` returns, so a quick answer's cancel can never overtake it.
        self.show_typing(&ticket).await;
        let chat = self.clone();
        let refresh_ticket = ticket.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TYPING_EVERY).await;
                chat.show_typing(&refresh_ticket).await;
            }
        });
        Some(Typing { ticket, task })
    }
}

/// The typing indicator of one answer.
struct Typing {
    ticket: String,
    task: tokio::task::JoinHandle<()>,
}

/// One answer being written.
struct Answer {
    chat: Chat,
    store: Arc<dyn Store>,
    cdn: String,
    downloader: Downloader,
    integration_id: IntegrationId,
    event_id: String,
    client_ids: String,
    parts: Parts,
    backoff: Duration,
    typing: Option<Typing>,
    /// The answer so far, which a failure note follows.
    so_far: String,
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(typing) = self.typing.take() {
            typing.task.abort();
        }
    }
}

impl Answer {
    async fn stop_typing(&mut self) {
        if let Some(typing) = self.typing.take() {
            typing.task.abort();
            let chat = &self.chat;
            if let Err(error) = chat
                .client
                .send_typing(&chat.account, &chat.to_user, &typing.ticket, false)
                .await
            {
                tracing::debug!(%error, "typing not cancelled");
            }
        }
    }

    async fn log(&self, kind: EventKind, detail: &str) {
        record(
            self.store.as_ref(),
            &self.integration_id,
            kind,
            Some(&self.event_id),
            detail,
        )
        .await;
    }

    /// Sends `text`'s blocks not delivered yet.
    async fn deliver(&mut self, text: &str) -> Result<(), ReplyError> {
        let recorded = self.parts.sent();
        if recorded.iter().any(|id| id.starts_with(DONE_MARK)) {
            return Ok(());
        }
        let refused_before = recorded.iter().any(|id| id.starts_with(REFUSED_MARK));
        let delivered = recorded
            .iter()
            .filter(|id| !id.starts_with(REFUSED_MARK) && !id.starts_with(IMAGE_MARK))
            .count();
        let blocks = blocks(text, MAX_BLOCKS);
        let total = blocks.len();
        if delivered >= total {
            return Ok(());
        }
        if delivered == 0 && is_cut(&blocks) {
            self.log(
                EventKind::Replied,
                &format!(
                    "the answer is longer than {MAX_BLOCKS} blocks of {LONG_BLOCK_CHARS} characters \
                     (WeChat's send budget); it is cut with a note"
                ),
            )
            .await;
        }
        if refused_before {
            // An earlier attempt was refused and did not get to its merged retry (a crash, a
            // timeout): the retry is that one merged block, never the refused send again.
            return self.merged_retry(&blocks[delivered..], delivered, total).await;
        }
        for index in delivered..total {
            if index > delivered {
                tokio::time::sleep(BLOCK_GAP).await;
            }
            let client_id = format!("{}-{index}", self.client_ids);
            match self.chat.send(&client_id, &blocks[index]).await {
                Ok(()) => self.parts.remember(client_id).await?,
                Err(error) if error.send_refused() => {
                    self.parts.remember(format!("{REFUSED_MARK}{index}")).await?;
                    self.log(
                        EventKind::Retrying,
                        &format!(
                            "WeChat refused block {} of {total} (ret -2: send budget or throttle); not retrying \
                             now, the rest goes once as one block after {:.1} s",
                            index + 1,
                            self.backoff.as_secs_f64()
                        ),
                    )
                    .await;
                    return self.merged_retry(&blocks[index..], index, total).await;
                }
                Err(error) => return Err(reply_error(error)),
            }
        }
        Ok(())
    }

    /// The one merged retry after a refused send: waits the back-off, sends `rest` as one
    /// block once, and marks the answer done whatever WeChat says.
    async fn merged_retry(&mut self, rest: &[String], index: usize, total: usize) -> Result<(), ReplyError> {
        tokio::time::sleep(self.backoff).await;
        let merged = merged(rest);
        let client_id = format!("{}-{index}-merged", self.client_ids);
        match self.chat.send(&client_id, &merged).await {
            Ok(()) => {
                self.parts.remember(format!("{DONE_MARK}{client_id}")).await?;
                self.log(
                    EventKind::Replied,
                    &format!(
                        "the rest of the answer was delivered as one merged block ({} blocks)",
                        rest.len()
                    ),
                )
                .await;
                Ok(())
            }
            Err(error) if error.send_refused() => {
                self.parts.remember(format!("{DONE_MARK}gave-up")).await?;
                self.log(
                    EventKind::Error,
                    &format!(
                        "WeChat refused the merged block too (ret -2); {} of {total} blocks were not delivered \
                         and are not retried until the user writes again",
                        rest.len()
                    ),
                )
                .await;
                Ok(())
            }
            Err(error) => Err(reply_error(error)),
        }
    }
}

impl Answer {
    fn image_sent(&self, n: usize) -> bool {
        let mark = format!("{IMAGE_MARK}{n}");
        self.parts.sent().contains(&mark)
    }

    /// `image` downloaded and uploaded to the CDN, or `None` (logged) when it cannot be had.
    async fn upload(&self, image: &Image) -> Option<Uploaded> {
        let downloaded = match self.downloader.image(&image.url).await {
            Ok(downloaded) => downloaded,
            Err(error) => {
                tracing::warn!(platform = "wechat", %error, "an image of the answer could not be downloaded; it stays a link");
                return None;
            }
        };
        let chat = &self.chat;
        match chat
            .client
            .upload_image(&chat.account, &self.cdn, &chat.to_user, &downloaded)
            .await
        {
            Ok(uploaded) => Some(uploaded),
            Err(error) => {
                tracing::warn!(platform = "wechat", %error, "an image of the answer could not be uploaded; it stays a link");
                None
            }
        }
    }

    /// Sends the uploaded images after the text, each once, unless the text's sends ended in a
    /// refusal or were given up.
    async fn send_images(&mut self, uploaded: Vec<(usize, Uploaded)>) -> Result<(), ReplyError> {
        let stopped = self
            .parts
            .sent()
            .iter()
            .any(|id| id.starts_with(DONE_MARK) || id.starts_with(REFUSED_MARK));
        if stopped {
            return Ok(());
        }
        for (n, image) in uploaded {
            tokio::time::sleep(BLOCK_GAP).await;
            let client_id = format!("{}-image-{n}", self.client_ids);
            let chat = &self.chat;
            match chat
                .client
                .send_image(
                    &chat.account,
                    &chat.to_user,
                    chat.context_token.as_ref(),
                    &client_id,
                    &image,
                )
                .await
            {
                Ok(()) => self.parts.remember(format!("{IMAGE_MARK}{n}")).await?,
                Err(error) if error.send_refused() => {
                    self.parts.remember(format!("{DONE_MARK}image-refused")).await?;
                    self.log(
                        EventKind::Error,
                        &format!(
                            "WeChat refused image {} of the answer (ret -2); it and the rest are not sent",
                            n + 1
                        ),
                    )
                    .await;
                    return Ok(());
                }
                Err(error) => return Err(reply_error(error)),
            }
        }
        Ok(())
    }
}

fn reply_error(error: ApiError) -> ReplyError {
    match error {
        ApiError::Refused { code, message, .. } => {
            if code == crate::api::SESSION_EXPIRED {
                ReplyError::Expired
            } else {
                ReplyError::Platform { code, message }
            }
        }
        ApiError::Http { status: 401, .. } => ReplyError::Expired,
        other => ReplyError::Transport(other.to_string()),
    }
}

#[async_trait]
impl ReplyStream for Answer {
    async fn start(&mut self) -> Result<(), ReplyError> {
        self.typing = self.chat.start_typing().await;
        Ok(())
    }

    /// Buffered: WeChat cannot edit a message, so nothing is sent before the end.
    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        text.clone_into(&mut self.so_far);
        Ok(())
    }

    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        self.stop_typing().await;
        let (body, mut images) = images_to_send(text, MAX_IMAGES);
        // Images take sends from the budget the text's blocks leave.
        let room = MAX_BLOCKS.saturating_sub(blocks(&with_links(&body, &images), MAX_BLOCKS).len());
        let mut links = images.split_off(room.min(images.len()));
        let mut uploaded = Vec::new();
        for (n, image) in images.iter().enumerate() {
            if self.image_sent(n) {
                continue;
            }
            match self.upload(image).await {
                Some(item) => uploaded.push((n, item)),
                None => links.push(image.clone()),
            }
        }
        let text = with_links(&body, &links);
        let text = match text.trim() {
            "" if images.is_empty() => "…".to_owned(),
            "" => labels(&images),
            _ => text,
        };
        self.deliver(&text).await?;
        self.send_images(uploaded).await
    }

    /// The failure note follows what the agent had written.
    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        let text = imgate_channel_kit::failure::failure_text(&self.so_far, message);
        self.finish(&text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_stable_per_event() {
        assert_eq!(client_id_base("wechat:i:1"), client_id_base("wechat:i:1"));
        assert_ne!(client_id_base("wechat:i:1"), client_id_base("wechat:i:2"));
        const { assert!(MAX_BLOCKS < SEND_BUDGET) };
    }
}
