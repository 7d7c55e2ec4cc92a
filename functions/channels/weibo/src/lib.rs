//! Weibo direct messages (`protocols/weibo.md`): Open IM bots for AI agents, private chats
//! only, over one WebSocket per app held by the relay.
//!
//! - [`wire`]: the WebSocket frames, parsed with errors that quote nothing, and `send_message`;
//! - [`normalize`]: `message` frames → [`imgate_core::event::InboundEvent`];
//! - [`api`]: the token endpoint (cached sealed, retried per §2) and the stream's address;
//! - [`long`]: the stream in the relay: heartbeat, messages in, answers out as delta frames;
//! - [`media`]: why attachments cannot be downloaded (they arrive inline; no download API);
//! - [`reply`]: the dispatcher's replier, writing answers to the stream buffer the relay sends;
//! - [`probe`]: the credential test (a stream token).
//!
//! Weibo has no webhook mode, so the channel has no webhook endpoint.

pub mod api;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod reply;
pub mod wire;

use std::sync::Arc;

use imgate_channel_kit::channel::{Channel, Wiring};
use imgate_channel_kit::tokens::SealedTokens;
use imgate_core::Platform;

/// Where Weibo's Open IM lives (overridable for tests and private deployments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The token endpoint's base, e.g. `https://open-im.api.weibo.com`.
    pub api: String,
    /// The stream's base, e.g. `wss://open-im.api.weibo.com`.
    pub ws: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_API_BASE.to_owned(),
            ws: api::DEFAULT_WS_BASE.to_owned(),
        }
    }
}

/// Weibo for the registry: the replier, the stream connector and the credential test.
pub fn channel(wiring: Wiring<'_>, endpoints: &Endpoints) -> Channel {
    let deps = wiring.deps;
    let cache: Arc<dyn imgate_core::ports::TokenCache> = deps.store.clone();
    let tokens = SealedTokens::new("weibo", cache, deps.keyring.clone());
    let client = api::TokenClient::new(wiring.http.clone(), endpoints.api.clone(), tokens);
    Channel {
        platform: Platform::Weibo,
        webhook: None,
        replier: Arc::new(reply::WeiboReplier::new(deps.store.clone())),
        connector: Some(Arc::new(long::Connector::new(
            deps.store.clone(),
            client.clone(),
            endpoints.ws.clone(),
        ))),
        registrar: None,
        probe: Arc::new(probe::Probe::new(client)),
        media: Some(Arc::new(media::Fetcher)),
    }
}
