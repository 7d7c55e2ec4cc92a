//! The relay supervisor on the embedded store with a fake connector: one connection per bot
//! across relays, takeover after a crash, stop on unbind/disable, retries with backoff, no retry
//! of rejected credentials or taken-over bots until the integration changes, restart on change,
//! and a graceful shutdown that gives the leases back.

#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, Principal, PublishTrigger};
use imgate_core::credentials::Credentials;
use imgate_core::ids::IntegrationId;
use imgate_core::ingress::Ingress;
use imgate_core::integration::{ConnectionState, IntegrationStatus, StatusReason};
use imgate_core::ports::{Deps, EventLogEntry};
use imgate_core::relay::{Connector, Link, LinkEnd, RelayError, RelaySettings, Supervisor};
use imgate_core::{Platform, Timestamp};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the fake platform does on one connection.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// The server closes the socket before the connection is up.
    Close,
    /// The platform rejects the credentials.
    RejectCredentials,
    /// Connects, then another connection takes the bot over.
    Kick,
}

/// Counts live connections per integration; scripted failures, else stays connected until told
/// to stop.
#[derive(Clone, Default)]
struct FakePlatform(Arc<Mutex<Counters>>);

#[derive(Default)]
struct Counters {
    live: HashMap<IntegrationId, usize>,
    most_live: HashMap<IntegrationId, usize>,
    runs: HashMap<IntegrationId, usize>,
    secrets: HashMap<IntegrationId, String>,
    scripts: HashMap<IntegrationId, VecDeque<Script>>,
}

/// One live connection; counted down when the connector returns or is dropped.
struct Live(FakePlatform, IntegrationId);

impl Drop for Live {
    fn drop(&mut self) {
        *self.0.0.lock().unwrap().live.entry(self.1.clone()).or_default() -= 1;
    }
}

impl FakePlatform {
    fn script(&self, id: &IntegrationId, steps: &[Script]) {
        let mut counters = self.0.lock().unwrap();
        counters.scripts.entry(id.clone()).or_default().extend(steps);
    }
    fn live(&self, id: &IntegrationId) -> usize {
        self.0.lock().unwrap().live.get(id).copied().unwrap_or(0)
    }
    fn most_live(&self, id: &IntegrationId) -> usize {
        self.0.lock().unwrap().most_live.get(id).copied().unwrap_or(0)
    }
    fn runs(&self, id: &IntegrationId) -> usize {
        self.0.lock().unwrap().runs.get(id).copied().unwrap_or(0)
    }
    fn secret(&self, id: &IntegrationId) -> Option<String> {
        self.0.lock().unwrap().secrets.get(id).cloned()
    }
}

#[async_trait]
impl Connector for FakePlatform {
    async fn run(&self, link: Link) -> LinkEnd {
        let id = link.integration_id().clone();
        let step = {
            let mut counters = self.0.lock().unwrap();
            let live = counters.live.entry(id.clone()).or_default();
            *live += 1;
            let live = *live;
            let most = counters.most_live.entry(id.clone()).or_default();
            *most = (*most).max(live);
            *counters.runs.entry(id.clone()).or_default() += 1;
            if let Credentials::WecomLongConnection(c) = link.credentials() {
                counters.secrets.insert(id.clone(), c.secret.expose().to_owned());
            }
            counters.scripts.get_mut(&id).and_then(VecDeque::pop_front)
        };
        let _live = Live(self.clone(), id);
        match step {
            Some(Script::Close) => {
                link.error("server closed the socket").await;
                LinkEnd::Closed
            }
            Some(Script::RejectCredentials) => LinkEnd::AuthFailed("errcode 853000: invalid bot id or secret".into()),
            Some(Script::Kick) => {
                link.connected().await;
                tokio::time::sleep(Duration::from_millis(30)).await;
                LinkEnd::Kicked
            }
            None => {
                link.connected().await;
                link.event_received().await;
                link.stopping().await;
                LinkEnd::Stopped
            }
        }
    }
}

