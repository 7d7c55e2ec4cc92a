//! WeCom smart bots as a user meets them: encrypted callbacks whose answer WeCom pulls with
//! refresh callbacks (and a `response_url` for what does not fit), or callbacks on the long
//! connection answered with stream frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use axum::Json;
use axum::extract::Query;
use imgate_channels::wecom::simulate::Simulator;
use imgate_channels::wecom::webhook::THINKING;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario};
use crate::fake_wecom_long::FakeWecom;

const TOKEN: &str = "conformanceChatToken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const BOT: &str = "conformance-bot";
const BOT_SECRET: &str = "conformance-bot-secret";
/// The continuation mark a stream ends with when the answer goes on elsewhere.
const CONTINUED: &str = "\n\n…";

/// How callbacks reach the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// Callback mode.
    Webhook,
    /// The long connection.
    LongConnection,
}

/// `response_url` posts, by response code.
type Posts = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// The harness.
pub struct WecomChat {
    receive: Receive,
    sim: Simulator,
    fake: FakeWecom,
    /// `response_url` base (callback mode).
    sink: String,
    posts: Posts,
    /// Callback mode: the stream id and the webhook URL of each message, by msgid.
    streams: Mutex<HashMap<String, (String, String)>>,
    http: reqwest::Client,
    next: AtomicU64,
}

