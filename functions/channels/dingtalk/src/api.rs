//! HTTP clients for DingTalk replies: [`SessionWebhook`] posts (§4.1), the robot OpenAPI with
//! cached access tokens ([`RobotApi`], §4.2–4.3) and AI cards ([`card`], §4.4).
//!
//! Base URLs are parameters so tests can point them at a local fake. Nothing here logs a URL's
//! query (a session webhook's `session=` is a credential), a body, a token or a secret, and
//! transport errors are stripped of their URL before they become [`ReplyError`]s.
//!
//! Error mapping of `api.dingtalk.com` answers (`{"code","message","requestid"}` on failure):
//! 429, or a `code` containing `QpsLimit` (DingTalk's 403 quota answer), → [`ReplyError::RateLimited`];
//! 5xx → [`ReplyError::Transport`]; other statuses → [`ReplyError::Platform`] with the HTTP
//! status as `code` and `"<code>: <message>"` as `message`.

use std::time::Duration;

use imgate_core::Timestamp;
use imgate_core::ports::ReplyError;
use serde::Deserialize;
use serde_json::Value;

pub mod card;
mod robot;

pub use card::{CardSpace, FlowStatus};
pub use robot::{RobotApi, token_cache_key};

/// DingTalk's OpenAPI host (also the Stream registration host).
pub const DEFAULT_BASE_URL: &str = "https://api.dingtalk.com";

/// A session webhook is not used when it expires within this margin.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(30);

/// How long one DingTalk API call may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Used when a 429 carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Back-off after a `QpsLimit` answer (the delay DingTalk's own connector waits).
const QPS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Back-off after a robot "send too fast" errcode (the per-minute robot quota).
const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Longest platform error message kept in a [`ReplyError::Platform`].
const MAX_MESSAGE_CHARS: usize = 200;

/// sessionWebhook errcode: the session no longer exists (expired).
const ERRCODE_SESSION_GONE: i64 = 300_001;

/// Robot errcodes meaning "sending too fast" (130101: over 20 per minute; 410100: throttled).
const ERRCODES_THROTTLED: [i64; 2] = [130_101, 410_100];

/// Replies through the per-conversation `sessionWebhook` of a robot message.
#[derive(Debug, Clone, Copy)]
pub struct SessionWebhook;

impl SessionWebhook {
    /// Whether a webhook expiring at `expires_at` can still be used at `now` (with
    /// [`EXPIRY_MARGIN`]); an unknown expiry is assumed usable.
    pub fn is_usable(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
        expires_at.is_none_or(|at| at.minus(EXPIRY_MARGIN) > now)
    }

    /// POSTs `body` (e.g. [`crate::reply::payload::markdown`]) as JSON to `url`.
    ///
    /// # Errors
    /// [`ReplyError::Expired`] for errcode 300001 (session gone), [`ReplyError::RateLimited`] on
    /// 429 or a "send too fast" errcode, [`ReplyError::Platform`] for other errcodes and 4xx,
    /// [`ReplyError::Transport`] on 5xx or network failure, [`ReplyError::Unsupported`] when
    /// `url` is not an http(s) URL.
    pub async fn send(http: &reqwest::Client, url: &str, body: &Value) -> Result<(), ReplyError> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ReplyError::Unsupported("a sessionWebhook that is not a URL".into()))?;
        tracing::debug!(
            platform = "dingtalk",
            host = parsed.host_str().unwrap_or_default(),
            path = parsed.path(),
            "posting to sessionWebhook"
        );
        let response = http
            .post(parsed)
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ReplyError::RateLimited {
                retry_after: retry_after(&response).unwrap_or(DEFAULT_RETRY_AFTER),
            });
        }
        if status.is_server_error() {
            return Err(ReplyError::Transport(format!("HTTP {}", status.as_u16())));
        }
        let bytes = response.bytes().await.map_err(transport)?;
        let parsed = serde_json::from_slice::<WebhookStatus>(&bytes).ok();
        if !status.is_success() {
            let message = parsed.map_or_else(|| format!("HTTP {}", status.as_u16()), |p| clip(&p.errmsg));
            return Err(ReplyError::Platform {
                code: i64::from(status.as_u16()),
                message,
            });
        }
        // GO/PY SDKs treat any 200 as sent; a non-JSON 200 is accepted the same way.
        match parsed {
            None => Ok(()),
            Some(WebhookStatus { errcode: 0, .. }) => Ok(()),
            Some(WebhookStatus {
                errcode: ERRCODE_SESSION_GONE,
                ..
            }) => Err(ReplyError::Expired),
            Some(WebhookStatus { errcode, .. }) if ERRCODES_THROTTLED.contains(&errcode) => {
                Err(ReplyError::RateLimited {
                    retry_after: THROTTLED_RETRY_AFTER,
                })
            }
            Some(WebhookStatus { errcode, errmsg }) => Err(ReplyError::Platform {
                code: errcode,
                message: clip(&errmsg),
            }),
        }
    }
}

/// `{"errcode","errmsg"}` of oapi.dingtalk.com answers.
#[derive(Deserialize)]
struct WebhookStatus {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

/// `{"code","message"}` of api.dingtalk.com failures.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A failed api.dingtalk.com call, with whether the access token was the problem.
#[derive(Debug)]
pub(crate) struct Failure {
    /// HTTP 401, or code `InvalidAuthentication` ("不合法的access_token", sent with HTTP 400).
    pub(crate) invalid_token: bool,
    pub(crate) error: ReplyError,
}

impl From<ReplyError> for Failure {
    fn from(error: ReplyError) -> Self {
        Self {
            invalid_token: false,
            error,
        }
    }
}

/// The body of a 2xx api.dingtalk.com answer; anything else becomes a [`Failure`] (see the
/// module docs for the mapping).
pub(crate) async fn openapi_body(response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let status = response.status();
    let retry = retry_after(&response);
    let bytes = response.bytes().await.map_err(transport)?;
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(ReplyError::RateLimited {
            retry_after: retry.unwrap_or(DEFAULT_RETRY_AFTER),
        }
        .into());
    }
    if body.code.contains("QpsLimit") {
        return Err(ReplyError::RateLimited {
            retry_after: retry.unwrap_or(QPS_RETRY_AFTER),
        }
        .into());
    }
    if status.is_server_error() {
        return Err(ReplyError::Transport(format!("HTTP {}", status.as_u16())).into());
    }
    let message = if body.code.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        clip(&format!("{}: {}", body.code, body.message))
    };
    Err(Failure {
        invalid_token: status == reqwest::StatusCode::UNAUTHORIZED || body.code == "InvalidAuthentication",
        error: ReplyError::Platform {
            code: i64::from(status.as_u16()),
            message,
        },
    })
}

/// A request error without the URL (reqwest puts it in the message).
pub(crate) fn transport(e: reqwest::Error) -> ReplyError {
    ReplyError::Transport(e.without_url().to_string())
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_usability_has_a_margin() {
        let now = Timestamp::from_millis(1_000_000);
        assert!(SessionWebhook::is_usable(None, now));
        assert!(SessionWebhook::is_usable(Some(now.plus(Duration::from_secs(31))), now));
        assert!(!SessionWebhook::is_usable(Some(now.plus(Duration::from_secs(30))), now));
        assert!(!SessionWebhook::is_usable(Some(now.minus(Duration::from_secs(1))), now));
    }
}
