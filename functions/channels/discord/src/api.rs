//! The REST API (§1, §2.5, §4, §5): `https://discord.com/api/v10`, `Authorization: Bot <token>`.
//!
//! - Rate limits are not hard-coded: each answer's `X-RateLimit-Bucket`, `-Remaining` and
//!   `-Reset-After` are remembered per route and major parameter (channel, or webhook + token),
//!   and a request to a bucket with nothing remaining waits for its reset when that is short
//!   (≤ [`MAX_BUCKET_WAIT`]) or is refused as [`ReplyError::RateLimited`] at once. A 429 is
//!   [`ReplyError::RateLimited`] with its `retry_after`; a global one pauses every route.
//! - Errors: Discord's JSON error `code` and `message` → [`ReplyError::Platform`]; 5xx and
//!   network failures → [`ReplyError::Transport`]. Interaction tokens travel in URL paths, so
//!   no URL reaches an error or a log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use imgate_core::ports::ReplyError;
use imgate_core::secret::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

/// Discord's REST API, version 10.
pub const DEFAULT_BASE_URL: &str = "https://discord.com/api/v10";

/// How long one call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The longest wait for an exhausted bucket before a call is refused as rate limited.
pub const MAX_BUCKET_WAIT: Duration = Duration::from_secs(2);

/// Longest error message kept.
const MAX_MESSAGE_CHARS: usize = 200;

/// What a request is sent as.
enum Auth<'a> {
    /// `Authorization: Bot <token>`.
    Bot(&'a Secret),
    /// Interaction webhooks: the token is in the path.
    None,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    remaining: u64,
    reset_at: Instant,
}

#[derive(Debug, Default)]
struct Limits {
    /// Route key → the bucket Discord named for it.
    routes: HashMap<String, String>,
    /// Bucket + major parameter → its state.
    buckets: HashMap<String, Bucket>,
    /// Until when every request waits (a global 429).
    global_until: Option<Instant>,
}

/// The REST client; clones share their rate-limit state.
#[derive(Debug, Clone)]
pub struct RestApi {
    http: reqwest::Client,
    base: String,
    limits: Arc<Mutex<Limits>>,
}

/// A sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Its snowflake.
    pub id: String,
}

