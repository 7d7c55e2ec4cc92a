//! Lark / Feishu apps over the long connection, end to end on the embedded store: the fake Lark
//! of `imgate_tests::fake_lark` hands out endpoints and pushes protobuf event frames → relay
//! supervisor + `lark::long::Connector` → ingress → queue (no worker runs, so the queue holds what
//! was enqueued). Covered: ACK only after the enqueue, pings and pong config, fragments,
//! duplicates, a queue outage, dropped and silent connections with reconnects as the client
//! config says, refused credentials and handshakes, card clicks, and frames to ignore.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use imgate_channels::lark::{self, BotIdentity, Endpoints, long};
use imgate_core::admin::{CreateAgent, CreateIntegration, Principal, PublishTrigger};
use imgate_core::credentials::Lark;
use imgate_core::envelope::{Envelope, Payload};
use imgate_core::event::{ConversationKind, InboundEvent, InboundKind, ReplyContext};
use imgate_core::ids::IntegrationId;
use imgate_core::integration::{ConnectionState, IntegrationStatus, StatusReason};
use imgate_core::ports::{Deps, EventLogEntry};
use imgate_core::relay::Connector;
use imgate_core::{Platform, Timestamp};
use imgate_tests::fake_lark::{self, ClientConfig, FakeLark, Frame, HandshakeRefusal, PushOptions};
use imgate_tests::flaky_queue::FlakyQueue;
use imgate_tests::gateway::{BOOTSTRAP, Gateway};
use imgate_tests::world::{fast_relay, start_relay};
use serde_json::{Value, json};
use tokio::sync::watch;

const APP_ID: &str = "cli_longconn0001";
const SECRET: &str = "lark-app-secret-0123456789";
const WAIT: Duration = Duration::from_secs(15);
const TOAST: &str = "Got it";
/// The sender of the fake's events (its `long_conn::USER_OPEN_ID`, which the module does not
/// re-export).
const USER: &str = "ou_user1";

/// The bot's open_id, known without asking the Open API.
struct StaticIdentity(String);

#[async_trait]
impl BotIdentity for StaticIdentity {
    async fn bot_open_id(&self, _app: &Lark) -> Option<String> {
        Some(self.0.clone())
    }
}

struct World {
    gateway: Gateway,
    fake: FakeLark,
    principal: Principal,
    flaky: Arc<FlakyQueue>,
    id: Option<IntegrationId>,
    relays: Vec<watch::Sender<bool>>,
    /// What [`World::queued`] took off the queue so far.
    queued: Mutex<Vec<InboundEvent>>,
    _dir: tempfile::TempDir,
}

impl Drop for World {
    fn drop(&mut self) {
        for relay in &self.relays {
            let _ = relay.send(true);
        }
    }
}

/// A gateway without a queue worker, the fake Lark, and an org; the fake's client config asks
/// for immediate, unlimited reconnects one second apart.
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
    let gateway = Gateway::start(deps, 3, false, "http://127.0.0.1:9").await;
    let boot = gateway.admin.authenticate(Some(BOOTSTRAP)).await.unwrap();
    let org = gateway.admin.create_org(&boot, "acme").await.unwrap();
    let principal = gateway.admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let fake = FakeLark::start(APP_ID, SECRET).await;
    fake.set_client_config(ClientConfig {
        ping_interval: 120,
        reconnect_count: -1,
        reconnect_interval: 1,
        reconnect_nonce: 0,
    });
    World {
        gateway,
        fake,
        principal,
        flaky,
        id: None,
        relays: Vec::new(),
        queued: Mutex::default(),
        _dir: dir,
    }
}

impl World {
    fn deps(&self) -> &Deps {
        &self.gateway.deps
    }

    fn id(&self) -> &IntegrationId {
        self.id.as_ref().unwrap()
    }

    /// A long-connection Lark app with `secret`, bound to the echo agent, served by a relay
    /// with [`World::connector`].
    async fn app(&mut self, secret: &str) {
        self.integration(secret).await;
        self.serve(self.connector());
    }

