//! The self-built app `message/send` and `media/get` APIs with cached access tokens (§4).
//!
//! Access tokens (`/cgi-bin/gettoken`, valid `expires_in` seconds, rate-limited) are shared by
//! every instance through the [`TokenCache`] port, sealed with the [`Keyring`] so the store never
//! holds them in clear. The cache key is derived from the corp id and a SHA-256 of the app
//! secret, so a rotated secret gets a fresh token and the key never reveals the secret. Tokens
//! are refreshed 60 s before they expire, and a token WeCom rejects (40014 / 42001 / 40001) is
//! dropped and the call retried once with a new one.

use std::sync::Arc;
use std::time::Duration;

use imgate_channel_kit::fetch;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{MediaError, ReplyError, TokenCache};
use imgate_core::secret::Secret;
use serde::Deserialize;
use serde_json::Value;

use super::{REQUEST_TIMEOUT, Status, success_body, transport};
use imgate_channel_kit::download::Downloaded;
use imgate_channel_kit::tokens::{Fetched, SealedTokens};

/// WeCom's public API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";

/// How long before its expiry a cached token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Errcodes meaning "this access token is not (or no longer) valid".
const INVALID_TOKEN_CODES: [i64; 3] = [40014, 42001, 40001];

/// How long an image upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// `media/get`'s errcode for a file larger than one request serves.
const MEDIA_TOO_LARGE: i64 = 830_002;

/// The most one `media/get` request serves (larger files need ranges).
const MAX_MEDIA_GET: u64 = 20 * 1024 * 1024;

/// Validity assumed when `gettoken` omits `expires_in`.
const DEFAULT_EXPIRES_IN: u64 = 7200;

/// Sends self-built app messages.
#[derive(Clone)]
pub struct AppClient {
    http: reqwest::Client,
    base_url: String,
    tokens: SealedTokens,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(flatten)]
    status: Status,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl AppClient {
    /// A client for the API at `base_url` (normally [`DEFAULT_BASE_URL`]).
    pub fn new(
        http: reqwest::Client,
        base_url: impl Into<String>,
        tokens: Arc<dyn TokenCache>,
        keyring: Arc<dyn Keyring>,
    ) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_owned();
        Self {
            http,
            base_url,
            tokens: SealedTokens::new("wecom", tokens, keyring),
        }
    }

    /// Sends `msg` (e.g. `{"msgtype":"markdown","markdown":{"content":…}}`) from app `agent_id`
    /// to `to_user` (`"u1|u2"` for several) via `/cgi-bin/message/send`.
    ///
    /// # Errors
    /// [`ReplyError::Platform`] for WeCom errcodes (including `gettoken` failures),
    /// [`ReplyError::RateLimited`] / [`ReplyError::Transport`] for HTTP trouble,
    /// [`ReplyError::Store`] when the token cache cannot be read, [`ReplyError::Unsupported`]
    /// when `msg` is not a JSON object.
    pub async fn send(
        &self,
        corp_id: &str,
        corp_secret: &Secret,
        agent_id: &str,
        to_user: &str,
        msg: &Value,
    ) -> Result<(), ReplyError> {
        let mut body = msg
            .as_object()
            .cloned()
            .ok_or_else(|| ReplyError::Unsupported("an app message that is not a JSON object".into()))?;
        body.insert("touser".into(), Value::from(to_user));
        let agent = agent_id
            .parse::<i64>()
            .map_or_else(|_| Value::from(agent_id), Value::from);
        body.insert("agentid".into(), agent);
        let body = Value::Object(body);

        let key = token_cache_key(corp_id, corp_secret);
        self.tokens
            .with_token(
                &key,
                REFRESH_MARGIN,
                || self.fetch_token(corp_id, corp_secret),
                |token| {
                    let body = &body;
                    async move { self.post_send(&token, body).await }
                },
                |error| matches!(error, ReplyError::Platform { code, .. } if INVALID_TOKEN_CODES.contains(code)),
            )
            .await
            .inspect(|()| tracing::debug!(platform = "wecom", corp_id, agent_id, "app message sent"))
    }

    /// Uploads `image` as temporary media (`/cgi-bin/media/upload?type=image`, multipart field
    /// `media` with its file name; JPG or PNG, more than 5 bytes and at most 10 MB, usable for
    /// three days); returns its `media_id`.
    ///
    /// # Errors
    /// As for [`AppClient::send`].
    pub async fn upload_image(
        &self,
        corp_id: &str,
        corp_secret: &Secret,
        image: &Downloaded,
    ) -> Result<String, ReplyError> {
        self.tokens
            .with_token(
                &token_cache_key(corp_id, corp_secret),
                REFRESH_MARGIN,
                || self.fetch_token(corp_id, corp_secret),
                |token| async move { self.post_upload(&token, image).await },
                |error| matches!(error, ReplyError::Platform { code, .. } if INVALID_TOKEN_CODES.contains(code)),
            )
            .await
    }

    /// A valid access token for the app, from the cache or `gettoken` (for other app APIs such
    /// as `media/get`).
    ///
    /// # Errors
    /// As for [`AppClient::send`].
    pub async fn access_token(&self, corp_id: &str, corp_secret: &Secret) -> Result<Secret, ReplyError> {
        self.tokens
            .get_or_fetch(&token_cache_key(corp_id, corp_secret), REFRESH_MARGIN, || {
                self.fetch_token(corp_id, corp_secret)
            })
            .await
    }

    /// Downloads the temporary media `media_id` a user sent the app (`GET /cgi-bin/media/get`),
    /// reading at most `limit` bytes. A success is the file with its `Content-Type` and
    /// `Content-Disposition`; a refusal is `{"errcode","errmsg"}` JSON (with HTTP 200), and a
    /// token WeCom rejects is fetched again once.
    ///
    /// # Errors
    /// [`MediaError::Platform`] for WeCom's errcodes (an expired `media_id` is 40007),
    /// [`MediaError::TooLarge`] (also for errcode 830002: one request serves at most 20 MB),
    /// [`MediaError::Transport`].
    pub async fn media(
        &self,
        corp_id: &str,
        corp_secret: &Secret,
        media_id: &str,
        limit: u64,
    ) -> Result<fetch::Body, MediaError> {
        self.tokens
            .with_token(
                &token_cache_key(corp_id, corp_secret),
                REFRESH_MARGIN,
                || self.fetch_token(corp_id, corp_secret),
                |token| async move {
                    let response = self
                        .http
                        .get(format!("{}/cgi-bin/media/get", self.base_url))
                        .query(&[("access_token", token.expose()), ("media_id", media_id)])
                        .timeout(fetch::TIMEOUT)
                        .send()
                        .await
                        .map_err(fetch::transport)?;
                    let body = fetch::read(response, limit, |_| None).await?;
                    media_answer(body, limit)
                },
                |failure: &fetch::Failure| failure.token_rejected,
            )
            .await
            .map_err(|failure| failure.error)
    }

    async fn fetch_token(&self, corp_id: &str, secret: &Secret) -> Result<Fetched, ReplyError> {
        tracing::info!(platform = "wecom", corp_id, "fetching an app access token");
        let response = self
            .http
            .get(format!("{}/cgi-bin/gettoken", self.base_url))
            .query(&[("corpid", corp_id), ("corpsecret", secret.expose())])
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let body = success_body(response).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| ReplyError::Transport("gettoken answered with something other than JSON".into()))?;
        parsed.status.check()?;
        if parsed.access_token.is_empty() {
            return Err(ReplyError::Transport("gettoken answered without a token".into()));
        }
        Ok(Fetched {
            token: Secret::new(parsed.access_token),
            expires_in: Duration::from_secs(parsed.expires_in.unwrap_or(DEFAULT_EXPIRES_IN)),
        })
    }

    async fn post_send(&self, token: &Secret, body: &Value) -> Result<(), ReplyError> {
        let response = self
            .http
            .post(format!("{}/cgi-bin/message/send", self.base_url))
            .query(&[("access_token", token.expose())])
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let body = success_body(response).await?;
        let status: Status = serde_json::from_slice(&body)
            .map_err(|_| ReplyError::Transport("message/send answered with something other than JSON".into()))?;
        status.check()
    }
}