impl RestApi {
    /// The API at `base` (normally [`DEFAULT_BASE_URL`]).
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            limits: Arc::default(),
        }
    }

    /// `POST /channels/{channel}/messages`.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn create_message(&self, token: &Secret, channel_id: &str, body: &Value) -> Result<Sent, ReplyError> {
        let path = format!("/channels/{}/messages", segment(channel_id));
        let answer = self
            .request(
                Method::POST,
                &path,
                &format!("POST messages {channel_id}"),
                Auth::Bot(token),
                Some(body),
            )
            .await?;
        sent(&answer)
    }

    /// `PATCH /channels/{channel}/messages/{message}`.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn edit_message(
        &self,
        token: &Secret,
        channel_id: &str,
        message_id: &str,
        body: &Value,
    ) -> Result<(), ReplyError> {
        let path = format!("/channels/{}/messages/{}", segment(channel_id), segment(message_id));
        self.request(
            Method::PATCH,
            &path,
            &format!("PATCH messages {channel_id}"),
            Auth::Bot(token),
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `POST /channels/{channel}/typing` (shown for 10 s).
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn typing(&self, token: &Secret, channel_id: &str) -> Result<(), ReplyError> {
        let path = format!("/channels/{}/typing", segment(channel_id));
        self.request(
            Method::POST,
            &path,
            &format!("POST typing {channel_id}"),
            Auth::Bot(token),
            None,
        )
        .await
        .map(drop)
    }

    /// `PATCH /webhooks/{application}/{token}/messages/@original`: the deferred answer.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn edit_original(
        &self,
        application_id: &str,
        interaction_token: &str,
        body: &Value,
    ) -> Result<(), ReplyError> {
        let path = format!(
            "/webhooks/{}/{}/messages/@original",
            segment(application_id),
            segment(interaction_token)
        );
        self.request(
            Method::PATCH,
            &path,
            &format!("PATCH original {interaction_token}"),
            Auth::None,
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `POST /webhooks/{application}/{token}?wait=true`: a follow-up message.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn followup(
        &self,
        application_id: &str,
        interaction_token: &str,
        body: &Value,
    ) -> Result<Sent, ReplyError> {
        let path = format!(
            "/webhooks/{}/{}?wait=true",
            segment(application_id),
            segment(interaction_token)
        );
        let answer = self
            .request(
                Method::POST,
                &path,
                &format!("POST followup {interaction_token}"),
                Auth::None,
                Some(body),
            )
            .await?;
        sent(&answer)
    }

    /// `PATCH /webhooks/{application}/{token}/messages/{message}`: a follow-up edited.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn edit_followup(
        &self,
        application_id: &str,
        interaction_token: &str,
        message_id: &str,
        body: &Value,
    ) -> Result<(), ReplyError> {
        let path = format!(
            "/webhooks/{}/{}/messages/{}",
            segment(application_id),
            segment(interaction_token),
            segment(message_id)
        );
        self.request(
            Method::PATCH,
            &path,
            &format!("PATCH followup {interaction_token}"),
            Auth::None,
            Some(body),
        )
        .await
        .map(drop)
    }

    /// `POST /interactions/{id}/{token}/callback` with a deferred response (`{"type":5}`): the
    /// user sees "thinking…" until the answer edits it (§2.4).
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn defer(&self, interaction_id: &str, interaction_token: &str) -> Result<(), ReplyError> {
        let path = format!(
            "/interactions/{}/{}/callback",
            segment(interaction_id),
            segment(interaction_token)
        );
        self.request(
            Method::POST,
            &path,
            &format!("POST callback {interaction_id}"),
            Auth::None,
            Some(&json!({"type": 5})),
        )
        .await
        .map(drop)
    }

    /// `GET /gateway/bot`: the gateway URL.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn gateway_url(&self, token: &Secret) -> Result<String, ReplyError> {
        let answer = self
            .request(Method::GET, "/gateway/bot", "GET gateway", Auth::Bot(token), None)
            .await?;
        answer["url"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ReplyError::Transport("/gateway/bot answered without a url".into()))
    }

    /// `GET /users/@me`: the bot's own user (`id`, `username`, `bot`).
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn current_user(&self, token: &Secret) -> Result<Value, ReplyError> {
        self.request(Method::GET, "/users/@me", "GET me", Auth::Bot(token), None)
            .await
    }

    /// `PUT /applications/{application}/commands`: the global slash commands, replaced.
    ///
    /// # Errors
    /// [`ReplyError`].
    pub async fn set_commands(&self, token: &Secret, application_id: &str, commands: &Value) -> Result<(), ReplyError> {
        let path = format!("/applications/{}/commands", segment(application_id));
        self.request(Method::PUT, &path, "PUT commands", Auth::Bot(token), Some(commands))
            .await
            .map(drop)
    }

    /// Sends one request within the rate limits of `route` (a route and its major parameter).
    async fn request(
        &self,
        method: Method,
        path: &str,
        route: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Result<Value, ReplyError> {
        self.wait_for(route).await?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(REQUEST_TIMEOUT)
            .header(
                "User-Agent",
                concat!("DiscordBot (imgate, ", env!("CARGO_PKG_VERSION"), ")"),
            );
        if let Auth::Bot(token) = auth {
            request = request.header("Authorization", format!("Bot {}", token.expose()));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ReplyError::Transport(e.without_url().to_string()))?;
        self.remember(route, response.headers());
        let status = response.status();
        let retry_header = header_f64(response.headers(), "retry-after");
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ReplyError::Transport(e.without_url().to_string()))?;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(answer);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let seconds = answer["retry_after"].as_f64().or(retry_header).unwrap_or(1.0);
            let retry_after = Duration::from_secs_f64(seconds.clamp(0.05, 3600.0));
            if answer["global"].as_bool() == Some(true) {
                self.lock().global_until = Some(Instant::now() + retry_after);
            }
            return Err(ReplyError::RateLimited { retry_after });
        }
        if status.is_server_error() {
            return Err(ReplyError::Transport(format!(
                "Discord answered HTTP {}",
                status.as_u16()
            )));
        }
        Err(ReplyError::Platform {
            code: answer["code"].as_i64().unwrap_or_else(|| i64::from(status.as_u16())),
            message: answer["message"]
                .as_str()
                .unwrap_or(status.canonical_reason().unwrap_or_default())
                .chars()
                .take(MAX_MESSAGE_CHARS)
                .collect(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `route`'s bucket (and a global pause) when that is short; refuses otherwise.
    async fn wait_for(&self, route: &str) -> Result<(), ReplyError> {
        let until = {
            let limits = self.lock();
            let bucket = limits
                .routes
                .get(route_key(route))
                .and_then(|bucket| limits.buckets.get(&format!("{bucket} {}", major(route))))
                .filter(|b| b.remaining == 0)
                .map(|b| b.reset_at);
            bucket.into_iter().chain(limits.global_until).max()
        };
        let Some(until) = until else {
            return Ok(());
        };
        let wait = until.saturating_duration_since(Instant::now());
        if wait > MAX_BUCKET_WAIT {
            return Err(ReplyError::RateLimited { retry_after: wait });
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// Remembers what the answer's rate-limit headers say about `route`'s bucket.
    fn remember(&self, route: &str, headers: &reqwest::header::HeaderMap) {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(bucket), Some(remaining), Some(reset_after)) = (
            text("x-ratelimit-bucket"),
            text("x-ratelimit-remaining").and_then(|r| r.parse::<u64>().ok()),
            header_f64(headers, "x-ratelimit-reset-after"),
        ) else {
            return;
        };
        let mut limits = self.lock();
        limits.routes.insert(route_key(route).to_owned(), bucket.to_owned());
        limits.buckets.insert(
            format!("{bucket} {}", major(route)),
            Bucket {
                remaining,
                reset_at: Instant::now() + Duration::from_secs_f64(reset_after.clamp(0.0, 3600.0)),
            },
        );
    }
}

/// A route key is `"METHOD resource major"`; the part before the major parameter names the
/// route, the major parameter tells buckets apart.
fn route_key(route: &str) -> &str {
    route.rsplit_once(' ').map_or(route, |(key, _)| key)
}

fn major(route: &str) -> &str {
    route.rsplit_once(' ').map_or("", |(_, major)| major)
}

fn header_f64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<f64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// A snowflake or token as one path segment: anything but letters, digits, `_`, `-` and `.`
/// is replaced, so the call fails at Discord instead of reaching another path.
fn segment(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sent(answer: &Value) -> Result<Sent, ReplyError> {
    answer["id"]
        .as_str()
        .map(|id| Sent { id: id.to_owned() })
        .ok_or_else(|| ReplyError::Transport("Discord answered without a message id".into()))
}

/// The body of a message: `content`, no mention pings from agent text, no link embeds.
pub fn message_body(content: &str) -> Value {
    json!({"content": content, "allowed_mentions": {"parse": []}, "flags": 4})
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
