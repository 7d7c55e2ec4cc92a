//! Lark / Feishu bots end to end on the embedded store, against the fake Lark of
//! `imgate_tests::fake_lark`: webhook callbacks through the gateway's route, the queue worker,
//! agents, and replies through the Open API (tenant tokens, message replies, CardKit streaming
//! cards); and the long connection through the relay supervisor.

#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use imgate_channels::lark::verify::signature;
use imgate_channels::lark::{self, EventCipher};
use imgate_core::dispatch::{DispatchSettings, Dispatcher, NEW_SESSION_ACTION};
use imgate_core::ids::IntegrationId;
use imgate_core::ports::{Deps, EventLogEntry};
use imgate_core::{Platform, Timestamp};
use imgate_tests::fake_lark::{CardRecord, FakeLark, SentMessage, USER_OPEN_ID};
use imgate_tests::world::{TestOrg, fast_relay, serve_gateway, start_relay};
use serde_json::{Value, json};
use tokio::sync::watch;

const APP_ID: &str = "cli_lark_e2e";
const APP_SECRET: &str = "lark-app-secret-0123456789";
const TOKEN: &str = "lark-verification-token";
const ENCRYPT_KEY: &str = "lark-encrypt-key-0123";
const WAIT: Duration = Duration::from_secs(30);
const ELEMENT: &str = lark::reply::card::ANSWER_ELEMENT;

