//! DingTalk app robots end to end on the embedded store, against the fake DingTalk of
//! `imgate_tests::fake_dingtalk`: Stream mode through the relay supervisor and the DingTalk
//! connector, HTTP mode through the gateway's webhook route; the queue worker and the echo
//! agent answer through the session webhook, the robot OpenAPI or an AI card.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imgate_channels::dingtalk::{self, long, verify};
use imgate_core::dispatch::{DispatchSettings, Dispatcher};
use imgate_core::ids::IntegrationId;
use imgate_core::integration::{ConnectionState, IntegrationStatus, StatusReason};
use imgate_core::ports::{Deps, EventLogEntry};
use imgate_core::{Platform, Timestamp};
use imgate_tests::fake_dingtalk::FakeDingtalk;
use imgate_tests::flaky_queue::FlakyQueue;
use imgate_tests::world::{TestOrg, fast_relay, serve_gateway, start_relay};
use serde_json::{Value, json};
use tokio::sync::watch;

const CLIENT_ID: &str = "dingclient0001";
const SECRET: &str = "client-secret-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

struct World {
    deps: Deps,
    org: TestOrg,
    fake: FakeDingtalk,
    /// The gateway's HTTP base (admin API + webhooks).
    base: String,
    http: reqwest::Client,
    queue_down: Arc<AtomicBool>,
    ids: Mutex<Vec<IntegrationId>>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _) = imgate_embedded::open(
        &dir.path().join("db"),
        &dir.path().join("key"),
        imgate_embedded::QueueOptions { max_receives: 3 },
    )
    .await
    .unwrap();
    let org = TestOrg::create(&deps).await;
    let fake = FakeDingtalk::start(CLIENT_ID, SECRET).await;
    let http = reqwest::Client::new();
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.wecom.api = "http://127.0.0.1:9".into();
    let channels = imgate_channels::Channels::new(&deps, &http, &endpoints);
    let repliers = channels.repliers().with(
        Platform::Dingtalk,
        Arc::new(
            dingtalk::reply::DingtalkReplier::new(
                deps.store.clone(),
                http.clone(),
                dingtalk::api::RobotApi::new(
                    http.clone(),
                    fake.endpoints().api,
                    deps.store.clone(),
                    deps.keyring.clone(),
                ),
            )
            .with_card_interval(Duration::from_millis(20)),
        ),
    );
    let dispatcher = Dispatcher::new(
        &deps,
        Arc::new(imgate_agents::Agents::new(http.clone()).with_retry(imgate_agents::RetryPolicy::none())),
        repliers,
        DispatchSettings {
            max_receives: 3,
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
        queue_down: Arc::default(),
        ids: Mutex::default(),
        stop,
        _dir: dir,
    }
}

impl World {
    /// A DingTalk integration in `mode` with `secret`, bound to the echo agent.
    async fn bot(&self, mode: &str, secret: &str, card_template_id: Option<&str>) -> IntegrationId {
        let mut credentials = json!({"client_id": CLIENT_ID, "client_secret": secret, "robot_code": CLIENT_ID});
        if let Some(template) = card_template_id {
            credentials["card_template_id"] = json!(template);
        }
        let integration = json!({"name": "ding", "platform": "dingtalk", "mode": mode, "credentials": credentials});
        let id = self
            .org
            .bot(integration, Some(&self.org.echo_agent_id), json!({}))
            .await;
        self.ids.lock().unwrap().push(id.clone());
        id
    }

