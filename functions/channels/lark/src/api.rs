//! The Lark / Feishu Open API client of the replier: tenant access tokens (§4.1), the bot's
//! identity and name (§2.9), message reply and send (§4.2–4.3), CardKit streaming cards (§5.1)
//! and the files users send ([`LarkApi::message_resource`]).
//!
//! - Tokens: `POST /open-apis/auth/v3/tenant_access_token/internal`, cached sealed in the store
//!   (shared by every instance) and used until [`TOKEN_MARGIN`] before they expire, which is
//!   also when Lark starts handing out a fresh one (it renews only within the last 30 minutes).
//!   An answer with an invalid-token code (99991663 and relatives) drops the cached token,
//!   fetches a new one and retries the call once.
//! - Errors: HTTP 429, code 99991400 (API frequency limit), 230020 (message frequency limit) and
//!   11232 (message-service throttling) → [`ReplyError::RateLimited`] with
//!   `x-ogw-ratelimit-reset` as the wait; 5xx and network failures → [`ReplyError::Transport`];
//!   other non-zero codes → [`ReplyError::Platform`] with Lark's code and message.
//! - The base URL is per app ([`Endpoints::base`] of its `domain`). Nothing here logs a body, a
//!   token or a secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imgate_core::credentials::Lark;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{ReplyError, TokenCache};
use imgate_core::secret::Secret;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{BotIdentity, Endpoints};
use imgate_channel_kit::download::Downloaded;

mod resource;
use imgate_channel_kit::tokens::{Fetched, SealedTokens, cache_key};

/// A cached token is not used within this margin of its expiry.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(10 * 60);

/// How long one API call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an image upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a bot identity lookup may take (it sits on the webhook's 3 s path).
const IDENTITY_TIMEOUT: Duration = Duration::from_millis(1500);

/// How long a learned bot open_id is trusted before it is asked for again.
const IDENTITY_TTL: Duration = Duration::from_secs(3600);

/// After a failed identity lookup, how long before it is tried again.
const IDENTITY_RETRY: Duration = Duration::from_secs(30);

/// The wait when a rate-limit answer carries no `x-ogw-ratelimit-reset`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Codes meaning "the access token is invalid or expired" (§4.1).
const INVALID_TOKEN_CODES: [i64; 6] = [99_991_663, 99_991_664, 99_991_665, 99_991_666, 99_991_668, 99_991_671];

/// Codes meaning "slow down" (§4.6).
const RATE_LIMIT_CODES: [i64; 3] = [99_991_400, 230_020, 11_232];

/// Longest platform error message kept in a [`ReplyError::Platform`].
const MAX_MESSAGE_CHARS: usize = 200;

/// Replying to a recalled message (§4.3).
pub const CODE_RECALLED: i64 = 230_011;
/// Replying to a deleted message (§4.3).
pub const CODE_DELETED: i64 = 231_003;

/// What a message is sent as: a reply to a message, or a new message in a chat.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// `POST /open-apis/im/v1/messages/{message_id}/reply`.
    Reply {
        /// The message answered.
        message_id: &'a str,
        /// Reply in the message's thread (topic).
        in_thread: bool,
    },
    /// `POST /open-apis/im/v1/messages?receive_id_type=chat_id`.
    Chat(&'a str),
}

/// The Open API client.
#[derive(Clone)]
pub struct LarkApi {
    http: reqwest::Client,
    endpoints: Endpoints,
    tokens: SealedTokens,
    identities: Arc<Mutex<HashMap<String, Identity>>>,
}

/// A learned (or failed) bot identity lookup.
#[derive(Clone)]
struct Identity {
    open_id: Option<String>,
    until: Instant,
}

