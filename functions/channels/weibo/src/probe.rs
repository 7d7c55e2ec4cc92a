//! The credential test: a token for the AppId and AppSecret from `POST /open/auth/ws_token`
//! (§2), from the shared cache when one is there (the relay's live stream keeps one, so a test
//! of a running bot asks Weibo nothing). The stream itself is not touched, and the token
//! answer's `uid` is not kept, so the test names no account.

use async_trait::async_trait;
use imgate_channel_kit::probe::mismatch;
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

use crate::api::{TokenClient, TokenError};

/// Tests Weibo app credentials.
#[derive(Debug, Clone)]
pub struct Probe {
    tokens: TokenClient,
}

impl Probe {
    /// A test asking `tokens`.
    pub fn new(tokens: TokenClient) -> Self {
        Self { tokens }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Weibo(app) = credentials else {
            return Err(mismatch("Weibo"));
        };
        self.tokens
            .token(&app.app_id, &app.app_secret)
            .await
            .map_err(|error| match error {
                TokenError::Refused(why) => ProbeFailure::rejected(format!(
                    "Weibo refused the AppId / AppSecret ({why}): in the Weibo app, send 连接龙虾 \
                     to @微博龙虾助手 to see them again (重置凭证 issues new ones)"
                )),
                TokenError::Unavailable(why) => ProbeFailure::unreachable(format!(
                    "Weibo's token endpoint could not be reached ({why}): check that this server \
                     can reach open-im.api.weibo.com, then try again"
                )),
            })?;
        Ok(ProbeReport {
            account: None,
            detail: "got a stream token".into(),
        })
    }
}
