//! WeCom (企业微信): smart bots (智能机器人) in callback mode and self-built apps (自建应用).
//!
//! - [`verify`]: WXBizMsgCrypt signatures, callback encryption and media decryption.
//! - [`wire`]: the wire types of callback bodies, before and after decryption.
//! - [`normalize`]: turning those into [`imgate_core::event::InboundEvent`]s.
//! - [`format`]: adapting agent Markdown to each WeCom surface.
//! - [`api`]: HTTP clients for `response_url` and the self-built app `message/send` API.
//! - [`webhook`]: the callback endpoint (URL verification, callbacks, stream refreshes).
//! - [`long`]: the smart-bot long connection (frames, session state machine, connection driver).
//! - [`reply`]: the dispatcher's answers (stream buffer, `response_url`, `message/send`), and
//!   [`reply::payload`], the plaintext JSON of passive replies, `response_url` posts and
//!   template cards.
//! - [`media`]: downloading what users send (app `media/get`; smart-bot files decrypted).
//! - [`probe`]: the credential test (a self-built app's access token; smart bots say why not).
//! - [`simulate`]: a signed, encrypted callback as WeCom would send it, for trying a bot
//!   without WeCom.

pub mod api;
pub mod format;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod reply;
pub mod simulate;
pub mod verify;
pub mod webhook;
pub mod wire;

pub use verify::{Crypto, CryptoError};

use std::sync::Arc;

use imgate_channel_kit::channel::{Channel, Wiring};
use imgate_core::Platform;
use imgate_core::ports::TokenCache;

/// Where WeCom lives (overridable for tests and private deployments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The API base (`response_url` needs none; `message/send` and tokens do).
    pub api: String,
    /// The smart-bot long connection's WebSocket URL.
    pub long_connection: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_BASE_URL.to_owned(),
            long_connection: long::DEFAULT_URL.to_owned(),
        }
    }
}

/// WeCom for the registry: the callback endpoint, the replier, the long connection and the
/// credential test.
pub fn channel(wiring: Wiring<'_>, endpoints: &Endpoints) -> Channel {
    let deps = wiring.deps;
    let tokens: Arc<dyn TokenCache> = deps.store.clone();
    let app = api::AppClient::new(wiring.http.clone(), endpoints.api.clone(), tokens, deps.keyring.clone());
    Channel {
        platform: Platform::Wecom,
        webhook: Some(Arc::new(webhook::Context {
            deps: imgate_channel_kit::webhook::WebhookDeps::new(deps),
        })),
        replier: Arc::new(reply::WecomReplier::new(
            deps.store.clone(),
            wiring.http.clone(),
            app.clone(),
        )),
        connector: Some(Arc::new(long::Connector::new(
            deps.store.clone(),
            endpoints.long_connection.clone(),
        ))),
        registrar: None,
        probe: Arc::new(probe::Probe::new(app.clone())),
        media: Some(Arc::new(media::Fetcher::new(app, wiring.http.clone()))),
    }
}