impl std::fmt::Debug for LarkApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LarkApi")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl LarkApi {
    /// A client over `http`, with tokens cached in `tokens` sealed by `keyring`.
    pub fn new(
        http: reqwest::Client,
        endpoints: Endpoints,
        tokens: Arc<dyn TokenCache>,
        keyring: Arc<dyn Keyring>,
    ) -> Self {
        Self {
            http,
            endpoints,
            tokens: SealedTokens::new("lark", tokens, keyring),
            identities: Arc::default(),
        }
    }

    /// The HTTP client (for the replier's image downloads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends a message; returns the new message's id.
    ///
    /// `content` is the message content object (serialized into Lark's `content` string here);
    /// `uuid` makes the send idempotent for an hour (§4.2).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn send(
        &self,
        app: &Lark,
        to: Destination<'_>,
        msg_type: &str,
        content: &Value,
        uuid: &str,
    ) -> Result<String, ReplyError> {
        let content = content.to_string();
        let (path, body) = match to {
            Destination::Reply { message_id, in_thread } => (
                format!("/open-apis/im/v1/messages/{}/reply", path_segment(message_id)),
                json!({"msg_type": msg_type, "content": content, "reply_in_thread": in_thread, "uuid": uuid}),
            ),
            Destination::Chat(chat_id) => (
                "/open-apis/im/v1/messages?receive_id_type=chat_id".to_owned(),
                json!({"receive_id": chat_id, "msg_type": msg_type, "content": content, "uuid": uuid}),
            ),
        };
        let data = self.call(app, Method::POST, &path, Some(&body)).await?;
        Ok(data["message_id"].as_str().unwrap_or_default().to_owned())
    }

    /// Uploads an image for a message (`POST /open-apis/im/v1/images`, multipart `image_type`
    /// `message` and `image`; at most 10 MB, scope `im:resource`); returns its `image_key`.
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn upload_image(&self, app: &Lark, image: &Downloaded) -> Result<String, ReplyError> {
        let form = || {
            let part = reqwest::multipart::Part::bytes(image.bytes.clone())
                .file_name(image.file_name(0))
                .mime_str(image.kind.mime())
                .unwrap_or_else(|_| reqwest::multipart::Part::bytes(image.bytes.clone()));
            reqwest::multipart::Form::new()
                .text("image_type", "message")
                .part("image", part)
        };
        let data = self
            .call_as(app, Method::POST, "/open-apis/im/v1/images", |request| {
                request.timeout(UPLOAD_TIMEOUT).multipart(form())
            })
            .await?;
        data["image_key"]
            .as_str()
            .filter(|key| !key.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ReplyError::Platform {
                code: 0,
                message: "the upload answer carries no image_key".into(),
            })
    }

    /// Creates a CardKit card entity from card JSON 2.0; returns its `card_id`.
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn create_card(&self, app: &Lark, card: &Value) -> Result<String, ReplyError> {
        let body = json!({"type": "card_json", "data": card.to_string()});
        let data = self
            .call(app, Method::POST, "/open-apis/cardkit/v1/cards", Some(&body))
            .await?;
        data["card_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ReplyError::Platform {
                code: 0,
                message: "card creation answered without a card_id".into(),
            })
    }

    /// Streams the full `content` so far into a card's markdown element (§5.1, §5.3).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn stream_text(
        &self,
        app: &Lark,
        card_id: &str,
        element_id: &str,
        content: &str,
        sequence: u64,
    ) -> Result<(), ReplyError> {
        let path = format!(
            "/open-apis/cardkit/v1/cards/{}/elements/{}/content",
            path_segment(card_id),
            path_segment(element_id)
        );
        let body = json!({"content": content, "sequence": sequence, "uuid": format!("s{sequence}-{card_id}")});
        self.call(app, Method::PUT, &path, Some(&body)).await.map(drop)
    }

    /// Replaces a whole card entity (used to end it: final text, streaming off, buttons).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn replace_card(&self, app: &Lark, card_id: &str, card: &Value, sequence: u64) -> Result<(), ReplyError> {
        let path = format!("/open-apis/cardkit/v1/cards/{}", path_segment(card_id));
        let body = json!({
            "card": {"type": "card_json", "data": card.to_string()},
            "sequence": sequence,
            "uuid": format!("r{sequence}-{card_id}"),
        });
        self.call(app, Method::PUT, &path, Some(&body)).await.map(drop)
    }

    /// The app's bot as `GET /open-apis/bot/v3/info` describes it (`open_id`, `app_name`, …).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn bot_info(&self, app: &Lark) -> Result<Value, ReplyError> {
        let mut answer = self.call(app, Method::GET, "/open-apis/bot/v3/info", None).await?;
        Ok(answer["bot"].take())
    }

    /// The bot's own open_id (from [`LarkApi::bot_info`]).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn fetch_bot_open_id(&self, app: &Lark) -> Result<String, ReplyError> {
        let bot = self.bot_info(app).await?;
        bot["open_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ReplyError::Platform {
                code: 0,
                message: "bot info answered without an open_id".into(),
            })
    }

    /// The app's tenant access token: the cached one while it stays valid for [`TOKEN_MARGIN`],
    /// else a new one (which proves the App ID and App Secret).
    ///
    /// # Errors
    /// [`ReplyError`] per the module docs.
    pub async fn tenant_token(&self, app: &Lark) -> Result<Secret, ReplyError> {
        self.tokens
            .get_or_fetch(&self.token_key(app), TOKEN_MARGIN, || self.fetch_token(app))
            .await
    }

    /// Calls an API with the app's token, renewing it once if Lark says it is invalid. Returns
    /// `data` (or the whole answer when there is none).
    async fn call(&self, app: &Lark, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ReplyError> {
        self.call_as(app, method, path, |request| match body {
            Some(body) => request.json(body),
            None => request,
        })
        .await
    }

    /// As [`LarkApi::call`], the request's body (and anything else) set by `build`.
    async fn call_as(
        &self,
        app: &Lark,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Sync,
    ) -> Result<Value, ReplyError> {
        let build = &build;
        self.tokens
            .with_token(
                &self.token_key(app),
                TOKEN_MARGIN,
                || self.fetch_token(app),
                |token| {
                    let method = method.clone();
                    async move { self.call_with(app, &token, method, path, build).await }
                },
                |failure| matches!(failure, Failure::InvalidToken),
            )
            .await
            .map_err(Failure::into_reply_error)
    }

    async fn call_with(
        &self,
        app: &Lark,
        token: &Secret,
        method: Method,
        path: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.endpoints.base(app.domain));
        let request = self
            .http
            .request(method, url)
            .timeout(REQUEST_TIMEOUT)
            .bearer_auth(token.expose());
        let response = build(request).send().await.map_err(transport)?;
        answer(response).await
    }

    /// A new tenant access token.
    async fn fetch_token(&self, app: &Lark) -> Result<Fetched, ReplyError> {
        let url = format!(
            "{}/open-apis/auth/v3/tenant_access_token/internal",
            self.endpoints.base(app.domain)
        );
        let response = self
            .http
            .post(url)
            .timeout(REQUEST_TIMEOUT)
            .json(&json!({"app_id": app.app_id, "app_secret": app.app_secret.expose()}))
            .send()
            .await
            .map_err(transport)
            .map_err(Failure::into_reply_error)?;
        let answer = answer(response).await.map_err(Failure::into_reply_error)?;
        let token: TokenAnswer = serde_json::from_value(answer).map_err(|_| ReplyError::Platform {
            code: 0,
            message: "the token answer has an unexpected shape".into(),
        })?;
        if token.tenant_access_token.is_empty() {
            return Err(ReplyError::Platform {
                code: 0,
                message: "the token answer carries no token".into(),
            });
        }
        Ok(Fetched {
            token: Secret::new(token.tenant_access_token),
            expires_in: Duration::from_secs(token.expire.max(0).unsigned_abs()),
        })
    }

    fn token_key(&self, app: &Lark) -> String {
        let prefix = match app.domain {
            imgate_core::credentials::LarkDomain::Feishu => "lark_feishu",
            imgate_core::credentials::LarkDomain::Lark => "lark_lark",
        };
        cache_key(prefix, &app.app_id, &app.app_secret)
    }
}

