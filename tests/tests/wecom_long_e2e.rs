//! WeCom smart bots over the long connection, end to end on the embedded store: the fake WeCom
//! server pushes callbacks → relay supervisor + WeCom connector → ingress → queue → dispatcher
//! → agent → stream buffer → pusher → `aibot_respond_msg` frames back to the fake. Also the
//! failures: a dropped connection mid-answer, a queue that is down, two relays, unpublishing,
//! a kick, rejected credentials, bad frames, and the admin API's restart.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use imgate_channels::wecom::long;
use imgate_channels::wecom::webhook::{THINKING, WELCOME};
use imgate_core::admin::{CreateAgent, CreateIntegration, Principal, PublishTrigger};
use imgate_core::ids::IntegrationId;
use imgate_core::ingress::Ingress;
use imgate_core::integration::{ConnectionState, IntegrationStatus, StatusReason};
use imgate_core::ports::{Deps, EventLogEntry};
use imgate_core::relay::{Connector, RelayError, RelaySettings, Supervisor};
use imgate_core::{Platform, Timestamp};
use imgate_tests::fake_wecom_long::{FakeWecom, Seen};
use imgate_tests::flaky_queue::FlakyQueue;
use imgate_tests::gateway::{BOOTSTRAP, Gateway};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const BOT: &str = "BOT-1";
const SECRET: &str = "long-connection-secret";

/// An OpenAI-compatible agent that holds every answer until released.
#[derive(Clone, Default)]
struct GatedAgent {
    open: Arc<watch::Sender<bool>>,
}

impl GatedAgent {
    async fn start(&self) -> String {
        let open = self.open.clone();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move || {
                let mut open = open.subscribe();
                async move {
                    let _ = open.wait_for(|open| *open).await;
                    let mut sse = String::new();
                    for chunk in ["The answer", " after", " the gap"] {
                        let data = json!({"choices": [{"index": 0, "delta": {"content": chunk}}]});
                        sse.push_str(&format!("data: {data}\n\n"));
                    }
                    sse.push_str("data: [DONE]\n\n");
                    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], sse)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn release(&self) {
        self.open.send_replace(true);
    }
}

struct World {
    gateway: Gateway,
    fake: FakeWecom,
    principal: Principal,
    org_key: String,
    flaky: Arc<FlakyQueue>,
    _dir: tempfile::TempDir,
}

/// A relay under test.
struct Relay {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), RelayError>>,
}

impl Relay {
    /// Aborts the relay as a crash would: connections dropped, leases left to lapse.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    async fn shut_down(self) {
        self.shutdown.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("shutdown is bounded")
            .unwrap()
            .unwrap();
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
    let flaky = Arc::new(FlakyQueue::new(deps.queue.clone(), Arc::default()));
    let deps = Deps {
        queue: flaky.clone(),
        ..deps
    };
    let gateway = Gateway::start(deps, 3, true, "http://127.0.0.1:9").await;
    let admin = &gateway.admin;
    let boot = admin.authenticate(Some(BOOTSTRAP)).await.unwrap();
    let org = admin.create_org(&boot, "acme").await.unwrap();
    let principal = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let fake = FakeWecom::start().await;
    fake.add_bot(BOT, SECRET);
    World {
        gateway,
        fake,
        principal,
        org_key: org.api_key.token,
        flaky,
        _dir: dir,
    }
}

impl World {
    fn deps(&self) -> &Deps {
        &self.gateway.deps
    }

