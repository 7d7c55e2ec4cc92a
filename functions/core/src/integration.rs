//! Integrations (one bot/app on one platform) and their runtime status.

use serde::{Deserialize, Serialize};

use crate::ids::{IntegrationId, OrgId};
use crate::keyring::SealedSecret;
use crate::platform::{ConnectionMode, Platform};
use crate::time::Timestamp;

/// An integration as stored: credentials sealed, everything else plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationRecord {
    /// Id (also the last segment of the callback URL).
    pub id: IntegrationId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Platform.
    pub platform: Platform,
    /// Webhook or long connection.
    pub mode: ConnectionMode,
    /// Disabled integrations reject webhooks and hold no connection.
    pub enabled: bool,
    /// The [`crate::credentials::Credentials`], sealed with the integration id as context.
    pub credentials: SealedSecret,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, starting at 1.
    pub version: u64,
    /// The bot's name on its platform (Telegram's `@username`, Lark's app name, …), learned
    /// when its credentials were last tested, so the console can show which bot this is.
    pub account: Option<String>,
}

/// The callback URL a platform console needs for a webhook integration.
pub fn callback_url(public_base_url: &str, platform: Platform, id: &IntegrationId) -> String {
    let route = match platform {
        Platform::Discord => "interactions",
        _ => "webhook",
    };
    format!("{}/api/{platform}/{route}/{id}", public_base_url.trim_end_matches('/'))
}

/// The state of an integration's connection, as the relay (or the webhook path) reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening the connection.
    Connecting,
    /// Connected and receiving.
    Connected,
    /// Waiting to reconnect after a failure.
    Retrying,
    /// Deliberately not running (unbound, disabled, lease held elsewhere).
    Stopped,
    /// Failed in a way retrying will not fix (e.g. bad credentials).
    Error,
}

/// Why the connection is in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatusReason {
    /// The platform rejected the credentials.
    AuthFailed,
    /// Another connection for the same bot took over.
    KickedByOtherConnection,
    /// No enabled trigger binds the integration.
    Unbound,
    /// The integration is disabled.
    Disabled,
    /// Network trouble.
    Network,
    /// The platform ended the login session (WeChat's `-14` "session timeout"): a new QR login
    /// is needed; nothing is retried until the credentials change.
    LoginExpired,
}

/// Runtime status of one integration, written by whoever serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntegrationStatus {
    /// The integration.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub integration_id: IntegrationId,
    /// Connection state.
    pub state: ConnectionState,
    /// Why it is in that state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<StatusReason>,
    /// When the current connection was established.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub connected_since: Option<Timestamp>,
    /// When the last platform event arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_event_at: Option<Timestamp>,
    /// The last error, as a short description without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Reconnect attempts since the last successful connection.
    #[serde(default)]
    pub reconnect_attempts: u32,
    /// The relay instance holding the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// When this status was written.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A sealed record could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenRecordError {
    /// The keyring failed (wrong key, KMS down).
    #[error(transparent)]
    Keyring(#[from] crate::keyring::KeyringError),
    /// The opened bytes do not fit the record's kind.
    #[error("sealed data of {id} does not fit its kind: {reason}")]
    Corrupt {
        /// The record id.
        id: String,
        /// What did not fit (field names only).
        reason: String,
    },
}

impl IntegrationRecord {
    /// Opens the sealed credentials.
    ///
    /// # Errors
    /// [`OpenRecordError`] when the keyring fails or the data does not fit the platform and mode.
    pub async fn open_credentials(
        &self,
        keyring: &dyn crate::keyring::Keyring,
    ) -> Result<crate::credentials::Credentials, OpenRecordError> {
        let bytes = keyring.open(&self.credentials, self.id.as_str()).await?;
        crate::credentials::Credentials::from_sealed_json(self.platform, self.mode, &bytes).map_err(|e| {
            OpenRecordError::Corrupt {
                id: self.id.to_string(),
                reason: e.to_string(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_url_has_platform_and_id() {
        let id = IntegrationId::generate();
        let url = callback_url("https://gw.example.com/", Platform::Wecom, &id);
        assert_eq!(url, format!("https://gw.example.com/api/wecom/webhook/{id}"));
        let discord = callback_url("https://gw.example.com", Platform::Discord, &id);
        assert_eq!(discord, format!("https://gw.example.com/api/discord/interactions/{id}"));
    }
}
