//! The QR login (§2) behind the admin API's `…/login` routes ([`imgate_core::ports::LoginFlow`]).
//!
//! - **Start**: `get_bot_qrcode?bot_type=3` at the login host gives the polling handle and the
//!   URL to encode (`qrcode_img_content`, a page, not an image: §2.1, §10.15); imgate draws the
//!   code as SVG. The state kept between polls is the handle, the poll host and a pending
//!   verification number.
//! - **Poll**: one `get_qrcode_status`, held at most [`POLL_HOLD`] (a client timeout or an HTTP
//!   error reads as `wait`). `scaned_but_redirect` moves the poll host to `redirect_host` (with
//!   the login host's scheme); a number typed for `need_verifycode` is sent with every poll
//!   until the code is `scaned` (a `need_verifycode` answer to it means it was wrong);
//!   `confirmed` without `ilink_bot_id` is a failure (§2.2).
//! - The token is never put into a message, a state or a log.

use std::time::Duration;

use async_trait::async_trait;
use imgate_core::credentials::{Credentials, Wechat};
use imgate_core::ports::{LoginFlow, LoginQr, LoginStatus, LoginStep};
use imgate_core::secret::Secret;
use qrcode::QrCode;
use qrcode::render::svg;
use serde_json::{Value, json};

use crate::api::Client;
use crate::wire::QrStatus;

/// The longest one status poll is held: short, since the admin API may run on Lambda.
pub const POLL_HOLD: Duration = Duration::from_secs(4);

/// WeChat's QR login.
#[derive(Clone)]
pub struct Login {
    client: Client,
    login_base: String,
    hold: Duration,
}

impl Login {
    /// Logs in at `login_base` through `client`.
    pub fn new(client: Client, login_base: String) -> Self {
        Self {
            client,
            login_base,
            hold: POLL_HOLD,
        }
    }
}