    /// A long-connection Lark app with `secret`, bound to the echo agent.
    async fn integration(&mut self, secret: &str) {
        let admin = &self.gateway.admin;
        let agent = json!({"name": "echo", "kind": "echo"});
        let agent = admin
            .create_agent(&self.principal, serde_json::from_value::<CreateAgent>(agent).unwrap())
            .await
            .unwrap();
        let integration = admin
            .create_integration(
                &self.principal,
                serde_json::from_value::<CreateIntegration>(json!({"name": "lark", "platform": "lark",
                    "mode": "long_connection", "credentials": {"app_id": APP_ID, "app_secret": secret}}))
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
        self.id = Some(integration.id.parse().unwrap());
    }

    /// The Lark connector with short timings and a click toast.
    fn connector(&self) -> Arc<dyn Connector> {
        let connector = long::Connector::new(
            reqwest::Client::new(),
            Endpoints::single(&self.fake.base),
            Arc::new(StaticIdentity(self.fake.bot_open_id())),
        )
        .with_settings(long::Settings {
            fragments: long::Limits {
                ttl: Duration::from_secs(1),
                ..long::Limits::default()
            },
            silence_grace: Duration::from_millis(300),
            handshake_timeout: Duration::from_secs(2),
            identity_timeout: Duration::from_secs(1),
            close_timeout: Duration::from_millis(200),
            click_toast: Some(TOAST.to_owned()),
        });
        Arc::new(connector)
    }

    /// A relay running `connector`, its ingress going through the flaky queue.
    fn serve(&mut self, connector: Arc<dyn Connector>) {
        let shutdown = start_relay(
            self.deps(),
            self.flaky.clone(),
            Platform::Lark,
            connector,
            fast_relay("relay-a"),
        );
        self.relays.push(shutdown);
    }

    /// Waits until `done`; on timeout fails with what the fake and the store saw.
    async fn until<F, Fut>(&self, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done().await {
            if tokio::time::Instant::now() >= deadline {
                let mut report = format!(
                    "endpoint calls {}, handshakes {:?}, live {}, acks {:?}, problems {:?}\nstatus {:?}\n",
                    self.fake.endpoint_calls(),
                    self.fake.handshakes(),
                    self.fake.live_connections(),
                    self.fake
                        .acks()
                        .iter()
                        .map(|a| (&a.message_id, a.code))
                        .collect::<Vec<_>>(),
                    self.fake.frame_problems(),
                    self.status().await,
                );
                for e in self.events().await {
                    report.push_str(&format!("  {} {} {:?} {}\n", e.at, e.kind, e.event_id, e.detail));
                }
                panic!("timed out waiting for {what}\n{report}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn status(&self) -> Option<IntegrationStatus> {
        self.deps().store.get_status(self.id()).await.unwrap()
    }

    async fn connected(&self) {
        self.until("the connection", || async {
            self.status()
                .await
                .is_some_and(|s| s.state == ConnectionState::Connected)
        })
        .await;
    }

    async fn auth_failed(&self) -> IntegrationStatus {
        self.until("the auth failure", || async {
            self.status()
                .await
                .is_some_and(|s| s.reason == Some(StatusReason::AuthFailed))
        })
        .await;
        self.status().await.unwrap()
    }

    async fn events(&self) -> Vec<EventLogEntry> {
        self.deps()
            .store
            .recent_events(self.id(), 500, Timestamp::now())
            .await
            .unwrap()
    }

    async fn count(&self, kind: &str, event_id: &str) -> usize {
        self.events()
            .await
            .iter()
            .filter(|e| e.kind == kind && e.event_id.as_deref() == Some(event_id))
            .count()
    }

    /// Waits for the code-200 ACK of push `message_id`.
    async fn acked(&self, message_id: &str) -> fake_lark::Ack {
        match self.fake.wait_for_ack(message_id, WAIT).await {
            Some(ack) => ack,
            None => {
                self.until(&format!("the ACK of {message_id}"), || async { false })
                    .await;
                unreachable!()
            }
        }
    }

    /// ACKs of push `message_id`.
    fn acks_of(&self, message_id: &str) -> usize {
        self.fake.acks().iter().filter(|a| a.message_id == message_id).count()
    }

    /// Everything enqueued so far (received once each, with a visibility longer than the test).
    async fn queued(&self) -> Vec<InboundEvent> {
        let deliveries = self.deps().queue.receive(50, Duration::from_secs(600)).await.unwrap();
        let mut queued = self.queued.lock().unwrap();
        queued.extend(
            deliveries
                .into_iter()
                .map(|d| match Envelope::from_body(&d.body).unwrap().payload {
                    Payload::Inbound { event, .. } => *event,
                    other => panic!("unexpected queue message {other:?}"),
                }),
        );
        queued.clone()
    }
}

fn text_of(event: &InboundEvent) -> &str {
    match &event.kind {
        InboundKind::Message(message) => &message.text,
        other => panic!("not a message: {other:?}"),
    }
}

/// A card click on `om_card1` in chat `chat` (none: a click without its chat).
fn click(event_id: &str, chat: Option<&str>) -> Value {
    let mut context = json!({"open_message_id": "om_card1"});
    if let Some(chat) = chat {
        context["open_chat_id"] = json!(chat);
    }
    json!({"schema": "2.0",
        "header": {"event_id": event_id, "event_type": "card.action.trigger", "create_time": "1700000000000",
            "app_id": APP_ID, "tenant_key": "tk_fake"},
        "event": {"operator": {"open_id": USER},
            "action": {"tag": "button", "value": {"action": "new_session", "chat_type": "group"}},
            "context": context}})
}

#[tokio::test]
async fn a_message_is_enqueued_then_acked_and_the_first_ping_carries_the_service_id() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    w.until("the first ping", || async { w.fake.pings() == 1 }).await;

    let event = w.fake.message_event("om_msg1", "oc_group1", true, "hello there");
    let pushed = w.fake.push_event(&event);
    let ack = w.acked(&pushed).await;
    // The ACK went out after the enqueue: the queue holds the message already.
    let queued = w.queued().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let message = &queued[0];
    assert_eq!(message.event_id, "om_msg1");
    assert_eq!(text_of(message), "hello there");
    assert_eq!(message.conversation.kind, ConversationKind::Group);
    assert!(
        matches!(&message.kind, InboundKind::Message(m) if m.mentions_bot),
        "the static identity is used"
    );
    assert_eq!(
        message.reply,
        ReplyContext::Lark {
            message_id: "om_msg1".into(),
            chat_id: "oc_group1".into(),
            root_id: None,
        }
    );
    assert!(ack.echoes_push, "{ack:?}");
    assert!(
        ack.biz_rt.as_deref().is_some_and(|ms| ms.parse::<u64>().is_ok()),
        "{ack:?}"
    );
    assert_eq!(ack.frame.payload_json(), Some(json!({"code": 200})));
    assert_eq!(ack.data, None);
    assert_eq!(w.count("enqueued", "om_msg1").await, 1);
    assert_eq!(w.count("received", "om_msg1").await, 1);

    let frames = w.fake.frames();
    let first = frames[0].frame.as_ref().unwrap();
    assert_eq!(first.header("type"), Some("ping"));
    assert_eq!(first.service, w.fake.service_id());
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
    let status = w.status().await.unwrap();
    assert!(status.last_event_at.is_some());
    assert_eq!(status.reconnect_attempts, 0);
}

#[tokio::test]
async fn pings_follow_the_config_of_the_latest_pong() {
    let mut w = world().await;
    w.fake.set_client_config(ClientConfig {
        ping_interval: 1,
        ..ClientConfig::default()
    });
    w.app(SECRET).await;
    w.connected().await;
    w.until("pings every second", || async { w.fake.pings() >= 3 }).await;

    // The next pong asks for 120 s: after the ping it answers, no more pings come.
    w.fake.set_client_config(ClientConfig {
        ping_interval: 120,
        ..ClientConfig::default()
    });
    let seen = w.fake.pings();
    w.until("the ping whose pong carries 120 s", || async { w.fake.pings() > seen })
        .await;
    let after = w.fake.pings();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(w.fake.pings(), after, "the pong's interval applies at once");
    let connections = w.fake.connections();
    assert_eq!(connections.len(), 1, "pings alone keep one connection");
    assert!(
        w.fake
            .frames()
            .iter()
            .filter_map(|f| f.frame.as_ref())
            .all(|f| f.service == w.fake.service_id())
    );
    // A server ping needs no answer, and the link stays up.
    let before = w.fake.frames().len();
    assert!(w.fake.send_server_ping());
    let event = w.fake.message_event("om_after_ping", "oc_p2p", false, "still here");
    w.acked(&w.fake.push_event(&event)).await;
    assert_eq!(w.fake.frames().len(), before + 1, "only the ACK was sent");
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
}

#[tokio::test]
async fn a_fragmented_event_is_reassembled_enqueued_once_and_acked_once() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    let long_text = "fragmented ".repeat(40);
    let event = w.fake.message_event("om_frag", "oc_p2p", false, long_text.trim_end());
    let pushed = w.fake.push_event_with(
        &event,
        PushOptions {
            fragments: 4,
            interleave: true,
        },
    );
    let ack = w.acked(&pushed).await;
    assert!(ack.echoes_push, "the ACK echoes the completing fragment");
    assert_eq!(w.acks_of(&pushed), 1, "only the completing fragment is ACKed");
    let queued = w.queued().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(text_of(&queued[0]), long_text.trim_end());
    assert_eq!(w.count("enqueued", "om_frag").await, 1);
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
}

#[tokio::test]
async fn a_duplicate_delivery_is_acked_both_times_and_enqueued_once() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    let event = w.fake.message_event("om_dup", "oc_p2p", false, "once please");
    let first = w.fake.push_event(&event);
    w.acked(&first).await;
    let second = w.fake.push_event(&event);
    w.acked(&second).await;
    assert_eq!(w.count("enqueued", "om_dup").await, 1);
    assert_eq!(w.count("duplicate", "om_dup").await, 1);
    assert_eq!(w.queued().await.len(), 1);
}

#[tokio::test]
async fn while_the_queue_is_down_nothing_is_acked_and_the_repush_is_processed_once() {
    let mut w = world().await;
    w.fake.set_redelivery(Some(Duration::from_millis(300)));
    w.app(SECRET).await;
    w.connected().await;
    w.flaky.set_down(true);
    let event = w.fake.message_event("om_queue", "oc_p2p", false, "queued?");
    let pushed = w.fake.push_event(&event);
    w.until("two refused deliveries", || async {
        w.count("error", "om_queue").await >= 2 && w.fake.deliveries(&pushed) >= 2
    })
    .await;
    assert_eq!(w.acks_of(&pushed), 0, "no ACK while the queue is down");
    assert!(w.queued().await.is_empty());
    let status = w.status().await.unwrap();
    assert!(status.last_error.unwrap().contains("left unacknowledged"));
    assert_eq!(
        status.state,
        ConnectionState::Connected,
        "a queue outage keeps the link"
    );

    w.flaky.set_down(false);
    w.acked(&pushed).await;
    assert_eq!(w.count("enqueued", "om_queue").await, 1);
    let queued = w.queued().await;
    assert_eq!(queued.len(), 1);
    assert_eq!(text_of(&queued[0]), "queued?");
}

#[tokio::test]
async fn a_dropped_connection_reconnects_through_a_new_endpoint_and_nothing_is_lost() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    let a = w.fake.message_event("om_a", "oc_p2p", false, "one");
    w.acked(&w.fake.push_event(&a)).await;

