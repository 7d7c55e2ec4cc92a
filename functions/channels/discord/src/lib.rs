//! Discord (`protocols/discord.md`): bots over the gateway and the interactions endpoint.
//!
//! - [`verify`]: the interactions endpoint's Ed25519 signature check (§2.2);
//! - [`wire`]: gateway payloads, messages and interactions;
//! - [`normalize`]: messages and interactions → [`imgate_core::event::InboundEvent`];
//! - [`api`]: the REST client, within Discord's rate-limit buckets;
//! - [`webhook`]: the interactions endpoint (`/api/discord/interactions/{id}`);
//! - [`long`]: the gateway, the relay's connector;
//! - [`media`]: downloading attachments from Discord's CDN;
//! - [`reply`]: answers streamed by edits, continued past 2,000 characters;
//! - [`register`]: the slash commands;
//! - [`probe`]: the credential test (`GET /users/@me`).

pub mod api;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod register;
pub mod reply;
pub mod verify;
pub mod webhook;
pub mod wire;

use std::sync::Arc;

use imgate_channel_kit::channel::{Channel, Wiring};
use imgate_channel_kit::webhook::WebhookDeps;
use imgate_core::Platform;

/// Where Discord's REST API lives (overridable for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The REST base, e.g. `https://discord.com/api/v10`.
    pub api: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_BASE_URL.to_owned(),
        }
    }
}

/// Discord for the registry: the interactions endpoint, the replier, the gateway connector, the
/// slash-command registration and the credential test.
pub fn channel(wiring: Wiring<'_>, endpoints: &Endpoints) -> Channel {
    let deps = wiring.deps;
    let api = api::RestApi::new(wiring.http.clone(), endpoints.api.clone());
    Channel {
        platform: Platform::Discord,
        webhook: Some(Arc::new(webhook::Context {
            deps: WebhookDeps::new(deps),
        })),
        replier: Arc::new(reply::DiscordReplier::new(deps.store.clone(), api.clone())),
        connector: Some(Arc::new(long::Connector::new(api.clone(), deps.store.clone()))),
        registrar: Some(Arc::new(register::Registrar::new(api.clone()))),
        probe: Arc::new(probe::Probe::new(api)),
        media: Some(Arc::new(media::Fetcher::new(wiring.http.clone()))),
    }
}
