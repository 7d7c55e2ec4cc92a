//! The iLink bot API client (§1, §2, §3.1, §4): JSON POSTs to `<base>/ilink/bot/<name>` with
//! the common headers and `base_info`, answers judged by `ret` / `errcode` (§1.4).
//!
//! - Every POST carries `AuthorizationType: ilink_bot_token`, a fresh `X-WECHAT-UIN` (base64
//!   of a random uint32's decimal text, §1.2), `iLink-App-Id` and `iLink-App-ClientVersion`
//!   pinned to the plugin version these notes describe ([`CHANNEL_VERSION`]); logged-in calls
//!   add `Authorization: Bearer <bot_token>`.
//! - Errors never carry the token, a context token or a URL: reqwest errors are stripped of
//!   theirs, and the server's `errmsg` is cut to [`MAX_MESSAGE_CHARS`].

mod upload;

pub use upload::{DEFAULT_CDN_URL, Uploaded};

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imgate_core::secret::Secret;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::wire::{Config, QrCode, QrStatus, Status, Updates};

/// iLink's public host: QR login always, the bot API when the login named no other base.
pub const DEFAULT_BASE_URL: &str = "https://ilinkai.weixin.qq.com";

/// The official plugin version the requests identify as (§1.3 recommendation).
pub const CHANNEL_VERSION: &str = "2.4.9";

/// Who is calling, for the server's observability (§1.3).
pub const BOT_AGENT: &str = concat!("imgate/", env!("CARGO_PKG_VERSION"));

/// `getupdates`' hold when the server names none (§3.1).
pub const DEFAULT_HOLD: Duration = Duration::from_secs(35);

/// How much longer than the server's hold the client waits for `getupdates` (§3.1, §10.5).
pub const POLL_MARGIN: Duration = Duration::from_secs(7);

/// Client timeouts of the other calls (§1.4).
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const SHORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest server message kept in an error.
pub const MAX_MESSAGE_CHARS: usize = 200;

/// `ret` / `errcode` of a stale bot token (§6).
pub const SESSION_EXPIRED: i64 = -14;

/// `ret` of a refused send: budget, window or throttle (§6, §7).
pub const SEND_REFUSED: i64 = -2;

/// A refused or failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server answered with a non-zero `ret` / `errcode`.
    #[error("iLink refused {call}: ret {code} {message}")]
    Refused {
        /// The call.
        call: &'static str,
        /// `ret` (or `errcode`).
        code: i64,
        /// `errmsg`, cut.
        message: String,
    },
    /// The server answered with a non-2xx HTTP status.
    #[error("iLink answered {call} with HTTP {status}")]
    Http {
        /// The call.
        call: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// The client gave up waiting (a long poll's normal end).
    #[error("iLink did not answer {call} in time")]
    Timeout {
        /// The call.
        call: &'static str,
    },
    /// The call did not complete: network, an unreadable answer.
    #[error("iLink could not be reached for {call}: {detail}")]
    Transport {
        /// The call.
        call: &'static str,
        /// What happened, without the URL.
        detail: String,
    },
}

impl ApiError {
    /// Whether the bot's login session has ended (`-14` "session timeout", or HTTP 401, §6).
    pub fn session_expired(&self) -> bool {
        match self {
            Self::Refused { code, message, .. } => {
                *code == SESSION_EXPIRED || message.to_ascii_lowercase().contains("session timeout")
            }
            Self::Http { status, .. } => *status == 401,
            Self::Timeout { .. } | Self::Transport { .. } => false,
        }
    }

    /// Whether a send was refused with `ret=-2` (§7).
    pub fn send_refused(&self) -> bool {
        matches!(self, Self::Refused { code, .. } if *code == SEND_REFUSED)
    }
}

/// `iLink-App-ClientVersion`: `major<<16 | minor<<8 | patch` in decimal (§1.2).
pub fn client_version(version: &str) -> u32 {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0) & 0xff);
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (major << 16) | (minor << 8) | patch
}

/// `X-WECHAT-UIN` for `uin`: base64 of its decimal text (§1.2, §10.4).
pub fn wechat_uin(uin: u32) -> String {
    STANDARD.encode(uin.to_string())
}

/// The `base_info` every POST carries.
pub fn base_info() -> Value {
    json!({"channel_version": CHANNEL_VERSION, "bot_agent": BOT_AGENT})
}

/// The iLink API through one HTTP client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

/// One bot account: its API base and token.
#[derive(Clone)]
pub struct Account {
    /// The API base (the login's `baseurl`).
    pub base: String,
    /// The bot token.
    pub token: Secret,
}

