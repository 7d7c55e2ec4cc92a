//! What a platform implements to run behind the relay: one connection's lifetime.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use super::board::Board;
use crate::credentials::Credentials;
use crate::ids::IntegrationId;
use crate::ingress::Ingress;
use crate::integration::IntegrationRecord;

/// Why a connection ended. The supervisor decides from it whether and when to reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEnd {
    /// The connector was asked to stop ([`Link::stop`] turned true) and did.
    Stopped,
    /// The network failed or the server closed the connection: reconnect with backoff. Report
    /// the cause first with [`Link::error`] so the status shows it.
    Closed,
    /// The platform rejected the credentials: do not reconnect until they change. The text is a
    /// short description without secrets (e.g. the platform's error code and message).
    AuthFailed(String),
    /// The platform ended the bot's login session (WeChat's `-14`): like
    /// [`LinkEnd::AuthFailed`], no reconnect until the credentials change (a new QR login),
    /// but reported as `login_expired`. The text is a short description without secrets.
    LoginExpired(String),
    /// Another connection for the same bot took over: do not fight it; stay down until the
    /// integration changes or an operator restarts it.
    Kicked,
}

/// One connection's lifetime for one integration.
///
/// [`Connector::run`] connects, calls [`Link::connected`] once the platform accepted the
/// connection, hands every event to [`Link::ingress`] (acknowledging the platform only after it
/// returned `Ok`) and calls [`Link::event_received`], and returns why it ended. It must return
/// promptly (well within [`super::RelaySettings::stop_timeout`]) once [`Link::stop`] turns
/// true; after that it is dropped. The worker runs it on a task of its own, so it keeps going
/// while the worker renews the lease, and aborts that task when it drops the run. It never logs
/// or reports secrets.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Runs one connection until it ends or is told to stop.
    async fn run(&self, link: Link) -> LinkEnd;
}

/// What a connector gets for one connection: the integration, its opened credentials, the
/// ingress, the status helpers and the stop signal.
pub struct Link {
    record: IntegrationRecord,
    credentials: Credentials,
    ingress: Ingress,
    board: Arc<Board>,
    /// Turns true when the connection must end (unbound, disabled, lease lost, shutdown).
    pub stop: watch::Receiver<bool>,
}

impl Link {
    pub(super) fn new(
        record: IntegrationRecord,
        credentials: Credentials,
        ingress: Ingress,
        board: Arc<Board>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            record,
            credentials,
            ingress,
            board,
            stop,
        }
    }

    /// The integration as read when this worker started.
    pub fn record(&self) -> &IntegrationRecord {
        &self.record
    }

    /// The integration's id.
    pub fn integration_id(&self) -> &IntegrationId {
        &self.record.id
    }

    /// The opened credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Where events go: dedupe, durable enqueue, event log.
    pub fn ingress(&self) -> &Ingress {
        &self.ingress
    }

    /// Reports that the platform accepted the connection: status `Connected`, reconnect attempts
    /// reset.
    pub async fn connected(&self) {
        self.board.connected().await;
    }

    /// Reports that a platform event arrived (updates `last_event_at`, throttled).
    pub async fn event_received(&self) {
        self.board.event_received().await;
    }

    /// Reports a problem without secrets (shown as `last_error` and in the event log). The
    /// connection's state is unchanged; return [`LinkEnd::Closed`] to reconnect.
    pub async fn error(&self, text: &str) {
        self.board.error(text).await;
    }

    /// Reports that the connector lost its connection and reconnects by itself after `delay`
    /// (status `Retrying` with the last [`Link::error`], attempts counted); [`Link::connected`]
    /// ends it. For platforms that tell clients how to reconnect; others return
    /// [`LinkEnd::Closed`] and let the supervisor back off.
    pub async fn reconnecting(&self, delay: std::time::Duration) {
        self.board.reconnecting(delay).await;
    }

    /// True once the connection has been told to stop.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the connection is told to stop (for `tokio::select!`).
    pub async fn stopping(&self) {
        let mut stop = self.stop.clone();
        // An error means the worker is gone: stop as well.
        let _ = stop.wait_for(|stop| *stop).await;
    }
}
