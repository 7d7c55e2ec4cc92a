//! The credential test, which for iLink asks nothing: a bot token comes from a QR login and has
//! no refresh or "who am I" call (§2.3). The only call that reliably says a login has ended
//! (`-14`, §6) is `getupdates`, and a second poll would take the relay's messages; the others
//! (`getconfig`, `sendtyping`, `sendmessage`) are about a user, or send something. So the test
//! answers what shows instead whether the login works: the connection status.

use async_trait::async_trait;
use imgate_channel_kit::probe::mismatch;
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

/// Why a logged-in bot is not tested.
pub const LOGGED_IN_UNSUPPORTED: &str = "A WeChat login cannot be tested without disturbing the \
    bot: iLink tells whether a login still works only to the poll the relay already holds. The \
    connection status shows it: if it says login expired, log in again with the QR code.";

/// Why a bot without a login is not tested.
pub const NOT_LOGGED_IN: &str = "This WeChat bot has no login yet: log in with the QR code to \
    bind it.";

/// Answers WeChat credential tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Probe;

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Wechat(bot) = credentials else {
            return Err(mismatch("WeChat"));
        };
        if bot.bot_token.as_ref().is_none_or(|token| token.is_empty()) {
            return Err(ProbeFailure::unsupported(NOT_LOGGED_IN));
        }
        Err(ProbeFailure::unsupported(LOGGED_IN_UNSUPPORTED))
    }
}
