//! WeCom smart bots as a user meets them: encrypted callbacks whose answer WeCom pulls with
//! refresh callbacks (and a `response_url` for what does not fit), or callbacks on the long
//! connection answered with stream frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use axum::Json;
use axum::extract::Query;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imgate_channels::wecom::simulate::{SignedCallback, Simulator, StreamFrame};
use imgate_channels::wecom::verify::encrypt_media;
use imgate_channels::wecom::webhook::THINKING;
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::Support;
use super::chat::{Chat, ChatHarness, ChatScenario, Picture};
use crate::fake_media::{Cdn, File, PNG};
use crate::fake_wecom_long::FakeWecom;

const TOKEN: &str = "conformanceChatToken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const BOT: &str = "conformance-bot";
const BOT_SECRET: &str = "conformance-bot-secret";
/// A long-connection image's own `aeskey` (vector V5's key).
const FILE_KEY: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
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
    /// Each message as delivered, by msgid (callback mode: query and body; long connection:
    /// the callback's body).
    delivered: Mutex<HashMap<String, (String, String)>>,
    /// Callback mode: the sender of each message, by msgid.
    senders: Mutex<HashMap<String, String>>,
    http: reqwest::Client,
    next: AtomicU64,
    /// Where the pictures users send are served, encrypted.
    cdn: Cdn,
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
            delivered: Mutex::default(),
            http: reqwest::Client::new(),
            senders: Mutex::default(),
            next: AtomicU64::new(1),
            cdn: Cdn::start().await,
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

    /// Pushes a callback on the long connection once one is open; returns its req_id.
    async fn push(&self, body: Value) -> String {
        for _ in 0..500 {
            if self.fake.live(BOT) > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.fake.push_message(BOT, body).expect("a long connection")
    }

    /// The `response_url` of callback `msgid`.
    fn response_url(&self, msgid: &str) -> String {
        format!("{}/cgi-bin/aibot/response?response_code={msgid}", self.sink)
    }

    /// Callback mode: posts `callback` (message `msgid`) and notes its stream.
    async fn call_back(&self, gateway_base: &str, integration: &str, msgid: &str, callback: SignedCallback) {
        self.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(msgid.to_owned(), (callback.query.clone(), callback.body.clone()));
        let body = self
            .post(gateway_base, integration, &callback.query, callback.body)
            .await;
        let first = self.sim.read_stream(&body).expect("the first stream frame");
        let url = format!("{gateway_base}/api/wecom/webhook/{integration}");
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(msgid.to_owned(), (first.id, url));
    }

    /// Long connection: pushes callback `body` from `user`; returns what finds its answer.
    async fn push_from(&self, user: &str, body: Value) -> String {
        self.delivered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user.to_owned(), (String::new(), body.to_string()));
        let req_id = self.push(body).await;
        format!("{req_id} {user}")
    }

    /// Callback mode: a refresh callback for the stream of `said`; the frame WeCom is answered.
    async fn refresh(&self, said: &str) -> Option<Value> {
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
        let reply = self.sim.read_reply(&response.text().await.ok()?).ok()?;
        reply.get("stream").is_some().then_some(reply)
    }

    /// Plays `text` from `user` in `chat`; returns what finds its answer.
    async fn say_from(&self, gateway_base: &str, integration: &str, chat: Chat, text: &str, user: String) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let msgid = format!("conformance-msg-{n}");
        let group = (chat != Chat::Direct).then_some("conformance-group");
        match self.receive {
            Receive::Webhook => {
                self.senders
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(msgid.clone(), user.clone());
                let callback = self
                    .sim
                    .text(&msgid, &user, group, text, Some(&self.response_url(&msgid)));
                self.call_back(gateway_base, integration, &msgid, callback).await;
            }
            Receive::LongConnection => {
                let mut body = json!({"msgid": msgid, "aibotid": BOT, "chattype": "single", "from": {"userid": user},
                    "msgtype": "text", "text": {"content": text}});
                if let Some(chatid) = group {
                    body["chattype"] = json!("group");
                    body["chatid"] = json!(chatid);
                    body["text"]["content"] = json!(format!("@bot {text}"));
                }
                return self.push_from(&user, body).await;
            }
        }
        msgid
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
        let user = format!("user{}", self.next.load(Ordering::SeqCst));
        self.say_from(gateway_base, integration, chat, text, user).await
    }

    /// The user of `said` writes again: the same conversation.
    async fn say_again_from(&self, gateway_base: &str, integration: &str, said: &str, text: &str) -> String {
        let user = match self.receive {
            Receive::Webhook => self
                .senders
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(said)
                .cloned()
                .expect("a message said"),
            Receive::LongConnection => said.split_once(' ').expect("req_ids and user").1.to_owned(),
        };
        self.say_from(gateway_base, integration, Chat::Direct, text, user).await
    }

    /// Callback mode: the stream as a refresh shows it, then the `response_url` messages.
    /// Long connection: the finished stream of the request, then the pushed messages to the chat.
    async fn answer(&self, said: &str) -> Option<String> {
        match self.receive {
            Receive::Webhook => {
                let frame = self.refresh(said).await?;
                let frame = StreamFrame {
                    id: frame["stream"]["id"].as_str().unwrap_or_default().to_owned(),
                    content: frame["stream"]["content"].as_str().unwrap_or_default().to_owned(),
                    finished: frame["stream"]["finish"].as_bool().unwrap_or(false),
                    card: frame.get("template_card").cloned(),
                };
                if !frame.finished && (frame.content.is_empty() || frame.content == THINKING) {
                    return None;
                }
                let mut text = continued(&frame.content).to_owned();
                text.extend(self.response_posts(said));
                Some(text)
            }
            Receive::LongConnection => {
                let (req_ids, user) = said.split_once(' ')?;
                let req_ids: Vec<&str> = req_ids.split('|').collect();
                let replies = self.fake.replies(BOT);
                let finished = replies.iter().find(|s| {
                    s.cmd() == "aibot_respond_msg"
                        && req_ids.contains(&s.req_id())
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

    /// Callback mode: the images of the finished stream's frame (`msg_item`), by MD5, each
    /// checked against its base64. Long connection: the `image` messages pushed to the chat,
    /// by `media_id` (uploaded over the socket first).
    async fn images(&self, said: &str) -> Vec<String> {
        if self.receive == Receive::LongConnection {
            let Some((_, user)) = said.split_once(' ') else {
                return Vec::new();
            };
            return self.fake.images_to(user).into_iter().map(|i| i.media_id).collect();
        }
        let Some(frame) = self.refresh(said).await else {
            return Vec::new();
        };
        frame["stream"]["msg_item"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["msgtype"] == "image")
            .map(|item| {
                let base64 = item["image"]["base64"].as_str().unwrap_or_default();
                let md5 = item["image"]["md5"].as_str().unwrap_or_default().to_owned();
                let bytes = STANDARD.decode(base64).expect("msg_item base64");
                let digest: String = Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(digest, md5, "{}: msg_item md5 is the MD5 of its bytes", self.name());
                md5
            })
            .collect()
    }

    /// The same callback (same msgid) once more: posted again in callback mode, pushed with
    /// a new req_id on the long connection (the answer may go on there).
    async fn again(&self, gateway_base: &str, integration: &str, said: &str) -> String {
        match self.receive {
            Receive::Webhook => {
                let (query, body) = self
                    .delivered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(said)
                    .cloned()
                    .expect("a callback said");
                self.post(gateway_base, integration, &query, body).await;
                said.to_owned()
            }
            Receive::LongConnection => {
                let (req_ids, user) = said.split_once(' ').expect("req_ids and user");
                let body = self
                    .delivered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(user)
                    .map(|(_, body)| body.clone())
                    .expect("a callback said");
                let body: Value = serde_json::from_str(&body).expect("the callback body");
                let req_id = self.push(body).await;
                format!("{req_ids}|{req_id} {user}")
            }
        }
    }

    /// Long connection: WeCom has no ACK for a callback; it is taken when the bot answers on
    /// its req_id (the relay opens the stream only once the message is queued; otherwise it
    /// reopens the connection for WeCom to deliver again).
    async fn taken(&self, said: &str) -> bool {
        let Some((req_ids, _)) = said.split_once(' ') else {
            return false;
        };
        let req_ids: Vec<&str> = req_ids.split('|').collect();
        self.fake
            .replies(BOT)
            .iter()
            .any(|s| s.cmd() == "aibot_respond_msg" && req_ids.contains(&s.req_id()))
    }

    fn connections(&self) -> (usize, usize) {
        (self.fake.live(BOT), self.fake.most_live(BOT))
    }

    fn supports(&self, scenario: ChatScenario) -> Support {
        match scenario {
            ChatScenario::QueueOutage | ChatScenario::TwoRelays if self.receive == Receive::Webhook => {
                Support::No("callback mode holds no connection: WeCom retries on the HTTP status")
            }
            ChatScenario::GroupWithoutMention => {
                Support::No("WeCom delivers only group messages that @-mention the bot")
            }
            ChatScenario::FromAnotherBot => Support::No("WeCom smart bots receive messages from people only"),
            ChatScenario::OversizedImageIn => Support::No(
                "WeCom states no size for a smart bot's media: a file past the cap is cut off as it downloads \
                 (the fetcher tests in tests/tests/media_in.rs)",
            ),
            ChatScenario::LongAnswer
            | ChatScenario::Redelivery
            | ChatScenario::QueueOutage
            | ChatScenario::TwoRelays
            | ChatScenario::ImageIn
            | ChatScenario::ImageOut => Support::Yes,
        }
    }
    /// An image message in a direct chat: its URL on the fake CDN serves the picture encrypted
    /// with the bot's EncodingAESKey (callback mode) or with the URL's own `aeskey` (long
    /// connection).
    async fn say_image(&self, gateway_base: &str, integration: &str, _picture: Picture) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let msgid = format!("conformance-image-{n}");
        let user = format!("user{n}");
        let body = json!({"msgid": msgid, "aibotid": BOT, "chattype": "single", "from": {"userid": user},
            "msgtype": "image"});
        match self.receive {
            Receive::Webhook => {
                let sealed = encrypt_media(AES_KEY, PNG).expect("the bot key");
                let url = self.cdn.add(&msgid, File::png().serving(sealed));
                let mut body = body;
                body["image"] = json!({"url": url});
                body["response_url"] = json!(self.response_url(&msgid));
                self.call_back(gateway_base, integration, &msgid, self.sim.sign(&body))
                    .await;
                msgid
            }
            Receive::LongConnection => {
                let sealed = encrypt_media(FILE_KEY, PNG).expect("the file key");
                let url = self.cdn.add(&msgid, File::png().serving(sealed));
                let mut body = body;
                body["image"] = json!({"url": url, "aeskey": FILE_KEY});
                self.push_from(&user, body).await
            }
        }
    }

    /// Downloads from the fake CDN.
    fn downloads(&self) -> usize {
        self.cdn.library.all_downloads()
    }
}