struct World {
    deps: Deps,
    admin: Admin,
    principal: Principal,
    agent_id: String,
    platform: FakePlatform,
    _dir: tempfile::TempDir,
}

/// A relay under test: its supervisor, its shutdown switch and its task.
struct Relay {
    supervisor: Supervisor,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), RelayError>>,
}

impl Relay {
    /// Aborts the relay as a crash would: no status, no lease released.
    async fn kill(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
        drop(self.supervisor);
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
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "http://gw".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash("boot-boot-boot-boot")),
        },
    );
    let boot = admin.authenticate(Some("boot-boot-boot-boot")).await.unwrap();
    let org = admin.create_org(&boot, "acme").await.unwrap();
    let principal = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let agent = admin
        .create_agent(
            &principal,
            serde_json::from_value::<CreateAgent>(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    World {
        deps,
        admin,
        principal,
        agent_id: agent.id,
        platform: FakePlatform::default(),
        _dir: dir,
    }
}

impl World {
    /// A WeCom long-connection integration, bound to the echo agent when `bound`.
    async fn bot(&self, bound: bool) -> IntegrationId {
        let integration = self
            .admin
            .create_integration(
                &self.principal,
                serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                    "mode": "long_connection", "credentials": {"bot_id": "B1", "secret": "S1"}}))
                .unwrap(),
            )
            .await
            .unwrap();
        if bound {
            self.publish(&integration.id).await;
        }
        integration.id.parse().unwrap()
    }

    async fn publish(&self, id: &str) {
        let body = json!({"agentId": self.agent_id});
        self.admin
            .publish_trigger(
                &self.principal,
                id,
                serde_json::from_value::<PublishTrigger>(body).unwrap(),
            )
            .await
            .unwrap();
    }

    async fn update(&self, id: &IntegrationId, body: serde_json::Value) {
        self.admin
            .update_integration(&self.principal, id.as_str(), serde_json::from_value(body).unwrap())
            .await
            .unwrap();
    }

    fn relay(&self, owner: &str) -> Relay {
        let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
        connectors.insert(Platform::Wecom, Arc::new(self.platform.clone()));
        let supervisor = Supervisor::new(
            self.deps.store.clone(),
            self.deps.keyring.clone(),
            Ingress::new(self.deps.store.clone(), self.deps.queue.clone()),
            connectors,
            RelaySettings {
                lease_ttl: Duration::from_millis(600),
                renew_every: Duration::from_millis(150),
                ..imgate_tests::world::fast_relay(owner)
            },
        );
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn({
            let supervisor = supervisor.clone();
            async move { supervisor.run(stop).await }
        });
        Relay {
            supervisor,
            shutdown,
            task,
        }
    }

    async fn status(&self, id: &IntegrationId) -> Option<IntegrationStatus> {
        self.deps.store.get_status(id).await.unwrap()
    }

    async fn lease_owner(&self, id: &IntegrationId) -> Option<String> {
        let lease = self.deps.store.get_lease(id, Timestamp::now()).await.unwrap();
        lease.map(|l| l.owner)
    }

    async fn events(&self, id: &IntegrationId) -> Vec<EventLogEntry> {
        self.deps.store.recent_events(id, 100, Timestamp::now()).await.unwrap()
    }

    /// Waits until the status is in `state` with `reason`.
    async fn status_becomes(&self, id: &IntegrationId, state: ConnectionState, reason: Option<StatusReason>) {
        eventually(&format!("status {state:?} {reason:?}"), || async {
            self.status(id)
                .await
                .is_some_and(|s| s.state == state && s.reason == reason)
        })
        .await;
    }

    /// Waits until the bot has exactly one live connection and says so in its status.
    async fn connected(&self, id: &IntegrationId) {
        eventually("one live connection", || async { self.platform.live(id) == 1 }).await;
        self.status_becomes(id, ConnectionState::Connected, None).await;
    }

    /// Waits until no relay holds the bot's lease (the status is written just before).
    async fn released(&self, id: &IntegrationId) {
        eventually("lease released", || async { self.lease_owner(id).await.is_none() }).await;
    }

    /// Waits until the bot has no live connection.
    async fn disconnected(&self, id: &IntegrationId) {
        eventually("no live connection", || async { self.platform.live(id) == 0 }).await;
    }
}

