//! The supervisor's state: the workers running here, the integrations held back after a failure
//! retrying will not fix, and the reconcile pass that brings them in line with the store.
//!
//! A [`Fleet`] is owned by one task ([`super::Supervisor::run`]); dropping it aborts every worker
//! (a crash: leases then lapse on their own and another relay takes over).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::board::Board;
use super::connector::Connector;
use super::plan::{self, Idle, StopCause, Verdict};
use super::worker::{Worker, WorkerEnd};
use super::{RelayError, RelaySettings};
use crate::event_log::{self, EventKind};
use crate::ids::IntegrationId;
use crate::ingress::Ingress;
use crate::integration::{ConnectionState, IntegrationRecord, IntegrationStatus, StatusReason};
use crate::keyring::Keyring;
use crate::platform::{ConnectionMode, Platform};
use crate::ports::{LeaseOutcome, Store};
use crate::time::Timestamp;

/// Extra time, beyond the connector's stop timeout, for a stopping worker to write its status
/// and release its lease before it is aborted.
const STOP_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What every worker is built from.
pub(super) struct Context {
    pub(super) store: Arc<dyn Store>,
    pub(super) keyring: Arc<dyn Keyring>,
    pub(super) ingress: Ingress,
    pub(super) connectors: HashMap<Platform, Arc<dyn Connector>>,
    pub(super) settings: Arc<RelaySettings>,
}

/// A worker running here.
struct Running {
    /// The integration version it was started with.
    version: u64,
    stop: watch::Sender<Option<StopCause>>,
    handle: JoinHandle<WorkerEnd>,
    board: Arc<Board>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // A no-op for a finished task; otherwise the connection is dropped with the task.
        self.handle.abort();
    }
}

/// The workers of one supervisor.
pub(super) struct Fleet {
    ctx: Arc<Context>,
    workers: HashMap<IntegrationId, Running>,
    /// Held back (credentials rejected, kicked, unusable) at this integration version.
    held: HashMap<IntegrationId, u64>,
    /// Idle integrations whose status was found settled for this reason (not read again).
    settled: HashMap<IntegrationId, StatusReason>,
    /// Started on the next pass even if held back (an operator's restart).
    forced: HashSet<IntegrationId>,
}

