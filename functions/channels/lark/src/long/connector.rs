//! The relay's Lark connector: discovery, dial, serve, and reconnect as the server's client
//! config says (§3.8), all inside one [`imgate_core::relay::Connector::run`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::credentials::{Credentials, Lark};
use imgate_core::relay::{Link, LinkEnd};
use rand::Rng;

use super::config::ClientConfig;
use super::endpoint::{EndpointError, discover};
use super::fragments::Limits;
use super::session::{Ended, Session};
use super::socket::{self, DialError, Socket};
use crate::{BotIdentity, Endpoints};

/// Tunables of the connector. [`Settings::default`] gives the production values.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bounds of fragment reassembly (the TTL is Lark's 5 s).
    pub fragments: Limits,
    /// Added to two ping intervals before a silent socket counts as dead.
    pub silence_grace: Duration,
    /// How long the WebSocket handshake may take.
    pub handshake_timeout: Duration,
    /// How long the bot identity lookup may take after connecting.
    pub identity_timeout: Duration,
    /// How long a polite close may take when stopping.
    pub close_timeout: Duration,
    /// A toast shown to the user in answer to a queued card click, if any.
    pub click_toast: Option<String>,
}

impl Default for Settings {
    /// [`Limits::default`], 10 s of grace, 15 s handshakes, 10 s identity lookups, 2 s closes,
    /// the "new conversation" toast of [`crate::reply::card::NEW_SESSION_TOAST`].
    fn default() -> Self {
        Self {
            fragments: Limits::default(),
            silence_grace: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(15),
            identity_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            click_toast: Some(crate::reply::card::NEW_SESSION_TOAST.to_owned()),
        }
    }
}

/// Runs Lark / Feishu long connections for the relay. One instance serves every Lark
/// long-connection integration.
#[derive(Clone)]
pub struct Connector {
    http: reqwest::Client,
    endpoints: Endpoints,
    pub(super) identity: Arc<dyn BotIdentity>,
    pub(super) settings: Settings,
}

/// Why opening a connection failed.
enum OpenError {
    /// Retrying cannot help (credentials refused, app banned, connection limit).
    Stop(String),
    /// Another attempt may succeed.
    Retry(String),
    /// The run was told to stop.
    Stopped,
}

impl Connector {
    /// A connector discovering endpoints at `endpoints` (per the app's domain) with
    /// [`Settings::default`]; `identity` tells each app's bot open_id.
    pub fn new(http: reqwest::Client, endpoints: Endpoints, identity: Arc<dyn BotIdentity>) -> Self {
        Self {
            http,
            endpoints,
            identity,
            settings: Settings::default(),
        }
    }

    /// The same connector with other tunables (tests use short ones).
    #[must_use]
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The whole run: the first connection, then serve and reconnect until something ends it.
    async fn connection(&self, link: Link) -> LinkEnd {
        let Credentials::Lark(app) = link.credentials() else {
            return LinkEnd::AuthFailed("the integration's credentials are not Lark credentials".into());
        };
        let app = app.clone();
        let mut config = ClientConfig::default();
        // A failed first connection goes back to the supervisor's backoff: no server config
        // has been seen yet.
        let mut opened = match self.open(&link, &app, &mut config).await {
            Ok(opened) => opened,
            Err(OpenError::Retry(text)) => return closed(&link, &text).await,
            Err(OpenError::Stop(text)) => return stop(&link, text),
            Err(OpenError::Stopped) => return LinkEnd::Stopped,
        };
        loop {
            let (socket, service_id) = opened;
            link.connected().await;
            tracing::info!(platform = "lark", integration_id = %link.integration_id(), "long connection up");
            let session = Session {
                connector: self,
                link: &link,
                app: &app,
                config: &mut config,
                service_id,
            };
            match session.serve(socket).await {
                Ended::Stopped => return LinkEnd::Stopped,
                Ended::Lost(text) => {
                    tracing::warn!(platform = "lark", integration_id = %link.integration_id(), error = %text, "long connection lost; reconnecting");
                    link.error(&text).await;
                }
            }
            opened = match self.reconnect(&link, &app, &mut config).await {
                Ok(opened) => opened,
                Err(end) => return end,
            };
        }
    }

