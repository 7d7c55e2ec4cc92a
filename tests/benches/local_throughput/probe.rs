//! A store and a queue that count and time every call before handing it to the real backend:
//! the cheapest way to see how many round trips one message costs and how long callers wait
//! for each (SQL time, connection-mutex wait and the blocking-pool hop included).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imgate_core::Timestamp;
use imgate_core::agent::AgentRecord;
use imgate_core::apikey::ApiKeyRecord;
use imgate_core::event::InboundEvent;
use imgate_core::ids::{AgentId, ApiKeyId, IntegrationId, OrgId, SessionId, UserId};
use imgate_core::integration::{IntegrationRecord, IntegrationStatus};
use imgate_core::org::Organization;
use imgate_core::ports::{
    AgentStore, AggregationStore, CachedToken, Claim, DeadLetter, DeadLetterStore, DedupeStore, Delivery, EventLog,
    EventLogEntry, HistoryEntry, HistoryStore, IntegrationStore, Lease, LeaseOutcome, LeaseStore, OrgStore,
    OutgoingMessage, Queue, QueueError, SessionStore, Store, StoreResult, StreamState, StreamStore, TokenCache,
    TriggerStore, UserDirectory,
};
use imgate_core::session::{Session, SessionKey};
use imgate_core::trigger::Trigger;

/// Calls and total time per operation name.
#[derive(Clone, Default)]
pub struct Stats(Arc<Mutex<BTreeMap<&'static str, (u64, Duration)>>>);

impl Stats {
    async fn time<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        let took = started.elapsed();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(name).or_default();
        entry.0 += 1;
        entry.1 += took;
        out
    }

    /// Forgets everything counted so far (the setup's calls).
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// `(name, calls, total time)`, most called first.
    pub fn snapshot(&self) -> Vec<(&'static str, u64, Duration)> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rows: Vec<_> = map.iter().map(|(k, (n, t))| (*k, *n, *t)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rows
    }
}

/// The store, timed.
pub struct TimedStore {
    pub inner: Arc<dyn Store>,
    pub stats: Stats,
}

/// The queue, timed.
pub struct TimedQueue {
    pub inner: Arc<dyn Queue>,
    pub stats: Stats,
}

#[async_trait]
impl OrgStore for TimedStore {
    async fn create_org(&self, org: &Organization) -> StoreResult<()> {
        self.stats.time("store.create_org", self.inner.create_org(org)).await
    }
    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        self.stats.time("store.get_org", self.inner.get_org(id)).await
    }
    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        self.stats.time("store.list_orgs", self.inner.list_orgs()).await
    }
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.stats
            .time("store.create_api_key", self.inner.create_api_key(key))
            .await
    }
    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        self.stats.time("store.get_api_key", self.inner.get_api_key(id)).await
    }
    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.stats
            .time("store.list_api_keys", self.inner.list_api_keys(org))
            .await
    }
    async fn delete_api_key(&self, id: &ApiKeyId) -> StoreResult<bool> {
        self.stats
            .time("store.delete_api_key", self.inner.delete_api_key(id))
            .await
    }
}

#[async_trait]
impl IntegrationStore for TimedStore {
    async fn create_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        self.stats
            .time("store.create_integration", self.inner.create_integration(record))
            .await
    }
    async fn get_integration(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationRecord>> {
        self.stats
            .time("store.get_integration", self.inner.get_integration(id))
            .await
    }
    async fn list_integrations(&self, org: &OrgId) -> StoreResult<Vec<IntegrationRecord>> {
        self.stats
            .time("store.list_integrations", self.inner.list_integrations(org))
            .await
    }
    async fn update_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        self.stats
            .time("store.update_integration", self.inner.update_integration(record))
            .await
    }
    async fn set_account(&self, id: &IntegrationId, account: Option<&str>) -> StoreResult<bool> {
        self.stats
            .time("store.set_account", self.inner.set_account(id, account))
            .await
    }

    async fn delete_integration(&self, id: &IntegrationId) -> StoreResult<bool> {
        self.stats
            .time("store.delete_integration", self.inner.delete_integration(id))
            .await
    }
    async fn list_long_connection_integrations(&self) -> StoreResult<Vec<IntegrationRecord>> {
        self.stats
            .time(
                "store.list_long_connection_integrations",
                self.inner.list_long_connection_integrations(),
            )
            .await
    }
    async fn put_status(&self, status: &IntegrationStatus) -> StoreResult<()> {
        self.stats.time("store.put_status", self.inner.put_status(status)).await
    }
    async fn get_status(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationStatus>> {
        self.stats.time("store.get_status", self.inner.get_status(id)).await
    }
    async fn get_statuses(&self, ids: &[IntegrationId]) -> StoreResult<Vec<IntegrationStatus>> {
        self.stats
            .time("store.get_statuses", self.inner.get_statuses(ids))
            .await
    }
}

