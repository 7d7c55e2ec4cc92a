//! Weibo's token endpoint (§2) and the WebSocket address it opens (§3).
//!
//! `POST /open/auth/ws_token` with the app's id and secret gives a token valid for
//! `expire_in` seconds. It is cached sealed through the kit's [`SealedTokens`] under a key of
//! the token endpoint, the app id and a digest of the secret (a rotated secret or another
//! endpoint gets a token of its own), and used until 60 s before it runs out. A fetch is
//! retried only for 408, 425, 429 and 5xx answers and network failures, twice, after 1 s and
//! 2 s; a 401, any other status, a `code` other than 0 or a 2xx without `data.token` is the
//! app's configuration and is not retried ([`TokenError::Refused`]).

use std::time::Duration;

use imgate_channel_kit::redact;
use imgate_channel_kit::tokens::{Fetched, SealedTokens, cache_key};
use imgate_core::Timestamp;
use imgate_core::ports::ReplyError;
use imgate_core::secret::Secret;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// The public Open IM host for the token endpoint.
pub const DEFAULT_API_BASE: &str = "https://open-im.api.weibo.com";
/// The public Open IM host for the WebSocket (`wss://`, §3: the token travels in the URL).
pub const DEFAULT_WS_BASE: &str = "wss://open-im.api.weibo.com";
/// A cached token is used until this long before it runs out (§2).
pub const TOKEN_MARGIN: Duration = Duration::from_secs(60);
/// The pauses before the two retries of a token fetch (`min(2^attempt, 8)` s).
pub const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];
/// How long one token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why no token came. Messages name the status and Weibo's code, never the secret or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Weibo refused the app (401, another non-retryable status, `code` ≠ 0, or no token in a
    /// 2xx): retrying will not help until the credentials change.
    #[error("Weibo refused the app credentials: {0}")]
    Refused(String),
    /// Weibo could not be reached or kept failing (after the retries).
    #[error("the Weibo token endpoint is unavailable: {0}")]
    Unavailable(String),
}

#[derive(Deserialize, Default)]
struct TokenBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<TokenData>,
}

#[derive(Deserialize, Default)]
struct TokenData {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expire_in: Option<u64>,
}

/// Statuses worth another try (§2).
pub fn retryable(status: u16) -> bool {
    matches!(status, 408 | 425 | 429 | 500 | 502 | 503 | 504)
}

/// When a token acquired at `acquired_at` for `expire_in` is no longer used: 60 s early.
pub fn refresh_at(acquired_at: Timestamp, expire_in: Duration) -> Timestamp {
    acquired_at.plus(expire_in).minus(TOKEN_MARGIN)
}

/// What `application/x-www-form-urlencoded` leaves as it is (besides letters and digits).
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'*');

