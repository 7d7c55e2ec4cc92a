//! The credential test: "do these credentials work?", asked of the platform itself, with the
//! bot's name on the platform as a by-product. The admin API's `POST …/test` and the console's
//! "test credentials" button call it.

use async_trait::async_trait;

use crate::credentials::Credentials;
use crate::integration::IntegrationRecord;

/// What a successful test learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The bot's name on the platform (Telegram's `@username`, Lark's app name, …), when the
    /// platform tells it.
    pub account: Option<String>,
    /// What was checked, in plain words ("got an access token", "getMe answered").
    pub detail: String,
}

/// Why a test did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailureKind {
    /// The platform answered and refused the credentials.
    Rejected,
    /// The platform could not be reached or answered something unexpected.
    Unreachable,
    /// This platform and mode cannot be tested without disturbing the live connection (or has
    /// nothing to ask); the message says what shows instead whether it works.
    Unsupported,
}

/// A test that did not pass, worded for the operator: which field is likely wrong and where
/// to find the right value. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProbeFailure {
    /// What kind of failure.
    pub kind: ProbeFailureKind,
    /// A sentence for the operator.
    pub message: String,
}

impl ProbeFailure {
    /// The platform refused the credentials.
    pub fn rejected(message: impl Into<String>) -> Self {
        Self {
            kind: ProbeFailureKind::Rejected,
            message: message.into(),
        }
    }

    /// The platform could not be reached.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self {
            kind: ProbeFailureKind::Unreachable,
            message: message.into(),
        }
    }

    /// Nothing can be asked without disturbing the live connection.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self {
            kind: ProbeFailureKind::Unsupported,
            message: message.into(),
        }
    }
}

/// Tests an integration's credentials against its platform.
#[async_trait]
pub trait CredentialProbe: Send + Sync {
    /// Asks the platform whether `credentials` work: fetches a token, or calls the cheapest
    /// authenticated read (and learns the bot's name where the platform has one). Must not
    /// disturb a live connection held by a relay (no second long connection for the same
    /// bot), send a message, or change anything on the platform.
    ///
    /// # Errors
    /// [`ProbeFailure`], worded for the operator without secrets.
    async fn probe(&self, record: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure>;
}