/// Polls `check` until it holds, for up to 5 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    imgate_tests::world::eventually(what, Duration::from_secs(5), check).await;
}

/// Several reconcile passes and lease renewals.
async fn a_while() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

#[tokio::test]
async fn a_bound_enabled_bot_gets_one_connection_and_a_connected_status() {
    let world = world().await;
    let bot = world.bot(true).await;
    let unbound = world.bot(false).await;
    let relay = world.relay("relay-a");
    world.connected(&bot).await;
    // The fake sends one event right after connecting; its time is written just after `connected`.
    eventually("last event time", || async {
        world.status(&bot).await.is_some_and(|s| s.last_event_at.is_some())
    })
    .await;

    let status = world.status(&bot).await.unwrap();
    assert_eq!(status.owner.as_deref(), Some("relay-a"));
    assert!(status.connected_since.is_some());
    assert_eq!(status.reconnect_attempts, 0);
    assert_eq!(world.lease_owner(&bot).await.as_deref(), Some("relay-a"));
    assert_eq!(world.platform.secret(&bot).as_deref(), Some("S1"), "opened credentials");

    a_while().await;
    assert_eq!(world.platform.runs(&bot), 1, "a healthy connection is left alone");
    assert_eq!(world.platform.runs(&unbound), 0, "an unbound bot is not connected");
    assert_eq!(world.status(&unbound).await, None);
    let events = world.events(&bot).await;
    assert!(events.iter().any(|e| e.kind == "connected"), "{events:?}");
    assert!(
        events.iter().all(|e| !e.detail.contains("S1")),
        "no secrets in the event log"
    );
    relay.shut_down().await;
}