/// One query value, form-encoded: space as `+`, everything else outside `A-Za-z0-9*-._` as
/// `%XX` (Python's `urlencode` and `URLSearchParams` agree on the notes' vector).
fn form(value: &str) -> String {
    value
        .split(' ')
        .map(|part| utf8_percent_encode(part, QUERY).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// The stream address: `<ws base>/ws/stream?app_id=…&token=…&version=…`. It holds the token:
/// never log it.
pub fn ws_url(ws_base: &str, app_id: &str, token: &str, version: &str) -> String {
    format!(
        "{}/ws/stream?app_id={}&token={}&version={}",
        ws_base.trim_end_matches('/'),
        form(app_id),
        form(token),
        form(version)
    )
}

/// The token endpoint's client, with its sealed cache.
#[derive(Clone, Debug)]
pub struct TokenClient {
    http: reqwest::Client,
    base: String,
    tokens: SealedTokens,
    retry_delays: [Duration; 2],
}

impl TokenClient {
    /// A client of the token endpoint at `base` (normally [`DEFAULT_API_BASE`]).
    pub fn new(http: reqwest::Client, base: impl Into<String>, tokens: SealedTokens) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            tokens,
            retry_delays: RETRY_DELAYS,
        }
    }

    /// The same client pausing `delays` before its retries (tests).
    #[must_use]
    pub fn with_retry_delays(mut self, delays: [Duration; 2]) -> Self {
        self.retry_delays = delays;
        self
    }

    /// The cache key of an app's token at this endpoint.
    pub fn key(&self, app_id: &str, secret: &Secret) -> String {
        cache_key(&format!("weibo@{}", self.base), app_id, secret)
    }

    /// A token for the app: the cached one while it has more than 60 s left, else a new one.
    ///
    /// # Errors
    /// [`TokenError`] when none can be had.
    pub async fn token(&self, app_id: &str, secret: &Secret) -> Result<Secret, TokenError> {
        let key = self.key(app_id, secret);
        self.tokens
            .get_or_fetch(&key, TOKEN_MARGIN, || async {
                self.fetch(app_id, secret).await.map_err(|error| match error {
                    TokenError::Refused(message) => ReplyError::Platform { code: 401, message },
                    TokenError::Unavailable(message) => ReplyError::Transport(message),
                })
            })
            .await
            .map_err(|error| match error {
                ReplyError::Platform { message, .. } => TokenError::Refused(message),
                ReplyError::Transport(message) => TokenError::Unavailable(message),
                other => TokenError::Unavailable(other.to_string()),
            })
    }

    /// Drops the app's cached token (the stream refused it: close 4002 / "invalid token").
    pub async fn invalidate(&self, app_id: &str, secret: &Secret) {
        self.tokens.invalidate(&self.key(app_id, secret)).await;
    }

    /// Fetches a new token, with the retries of §2.
    ///
    /// # Errors
    /// [`TokenError`].
    pub async fn fetch(&self, app_id: &str, secret: &Secret) -> Result<Fetched, TokenError> {
        let mut attempt = 0;
        loop {
            match self.fetch_once(app_id, secret).await {
                Err(Attempt::Retry(why)) if attempt < self.retry_delays.len() => {
                    tracing::warn!(platform = "weibo", attempt = attempt + 1, why = %why, "token fetch failed; retrying");
                    tokio::time::sleep(self.retry_delays[attempt]).await;
                    attempt += 1;
                }
                Err(Attempt::Retry(why)) => return Err(TokenError::Unavailable(why)),
                Err(Attempt::Stop(why)) => return Err(TokenError::Refused(why)),
                Ok(fetched) => return Ok(fetched),
            }
        }
    }

    async fn fetch_once(&self, app_id: &str, secret: &Secret) -> Result<Fetched, Attempt> {
        let response = self
            .http
            .post(format!("{}/open/auth/ws_token", self.base))
            .timeout(REQUEST_TIMEOUT)
            .json(&serde_json::json!({"app_id": app_id, "app_secret": secret.expose()}))
            .send()
            .await
            .map_err(|e| Attempt::Retry(transport(&e)))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| Attempt::Retry(transport(&e)))?;
        let body: Result<TokenBody, _> = serde_json::from_slice(&bytes);
        let said = |body: &TokenBody| {
            let code = body.code.map(|c| format!(" code {c}")).unwrap_or_default();
            let message = body
                .message
                .as_deref()
                .map(|m| format!(" {}", m.chars().take(200).collect::<String>()))
                .unwrap_or_default();
            format!("HTTP {status}{code}{message}")
        };
        if retryable(status) {
            return Err(Attempt::Retry(said(&body.unwrap_or_default())));
        }
        if !(200..300).contains(&status) {
            return Err(Attempt::Stop(said(&body.unwrap_or_default())));
        }
        let body = body.map_err(|e| Attempt::Stop(format!("HTTP {status}: {}", redact::json_error(&e))))?;
        if body.code.is_some_and(|code| code != 0) {
            return Err(Attempt::Stop(said(&body)));
        }
        let data = body.data.unwrap_or_default();
        let token = data.token.filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(Attempt::Stop(format!(
                "HTTP {status} without data.token (an invalid token response)"
            )));
        };
        Ok(Fetched {
            token: Secret::new(token),
            expires_in: Duration::from_secs(data.expire_in.unwrap_or(3600)),
        })
    }
}

/// One try's failure.
enum Attempt {
    Retry(String),
    Stop(String),
}

/// A transport failure in words, without the URL.
fn transport(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "the answer could not be read"
    } else {
        "request failed"
    };
    what.to_owned()
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
