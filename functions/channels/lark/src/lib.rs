//! Lark / Feishu (`protocols/lark.md`): app bots in webhook mode and over the long connection.
//!
//! - [`verify`]: Encrypt Key body decryption and the `X-Lark-Signature` check (§2.4, §2.5);
//! - [`wire`]: the outer body, url_verification, the schema 2.0 envelope,
//!   `im.message.receive_v1`, `card.action.trigger` and the Verification Token check (§2.2–§2.9);
//! - [`normalize`]: received messages and card clicks → [`imgate_core::event::InboundEvent`];
//! - [`webhook`]: the webhook endpoint;
//! - [`api`]: the Open API client (tokens, bot identity, messages, CardKit);
//! - [`format`]: agent Markdown as card Markdown;
//! - [`reply`]: answering with a streaming card, built by [`reply::card`];
//! - [`long`]: the long connection (the relay's connector);
//! - [`media`]: downloading what users send (the message-resource API);
//! - [`probe`]: the credential test (a tenant access token, then the bot's name).

pub mod api;
pub mod format;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod reply;
pub mod verify;
pub mod webhook;
pub mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use imgate_core::credentials::{Lark, LarkDomain};

pub use verify::{CryptoError, EventCipher};
pub use wire::{Callback, Envelope, EventError, SignatureHeaders, Verifier};

/// The Feishu Open Platform (mainland China).
pub const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
/// The Lark Open Platform (international).
pub const LARK_BASE_URL: &str = "https://open.larksuite.com";

/// Where each Lark deployment lives (§1): every API path, `/callback/ws/endpoint` included, is
/// the same on both; only the host differs. Overridable for tests and private deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The Feishu base URL, without a trailing slash.
    pub feishu: String,
    /// The Lark base URL, without a trailing slash.
    pub lark: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            feishu: FEISHU_BASE_URL.to_owned(),
            lark: LARK_BASE_URL.to_owned(),
        }
    }
}

impl Endpoints {
    /// One base URL for both deployments (a test server or a private gateway).
    pub fn single(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            feishu: base.clone(),
            lark: base,
        }
    }

    /// The base URL of `domain`.
    pub fn base(&self, domain: LarkDomain) -> &str {
        match domain {
            LarkDomain::Feishu => &self.feishu,
            LarkDomain::Lark => &self.lark,
        }
    }
}

/// Knows each app's own bot `open_id`, which tells whether a group message @-mentions the bot
/// (§2.9: `GET /open-apis/bot/v3/info`).
#[async_trait]
pub trait BotIdentity: Send + Sync {
    /// The bot's `open_id` for `app`; `None` when it cannot be learned right now (normalization
    /// then treats group messages as mentioning the bot, since groups deliver only @-mentions by
    /// default).
    async fn bot_open_id(&self, app: &Lark) -> Option<String>;
}

/// The Open API client of `deps`' store and keyring (tokens cached in the store).
pub fn api(deps: &imgate_core::ports::Deps, http: &reqwest::Client, endpoints: &Endpoints) -> api::LarkApi {
    let tokens: Arc<dyn imgate_core::ports::TokenCache> = deps.store.clone();
    api::LarkApi::new(http.clone(), endpoints.clone(), tokens, deps.keyring.clone())
}

/// The replier of Lark events, with the Open API at `endpoints`.
pub fn replier(
    deps: &imgate_core::ports::Deps,
    http: &reqwest::Client,
    endpoints: &Endpoints,
) -> Arc<dyn imgate_core::ports::Replier> {
    Arc::new(reply::LarkReplier::new(deps.store.clone(), api(deps, http, endpoints)))
}

/// The relay's long-connection connector for Lark / Feishu apps ([`long`]), with the production
/// settings; [`long::Connector::with_settings`] changes them.
pub fn connector(
    http: reqwest::Client,
    endpoints: Endpoints,
    identity: Arc<dyn BotIdentity>,
) -> Arc<dyn imgate_core::relay::Connector> {
    Arc::new(long::Connector::new(http, endpoints, identity))
}

/// Lark / Feishu for the registry: the event endpoint, the replier, the long connection and the
/// credential test.
pub fn channel(
    wiring: imgate_channel_kit::channel::Wiring<'_>,
    endpoints: &Endpoints,
) -> imgate_channel_kit::channel::Channel {
    let deps = wiring.deps;
    let api = api(deps, wiring.http, endpoints);
    let identity: Arc<dyn BotIdentity> = Arc::new(api.clone());
    imgate_channel_kit::channel::Channel {
        platform: imgate_core::Platform::Lark,
        webhook: Some(Arc::new(webhook::Context {
            deps: imgate_channel_kit::webhook::WebhookDeps::new(deps),
            identity: identity.clone(),
        })),
        replier: replier(deps, wiring.http, endpoints),
        connector: Some(connector(wiring.http.clone(), endpoints.clone(), identity)),
        registrar: None,
        probe: Arc::new(probe::Probe::new(api.clone())),
        media: Some(Arc::new(media::Fetcher::new(api))),
    }
}