    /// A WeCom long-connection bot bound to an agent (`None`: the built-in echo agent).
    async fn bot(&self, secret: &str, agent_base_url: Option<&str>) -> IntegrationId {
        let admin = &self.gateway.admin;
        let agent = match agent_base_url {
            None => json!({"name": "echo", "kind": "echo"}),
            Some(url) => json!({"name": "gated", "kind": "openai_compatible",
                "config": {"base_url": url, "model": "m", "api_key": "k"}}),
        };
        let agent = admin
            .create_agent(&self.principal, serde_json::from_value::<CreateAgent>(agent).unwrap())
            .await
            .unwrap();
        let integration = admin
            .create_integration(
                &self.principal,
                serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                    "mode": "long_connection", "credentials": {"bot_id": BOT, "secret": secret}}))
                .unwrap(),
            )
            .await
            .unwrap();
        admin
            .publish_trigger(
                &self.principal,
                &integration.id,
                serde_json::from_value::<PublishTrigger>(json!({"agentId": agent.id})).unwrap(),
            )
            .await
            .unwrap();
        integration.id.parse().unwrap()
    }

    fn relay(&self, owner: &str) -> Relay {
        let deps = self.deps();
        let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
        connectors.insert(
            Platform::Wecom,
            Arc::new(long::Connector::new(deps.store.clone(), self.fake.url.clone())),
        );
        let supervisor = Supervisor::new(
            deps.store.clone(),
            deps.keyring.clone(),
            Ingress::new(deps.store.clone(), deps.queue.clone()),
            connectors,
            RelaySettings {
                lease_ttl: Duration::from_millis(800),
                ..imgate_tests::world::fast_relay(owner)
            },
        );
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(async move { supervisor.run(stop).await });
        Relay { shutdown, task }
    }

    async fn status(&self, id: &IntegrationId) -> Option<IntegrationStatus> {
        self.deps().store.get_status(id).await.unwrap()
    }

    async fn status_becomes(&self, id: &IntegrationId, state: ConnectionState, reason: Option<StatusReason>) {
        eventually(&format!("status {state:?} {reason:?}"), || async {
            self.status(id)
                .await
                .is_some_and(|s| s.state == state && s.reason == reason)
        })
        .await;
    }

    /// Waits until the fake has `subscribes` subscribes of the bot and the status says connected.
    async fn connected(&self, id: &IntegrationId, subscribes: usize) {
        eventually(&format!("subscribe #{subscribes}"), || async {
            self.fake.subscribes(BOT) == subscribes && self.fake.live(BOT) == 1
        })
        .await;
        self.status_becomes(id, ConnectionState::Connected, None).await;
    }

    async fn events(&self, id: &IntegrationId) -> Vec<EventLogEntry> {
        self.deps()
            .store
            .recent_events(id, 100, Timestamp::now())
            .await
            .unwrap()
    }

    async fn lease_owner(&self, id: &IntegrationId) -> Option<String> {
        let lease = self.deps().store.get_lease(id, Timestamp::now()).await.unwrap();
        lease.map(|l| l.owner)
    }

    /// Waits for a reply frame whose content contains `text` and `finish` (stream frames) or
    /// for an `aibot_send_msg` with it.
    async fn answered(&self, text: &str) -> Vec<Seen> {
        eventually(&format!("an answer with {text:?}"), || async {
            self.fake
                .replies(BOT)
                .iter()
                .any(|s| final_content(s).is_some_and(|c| c.contains(text)))
        })
        .await;
        self.fake.replies(BOT)
    }

    async fn post_restart(&self, id: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/api/admin/v1/integrations/{id}/restart", self.gateway.base))
            .bearer_auth(&self.org_key)
            .send()
            .await
            .unwrap()
    }
}

/// The content a frame shows as a finished answer: a finishing stream frame or a proactive
/// Markdown message.
fn final_content(seen: &Seen) -> Option<&str> {
    let body = &seen.frame["body"];
    match seen.cmd() {
        "aibot_respond_msg" if body["stream"]["finish"] == true => body["stream"]["content"].as_str(),
        "aibot_send_msg" => body["markdown"]["content"].as_str(),
        _ => None,
    }
}

fn stream_frames(replies: &[Seen]) -> Vec<&Seen> {
    replies.iter().filter(|s| s.cmd() == "aibot_respond_msg").collect()
}

/// Polls `check` until it holds, for up to 15 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    imgate_tests::world::eventually(what, Duration::from_secs(15), check).await;
}

