//! WeChat personal accounts (`protocols/wechat-ilink.md`) through Tencent's iLink bot API: a
//! user binds the bot by scanning a QR code, the relay long-polls their private messages and
//! the answers go back with `sendmessage`. No webhook, no edits, no groups.
//!
//! - [`wire`]: the JSON iLink sends (§3.2, §3.3), uint64 ids kept exact;
//! - [`normalize`]: messages → [`imgate_core::event::InboundEvent`] (private chats only);
//! - [`format`]: agent Markdown → whole blocks within the send budget, images stripped;
//! - [`api`]: the iLink client (headers, `base_info`, `ret` / `errcode`);
//! - [`long`]: `getupdates` long polling, the relay's connector;
//! - [`login`]: the QR login, its state kept in the store;
//! - [`media`]: downloading what users send from the media CDN (AES-128-ECB);
//! - [`reply`]: answers in blocks, typing while the agent works, refusals not hammered;
//! - [`probe`]: the credential test, which says why a login is not tried.

pub mod api;
pub mod format;
pub mod login;
pub mod long;
pub mod media;
pub mod normalize;
pub mod probe;
pub mod reply;
pub mod wire;

use std::sync::Arc;

use imgate_channel_kit::channel::{Channel, Wiring};
use imgate_core::Platform;
pub use imgate_core::credentials::Wechat;

/// Where iLink lives (overridable for tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The bot API base used when a login named none, e.g. `https://ilinkai.weixin.qq.com`.
    pub api: String,
    /// The QR login host.
    pub login: String,
    /// The media CDN: images are uploaded to it (§5.1) and users' files downloaded from it (§5.2).
    pub cdn: String,
    /// How long a refused send waits before its one merged retry ([`reply::REFUSAL_BACKOFF`];
    /// tests shorten it).
    pub refusal_backoff: std::time::Duration,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            api: api::DEFAULT_BASE_URL.to_owned(),
            login: api::DEFAULT_BASE_URL.to_owned(),
            cdn: api::DEFAULT_CDN_URL.to_owned(),
            refusal_backoff: reply::REFUSAL_BACKOFF,
        }
    }
}

impl Endpoints {
    /// The bot API and the QR login at `base`, the CDN at `<base>/c2c` (tests,
    /// `--wechat-api-base`).
    pub fn at(base: &str) -> Self {
        Self {
            api: base.to_owned(),
            login: base.to_owned(),
            cdn: format!("{}/c2c", base.trim_end_matches('/')),
            ..Self::default()
        }
    }
}

/// The QR login at `endpoints`, for the admin service.
pub fn login(http: &reqwest::Client, endpoints: &Endpoints) -> Arc<dyn imgate_core::ports::LoginFlow> {
    Arc::new(login::Login::new(
        api::Client::new(http.clone()),
        endpoints.login.clone(),
    ))
}

/// WeChat for the registry: the replier, the long-polling connector and the credential test (no
/// webhook).
pub fn channel(wiring: Wiring<'_>, endpoints: &Endpoints) -> Channel {
    let deps = wiring.deps;
    let client = api::Client::new(wiring.http.clone());
    Channel {
        platform: Platform::Wechat,
        webhook: None,
        replier: Arc::new(
            reply::WechatReplier::new(deps.store.clone(), client.clone(), endpoints.api.clone())
                .with_backoff(endpoints.refusal_backoff)
                .with_cdn(endpoints.cdn.clone()),
        ),
        connector: Some(Arc::new(long::Connector::new(
            client,
            deps.store.clone(),
            endpoints.api.clone(),
        ))),
        registrar: None,
        probe: Arc::new(probe::Probe),
        media: Some(Arc::new(media::Fetcher::new(wiring.http.clone(), &endpoints.cdn))),
    }
}
