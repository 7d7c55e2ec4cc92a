//! The credential test: a tenant access token for the App ID and App Secret (§4.1), then
//! `GET /open-apis/bot/v3/info` (§2.9) for the bot's name. The token comes from the shared
//! cache when one is there (a fetch only when none is), and neither call touches a long
//! connection.

use async_trait::async_trait;
use imgate_channel_kit::probe::{failure, mismatch};
use imgate_core::credentials::{Credentials, LarkDomain};
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{CredentialProbe, ProbeFailure, ProbeReport};

use crate::api::LarkApi;

/// Tests Lark / Feishu app credentials.
#[derive(Debug, Clone)]
pub struct Probe {
    api: LarkApi,
}

impl Probe {
    /// A test calling `api`.
    pub fn new(api: LarkApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl CredentialProbe for Probe {
    async fn probe(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        let Credentials::Lark(app) = credentials else {
            return Err(mismatch("Lark"));
        };
        let name = platform_name(app.domain);
        self.api.tenant_token(app).await.map_err(|error| {
            failure(name, error, |code, _| {
                ProbeFailure::rejected(format!(
                    "{name} refused the App ID / App Secret (code {code}): copy them again from \
                     Credentials & Basic Info in the developer console, and check that the domain \
                     ({}) is the one the app was created on",
                    domain_field(app.domain)
                ))
            })
        })?;
        let bot = self.api.bot_info(app).await.map_err(|error| {
            failure(name, error, |code, message| {
                ProbeFailure::rejected(format!(
                    "{name} accepted the App ID / App Secret but describes no bot for the app (code \
                     {code} {message}): add the Bot feature under Features in the developer \
                     console and publish a new version of the app"
                ))
            })
        })?;
        Ok(ProbeReport {
            account: bot["app_name"]
                .as_str()
                .filter(|name| !name.is_empty())
                .map(str::to_owned),
            detail: "got a tenant access token and the bot's info".into(),
        })
    }
}

/// The platform's name on `domain`, as its operators know it.
fn platform_name(domain: LarkDomain) -> &'static str {
    match domain {
        LarkDomain::Feishu => "Feishu",
        LarkDomain::Lark => "Lark",
    }
}

/// The `domain` credentials value of `domain`.
fn domain_field(domain: LarkDomain) -> &'static str {
    match domain {
        LarkDomain::Feishu => "feishu",
        LarkDomain::Lark => "lark",
    }
}
