//! Platform code: crypto, wire events, normalization and reply clients per platform.
//!
//! Each platform lives in its own module with the same parts: callback crypto / verification,
//! wire types, normalization into [`imgate_core::event::InboundEvent`], reply payload builders
//! and the HTTP clients that send replies.

pub mod dingtalk;
pub mod tokens;
pub mod wecom;

use std::sync::Arc;

use imgate_core::Platform;
use imgate_core::dispatch::Repliers;
use imgate_core::ports::{Deps, TokenCache};

/// Where each platform's API lives (overridable for tests and private deployments).
#[derive(Debug, Clone)]
pub struct ApiEndpoints {
    /// WeCom API base, e.g. `https://qyapi.weixin.qq.com`.
    pub wecom: String,
}

impl Default for ApiEndpoints {
    fn default() -> Self {
        Self {
            wecom: wecom::api::DEFAULT_BASE_URL.to_owned(),
        }
    }
}

/// The repliers of every platform this build answers on.
pub fn repliers(deps: &Deps, http: &reqwest::Client, endpoints: &ApiEndpoints) -> Repliers {
    let tokens: Arc<dyn TokenCache> = deps.store.clone();
    let app = wecom::api::AppClient::new(http.clone(), endpoints.wecom.clone(), tokens, deps.keyring.clone());
    Repliers::new().with(
        Platform::Wecom,
        Arc::new(wecom::replier::WecomReplier::new(deps.store.clone(), http.clone(), app)),
    )
}

/// The webhook endpoints' context.
pub fn webhooks(deps: &Deps) -> wecom::webhook::Context {
    wecom::webhook::Context {
        store: deps.store.clone(),
        keyring: deps.keyring.clone(),
        ingress: imgate_core::ingress::Ingress::new(deps.store.clone(), deps.queue.clone()),
    }
}
