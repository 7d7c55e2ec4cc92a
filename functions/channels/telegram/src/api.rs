//! The Bot API client (§1, §2.1, §3, §5, §7): `https://api.telegram.org/bot<token>/<method>`
//! with JSON parameters and the `{"ok", "result" | "error_code", "description", "parameters"}`
//! envelope.
//!
//! - Errors: 429 (or `parameters.retry_after`) → [`ReplyError::RateLimited`] with Telegram's
//!   wait; 5xx and network failures → [`ReplyError::Transport`]; other refusals →
//!   [`ReplyError::Platform`] with the error code and Telegram's description (cut to
//!   [`MAX_DESCRIPTION_CHARS`]). [`ApiError`] keeps the description for callers that match on it
//!   (`message is not modified`, `can't parse entities`, `terminated by other getUpdates`).
//! - The token is part of every URL, so no URL ever reaches a log or an error: reqwest errors
//!   are stripped of theirs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use imgate_channel_kit::fetch;
use imgate_core::ports::{MediaError, ReplyError};
use imgate_core::secret::Secret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::normalize::Bot;
use crate::wire::{FilePath, Message, User};

/// Telegram's public Bot API.
pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

/// How long one call may take (long polls add their own `timeout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The time a `sendPhoto` by URL is given on top of [`REQUEST_TIMEOUT`]: Telegram downloads the
/// photo before it answers.
pub const PHOTO_FETCH_TIME: Duration = Duration::from_secs(30);

/// Longest description kept in an error.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

/// The update kinds imgate handles (`allowed_updates`).
pub const ALLOWED_UPDATES: [&str; 1] = ["message"];

/// A refused or failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Telegram answered `ok: false`.
    #[error("Telegram refused {method}: {code} {description}")]
    Refused {
        /// The method called.
        method: &'static str,
        /// `error_code` (the HTTP status).
        code: i64,
        /// Telegram's description, cut.
        description: String,
        /// `parameters.retry_after`, seconds.
        retry_after: Option<u64>,
    },
    /// The call did not complete: network, timeout, 5xx without an envelope, an unreadable
    /// answer.
    #[error("Telegram could not be reached for {method}: {detail}")]
    Transport {
        /// The method called.
        method: &'static str,
        /// What happened, without the URL.
        detail: String,
    },
}

impl ApiError {
    /// Telegram's description, for a refusal.
    pub fn description(&self) -> &str {
        match self {
            Self::Refused { description, .. } => description,
            Self::Transport { .. } => "",
        }
    }

    /// Whether Telegram said `code`.
    pub fn is(&self, code: i64) -> bool {
        matches!(self, Self::Refused { code: c, .. } if *c == code)
    }
}

impl From<ApiError> for ReplyError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Refused {
                retry_after: Some(seconds),
                ..
            } => Self::RateLimited {
                retry_after: Duration::from_secs(seconds.max(1)),
            },
            ApiError::Refused { code: 429, .. } => Self::RateLimited {
                retry_after: Duration::from_secs(1),
            },
            ApiError::Refused { code, .. } if code >= 500 => Self::Transport(error.to_string()),
            ApiError::Refused { code, description, .. } => Self::Platform {
                code,
                message: description,
            },
            ApiError::Transport { .. } => Self::Transport(error.to_string()),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Option<Value>,
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// The Bot API at one base URL.
#[derive(Debug, Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
}