/// Several reconcile passes, lease renewals and pusher polls.
async fn a_while() {
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_message_is_answered_with_a_thinking_frame_growing_stream_frames_and_one_finish() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    let req_id = world.fake.push_text(BOT, "MSG-1", "zhangsan", "你好，imgate").unwrap();
    let replies = world.answered("You said: 你好，imgate").await;
    a_while().await;
    let replies_after = world.fake.replies(BOT);
    assert_eq!(replies.len(), replies_after.len(), "nothing after the finish frame");

    let frames = stream_frames(&replies);
    assert!(frames.len() >= 2, "{frames:?}");
    assert!(
        frames.iter().all(|f| f.req_id() == req_id),
        "every frame carries the callback's req_id"
    );
    let first = &frames[0].frame["body"];
    assert_eq!(first["msgtype"], "stream");
    assert_eq!(first["stream"]["content"], THINKING, "the thinking frame comes first");
    assert_eq!(first["stream"]["finish"], false);
    let stream_id = first["stream"]["id"].as_str().unwrap();
    let finishes: Vec<_> = frames
        .iter()
        .filter(|f| f.frame["body"]["stream"]["finish"] == true)
        .collect();
    assert_eq!(finishes.len(), 1, "one finish frame");
    let last = frames.last().unwrap();
    assert_eq!(
        last.frame["body"]["stream"]["finish"], true,
        "the finish frame is the last"
    );
    assert_eq!(last.frame["body"]["stream"]["content"], "You said: 你好，imgate");
    let answer = "You said: 你好，imgate";
    for frame in &frames[1..] {
        let body = &frame.frame["body"]["stream"];
        assert_eq!(body["id"], stream_id, "one stream");
        assert!(
            answer.starts_with(body["content"].as_str().unwrap()),
            "cumulative: {body}"
        );
    }
    assert!(world.fake.violations().is_empty(), "{:?}", world.fake.violations());

    // enter_chat gets its welcome at once, with the event's req_id; nothing is enqueued.
    let req_id = world
        .fake
        .push_event(BOT, "EV-1", "zhangsan", json!({"eventtype": "enter_chat"}))
        .unwrap();
    eventually("the welcome", || async {
        world
            .fake
            .replies(BOT)
            .iter()
            .any(|s| s.cmd() == "aibot_respond_welcome_msg")
    })
    .await;
    let welcome = world
        .fake
        .replies(BOT)
        .into_iter()
        .find(|s| s.cmd() == "aibot_respond_welcome_msg")
        .unwrap();
    assert_eq!(welcome.req_id(), req_id);
    assert_eq!(welcome.frame["body"]["text"]["content"], WELCOME);

    let status = world.status(&bot).await.unwrap();
    assert_eq!(status.owner.as_deref(), Some("relay-a"));
    assert!(status.connected_since.is_some() && status.last_event_at.is_some());
    let events = world.events(&bot).await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "enqueued" && e.event_id.as_deref() == Some("MSG-1"))
    );
    assert!(
        events
            .iter()
            .all(|e| !e.detail.contains(SECRET) && !e.detail.contains("你好"))
    );
    relay.shut_down().await;
    assert_eq!(world.fake.live(BOT), 0, "the connection closes on shutdown");
}

#[tokio::test]
async fn a_connection_dropped_mid_answer_reconnects_and_the_answer_still_arrives_once() {
    let world = world().await;
    let agent = GatedAgent::default();
    let base = agent.start().await;
    let bot = world.bot(SECRET, Some(&base)).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    world.fake.push_text(BOT, "MSG-1", "lisi", "question").unwrap();
    eventually("the thinking frame", || async { !world.fake.replies(BOT).is_empty() }).await;
    assert!(world.fake.reset(BOT), "drop the connection mid-answer");
    world.connected(&bot, 2).await;

    agent.release();
    let replies = world.answered("The answer after the gap").await;
    a_while().await;
    let replies = {
        let after = world.fake.replies(BOT);
        assert_eq!(after.len(), replies.len(), "nothing after the answer");
        after
    };
    let first_conn = replies[0].conn;
    let finals: Vec<_> = replies.iter().filter(|s| final_content(s).is_some()).collect();
    assert_eq!(finals.len(), 1, "the answer is shown once: {replies:?}");
    let answer = finals[0];
    assert_ne!(answer.conn, first_conn, "it came on the new connection");
    assert_eq!(
        answer.cmd(),
        "aibot_send_msg",
        "the old req_id is not valid on the new connection"
    );
    assert_eq!(answer.frame["body"]["chatid"], "lisi");
    assert!(
        replies
            .iter()
            .filter(|s| s.conn != first_conn)
            .all(|s| s.cmd() == "aibot_send_msg"),
        "no reply frame with a req_id of the dropped connection"
    );
    assert!(world.fake.violations().is_empty());
    let status = world.status(&bot).await.unwrap();
    assert_eq!(status.reconnect_attempts, 0);
    assert!(world.events(&bot).await.iter().any(|e| e.kind == "retrying"));
    relay.shut_down().await;
}

