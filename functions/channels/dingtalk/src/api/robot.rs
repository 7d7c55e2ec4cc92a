//! The robot OpenAPI (§4.3) with cached access tokens (§4.2).
//!
//! Access tokens (`POST /v1.0/oauth2/accessToken`, valid `expireIn` seconds, rate-limited) are
//! shared by every instance through the [`TokenCache`] port, sealed with the [`Keyring`] so the
//! store never holds them in clear. The cache key is derived from the client id and a SHA-256
//! of the client secret, so a rotated secret gets a fresh token and the key never reveals the
//! secret. Tokens are refreshed 5 minutes before they expire (as the official Python SDK does),
//! and a token DingTalk rejects (HTTP 401 / `InvalidAuthentication`) is dropped and the call
//! retried once with a new one.

use std::sync::Arc;
use std::time::Duration;

use imgate_core::credentials::Dingtalk;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{ReplyError, TokenCache};
use imgate_core::secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{REQUEST_TIMEOUT, THROTTLED_RETRY_AFTER, openapi_body, transport};
use crate::reply::payload::Sample;
use imgate_channel_kit::tokens::{Fetched, SealedTokens};

/// The header carrying the access token on api.dingtalk.com.
const TOKEN_HEADER: &str = "x-acs-dingtalk-access-token";

/// How long before its expiry a cached token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Validity assumed when the token answer omits `expireIn`.
const DEFAULT_EXPIRES_IN: u64 = 7200;

/// Sends robot messages (single chats and groups) for any DingTalk app.
#[derive(Clone)]
pub struct RobotApi {
    http: reqwest::Client,
    base_url: String,
    tokens: SealedTokens,
}

impl std::fmt::Debug for RobotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotApi")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenResponse {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expire_in: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendResponse {
    #[serde(default)]
    process_query_key: Option<String>,
    #[serde(default)]
    invalid_staff_id_list: Vec<String>,
    #[serde(default)]
    flow_controlled_staff_id_list: Vec<String>,
}