impl BotApi {
    /// The API at `base` (normally [`DEFAULT_BASE_URL`]).
    pub fn new(http: reqwest::Client, base: impl Into<String>) -> Self {
        Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Calls `method` with JSON `params`; `extra` lengthens the timeout (long polls).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        token: &Secret,
        method: &'static str,
        params: &Value,
        extra: Duration,
    ) -> Result<T, ApiError> {
        let transport = |detail: String| ApiError::Transport { method, detail };
        let response = self
            .http
            .post(format!("{}/bot{}/{method}", self.base, token.expose()))
            .timeout(REQUEST_TIMEOUT + extra)
            .json(params)
            .send()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport(e.without_url().to_string()))?;
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) else {
            return Err(transport(format!("HTTP {} without a Bot API answer", status.as_u16())));
        };
        if envelope.ok {
            let result = envelope.result.unwrap_or(Value::Null);
            return serde_json::from_value(result).map_err(|e| {
                transport(format!(
                    "unexpected result: {}",
                    imgate_channel_kit::redact::json_error(&e)
                ))
            });
        }
        Err(ApiError::Refused {
            method,
            code: envelope.error_code.unwrap_or_else(|| i64::from(status.as_u16())),
            description: envelope
                .description
                .unwrap_or_default()
                .chars()
                .take(MAX_DESCRIPTION_CHARS)
                .collect(),
            retry_after: envelope.parameters.and_then(|p| p.retry_after),
        })
    }

    /// `getMe`: the bot's own user.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn get_me(&self, token: &Secret) -> Result<User, ApiError> {
        self.call(token, "getMe", &json!({}), Duration::ZERO).await
    }

    /// `sendMessage` with `params` (chat, text, parse mode, reply, thread).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn send_message(&self, token: &Secret, params: &Value) -> Result<Message, ApiError> {
        self.call(token, "sendMessage", params, Duration::ZERO).await
    }

    /// `sendPhoto` with `params` (chat, `photo` as an HTTP URL Telegram downloads, at most 5 MB,
    /// reply, thread); Telegram's download of the photo is given [`PHOTO_FETCH_TIME`] more.
    ///
    /// # Errors
    /// [`ApiError`]: a 400 when Telegram cannot get or read the photo.
    pub async fn send_photo(&self, token: &Secret, params: &Value) -> Result<Message, ApiError> {
        self.call(token, "sendPhoto", params, PHOTO_FETCH_TIME).await
    }

    /// `editMessageText`; an edit to the same text is a success.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn edit_message_text(&self, token: &Secret, params: &Value) -> Result<(), ApiError> {
        match self
            .call::<Value>(token, "editMessageText", params, Duration::ZERO)
            .await
        {
            Err(error) if error.description().contains("message is not modified") => Ok(()),
            other => other.map(drop),
        }
    }

    /// `sendMessageDraft`: a streamed draft in a private chat (§7.3).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn send_message_draft(&self, token: &Secret, params: &Value) -> Result<(), ApiError> {
        self.call::<Value>(token, "sendMessageDraft", params, Duration::ZERO)
            .await
            .map(drop)
    }

    /// `sendChatAction` `typing` (shown for up to 5 s).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn typing(&self, token: &Secret, chat_id: i64, thread: Option<i64>) -> Result<(), ApiError> {
        let mut params = json!({"chat_id": chat_id, "action": "typing"});
        if let Some(thread) = thread {
            params["message_thread_id"] = json!(thread);
        }
        self.call::<Value>(token, "sendChatAction", &params, Duration::ZERO)
            .await
            .map(drop)
    }

    /// `setWebhook` to `url` with the secret token and [`ALLOWED_UPDATES`].
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn set_webhook(&self, token: &Secret, url: &str, secret_token: &Secret) -> Result<(), ApiError> {
        let params = json!({"url": url, "secret_token": secret_token.expose(), "allowed_updates": ALLOWED_UPDATES});
        self.call::<Value>(token, "setWebhook", &params, Duration::ZERO)
            .await
            .map(drop)
    }

    /// `deleteWebhook`, keeping pending updates (a poller takes them next).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn delete_webhook(&self, token: &Secret) -> Result<(), ApiError> {
        self.call::<Value>(
            token,
            "deleteWebhook",
            &json!({"drop_pending_updates": false}),
            Duration::ZERO,
        )
        .await
        .map(drop)
    }

    /// `getUpdates` from `offset`, waiting up to `timeout` for one; each update is returned as
    /// JSON so one unreadable update does not hide the others.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn get_updates(&self, token: &Secret, offset: i64, timeout: Duration) -> Result<Vec<Value>, ApiError> {
        let params = json!({"offset": offset, "timeout": timeout.as_secs(), "allowed_updates": ALLOWED_UPDATES});
        self.call(token, "getUpdates", &params, timeout).await
    }

    /// `getFile`: where a file the bot received is on the file server (Bot API "getFile"; the
    /// path stays valid for at least an hour).
    ///
    /// # Errors
    /// [`ApiError`]; Telegram refuses files over 20 MB with 400 "file is too big".
    pub async fn get_file(&self, token: &Secret, file_id: &str) -> Result<FilePath, ApiError> {
        self.call(token, "getFile", &json!({"file_id": file_id}), Duration::ZERO)
            .await
    }

    /// Starts downloading `file_path` (from [`BotApi::get_file`]) from the file server,
    /// `<base>/file/bot<token>/<file_path>`, within the kit's download timeout.
    ///
    /// # Errors
    /// The request error, without its URL (which carries the token).
    pub async fn download(&self, token: &Secret, file_path: &str) -> Result<reqwest::Response, MediaError> {
        self.http
            .get(format!("{}/file/bot{}/{file_path}", self.base, token.expose()))
            .timeout(fetch::TIMEOUT)
            .send()
            .await
            .map_err(fetch::transport)
    }

    /// `setMyCommands`: the command menu.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn set_my_commands(&self, token: &Secret, commands: &[(&str, &str)]) -> Result<(), ApiError> {
        let commands: Vec<Value> = commands
            .iter()
            .map(|(command, description)| json!({"command": command, "description": description}))
            .collect();
        self.call::<Value>(token, "setMyCommands", &json!({"commands": commands}), Duration::ZERO)
            .await
            .map(drop)
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;