impl Fleet {
    pub(super) fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            workers: HashMap::new(),
            held: HashMap::new(),
            settled: HashMap::new(),
            forced: HashSet::new(),
        }
    }

    /// One pass: read the store, stop what should not run, restart what changed, start what
    /// should run and whose lease is free. A store failure skips the pass (running connections
    /// keep running; their workers stop on their own if the lease cannot be renewed).
    pub(super) async fn reconcile(&mut self) {
        self.collect_finished().await;
        let records = match self.ctx.store.list_long_connection_integrations().await {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(%error, "listing long-connection integrations failed; pass skipped");
                return;
            }
        };
        let listed: HashSet<IntegrationId> = records.iter().map(|r| r.id.clone()).collect();
        let mut stops = Vec::new();
        let mut starts = Vec::new();
        for record in records {
            let Some(verdict) = self.verdict(&record).await else {
                continue;
            };
            match (verdict, self.workers.get(&record.id)) {
                (Verdict::Run, Some(running)) if running.version == record.version => {}
                (Verdict::Run, running) => {
                    if running.is_some() {
                        tracing::info!(integration_id = %record.id, version = record.version, "integration changed; restarting its connection");
                        stops.push((record.id.clone(), StopCause::Restart));
                    }
                    self.settled.remove(&record.id);
                    starts.push(record);
                }
                (Verdict::Idle(idle), Some(_)) => stops.push((record.id.clone(), idle.into())),
                (Verdict::Idle(idle), None) => self.tidy(&record, idle).await,
            }
        }
        let missing: Vec<IntegrationId> = self
            .workers
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in missing {
            match self.ctx.store.get_integration(&id).await {
                Ok(None) => stops.push((id, StopCause::Deleted)),
                Ok(Some(r)) if r.mode != ConnectionMode::LongConnection => stops.push((id, StopCause::ModeChanged)),
                Ok(Some(_)) => {} // not listed yet (an eventually consistent index): keep it
                Err(error) => tracing::warn!(integration_id = %id, %error, "reading an unlisted integration failed"),
            }
        }
        self.stop(stops).await;
        for record in starts {
            self.start(record).await;
        }
        self.forced.clear();
        self.held.retain(|id, _| listed.contains(id));
        self.settled.retain(|id, _| listed.contains(id));
    }

    /// Stops and starts again the connection of `id` (also one held back after a failure).
    pub(super) async fn restart(&mut self, id: &IntegrationId) -> Result<(), RelayError> {
        if !self.workers.contains_key(id) && !self.held.contains_key(id) {
            return Err(RelayError::NotHere(id.clone()));
        }
        tracing::info!(integration_id = %id, "restart requested");
        self.stop(vec![(id.clone(), StopCause::Restart)]).await;
        self.held.remove(id);
        self.forced.insert(id.clone());
        self.reconcile().await;
        if !self.workers.contains_key(id) {
            // No longer wanted (or taken elsewhere): the lease kept for the restart goes back.
            self.release(id).await;
        }
        Ok(())
    }

    /// Stops every worker, waiting (bounded) for their statuses and lease releases.
    pub(super) async fn shutdown(&mut self) {
        let all = self
            .workers
            .keys()
            .map(|id| (id.clone(), StopCause::Shutdown))
            .collect();
        self.stop(all).await;
    }

    /// `None` when the trigger could not be read (the integration is left as it is this pass).
    async fn verdict(&self, record: &IntegrationRecord) -> Option<Verdict> {
        let has_connector = self.ctx.connectors.contains_key(&record.platform);
        if !record.enabled {
            return Some(plan::verdict(record, None, has_connector));
        }
        match self.ctx.store.get_trigger(&record.id).await {
            Ok(trigger) => Some(plan::verdict(record, trigger.as_ref(), has_connector)),
            Err(error) => {
                tracing::warn!(integration_id = %record.id, %error, "reading the trigger failed; left as is");
                None
            }
        }
    }

    /// Starts a worker for `record` if it is not held back and its lease can be taken.
    async fn start(&mut self, record: IntegrationRecord) {
        let id = record.id.clone();
        let forced = self.forced.contains(&id);
        if let Some(&version) = self.held.get(&id) {
            if version == record.version && !forced {
                return;
            }
            self.held.remove(&id);
        }
        let Some(connector) = self.ctx.connectors.get(&record.platform).cloned() else {
            return;
        };
        let (store, settings) = (&self.ctx.store, &self.ctx.settings);
        match store.get_lease(&id, Timestamp::now()).await {
            Ok(Some(lease)) if lease.owner != settings.owner => return, // another relay's: leave it
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(integration_id = %id, %error, "reading the lease failed");
                return;
            }
        }
        if !forced && self.held_elsewhere(&record).await {
            tracing::info!(integration_id = %id, "held back after a rejected or taken-over connection");
            self.held.insert(id, record.version);
            return;
        }
        let asked = Instant::now();
        match store
            .acquire_lease(&id, &settings.owner, Timestamp::now(), settings.lease_ttl)
            .await
        {
            Ok(LeaseOutcome::Acquired(_)) => self.spawn(record, connector, asked + settings.lease_ttl).await,
            Ok(LeaseOutcome::HeldBy(lease)) => {
                tracing::debug!(integration_id = %id, holder = %lease.owner, "lease held by another relay");
            }
            Err(error) => tracing::warn!(integration_id = %id, %error, "acquiring the lease failed"),
        }
    }

    /// True when the stored status says a relay gave up on this version of the integration.
    async fn held_elsewhere(&self, record: &IntegrationRecord) -> bool {
        match self.ctx.store.get_status(&record.id).await {
            Ok(status) => status.is_some_and(|s| plan::held_back(&s, record)),
            Err(error) => {
                tracing::warn!(integration_id = %record.id, %error, "reading the status failed");
                false
            }
        }
    }

    async fn spawn(&mut self, record: IntegrationRecord, connector: Arc<dyn Connector>, lease_deadline: Instant) {
        let ctx = &self.ctx;
        let id = record.id.clone();
        let board = Arc::new(Board::load(ctx.store.clone(), id.clone(), ctx.settings.owner.clone()).await);
        let (stop, commands) = watch::channel(None);
        let span = tracing::info_span!("relay_worker", integration_id = %id, platform = %record.platform);
        let version = record.version;
        let worker = Worker {
            record,
            connector,
            store: ctx.store.clone(),
            keyring: ctx.keyring.clone(),
            ingress: ctx.ingress.clone(),
            settings: ctx.settings.clone(),
            board: board.clone(),
            lease_deadline,
        };
        let handle = tokio::spawn(worker.run(commands).instrument(span));
        tracing::info!(integration_id = %id, version, owner = %ctx.settings.owner, "connection worker started");
        self.workers.insert(
            id,
            Running {
                version,
                stop,
                handle,
                board,
            },
        );
    }

    /// Tells workers to stop, then waits for all of them (bounded); a worker that does not end
    /// in time is aborted, and its status and lease are settled here.
    async fn stop(&mut self, stops: Vec<(IntegrationId, StopCause)>) {
        let mut stopping = Vec::new();
        for (id, cause) in stops {
            if let Some(running) = self.workers.remove(&id) {
                let _ = running.stop.send(Some(cause));
                stopping.push((id, cause, running));
            }
        }
        let deadline = Instant::now() + self.ctx.settings.stop_timeout + STOP_MARGIN;
        for (id, cause, mut running) in stopping {
            match tokio::time::timeout_at(deadline, &mut running.handle).await {
                Ok(Ok(end)) => self.note_end(&id, running.version, end),
                Ok(Err(error)) => tracing::error!(integration_id = %id, %error, "connection worker failed"),
                Err(_) => {
                    tracing::warn!(integration_id = %id, "connection worker did not stop in time; aborted");
                    running.handle.abort();
                    running.board.stopped(cause).await;
                    if cause != StopCause::Restart {
                        self.release(&id).await;
                    }
                }
            }
        }
    }

    /// Takes in the workers that ended on their own.
    async fn collect_finished(&mut self) {
        let finished: Vec<IntegrationId> = self
            .workers
            .iter()
            .filter(|(_, running)| running.handle.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        for id in finished {
            if let Some(mut running) = self.workers.remove(&id) {
                match (&mut running.handle).await {
                    Ok(end) => self.note_end(&id, running.version, end),
                    Err(error) => tracing::error!(integration_id = %id, %error, "connection worker failed"),
                }
            }
        }
    }

    fn note_end(&mut self, id: &IntegrationId, version: u64, end: WorkerEnd) {
        tracing::info!(integration_id = %id, ?end, "connection worker ended");
        match end {
            WorkerEnd::AuthFailed | WorkerEnd::Kicked | WorkerEnd::Unusable => {
                self.held.insert(id.clone(), version);
            }
            WorkerEnd::Stopped | WorkerEnd::LeaseLost => {}
        }
    }

    /// For an idle integration that runs nowhere, replaces a status still claiming a connection
    /// (left by a relay that crashed) with `Stopped` and the reason.
    async fn tidy(&mut self, record: &IntegrationRecord, idle: Idle) {
        let Some(reason) = StopCause::from(idle).reason().filter(|_| idle != Idle::NoConnector) else {
            return;
        };
        if self.settled.get(&record.id) == Some(&reason) {
            return;
        }
        let store = &self.ctx.store;
        let status = match store.get_status(&record.id).await {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(integration_id = %record.id, %error, "reading the status failed");
                return;
            }
        };
        if let Some(status) = status.filter(|s| {
            matches!(
                s.state,
                ConnectionState::Connecting | ConnectionState::Connected | ConnectionState::Retrying
            )
        }) {
            match store.get_lease(&record.id, Timestamp::now()).await {
                Ok(None) => {}
                Ok(Some(_)) => return, // its holder stops it and writes the status
                Err(error) => {
                    tracing::warn!(integration_id = %record.id, %error, "reading the lease failed");
                    return;
                }
            }
            let stopped = IntegrationStatus {
                state: ConnectionState::Stopped,
                reason: Some(reason),
                connected_since: None,
                reconnect_attempts: 0,
                owner: None,
                updated_at: Timestamp::now(),
                ..status
            };
            if let Err(error) = store.put_status(&stopped).await {
                tracing::warn!(integration_id = %record.id, %error, "writing the connection status failed");
                return;
            }
            let cause = StopCause::from(idle);
            event_log::record(store.as_ref(), &record.id, EventKind::Stopped, None, cause.detail()).await;
        }
        self.settled.insert(record.id.clone(), reason);
    }

    async fn release(&self, id: &IntegrationId) {
        if let Err(error) = self.ctx.store.release_lease(id, &self.ctx.settings.owner).await {
            tracing::warn!(integration_id = %id, %error, "releasing the lease failed; it lapses on its own");
        }
    }
}