    /// §3.8: wait random(0, ReconnectNonce), then up to ReconnectCount attempts (forever when
    /// negative) ReconnectInterval apart, each with a fresh endpoint. The config is read anew
    /// before every wait, since an endpoint answer may change it.
    async fn reconnect(&self, link: &Link, app: &Lark, config: &mut ClientConfig) -> Result<(Socket, i32), LinkEnd> {
        let jitter = rand::rng().random_range(Duration::ZERO..=config.reconnect_nonce);
        link.reconnecting(jitter).await;
        wait(link, jitter).await?;
        let mut attempt: u64 = 0;
        while config.may_attempt(attempt) {
            if attempt > 0 {
                link.reconnecting(config.reconnect_interval).await;
                wait(link, config.reconnect_interval).await?;
            }
            attempt += 1;
            match self.open(link, app, config).await {
                Ok(opened) => return Ok(opened),
                Err(OpenError::Stopped) => return Err(LinkEnd::Stopped),
                Err(OpenError::Stop(text)) => return Err(stop(link, text)),
                Err(OpenError::Retry(text)) => {
                    tracing::warn!(platform = "lark", integration_id = %link.integration_id(), attempt, error = %text, "reconnect attempt failed");
                    link.error(&format!("reconnect attempt {attempt} failed: {text}")).await;
                }
            }
        }
        let text = format!("no connection after {attempt} reconnect attempts");
        Err(closed(link, &text).await)
    }

    /// Discovers a fresh endpoint (applying its config) and dials it.
    async fn open(&self, link: &Link, app: &Lark, config: &mut ClientConfig) -> Result<(Socket, i32), OpenError> {
        let discovery = discover(
            &self.http,
            self.endpoints.base(app.domain),
            &app.app_id,
            &app.app_secret,
        );
        let found = tokio::select! {
            () = link.stopping() => return Err(OpenError::Stopped),
            found = discovery => found,
        };
        let endpoint = match found {
            Ok(endpoint) => endpoint,
            Err(error @ (EndpointError::Refused { .. } | EndpointError::NoCredentials)) => {
                return Err(OpenError::Stop(error.to_string()));
            }
            Err(error) => return Err(OpenError::Retry(error.to_string())),
        };
        if let Some(update) = &endpoint.config {
            config.apply(update);
        }
        tracing::debug!(platform = "lark", integration_id = %link.integration_id(), device_id = %endpoint.device_id, service_id = endpoint.service_id, "endpoint discovered");
        let dial = tokio::time::timeout(self.settings.handshake_timeout, socket::connect(&endpoint.url));
        let dialed = tokio::select! {
            () = link.stopping() => return Err(OpenError::Stopped),
            dialed = dial => dialed,
        };
        match dialed {
            Ok(Ok(socket)) => Ok((socket, endpoint.service_id)),
            Ok(Err(DialError::Stop(text))) => Err(OpenError::Stop(text)),
            Ok(Err(DialError::Retry(text))) => Err(OpenError::Retry(text)),
            Err(_) => Err(OpenError::Retry("the WebSocket handshake timed out".to_owned())),
        }
    }
}

#[async_trait]
impl imgate_core::relay::Connector for Connector {
    /// The whole run (the relay worker runs this on a task of its own, so it goes on reading,
    /// pinging and acknowledging while the lease is renewed).
    async fn run(&self, link: Link) -> LinkEnd {
        self.connection(link).await
    }
}

/// Sleeps unless the run is told to stop first.
async fn wait(link: &Link, delay: Duration) -> Result<(), LinkEnd> {
    tokio::select! {
        () = link.stopping() => Err(LinkEnd::Stopped),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}

/// Reports a failure and hands the run back to the supervisor's backoff.
async fn closed(link: &Link, text: &str) -> LinkEnd {
    tracing::warn!(platform = "lark", integration_id = %link.integration_id(), error = text, "long connection ended");
    link.error(text).await;
    LinkEnd::Closed
}

/// Ends the run for a refusal retrying cannot fix.
fn stop(link: &Link, text: String) -> LinkEnd {
    tracing::warn!(platform = "lark", integration_id = %link.integration_id(), error = %text, "long connection refused; not retrying");
    LinkEnd::AuthFailed(text)
}
