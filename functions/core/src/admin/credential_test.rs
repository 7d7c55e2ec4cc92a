//! "Test credentials": ask the platform whether an integration's credentials work, and keep
//! the bot's name it tells.

use serde::Serialize;

use super::{Admin, AdminResult, Principal};
use crate::ports::ProbeFailureKind;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /integrations/{id}/test`: the outcome, in plain words.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialTestView {
    /// True when the platform accepted the credentials.
    pub ok: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<ProbeFailureKind>,
    /// The bot's name on the platform, when it tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What was checked, or what is wrong and where to fix it.
    pub message: String,
}

impl Admin {
    /// Tests the integration's stored credentials against its platform. A learned bot name is
    /// kept on the integration (shown in the integrations list).
    ///
    /// # Errors
    /// 404 when the integration is absent; 422 when this build cannot test credentials.
    pub async fn test_credentials(&self, principal: &Principal, id: &str) -> AdminResult<CredentialTestView> {
        let record = self.owned_integration(principal, id).await?;
        let Some(probe) = &self.probe else {
            return Err(super::AdminError::Invalid("this server cannot test credentials".into()));
        };
        let credentials = self.open_credentials(&record).await?;
        let outcome = probe.probe(&record, &credentials).await;
        tracing::info!(integration_id = %record.id, ok = outcome.is_ok(), "credentials tested");
        Ok(match outcome {
            Ok(report) => {
                if report.account.is_some() && report.account != record.account {
                    // Kept without a new version, so a live connection is not restarted.
                    self.deps
                        .store
                        .set_account(&record.id, report.account.as_deref())
                        .await?;
                }
                CredentialTestView {
                    ok: true,
                    failure: None,
                    account: report.account,
                    message: report.detail,
                }
            }
            Err(failure) => CredentialTestView {
                ok: false,
                failure: Some(failure.kind),
                account: None,
                message: failure.message,
            },
        })
    }
}
