//! Every platform of this build, registered in one place.
//!
//! Each platform is its own crate under `functions/channels/` with the same module names for
//! the same roles (see docs/architecture.md, "Platforms"), and hands the registry one
//! [`Channel`]: its webhook endpoint, its replier, its relay connector and its credential test.
//! [`Channels::new`] builds them all from one set of [`Endpoints`]; `imgate serve`, `imgate
//! relay` and the Lambda functions all start from it, so adding a platform is one line there (and
//! its endpoints).

use std::collections::HashMap;
use std::sync::Arc;

pub use imgate_channel_kit as kit;
pub use imgate_dingtalk as dingtalk;
pub use imgate_discord as discord;
pub use imgate_lark as lark;
pub use imgate_telegram as telegram;
pub use imgate_wechat as wechat;
pub use imgate_wecom as wecom;
pub use imgate_weibo as weibo;

use imgate_channel_kit::channel::{Channel, Wiring};
use imgate_channel_kit::webhook::WebhookEndpoint;
use imgate_core::Platform;
use imgate_core::credentials::Credentials;
use imgate_core::dispatch::Repliers;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{
    CredentialProbe, Deps, Download, LoginFlow, MediaError, MediaFetcher, ProbeFailure, ProbeReport, WebhookRegistrar,
};
use imgate_core::relay::Connector;

/// Where each platform's API lives (each platform's defaults are its public cloud).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// WeCom's API and long connection.
    pub wecom: wecom::Endpoints,
    /// DingTalk's OpenAPI and Stream gateway.
    pub dingtalk: dingtalk::Endpoints,
    /// The Feishu and Lark Open Platforms.
    pub lark: lark::Endpoints,
    /// The Telegram Bot API.
    pub telegram: telegram::Endpoints,
    /// Discord's REST API.
    pub discord: discord::Endpoints,
    /// Weibo's token endpoint and stream.
    pub weibo: weibo::Endpoints,
    /// WeChat's iLink bot API and QR login.
    pub wechat: wechat::Endpoints,
}

/// The platforms of this build, wired to one set of backends.
#[derive(Clone)]
pub struct Channels {
    channels: Vec<Channel>,
    logins: HashMap<Platform, Arc<dyn LoginFlow>>,
}

impl Channels {
    /// Every platform on `deps`, calling its API through `http` at `endpoints`.
    pub fn new(deps: &Deps, http: &reqwest::Client, endpoints: &Endpoints) -> Self {
        let wiring = Wiring { deps, http };
        Self {
            channels: vec![
                wecom::channel(wiring, &endpoints.wecom),
                dingtalk::channel(wiring, &endpoints.dingtalk),
                lark::channel(wiring, &endpoints.lark),
                telegram::channel(wiring, &endpoints.telegram),
                discord::channel(wiring, &endpoints.discord),
                weibo::channel(wiring, &endpoints.weibo),
                wechat::channel(wiring, &endpoints.wechat),
            ],
            logins: HashMap::from([(Platform::Wechat, wechat::login(http, &endpoints.wechat))]),
        }
    }

