//! Lark / Feishu as a user meets it: events to the webhook, or pushed on the long connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use imgate_channels::lark::reply::card::ANSWER_ELEMENT;
use imgate_channels::lark::verify::signature;
use imgate_channels::lark::{self, EventCipher};
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_lark::FakeLark;
use crate::fake_media::File;

const APP_ID: &str = "cli_conformance_chat";
const APP_SECRET: &str = "conformance-app-secret";
const TOKEN: &str = "conformance-verification-token";
const ENCRYPT_KEY: &str = "conformance-encrypt-key";

/// How events reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// Encrypted, signed events to `/api/lark/webhook/{id}`.
    Webhook,
    /// Pushed on the long connection to the relay.
    LongConnection,
}

/// The harness.
pub struct LarkChat {
    fake: FakeLark,
    receive: Receive,
    http: reqwest::Client,
    next: AtomicU64,
    /// Each event by its message id, with the long-connection pushes that carried it.
    delivered: Mutex<HashMap<String, (Value, Vec<String>)>>,
}

impl LarkChat {
    /// A harness with its fake Lark.
    pub async fn start(receive: Receive) -> Self {
        Self {
            fake: FakeLark::start(APP_ID, APP_SECRET).await,
            receive,
            http: reqwest::Client::new(),
            next: AtomicU64::new(1),
            delivered: Mutex::default(),
        }
    }

    fn delivered(&self) -> MutexGuard<'_, HashMap<String, (Value, Vec<String>)>> {
        self.delivered.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers `event` and keeps it under its `message_id`, which it returns.
    async fn send(&self, gateway_base: &str, integration: &str, message_id: String, event: Value) -> String {
        let push = self.deliver(gateway_base, integration, &event).await;
        self.delivered()
            .insert(message_id.clone(), (event, push.into_iter().collect()));
        message_id
    }

    /// Delivers `event` as the mode receives it; returns the push's id on the long connection.
    async fn deliver(&self, gateway_base: &str, integration: &str, event: &Value) -> Option<String> {
        match self.receive {
            Receive::LongConnection => Some(self.fake.push_event(event)),
            Receive::Webhook => {
                let body =
                    json!({"encrypt": EventCipher::new(ENCRYPT_KEY).encrypt(event.to_string().as_bytes())}).to_string();
                let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
                let sign = signature(&timestamp, "nonce-c", ENCRYPT_KEY, body.as_bytes());
                let response = self
                    .http
                    .post(format!("{gateway_base}/api/lark/webhook/{integration}"))
                    .header("content-type", "application/json")
                    .header("x-lark-request-timestamp", timestamp)
                    .header("x-lark-request-nonce", "nonce-c")
                    .header("x-lark-signature", sign)
                    .body(body)
                    .send()
                    .await
                    .expect("the gateway answers");
                assert_eq!(response.status(), 200, "{}: the event is accepted", self.name());
                None
            }
        }
    }
}