    /// A relay running the DingTalk connector with short timings; its ingress goes through a
    /// queue the test can take down.
    fn relay(&self, owner: &str) -> watch::Sender<bool> {
        let connector = long::Connector::new(self.http.clone(), self.fake.endpoints()).with_settings(long::Settings {
            keepalive_idle: Duration::from_millis(300),
            keepalive_timeout: Duration::from_millis(300),
            handshake_timeout: Duration::from_secs(2),
            enqueue_attempts: 2,
            enqueue_retry_delay: Duration::from_millis(20),
            close_timeout: Duration::from_millis(200),
        });
        let queue = Arc::new(FlakyQueue::new(self.deps.queue.clone(), self.queue_down.clone()));
        start_relay(
            &self.deps,
            queue,
            Platform::Dingtalk,
            Arc::new(connector),
            fast_relay(owner),
        )
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
                let mut report = format!(
                    "opens {}, handshakes {:?}, live {:?}, frames {:?}\n",
                    self.fake.opens(),
                    self.fake.handshakes(),
                    self.fake.live(),
                    self.fake.frames()
                );
                let ids = self.ids.lock().unwrap().clone();
                for id in &ids {
                    report.push_str(&format!("{id}: {:?}\n", self.status(id).await));
                    for e in self.events(id).await {
                        report.push_str(&format!("  {} {} {:?} {}\n", e.at, e.kind, e.event_id, e.detail));
                    }
                }
                panic!("timed out waiting for {what}\n{report}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn status(&self, id: &IntegrationId) -> Option<IntegrationStatus> {
        self.deps.store.get_status(id).await.unwrap()
    }

    async fn connected(&self, id: &IntegrationId) {
        self.wait("the stream to connect", || async {
            self.status(id)
                .await
                .is_some_and(|s| s.state == ConnectionState::Connected)
        })
        .await;
    }

    async fn events(&self, id: &IntegrationId) -> Vec<EventLogEntry> {
        self.deps.store.recent_events(id, 500, Timestamp::now()).await.unwrap()
    }

    async fn count(&self, id: &IntegrationId, kind: &str, event_id: &str) -> usize {
        self.events(id)
            .await
            .iter()
            .filter(|e| e.kind == kind && e.event_id.as_deref() == Some(event_id))
            .count()
    }

    /// Waits for `n` posts to session webhook `session` and returns them.
    async fn replies(&self, session: &str, n: usize) -> Vec<Value> {
        self.wait("session webhook replies", || async {
            self.fake.session_posts(session).len() >= n
        })
        .await;
        self.fake.session_posts(session)
    }

    /// POSTs an HTTP-mode callback.
    async fn callback(
        &self,
        id: &str,
        body: &[u8],
        timestamp: Option<&str>,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/api/dingtalk/webhook/{id}", self.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(t) = timestamp {
            request = request.header("timestamp", t);
        }
        if let Some(s) = signature {
            request = request.header("sign", s);
        }
        request.send().await.unwrap()
    }

    async fn signed_callback(&self, id: &str, message: &Value) -> reqwest::Response {
        let timestamp = Timestamp::now().as_millis().to_string();
        let signature = verify::sign(&timestamp, SECRET);
        self.callback(id, message.to_string().as_bytes(), Some(&timestamp), Some(&signature))
            .await
    }
}

fn in_an_hour() -> i64 {
    Timestamp::now().as_millis() + 3_600_000
}

fn markdown_text(post: &Value) -> &str {
    assert_eq!(post["msgtype"], "markdown", "{post}");
    post["markdown"]["text"].as_str().unwrap()
}

