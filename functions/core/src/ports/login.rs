//! The login port: platforms whose bot is bound by scanning a QR code (WeChat's iLink) run the
//! login through the admin API. The platform crate talks to the platform; the admin service
//! keeps the login's state in the store (the admin API also runs on Lambda, so no process
//! memory), seals the credentials a confirmed login yields and never shows them.

use async_trait::async_trait;
use serde_json::Value;

use crate::credentials::Credentials;

/// Where a login stands, as the admin API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LoginStatus {
    /// The code is shown and not scanned yet.
    Wait,
    /// Scanned; waiting for the user to confirm on the phone.
    Scanned,
    /// The phone shows a number that must be sent back (`{"verifyCode": "…"}`).
    NeedVerifycode,
    /// Too many wrong numbers: ask for a new code.
    VerifyCodeBlocked,
    /// The code expired: ask for a new one.
    Expired,
    /// Done: the new credentials are stored and the connection restarts with them.
    Confirmed,
    /// The platform says this bot is already bound here: the stored credentials stay.
    AlreadyBound,
    /// The platform confirmed without what a login needs.
    Failed,
}

/// A QR code to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginQr {
    /// The code as an SVG image.
    pub svg: String,
    /// What the code encodes (a URL the phone opens).
    pub content: String,
}

/// One step of a login, as the platform answered it.
#[derive(Debug, Clone)]
pub struct LoginStep {
    /// Where the login stands.
    pub status: LoginStatus,
    /// The platform's state to keep for the next poll (the code's handle, the poll host, …);
    /// `None` when the login is over.
    pub state: Option<Value>,
    /// A new code to show (on start).
    pub qr: Option<LoginQr>,
    /// The credentials a confirmed login yields.
    pub credentials: Option<Credentials>,
    /// A sentence for the operator, without secrets.
    pub message: String,
}

/// Runs one platform's QR login.
#[async_trait]
pub trait LoginFlow: Send + Sync {
    /// Asks the platform for a new code. `credentials` are the integration's current ones.
    ///
    /// # Errors
    /// The platform's refusal, worded for the operator without secrets.
    async fn start(&self, credentials: &Credentials) -> Result<LoginStep, String>;

    /// One status poll of the login in `state`, held at most a few seconds; `verify_code` is
    /// the number the operator typed, if any.
    ///
    /// # Errors
    /// As [`LoginFlow::start`].
    async fn poll(
        &self,
        credentials: &Credentials,
        state: &Value,
        verify_code: Option<&str>,
    ) -> Result<LoginStep, String>;
}
