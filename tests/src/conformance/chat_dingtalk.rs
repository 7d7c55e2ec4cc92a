//! DingTalk as a user meets it: robot messages on Stream mode, or signed HTTP callbacks; the
//! answers arrive through each message's session webhook.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use imgate_channels::dingtalk::verify;
use imgate_channels::kit::markdown::split_images;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_dingtalk::FakeDingtalk;
use crate::fake_media::File;

const CLIENT_ID: &str = "dingconformancechat";
const SECRET: &str = "conformance-chat-secret";

/// How messages reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// Stream mode: CALLBACK frames on the relay's connection.
    Stream,
    /// HTTP mode: signed callbacks to `/api/dingtalk/webhook/{id}`.
    Http,
}

/// The harness.
pub struct DingtalkChat {
    fake: FakeDingtalk,
    receive: Receive,
    http: reqwest::Client,
    next: AtomicU64,
    /// Each message by its session webhook, with the Stream frames that carried it.
    delivered: Mutex<HashMap<String, (Value, Vec<String>)>>,
}

impl DingtalkChat {
    /// A harness with its fake DingTalk.
    pub async fn start(receive: Receive) -> Self {
        Self {
            fake: FakeDingtalk::start(CLIENT_ID, SECRET).await,
            receive,
            http: reqwest::Client::new(),
            next: AtomicU64::new(1),
            delivered: Mutex::default(),
        }
    }

    fn delivered(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Value, Vec<String>)>> {
        self.delivered.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A robot message with `text` and a session webhook of its own; returns the session too.
    fn robot_message(&self, text: &str, group: bool) -> (String, Value) {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let session = format!("conformance-session-{n}");
        let expires = imgate_core::Timestamp::now().as_millis() + 3_600_000;
        let message = self
            .fake
            .robot_message(&format!("msgC{n}"), text, &session, expires, group);
        (session, message)
    }

    /// Delivers `message` and keeps it under its `session`, which it returns.
    async fn send(&self, gateway_base: &str, integration: &str, session: String, message: Value) -> String {
        let frame = self.deliver(gateway_base, integration, &message).await;
        self.delivered()
            .insert(session.clone(), (message, frame.into_iter().collect()));
        session
    }

    /// Delivers `message` as the mode receives it; returns the Stream frame's id.
    async fn deliver(&self, gateway_base: &str, integration: &str, message: &Value) -> Option<String> {
        match self.receive {
            Receive::Stream => {
                for _ in 0..500 {
                    if self.fake.live().0 > 0 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let frame = self.fake.push(message);
                assert!(frame.is_some(), "{}: a Stream connection", self.name());
                frame
            }
            Receive::Http => {
                let timestamp = imgate_core::Timestamp::now().as_millis().to_string();
                let response = self
                    .http
                    .post(format!("{gateway_base}/api/dingtalk/webhook/{integration}"))
                    .header("content-type", "application/json")
                    .header("sign", verify::sign(&timestamp, SECRET))
                    .header("timestamp", timestamp)
                    .body(message.to_string())
                    .send()
                    .await
                    .expect("the gateway answers");
                assert_eq!(response.status(), 200, "{}: the callback is accepted", self.name());
                None
            }
        }
    }
}

#[async_trait]
impl ChatHarness for DingtalkChat {
    fn name(&self) -> &'static str {
        match self.receive {
            Receive::Stream => "dingtalk/stream",
            Receive::Http => "dingtalk/http",
        }
    }

    fn platform(&self) -> Platform {
        Platform::Dingtalk
    }

    fn integration(&self) -> Value {
        let mode = match self.receive {
            Receive::Stream => "long_connection",
            Receive::Http => "webhook",
        };
        json!({"name": "robot", "platform": "dingtalk", "mode": mode,
            "credentials": {"client_id": CLIENT_ID, "client_secret": SECRET, "robot_code": CLIENT_ID}})
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.dingtalk = self.fake.endpoints();
    }

    fn connector(&self, _deps: &Deps) -> Option<Arc<dyn Connector>> {
        (self.receive == Receive::Stream)
            .then(|| imgate_channels::dingtalk::connector(reqwest::Client::new(), self.fake.endpoints()))
    }

    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, _from_bot: bool) -> String {
        let (session, mut message) = self.robot_message(text, chat != Chat::Direct);
        if chat == (Chat::Group { mention: false }) {
            message["isInAtList"] = json!(false);
        }
        self.send(gateway_base, integration, session, message).await
    }