#[derive(Deserialize)]
struct UploadResponse {
    #[serde(flatten)]
    status: Status,
    #[serde(default)]
    media_id: String,
}

impl AppClient {
    async fn post_upload(&self, token: &Secret, image: &Downloaded) -> Result<String, ReplyError> {
        let part = reqwest::multipart::Part::bytes(image.bytes.clone())
            .file_name(image.file_name(0))
            .mime_str(image.kind.mime())
            .map_err(|_| ReplyError::Unsupported("an image without a MIME type".into()))?;
        let response = self
            .http
            .post(format!("{}/cgi-bin/media/upload", self.base_url))
            .query(&[("access_token", token.expose()), ("type", "image")])
            .timeout(UPLOAD_TIMEOUT)
            .multipart(reqwest::multipart::Form::new().part("media", part))
            .send()
            .await
            .map_err(transport)?;
        let body = success_body(response).await?;
        let parsed: UploadResponse = serde_json::from_slice(&body)
            .map_err(|_| ReplyError::Transport("media/upload answered with something other than JSON".into()))?;
        parsed.status.check()?;
        if parsed.media_id.is_empty() {
            return Err(ReplyError::Transport("media/upload answered without a media_id".into()));
        }
        Ok(parsed.media_id)
    }
}

/// A `media/get` answer: the file, or WeCom's JSON refusal (sent with HTTP 200 and no
/// `Content-Disposition`).
fn media_answer(body: fetch::Body, limit: u64) -> Result<fetch::Body, fetch::Failure> {
    let json = body
        .content_type
        .as_deref()
        .is_some_and(|t| t.contains("json") || t == "text/plain");
    if !json || body.file_name.is_some() {
        return Ok(body);
    }
    let Ok(status) = serde_json::from_slice::<Status>(&body.bytes) else {
        return Ok(body);
    };
    let token_rejected = INVALID_TOKEN_CODES.contains(&status.errcode);
    let error = match status.errcode {
        0 => MediaError::Platform("media/get answered without the file".into()),
        MEDIA_TOO_LARGE => MediaError::TooLarge {
            size: None,
            limit: limit.min(MAX_MEDIA_GET),
        },
        code => fetch::from_reply(ReplyError::Platform {
            code,
            message: status.errmsg,
        }),
    };
    Err(fetch::Failure { error, token_rejected })
}

/// The [`TokenCache`] key of an app: corp id plus a digest of its secret (never the secret).
pub fn token_cache_key(corp_id: &str, corp_secret: &Secret) -> String {
    imgate_channel_kit::tokens::cache_key("wecom", corp_id, corp_secret)
}
