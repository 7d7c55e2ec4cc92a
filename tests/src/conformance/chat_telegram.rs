//! Telegram as a user meets it: updates to the webhook, or polled by the relay.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use imgate_channels::telegram::api::BotApi;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_media::File;
use crate::fake_telegram::{BOT_USERNAME, FakeTelegram};

const TOKEN: &str = "77:conformance-telegram-token";
const SECRET: &str = "conformance-secret";

/// The next photo's `file_id` number.
static NEXT_PHOTO: AtomicU64 = AtomicU64::new(1);

/// How updates reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// `POST /api/telegram/webhook/{id}` with the secret token.
    Webhook,
    /// `getUpdates` in the relay.
    Polling,
}

/// The harness.
pub struct TelegramChat {
    fake: FakeTelegram,
    receive: Receive,
    http: reqwest::Client,
    /// Webhook updates as posted, by message id, for Telegram's retries.
    posted: Mutex<HashMap<String, Value>>,
}

impl TelegramChat {
    /// A harness with its fake Bot API.
    pub async fn start(receive: Receive) -> Self {
        Self {
            fake: FakeTelegram::start(TOKEN).await,
            receive,
            http: reqwest::Client::new(),
            posted: Mutex::default(),
        }
    }

    async fn post(&self, gateway_base: &str, integration: &str, update: &Value) {
        let response = self
            .http
            .post(format!("{gateway_base}/api/telegram/webhook/{integration}"))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(update)
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200, "{}: the update is accepted", self.name());
    }

    /// Delivers `update` as the mode receives it; returns its message id.
    async fn deliver(&self, gateway_base: &str, integration: &str, mut update: Value) -> String {
        let message_id = update["message"]["message_id"].clone();
        match self.receive {
            Receive::Polling => {
                self.fake.push_update(update);
            }
            Receive::Webhook => {
                update["update_id"] = json!(message_id.as_i64().unwrap_or(0) + 700_000);
                self.post(gateway_base, integration, &update).await;
                self.posted
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(message_id.to_string(), update);
            }
        }
        message_id.to_string()
    }
}

#[async_trait]
impl ChatHarness for TelegramChat {
    fn name(&self) -> &'static str {
        match self.receive {
            Receive::Webhook => "telegram/webhook",
            Receive::Polling => "telegram/polling",
        }
    }

    fn platform(&self) -> Platform {
        Platform::Telegram
    }

    fn integration(&self) -> Value {
        let mode = match self.receive {
            Receive::Webhook => "webhook",
            Receive::Polling => "long_connection",
        };
        json!({"name": "tg", "platform": "telegram", "mode": mode, "credentials": {"bot_token": TOKEN, "secret_token": SECRET}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.telegram.api = self.fake.base.clone();
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        (self.receive == Receive::Polling).then(|| {
            let api = BotApi::new(reqwest::Client::new(), self.fake.base.clone());
            let poller = imgate_channels::telegram::long::Connector::new(api, deps.store.clone())
                .with_poll_timeout(Duration::from_secs(1));
            Arc::new(poller) as Arc<dyn Connector>
        })
    }

    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, from_bot: bool) -> String {
        let (chat_id, text) = match chat {
            Chat::Direct => (4001, text.to_owned()),
            Chat::Group { mention: true } => (-100_4001, format!("@{BOT_USERNAME} {text}")),
            Chat::Group { mention: false } => (-100_4001, text.to_owned()),
        };
        let mut update = self.fake.text_update(chat_id, 4001, &text);
        if from_bot {
            update["message"]["from"]["is_bot"] = json!(true);
        }
        self.deliver(gateway_base, integration, update).await
    }

    async fn answer(&self, said: &str) -> Option<String> {
        let answer = self.fake.answer_to(said.parse().ok()?);
        (!answer.is_empty()).then(|| answer.iter().map(|m| m.text.as_str()).collect())
    }

    /// The photos that follow the answer, by URL.
    async fn images(&self, said: &str) -> Vec<String> {
        said.parse()
            .map(|id| self.fake.photos_answering(id).into_iter().map(|p| p.url).collect())
            .unwrap_or_default()
    }

    /// The webhook gets the same update (same `update_id`) again, as Telegram retries it;
    /// a polled update is served again by itself until an offset confirms it.
    async fn again(&self, gateway_base: &str, integration: &str, said: &str) -> String {
        if self.receive == Receive::Webhook {
            let update = self
                .posted
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(said)
                .cloned()
                .expect("a posted update");
            self.post(gateway_base, integration, &update).await;
        }
        said.to_owned()
    }

    /// Polling: the update is no longer served (an offset past it was given).
    async fn taken(&self, said: &str) -> bool {
        said.parse().is_ok_and(|id| !self.fake.is_pending(id))
    }

    /// Polling: `getUpdates` calls in progress.
    fn connections(&self) -> (usize, usize) {
        self.fake.polling()
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match (self.receive, scenario) {
            (Receive::Polling, ChatScenario::Redelivery) => Support::No(
                "Telegram serves a polled update again only until an offset confirms it, and the poller confirms only \
                 after the enqueue: that redelivery is the queue-outage scenario",
            ),
            (Receive::Webhook, ChatScenario::QueueOutage | ChatScenario::TwoRelays) => {
                Support::No("a webhook holds no connection: Telegram retries on the HTTP status")
            }
            _ => Support::Yes,
        }
    }
    /// A photo message whose largest size is the picture (its `file_size` stated).
    async fn say_image(&self, gateway_base: &str, integration: &str, picture: Picture) -> String {
        let file_id = format!("photo-{}", NEXT_PHOTO.fetch_add(1, Ordering::SeqCst));
        let file = match picture {
            Picture::Small => File::png(),
            Picture::Oversized => File::oversized(),
        };
        self.fake.add_photo(&file_id, file);
        let update = self.fake.photo_update(4001, 4001, &file_id, "");
        self.deliver(gateway_base, integration, update).await
    }

    /// Downloads from the file server.
    fn downloads(&self) -> usize {
        self.fake.media.all_downloads()
    }
}
