//! The admin API Lambda: the same axum router `imgate serve` uses, over DynamoDB, SQS and KMS.
//!
//! Configuration (environment): `IMGATE_PUBLIC_BASE_URL`, `IMGATE_BOOTSTRAP_KEY` (optional) and
//! the backend variables read by `imgate_aws::deps_from_env`.

use imgate_core::admin::{Admin, AdminSettings};
use lambda_http::Error;

/// The function's own settings.
#[derive(Debug)]
struct Settings {
    public_base_url: String,
    bootstrap_key_hash: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("IMGATE_PUBLIC_BASE_URL must be set to an http(s) URL")]
    PublicBaseUrl,
    #[error("IMGATE_BOOTSTRAP_KEY must be at least 16 characters when set")]
    BootstrapKey,
}

impl Settings {
    fn from_env() -> Result<Self, ConfigError> {
        let public_base_url = std::env::var("IMGATE_PUBLIC_BASE_URL")
            .ok()
            .filter(|u| imgate_core::agent::is_http_url(u))
            .ok_or(ConfigError::PublicBaseUrl)?;
        let bootstrap_key_hash = match std::env::var("IMGATE_BOOTSTRAP_KEY") {
            Ok(key) if key.trim().len() >= 16 => Some(imgate_core::apikey::hash(key.trim())),
            Ok(key) if key.trim().is_empty() => None,
            Ok(_) => return Err(ConfigError::BootstrapKey),
            Err(_) => None,
        };
        Ok(Self {
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            bootstrap_key_hash,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let deps = imgate_aws::deps_from_env().await?;
    // Platforms whose webhook URL is set through their API (Telegram) are told when an
    // integration starts or stops receiving.
    let http = reqwest::Client::new();
    let channels = imgate_channels::Channels::new(&deps, &http, &imgate_channels::Endpoints::default());
    let admin = Admin::new(
        deps,
        AdminSettings {
            public_base_url: settings.public_base_url,
            bootstrap_key_hash: settings.bootstrap_key_hash,
        },
    )
    .with_registrar(channels.registrar())
    .with_logins(channels.logins())
    .with_probe(channels.probe())
    .with_agents(std::sync::Arc::new(imgate_agents::Agents::new(http)));
    lambda_http::run(imgate_http::app(admin)).await
}
