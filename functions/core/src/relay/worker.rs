//! One integration's worker: holds the lease, runs the connector in a reconnect loop, and keeps
//! the status board current.
//!
//! The connector's future runs inside the worker's task, so stopping is certain: the connector
//! is told to stop, gets [`super::RelaySettings::stop_timeout`] to return, and is dropped after
//! that (closing its socket). Aborting the worker's task drops it at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::RelaySettings;
use super::board::Board;
use super::connector::{Connector, Link, LinkEnd};
use super::plan::StopCause;
use crate::ids::IntegrationId;
use crate::ingress::Ingress;
use crate::integration::{IntegrationRecord, OpenRecordError};
use crate::keyring::Keyring;
use crate::ports::Store;
use crate::task::AbortOnDrop;
use crate::time::Timestamp;

/// How a worker ended, as the supervisor needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkerEnd {
    /// Told to stop; status and lease were handled for the stop's cause.
    Stopped,
    /// The credentials were rejected (or the login expired); held back until the integration
    /// changes.
    AuthFailed,
    /// Another connection took the bot over; held back until the integration changes.
    Kicked,
    /// The stored credentials cannot be opened; held back until the integration changes.
    Unusable,
    /// The lease could not be renewed; the connection was stopped, the lease is not ours.
    LeaseLost,
}

/// Why the worker's current wait was cut short.
enum Interrupt {
    Stop(StopCause),
    LeaseLost,
}

/// Everything a worker runs with.
pub(super) struct Worker {
    pub(super) record: IntegrationRecord,
    pub(super) connector: Arc<dyn Connector>,
    pub(super) store: Arc<dyn Store>,
    pub(super) keyring: Arc<dyn Keyring>,
    pub(super) ingress: Ingress,
    pub(super) settings: Arc<RelaySettings>,
    pub(super) board: Arc<Board>,
    /// When the lease lapses unless renewed (measured before it was acquired).
    pub(super) lease_deadline: Instant,
}

/// The lease and the supervisor's commands, serviced while the worker waits on anything else.
struct Control {
    store: Arc<dyn Store>,
    id: IntegrationId,
    owner: String,
    ttl: Duration,
    renew_every: Duration,
    renew: Interval,
    deadline: Instant,
    commands: watch::Receiver<Option<StopCause>>,
    board: Arc<Board>,
}

impl Worker {
    /// Runs until told to stop through `commands`, the lease is lost, or the connection ends in a
    /// way reconnecting will not fix.
    pub(super) async fn run(self, commands: watch::Receiver<Option<StopCause>>) -> WorkerEnd {
        let settings = self.settings.clone();
        let mut renew = tokio::time::interval_at(Instant::now() + settings.renew_every, settings.renew_every);
        renew.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut control = Control {
            store: self.store.clone(),
            id: self.record.id.clone(),
            owner: settings.owner.clone(),
            ttl: settings.lease_ttl,
            renew_every: settings.renew_every,
            renew,
            deadline: self.lease_deadline,
            commands,
            board: self.board.clone(),
        };
        match self.serve(&mut control).await {
            Ok(end) => end,
            Err(interrupt) => control.finish(interrupt).await,
        }
    }