    /// The same robot message (same `msgId`) once more, in a new frame or callback.
    async fn again(&self, gateway_base: &str, integration: &str, said: &str) -> String {
        let message = self
            .delivered()
            .get(said)
            .map(|(m, _)| m.clone())
            .expect("a message said");
        if let Some(frame) = self.deliver(gateway_base, integration, &message).await {
            if let Some((_, frames)) = self.delivered().get_mut(said) {
                frames.push(frame);
            }
        }
        said.to_owned()
    }

    /// Stream: one of the message's frames was ACKed.
    async fn taken(&self, said: &str) -> bool {
        let frames = self.delivered().get(said).map(|(_, f)| f.clone()).unwrap_or_default();
        frames.iter().any(|frame| !self.fake.acks_of(frame).is_empty())
    }

    fn connections(&self) -> (usize, usize) {
        self.fake.live()
    }

    /// The session webhook posts: their Markdown or text, without the @-mention of the sender
    /// DingTalk shows after a group answer's first part.
    async fn answer(&self, said: &str) -> Option<String> {
        let posts = self.fake.session_posts(said);
        let parts: Vec<String> = posts
            .iter()
            .filter(|post| image_of(post).is_none())
            .enumerate()
            .map(|(i, post)| {
                let text = post["markdown"]["text"]
                    .as_str()
                    .or_else(|| post["text"]["content"].as_str())
                    .unwrap_or_default();
                if i == 0 {
                    text.trim_end_matches(" @staff-1").to_owned()
                } else {
                    text.to_owned()
                }
            })
            .collect();
        (!parts.is_empty()).then(|| parts.concat())
    }

    /// The session webhook's image messages (Markdown of only an image: it has no image
    /// message), by URL.
    async fn images(&self, said: &str) -> Vec<String> {
        self.fake.session_posts(said).iter().filter_map(image_of).collect()
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::FromAnotherBot => Support::No("DingTalk does not deliver other robots' messages to a robot"),
            ChatScenario::OversizedImageIn => Support::No(
                "a DingTalk message states no file size: a file past the cap is refused on its download's \
                 length or cut off as it streams (the fetcher tests in tests/tests/media_in.rs)",
            ),
            ChatScenario::QueueOutage | ChatScenario::TwoRelays if self.receive == Receive::Http => {
                Support::No("HTTP mode holds no connection: DingTalk retries on the HTTP status")
            }
            _ => Support::Yes,
        }
    }
    /// A `picture` message whose `downloadCode` the fake's `messageFiles/download` knows.
    async fn say_image(&self, gateway_base: &str, integration: &str, _picture: Picture) -> String {
        let (session, mut message) = self.robot_message("", false);
        let code = format!("code-{session}");
        self.fake.media.add(&code, File::png());
        if let Some(fields) = message.as_object_mut() {
            fields.remove("text");
        }
        message["msgtype"] = json!("picture");
        message["content"] = json!({"downloadCode": code, "pictureDownloadCode": format!("p-{code}")});
        self.send(gateway_base, integration, session, message).await
    }

    /// Downloads of the temporary URLs.
    fn downloads(&self) -> usize {
        self.fake.media.all_downloads()
    }
}

/// The URL of a session webhook post that is only an image.
fn image_of(post: &Value) -> Option<String> {
    let text = post["markdown"]["text"].as_str()?;
    let (rest, images) = split_images(text);
    match images.as_slice() {
        [image] if rest.trim().is_empty() => Some(image.url.clone()),
        _ => None,
    }
}
