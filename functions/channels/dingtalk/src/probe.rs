//! The credential test: an access token for the Client ID and Client Secret (§4.2), from the
//! shared cache when one is there. DingTalk has no cheap documented read of the robot's name,
//! so the test names no account, and the robot code is not checked. Stream connections are
//! not touched.

use async_trait::async_trait;
use imgate_channel_kit::probe::{failure, mismatch};
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

use crate::api::RobotApi;

/// Tests DingTalk app credentials.
#[derive(Debug, Clone)]
pub struct Probe {
    api: RobotApi,
}

impl Probe {
    /// A test calling `api`.
    pub fn new(api: RobotApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Dingtalk(app) = credentials else {
            return Err(mismatch("DingTalk"));
        };
        self.api.access_token(app).await.map_err(|error| {
            failure("DingTalk", error, |_, message| {
                ProbeFailure::rejected(format!(
                    "DingTalk refused the Client ID (AppKey) / Client Secret (AppSecret) ({message}): \
                     copy them again from Credentials & Basic Info (凭证与基础信息) of the app in \
                     the DingTalk developer console"
                ))
            })
        })?;
        Ok(ProbeReport {
            account: None,
            detail: "got an access token (the robot code is not checked)".into(),
        })
    }
}
