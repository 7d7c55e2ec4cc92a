//! Platform access tokens shared by every instance through the store's [`TokenCache`]: sealed
//! at rest with the cache key as context, and used only while they stay valid for a margin.
//! Cache failures never fail a reply; they only cost a refetch, so they are logged.

use std::sync::Arc;
use std::time::Duration;

use imgate_core::Timestamp;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{CachedToken, ReplyError, TokenCache};
use imgate_core::secret::Secret;
use sha2::{Digest, Sha256};

/// The sealed token cache of one platform.
#[derive(Clone)]
pub struct SealedTokens {
    platform: &'static str,
    tokens: Arc<dyn TokenCache>,
    keyring: Arc<dyn Keyring>,
}

impl std::fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedTokens")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

impl SealedTokens {
    /// A cache for `platform`'s tokens (the name only labels log lines).
    pub fn new(platform: &'static str, tokens: Arc<dyn TokenCache>, keyring: Arc<dyn Keyring>) -> Self {
        Self {
            platform,
            tokens,
            keyring,
        }
    }

    /// The token under `key` if it is still valid `margin` after `now` and can be opened.
    ///
    /// # Errors
    /// [`ReplyError::Store`] when the cache cannot be read.
    pub async fn cached(&self, key: &str, now: Timestamp, margin: Duration) -> Result<Option<Secret>, ReplyError> {
        let Some(cached) = self.tokens.get_token(key, now).await? else {
            return Ok(None);
        };
        if cached.expires_at.minus(margin) <= now {
            return Ok(None);
        }
        match self.keyring.open(&cached.token, key).await {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(token) if !token.is_empty() => Ok(Some(Secret::new(token))),
                _ => {
                    tracing::warn!(platform = self.platform, "cached token is not text; refetching");
                    Ok(None)
                }
            },
            Err(error) => {
                tracing::warn!(platform = self.platform, %error, "cached token unreadable; refetching");
                Ok(None)
            }
        }
    }

    /// Caches `token` until `expires_at`.
    pub async fn store(&self, key: &str, token: &Secret, expires_at: Timestamp) {
        let sealed = match self.keyring.seal(token.expose().as_bytes(), key).await {
            Ok(sealed) => sealed,
            Err(error) => {
                tracing::warn!(platform = self.platform, %error, "could not seal the access token; not caching it");
                return;
            }
        };
        if let Err(error) = self
            .tokens
            .put_token(
                key,
                &CachedToken {
                    token: sealed,
                    expires_at,
                },
            )
            .await
        {
            tracing::warn!(platform = self.platform, %error, "could not cache the access token");
        }
    }

    /// Forgets the token under `key` (the platform rejected it).
    pub async fn invalidate(&self, key: &str) {
        if let Err(error) = self.tokens.invalidate_token(key).await {
            tracing::warn!(platform = self.platform, %error, "could not invalidate the cached token");
        }
    }
}

/// A cache key for an app's token: `<prefix>:app:<app id>:<digest of the secret>`, so a rotated
/// secret gets a new token and the secret itself is never stored.
pub fn cache_key(prefix: &str, app_id: &str, secret: &Secret) -> String {
    let digest = Sha256::digest(secret.expose().as_bytes());
    let mut key = format!("{prefix}:app:{app_id}:");
    for b in &digest[..16] {
        key.push_str(&format!("{b:02x}"));
    }
    key
}