impl WecomChat {
    /// A harness with its fakes.
    pub async fn start(receive: Receive) -> Self {
        let posts: Posts = Arc::default();
        let recorded = posts.clone();
        let app = axum::Router::new().route(
            "/cgi-bin/aibot/response",
            axum::routing::post(
                move |Query(query): Query<HashMap<String, String>>, Json(body): Json<Value>| {
                    let recorded = recorded.clone();
                    async move {
                        let code = query.get("response_code").cloned().unwrap_or_default();
                        recorded
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .entry(code)
                            .or_default()
                            .push(body);
                        Json(json!({"errcode": 0, "errmsg": "ok"}))
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind response_url sink");
        let sink = format!("http://{}", listener.local_addr().expect("sink address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let fake = FakeWecom::start().await;
        fake.add_bot(BOT, BOT_SECRET);
        Self {
            receive,
            sim: Simulator::new(TOKEN, AES_KEY).expect("a valid EncodingAESKey"),
            fake,
            sink,
            posts,
            streams: Mutex::default(),
            http: reqwest::Client::new(),
            next: AtomicU64::new(1),
        }
    }

    async fn post(&self, gateway_base: &str, integration: &str, query: &str, body: String) -> String {
        let response = self
            .http
            .post(format!("{gateway_base}/api/wecom/webhook/{integration}?{query}"))
            .body(body)
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(response.status(), 200, "{}: the callback is accepted", self.name());
        response.text().await.unwrap_or_default()
    }

    fn response_posts(&self, code: &str) -> Vec<String> {
        self.posts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(code)
            .into_iter()
            .flatten()
            .filter_map(|post| {
                post["markdown"]["content"]
                    .as_str()
                    .or_else(|| post["text"]["content"].as_str())
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// `content` without the continuation mark.
fn continued(content: &str) -> &str {
    content.strip_suffix(CONTINUED).unwrap_or(content)
}

#[async_trait]
impl ChatHarness for WecomChat {
    fn name(&self) -> &'static str {
        match self.receive {
            Receive::Webhook => "wecom/webhook",
            Receive::LongConnection => "wecom/long_connection",
        }
    }

    fn platform(&self) -> Platform {
        Platform::Wecom
    }

    fn integration(&self) -> Value {
        match self.receive {
            Receive::Webhook => json!({"name": "bot", "platform": "wecom", "mode": "webhook",
                "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}}),
            Receive::LongConnection => json!({"name": "bot", "platform": "wecom", "mode": "long_connection",
                "credentials": {"bot_id": BOT, "secret": BOT_SECRET}}),
        }
    }

    fn endpoints(&self, endpoints: &mut imgate_channels::Endpoints) {
        endpoints.wecom.long_connection = self.fake.url.clone();
    }

    fn connector(&self, deps: &Deps) -> Option<Arc<dyn Connector>> {
        (self.receive == Receive::LongConnection).then(|| {
            Arc::new(imgate_channels::wecom::long::Connector::new(
                deps.store.clone(),
                self.fake.url.clone(),
            )) as Arc<dyn Connector>
        })
    }

    async fn say(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, _from_bot: bool) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let msgid = format!("conformance-msg-{n}");
        let user = format!("user{n}");
        let group = (chat != Chat::Direct).then_some("conformance-group");
        match self.receive {
            Receive::Webhook => {
                let response_url = format!("{}/cgi-bin/aibot/response?response_code={msgid}", self.sink);
                let callback = self.sim.text(&msgid, &user, group, text, Some(&response_url));
                let body = self
                    .post(gateway_base, integration, &callback.query, callback.body)
                    .await;
                let first = self.sim.read_stream(&body).expect("the first stream frame");
                let url = format!("{gateway_base}/api/wecom/webhook/{integration}");
                self.streams
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(msgid.clone(), (first.id, url));
            }
            Receive::LongConnection => {
                let mut body = json!({"msgid": msgid, "aibotid": BOT, "chattype": "single", "from": {"userid": user},
                    "msgtype": "text", "text": {"content": text}});
                if let Some(chatid) = group {
                    body["chattype"] = json!("group");
                    body["chatid"] = json!(chatid);
                    body["text"]["content"] = json!(format!("@bot {text}"));
                }
                for _ in 0..500 {
                    if self.fake.live(BOT) > 0 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                let req_id = self.fake.push_message(BOT, body).expect("a long connection");
                return format!("{req_id} {user}");
            }
        }
        msgid
    }

    /// Callback mode: the stream as a refresh shows it, then the `response_url` messages.
    /// Long connection: the finished stream of the request, then the pushed messages to the chat.
    async fn answer(&self, said: &str) -> Option<String> {
        match self.receive {
            Receive::Webhook => {
                let (stream, url) = self
                    .streams
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(said)
                    .cloned()?;
                let refresh = self.sim.refresh(
                    &format!("{said}-refresh-{}", self.next.fetch_add(1, Ordering::SeqCst)),
                    &stream,
                );
                let response = self
                    .http
                    .post(format!("{url}?{}", refresh.query))
                    .body(refresh.body)
                    .send()
                    .await
                    .ok()?;
                let frame = self.sim.read_stream(&response.text().await.ok()?).ok()?;
                if !frame.finished && (frame.content.is_empty() || frame.content == THINKING) {
                    return None;
                }
                let mut text = continued(&frame.content).to_owned();
                text.extend(self.response_posts(said));
                Some(text)
            }
            Receive::LongConnection => {
                let (req_id, user) = said.split_once(' ')?;
                let replies = self.fake.replies(BOT);
                let finished = replies.iter().find(|s| {
                    s.cmd() == "aibot_respond_msg"
                        && s.req_id() == req_id
                        && s.frame["body"]["stream"]["finish"] == true
                })?;
                let mut text =
                    continued(finished.frame["body"]["stream"]["content"].as_str().unwrap_or_default()).to_owned();
                for pushed in replies
                    .iter()
                    .filter(|s| s.cmd() == "aibot_send_msg" && s.frame["body"]["chatid"] == user)
                {
                    text.push_str(pushed.frame["body"]["markdown"]["content"].as_str().unwrap_or_default());
                }
                Some(text)
            }
        }
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::GroupWithoutMention => {
                Support::No("WeCom delivers only group messages that @-mention the bot")
            }
            ChatScenario::FromAnotherBot => Support::No("WeCom smart bots receive messages from people only"),
            ChatScenario::LongAnswer => Support::Yes,
        }
    }
}
