//! Platform access tokens shared by every instance through the store's [`TokenCache`]: sealed
//! at rest with the cache key as context, and used only while they stay valid for a margin.
//! Cache failures never fail a reply; they only cost a refetch, so they are logged.
//!
//! [`SealedTokens::get_or_fetch`] fetches a missing token once per key in a process however
//! many replies ask at the same moment (platforms rate-limit their token endpoints and some
//! revoke the previous token on each fetch), and [`SealedTokens::with_token`] is the whole
//! "call, and on the platform's token-invalid answer drop the token and call once more" flow.
//!
//! A process also keeps the tokens it used in memory until they near their expiry, so a warm
//! function or the relay reads the store once per token rather than once per platform call.
//! On a token-invalid answer the memory copy is dropped and the store is read again: another
//! instance may have stored a newer token there, which is used instead of fetching (a fetch
//! may revoke the token every other instance holds).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
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
    /// One lock per key being fetched, so concurrent misses fetch once.
    fetching: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The tokens this process used, with their expiry.
    memory: Arc<Mutex<HashMap<String, (Secret, Timestamp)>>>,
}

/// A token just fetched from the platform.
#[derive(Debug)]
pub struct Fetched {
    /// The token.
    pub token: Secret,
    /// How long the platform says it stays valid.
    pub expires_in: Duration,
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
            fetching: Arc::default(),
            memory: Arc::default(),
        }
    }

    /// The token under `key`: the cached one while it stays valid for `margin`, else one from
    /// `fetch`, cached for the next caller. Concurrent callers in this process wait for one
    /// fetch and share its token.
    ///
    /// # Errors
    /// [`ReplyError::Store`] when the cache cannot be read, and whatever `fetch` returns.
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, margin: Duration, fetch: F) -> Result<Secret, ReplyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, ReplyError>>,
    {
        if let Some(token) = self.cached(key, Timestamp::now(), margin).await? {
            return Ok(token);
        }
        let lock = self
            .fetching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = async {
            let _fetching = lock.lock().await;
            // Another caller may have fetched while this one waited.
            if let Some(token) = self.cached(key, Timestamp::now(), margin).await? {
                return Ok(token);
            }
            let now = Timestamp::now();
            let fetched = fetch().await?;
            self.store(key, &fetched.token, now.plus(fetched.expires_in)).await;
            Ok(fetched.token)
        }
        .await;
        let mut fetching = self.fetching.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's and this caller's handles: nobody else waits on it.
        if Arc::strong_count(&lock) == 2 {
            fetching.remove(key);
        }
        result
    }

    /// Calls `call` with the token under `key` (see [`SealedTokens::get_or_fetch`]); when
    /// `rejected` says the platform refused the token, drops it and calls once more with a
    /// fresh one.
    ///
    /// # Errors
    /// Token errors as `E`, and whatever `call` returns.
    pub async fn with_token<T, E, F, FetchFut, C, CallFut>(
        &self,
        key: &str,
        margin: Duration,
        fetch: F,
        call: C,
        rejected: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        E: From<ReplyError>,
        F: Fn() -> FetchFut,
        FetchFut: Future<Output = Result<Fetched, ReplyError>>,
        C: Fn(Secret) -> CallFut,
        CallFut: Future<Output = Result<T, E>>,
    {
        let token = self.get_or_fetch(key, margin, &fetch).await?;
        match call(token.clone()).await {
            Err(error) if rejected(&error) => {
                self.forget(key);
                // Another instance may have replaced the token in the store already.
                if let Some(newer) = self.cached(key, Timestamp::now(), margin).await?
                    && newer != token
                {
                    tracing::info!(
                        platform = self.platform,
                        "access token rejected; using the newer one in the store"
                    );
                    return call(newer).await;
                }
                tracing::warn!(
                    platform = self.platform,
                    "access token rejected; fetching a new one once"
                );
                self.invalidate(key).await;
                let token = self.get_or_fetch(key, margin, &fetch).await?;
                call(token).await
            }
            other => other,
        }
    }

    /// The token under `key` in this process's memory, if still valid `margin` after `now`.
    fn remembered(&self, key: &str, now: Timestamp, margin: Duration) -> Option<Secret> {
        let memory = self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        memory
            .get(key)
            .filter(|(_, expires_at)| expires_at.minus(margin) > now)
            .map(|(token, _)| token.clone())
    }

    fn remember(&self, key: &str, token: &Secret, expires_at: Timestamp) {
        let mut memory = self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        memory.insert(key.to_owned(), (token.clone(), expires_at));
    }

    fn forget(&self, key: &str) {
        let mut memory = self.memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        memory.remove(key);
    }

    /// The token under `key` if it is still valid `margin` after `now` and can be opened.
    ///
    /// # Errors
    /// [`ReplyError::Store`] when the cache cannot be read.
    pub async fn cached(&self, key: &str, now: Timestamp, margin: Duration) -> Result<Option<Secret>, ReplyError> {
        if let Some(token) = self.remembered(key, now, margin) {
            return Ok(Some(token));
        }
        let Some(cached) = self.tokens.get_token(key, now).await? else {
            return Ok(None);
        };
        if cached.expires_at.minus(margin) <= now {
            return Ok(None);
        }
        match self.keyring.open(&cached.token, key).await {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(token) if !token.is_empty() => {
                    let token = Secret::new(token);
                    self.remember(key, &token, cached.expires_at);
                    Ok(Some(token))
                }
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
        self.remember(key, token, expires_at);
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
        self.forget(key);
        if let Err(error) = self.tokens.invalidate_token(key).await {
            tracing::warn!(platform = self.platform, %error, "could not invalidate the cached token");
        }
    }
}

/// A cache key for an app's token: `<prefix>:app:<app id>:<digest of the secret>`, so a rotated
/// secret gets a new token and the secret itself is never stored.
pub fn cache_key(prefix: &str, app_id: &str, secret: &Secret) -> String {
    let digest = Sha256::digest(secret.expose().as_bytes());
    format!("{prefix}:app:{app_id}:{}", hex::encode(&digest[..16]))
}

/// An in-memory [`TokenCache`] for tests: the store's token table in a map.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct MemoryTokens(pub Mutex<HashMap<String, CachedToken>>);

#[cfg(any(test, feature = "testing"))]
#[async_trait::async_trait]
impl TokenCache for MemoryTokens {
    async fn get_token(&self, key: &str, now: Timestamp) -> imgate_core::ports::StoreResult<Option<CachedToken>> {
        let tokens = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(tokens.get(key).filter(|t| t.expires_at > now).cloned())
    }
    async fn put_token(&self, key: &str, token: &CachedToken) -> imgate_core::ports::StoreResult<()> {
        let mut tokens = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.insert(key.to_owned(), token.clone());
        Ok(())
    }
    async fn invalidate_token(&self, key: &str) -> imgate_core::ports::StoreResult<()> {
        let mut tokens = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.remove(key);
        Ok(())
    }
}

#[cfg(test)]
#[path = "tokens_tests.rs"]
mod tests;