impl RobotApi {
    /// A client for the API at `base_url` (normally [`super::DEFAULT_BASE_URL`]).
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
            tokens: SealedTokens::new("dingtalk", tokens, keyring),
        }
    }

    /// Sends `msg` from the app's robot (`app.robot_code`) to the user `staff_id` in their single
    /// chat with it (`/v1.0/robot/oToMessages/batchSend`). Returns the `processQueryKey`.
    ///
    /// # Errors
    /// [`ReplyError::Platform`] for DingTalk refusals (including token failures and a
    /// `staff_id` DingTalk lists as invalid), [`ReplyError::RateLimited`] for 429, `QpsLimit` or a
    /// flow-controlled user, [`ReplyError::Transport`] for 5xx and network trouble,
    /// [`ReplyError::Store`] when the token cache cannot be read.
    pub async fn send_to_user(&self, app: &Dingtalk, staff_id: &str, msg: &Sample) -> Result<String, ReplyError> {
        let body = json!({
            "robotCode": app.robot_code,
            "userIds": [staff_id],
            "msgKey": msg.msg_key,
            "msgParam": msg.param_string(),
        });
        let answer = self
            .call(app, reqwest::Method::POST, "/v1.0/robot/oToMessages/batchSend", &body)
            .await?;
        let parsed: SendResponse = serde_json::from_value(answer)
            .map_err(|_| ReplyError::Transport("batchSend answered with an unexpected shape".into()))?;
        if parsed.invalid_staff_id_list.iter().any(|id| id == staff_id) {
            return Err(ReplyError::Platform {
                code: 400,
                message: "the user is not a valid recipient of this robot".into(),
            });
        }
        if parsed.flow_controlled_staff_id_list.iter().any(|id| id == staff_id) {
            return Err(ReplyError::RateLimited {
                retry_after: THROTTLED_RETRY_AFTER,
            });
        }
        tracing::debug!(platform = "dingtalk", client_id = %app.client_id, msg_key = msg.msg_key, "robot message sent to a user");
        Ok(parsed.process_query_key.unwrap_or_default())
    }

    /// Sends `msg` from the app's robot to the group `open_conversation_id` (a robot message's
    /// `conversationId`) via `/v1.0/robot/groupMessages/send`. Returns the `processQueryKey`.
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn send_to_group(
        &self,
        app: &Dingtalk,
        open_conversation_id: &str,
        msg: &Sample,
    ) -> Result<String, ReplyError> {
        let body = json!({
            "robotCode": app.robot_code,
            "openConversationId": open_conversation_id,
            "msgKey": msg.msg_key,
            "msgParam": msg.param_string(),
        });
        let answer = self
            .call(app, reqwest::Method::POST, "/v1.0/robot/groupMessages/send", &body)
            .await?;
        tracing::debug!(platform = "dingtalk", client_id = %app.client_id, msg_key = msg.msg_key, "robot message sent to a group");
        Ok(answer
            .get("processQueryKey")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// The temporary URL of a file a user sent the robot, from its message's `downloadCode`
    /// (`/v1.0/robot/messageFiles/download`, §2).
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`]; [`ReplyError::Transport`] for an answer without a URL.
    pub async fn download_url(&self, app: &Dingtalk, download_code: &str) -> Result<String, ReplyError> {
        let body = json!({ "downloadCode": download_code, "robotCode": app.robot_code });
        let answer = self
            .call(app, reqwest::Method::POST, "/v1.0/robot/messageFiles/download", &body)
            .await?;
        answer
            .get("downloadUrl")
            .and_then(Value::as_str)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ReplyError::Transport("messageFiles/download answered without a downloadUrl".into()))
    }

    /// A valid access token for the app, from the cache or the token endpoint (for other
    /// api.dingtalk.com calls such as file downloads and cards).
    ///
    /// # Errors
    /// As for [`RobotApi::send_to_user`].
    pub async fn access_token(&self, app: &Dingtalk) -> Result<Secret, ReplyError> {
        let key = token_cache_key(&app.client_id, &app.client_secret);
        self.tokens
            .get_or_fetch(&key, REFRESH_MARGIN, || self.fetch_token(app))
            .await
    }

    /// Sends `body` to `path` with the app's token; on an invalid-token answer, drops the
    /// cached token and retries once with a fresh one. Returns the answer's JSON.
    pub(super) async fn call(
        &self,
        app: &Dingtalk,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, ReplyError> {
        let key = token_cache_key(&app.client_id, &app.client_secret);
        self.tokens
            .with_token(
                &key,
                REFRESH_MARGIN,
                || self.fetch_token(app),
                |token| {
                    let method = method.clone();
                    async move { self.request(&token, method, path, body).await }
                },
                |failure: &super::Failure| failure.invalid_token,
            )
            .await
            .map_err(|failure| failure.error)
    }

    async fn request(
        &self,
        token: &Secret,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, super::Failure> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header(TOKEN_HEADER, token.expose())
            .timeout(REQUEST_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let bytes = openapi_body(response).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|_| ReplyError::Transport("DingTalk answered with something other than JSON".into()).into())
    }

    async fn fetch_token(&self, app: &Dingtalk) -> Result<Fetched, ReplyError> {
        let client_id = app.client_id.as_str();
        tracing::info!(platform = "dingtalk", client_id, "fetching an access token");
        let response = self
            .http
            .post(format!("{}/v1.0/oauth2/accessToken", self.base_url))
            .timeout(REQUEST_TIMEOUT)
            .json(&json!({ "appKey": client_id, "appSecret": app.client_secret.expose() }))
            .send()
            .await
            .map_err(transport)?;
        let bytes = openapi_body(response).await.map_err(|f| f.error)?;
        let parsed: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|_| ReplyError::Transport("accessToken answered with something other than JSON".into()))?;
        if parsed.access_token.is_empty() {
            return Err(ReplyError::Transport("accessToken answered without a token".into()));
        }
        Ok(Fetched {
            token: Secret::new(parsed.access_token),
            expires_in: Duration::from_secs(parsed.expire_in.unwrap_or(DEFAULT_EXPIRES_IN)),
        })
    }
}

/// The [`TokenCache`] key of an app: client id plus a digest of its secret (never the secret).
pub fn token_cache_key(client_id: &str, client_secret: &Secret) -> String {
    imgate_channel_kit::tokens::cache_key("dingtalk", client_id, client_secret)
}