#[async_trait]
impl AgentStore for TimedStore {
    async fn create_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        self.stats
            .time("store.create_agent", self.inner.create_agent(record))
            .await
    }
    async fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
        self.stats.time("store.get_agent", self.inner.get_agent(id)).await
    }
    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<AgentRecord>> {
        self.stats.time("store.list_agents", self.inner.list_agents(org)).await
    }
    async fn update_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        self.stats
            .time("store.update_agent", self.inner.update_agent(record))
            .await
    }
    async fn delete_agent(&self, id: &AgentId) -> StoreResult<bool> {
        self.stats.time("store.delete_agent", self.inner.delete_agent(id)).await
    }
}

#[async_trait]
impl TriggerStore for TimedStore {
    async fn get_trigger(&self, integration: &IntegrationId) -> StoreResult<Option<Trigger>> {
        self.stats
            .time("store.get_trigger", self.inner.get_trigger(integration))
            .await
    }
    async fn put_trigger(&self, trigger: &Trigger) -> StoreResult<()> {
        self.stats
            .time("store.put_trigger", self.inner.put_trigger(trigger))
            .await
    }
    async fn delete_trigger(&self, integration: &IntegrationId) -> StoreResult<bool> {
        self.stats
            .time("store.delete_trigger", self.inner.delete_trigger(integration))
            .await
    }
    async fn list_triggers(&self, org: &OrgId) -> StoreResult<Vec<Trigger>> {
        self.stats
            .time("store.list_triggers", self.inner.list_triggers(org))
            .await
    }
}

#[async_trait]
impl SessionStore for TimedStore {
    async fn get_session(&self, key: &SessionKey, now: Timestamp) -> StoreResult<Option<Session>> {
        self.stats
            .time("store.get_session", self.inner.get_session(key, now))
            .await
    }
    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        self.stats
            .time("store.put_session", self.inner.put_session(session))
            .await
    }
    async fn delete_session(&self, key: &SessionKey) -> StoreResult<()> {
        self.stats
            .time("store.delete_session", self.inner.delete_session(key))
            .await
    }
    async fn list_sessions(
        &self,
        integration: &IntegrationId,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        self.stats
            .time("store.list_sessions", self.inner.list_sessions(integration, now, limit))
            .await
    }
}

#[async_trait]
impl DedupeStore for TimedStore {
    async fn claim(&self, key: &str, now: Timestamp, ttl: Duration) -> StoreResult<Claim> {
        self.stats.time("store.claim", self.inner.claim(key, now, ttl)).await
    }
    async fn release(&self, key: &str) -> StoreResult<()> {
        self.stats.time("store.release", self.inner.release(key)).await
    }
    async fn is_claimed(&self, key: &str, now: Timestamp) -> StoreResult<bool> {
        self.stats
            .time("store.is_claimed", self.inner.is_claimed(key, now))
            .await
    }
}

#[async_trait]
impl LeaseStore for TimedStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<LeaseOutcome> {
        self.stats
            .time(
                "store.acquire_lease",
                self.inner.acquire_lease(integration, owner, now, ttl),
            )
            .await
    }
    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<bool> {
        self.stats
            .time(
                "store.renew_lease",
                self.inner.renew_lease(integration, owner, now, ttl),
            )
            .await
    }
    async fn release_lease(&self, integration: &IntegrationId, owner: &str) -> StoreResult<()> {
        self.stats
            .time("store.release_lease", self.inner.release_lease(integration, owner))
            .await
    }
    async fn get_lease(&self, integration: &IntegrationId, now: Timestamp) -> StoreResult<Option<Lease>> {
        self.stats
            .time("store.get_lease", self.inner.get_lease(integration, now))
            .await
    }
}

#[async_trait]
impl EventLog for TimedStore {
    async fn record_event(&self, integration: &IntegrationId, entry: &EventLogEntry, ttl: Duration) -> StoreResult<()> {
        self.stats
            .time("store.record_event", self.inner.record_event(integration, entry, ttl))
            .await
    }
    async fn record_events(
        &self,
        integration: &IntegrationId,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        self.stats
            .time(
                "store.record_events",
                self.inner.record_events(integration, entries, ttl),
            )
            .await
    }
    async fn record_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        self.stats
            .time(
                "store.record_keyed_events",
                self.inner.record_keyed_events(integration, key, at, entries, ttl),
            )
            .await
    }
    async fn has_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.stats
            .time(
                "store.has_keyed_events",
                self.inner.has_keyed_events(integration, key, at, now),
            )
            .await
    }
    async fn recent_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<EventLogEntry>> {
        self.stats
            .time("store.recent_events", self.inner.recent_events(integration, limit, now))
            .await
    }
}