/// `content` as an SVG QR code.
///
/// # Errors
/// When the content does not fit in a QR code.
pub fn svg(content: &str) -> Result<String, String> {
    let code = QrCode::new(content.as_bytes()).map_err(|e| format!("the code could not be drawn: {e}"))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

fn step(status: LoginStatus, state: Option<Value>, message: &str) -> LoginStep {
    LoginStep {
        status,
        state,
        qr: None,
        credentials: None,
        message: message.to_owned(),
    }
}

/// `https://<redirect_host>`, with the scheme of `current` (http only against a local fake).
fn redirected(current: &str, host: &str) -> String {
    let scheme = if current.starts_with("http://") {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{host}")
}

/// What one status answer means for the login in `state`.
fn progress(mut state: Value, answer: QrStatus, sent_code: bool) -> LoginStep {
    let status = answer.status.as_deref().unwrap_or("wait");
    match status {
        "scaned" => {
            state["verifyCode"] = Value::Null;
            step(
                LoginStatus::Scanned,
                Some(state),
                "scanned: confirm the login on the phone",
            )
        }
        "need_verifycode" => {
            let message = if sent_code {
                "the number was wrong: send the one the phone shows as {\"verifyCode\": \"…\"}"
            } else {
                "the phone shows a number: send it as {\"verifyCode\": \"…\"}"
            };
            state["verifyCode"] = Value::Null;
            step(LoginStatus::NeedVerifycode, Some(state), message)
        }
        "verify_code_blocked" => step(
            LoginStatus::VerifyCodeBlocked,
            None,
            "too many wrong numbers: ask for a new code",
        ),
        "expired" => step(LoginStatus::Expired, None, "the code expired: ask for a new one"),
        "scaned_but_redirect" => {
            if let Some(host) = answer.redirect_host.as_deref().filter(|h| valid_host(h)) {
                let base = redirected(state["pollBase"].as_str().unwrap_or_default(), host);
                state["pollBase"] = json!(base);
            }
            step(
                LoginStatus::Scanned,
                Some(state),
                "scanned: confirm the login on the phone",
            )
        }
        "binded_redirect" => step(
            LoginStatus::AlreadyBound,
            None,
            "this bot is already bound here: the stored credentials stay",
        ),
        "confirmed" => confirmed(answer),
        _ => step(LoginStatus::Wait, Some(state), "waiting for the code to be scanned"),
    }
}

/// A host name with an optional port, nothing that could change the URL's meaning.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b':')
}

fn confirmed(answer: QrStatus) -> LoginStep {
    let (Some(token), Some(bot_id)) = (
        answer.bot_token.filter(|t| !t.is_empty()),
        answer.ilink_bot_id.filter(|b| !b.is_empty()),
    ) else {
        return step(
            LoginStatus::Failed,
            None,
            "WeChat confirmed the login without a bot token or bot id: ask for a new code",
        );
    };
    let base_url = answer
        .baseurl
        .filter(|b| b.starts_with("https://") || b.starts_with("http://"));
    LoginStep {
        status: LoginStatus::Confirmed,
        state: None,
        qr: None,
        credentials: Some(Credentials::Wechat(Wechat {
            bot_token: Some(Secret::new(token)),
            base_url,
            bot_id: Some(bot_id),
            owner_user_id: answer.ilink_user_id.filter(|u| !u.is_empty()),
        })),
        message: "logged in: the bot starts polling".into(),
    }
}

#[async_trait]
impl LoginFlow for Login {
    async fn start(&self, _credentials: &Credentials) -> Result<LoginStep, String> {
        let code = self
            .client
            .qr_code(&self.login_base)
            .await
            .map_err(|e| format!("WeChat gave no QR code: {e}"))?;
        let (Some(handle), Some(content)) = (
            code.qrcode.filter(|q| !q.is_empty()),
            code.qrcode_img_content.filter(|c| !c.is_empty()),
        ) else {
            return Err("WeChat answered without a QR code".into());
        };
        Ok(LoginStep {
            status: LoginStatus::Wait,
            state: Some(json!({"qrcode": handle, "pollBase": self.login_base})),
            qr: Some(LoginQr {
                svg: svg(&content)?,
                content,
            }),
            credentials: None,
            message: "scan the code with WeChat".into(),
        })
    }

    async fn poll(
        &self,
        _credentials: &Credentials,
        state: &Value,
        verify_code: Option<&str>,
    ) -> Result<LoginStep, String> {
        let handle = state["qrcode"].as_str().ok_or("the stored login has no code")?;
        let base = state["pollBase"].as_str().unwrap_or(&self.login_base).to_owned();
        let mut state = state.clone();
        if let Some(code) = verify_code {
            state["verifyCode"] = json!(code);
        }
        let code = state["verifyCode"].as_str().map(str::to_owned);
        let answer = self.client.qr_status(&base, handle, code.as_deref(), self.hold).await;
        Ok(progress(state, answer, code.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: Value) -> QrStatus {
        serde_json::from_value(json).unwrap()
    }

    fn state() -> Value {
        json!({"qrcode": "abc", "pollBase": "https://ilinkai.weixin.qq.com"})
    }

    #[test]
    fn statuses_map_to_the_login_steps() {
        assert_eq!(
            progress(state(), answer(json!({"status": "wait"})), false).status,
            LoginStatus::Wait
        );
        assert_eq!(progress(state(), answer(json!({})), false).status, LoginStatus::Wait);
        assert_eq!(
            progress(state(), answer(json!({"status": "something_new"})), false).status,
            LoginStatus::Wait
        );
        let expired = progress(state(), answer(json!({"status": "expired"})), false);
        assert_eq!((expired.status, expired.state), (LoginStatus::Expired, None));
        let blocked = progress(state(), answer(json!({"status": "verify_code_blocked"})), true);
        assert_eq!((blocked.status, blocked.state), (LoginStatus::VerifyCodeBlocked, None));
        let bound = progress(state(), answer(json!({"status": "binded_redirect"})), false);
        assert!(bound.credentials.is_none() && bound.status == LoginStatus::AlreadyBound);
    }

    #[test]
    fn a_redirect_moves_the_poll_host() {
        let moved = progress(
            state(),
            answer(json!({"status": "scaned_but_redirect", "redirect_host": "sh.ilinkai.weixin.qq.com"})),
            false,
        );
        assert_eq!(moved.status, LoginStatus::Scanned);
        assert_eq!(moved.state.unwrap()["pollBase"], "https://sh.ilinkai.weixin.qq.com");
        let kept = progress(state(), answer(json!({"status": "scaned_but_redirect"})), false);
        assert_eq!(kept.state.unwrap()["pollBase"], "https://ilinkai.weixin.qq.com");
        let odd = progress(
            state(),
            answer(json!({"status": "scaned_but_redirect", "redirect_host": "evil.com/x?"})),
            false,
        );
        assert_eq!(odd.state.unwrap()["pollBase"], "https://ilinkai.weixin.qq.com");
    }

    #[test]
    fn a_wrong_number_is_said_and_dropped() {
        let mut pending = state();
        pending["verifyCode"] = json!("1234");
        let wrong = progress(pending, answer(json!({"status": "need_verifycode"})), true);
        assert_eq!(wrong.status, LoginStatus::NeedVerifycode);
        assert!(wrong.message.contains("wrong"));
        assert!(wrong.state.unwrap()["verifyCode"].is_null());
    }

    #[test]
    fn confirmation_yields_credentials_and_needs_a_bot_id() {
        let done = progress(
            state(),
            answer(
                json!({"status": "confirmed", "bot_token": "tok", "ilink_bot_id": "b@im.bot",
                "baseurl": "https://ilinkai.weixin.qq.com", "ilink_user_id": "o@im.wechat"}),
            ),
            false,
        );
        assert_eq!(done.status, LoginStatus::Confirmed);
        let Some(Credentials::Wechat(wechat)) = done.credentials else {
            panic!("credentials")
        };
        assert_eq!(wechat.bot_token.unwrap().expose(), "tok");
        assert_eq!(wechat.bot_id.as_deref(), Some("b@im.bot"));
        assert_eq!(wechat.owner_user_id.as_deref(), Some("o@im.wechat"));
        assert!(!done.message.contains("tok"));
        let incomplete = progress(
            state(),
            answer(json!({"status": "confirmed", "bot_token": "tok"})),
            false,
        );
        assert_eq!(incomplete.status, LoginStatus::Failed);
        assert!(incomplete.credentials.is_none());
    }

    #[test]
    fn codes_are_drawn_as_svg() {
        let drawn = svg("https://liteapp.weixin.qq.com/q/7GiQu1?qrcode=abc&bot_type=3").unwrap();
        assert!(drawn.starts_with("<?xml") && drawn.contains("<svg"));
    }
}