struct World {
    deps: Deps,
    org: TestOrg,
    fake: FakeLark,
    /// The gateway's HTTP base (admin API + webhooks).
    base: String,
    http: reqwest::Client,
    ids: Mutex<Vec<IntegrationId>>,
    stop: watch::Sender<bool>,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A fresh embedded store and queue (2 receives per message).
async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

/// A fresh table and queues on moto's server (2 receives per message).
async fn aws() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

/// The world on `deps`, with replies cut into cards of at most `card_budget` characters.
async fn world_on(deps: Deps, card_budget: usize) -> World {
    let org = TestOrg::create(&deps).await;
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let http = reqwest::Client::new();
    let mut endpoints = imgate_channels::Endpoints {
        lark: lark::Endpoints::single(&fake.base),
        ..imgate_channels::Endpoints::default()
    };
    endpoints.wecom.api = "http://127.0.0.1:9".into();
    let channels = imgate_channels::Channels::new(&deps, &http, &endpoints);
    let replier = lark::reply::LarkReplier::new(deps.store.clone(), lark::api(&deps, &http, &endpoints.lark))
        .with_interval(Duration::from_millis(120))
        .with_card_budget(card_budget);
    let repliers = channels.repliers().with(Platform::Lark, Arc::new(replier));
    let dispatcher = Dispatcher::new(
        &deps,
        Arc::new(imgate_agents::Agents::new(http.clone()).with_retry(imgate_agents::RetryPolicy::none())),
        repliers,
        DispatchSettings {
            max_receives: 2,
            update_interval: Duration::from_millis(10),
            ..DispatchSettings::default()
        },
    );
    let (base, stop) = serve_gateway(&deps, org.admin.clone(), dispatcher, channels.webhooks()).await;
    World {
        deps,
        org,
        fake,
        base,
        http,
        ids: Mutex::default(),
        stop,
    }
}

async fn world() -> World {
    world_on(embedded().await, lark::reply::CARD_TEXT_BUDGET).await
}

impl World {
    /// A Lark integration in `mode` with `credentials`, bound to `agent` with `trigger` options.
    async fn bot_with(&self, mode: &str, credentials: Value, agent: &str, trigger: Value) -> IntegrationId {
        let integration = json!({"name": "lark", "platform": "lark", "mode": mode, "credentials": credentials});
        let id = self.org.bot(integration, Some(agent), trigger).await;
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// A webhook integration with both secrets, bound to the echo agent.
    async fn webhook_bot(&self) -> IntegrationId {
        let credentials = json!({"app_id": APP_ID, "app_secret": APP_SECRET,
            "verification_token": TOKEN, "encrypt_key": ENCRYPT_KEY});
        self.bot_with("webhook", credentials, &self.org.echo_agent_id, json!({}))
            .await
    }

    /// An agent streaming `chunks` with a pause before each.
    async fn slow_agent(&self, chunks: &[&str], pause: Duration) -> String {
        let base_url = slow_agent(chunks, pause).await;
        self.agent(json!({"name": "slow", "kind": "openai_compatible",
            "config": {"base_url": base_url, "model": "m", "api_key": "k"}}))
            .await
    }

    async fn agent(&self, body: Value) -> String {
        self.org.agent(body).await
    }

    /// POSTs `event` encrypted and signed with a timestamp `age` in the past.
    async fn post_aged(&self, id: &str, event: &Value, age: Duration) -> reqwest::Response {
        let body = json!({"encrypt": EventCipher::new(ENCRYPT_KEY).encrypt(event.to_string().as_bytes())}).to_string();
        let timestamp = Timestamp::now().minus(age).as_secs().to_string();
        let sign = signature(&timestamp, "nonce-1", ENCRYPT_KEY, body.as_bytes());
        self.post_raw(id, body.into_bytes(), &timestamp, &sign).await
    }

    async fn post(&self, id: &str, event: &Value) -> reqwest::Response {
        self.post_aged(id, event, Duration::ZERO).await
    }

    async fn post_raw(&self, id: &str, body: Vec<u8>, timestamp: &str, sign: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/lark/webhook/{id}", self.base))
            .header("content-type", "application/json")
            .header("x-lark-request-timestamp", timestamp)
            .header("x-lark-request-nonce", "nonce-1")
            .header("x-lark-signature", sign)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// A user's text message event carrying the Verification Token.
    fn message(&self, message_id: &str, chat_id: &str, group: bool, text: &str) -> Value {
        let mut event = self.fake.message_event(message_id, chat_id, group, text);
        event["header"]["token"] = json!(TOKEN);
        event
    }

    /// Waits until `done`; on timeout fails with what the fake and the store saw.
    async fn wait<F, Fut>(&self, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done().await {
            if tokio::time::Instant::now() >= deadline {
                let mut report = String::new();
                for call in self.fake.calls() {
                    report.push_str(&format!(
                        "  {} {} -> {} {:?}\n",
                        call.method, call.path, call.status, call.code
                    ));
                }
                let ids = self.ids.lock().unwrap().clone();
                for id in &ids {
                    for e in self.events(id).await {
                        report.push_str(&format!("  {} {} {:?} {}\n", e.at, e.kind, e.event_id, e.detail));
                    }
                }
                panic!("timed out waiting for {what}\n{report}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the card replying to `message_id` to be finished and returns it.
    async fn finished_card(&self, message_id: &str) -> CardRecord {
        self.wait("a finished card", || async {
            self.reply_card(message_id).is_some_and(|c| !c.streaming_mode)
        })
        .await;
        self.reply_card(message_id).unwrap()
    }

    /// The card entity sent as a reply to `message_id`.
    fn reply_card(&self, message_id: &str) -> Option<CardRecord> {
        let sent = self.replies_to(message_id);
        let card_id = sent.iter().find_map(|m| m.card_id().map(str::to_owned))?;
        self.fake.card(&card_id)
    }

    fn replies_to(&self, message_id: &str) -> Vec<SentMessage> {
        self.fake
            .sent()
            .into_iter()
            .filter(|m| m.reply_to.as_deref() == Some(message_id))
            .collect()
    }

    async fn events(&self, id: &IntegrationId) -> Vec<EventLogEntry> {
        self.deps.store.recent_events(id, 500, Timestamp::now()).await.unwrap()
    }

    async fn count(&self, id: &IntegrationId, kind: &str) -> usize {
        self.events(id).await.iter().filter(|e| e.kind == kind).count()
    }

    /// Messages waiting in the queue.
    async fn queued(&self) -> usize {
        let messages = self.deps.queue.receive(100, Duration::from_millis(1)).await.unwrap();
        messages.len()
    }
}

/// An OpenAI-compatible agent on 127.0.0.1 that streams `chunks` over SSE, pausing before each.
async fn slow_agent(chunks: &[&str], pause: Duration) -> String {
    let chunks: Arc<Vec<String>> = Arc::new(chunks.iter().map(|c| (*c).to_owned()).collect());
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let chunks = chunks.clone();
            async move {
                let events = futures_util::stream::unfold(0usize, move |i| {
                    let chunks = chunks.clone();
                    async move {
                        if i > chunks.len() {
                            return None;
                        }
                        tokio::time::sleep(pause).await;
                        let data = match chunks.get(i) {
                            Some(chunk) => json!({"choices": [{"index": 0, "delta": {"content": chunk}}]}).to_string(),
                            None => "[DONE]".to_owned(),
                        };
                        Some((Ok::<_, Infallible>(Bytes::from(format!("data: {data}\n\n"))), i + 1))
                    }
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(events))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn history(card: &CardRecord) -> Vec<String> {
    card.elements[ELEMENT].history.clone()
}

#[tokio::test]
async fn embedded_a_webhook_message_is_answered_with_a_streamed_card() {
    a_webhook_message_is_answered_with_a_streamed_card(embedded().await).await;
}

#[tokio::test]
async fn aws_a_webhook_message_is_answered_with_a_streamed_card() {
    a_webhook_message_is_answered_with_a_streamed_card(aws().await).await;
}

async fn a_webhook_message_is_answered_with_a_streamed_card(deps: Deps) {
    let w = world_on(deps, lark::reply::CARD_TEXT_BUDGET).await;
    let slow = w
        .slow_agent(
            &["Hello ", "from ", "a ", "slow ", "agent."],
            Duration::from_millis(150),
        )
        .await;
    let credentials = json!({"app_id": APP_ID, "app_secret": APP_SECRET,
        "verification_token": TOKEN, "encrypt_key": ENCRYPT_KEY});
    let id = w.bot_with("webhook", credentials, &slow, json!({})).await;
    let started = std::time::Instant::now();
    let response = w.post(id.as_str(), &w.message("om_1", "oc_p2p", false, "hi")).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acknowledged within Lark's 3 s"
    );
    assert_eq!(response.text().await.unwrap(), r#"{"msg":"success"}"#);

    let card = w.finished_card("om_1").await;
    let history = history(&card);
    assert_eq!(history.first().unwrap(), lark::reply::card::THINKING, "{history:?}");
    assert_eq!(card.content(ELEMENT), Some("Hello from a slow agent."));
    assert!(
        history
            .iter()
            .any(|t| t.starts_with("Hello") && t != "Hello from a slow agent."),
        "the answer streamed in steps: {history:?}"
    );
    assert!(card.sequences.windows(2).all(|s| s[0] < s[1]), "{:?}", card.sequences);
    assert_eq!(card.summary.as_deref(), Some("Hello from a slow agent."));
    assert!(w.fake.card_rate_violations().is_empty());
    let replies = w.replies_to("om_1");
    assert_eq!(replies.len(), 1, "one reply: the card");
    assert!(replies[0].uuid.is_some());
    assert_eq!(w.fake.token_issues(), 1, "one tenant token for everything");
}

#[tokio::test]
async fn url_verification_is_answered_with_the_challenge_plain_and_encrypted() {
    let w = world().await;
    let id = w.webhook_bot().await;
    let plain = json!({"challenge": "c-plain", "token": TOKEN, "type": "url_verification"});
    let encrypted = json!({"encrypt": EventCipher::new(ENCRYPT_KEY).encrypt(
        json!({"challenge": "c-enc", "token": TOKEN, "type": "url_verification"}).to_string().as_bytes())});
    for (body, expected) in [(plain, "c-plain"), (encrypted, "c-enc")] {
        let started = std::time::Instant::now();
        let response = w
            .http
            .post(format!("{}/api/lark/webhook/{id}", w.base))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer, json!({"challenge": expected}));
    }
    let wrong = json!({"challenge": "c", "token": "wrong", "type": "url_verification"});
    let response = w
        .http
        .post(format!("{}/api/lark/webhook/{id}", w.base))
        .body(wrong.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(w.queued().await, 0);
}

#[tokio::test]
async fn bad_callbacks_get_a_clear_error_and_change_nothing() {
    let w = world().await;
    let id = w.webhook_bot().await;
    let event = w.message("om_bad", "oc_p2p", false, "hi");
    let body = json!({"encrypt": EventCipher::new(ENCRYPT_KEY).encrypt(event.to_string().as_bytes())}).to_string();
    let now = Timestamp::now().as_secs().to_string();
    let good = signature(&now, "nonce-1", ENCRYPT_KEY, body.as_bytes());

    let response = w
        .post_raw(id.as_str(), body.clone().into_bytes(), &now, &"0".repeat(64))
        .await;
    assert_eq!(response.status(), 401, "bad signature");
    assert!(response.text().await.unwrap().contains("signature"));

    let mut wrong_token = event.clone();
    wrong_token["header"]["token"] = json!("not-the-token");
    let response = w.post(id.as_str(), &wrong_token).await;
    assert_eq!(response.status(), 401, "bad verification token");

    let response = w.post_aged(id.as_str(), &event, Duration::from_secs(8 * 3600)).await;
    assert_eq!(response.status(), 401, "stale timestamp");

    let broken = r#"{"encrypt":"AAECAwQFBgcICQoLDA0ODw=="}"#;
    let sign = signature(&now, "nonce-1", ENCRYPT_KEY, broken.as_bytes());
    let response = w.post_raw(id.as_str(), broken.into(), &now, &sign).await;
    assert_eq!(response.status(), 400, "broken ciphertext");

    let not_json = b"{not json".to_vec();
    let sign = signature(&now, "nonce-1", ENCRYPT_KEY, &not_json);
    let response = w.post_raw(id.as_str(), not_json, &now, &sign).await;
    assert_eq!(response.status(), 400, "broken JSON");
    let text = response.text().await.unwrap();
    assert!(text.contains("malformed JSON"), "{text}");

    let unknown = IntegrationId::generate();
    let response = w
        .post_raw(unknown.as_str(), body.clone().into_bytes(), &now, &good)
        .await;
    assert_eq!(response.status(), 404, "unknown integration");

    let huge = vec![b' '; imgate_http::BODY_LIMIT_BYTES + 1];
    let response = w.post_raw(id.as_str(), huge, &now, &good).await;
    assert_eq!(response.status(), 413, "oversized body");

    assert_eq!(w.queued().await, 0, "nothing enqueued");
    assert!(w.fake.sent().is_empty(), "nothing answered");
    assert_eq!(w.count(&id, "rejected").await, 5);
    let log = format!("{:?}", w.events(&id).await);
    assert!(
        !log.contains(ENCRYPT_KEY) && !log.contains(TOKEN),
        "no secrets in the event log"
    );

    // The same body, correctly signed, still goes through: nothing was claimed by the refusals.
    let response = w.post_raw(id.as_str(), body.into_bytes(), &now, &good).await;
    assert_eq!(response.status(), 200);
    w.finished_card("om_bad").await;
}

#[tokio::test]
async fn embedded_a_message_delivered_again_is_answered_once() {
    a_message_delivered_again_is_answered_once(embedded().await).await;
}

#[tokio::test]
async fn aws_a_message_delivered_again_is_answered_once() {
    a_message_delivered_again_is_answered_once(aws().await).await;
}

async fn a_message_delivered_again_is_answered_once(deps: Deps) {
    let w = world_on(deps, lark::reply::CARD_TEXT_BUDGET).await;
    let id = w.webhook_bot().await;
    let event = w.message("om_dup", "oc_p2p", false, "once");
    for _ in 0..3 {
        assert_eq!(w.post(id.as_str(), &event).await.status(), 200);
    }
    // The same message under a new event id (§2.10) is the same message.
    let mut again = event.clone();
    again["header"]["event_id"] = json!("ev_other");
    assert_eq!(w.post(id.as_str(), &again).await.status(), 200);
    let card = w.finished_card("om_dup").await;
    assert_eq!(card.content(ELEMENT), Some("You said: once"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.replies_to("om_dup").len(), 1, "one card, no second answer");
    assert_eq!(w.count(&id, "duplicate").await, 3);
    assert_eq!(w.count(&id, "enqueued").await, 1);
}

#[tokio::test]
async fn groups_answer_mentions_by_default_and_every_message_when_configured() {
    let w = world().await;
    let id = w.webhook_bot().await;
    assert_eq!(
        w.post(id.as_str(), &w.message("om_g1", "oc_group", true, "with mention"))
            .await
            .status(),
        200
    );
    let card = w.finished_card("om_g1").await;
    assert_eq!(card.content(ELEMENT), Some("You said: with mention"));

    let mut unmentioned = w.message("om_g2", "oc_group", true, "x");
    unmentioned["event"]["message"]["content"] = json!(json!({"text": "just chatting"}).to_string());
    unmentioned["event"]["message"]["mentions"] = json!([]);
    assert_eq!(w.post(id.as_str(), &unmentioned).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(w.replies_to("om_g2").is_empty(), "not mentioned: not answered");

    let credentials = json!({"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN,
        "encrypt_key": ENCRYPT_KEY});
    let all = w
        .bot_with(
            "webhook",
            credentials,
            &w.org.echo_agent_id,
            json!({"groupPolicy": "all_messages"}),
        )
        .await;
    let mut unmentioned = unmentioned.clone();
    unmentioned["event"]["message"]["message_id"] = json!("om_g3");
    w.fake.note_message("om_g3", "oc_group");
    assert_eq!(w.post(all.as_str(), &unmentioned).await.status(), 200);
    let card = w.finished_card("om_g3").await;
    assert_eq!(card.content(ELEMENT), Some("You said: just chatting"));
}

#[tokio::test]
async fn messages_from_other_bots_are_not_answered() {
    let w = world().await;
    let credentials = json!({"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN,
        "encrypt_key": ENCRYPT_KEY});
    let id = w
        .bot_with(
            "webhook",
            credentials,
            &w.org.echo_agent_id,
            json!({"groupPolicy": "all_messages"}),
        )
        .await;
    let mut from_bot = w.message("om_bot1", "oc_group", true, "beep");
    from_bot["event"]["sender"]["sender_type"] = json!("app");
    assert_eq!(w.post(id.as_str(), &from_bot).await.status(), 200);
    w.wait("the dispatcher to skip it", || async {
        w.events(&id)
            .await
            .iter()
            .any(|e| e.kind == "ignored" && e.detail.contains("bot"))
    })
    .await;
    assert!(w.replies_to("om_bot1").is_empty(), "no answer to a bot, no loop");
    // A person in the same group is answered.
    w.post(id.as_str(), &w.message("om_user1", "oc_group", true, "hi"))
        .await;
    w.finished_card("om_user1").await;
}

#[tokio::test]
async fn a_refused_token_is_renewed_and_rate_limits_are_waited_out() {
    let w = world().await;
    let id = w.webhook_bot().await;
    w.post(id.as_str(), &w.message("om_t1", "oc_p2p", false, "first")).await;
    w.finished_card("om_t1").await;
    assert_eq!(w.fake.token_issues(), 1);

    w.fake.invalidate_tokens();
    w.fake.rate_limit_next(2);
    w.post(id.as_str(), &w.message("om_t2", "oc_p2p", false, "second"))
        .await;
    let card = w.finished_card("om_t2").await;
    assert_eq!(card.content(ELEMENT), Some("You said: second"));
    assert_eq!(w.fake.token_issues(), 2, "renewed once after 99991663");
    let limited = w.fake.calls().iter().filter(|c| c.status == 429).count();
    assert_eq!(limited, 2);
}

#[tokio::test]
async fn without_card_permission_the_answer_is_rich_text() {
    let w = world().await;
    let id = w.webhook_bot().await;
    w.fake.refuse_card_creation(true);
    w.post(id.as_str(), &w.message("om_p1", "oc_p2p", false, "plain please"))
        .await;
    w.wait("a rich-text reply", || async { !w.replies_to("om_p1").is_empty() })
        .await;
    let replies = w.replies_to("om_p1");
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].msg_type, "post");
    assert_eq!(replies[0].text().as_deref(), Some("You said: plain please"));
    let log = w.events(&id).await;
    assert!(
        log.iter()
            .any(|e| e.kind == "error" && e.detail.contains("card refused")),
        "the operator is told why: {log:?}"
    );
}

#[tokio::test]
async fn when_cards_cannot_be_sent_the_answer_is_rich_text() {
    let w = world().await;
    let id = w.webhook_bot().await;
    w.fake.refuse_interactive_messages(true);
    w.post(id.as_str(), &w.message("om_p2", "oc_p2p", false, "no cards here"))
        .await;
    w.wait("a rich-text reply", || async {
        w.replies_to("om_p2").iter().any(|m| m.msg_type == "post")
    })
    .await;
    let replies = w.replies_to("om_p2");
    assert_eq!(replies.len(), 1, "only the rich-text answer was accepted");
    assert_eq!(replies[0].text().as_deref(), Some("You said: no cards here"));
    assert!(w.count(&id, "error").await >= 1, "the operator is told why");
}

#[tokio::test]
async fn a_recalled_message_is_answered_in_the_chat() {
    let w = world().await;
    let id = w.webhook_bot().await;
    let event = w.message("om_r1", "oc_recall", false, "gone");
    w.fake.recall("om_r1");
    w.post(id.as_str(), &event).await;
    w.wait("a card in the chat", || async {
        w.fake
            .sent()
            .iter()
            .any(|m| m.receive_id.as_deref() == Some("oc_recall") && m.card_id().is_some())
    })
    .await;
    let sent = w.fake.sent();
    let card_id = sent.iter().find_map(|m| m.card_id()).unwrap().to_owned();
    w.wait("the card to finish", || async {
        w.fake.card(&card_id).is_some_and(|c| !c.streaming_mode)
    })
    .await;
    assert_eq!(w.fake.card(&card_id).unwrap().content(ELEMENT), Some("You said: gone"));
}

#[tokio::test]
async fn a_long_answer_continues_in_a_new_card() {
    let w = world_on(embedded().await, 60).await;
    let id = w.webhook_bot().await;
    let text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho \
                sigma tau upsilon phi chi psi omega";
    w.post(id.as_str(), &w.message("om_long", "oc_p2p", false, text)).await;
    let answer = format!("You said: {text}");
    w.wait("every card finished", || async {
        let cards: Vec<_> = w
            .replies_to("om_long")
            .iter()
            .filter_map(|m| m.card_id().and_then(|c| w.fake.card(c)))
            .collect();
        cards.len() >= 2
            && cards.iter().all(|c| !c.streaming_mode)
            && cards
                .last()
                .and_then(|c| c.content(ELEMENT))
                .is_some_and(|t| t.ends_with("omega"))
    })
    .await;
    let shown: Vec<String> = w
        .replies_to("om_long")
        .iter()
        .filter_map(|m| m.card_id().and_then(|c| w.fake.card(c)))
        .map(|c| c.content(ELEMENT).unwrap().trim_end_matches("\n\n…").to_owned())
        .collect();
    assert!(shown.iter().all(|s| s.chars().count() <= 60), "{shown:?}");
    assert_eq!(shown.concat(), answer, "nothing lost or repeated across cards");
}

#[tokio::test]
async fn embedded_a_failed_agent_shows_an_error_card_whose_button_starts_a_new_conversation() {
    a_failed_agent_shows_an_error_card_whose_button_starts_a_new_conversation(embedded().await).await;
}

#[tokio::test]
async fn aws_a_failed_agent_shows_an_error_card_whose_button_starts_a_new_conversation() {
    a_failed_agent_shows_an_error_card_whose_button_starts_a_new_conversation(aws().await).await;
}

async fn a_failed_agent_shows_an_error_card_whose_button_starts_a_new_conversation(deps: Deps) {
    let w = world_on(deps, lark::reply::CARD_TEXT_BUDGET).await;
    let dead = w
        .agent(json!({"name": "dead", "kind": "openai_compatible",
            "config": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "k"}}))
        .await;
    let credentials = json!({"app_id": APP_ID, "app_secret": APP_SECRET,
        "verification_token": TOKEN, "encrypt_key": ENCRYPT_KEY});
    let id = w.bot_with("webhook", credentials, &dead, json!({})).await;
    w.post(id.as_str(), &w.message("om_f1", "oc_p2p", false, "hello?"))
        .await;
    let card = w.finished_card("om_f1").await;
    assert!(card.content(ELEMENT).unwrap().contains("the agent failed"), "{card:?}");
    let button = card.json["body"]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["tag"] == "button")
        .cloned()
        .expect("a new-conversation button");
    let value = button["behaviors"][0]["value"].clone();
    assert_eq!(value["action"], NEW_SESSION_ACTION);

    // The click, as Lark delivers it (card.action.trigger), starts a new conversation.
    let click = json!({"schema": "2.0",
        "header": {"event_id": "ev_click", "event_type": "card.action.trigger", "token": TOKEN,
            "create_time": Timestamp::now().as_millis().to_string(), "app_id": APP_ID},
        "event": {"operator": {"open_id": USER_OPEN_ID},
            "action": {"tag": "button", "value": value},
            "context": {"open_message_id": card.message_id.clone().unwrap(), "open_chat_id": "oc_p2p"}}});
    let response = w.post(id.as_str(), &click).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["toast"]["type"], "info", "{answer}");
    let card_message = card.message_id.unwrap();
    w.wait("the new-conversation note", || async {
        !w.replies_to(&card_message).is_empty()
    })
    .await;
    let note = w.replies_to(&card_message)[0].text().unwrap();
    assert!(note.to_lowercase().contains("new conversation"), "{note}");
    assert!(
        w.events(&id).await.iter().any(|e| e.kind == "session"),
        "the session was reset"
    );
}

#[tokio::test]
async fn a_long_connection_message_is_answered_with_a_streamed_card() {
    let w = world().await;
    let id = w
        .bot_with(
            "long_connection",
            json!({"app_id": APP_ID, "app_secret": APP_SECRET}),
            &w.org.echo_agent_id,
            json!({}),
        )
        .await;
    let http = w.http.clone();
    let connector = lark::connector(
        http.clone(),
        lark::Endpoints::single(&w.fake.base),
        Arc::new(lark::api(&w.deps, &http, &lark::Endpoints::single(&w.fake.base))),
    );
    let shutdown = start_relay(
        &w.deps,
        w.deps.queue.clone(),
        Platform::Lark,
        connector,
        fast_relay("relay-e2e"),
    );
    w.wait("the long connection", || async { w.fake.live_connections() == 1 })
        .await;
    let pushed = w
        .fake
        .push_event(&w.fake.message_event("om_ws1", "oc_ws", false, "over the socket"));
    let ack = w.fake.wait_for_ack(&pushed, WAIT).await.expect("an ACK");
    assert_eq!(ack.code, Some(200));
    let card = w.finished_card("om_ws1").await;
    assert_eq!(card.content(ELEMENT), Some("You said: over the socket"));
    assert_eq!(history(&card).first().unwrap(), lark::reply::card::THINKING);
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
    let _ = shutdown.send(true);
    assert_eq!(w.count(&id, "enqueued").await, 1);
}
