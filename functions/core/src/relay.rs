//! The relay's platform-neutral core: which long connections run where, and what their status is.
//!
//! Platforms that push over WebSocket or Stream (WeCom long mode, DingTalk Stream, Lark WebSocket,
//! Discord gateway, Telegram long polling) need a process that holds a connection open per bot.
//! This module decides *which* connections run and keeps them honest; the platform code only
//! implements [`Connector`]: open one connection, feed events to [`Link::ingress`], say why it
//! ended.
//!
//! - [`Supervisor`]: every [`RelaySettings::reconcile_every`] it reads the store (nothing is
//!   replayed at start: bindings in the store are the truth each pass) and starts a worker for
//!   each long-connection integration that is enabled, bound by an enabled trigger and has a
//!   connector, once it holds that integration's lease; it stops workers whose integration is no
//!   longer wanted, and restarts those whose integration changed.
//! - a worker (one task per integration) renews the lease, runs the connector in a loop with
//!   jittered exponential [`Backoff`], and writes the integration's
//!   [`crate::integration::IntegrationStatus`] and event log on every state change.
//!
//! Event-log kinds written here: `connecting`, `connected`, `retrying`, `error`, `stopped`.
//!
//! One owner per bot: a worker only runs while its lease is renewed; when a renewal is refused
//! (another relay holds the lease) the connection is stopped at once, and when renewals keep
//! failing it stops before the lease can lapse.

mod backoff;
mod board;
mod connector;
mod fleet;
mod plan;
mod supervisor;
mod worker;

use std::time::Duration;

pub use backoff::Backoff;
pub use connector::{Connector, Link, LinkEnd};
pub use supervisor::Supervisor;

use crate::ids::IntegrationId;
use crate::ports::StoreError;

/// Tunables of the relay. [`RelaySettings::new`] gives the production defaults.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// This relay instance's lease owner name; must be unique per running process (e.g. the ECS
    /// task id), or two processes would both believe they hold a lease.
    pub owner: String,
    /// How often the store is read to start and stop connections.
    pub reconcile_every: Duration,
    /// How long a lease lasts unless renewed; another relay takes over after it lapses.
    pub lease_ttl: Duration,
    /// How often a worker renews its lease (well below `lease_ttl`).
    pub renew_every: Duration,
    /// Delays between reconnects after a closed connection.
    pub backoff: Backoff,
    /// How long a connector gets to return after it was told to stop; it is dropped after that.
    pub stop_timeout: Duration,
}

impl RelaySettings {
    /// Defaults: reconcile every 5 s, 45 s leases renewed every 15 s, reconnects after 1 s
    /// growing to 60 s, 5 s for a connector to stop.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            reconcile_every: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(45),
            renew_every: Duration::from_secs(15),
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            stop_timeout: Duration::from_secs(5),
        }
    }
}

/// A supervisor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// [`Supervisor::run`] is already running on another task.
    #[error("the relay supervisor is already running")]
    AlreadyRunning,
    /// [`Supervisor::restart`] was called while [`Supervisor::run`] is not running.
    #[error("the relay supervisor is not running")]
    NotRunning,
    /// This relay neither runs nor holds back a connection of that integration.
    #[error("integration {0} has no connection on this relay")]
    NotHere(IntegrationId),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