fn data_of(ack: &Value) -> Value {
    serde_json::from_str(ack["data"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn stream_message_is_acked_after_the_enqueue_and_answered_through_the_session_webhook() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    assert_eq!(w.fake.opens(), 1);

    // The server's ping is echoed with its opaque.
    assert!(w.fake.ping("op-42"));
    w.wait("the ping answer", || async {
        w.fake
            .frames()
            .iter()
            .any(|f| f["data"].as_str().is_some_and(|d| d.contains("op-42")))
    })
    .await;

    let message = w.fake.robot_message("msgA", "hello", "s1", in_an_hour(), false);
    let frame_id = w.fake.push(&message).unwrap();
    let replies = w.replies("s1", 1).await;
    assert_eq!(markdown_text(&replies[0]), "You said: hello");
    let acks = w.fake.acks_of(&frame_id);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["code"], 200);
    assert_eq!(data_of(&acks[0]), json!({"response": null}));
    // The ACK followed the durable enqueue.
    assert_eq!(w.count(&id, "enqueued", "msgA").await, 1);
    let status = w.status(&id).await.unwrap();
    assert!(status.last_event_at.is_some());
    assert_eq!(status.reconnect_attempts, 0);
    assert_eq!(status.owner.as_deref(), Some("relay-a"));
}

#[tokio::test]
async fn a_dropped_connection_reconnects_with_a_new_ticket_and_nothing_is_lost_or_doubled() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    let a = w.fake.robot_message("msgA", "one", "s1", in_an_hour(), false);
    w.fake.push(&a).unwrap();
    w.replies("s1", 1).await;

    // A message goes out and the connection drops right after: it may or may not have been
    // enqueued before the drop, and its ACK is lost either way.
    let b = w.fake.robot_message("msgB", "two", "s1", in_an_hour(), false);
    w.fake.push(&b).unwrap();
    assert!(w.fake.drop_connection());
    w.wait("the reconnect", || async { w.fake.handshakes().0 == 2 }).await;
    assert_eq!(w.fake.opens(), 2, "every connection registers for a new ticket");
    assert_eq!(w.fake.handshakes().1, 0, "no ticket was reused");
    w.connected(&id).await;

    // Re-pushed on the new connection, answered once.
    let replies = w.replies("s1", 2).await;
    assert_eq!(markdown_text(&replies[1]), "You said: two");
    // DingTalk delivers msgA once more: ACKed, not answered again.
    let again = w.fake.push(&a).unwrap();
    w.wait("the duplicate's ACK", || async { !w.fake.acks_of(&again).is_empty() })
        .await;
    let c = w.fake.robot_message("msgC", "three", "s1", in_an_hour(), false);
    w.fake.push(&c).unwrap();
    let replies = w.replies("s1", 3).await;
    let texts: Vec<&str> = replies.iter().map(markdown_text).collect();
    assert_eq!(texts, ["You said: one", "You said: two", "You said: three"]);
    for msg in ["msgA", "msgB", "msgC"] {
        assert_eq!(w.count(&id, "enqueued", msg).await, 1, "{msg}");
    }
    assert_eq!(w.count(&id, "duplicate", "msgA").await, 1);
}

#[tokio::test]
async fn while_the_queue_fails_nothing_is_acked_and_the_redelivery_is_processed_once() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    w.queue_down.store(true, Ordering::SeqCst);
    let message = w.fake.robot_message("msgQ", "queued?", "s1", in_an_hour(), false);
    let frame_id = w.fake.push(&message).unwrap();
    // Pushed, refused by the queue, re-pushed, refused again: never ACKed.
    w.wait("two rounds of failed enqueues", || async {
        w.count(&id, "error", "msgQ").await >= 4
    })
    .await;
    assert!(w.fake.acks_of(&frame_id).is_empty());
    let status = w.status(&id).await.unwrap();
    assert!(status.last_error.unwrap().contains("left unacknowledged"));
    assert_eq!(
        status.state,
        ConnectionState::Connected,
        "a queue outage does not drop the link"
    );
    assert!(w.fake.session_posts("s1").is_empty());

    w.queue_down.store(false, Ordering::SeqCst);
    let replies = w.replies("s1", 1).await;
    assert_eq!(markdown_text(&replies[0]), "You said: queued?");
    w.wait("the ACK", || async { !w.fake.acks_of(&frame_id).is_empty() })
        .await;
    assert_eq!(w.count(&id, "enqueued", "msgQ").await, 1);
}

