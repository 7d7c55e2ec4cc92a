//! Long polling (§3) in the relay: one `getupdates` loop per bot, under the relay's lease.
//!
//! - `notifystart` when polling starts and `notifystop` when it is asked to stop, best effort
//!   (§2.4).
//! - Each answer's messages are enqueued one by one through the ingress (which dedupes on the
//!   message id); only then is the answer's cursor stored and sent with the next poll, which is
//!   what confirms the batch. A queue that fails ends the run before the cursor moves, so the
//!   relay asks for the same messages again when it reconnects.
//! - The cursor lives in the store under the bot token's digest: a relay that takes over the
//!   lease neither skips nor repeats, and a new login (a new token) starts from an empty cursor
//!   while an old poller can never write the old token's cursor over it (§2.3, §10.6).
//! - The client waits the server's `longpolling_timeout_ms` plus a margin; a client timeout is
//!   not an error, the same cursor is asked again.
//! - `-14` / "session timeout" or HTTP 401 ends the run as `login_expired`: no retry until a new
//!   QR login changes the credentials (§6). Anything else reconnects with the relay's backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_channel_kit::cursor::Cursor;
use imgate_core::Timestamp;
use imgate_core::credentials::Credentials;
use imgate_core::ports::Store;
use imgate_core::relay::{Link, LinkEnd};
use sha2::{Digest, Sha256};

use crate::api::{Account, ApiError, Client, DEFAULT_HOLD};
use crate::normalize::normalize;
use crate::wire::Message;

/// How long a cursor is kept after its last write.
const CURSOR_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest hold a server may ask for (a bad value never parks the poller for long).
const MAX_HOLD: Duration = Duration::from_secs(120);

/// The long-polling connector.
#[derive(Clone)]
pub struct Connector {
    client: Client,
    store: Arc<dyn Store>,
    default_base: String,
}

impl Connector {
    /// Polls through `client` (at `default_base` unless the login named another base), keeping
    /// cursors in `store`.
    pub fn new(client: Client, store: Arc<dyn Store>, default_base: String) -> Self {
        Self {
            client,
            store,
            default_base,
        }
    }
}

/// The account of `credentials`, on `default_base` unless they name their own; `None` before
/// the first login gave a token.
pub fn account(credentials: &crate::Wechat, default_base: &str) -> Option<Account> {
    Some(Account {
        base: credentials
            .base_url
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| default_base.to_owned()),
        token: credentials.bot_token.clone()?,
    })
}

/// The cursor's record id: per bot token, so a new login starts afresh.
pub fn cursor_id(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = hex::encode(&digest[..8]);
    format!("wechat_cursor:{hex}")
}

#[async_trait]
impl imgate_core::relay::Connector for Connector {
    async fn run(&self, link: Link) -> LinkEnd {
        let Credentials::Wechat(bot) = link.credentials() else {
            return LinkEnd::AuthFailed("the integration's credentials are not WeChat credentials".into());
        };
        let Some(account) = account(bot, &self.default_base) else {
            return LinkEnd::LoginExpired(
                "not logged in yet: start a QR login (POST …/login or `imgate login wechat`) and scan the code".into(),
            );
        };
        let cursor = Cursor::new(
            self.store.clone(),
            link.integration_id().clone(),
            cursor_id(account.token.expose()),
            CURSOR_TTL,
        );
        let mut position = match cursor.read().await {
            Ok(position) => position.unwrap_or_default(),
            Err(error) => {
                link.error(&format!("the stored polling cursor could not be read: {error}"))
                    .await;
                return LinkEnd::Closed;
            }
        };
        if let Err(error) = self.client.notify(&account, true).await {
            tracing::info!(%error, "notifystart failed; polling anyway");
        }
        link.connected().await;
        let mut hold = DEFAULT_HOLD;
        loop {
            let polled = tokio::select! {
                () = link.stopping() => {
                    self.notify_stop(&account).await;
                    return LinkEnd::Stopped;
                }
                polled = self.client.get_updates(&account, &position, hold) => polled,
            };
            let updates = match polled {
                Ok(updates) => updates,
                Err(ApiError::Timeout { .. }) => continue,
                Err(error) if error.session_expired() => {
                    return LinkEnd::LoginExpired(format!(
                        "iLink ended the bot's session ({error}); log in again with a new QR code"
                    ));
                }
                Err(error) => {
                    link.error(&error.to_string()).await;
                    return LinkEnd::Closed;
                }
            };
            if let Some(ms) = updates.longpolling_timeout_ms.filter(|ms| *ms > 0) {
                hold = Duration::from_millis(ms).min(MAX_HOLD);
            }
            for raw in updates.msgs {
                match serde_json::from_value::<Message>(raw) {
                    Ok(message) => {
                        if let Some(event) = normalize(&message, link.integration_id(), Timestamp::now()) {
                            let event_id = event.event_id.clone();
                            if let Err(error) = link.ingress().receive(event, "polled message").await {
                                link.error(&format!("message {event_id} not queued ({error}); polling again"))
                                    .await;
                                // The cursor stays: the same messages are asked for again.
                                return LinkEnd::Closed;
                            }
                        }
                        link.event_received().await;
                    }
                    Err(error) => {
                        link.error(&format!(
                            "a message was skipped: {}",
                            imgate_channel_kit::redact::json_error(&error)
                        ))
                        .await;
                    }
                }
            }
            if let Some(next) = updates.get_updates_buf.filter(|n| !n.is_empty() && *n != position) {
                if let Err(error) = cursor.write(&next).await {
                    link.error(&format!("the polling cursor could not be stored: {error}"))
                        .await;
                    return LinkEnd::Closed;
                }
                position = next;
            }
        }
    }
}

impl Connector {
    /// `notifystop`, best effort and bounded, as the run ends.
    async fn notify_stop(&self, account: &Account) {
        let stop = self.client.notify(account, false);
        match tokio::time::timeout(Duration::from_secs(2), stop).await {
            Ok(Err(error)) => tracing::info!(%error, "notifystop failed"),
            Err(_) => tracing::info!("notifystop did not answer in time"),
            Ok(Ok(())) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_per_token_and_hide_it() {
        let a = cursor_id("token-a");
        assert_eq!(a, cursor_id("token-a"));
        assert_ne!(a, cursor_id("token-b"));
        assert!(!a.contains("token"));
    }
}
