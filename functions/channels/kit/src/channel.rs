//! What a platform hands the registry: one [`Channel`] built from the backends and its own
//! endpoints.

use std::sync::Arc;

use imgate_core::Platform;
use imgate_core::ports::{CredentialProbe, Deps, MediaFetcher, Replier, WebhookRegistrar};
use imgate_core::relay::Connector;

use crate::webhook::WebhookEndpoint;

/// The backends a platform's parts are built on.
#[derive(Clone, Copy)]
pub struct Wiring<'a> {
    /// Store, queue, keyring.
    pub deps: &'a Deps,
    /// The shared HTTP client for the platform's API.
    pub http: &'a reqwest::Client,
}

/// One platform of this build.
#[derive(Clone)]
pub struct Channel {
    /// Which platform.
    pub platform: Platform,
    /// Its callback endpoint, if it has webhook mode.
    pub webhook: Option<Arc<dyn WebhookEndpoint>>,
    /// How the dispatcher answers its events.
    pub replier: Arc<dyn Replier>,
    /// The relay's connection, if it has a long-connection mode.
    pub connector: Option<Arc<dyn Connector>>,
    /// Sets and removes its webhook URL through its API, if it works that way.
    pub registrar: Option<Arc<dyn WebhookRegistrar>>,
    /// Tests an integration's credentials against the platform (every platform has one; a mode
    /// that cannot be tested answers why).
    pub probe: Arc<dyn CredentialProbe>,
    /// Downloads the media users send, where the platform lets bots download them.
    pub media: Option<Arc<dyn MediaFetcher>>,
}