#[tokio::test]
async fn bad_frames_are_logged_and_the_connection_survives() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    assert!(w.fake.send_raw("this is not json: secret-content"));
    let broken = json!({"specVersion": "1.0", "type": "CALLBACK",
        "headers": {"topic": "/v1.0/im/bot/messages/get", "messageId": "bad-1", "contentType": "application/json"},
        "data": "{\"msgId\": \"x\", \"text\": secret-content"});
    assert!(w.fake.send_raw(&broken.to_string()));
    w.wait("the refusal of the broken message", || async {
        !w.fake.acks_of("bad-1").is_empty()
    })
    .await;
    assert_eq!(w.fake.acks_of("bad-1")[0]["code"], 400);
    let unknown =
        json!({"type": "CALLBACK", "headers": {"topic": "/v1.0/graph/api/invoke", "messageId": "g-1"}, "data": "{}"});
    assert!(w.fake.send_raw(&unknown.to_string()));
    w.wait("the 404", || async { !w.fake.acks_of("g-1").is_empty() }).await;
    assert_eq!(w.fake.acks_of("g-1")[0]["code"], 404);

    let message = w.fake.robot_message("msgOK", "still there?", "s1", in_an_hour(), false);
    w.fake.push(&message).unwrap();
    assert_eq!(markdown_text(&w.replies("s1", 1).await[0]), "You said: still there?");
    assert_eq!(w.fake.handshakes().0, 1, "the connection survived");
    let logged: Vec<String> = w
        .events(&id)
        .await
        .into_iter()
        .filter(|e| e.detail.contains("unreadable stream frame"))
        .map(|e| e.detail)
        .collect();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(logged.iter().all(|d| !d.contains("secret-content")), "{logged:?}");
}

#[tokio::test]
async fn rejected_credentials_stop_the_connection_until_they_change() {
    let w = world().await;
    let id = w.bot("long_connection", "the-wrong-secret", None).await;
    let _relay = w.relay("relay-a");
    w.wait("the auth failure", || async {
        w.status(&id)
            .await
            .is_some_and(|s| s.reason == Some(StatusReason::AuthFailed))
    })
    .await;
    let status = w.status(&id).await.unwrap();
    assert_eq!(status.state, ConnectionState::Error);
    let error = status.last_error.unwrap();
    assert!(error.contains("401") && !error.contains("the-wrong-secret"), "{error}");
    // Several reconcile passes later: still the one attempt.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.fake.opens(), 1, "no reconnect storm");

    w.org
        .admin
        .update_integration(
            &w.org.principal,
            id.as_str(),
            serde_json::from_value(json!({"credentials": {"client_secret": SECRET}})).unwrap(),
        )
        .await
        .unwrap();
    w.connected(&id).await;
    assert_eq!(w.fake.opens(), 2);
}

#[tokio::test]
async fn a_silent_link_is_detected_and_replaced() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    assert!(w.fake.mute());
    w.wait("a new connection", || async { w.fake.handshakes().0 == 2 })
        .await;
    let events = w.events(&id).await;
    assert!(events.iter().any(|e| e.detail.contains("keepalive")), "{events:?}");
    w.connected(&id).await;
    let message = w.fake.robot_message("msgW", "awake", "s1", in_an_hour(), false);
    w.fake.push(&message).unwrap();
    assert_eq!(markdown_text(&w.replies("s1", 1).await[0]), "You said: awake");
}

#[tokio::test]
async fn a_disconnect_rotates_to_a_new_connection_without_a_retry() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    assert!(w.fake.disconnect());
    w.wait("the next connection", || async { w.fake.handshakes().0 == 2 })
        .await;
    w.wait("the old one to close", || async { w.fake.live().0 == 1 }).await;
    let status = w.status(&id).await.unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(status.reconnect_attempts, 0);
    assert!(!w.events(&id).await.iter().any(|e| e.kind == "retrying"));
    let message = w.fake.robot_message("msgR", "rotated", "s1", in_an_hour(), false);
    w.fake.push(&message).unwrap();
    assert_eq!(markdown_text(&w.replies("s1", 1).await[0]), "You said: rotated");
}

