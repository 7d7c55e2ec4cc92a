//! What every platform's webhook needs: the framework-free endpoint trait the HTTP layer
//! routes to, and loading the integration a callback names.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use imgate_core::credentials::Credentials;
use imgate_core::ingress::{Ingress, WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::keyring::Keyring;
use imgate_core::ports::{Deps, Store};
use imgate_core::{ConnectionMode, IntegrationId, Platform};
use reqwest::header::HeaderMap;

/// The HTTP methods a webhook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// URL verification on platforms that check the URL with a `GET` (WeCom).
    Get,
    /// Callbacks.
    Post,
}

/// One request to `/api/{platform}/webhook/{integrationId}`, read by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `GET` or `POST`.
    pub method: Method,
    /// The `{integrationId}` path segment, as sent.
    pub integration_id: &'a str,
    /// The query string's percent-decoded pairs (`+` kept: signed Base64 values need it).
    pub query: &'a HashMap<String, String>,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The body, already bounded by the HTTP layer.
    pub body: &'a [u8],
}

impl WebhookRequest<'_> {
    /// The header `name` as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A platform's webhook endpoint.
#[async_trait]
pub trait WebhookEndpoint: Send + Sync {
    /// The methods it answers; others get 405 from the HTTP layer.
    fn methods(&self) -> &'static [Method];

    /// The last path segment before the integration id: `/api/{platform}/{route}/{id}`
    /// ([`imgate_core::integration::callback_url`] shows the same).
    fn route(&self) -> &'static str {
        "webhook"
    }

    /// Answers one request.
    ///
    /// # Errors
    /// [`WebhookError`]; nothing is enqueued when one is returned.
    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError>;
}

/// What every webhook endpoint works with.
#[derive(Clone)]
pub struct WebhookDeps {
    /// The store (integrations, event log, stream buffers).
    pub store: Arc<dyn Store>,
    /// Opens sealed credentials.
    pub keyring: Arc<dyn Keyring>,
    /// Dedupe + durable enqueue.
    pub ingress: Ingress,
}

impl WebhookDeps {
    /// The webhook backends of `deps`.
    pub fn new(deps: &Deps) -> Self {
        Self {
            store: deps.store.clone(),
            keyring: deps.keyring.clone(),
            ingress: Ingress::new(deps.store.clone(), deps.queue.clone()),
        }
    }

    /// Loads the webhook-mode integration `integration_id` of `platform` for a callback and
    /// opens its credentials, which `pick` takes as the platform's own kind.
    ///
    /// # Errors
    /// [`WebhookError::UnknownIntegration`] for an unknown id, an integration of another
    /// platform or mode, or credentials `pick` refuses; [`WebhookError::Disabled`] (written to
    /// its event log) when it is disabled; [`WebhookError::Unavailable`] when the store or
    /// keyring failed.
    pub async fn integration<T>(
        &self,
        integration_id: &str,
        platform: Platform,
        pick: impl FnOnce(Credentials) -> Option<T>,
    ) -> Result<(IntegrationRecord, T), WebhookError> {
        self.integration_in(integration_id, platform, &[ConnectionMode::Webhook], pick)
            .await
    }

    /// [`WebhookDeps::integration`] for an endpoint that serves integrations in any of `modes`
    /// (Discord's interactions endpoint serves bots on the gateway too).
    ///
    /// # Errors
    /// As [`WebhookDeps::integration`].
    pub async fn integration_in<T>(
        &self,
        integration_id: &str,
        platform: Platform,
        modes: &[ConnectionMode],
        pick: impl FnOnce(Credentials) -> Option<T>,
    ) -> Result<(IntegrationRecord, T), WebhookError> {
        let id: IntegrationId = integration_id.parse().map_err(|_| WebhookError::UnknownIntegration)?;
        let record = self
            .store
            .get_integration(&id)
            .await?
            .ok_or(WebhookError::UnknownIntegration)?;
        if record.platform != platform || !modes.contains(&record.mode) {
            return Err(WebhookError::UnknownIntegration);
        }
        if !record.enabled {
            self.ingress
                .reject(&record.id, "callback refused: the integration is disabled")
                .await;
            return Err(WebhookError::Disabled);
        }
        let credentials = record.open_credentials(self.keyring.as_ref()).await?;
        let credentials = pick(credentials).ok_or(WebhookError::UnknownIntegration)?;
        Ok((record, credentials))
    }
}