#[async_trait]
impl ChatHarness for LarkChat {
    fn name(&self) -> &'static str {
        match self.receive {
            Receive::Webhook => "lark/webhook",
            Receive::LongConnection => "lark/long_connection",
        }
    }

    fn platform(&self) -> Platform {
        Platform::Lark
    }

    fn integration(&self) -> Value {
        match self.receive {
            Receive::Webhook => json!({"name": "lark", "platform": "lark", "mode": "webhook",
                "credentials": {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN, "encrypt_key": ENCRYPT_KEY}}),
            Receive::LongConnection => json!({"name": "lark", "platform": "lark", "mode": "long_connection",
                "credentials": {"app_id": APP_ID, "app_secret": APP_SECRET}}),
        }
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.lark = lark::Endpoints::single(&self.fake.base);
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        (self.receive == Receive::LongConnection).then(|| {
            let http = reqwest::Client::new();
            let endpoints = lark::Endpoints::single(&self.fake.base);
            let identity = Arc::new(lark::api(deps, &http, &endpoints));
            lark::connector(http, endpoints, identity)
        })
    }

    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, from_bot: bool) -> String {
        let message_id = format!("om_conformance_{}", self.next.fetch_add(1, Ordering::SeqCst));
        let group = chat != Chat::Direct;
        let chat_id = if group {
            "oc_group_conformance"
        } else {
            "oc_p2p_conformance"
        };
        let mut event = self.fake.message_event(&message_id, chat_id, group, text);
        event["header"]["token"] = json!(TOKEN);
        if chat == (Chat::Group { mention: false }) {
            event["event"]["message"]["mentions"] = json!([]);
            event["event"]["message"]["content"] = json!(json!({"text": text}).to_string());
        }
        if from_bot {
            event["event"]["sender"]["sender_type"] = json!("app");
        }
        self.send(gateway_base, integration, message_id, event).await
    }

    /// The same event (same `event_id`) once more.
    async fn again(&self, gateway_base: &str, integration: &str, said: &str) -> String {
        let event = self
            .delivered()
            .get(said)
            .map(|(e, _)| e.clone())
            .expect("an event said");
        if let Some(push) = self.deliver(gateway_base, integration, &event).await {
            if let Some((_, pushes)) = self.delivered().get_mut(said) {
                pushes.push(push);
            }
        }
        said.to_owned()
    }

    /// Long connection: one of the event's pushes was ACKed with code 200.
    async fn taken(&self, said: &str) -> bool {
        let pushes = self.delivered().get(said).map(|(_, p)| p.clone()).unwrap_or_default();
        self.fake
            .acks()
            .iter()
            .any(|ack| pushes.contains(&ack.message_id) && ack.code == Some(200))
    }

    fn connections(&self) -> (usize, usize) {
        (self.fake.live_connections(), self.fake.most_live_connections())
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match (self.receive, scenario) {
            (Receive::Webhook, ChatScenario::QueueOutage | ChatScenario::TwoRelays) => {
                Support::No("a webhook holds no connection: Lark retries on the HTTP status")
            }
            (_, ChatScenario::OversizedImageIn) => Support::No(
                "a Lark message states no file size: a file past the cap is refused on the download's length or \
                 cut off as it streams (the fetcher tests in tests/tests/media_in.rs)",
            ),
            _ => Support::Yes,
        }
    }

    /// The replies to `said`: cards' answer text (as Lark renders it, without the continuation
    /// mark), and rich-text replies.
    async fn answer(&self, said: &str) -> Option<String> {
        let replies: Vec<String> = self
            .fake
            .sent()
            .into_iter()
            .filter(|m| m.reply_to.as_deref() == Some(said))
            .filter_map(|m| match m.card_id() {
                Some(card) => self.fake.card(card).and_then(|c| {
                    c.content(ANSWER_ELEMENT)
                        .map(|t| t.trim_end_matches("\n\n…").replace("&lt;", "<"))
                }),
                None => m.text(),
            })
            .collect();
        (!replies.is_empty()).then(|| replies.concat())
    }

    /// The image replies to `said`, by image key.
    async fn images(&self, said: &str) -> Vec<String> {
        self.fake.images_replying_to(said)
    }

    /// An `image` message whose `image_key` the fake's message-resource API serves.
    async fn say_image(&self, gateway_base: &str, integration: &str, _picture: Picture) -> String {
        let message_id = format!("om_conformance_{}", self.next.fetch_add(1, Ordering::SeqCst));
        let image_key = format!("img_v2_{message_id}");
        self.fake.media.add(&format!("{message_id}/{image_key}"), File::png());
        let mut event = self.fake.message_event(&message_id, "oc_p2p_conformance", false, "");
        event["header"]["token"] = json!(TOKEN);
        event["event"]["message"]["message_type"] = json!("image");
        event["event"]["message"]["content"] = json!(json!({ "image_key": image_key }).to_string());
        self.send(gateway_base, integration, message_id, event).await
    }

    /// Downloads of message resources.
    fn downloads(&self) -> usize {
        self.fake.media.all_downloads()
    }
}