#[tokio::test]
async fn one_connection_across_relays_and_unpublishing_closes_it() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, None).await;
    let _a = w.relay("relay-a");
    let _b = w.relay("relay-b");
    w.connected(&id).await;
    // Several reconcile passes of both relays.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.fake.live(), (1, 1));

    w.org
        .admin
        .unpublish_trigger(&w.org.principal, id.as_str())
        .await
        .unwrap();
    w.wait("the connection to close", || async { w.fake.live().0 == 0 })
        .await;
    w.wait("the status", || async {
        w.status(&id)
            .await
            .is_some_and(|s| s.state == ConnectionState::Stopped && s.reason == Some(StatusReason::Unbound))
    })
    .await;
}

#[tokio::test]
async fn with_a_card_template_the_answer_streams_into_an_ai_card() {
    let w = world().await;
    let id = w.bot("long_connection", SECRET, Some("tpl-123.schema")).await;
    let _relay = w.relay("relay-a");
    w.connected(&id).await;
    let message = w
        .fake
        .robot_message("msgCard", "stream me please", "s1", in_an_hour(), true);
    w.fake.push(&message).unwrap();
    w.wait("the finished card", || async {
        w.fake
            .calls()
            .iter()
            .any(|c| c.route == "PUT /v1.0/card/instances" && c.body["cardData"]["cardParamMap"]["flowStatus"] == "3")
    })
    .await;
    let calls = w.fake.calls();
    let routes: Vec<&str> = calls.iter().map(|c| c.route.as_str()).collect();
    assert_eq!(
        routes[..3],
        [
            "POST /v1.0/card/instances",
            "POST /v1.0/card/instances/deliver",
            "PUT /v1.0/card/instances"
        ]
    );
    let created = &calls[0].body;
    assert_eq!(created["cardTemplateId"], "tpl-123.schema");
    assert_eq!(created["cardData"]["cardParamMap"]["flowStatus"], "1");
    assert_eq!(calls[1].body["openSpaceId"], "dtv1.card//IM_GROUP.cidGroup==");
    assert_eq!(calls[1].body["outTrackId"], created["outTrackId"]);
    let frames: Vec<&Value> = calls
        .iter()
        .filter(|c| c.route == "PUT /v1.0/card/streaming")
        .map(|c| &c.body)
        .collect();
    let last = frames.last().unwrap();
    assert_eq!(last["content"], "You said: stream me please");
    assert_eq!(last["isFinalize"], true);
    assert!(frames[..frames.len() - 1].iter().all(|f| f["isFinalize"] == false));
    let finished = calls.last().unwrap();
    assert_eq!(
        finished.body["cardData"]["cardParamMap"]["msgContent"],
        "You said: stream me please"
    );
    assert!(w.fake.session_posts("s1").is_empty(), "the card is the answer");
    assert_eq!(w.fake.token_fetches(), 1);
}

#[tokio::test]
async fn http_mode_signed_callbacks_are_answered_and_bad_ones_change_nothing() {
    let w = world().await;
    let id = w.bot("webhook", SECRET, None).await;
    let stream_bot = w.bot("long_connection", SECRET, None).await;
    let message = w.fake.robot_message("msgH", "over http", "h1", in_an_hour(), false);
    let answer = w.signed_callback(id.as_str(), &message).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "");
    assert_eq!(markdown_text(&w.replies("h1", 1).await[0]), "You said: over http");

    let bad = w.fake.robot_message("msgBad", "nope", "h2", in_an_hour(), false);
    let body = bad.to_string();
    let now = Timestamp::now().as_millis();
    let stale = (now - 3_700_000).to_string();
    let fresh = now.to_string();
    let signed_now = |secret: &str| (Some(fresh.clone()), Some(verify::sign(&fresh, secret)));
    let cases = [
        ("bad sign", body.as_bytes().to_vec(), signed_now("other-secret"), 401),
        (
            "stale timestamp",
            body.as_bytes().to_vec(),
            (Some(stale.clone()), Some(verify::sign(&stale, SECRET))),
            401,
        ),
        ("no sign", body.as_bytes().to_vec(), (Some(fresh.clone()), None), 400),
        ("broken JSON", b"{\"msgId\": ".to_vec(), signed_now(SECRET), 400),
        ("oversized", vec![b' '; 70 * 1024], signed_now(SECRET), 413),
    ];
    for (what, body, (timestamp, signature), status) in cases {
        let answer = w
            .callback(id.as_str(), &body, timestamp.as_deref(), signature.as_deref())
            .await;
        assert_eq!(answer.status(), status, "{what}");
    }
    let signed = |target: &str| {
        let target = target.to_owned();
        let w = &w;
        let bad = bad.clone();
        async move { w.signed_callback(&target, &bad).await.status() }
    };
    assert_eq!(
        signed(IntegrationId::generate().as_str()).await,
        404,
        "unknown integration"
    );
    assert_eq!(signed("not-an-id").await, 404);
    assert_eq!(
        signed(stream_bot.as_str()).await,
        404,
        "a Stream integration has no HTTP endpoint"
    );
    assert_eq!(w.count(&id, "enqueued", "msgBad").await, 0);
    assert_eq!(w.count(&stream_bot, "enqueued", "msgBad").await, 0);
    assert!(w.fake.session_posts("h2").is_empty());
    let rejected = w.events(&id).await.into_iter().filter(|e| e.kind == "rejected").count();
    assert_eq!(rejected, 2, "bad sign and stale timestamp are in the event log");
}