#[tokio::test]
async fn a_queue_outage_reopens_the_connection_and_the_redelivered_message_is_answered_once() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    world.flaky.set_down(true);
    world.fake.push_text(BOT, "MSG-Q", "wangwu", "are you there").unwrap();
    // Not taken: nothing is shown, and the connection is reopened for WeCom to deliver again.
    world.connected(&bot, 2).await;
    assert!(world.fake.replies(BOT).is_empty(), "no answer to what was not enqueued");
    let events = world.events(&bot).await;
    assert!(
        events
            .iter()
            .any(|e| e.kind == "error" && e.detail.contains("MSG-Q") && e.detail.contains("queue")),
        "{events:?}"
    );

    world.flaky.set_down(false);
    let req_id = world.fake.push_text(BOT, "MSG-Q", "wangwu", "are you there").unwrap();
    let replies = world.answered("You said: are you there").await;
    assert!(stream_frames(&replies).iter().all(|f| f.req_id() == req_id));

    // WeCom delivering it yet again is a duplicate: nothing more is shown.
    world.fake.push_text(BOT, "MSG-Q", "wangwu", "are you there").unwrap();
    a_while().await;
    let replies = world.fake.replies(BOT);
    assert_eq!(
        replies.iter().filter(|s| final_content(s).is_some()).count(),
        1,
        "{replies:?}"
    );
    assert!(world.fake.violations().is_empty());
    relay.shut_down().await;
}

#[tokio::test]
async fn two_relays_hold_one_connection_and_the_survivor_takes_over_when_the_owner_dies() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let a = world.relay("relay-a");
    let b = world.relay("relay-b");
    world.connected(&bot, 1).await;
    a_while().await;
    assert_eq!(world.fake.subscribes(BOT), 1, "one connection for the bot");
    assert_eq!(world.fake.most_live(BOT), 1);
    let owner = world.lease_owner(&bot).await.unwrap();
    assert_eq!(world.status(&bot).await.unwrap().owner.as_deref(), Some(owner.as_str()));

    let (dead, survivor, other) = if owner == "relay-a" {
        (a, "relay-b", b)
    } else {
        (b, "relay-a", a)
    };
    dead.kill().await;
    world.connected(&bot, 2).await;
    assert_eq!(world.lease_owner(&bot).await.as_deref(), Some(survivor));
    assert_eq!(world.status(&bot).await.unwrap().owner.as_deref(), Some(survivor));
    assert_eq!(world.fake.most_live(BOT), 1, "never two connections at once");

    world.fake.push_text(BOT, "MSG-T", "zhaoliu", "still here?").unwrap();
    world.answered("You said: still here?").await;
    other.shut_down().await;
}

#[tokio::test]
async fn unpublishing_closes_the_connection_and_the_status_says_unbound() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    world
        .gateway
        .admin
        .unpublish_trigger(&world.principal, bot.as_str())
        .await
        .unwrap();
    eventually("the connection closed", || async { world.fake.open_connections() == 0 }).await;
    world
        .status_becomes(&bot, ConnectionState::Stopped, Some(StatusReason::Unbound))
        .await;
    a_while().await;
    assert_eq!(world.fake.subscribes(BOT), 1, "stays down while unbound");
    relay.shut_down().await;
}

