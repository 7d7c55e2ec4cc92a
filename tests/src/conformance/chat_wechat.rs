//! WeChat (iLink) as a user meets it: private messages polled by the relay's `getupdates`.

use std::sync::Arc;

use async_trait::async_trait;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario};
use crate::fake_wechat::FakeWechat;

const TOKEN: &str = "conformance-wechat-bot-token";
const USER: &str = "o9cq80conformance@im.wechat";

/// The harness.
pub struct WechatChat {
    fake: FakeWechat,
}

impl WechatChat {
    /// A harness with its fake iLink API, the bot token set by hand.
    pub async fn start() -> Self {
        Self {
            fake: FakeWechat::start(Some(TOKEN)).await,
        }
    }
}

#[async_trait]
impl ChatHarness for WechatChat {
    fn name(&self) -> &'static str {
        "wechat/long_connection"
    }

    fn platform(&self) -> Platform {
        Platform::Wechat
    }

    fn integration(&self) -> Value {
        json!({"name": "wx", "platform": "wechat", "mode": "long_connection",
            "credentials": {"bot_token": TOKEN, "base_url": self.fake.base}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.wechat = imgate_channels::wechat::Endpoints::at(&self.fake.base);
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        Some(Arc::new(imgate_channels::wechat::long::Connector::new(
            imgate_channels::wechat::api::Client::new(reqwest::Client::new()),
            deps.store.clone(),
            self.fake.base.clone(),
        )))
    }

    /// Every chat is private (groups and other bots are declared unsupported).
    async fn say(&self, _gateway_base: &str, _integration: &str, _chat: Chat, text: &str, _from_bot: bool) -> String {
        self.fake.push_text(USER, text).to_string()
    }

    async fn answer(&self, said: &str) -> Option<String> {
        let answer = self.fake.answer_to(said.parse().ok()?);
        (!answer.is_empty()).then(|| answer.concat())
    }

    /// The image items sent with the message's context token, by CDN handle.
    async fn images(&self, said: &str) -> Vec<String> {
        said.parse()
            .map(|id| self.fake.images_answering(id).into_iter().map(|i| i.handle).collect())
            .unwrap_or_default()
    }

    /// iLink delivers at least once: the same message (same `message_id`) is served again.
    async fn again(&self, _gateway_base: &str, _integration: &str, said: &str) -> String {
        if let Some(message) = said.parse().ok().and_then(|id| self.fake.message(id)) {
            self.fake.push_raw(message);
        }
        said.to_owned()
    }

    /// The cursor the poller sends has moved past every copy of the message.
    async fn taken(&self, said: &str) -> bool {
        said.parse().is_ok_and(|id| self.fake.is_confirmed(id))
    }

    /// `getupdates` calls in progress.
    fn connections(&self) -> (usize, usize) {
        self.fake.polling()
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::GroupWithoutMention => Support::No(
                "iLink bots have private chats only: no group endpoint exists and group requests were closed \
                 unsupported (notes §9)",
            ),
            ChatScenario::FromAnotherBot => Support::No(
                "no other bot can message an iLink bot: its only peers are WeChat users, and the bot's own \
                 echoes (message_type 2) are skipped",
            ),
            _ => Support::Yes,
        }
    }
}
