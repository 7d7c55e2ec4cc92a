//! Telegram (`protocols/telegram.md`): bots over the Bot API, by webhook or long polling.
//!
//! - [`verify`]: the webhook's `X-Telegram-Bot-Api-Secret-Token` check (§2.2);
//! - [`wire`]: `Update` and `Message` as the Bot API sends them (§4), with UTF-16 entity offsets;
//! - [`normalize`]: updates → [`imgate_core::event::InboundEvent`], with the group addressing
//!   rules (commands, mentions, replies to the bot);
//! - [`format`]: agent Markdown → Telegram's HTML parse mode, always well formed;
//! - [`api`]: the Bot API client and the bots' identities (`getMe`);
//! - [`webhook`]: the webhook endpoint;
//! - [`long`]: long polling, the relay's connector;
//! - [`media`]: downloading what users send (`getFile`, then the file server; 20 MB at most);
//! - [`probe`]: the credential test (`getMe`);
//! - [`register`]: `setWebhook` / `deleteWebhook` as integrations start and stop receiving;
//! - [`reply`]: answers streamed as drafts (private chats) or edits (groups).

pub mod api;
pub mod format;
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

/// Where the Bot API lives (overridable for tests and self-hosted Bot API servers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The Bot API base, e.g. `https://api.telegram.org`.
    pub api: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_BASE_URL.to_owned(),
        }
    }
}

/// Telegram for the registry: the webhook endpoint, the replier, the long-polling connector, the
/// webhook registrar and the credential test.
pub fn channel(wiring: Wiring<'_>, endpoints: &Endpoints) -> Channel {
    let deps = wiring.deps;
    let api = api::BotApi::new(wiring.http.clone(), endpoints.api.clone());
    Channel {
        platform: Platform::Telegram,
        webhook: Some(Arc::new(webhook::Context {
            deps: WebhookDeps::new(deps),
            identities: Arc::new(api::Identities::new(api.clone())),
        })),
        replier: Arc::new(reply::TelegramReplier::new(deps.store.clone(), api.clone())),
        connector: Some(Arc::new(long::Connector::new(api.clone(), deps.store.clone()))),
        registrar: Some(Arc::new(register::Registrar::new(api.clone()))),
        probe: Arc::new(probe::Probe::new(api.clone())),
        media: Some(Arc::new(media::Fetcher::new(api))),
    }
}