impl Client {
    /// A client on `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// `getupdates` from `cursor`, waiting up to `hold` + [`POLL_MARGIN`].
    ///
    /// # Errors
    /// [`ApiError`]; a client timeout is [`ApiError::Timeout`].
    pub async fn get_updates(&self, account: &Account, cursor: &str, hold: Duration) -> Result<Updates, ApiError> {
        let body = json!({"get_updates_buf": cursor, "base_info": base_info()});
        let updates: Updates = self.post(account, "getupdates", &body, hold + POLL_MARGIN).await?;
        checked("getupdates", &updates.status)?;
        Ok(updates)
    }

    /// `sendmessage` of one text item to `to_user` with `context_token`.
    ///
    /// # Errors
    /// [`ApiError`]; `ret=-2` is [`ApiError::send_refused`].
    pub async fn send_text(
        &self,
        account: &Account,
        to_user: &str,
        context_token: Option<&Secret>,
        client_id: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        let item = json!({"type": 1, "text_item": {"text": text}});
        self.send_item(account, to_user, context_token, client_id, item).await
    }

    /// The HTTP client (for the replier's image downloads).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `sendmessage` of one image to `to_user` with `context_token` (§4.2): the image uploaded
    /// with [`Client::upload_image`].
    ///
    /// # Errors
    /// [`ApiError`]; `ret=-2` is [`ApiError::send_refused`].
    pub async fn send_image(
        &self,
        account: &Account,
        to_user: &str,
        context_token: Option<&Secret>,
        client_id: &str,
        image: &Uploaded,
    ) -> Result<(), ApiError> {
        self.send_item(account, to_user, context_token, client_id, image.item())
            .await
    }

    /// `sendmessage` of one `item_list` entry.
    async fn send_item(
        &self,
        account: &Account,
        to_user: &str,
        context_token: Option<&Secret>,
        client_id: &str,
        item: Value,
    ) -> Result<(), ApiError> {
        let mut msg = json!({
            "from_user_id": "",
            "to_user_id": to_user,
            "client_id": client_id,
            "message_type": 2,
            "message_state": 2,
            "item_list": [item],
        });
        if let Some(token) = context_token {
            msg["context_token"] = json!(token.expose());
        }
        let body = json!({"msg": msg, "base_info": base_info()});
        let status: Status = self.post(account, "sendmessage", &body, SEND_TIMEOUT).await?;
        checked("sendmessage", &status)
    }

    /// `getconfig` for `user`: the typing ticket, if the server gives one.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn typing_ticket(
        &self,
        account: &Account,
        user: &str,
        context_token: Option<&Secret>,
    ) -> Result<Option<String>, ApiError> {
        let mut body = json!({"ilink_user_id": user, "base_info": base_info()});
        if let Some(token) = context_token {
            body["context_token"] = json!(token.expose());
        }
        let config: Config = self.post(account, "getconfig", &body, SHORT_TIMEOUT).await?;
        checked("getconfig", &config.status)?;
        Ok(config.typing_ticket.filter(|t| !t.is_empty()))
    }

    /// `sendtyping`: `typing` true shows the indicator, false cancels it.
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn send_typing(&self, account: &Account, user: &str, ticket: &str, typing: bool) -> Result<(), ApiError> {
        let body = json!({
            "ilink_user_id": user,
            "typing_ticket": ticket,
            "status": if typing { 1 } else { 2 },
            "base_info": base_info(),
        });
        let status: Status = self.post(account, "sendtyping", &body, SHORT_TIMEOUT).await?;
        checked("sendtyping", &status)
    }

    /// `msg/notifystart` (`start`) or `msg/notifystop`: best effort (§2.4).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn notify(&self, account: &Account, start: bool) -> Result<(), ApiError> {
        let call = if start { "msg/notifystart" } else { "msg/notifystop" };
        let status: Status = self
            .post(account, call, &json!({"base_info": base_info()}), SHORT_TIMEOUT)
            .await?;
        checked(call, &status)
    }

    /// `get_bot_qrcode?bot_type=3` at `login_base` (§2.1).
    ///
    /// # Errors
    /// [`ApiError`].
    pub async fn qr_code(&self, login_base: &str) -> Result<QrCode, ApiError> {
        let url = format!(
            "{}/ilink/bot/get_bot_qrcode?bot_type=3",
            login_base.trim_end_matches('/')
        );
        let request = self
            .http
            .post(url)
            .headers(common_headers(None))
            .json(&json!({"local_token_list": []}))
            .timeout(SEND_TIMEOUT);
        let code: QrCode = send("get_bot_qrcode", request).await?;
        checked("get_bot_qrcode", &code.status)?;
        Ok(code)
    }

    /// One `get_qrcode_status` poll at `poll_base`, held at most `hold`; a client timeout, an
    /// HTTP error or a network error reads as `wait` (§2.2).
    pub async fn qr_status(
        &self,
        poll_base: &str,
        qrcode: &str,
        verify_code: Option<&str>,
        hold: Duration,
    ) -> QrStatus {
        let url = format!("{}/ilink/bot/get_qrcode_status", poll_base.trim_end_matches('/'));
        let mut query = vec![("qrcode", qrcode)];
        if let Some(code) = verify_code {
            query.push(("verify_code", code));
        }
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("iLink-App-Id", reqwest::header::HeaderValue::from_static("bot"));
        headers.insert("iLink-App-ClientVersion", version_header());
        let request = self.http.get(url).query(&query).headers(headers).timeout(hold);
        match send::<QrStatus>("get_qrcode_status", request).await {
            Ok(status) => status,
            Err(error) => {
                tracing::debug!(%error, "QR status poll read as wait");
                QrStatus {
                    status: Some("wait".into()),
                    ..QrStatus::default()
                }
            }
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        account: &Account,
        call: &'static str,
        body: &Value,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let url = format!("{}/ilink/bot/{call}", account.base.trim_end_matches('/'));
        let request = self
            .http
            .post(url)
            .headers(common_headers(Some(&account.token)))
            .json(body)
            .timeout(timeout);
        send(call, request).await
    }
}

