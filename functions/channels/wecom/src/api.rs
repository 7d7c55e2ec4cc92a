//! HTTP clients for WeCom replies: smart-bot `response_url` posts and the self-built app
//! `message/send` API ([`AppClient`]).
//!
//! Base URLs are parameters so tests can point them at a local fake. Nothing here logs a URL's
//! query (it carries `response_code`s and access tokens), a body or a secret, and transport
//! errors are stripped of their URL before they become [`ReplyError`]s.

use std::time::Duration;

use imgate_core::ports::ReplyError;
use serde::Deserialize;
use serde_json::Value;

mod app;

pub use app::{AppClient, DEFAULT_BASE_URL, token_cache_key};

/// How long one WeCom API call may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Used when a 429 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Longest platform error message kept in a [`ReplyError::Platform`].
const MAX_ERRMSG_CHARS: usize = 200;

/// Smart-bot active replies through the single-use `response_url` of a callback (§2.6).
#[derive(Debug, Clone, Copy)]
pub struct ResponseUrl;

impl ResponseUrl {
    /// POSTs `body` (e.g. [`crate::reply::payload::markdown`]) as plain JSON to `url`.
    ///
    /// # Errors
    /// [`ReplyError::Platform`] when WeCom answers with a non-zero `errcode` (or a 4xx),
    /// [`ReplyError::RateLimited`] on 429, [`ReplyError::Transport`] on 5xx or network failure,
    /// [`ReplyError::Unsupported`] when `url` is not a URL.
    pub async fn send(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), ReplyError> {
        let parsed =
            reqwest::Url::parse(url).map_err(|_| ReplyError::Unsupported("a response_url that is not a URL".into()))?;
        tracing::debug!(
            platform = "wecom",
            host = parsed.host_str().unwrap_or_default(),
            path = parsed.path(),
            "posting to response_url"
        );
        let response = http
            .post(parsed)
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let body = success_body(response).await?;
        // The response body of response_url is undocumented; an empty or non-JSON 200 is success.
        match serde_json::from_slice::<Status>(&body) {
            Ok(status) => status.check(),
            Err(_) => Ok(()),
        }
    }
}

/// The `errcode` / `errmsg` every WeCom API answer carries.
#[derive(Debug, Deserialize)]
pub(crate) struct Status {
    #[serde(default)]
    pub(crate) errcode: i64,
    #[serde(default)]
    pub(crate) errmsg: String,
}

impl Status {
    /// `Ok` for errcode 0, else [`ReplyError::Platform`].
    pub(crate) fn check(&self) -> Result<(), ReplyError> {
        if self.errcode == 0 {
            Ok(())
        } else {
            Err(ReplyError::Platform {
                code: self.errcode,
                message: self.errmsg.chars().take(MAX_ERRMSG_CHARS).collect(),
            })
        }
    }
}

/// A request error without the URL (reqwest puts it in the message).
pub(crate) fn transport(e: reqwest::Error) -> ReplyError {
    ReplyError::Transport(e.without_url().to_string())
}

/// The body of a 2xx response; 429, 5xx and other statuses become errors.
pub(crate) async fn success_body(response: reqwest::Response) -> Result<Vec<u8>, ReplyError> {
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        return Err(ReplyError::RateLimited { retry_after });
    }
    if status.is_server_error() {
        return Err(ReplyError::Transport(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(ReplyError::Platform {
            code: i64::from(status.as_u16()),
            message: format!("HTTP {}", status.as_u16()),
        });
    }
    Ok(response.bytes().await.map_err(transport)?.to_vec())
}
