//! Set-up shared by the end-to-end tests: an organization with the echo agent, bots bound to
//! agents, and relays with short timings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use imgate_core::Platform;
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, Principal, PublishTrigger};
use imgate_core::ids::IntegrationId;
use imgate_core::ingress::Ingress;
use imgate_core::ports::{Deps, Queue};
use imgate_core::relay::{Backoff, Connector, RelaySettings, Supervisor};
use serde_json::{Value, json};
use tokio::sync::watch;

/// A fresh embedded store and queue in a directory of its own (kept after the test, like the
/// logs of a failed run), `max_receives` attempts per message.
///
/// # Panics
/// When the directory or database cannot be created.
pub async fn embedded_deps(max_receives: u32) -> Deps {
    let dir = tempfile::tempdir().expect("temporary directory").keep();
    let (deps, _) = imgate_embedded::open(
        &dir.join("db"),
        &dir.join("key"),
        imgate_embedded::QueueOptions { max_receives },
    )
    .await
    .expect("open the embedded backend");
    deps
}

/// The bootstrap key of [`TestOrg::create`].
pub const BOOTSTRAP_KEY: &str = "boot-boot-boot-boot";

/// An organization on a backend, as its API key's principal, with an echo agent.
#[derive(Clone)]
pub struct TestOrg {
    /// The admin service over the backend.
    pub admin: Admin,
    /// The organization's principal.
    pub principal: Principal,
    /// The id of its echo agent.
    pub echo_agent_id: String,
}

impl TestOrg {
    /// Creates the organization "acme" and its echo agent on `deps`.
    ///
    /// # Panics
    /// When the admin service refuses (a broken backend).
    pub async fn create(deps: &Deps) -> Self {
        let admin = Admin::new(
            deps.clone(),
            AdminSettings {
                public_base_url: "http://gw".into(),
                bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP_KEY)),
            },
        );
        let boot = admin.authenticate(Some(BOOTSTRAP_KEY)).await.expect("bootstrap key");
        let org = admin.create_org(&boot, "acme").await.expect("create organization");
        let principal = admin
            .authenticate(Some(&org.api_key.token))
            .await
            .expect("organization key");
        let echo = admin
            .create_agent(&principal, agent_body(json!({"name": "echo", "kind": "echo"})))
            .await
            .expect("create echo agent");
        Self {
            admin,
            principal,
            echo_agent_id: echo.id,
        }
    }

    /// Creates an agent from its admin API body; returns its id.
    ///
    /// # Panics
    /// When the body is refused.
    pub async fn agent(&self, body: Value) -> String {
        self.admin
            .create_agent(&self.principal, agent_body(body))
            .await
            .expect("create agent")
            .id
    }

    /// Creates an integration from its admin API body and, unless `agent` is `None`, publishes a
    /// trigger binding it to `agent` with the extra trigger fields of `trigger` (an object).
    ///
    /// # Panics
    /// When the admin service refuses.
    pub async fn bot(&self, integration: Value, agent: Option<&str>, trigger: Value) -> IntegrationId {
        let integration = self
            .admin
            .create_integration(
                &self.principal,
                serde_json::from_value::<CreateIntegration>(integration).expect("integration body"),
            )
            .await
            .expect("create integration");
        if let Some(agent) = agent {
            let mut publish = json!({"agentId": agent});
            if let (Some(body), Some(extra)) = (publish.as_object_mut(), trigger.as_object()) {
                body.extend(extra.clone());
            }
            self.admin
                .publish_trigger(
                    &self.principal,
                    &integration.id,
                    serde_json::from_value::<PublishTrigger>(publish).expect("trigger body"),
                )
                .await
                .expect("publish trigger");
        }
        integration.id.parse().expect("an integration id")
    }
}

fn agent_body(body: Value) -> CreateAgent {
    serde_json::from_value(body).expect("agent body")
}

/// Relay settings with test timings (100 ms reconciles, sub-second leases and backoff).
pub fn fast_relay(owner: &str) -> RelaySettings {
    RelaySettings {
        reconcile_every: Duration::from_millis(100),
        lease_ttl: Duration::from_millis(900),
        renew_every: Duration::from_millis(200),
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
        stop_timeout: Duration::from_secs(1),
        ..RelaySettings::new(owner)
    }
}

/// Starts a relay supervisor on `deps` running `connector` for `platform`, its ingress going to
/// `queue`; send `true` on the answer to shut it down.
pub fn start_relay(
    deps: &Deps,
    queue: Arc<dyn Queue>,
    platform: Platform,
    connector: Arc<dyn Connector>,
    settings: RelaySettings,
) -> watch::Sender<bool> {
    let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
    connectors.insert(platform, connector);
    let supervisor = Supervisor::new(
        deps.store.clone(),
        deps.keyring.clone(),
        Ingress::new(deps.store.clone(), queue),
        connectors,
        settings,
    );
    let (shutdown, stop) = watch::channel(false);
    tokio::spawn(async move { supervisor.run(stop).await });
    shutdown
}

/// Runs the queue worker with `dispatcher` and serves the admin API and `webhooks` on
/// 127.0.0.1:0; returns the base URL and the switch that stops both.
///
/// # Panics
/// When no local port can be bound.
pub async fn serve_gateway(
    deps: &Deps,
    admin: Admin,
    dispatcher: imgate_core::dispatch::Dispatcher,
    webhooks: imgate_channels::Webhooks,
) -> (String, watch::Sender<bool>) {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(imgate_core::dispatch::worker::run(
        deps.queue.clone(),
        dispatcher,
        stopped.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let base = format!("http://{}", listener.local_addr().expect("gateway address"));
    let app = imgate_http::gateway(admin, webhooks);
    let mut server_stop = stopped;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.changed().await;
            })
            .await;
    });
    (base, stop)
}

/// Polls `check` every 10 ms until it holds; panics naming `what` once `timeout` has passed.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
