//! DingTalk (钉钉): enterprise-internal app robots in Stream mode (WebSocket) or HTTP mode.
//!
//! - [`sign`]: HTTP-mode request verification (`timestamp` + `sign` headers).
//! - [`message`]: the wire types of robot messages (Stream `data` and HTTP bodies alike).
//! - [`normalize`]: turning those into [`imgate_core::event::InboundEvent`]s.
//! - [`stream`]: Stream-mode protocol pieces without a transport: frames, ACKs, registration.
//! - [`reply`]: reply payloads (session webhook bodies, robot OpenAPI `msgKey`/`msgParam`).
//! - [`api`]: HTTP clients for `sessionWebhook` replies, the robot OpenAPI and AI cards.
//! - [`replier`]: answering an event (session webhook, else OpenAPI; AI card streaming).
//! - [`webhook`]: the HTTP-mode endpoint.
//! - [`stream::Connector`]: the relay's Stream connection.
//!
//! Protocol reference: `protocols/dingtalk.md`; section numbers in doc comments point there.

pub mod api;
pub mod message;
pub mod normalize;
pub mod replier;
pub mod reply;
pub mod sign;
pub mod stream;
pub mod webhook;

use std::sync::Arc;

pub use message::{MessageError, RobotMessage, parse_robot_message};
pub use sign::{SignError, verify};

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
    let tokens: Arc<dyn imgate_core::ports::TokenCache> = deps.store.clone();
    let api = api::RobotApi::new(http.clone(), endpoints.api.clone(), tokens, deps.keyring.clone());
    Arc::new(replier::DingtalkReplier::new(deps.store.clone(), http.clone(), api))
}

/// The relay's Stream connector (for `imgate relay` and `imgate serve`), with production
/// settings.
pub fn connector(http: reqwest::Client, endpoints: Endpoints) -> Arc<dyn imgate_core::relay::Connector> {
    Arc::new(stream::Connector::new(http, endpoints))
}
