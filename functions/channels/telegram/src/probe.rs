//! The credential test: `getMe` with the bot token (§1), which names the bot. It reads only,
//! so a webhook or a running long poll is not disturbed.

use async_trait::async_trait;
use imgate_channel_kit::probe::{failure, mismatch};
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport, ReplyError};

use crate::api::BotApi;

/// Tests Telegram bot tokens.
#[derive(Debug, Clone)]
pub struct Probe {
    api: BotApi,
}

impl Probe {
    /// A test calling `api`.
    pub fn new(api: BotApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Telegram(bot) = credentials else {
            return Err(mismatch("Telegram"));
        };
        let me = self.api.get_me(&bot.bot_token).await.map_err(|error| {
            failure("Telegram", ReplyError::from(error), |code, description| {
                ProbeFailure::rejected(format!(
                    "Telegram refused the bot token ({code} {description}): copy it again from \
                     @BotFather (/mybots → your bot → API Token)"
                ))
            })
        })?;
        Ok(ProbeReport {
            account: me.username.map(|username| format!("@{username}")),
            detail: "getMe answered: the bot token works".into(),
        })
    }
}
