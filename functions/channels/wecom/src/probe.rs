//! The credential test.
//!
//! - A self-built app (callback mode with a corp ID and app Secret): an access token from
//!   `gettoken` (§4), from the shared cache when one is there. The agent id is not part of the
//!   credentials, so the app's name is not asked for.
//! - A smart bot in callback mode has no secret to try: WeCom's console checks the callback URL,
//!   Token and EncodingAESKey itself when they are saved.
//! - A smart bot over the long connection is not tested: a second connection for the same bot
//!   would disconnect the relay's (§3.5); the connection status shows whether it works.

use async_trait::async_trait;
use imgate_channel_kit::probe::{failure, mismatch};
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

use crate::api::AppClient;

/// `gettoken`: the corp ID is unknown.
const INVALID_CORP_ID: i64 = 40013;
/// `gettoken`: the Secret is wrong (40001 "invalid credential", 40091 "secret is invalid").
const INVALID_SECRET: [i64; 2] = [40001, 40091];
/// The caller's IP address is not on the app's trusted IP list.
const UNTRUSTED_IP: i64 = 60020;

/// Why a smart bot in callback mode is not tested.
pub const CALLBACK_UNSUPPORTED: &str = "A WeCom smart bot in callback mode has no secret to test: \
    WeCom's console checks the callback URL, Token and EncodingAESKey when you save them, so a \
    successful save there is the test. (A self-built app can be tested once its corp ID and \
    Secret are filled in.)";

/// Why a smart bot over the long connection is not tested.
pub const LONG_CONNECTION_UNSUPPORTED: &str = "A WeCom smart bot on the long connection cannot be \
    tested separately: a second connection for the same bot would disconnect the live one. The \
    connection status shows whether it works (the reason auth_failed means the Bot ID or Secret is \
    wrong: copy them again from the smart bot's API settings in WeCom).";

/// Tests WeCom credentials.
#[derive(Debug, Clone)]
pub struct Probe {
    app: AppClient,
}

impl Probe {
    /// A test asking tokens of `app`.
    pub fn new(app: AppClient) -> Self {
        Self { app }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let callback = match credentials {
            Credentials::WecomWebhook(callback) => callback,
            Credentials::WecomLongConnection(_) => return Err(ProbeFailure::unsupported(LONG_CONNECTION_UNSUPPORTED)),
            _ => return Err(mismatch("WeCom")),
        };
        let (Some(corp_id), Some(secret)) = (&callback.corp_id, &callback.corp_secret) else {
            return Err(ProbeFailure::unsupported(CALLBACK_UNSUPPORTED));
        };
        self.app
            .access_token(corp_id, secret)
            .await
            .map_err(|error| failure("WeCom", error, refused))?;
        Ok(ProbeReport {
            account: None,
            detail: "got an access token for the corp ID and app Secret".into(),
        })
    }
}

/// A `gettoken` refusal in the operator's words.
fn refused(code: i64, message: &str) -> ProbeFailure {
    let words = match code {
        INVALID_CORP_ID => format!(
            "WeCom does not know this corp ID (code {code}): copy it from My Company → Company \
             Information (我的企业 → 企业信息) in the WeCom admin console"
        ),
        code if INVALID_SECRET.contains(&code) => format!(
            "WeCom refused the app Secret (code {code}): open the app under App Management \
             (应用管理) in the WeCom admin console and view its Secret again"
        ),
        UNTRUSTED_IP => format!(
            "WeCom refused this server's IP address (code {code}): add it to the app's trusted \
             IPs (企业可信IP) under App Management in the WeCom admin console"
        ),
        _ => format!(
            "WeCom refused the corp ID / app Secret (code {code} {}): check both in the WeCom \
             admin console (My Company for the corp ID, App Management for the Secret)",
            first_sentence(message)
        ),
    };
    ProbeFailure::rejected(words)
}

/// WeCom's `errmsg` up to its first comma: the rest is a hint id, the caller's IP and a link.
fn first_sentence(message: &str) -> &str {
    message.split(',').next().unwrap_or_default().trim()
}
