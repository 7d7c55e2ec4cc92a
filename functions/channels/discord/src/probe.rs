//! The credential test: `GET /users/@me` with the bot token, which names the bot. Both modes
//! need the bot token (the gateway to connect, the interactions endpoint to register commands),
//! and the call reads only, so a live gateway session is not disturbed.

use async_trait::async_trait;
use imgate_channel_kit::probe::{failure, mismatch};
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

use crate::api::RestApi;

/// Tests Discord bot tokens.
#[derive(Debug, Clone)]
pub struct Probe {
    api: RestApi,
}

impl Probe {
    /// A test calling `api`.
    pub fn new(api: RestApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Discord(app) = credentials else {
            return Err(mismatch("Discord"));
        };
        let me = self.api.current_user(&app.bot_token).await.map_err(|error| {
            failure("Discord", error, |_, message| {
                ProbeFailure::rejected(format!(
                    "Discord refused the bot token ({message}): reset it under Bot → Token of the \
                     application in the Developer Portal and paste the new one"
                ))
            })
        })?;
        Ok(ProbeReport {
            account: me["username"]
                .as_str()
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            detail: "GET /users/@me answered: the bot token works".into(),
        })
    }
}