#[tokio::test]
async fn an_expired_session_webhook_falls_back_to_the_robot_api_with_one_cached_token() {
    let w = world().await;
    let id = w.bot("webhook", SECRET, None).await;
    let expired = Timestamp::now().as_millis() - 1000;
    for (msg, text) in [("msgX1", "first"), ("msgX2", "second")] {
        let message = w.fake.robot_message(msg, text, "gone", expired, false);
        assert_eq!(w.signed_callback(id.as_str(), &message).await.status(), 200);
    }
    // One conversation: answered in order, the second with the token the first cached.
    w.wait("two robot API sends", || async { w.fake.calls().len() >= 2 })
        .await;
    let group = w.fake.robot_message("msgX3", "third", "gone", expired, true);
    assert_eq!(w.signed_callback(id.as_str(), &group).await.status(), 200);
    w.wait("three robot API sends", || async { w.fake.calls().len() >= 3 })
        .await;
    let calls = w.fake.calls();
    for call in &calls[..2] {
        assert_eq!(call.route, "POST /v1.0/robot/oToMessages/batchSend");
        assert_eq!(call.body["userIds"], json!(["staff-1"]));
        assert_eq!(call.body["robotCode"], CLIENT_ID);
        assert_eq!(call.body["msgKey"], "sampleMarkdown");
    }
    let param: Value = serde_json::from_str(calls[1].body["msgParam"].as_str().unwrap()).unwrap();
    assert_eq!(param["text"], "You said: second");
    assert_eq!(calls[2].route, "POST /v1.0/robot/groupMessages/send");
    assert_eq!(calls[2].body["openConversationId"], "cidGroup==");
    assert_eq!(w.fake.token_fetches(), 1, "the access token is cached in the store");
    assert!(w.fake.session_posts("gone").is_empty());
}

#[tokio::test]
async fn a_long_answer_is_split_into_messages_not_cut() {
    let w = world().await;
    let id = w.bot("webhook", SECRET, None).await;
    let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(10);
    let text = vec![paragraph.trim_end(); 45].join("\n\n");
    let message = w.fake.robot_message("msgLong", &text, "l1", in_an_hour(), true);
    assert_eq!(w.signed_callback(id.as_str(), &message).await.status(), 200);
    let posts = w.replies("l1", 2).await;
    let parts: Vec<&str> = posts.iter().map(markdown_text).collect();
    assert!(
        parts
            .iter()
            .all(|p| p.len() <= dingtalk::reply::payload::MAX_CONTENT_BYTES)
    );
    // The first part @-mentions the sender in a group.
    assert_eq!(posts[0]["at"]["atUserIds"], json!(["staff-1"]));
    let first = parts[0].strip_suffix(" @staff-1").unwrap();
    assert_eq!(format!("{first}{}", parts[1..].concat()), format!("You said: {text}"));
}