/// Each bot's own identity (`getMe`), which tells whether a group message addresses it; kept
/// an hour per token and asked for again 30 s after a failure. Only group messages need it.
#[derive(Debug, Clone)]
pub struct Identities {
    api: BotApi,
    known: Arc<Mutex<HashMap<String, Learned>>>,
}

/// An identity, or a failed lookup, and until when it stands.
type Learned = (Option<Bot>, Instant);

/// How long a learned identity is trusted.
const IDENTITY_TTL: Duration = Duration::from_secs(3600);
/// After a failed `getMe`, how long before it is asked again.
const IDENTITY_RETRY: Duration = Duration::from_secs(30);
/// How long `getMe` may take on the webhook's path.
const IDENTITY_TIMEOUT: Duration = Duration::from_millis(1500);

impl Identities {
    /// Identities learned through `api`.
    pub fn new(api: BotApi) -> Self {
        Self {
            api,
            known: Arc::default(),
        }
    }

    /// The bot behind `token`, or `None` when `getMe` fails (normalization then treats group
    /// messages as addressed).
    pub async fn bot(&self, token: &Secret) -> Option<Bot> {
        let key = imgate_channel_kit::tokens::cache_key("telegram", "bot", token);
        let now = Instant::now();
        if let Some((bot, until)) = self.known.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && *until > now
        {
            return bot.clone();
        }
        let learned = tokio::time::timeout(IDENTITY_TIMEOUT, self.api.get_me(token)).await;
        let bot = match learned {
            Ok(Ok(user)) => user.username.map(|username| Bot { id: user.id, username }),
            Ok(Err(error)) => {
                tracing::warn!(%error, "getMe failed; group messages count as addressed");
                None
            }
            Err(_) => {
                tracing::warn!("getMe timed out; group messages count as addressed");
                None
            }
        };
        let keep = if bot.is_some() { IDENTITY_TTL } else { IDENTITY_RETRY };
        self.known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (bot.clone(), now + keep));
        bot
    }
}
