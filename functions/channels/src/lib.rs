//! Platform code: crypto, wire events, normalization and reply clients per platform.
//!
//! Each platform lives in its own module with the same parts: callback crypto / verification,
//! wire types, normalization into [`imgate_core::event::InboundEvent`], reply payload builders
//! and the HTTP clients that send replies.

pub mod dingtalk;
pub mod lark;
pub mod tokens;
pub mod wecom;

use std::sync::Arc;

use imgate_core::credentials::Credentials;
use imgate_core::dispatch::Repliers;
use imgate_core::ingress::{Ingress, WebhookError};
use imgate_core::integration::IntegrationRecord;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{Deps, Store, TokenCache};
use imgate_core::{ConnectionMode, IntegrationId, Platform};

/// Where each platform's API lives (overridable for tests and private deployments).
///
/// DingTalk's endpoints are [`dingtalk::Endpoints`]: [`repliers`] uses their defaults, and a
/// caller pointing DingTalk elsewhere replaces its replier with
/// `.with(Platform::Dingtalk, dingtalk::replier(..))`.
#[derive(Debug, Clone)]
pub struct ApiEndpoints {
    /// WeCom API base, e.g. `https://qyapi.weixin.qq.com`.
    pub wecom: String,
    /// The Feishu and Lark Open Platforms.
    pub lark: lark::Endpoints,
}

impl Default for ApiEndpoints {
    fn default() -> Self {
        Self {
            wecom: wecom::api::DEFAULT_BASE_URL.to_owned(),
            lark: lark::Endpoints::default(),
        }
    }
}

/// The repliers of every platform this build answers on.
pub fn repliers(deps: &Deps, http: &reqwest::Client, endpoints: &ApiEndpoints) -> Repliers {
    let tokens: Arc<dyn TokenCache> = deps.store.clone();
    let app = wecom::api::AppClient::new(http.clone(), endpoints.wecom.clone(), tokens, deps.keyring.clone());
    Repliers::new()
        .with(
            Platform::Wecom,
            Arc::new(wecom::replier::WecomReplier::new(deps.store.clone(), http.clone(), app)),
        )
        .with(
            Platform::Dingtalk,
            dingtalk::replier(deps, http, &dingtalk::Endpoints::default()),
        )
        .with(Platform::Lark, lark::replier(deps, http, &endpoints.lark))
}

/// Every webhook endpoint's context.
#[derive(Clone)]
pub struct Webhooks {
    /// WeCom callbacks.
    pub wecom: wecom::webhook::Context,
    /// DingTalk HTTP-mode callbacks.
    pub dingtalk: dingtalk::webhook::Context,
    /// Lark / Feishu event callbacks.
    pub lark: lark::webhook::Context,
}

/// The webhook endpoints on `deps`, with the platforms' default API locations.
pub fn webhooks(deps: &Deps) -> Webhooks {
    webhooks_with(deps, &reqwest::Client::new(), &ApiEndpoints::default())
}

/// The webhook endpoints on `deps`; `http` and `endpoints` serve the API calls a callback may
/// need (a Lark bot's own identity).
pub fn webhooks_with(deps: &Deps, http: &reqwest::Client, endpoints: &ApiEndpoints) -> Webhooks {
    let wecom = wecom::webhook::Context {
        store: deps.store.clone(),
        keyring: deps.keyring.clone(),
        ingress: imgate_core::ingress::Ingress::new(deps.store.clone(), deps.queue.clone()),
    };
    Webhooks {
        dingtalk: dingtalk::webhook::Context::from(&wecom),
        lark: lark::webhook::Context {
            store: deps.store.clone(),
            keyring: deps.keyring.clone(),
            ingress: wecom.ingress.clone(),
            identity: Arc::new(lark::api(deps, http, &endpoints.lark)),
        },
        wecom,
    }
}

/// Installs ring as rustls's process-wide crypto provider unless one is set: several providers
/// are compiled in (the AWS SDK brings aws-lc-rs, reqwest brings ring), so rustls needs one
/// chosen, and tokio-tungstenite's default TLS config (the long connections' `wss://`) uses it.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Loads the webhook-mode integration `integration_id` of `platform` for a callback and opens
/// its credentials.
///
/// # Errors
/// [`WebhookError::UnknownIntegration`] for an unknown id or an integration of another platform
/// or mode, [`WebhookError::Disabled`] (written to its event log) when it is disabled,
/// [`WebhookError::Unavailable`] when the store or keyring failed.
pub(crate) async fn webhook_integration(
    store: &dyn Store,
    keyring: &dyn Keyring,
    ingress: &Ingress,
    integration_id: &str,
    platform: Platform,
) -> Result<(IntegrationRecord, Credentials), WebhookError> {
    let id: IntegrationId = integration_id.parse().map_err(|_| WebhookError::UnknownIntegration)?;
    let record = store
        .get_integration(&id)
        .await?
        .ok_or(WebhookError::UnknownIntegration)?;
    if record.platform != platform || record.mode != ConnectionMode::Webhook {
        return Err(WebhookError::UnknownIntegration);
    }
    if !record.enabled {
        ingress
            .reject(&record.id, "callback refused: the integration is disabled")
            .await;
        return Err(WebhookError::Disabled);
    }
    let credentials = record.open_credentials(keyring).await?;
    Ok((record, credentials))
}