#[tokio::test]
async fn two_relays_never_hold_one_bot_and_the_survivor_takes_over_after_a_crash() {
    let world = world().await;
    let mut bots = Vec::new();
    for _ in 0..3 {
        bots.push(world.bot(true).await);
    }
    let mut relays = HashMap::from([("a", world.relay("a")), ("b", world.relay("b"))]);
    for bot in &bots {
        world.connected(bot).await;
    }
    // Sample while both relays reconcile and renew.
    for _ in 0..40 {
        for bot in &bots {
            assert!(world.platform.live(bot) <= 1, "one live connection per bot");
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    for bot in &bots {
        assert_eq!(world.platform.live(bot), 1);
        let owner = world.lease_owner(bot).await.unwrap();
        assert_eq!(
            world.status(bot).await.unwrap().owner,
            Some(owner),
            "the holder writes the status"
        );
    }

    // Crash the holder of the first bot: its connections drop, its leases stay until they lapse.
    let victim = world.lease_owner(&bots[0]).await.unwrap();
    let survivor = if victim == "a" { "b" } else { "a" };
    relays.remove(victim.as_str()).unwrap().kill().await;
    for bot in &bots {
        eventually("takeover", || async {
            world.lease_owner(bot).await.as_deref() == Some(survivor) && world.platform.live(bot) == 1
        })
        .await;
        world.connected(bot).await;
        assert_eq!(world.status(bot).await.unwrap().owner.as_deref(), Some(survivor));
    }
    for bot in &bots {
        assert_eq!(world.platform.most_live(bot), 1, "never two connections for one bot");
    }
    relays.remove(survivor).unwrap().shut_down().await;
}

#[tokio::test]
async fn unbinding_and_disabling_stop_the_connection_and_rebinding_restarts_it() {
    let world = world().await;
    let bot = world.bot(true).await;
    let relay = world.relay("relay-a");
    world.connected(&bot).await;

    world
        .admin
        .unpublish_trigger(&world.principal, bot.as_str())
        .await
        .unwrap();
    world.disconnected(&bot).await;
    world
        .status_becomes(&bot, ConnectionState::Stopped, Some(StatusReason::Unbound))
        .await;
    world.released(&bot).await;

    world.publish(bot.as_str()).await;
    world.connected(&bot).await;

    world
        .admin
        .set_integration_enabled(&world.principal, bot.as_str(), false)
        .await
        .unwrap();
    world.disconnected(&bot).await;
    world
        .status_becomes(&bot, ConnectionState::Stopped, Some(StatusReason::Disabled))
        .await;
    world.released(&bot).await;
    a_while().await;
    assert_eq!(world.platform.live(&bot), 0, "stays down while disabled");

    world
        .admin
        .set_integration_enabled(&world.principal, bot.as_str(), true)
        .await
        .unwrap();
    world.connected(&bot).await;
    assert_eq!(world.platform.runs(&bot), 3);
    assert_eq!(world.platform.most_live(&bot), 1);
    relay.shut_down().await;
}

#[tokio::test]
async fn switching_to_webhook_mode_or_deleting_stops_the_connection() {
    let world = world().await;
    let switched = world.bot(true).await;
    let deleted = world.bot(true).await;
    let relay = world.relay("relay-a");
    world.connected(&switched).await;
    world.connected(&deleted).await;

    world
        .update(
            &switched,
            json!({"mode": "webhook", "credentials": {"token": "t", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}),
        )
        .await;
    world.disconnected(&switched).await;
    world.status_becomes(&switched, ConnectionState::Stopped, None).await;
    world.released(&switched).await;

    world
        .admin
        .delete_integration(&world.principal, deleted.as_str())
        .await
        .unwrap();
    world.disconnected(&deleted).await;
    world.released(&deleted).await;
    a_while().await;
    assert_eq!(
        world.status(&deleted).await,
        None,
        "no status outlives a deleted integration"
    );
    relay.shut_down().await;
}

#[tokio::test]
async fn closed_connections_are_retried_with_growing_attempts_until_connected() {
    let world = world().await;
    let bot = world.bot(true).await;
    world.platform.script(&bot, &[Script::Close; 4]);
    let relay = world.relay("relay-a");

    let mut seen = Vec::new();
    for _ in 0..1000 {
        let Some(status) = world.status(&bot).await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        match status.state {
            ConnectionState::Retrying => {
                assert_eq!(status.reason, Some(StatusReason::Network));
                assert_eq!(status.last_error.as_deref(), Some("server closed the socket"));
                seen.push(status.reconnect_attempts);
            }
            ConnectionState::Connected => break,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    world.status_becomes(&bot, ConnectionState::Connected, None).await;
    assert!(!seen.is_empty(), "a Retrying status was observed");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "attempts grow: {seen:?}");

    let status = world.status(&bot).await.unwrap();
    assert_eq!(status.reconnect_attempts, 0, "reset once connected");
    assert_eq!(world.platform.runs(&bot), 5);
    let retries: Vec<String> = world
        .events(&bot)
        .await
        .into_iter()
        .filter(|e| e.kind == "retrying")
        .map(|e| e.detail)
        .collect();
    for attempt in 1..=4 {
        let tag = format!("(attempt {attempt})");
        assert!(retries.iter().any(|d| d.contains(&tag)), "{tag} in {retries:?}");
    }
    relay.shut_down().await;
}

#[tokio::test]
async fn rejected_credentials_are_not_retried_until_they_change() {
    let world = world().await;
    let bot = world.bot(true).await;
    world.platform.script(&bot, &[Script::RejectCredentials]);
    let relay = world.relay("relay-a");

    world
        .status_becomes(&bot, ConnectionState::Error, Some(StatusReason::AuthFailed))
        .await;
    let status = world.status(&bot).await.unwrap();
    assert!(status.last_error.unwrap().contains("853000"));
    a_while().await;
    assert_eq!(world.platform.runs(&bot), 1, "not retried");
    world.released(&bot).await;

    world.update(&bot, json!({"credentials": {"secret": "S2"}})).await;
    world.connected(&bot).await;
    assert_eq!(world.platform.runs(&bot), 2);
    assert_eq!(world.platform.secret(&bot).as_deref(), Some("S2"));
    relay.shut_down().await;
}

#[tokio::test]
async fn a_kicked_bot_is_not_fought_by_any_relay_until_restarted() {
    let world = world().await;
    let bot = world.bot(true).await;
    world.platform.script(&bot, &[Script::Kick]);
    let a = world.relay("a");
    world
        .status_becomes(
            &bot,
            ConnectionState::Stopped,
            Some(StatusReason::KickedByOtherConnection),
        )
        .await;
    let b = world.relay("b");
    a_while().await;
    assert_eq!(world.platform.runs(&bot), 1, "neither relay reconnects");
    assert_eq!(world.platform.live(&bot), 0);
    world.released(&bot).await;

    // An operator's restart on the relay that gave up tries again.
    a.supervisor.restart(&bot).await.unwrap();
    world.connected(&bot).await;
    assert_eq!(world.platform.runs(&bot), 2);
    assert_eq!(world.lease_owner(&bot).await.as_deref(), Some("a"));
    a.shut_down().await;
    b.shut_down().await;
}

#[tokio::test]
async fn changed_credentials_restart_a_connected_bot() {
    let world = world().await;
    let bot = world.bot(true).await;
    let relay = world.relay("relay-a");
    world.connected(&bot).await;
    assert_eq!(world.platform.secret(&bot).as_deref(), Some("S1"));

    world.update(&bot, json!({"credentials": {"secret": "S2"}})).await;
    eventually("a new connection", || async { world.platform.runs(&bot) == 2 }).await;
    world.connected(&bot).await;
    assert_eq!(world.platform.secret(&bot).as_deref(), Some("S2"));
    assert_eq!(world.platform.most_live(&bot), 1, "the old connection closed first");
    relay.shut_down().await;
}

#[tokio::test]
async fn restart_reconnects_a_running_bot_and_refuses_others() {
    let world = world().await;
    let bot = world.bot(true).await;
    let elsewhere = world.bot(false).await;
    let relay = world.relay("relay-a");
    world.connected(&bot).await;

    relay.supervisor.restart(&bot).await.unwrap();
    world.connected(&bot).await;
    assert_eq!(world.platform.runs(&bot), 2);
    assert_eq!(world.platform.most_live(&bot), 1);
    assert!(matches!(
        relay.supervisor.restart(&elsewhere).await,
        Err(RelayError::NotHere(_))
    ));
    let supervisor = relay.supervisor.clone();
    relay.shut_down().await;
    assert!(matches!(supervisor.restart(&bot).await, Err(RelayError::NotRunning)));
}

#[tokio::test]
async fn a_lost_lease_stops_the_connection_at_once() {
    let world = world().await;
    let bot = world.bot(true).await;
    let relay = world.relay("relay-a");
    world.connected(&bot).await;

    // Another relay takes the lease (as after a long pause of this one).
    let store = &world.deps.store;
    store.release_lease(&bot, "relay-a").await.unwrap();
    store
        .acquire_lease(&bot, "intruder", Timestamp::now(), Duration::from_millis(800))
        .await
        .unwrap();
    world.disconnected(&bot).await;
    assert_eq!(
        world.lease_owner(&bot).await.as_deref(),
        Some("intruder"),
        "not released"
    );

    // Once the intruder's lease lapses, this relay takes the bot back.
    world.connected(&bot).await;
    assert_eq!(world.lease_owner(&bot).await.as_deref(), Some("relay-a"));
    assert_eq!(world.platform.most_live(&bot), 1);
    relay.shut_down().await;
}

#[tokio::test]
async fn a_graceful_shutdown_releases_leases_and_writes_stopped() {
    let world = world().await;
    let bots = [world.bot(true).await, world.bot(true).await];
    let relay = world.relay("relay-a");
    for bot in &bots {
        world.connected(bot).await;
    }
    relay.shut_down().await;
    for bot in &bots {
        assert_eq!(world.platform.live(bot), 0);
        assert_eq!(world.lease_owner(bot).await, None);
        let status = world.status(bot).await.unwrap();
        assert_eq!((status.state, status.reason), (ConnectionState::Stopped, None));
        assert_eq!(status.connected_since, None);
    }
}