    /// The platforms, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Channel> {
        self.channels.iter()
    }

    /// The dispatcher's repliers, one per platform.
    pub fn repliers(&self) -> Repliers {
        self.iter().fold(Repliers::new(), |repliers, c| {
            repliers.with(c.platform, c.replier.clone())
        })
    }

    /// The relay's connectors, for the platforms that have a long connection.
    pub fn connectors(&self) -> HashMap<Platform, Arc<dyn Connector>> {
        self.iter()
            .filter_map(|c| Some((c.platform, c.connector.clone()?)))
            .collect()
    }

    /// The QR logins of the platforms that bind bots by scanning a code, for the admin service.
    pub fn logins(&self) -> HashMap<Platform, Arc<dyn LoginFlow>> {
        self.logins.clone()
    }

    /// The webhook registrars, for the admin service.
    pub fn registrar(&self) -> Arc<dyn WebhookRegistrar> {
        Arc::new(Registrars(
            self.iter()
                .filter_map(|c| Some((c.platform, c.registrar.clone()?)))
                .collect(),
        ))
    }

    /// The credential test, for the admin service: each integration tested by its own
    /// platform's probe.
    pub fn probe(&self) -> Arc<dyn CredentialProbe> {
        Arc::new(Probes(self.iter().map(|c| (c.platform, c.probe.clone())).collect()))
    }

    /// The media downloads, for the dispatcher: each integration's media fetched by its own
    /// platform's fetcher.
    pub fn media(&self) -> Arc<dyn MediaFetcher> {
        Arc::new(MediaFetchers(
            self.iter()
                .filter_map(|c| Some((c.platform, c.media.clone()?)))
                .collect(),
        ))
    }

    /// The webhook endpoints, for the platforms that have webhook mode.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks(
            self.iter()
                .filter_map(|c| Some((c.platform, c.webhook.clone()?)))
                .collect(),
        )
    }
}

/// Registers webhooks with the platforms that set them through their API, each integration
/// through its own platform's registrar (platforms without one need nothing).
#[derive(Clone)]
pub struct Registrars(HashMap<Platform, Arc<dyn WebhookRegistrar>>);

#[async_trait::async_trait]
impl WebhookRegistrar for Registrars {
    async fn register(
        &self,
        record: &IntegrationRecord,
        credentials: &Credentials,
        callback_url: &str,
    ) -> Result<(), String> {
        match self.0.get(&record.platform) {
            Some(registrar) => registrar.register(record, credentials, callback_url).await,
            None => Ok(()),
        }
    }

    async fn unregister(&self, record: &IntegrationRecord, credentials: &Credentials) -> Result<(), String> {
        match self.0.get(&record.platform) {
            Some(registrar) => registrar.unregister(record, credentials).await,
            None => Ok(()),
        }
    }
}

/// Tests credentials with the probe of the integration's platform.
#[derive(Clone)]
pub struct Probes(HashMap<Platform, Arc<dyn CredentialProbe>>);

#[async_trait::async_trait]
impl CredentialProbe for Probes {
    async fn probe(&self, record: &IntegrationRecord, credentials: &Credentials) -> Result<ProbeReport, ProbeFailure> {
        match self.0.get(&record.platform) {
            Some(probe) => probe.probe(record, credentials).await,
            None => Err(ProbeFailure::unsupported(format!(
                "this build has no credential test for {}",
                record.platform
            ))),
        }
    }
}

/// Downloads media with the fetcher of the integration's platform.
#[derive(Clone)]
pub struct MediaFetchers(HashMap<Platform, Arc<dyn MediaFetcher>>);

#[async_trait::async_trait]
impl MediaFetcher for MediaFetchers {
    async fn fetch(
        &self,
        integration: &IntegrationRecord,
        credentials: &Credentials,
        media: &MediaRef,
        limit: u64,
    ) -> Result<Download, MediaError> {
        match self.0.get(&integration.platform) {
            Some(fetcher) => fetcher.fetch(integration, credentials, media, limit).await,
            None => Err(MediaError::Unsupported(format!(
                "{} does not let bots download what users send",
                integration.platform
            ))),
        }
    }
}

/// Every webhook endpoint of this build, by platform: routed at
/// `/api/{platform}/webhook/{integrationId}`.
#[derive(Clone)]
pub struct Webhooks(Vec<(Platform, Arc<dyn WebhookEndpoint>)>);

impl Webhooks {
    /// The endpoints on `deps`, with the platforms' default API locations (a Lark callback may
    /// need the bot's own identity from the Open API).
    pub fn new(deps: &Deps) -> Self {
        Channels::new(deps, &reqwest::Client::new(), &Endpoints::default()).webhooks()
    }

    /// Platform and endpoint pairs.
    pub fn iter(&self) -> impl Iterator<Item = &(Platform, Arc<dyn WebhookEndpoint>)> {
        self.0.iter()
    }
}
