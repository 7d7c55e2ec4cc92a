//! Weibo as a user meets it: private messages pushed on the stream the relay holds, answers
//! streamed back as `send_message` frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use imgate_channels::kit::tokens::SealedTokens;
use imgate_channels::weibo::api::TokenClient;
use imgate_core::Platform;
use imgate_core::ports::{Deps, TokenCache};
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario};
use crate::fake_weibo::FakeWeibo;

const APP_ID: &str = "5288388166";
const SECRET: &str = "conformance-weibo-secret";

/// The harness. Every message comes from a user of its own, so the replies to that user are
/// the answer to that message.
pub struct WeiboChat {
    fake: FakeWeibo,
    next: AtomicU64,
    /// The payload of each message said, by `said`, for deliveries again.
    said: Mutex<HashMap<String, Value>>,
}

impl WeiboChat {
    /// A harness with its fake Weibo.
    pub async fn start() -> Self {
        Self {
            fake: FakeWeibo::start(APP_ID, SECRET).await,
            next: AtomicU64::new(1),
            said: Mutex::default(),
        }
    }

    async fn push(&self, payload: &Value) {
        // Weibo pushes to the sockets open at the moment: wait for the relay's.
        for _ in 0..250 {
            if self.fake.sockets().0 > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.fake.push_payload(payload);
    }

    /// Plays `text` as a private message from `user`; returns the user.
    async fn say_from(&self, text: &str, user: String) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let payload = json!({"messageId": format!("msg_in_c{n}"), "fromUserId": user, "text": text,
            "timestamp": 1_741_080_000_000_i64 + i64::try_from(n).unwrap_or_default(),
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]});
        self.said
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user.clone(), payload.clone());
        self.push(&payload).await;
        user
    }
}

#[async_trait]
impl ChatHarness for WeiboChat {
    fn name(&self) -> &'static str {
        "weibo/long_connection"
    }

    fn platform(&self) -> Platform {
        Platform::Weibo
    }

    fn integration(&self) -> Value {
        json!({"name": "wb", "platform": "weibo", "mode": "long_connection",
            "credentials": {"app_id": APP_ID, "app_secret": SECRET}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.weibo.api = self.fake.api_base.clone();
        endpoints.weibo.ws = self.fake.ws_base.clone();
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        let cache: Arc<dyn TokenCache> = deps.store.clone();
        let tokens = TokenClient::new(
            reqwest::Client::new(),
            self.fake.api_base.clone(),
            SealedTokens::new("weibo", cache, deps.keyring.clone()),
        );
        Some(Arc::new(imgate_channels::weibo::long::Connector::new(
            deps.store.clone(),
            tokens,
            self.fake.ws_base.clone(),
        )))
    }

    async fn say(&self, _gateway_base: &str, _integration: &str, _chat: Chat, text: &str, _from_bot: bool) -> String {
        let user = format!("{}", 2_000_000_000_u64 + self.next.load(Ordering::SeqCst));
        self.say_from(text, user).await
    }

    /// Replies go to the user, so what finds the answer is the user: the answers to both.
    async fn say_again_from(&self, _gateway_base: &str, _integration: &str, said: &str, text: &str) -> String {
        self.say_from(text, said.to_owned()).await
    }

    /// Every frame so far held to §6 (deltas, chunk order, done, sizes), then the replies to
    /// the message's user, joined.
    async fn answer(&self, said: &str) -> Option<String> {
        assert_eq!(
            self.fake.violations(),
            Vec::<String>::new(),
            "{}: frames against the rules",
            self.name()
        );
        let text: String = self.fake.replies_to(said).iter().map(|r| r.text.as_str()).collect();
        (!text.is_empty()).then_some(text)
    }

    /// Weibo pushes the same message again (the same `messageId`).
    async fn again(&self, _gateway_base: &str, _integration: &str, said: &str) -> String {
        let payload = self
            .said
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(said)
            .cloned();
        if let Some(payload) = payload {
            self.push(&payload).await;
        }
        said.to_owned()
    }

    fn connections(&self) -> (usize, usize) {
        let (open, most, _) = self.fake.sockets();
        (open, most)
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::GroupWithoutMention => Support::No("Weibo's Open IM has private chats only"),
            ChatScenario::ImageIn | ChatScenario::OversizedImageIn => {
                Support::No(imgate_channels::weibo::media::UNSUPPORTED)
            }
            ChatScenario::FromAnotherBot => {
                Support::No("Weibo delivers private messages to the app's owner account and marks no sender as a bot")
            }
            ChatScenario::QueueOutage => Support::No(
                "Weibo has no acknowledgement frame, so nothing can be held back from it: a message is taken \
                 once it is queued; one that cannot be queued is named in the event log and the stream is \
                 reopened, and only a push of it again (none is documented) brings it back",
            ),
            ChatScenario::ImageOut => Support::No(
                "Weibo's socket carries text only and its file API (send_file) names no recipient: the token \
                 decides who receives, so an image cannot answer the user who asked",
            ),
            _ => Support::Yes,
        }
    }
}