#[async_trait]
impl BotIdentity for LarkApi {
    /// Cached per process for an hour; a failed lookup is retried after 30 s, and meanwhile
    /// `None` (see [`BotIdentity`]).
    async fn bot_open_id(&self, app: &Lark) -> Option<String> {
        let key = format!("{:?}:{}", app.domain, app.app_id);
        let known = self
            .identities
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|i| i.until > Instant::now())
            .cloned();
        if let Some(identity) = known {
            return identity.open_id;
        }
        let fetched = tokio::time::timeout(IDENTITY_TIMEOUT, self.fetch_bot_open_id(app)).await;
        let open_id = match fetched {
            Ok(Ok(open_id)) => Some(open_id),
            Ok(Err(error)) => {
                tracing::warn!(platform = "lark", app_id = %app.app_id, %error, "bot identity unavailable");
                None
            }
            Err(_) => {
                tracing::warn!(platform = "lark", app_id = %app.app_id, "bot identity lookup timed out");
                None
            }
        };
        let ttl = if open_id.is_some() {
            IDENTITY_TTL
        } else {
            IDENTITY_RETRY
        };
        self.identities.lock().unwrap_or_else(PoisonError::into_inner).insert(
            key,
            Identity {
                open_id: open_id.clone(),
                until: Instant::now() + ttl,
            },
        );
        open_id
    }
}

