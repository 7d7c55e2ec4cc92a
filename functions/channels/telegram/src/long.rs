//! Long polling (§3) in the relay: one `getUpdates` loop per bot, under the relay's lease.
//!
//! - On start the bot's leftover webhook is removed (Telegram refuses `getUpdates` while one is
//!   set) and its identity read (`getMe`, for the group addressing rules); a 401 on either is
//!   `auth_failed`, and the loop is not retried until the credentials change.
//! - Each batch is enqueued update by update through the ingress; only then is the next offset
//!   written to the store and asked for, which is what confirms the batch to Telegram. A
//!   queue that fails ends the run before the offset moves, so the relay asks for the same
//!   updates again when it reconnects (the dedupe claim drops what was already queued).
//! - The offset lives in the store, so a relay that takes over the lease neither skips nor
//!   repeats updates.
//! - `409 Conflict: terminated by other getUpdates request` means another poller uses the same
//!   token: the run ends as kicked and does not fight it. A webhook set meanwhile ends the run
//!   with the reason; 429 waits `retry_after`; anything else reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::cursor::Cursor;
use imgate_core::credentials::Credentials;
use imgate_core::ports::Store;
use imgate_core::relay::{Link, LinkEnd};
use imgate_core::{IntegrationId, Timestamp};

use crate::api::{ApiError, BotApi};
use crate::normalize::{Bot, normalize};
use crate::wire::parse_update;

/// How long one `getUpdates` waits for an update (Telegram's server caps it at 50 s).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(25);

/// How long the offset is kept: Telegram keeps pending updates for 24 hours.
const OFFSET_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest `retry_after` waited out inside a run.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

/// The long-polling connector.
#[derive(Clone)]
pub struct Connector {
    api: BotApi,
    store: Arc<dyn Store>,
    poll_timeout: Duration,
}

impl Connector {
    /// Polls through `api`, keeping offsets in `store`.
    pub fn new(api: BotApi, store: Arc<dyn Store>) -> Self {
        Self {
            api,
            store,
            poll_timeout: POLL_TIMEOUT,
        }
    }

    /// The same connector with another long-poll wait (tests).
    #[must_use]
    pub fn with_poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = timeout;
        self
    }
}

#[async_trait]
impl imgate_core::relay::Connector for Connector {
    async fn run(&self, link: Link) -> LinkEnd {
        let Credentials::Telegram(bot) = link.credentials() else {
            return LinkEnd::AuthFailed("the integration's credentials are not Telegram credentials".into());
        };
        let token = bot.bot_token.clone();
        if let Err(error) = self.api.delete_webhook(&token).await {
            return ended(&link, &error).await;
        }
        let identity = match self.api.get_me(&token).await {
            Ok(user) => user.username.map(|username| Bot { id: user.id, username }),
            Err(error) => return ended(&link, &error).await,
        };
        if let Err(error) = self.api.set_my_commands(&token, &crate::register::COMMANDS).await {
            tracing::warn!(%error, "the command menu was not set");
        }
        link.connected().await;
        let offsets = Offsets::new(self.store.clone(), link.integration_id().clone());
        let mut offset = match offsets.read().await {
            Ok(offset) => offset,
            Err(error) => {
                link.error(&format!("the stored polling offset could not be read: {error}"))
                    .await;
                return LinkEnd::Closed;
            }
        };
        loop {
            let batch = tokio::select! {
                () = link.stopping() => return LinkEnd::Stopped,
                batch = self.api.get_updates(&token, offset, self.poll_timeout) => batch,
            };
            let updates = match batch {
                Ok(updates) => updates,
                Err(ApiError::Refused {
                    retry_after: Some(wait),
                    ..
                }) => {
                    tokio::select! {
                        () = link.stopping() => return LinkEnd::Stopped,
                        () = tokio::time::sleep(Duration::from_secs(wait).min(MAX_RATE_WAIT)) => continue,
                    }
                }
                Err(error) => return ended(&link, &error).await,
            };
            let before = offset;
            for raw in updates {
                let update_id = raw["update_id"].as_i64();
                match parse_update(raw.to_string().as_bytes()) {
                    Ok(update) => {
                        if let Some(event) =
                            normalize(&update, link.integration_id(), identity.as_ref(), Timestamp::now())
                        {
                            if let Err(error) = link.ingress().receive(event, "polled update").await {
                                link.error(&format!(
                                    "update {} not queued ({error}); polling again",
                                    update.update_id
                                ))
                                .await;
                                // The offset stays: the same updates are asked for again.
                                return LinkEnd::Closed;
                            }
                        }
                        link.event_received().await;
                    }
                    Err(error) => link.error(&format!("update {update_id:?} skipped: {error}")).await,
                }
                if let Some(id) = update_id {
                    offset = offset.max(id + 1);
                }
            }
            if offset != before
                && let Err(error) = offsets.write(offset).await
            {
                link.error(&format!("the polling offset could not be stored: {error}"))
                    .await;
                return LinkEnd::Closed;
            }
        }
    }
}

/// How a refused call ends the run.
async fn ended(link: &Link, error: &ApiError) -> LinkEnd {
    if error.is(401) || error.is(404) {
        return LinkEnd::AuthFailed(format!("Telegram refused the bot token ({error})"));
    }
    if error.is(409) && error.description().contains("terminated by other getUpdates") {
        link.error("another program polls this bot's updates (409 Conflict)")
            .await;
        return LinkEnd::Kicked;
    }
    link.error(&error.to_string()).await;
    LinkEnd::Closed
}

/// The bot's polling offset in the stream store.
struct Offsets(Cursor);

impl Offsets {
    const ID: &'static str = "telegram_offset";

    fn new(store: Arc<dyn Store>, integration_id: IntegrationId) -> Self {
        Self(Cursor::new(store, integration_id, Self::ID.to_owned(), OFFSET_TTL))
    }

    async fn read(&self) -> Result<i64, imgate_core::ports::StoreError> {
        Ok(self.0.read().await?.and_then(|s| s.parse().ok()).unwrap_or(0))
    }

    async fn write(&self, offset: i64) -> Result<(), imgate_core::ports::StoreError> {
        self.0.write(&offset.to_string()).await
    }
}