    assert!(w.fake.drop_connection());
    let b = w.fake.message_event("om_b", "oc_p2p", false, "two");
    let pushed_b = w.fake.push_event(&b);
    w.until("the reconnect", || async { w.fake.handshakes().0 == 2 }).await;
    assert_eq!(w.fake.endpoint_calls(), 2, "every connection gets a fresh endpoint");
    w.acked(&pushed_b).await;
    assert_eq!(w.fake.connections()[1].service_id, w.fake.service_id());
    for (id, text) in [("om_a", "one"), ("om_b", "two")] {
        assert_eq!(w.count("enqueued", id).await, 1, "{id}");
        assert!(w.queued().await.iter().all(|e| e.event_id != id || text_of(e) == text));
    }
    let status = w.status().await.unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(
        status.reconnect_attempts, 0,
        "the connector reconnected by itself, not the supervisor"
    );
    assert!(w.events().await.iter().any(|e| e.kind == "error"));
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
}

#[tokio::test]
async fn reconnect_attempts_stop_at_the_configured_count_then_the_supervisor_takes_over() {
    let mut w = world().await;
    w.fake.set_client_config(ClientConfig {
        ping_interval: 120,
        reconnect_count: 2,
        reconnect_interval: 1,
        reconnect_nonce: 0,
    });
    w.app(SECRET).await;
    w.connected().await;
    w.fake.endpoint_busy_next(1);
    w.fake.endpoint_fail_next(2);
    assert!(w.fake.close_connection());
    w.until("the connector to give up", || async {
        w.events()
            .await
            .iter()
            .any(|e| e.detail.contains("after 2 reconnect attempts"))
    })
    .await;
    let status = w.status().await.unwrap();
    assert!(status.reconnect_attempts >= 2, "its waits show as retrying: {status:?}");
    let details: Vec<String> = w.events().await.into_iter().map(|e| e.detail).collect();
    assert!(
        details.iter().any(|d| d.contains("reconnect attempt 2 failed")),
        "{details:?}"
    );
    assert!(
        !details.iter().any(|d| d.contains("reconnect attempt 3")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("after 2 reconnect attempts")),
        "{details:?}"
    );
    // The supervisor's run meets the last failure, then connects.
    w.connected().await;
    assert_eq!(w.fake.endpoint_calls(), 5);
    assert_eq!(w.fake.handshakes(), (2, 0));
}