#[async_trait]
impl UserDirectory for TimedStore {
    async fn resolve_user(&self, identity: &str, candidate: &UserId, now: Timestamp) -> StoreResult<UserId> {
        self.stats
            .time("store.resolve_user", self.inner.resolve_user(identity, candidate, now))
            .await
    }
}

#[async_trait]
impl HistoryStore for TimedStore {
    async fn append_history(&self, session: &SessionId, entry: &HistoryEntry, ttl: Duration) -> StoreResult<()> {
        self.stats
            .time("store.append_history", self.inner.append_history(session, entry, ttl))
            .await
    }
    async fn recent_history(
        &self,
        session: &SessionId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<HistoryEntry>> {
        self.stats
            .time("store.recent_history", self.inner.recent_history(session, limit, now))
            .await
    }
}

#[async_trait]
impl AggregationStore for TimedStore {
    async fn append_pending(&self, key: &str, event: &InboundEvent, now: Timestamp, ttl: Duration) -> StoreResult<u64> {
        self.stats
            .time("store.append_pending", self.inner.append_pending(key, event, now, ttl))
            .await
    }
    async fn take_pending(&self, key: &str, version: u64) -> StoreResult<Option<Vec<InboundEvent>>> {
        self.stats
            .time("store.take_pending", self.inner.take_pending(key, version))
            .await
    }
}

#[async_trait]
impl StreamStore for TimedStore {
    async fn create_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        self.stats
            .time("store.create_stream", self.inner.create_stream(stream))
            .await
    }
    async fn get_stream(
        &self,
        integration: &IntegrationId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<StreamState>> {
        self.stats
            .time("store.get_stream", self.inner.get_stream(integration, id, now))
            .await
    }
    async fn update_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        self.stats
            .time("store.update_stream", self.inner.update_stream(stream))
            .await
    }
}

#[async_trait]
impl TokenCache for TimedStore {
    async fn get_token(&self, key: &str, now: Timestamp) -> StoreResult<Option<CachedToken>> {
        self.stats.time("store.get_token", self.inner.get_token(key, now)).await
    }
    async fn put_token(&self, key: &str, token: &CachedToken) -> StoreResult<()> {
        self.stats
            .time("store.put_token", self.inner.put_token(key, token))
            .await
    }
    async fn invalidate_token(&self, key: &str) -> StoreResult<()> {
        self.stats
            .time("store.invalidate_token", self.inner.invalidate_token(key))
            .await
    }
}

#[async_trait]
impl DeadLetterStore for TimedStore {
    async fn put_dead_letter(&self, letter: &DeadLetter, ttl: Duration) -> StoreResult<()> {
        self.stats
            .time("store.put_dead_letter", self.inner.put_dead_letter(letter, ttl))
            .await
    }
    async fn list_dead_letters(&self, org: &OrgId, now: Timestamp, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        self.stats
            .time("store.list_dead_letters", self.inner.list_dead_letters(org, now, limit))
            .await
    }
    async fn get_dead_letter(&self, org: &OrgId, id: &str, now: Timestamp) -> StoreResult<Option<DeadLetter>> {
        self.stats
            .time("store.get_dead_letter", self.inner.get_dead_letter(org, id, now))
            .await
    }
    async fn delete_dead_letter(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        self.stats
            .time("store.delete_dead_letter", self.inner.delete_dead_letter(org, id))
            .await
    }
}

#[async_trait]
impl Queue for TimedQueue {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        self.stats.time("queue.enqueue", self.inner.enqueue(message)).await
    }
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .stats
            .time("queue.receive", self.inner.receive(max, visibility))
            .await;
        if let Ok(deliveries) = &out {
            if deliveries.is_empty() {
                self.stats.time("queue.receive (empty)", async {}).await;
            } else {
                for _ in deliveries {
                    self.stats.time("queue.received messages", async {}).await;
                }
            }
        }
        out
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.stats.time("queue.ack", self.inner.ack(receipt)).await
    }
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.stats
            .time("queue.retry_later", self.inner.retry_later(receipt, delay))
            .await
    }
    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError> {
        self.stats
            .time(
                "queue.extend_visibility",
                self.inner.extend_visibility(receipts, visibility),
            )
            .await
    }
    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.stats
            .time("queue.enqueue_delayed", self.inner.enqueue_delayed(body, delay))
            .await
    }
    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.stats
            .time(
                "queue.receive_dead_letters",
                self.inner.receive_dead_letters(max, visibility),
            )
            .await
    }
    async fn wait_for_messages(&self, timeout: Duration) {
        self.inner.wait_for_messages(timeout).await;
    }
}