/// `{"tenant_access_token","expire"}`.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    tenant_access_token: String,
    #[serde(default)]
    expire: i64,
}

/// A failed call, separating the invalid-token case (renew and retry once).
enum Failure {
    InvalidToken,
    Other(ReplyError),
}

impl From<ReplyError> for Failure {
    fn from(error: ReplyError) -> Self {
        Self::Other(error)
    }
}

impl Failure {
    fn into_reply_error(self) -> ReplyError {
        match self {
            Self::InvalidToken => ReplyError::Platform {
                code: INVALID_TOKEN_CODES[0],
                message: "the tenant access token was refused".into(),
            },
            Self::Other(error) => error,
        }
    }
}

/// Maps an Open API answer (see the module docs).
async fn answer(response: reqwest::Response) -> Result<Value, Failure> {
    let status = response.status();
    let reset = response
        .headers()
        .get("x-ogw-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = response.bytes().await.map_err(transport)?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = body["code"].as_i64();
    let rate_limited = Failure::Other(ReplyError::RateLimited {
        retry_after: reset.unwrap_or(DEFAULT_RETRY_AFTER),
    });
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c)) {
        return Err(rate_limited);
    }
    if code.is_some_and(|c| INVALID_TOKEN_CODES.contains(&c)) {
        return Err(Failure::InvalidToken);
    }
    match code {
        Some(0) if status.is_success() => Ok(match body.get("data") {
            Some(data) if !data.is_null() => data.clone(),
            _ => body,
        }),
        Some(code) if code != 0 => Err(Failure::Other(ReplyError::Platform {
            code,
            message: body["msg"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(MAX_MESSAGE_CHARS)
                .collect(),
        })),
        _ if status.is_server_error() => Err(Failure::Other(ReplyError::Transport(format!(
            "HTTP {}",
            status.as_u16()
        )))),
        _ => Err(Failure::Other(ReplyError::Platform {
            code: i64::from(status.as_u16()),
            message: format!("HTTP {} without a Lark answer", status.as_u16()),
        })),
    }
}

/// A request error without the URL.
fn transport(e: reqwest::Error) -> Failure {
    Failure::Other(ReplyError::Transport(e.without_url().to_string()))
}

/// An id used as one path segment. Lark ids (`om_…`, card ids, element ids) are letters,
/// digits, `_` and `-`; anything else (nothing from an event is trusted to be path-safe) is
/// replaced, so the call fails at Lark instead of reaching another path.
fn path_segment(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '~'
            }
        })
        .collect()
}