    async fn serve(&self, control: &mut Control) -> Result<WorkerEnd, Interrupt> {
        let backoff = self.settings.backoff;
        let credentials = loop {
            match self.record.open_credentials(self.keyring.as_ref()).await {
                Ok(credentials) => break credentials,
                Err(OpenRecordError::Keyring(error)) => {
                    tracing::warn!(integration_id = %self.record.id, %error, "opening credentials failed; retrying");
                    self.board
                        .error("the credentials could not be opened: keyring unavailable")
                        .await;
                    let delay = self.board.retrying(&backoff).await;
                    control.guard(tokio::time::sleep(delay)).await?;
                }
                Err(error @ OpenRecordError::Corrupt { .. }) => {
                    tracing::error!(integration_id = %self.record.id, %error, "stored credentials are unusable");
                    self.board
                        .unusable("the stored credentials do not fit this platform and mode")
                        .await;
                    control.release().await;
                    return Ok(WorkerEnd::Unusable);
                }
            }
        };
        let connector = self.connector.clone();
        loop {
            self.board.connecting().await;
            let (stop, stopping) = watch::channel(false);
            let link = Link::new(
                self.record.clone(),
                credentials.clone(),
                self.ingress.clone(),
                self.board.clone(),
                stopping,
            );
            // The connection runs on its own task: `guard` stops polling `attempt` while it
            // renews the lease, and a connection must go on reading, answering pings and
            // acknowledging meanwhile. The task is aborted when `attempt` is dropped.
            let running = connector.clone();
            let mut attempt = AbortOnDrop::spawn(async move { running.run(link).await });
            let end = match control.guard(&mut attempt).await {
                Ok(Ok(end)) => end,
                Ok(Err(failed)) => {
                    tracing::error!(integration_id = %self.record.id, error = %failed, "connector task failed");
                    LinkEnd::Closed
                }
                Err(interrupt) => {
                    let _ = stop.send(true);
                    if tokio::time::timeout(self.settings.stop_timeout, &mut attempt)
                        .await
                        .is_err()
                    {
                        tracing::warn!(integration_id = %self.record.id, "connector did not stop in time; dropped");
                    }
                    return Err(interrupt);
                }
            };
            match end {
                LinkEnd::Closed | LinkEnd::Stopped => {
                    if end == LinkEnd::Stopped {
                        tracing::warn!(integration_id = %self.record.id, "connector stopped without being asked; reconnecting");
                    }
                    let delay = self.board.retrying(&backoff).await;
                    control.guard(tokio::time::sleep(delay)).await?;
                }
                LinkEnd::AuthFailed(text) => {
                    self.board.auth_failed(&text).await;
                    control.release().await;
                    return Ok(WorkerEnd::AuthFailed);
                }
                LinkEnd::LoginExpired(text) => {
                    self.board.login_expired(&text).await;
                    control.release().await;
                    return Ok(WorkerEnd::AuthFailed);
                }
                LinkEnd::Kicked => {
                    self.board.kicked().await;
                    control.release().await;
                    return Ok(WorkerEnd::Kicked);
                }
            }
        }
    }
}

impl Control {
    /// Runs `work` while renewing the lease and listening for a stop command; returns its output,
    /// or why it was cut short (the caller then stops what `work` was doing).
    async fn guard<F: Future>(&mut self, work: F) -> Result<F::Output, Interrupt> {
        tokio::pin!(work);
        loop {
            if let Some(cause) = *self.commands.borrow_and_update() {
                return Err(Interrupt::Stop(cause));
            }
            tokio::select! {
                biased;
                changed = self.commands.changed() => {
                    // The supervisor is gone (its task was dropped): stop as on shutdown.
                    if changed.is_err() {
                        return Err(Interrupt::Stop(StopCause::Shutdown));
                    }
                }
                _ = self.renew.tick() => {
                    if !self.renew().await {
                        return Err(Interrupt::LeaseLost);
                    }
                }
                output = &mut work => return Ok(output),
            }
        }
    }

    /// Renews the lease. False when it is lost, or when renewals failed for so long that it may
    /// lapse before the next try: the connection must stop either way.
    async fn renew(&mut self) -> bool {
        let started = Instant::now();
        let renewal = self
            .store
            .renew_lease(&self.id, &self.owner, Timestamp::now(), self.ttl);
        let failure = match tokio::time::timeout(self.renew_every, renewal).await {
            Ok(Ok(true)) => {
                self.deadline = started + self.ttl;
                self.board.flush().await;
                return true;
            }
            Ok(Ok(false)) => {
                tracing::warn!(integration_id = %self.id, owner = %self.owner, "lease taken by another relay");
                return false;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left <= self.renew_every {
            tracing::error!(integration_id = %self.id, error = %failure, "lease renewal keeps failing; stopping before it lapses");
            false
        } else {
            tracing::warn!(integration_id = %self.id, error = %failure, left_ms = left.as_millis(), "lease renewal failed; will retry");
            true
        }
    }

    /// Writes the final status for an interruption and gives the lease back when it is ours and
    /// not about to be reused.
    async fn finish(&self, interrupt: Interrupt) -> WorkerEnd {
        match interrupt {
            Interrupt::Stop(cause) => {
                self.board.stopped(cause).await;
                if cause != StopCause::Restart {
                    self.release().await;
                }
                WorkerEnd::Stopped
            }
            Interrupt::LeaseLost => {
                self.board.lease_lost().await;
                WorkerEnd::LeaseLost
            }
        }
    }

    async fn release(&self) {
        if let Err(error) = self.store.release_lease(&self.id, &self.owner).await {
            tracing::warn!(integration_id = %self.id, %error, "releasing the lease failed; it lapses on its own");
        }
    }
}
