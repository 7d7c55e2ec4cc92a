//! DingTalk (钉钉): enterprise-internal app robots in Stream mode (WebSocket) or HTTP mode.
//!
//! - [`verify`]: HTTP-mode request verification (`timestamp` + `sign` headers).
//! - [`wire`]: the wire types of robot messages (Stream `data` and HTTP bodies alike).
//! - [`normalize`]: turning those into [`imgate_core::event::InboundEvent`]s.
//! - [`long`]: Stream mode: frames, ACKs, registration and the relay's connector.
//! - [`api`]: HTTP clients for `sessionWebhook` replies, the robot OpenAPI and AI cards.
//! - [`reply`]: answering an event (session webhook, else OpenAPI; AI card streaming), with
//!   [`reply::payload`] (session webhook bodies, robot OpenAPI `msgKey`/`msgParam`).
//! - [`webhook`]: the HTTP-mode endpoint.
//! - [`media`]: downloading what users send (a `downloadCode` exchanged for a temporary URL).
//! - [`probe`]: the credential test (an access token).
//!
//! Protocol reference: `protocols/dingtalk.md`; section numbers in doc comments point there.

pub mod api;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod reply;
pub mod verify;
pub mod webhook;
pub mod wire;

use std::sync::Arc;

pub use verify::SignError;
pub use wire::{MessageError, RobotMessage, parse_robot_message};

/// Where DingTalk lives (overridable for tests and private deployments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The OpenAPI base: access tokens, robot messages, cards.
    pub api: String,
    /// Where Stream connections are registered (`/v1.0/gateway/connections/open`).
    pub gateway: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_BASE_URL.to_owned(),
            gateway: api::DEFAULT_BASE_URL.to_owned(),
        }
    }
}

/// The replier of DingTalk events, with the OpenAPI at `endpoints.api` and access tokens cached
/// in `deps.store`.
pub fn replier(
    deps: &imgate_core::ports::Deps,
    http: &reqwest::Client,
    endpoints: &Endpoints,
) -> Arc<dyn imgate_core::ports::Replier> {
    Arc::new(reply::DingtalkReplier::new(
        deps.store.clone(),
        http.clone(),
        robot_api(deps, http, endpoints),
    ))
}

/// The robot OpenAPI at `endpoints.api`, with access tokens cached in `deps.store`.
pub fn robot_api(deps: &imgate_core::ports::Deps, http: &reqwest::Client, endpoints: &Endpoints) -> api::RobotApi {
    let tokens: Arc<dyn imgate_core::ports::TokenCache> = deps.store.clone();
    api::RobotApi::new(http.clone(), endpoints.api.clone(), tokens, deps.keyring.clone())
}

/// The relay's Stream connector (for `imgate relay` and `imgate serve`), with production
/// settings.
pub fn connector(http: reqwest::Client, endpoints: Endpoints) -> Arc<dyn imgate_core::relay::Connector> {
    Arc::new(long::Connector::new(http, endpoints))
}

/// DingTalk for the registry: the HTTP-mode endpoint, the replier, the Stream connection and the
/// credential test.
pub fn channel(
    wiring: imgate_channel_kit::channel::Wiring<'_>,
    endpoints: &Endpoints,
) -> imgate_channel_kit::channel::Channel {
    let deps = wiring.deps;
    imgate_channel_kit::channel::Channel {
        platform: imgate_core::Platform::Dingtalk,
        webhook: Some(Arc::new(webhook::Context {
            deps: imgate_channel_kit::webhook::WebhookDeps::new(deps),
        })),
        replier: replier(deps, wiring.http, endpoints),
        connector: Some(connector(wiring.http.clone(), endpoints.clone())),
        registrar: None,
        probe: Arc::new(probe::Probe::new(robot_api(deps, wiring.http, endpoints))),
        media: Some(Arc::new(media::Fetcher::new(
            robot_api(deps, wiring.http, endpoints),
            wiring.http.clone(),
        ))),
    }
}