#[tokio::test]
async fn a_kicked_bot_says_so_and_is_not_reconnected_until_restarted_through_the_admin_api() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    assert!(world.fake.kick(BOT));
    world
        .status_becomes(
            &bot,
            ConnectionState::Stopped,
            Some(StatusReason::KickedByOtherConnection),
        )
        .await;
    eventually("the kicked connection closed", || async {
        world.fake.open_connections() == 0
    })
    .await;
    a_while().await;
    assert_eq!(world.fake.subscribes(BOT), 1, "a kick is not fought");

    let r = world.post_restart(bot.as_str()).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["integrationId"], bot.as_str());
    world.connected(&bot, 2).await;
    relay.shut_down().await;
}

#[tokio::test]
async fn the_admin_restart_reconnects_a_running_bot_and_refuses_what_has_no_connection() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    assert_eq!(world.post_restart(bot.as_str()).await.status(), 202);
    world.connected(&bot, 2).await;
    assert_eq!(world.fake.most_live(BOT), 1, "the old connection closed first");
    let restarted = world.events(&bot).await;
    assert!(
        restarted
            .iter()
            .any(|e| e.kind == "stopped" && e.detail.contains("restarting"))
    );

    let missing = world.post_restart("int_00000000000000000000000000000000").await;
    assert_eq!(missing.status(), 404);
    let webhook = world
        .gateway
        .admin
        .create_integration(
            &world.principal,
            serde_json::from_value::<CreateIntegration>(json!({"name": "hook", "platform": "wecom",
                "credentials": {"token": "t", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(world.post_restart(&webhook.id).await.status(), 409);
    relay.shut_down().await;
}

#[tokio::test]
async fn rejected_credentials_stop_retrying_and_the_status_says_auth_failed() {
    let world = world().await;
    let bot = world.bot("wrong-secret", None).await;
    let relay = world.relay("relay-a");
    world
        .status_becomes(&bot, ConnectionState::Error, Some(StatusReason::AuthFailed))
        .await;
    let status = world.status(&bot).await.unwrap();
    assert!(status.last_error.as_deref().unwrap().contains("853000"), "{status:?}");
    assert!(!status.last_error.unwrap().contains("wrong-secret"));
    eventually("the refused connection closed", || async {
        world.fake.open_connections() == 0
    })
    .await;
    a_while().await;
    let attempts = world
        .fake
        .frames(BOT)
        .iter()
        .filter(|s| s.cmd() == "aibot_subscribe")
        .count();
    assert_eq!(attempts, 1, "not retried until the credentials change");

    world
        .gateway
        .admin
        .update_integration(
            &world.principal,
            bot.as_str(),
            serde_json::from_value(json!({"credentials": {"secret": SECRET}})).unwrap(),
        )
        .await
        .unwrap();
    world.connected(&bot, 1).await;
    relay.shut_down().await;
}

#[tokio::test]
async fn bad_frames_are_skipped_and_the_connection_keeps_working() {
    let world = world().await;
    let bot = world.bot(SECRET, None).await;
    let relay = world.relay("relay-a");
    world.connected(&bot, 1).await;

    for raw in [
        "not json at all",
        "[1, 2, 3]",
        r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"BAD-1"}}"#,
        r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"BAD-2"},"body":{"msgtype":"text"}}"#,
        r#"{"cmd":"aibot_unheard_of","headers":{"req_id":"BAD-3"},"body":{}}"#,
        r#"{"headers":{"req_id":"BAD-4"},"errcode":0}"#,
    ] {
        assert!(world.fake.send_raw(BOT, raw));
    }
    world
        .fake
        .push_text(BOT, "MSG-OK", "qianqi", "after the noise")
        .unwrap();
    world.answered("You said: after the noise").await;
    assert_eq!(world.fake.subscribes(BOT), 1, "the connection survived");
    let status = world.status(&bot).await.unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
    relay.shut_down().await;
}