fn version_header() -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from(client_version(CHANNEL_VERSION))
}

/// The headers of every POST (§1.2).
fn common_headers(token: Option<&Secret>) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert("AuthorizationType", HeaderValue::from_static("ilink_bot_token"));
    if let Ok(uin) = HeaderValue::from_str(&wechat_uin(rand::random())) {
        headers.insert("X-WECHAT-UIN", uin);
    }
    headers.insert("iLink-App-Id", HeaderValue::from_static("bot"));
    headers.insert("iLink-App-ClientVersion", version_header());
    if let Some(token) = token
        && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
    {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    headers
}

/// Sends `request` and reads the JSON answer (an empty body reads as `{}`: accepted, §10.8).
async fn send<T: DeserializeOwned>(call: &'static str, request: reqwest::RequestBuilder) -> Result<T, ApiError> {
    let response = request.send().await.map_err(|e| transport(call, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::Http {
            call,
            status: status.as_u16(),
        });
    }
    let bytes = response.bytes().await.map_err(|e| transport(call, e))?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::Transport {
        call,
        detail: format!("unreadable answer: {}", imgate_channel_kit::redact::json_error(&e)),
    })
}

fn transport(call: &'static str, error: reqwest::Error) -> ApiError {
    if error.is_timeout() {
        return ApiError::Timeout { call };
    }
    ApiError::Transport {
        call,
        detail: error.without_url().to_string(),
    }
}

/// `status` as a result (§1.4).
fn checked(call: &'static str, status: &Status) -> Result<(), ApiError> {
    match status.failure() {
        None => Ok(()),
        Some(code) => Err(ApiError::Refused {
            call,
            code,
            message: status
                .errmsg
                .as_deref()
                .unwrap_or_default()
                .chars()
                .take(MAX_MESSAGE_CHARS)
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_versions_match_the_notes() {
        assert_eq!(client_version("1.0.11"), 65_547);
        assert_eq!(client_version("2.4.3"), 132_099);
        assert_eq!(client_version("2.4.9"), 132_105);
        assert_eq!(client_version(CHANNEL_VERSION), 132_105);
    }

    #[test]
    fn uin_headers_match_the_notes() {
        assert_eq!(wechat_uin(0), "MA==");
        assert_eq!(wechat_uin(1_234_567_890), "MTIzNDU2Nzg5MA==");
        assert_eq!(wechat_uin(u32::MAX), "NDI5NDk2NzI5NQ==");
    }

    #[test]
    fn expiry_and_refusals_are_recognized() {
        let stale = ApiError::Refused {
            call: "getupdates",
            code: -14,
            message: "session timeout".into(),
        };
        assert!(stale.session_expired());
        assert!(
            ApiError::Http {
                call: "getupdates",
                status: 401
            }
            .session_expired()
        );
        assert!(
            !ApiError::Http {
                call: "getupdates",
                status: 500
            }
            .session_expired()
        );
        let refused = ApiError::Refused {
            call: "sendmessage",
            code: -2,
            message: String::new(),
        };
        assert!(refused.send_refused() && !refused.session_expired());
    }

    #[test]
    fn headers_carry_the_token_only_when_logged_in() {
        let token = Secret::new("tok");
        let headers = common_headers(Some(&token));
        assert_eq!(headers["AuthorizationType"], "ilink_bot_token");
        assert_eq!(headers["iLink-App-ClientVersion"], "132105");
        assert!(headers[reqwest::header::AUTHORIZATION].is_sensitive());
        let uin = STANDARD.decode(headers["X-WECHAT-UIN"].as_bytes()).unwrap();
        assert!(String::from_utf8(uin).unwrap().parse::<u32>().is_ok());
        assert!(!common_headers(None).contains_key(reqwest::header::AUTHORIZATION));
    }
}