#[tokio::test]
async fn a_silent_connection_is_replaced() {
    let mut w = world().await;
    w.fake.set_client_config(ClientConfig {
        ping_interval: 1,
        reconnect_count: -1,
        reconnect_interval: 1,
        reconnect_nonce: 0,
    });
    w.app(SECRET).await;
    w.connected().await;
    assert!(w.fake.mute());
    w.until("a new connection", || async { w.fake.handshakes().0 == 2 })
        .await;
    assert!(
        w.events().await.iter().any(|e| e.detail.contains("nothing from Lark")),
        "the watchdog says why"
    );
    let event = w.fake.message_event("om_awake", "oc_p2p", false, "awake");
    w.acked(&w.fake.push_event(&event)).await;
    assert_eq!(w.count("enqueued", "om_awake").await, 1);
}

#[tokio::test]
async fn refused_credentials_stop_without_retries() {
    let mut w = world().await;
    w.integration("the-wrong-secret").await;
    // The public constructor, with the production settings.
    let connector = lark::connector(
        reqwest::Client::new(),
        Endpoints::single(&w.fake.base),
        Arc::new(StaticIdentity(w.fake.bot_open_id())),
    );
    w.serve(connector);
    let status = w.auth_failed().await;
    assert_eq!(status.state, ConnectionState::Error);
    let error = status.last_error.unwrap();
    assert!(
        error.contains("10014") && !error.contains("the-wrong-secret"),
        "{error}"
    );
    // Several reconcile passes later: still the one call.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.fake.endpoint_calls(), 1, "no retries");
    assert_eq!(w.fake.handshakes(), (0, 0));
}

#[tokio::test]
async fn the_connection_limit_stops_but_other_handshake_refusals_are_retried() {
    let mut w = world().await;
    w.fake
        .refuse_next_handshake(HandshakeRefusal::auth_failed(1_000_040_343));
    w.app(SECRET).await;
    w.connected().await;
    assert_eq!(w.fake.handshakes(), (1, 1), "a 514 with another code is retried");

    w.fake.refuse_next_handshake(HandshakeRefusal::exceed_conn_limit());
    assert!(w.fake.drop_connection());
    let status = w.auth_failed().await;
    let error = status.last_error.unwrap();
    assert!(error.contains("1000040350"), "{error}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.fake.handshakes(), (1, 2), "no retries after the limit");
    assert_eq!(w.fake.endpoint_calls(), 3);
}

#[tokio::test]
async fn a_forbidden_app_stops() {
    let mut w = world().await;
    w.fake.refuse_next_handshake(HandshakeRefusal::forbidden());
    w.app(SECRET).await;
    let error = w.auth_failed().await.last_error.unwrap();
    assert!(error.contains("forbidden"), "{error}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.fake.endpoint_calls(), 1);
}

#[tokio::test]
async fn a_card_click_is_enqueued_as_a_card_action_and_answered_with_a_toast() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    let pushed = w.fake.push_event(&click("ev_click1", Some("oc_group1")));
    let ack = w.acked(&pushed).await;
    assert_eq!(ack.data, Some(json!({"toast": {"type": "info", "content": TOAST}})));
    let queued = w.queued().await;
    assert_eq!(queued.len(), 1);
    let action = &queued[0];
    assert_eq!(action.event_id, "ev_click1");
    assert!(
        matches!(&action.kind, InboundKind::CardAction { action, .. } if action == "new_session"),
        "{action:?}"
    );
    assert_eq!(action.conversation.id, "oc_group1");
    assert_eq!(action.sender.id, USER);

    // A click without its chat is acknowledged, logged and not queued.
    let pushed = w.fake.push_event(&click("ev_click2", None));
    let ack = w.acked(&pushed).await;
    assert_eq!(ack.data, None);
    assert_eq!(w.count("ignored", "ev_click2").await, 1);
    assert_eq!(w.queued().await.len(), 1, "nothing new");
}

#[tokio::test]
async fn frames_to_ignore_are_ignored_and_the_connection_survives() {
    let mut w = world().await;
    w.app(SECRET).await;
    w.connected().await;
    // Another event type and an unreadable event: ACKed (never re-pushed), logged, not queued.
    let other = json!({"schema": "2.0", "header": {"event_id": "ev_other", "event_type": "im.chat.updated_v1"},
        "event": {}});
    w.acked(&w.fake.push_event(&other)).await;
    assert_eq!(w.count("ignored", "ev_other").await, 1);
    let broken = json!({"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}, "secret": "content"});
    w.acked(&w.fake.push_event(&broken)).await;
    let unreadable: Vec<String> = w
        .events()
        .await
        .into_iter()
        .filter(|e| e.detail.contains("unreadable event"))
        .map(|e| e.detail)
        .collect();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(!unreadable[0].contains("content"), "{unreadable:?}");

    // Card frames get no ACK; text and garbage are skipped.
    let card = Frame {
        seq_id: 9,
        log_id: 9,
        service: w.fake.service_id(),
        method: fake_lark::METHOD_DATA,
        headers: vec![
            ("type".into(), "card".into()),
            ("message_id".into(), "card-1".into()),
            ("sum".into(), "1".into()),
            ("seq".into(), "0".into()),
        ],
        payload: Some(b"{}".to_vec()),
        ..Frame::default()
    };
    assert!(w.fake.send_frame(&card));
    assert!(w.fake.send_text("hello?"));
    assert!(w.fake.send_binary(vec![0x0a, 0xff, 0x01]));
    let event = w.fake.message_event("om_ok", "oc_p2p", false, "still there?");
    w.acked(&w.fake.push_event(&event)).await;
    assert_eq!(w.acks_of("card-1"), 0);
    assert_eq!(w.fake.handshakes().0, 1, "the connection survived");
    let queued = w.queued().await;
    assert_eq!(
        queued.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
        ["om_ok"]
    );
    assert!(w.fake.frame_problems().is_empty(), "{:?}", w.fake.frame_problems());
}
