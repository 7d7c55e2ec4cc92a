//! Ports: what the domain needs from storage, queueing and key management.
//!
//! Every backend (DynamoDB + SQS + KMS, SQLite) implements these, and the contract tests in
//! `imgate_core::testing` (feature `testing`) hold them all to the same behaviour. Methods that depend on time take `now`
//! so expiry is decided by the caller's clock, not the backend's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

mod agent;
mod conversation;
mod dead_letter;
mod login;
mod media;
mod probe;
mod registrar;
mod reply;

pub use agent::{AgentClient, AgentError, AgentRequest, Attachment};
pub use conversation::{
    AggregationStore, CachedToken, HistoryEntry, HistoryStore, Role, StreamState, StreamStore, TokenCache,
    UserDirectory,
};
pub use dead_letter::{DeadLetter, DeadLetterStore};
pub use login::{LoginFlow, LoginQr, LoginStatus, LoginStep};
pub use media::{Download, MediaError, MediaFetcher, MediaFile, MediaFiles, MediaLinkError, MediaStore, StoredMedia};
pub use probe::{CredentialProbe, ProbeFailure, ProbeFailureKind, ProbeReport};
pub use registrar::WebhookRegistrar;
pub use reply::{Replier, ReplyError, ReplyStream, ReplyTarget};

use crate::agent::AgentRecord;
use crate::apikey::ApiKeyRecord;
use crate::ids::{AgentId, ApiKeyId, IntegrationId, OrgId};
use crate::integration::{IntegrationRecord, IntegrationStatus};
use crate::keyring::Keyring;
use crate::org::Organization;
use crate::session::{Session, SessionKey};
use crate::time::Timestamp;
use crate::trigger::Trigger;

/// A boxed error from a backend, kept as the source of [`StoreError::Backend`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the item exists already, or its version moved on.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The item to update does not exist.
    #[error("not found")]
    NotFound,
    /// A stored item could not be read back.
    #[error("corrupt stored item: {0}")]
    Corrupt(String),
    /// The backend failed (network, throttling, disk).
    #[error("storage backend failed")]
    Backend(#[source] BoxError),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Organizations and their API keys.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates an organization; [`StoreError::Conflict`] if the id exists.
    async fn create_org(&self, org: &Organization) -> StoreResult<()>;
    /// Reads an organization.
    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>>;
    /// Every organization, oldest first.
    async fn list_orgs(&self) -> StoreResult<Vec<Organization>>;
    /// Stores a new API key; [`StoreError::Conflict`] if the id exists.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// Reads an API key by its public id.
    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>>;
    /// The organization's keys, oldest first.
    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Deletes a key; false if it did not exist.
    async fn delete_api_key(&self, id: &ApiKeyId) -> StoreResult<bool>;
}

/// Integrations and their runtime status.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Creates an integration (version 1); [`StoreError::Conflict`] if the id exists.
    async fn create_integration(&self, record: &IntegrationRecord) -> StoreResult<()>;
    /// Reads an integration by id, whatever its organization.
    async fn get_integration(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationRecord>>;
    /// The organization's integrations, oldest first.
    async fn list_integrations(&self, org: &OrgId) -> StoreResult<Vec<IntegrationRecord>>;
    /// Replaces an integration whose stored version is `record.version - 1` (so `record.version`
    /// is at least 2; a version without a predecessor is a stale write).
    /// [`StoreError::NotFound`] if it is gone, [`StoreError::Conflict`] if the version moved.
    async fn update_integration(&self, record: &IntegrationRecord) -> StoreResult<()>;
    /// Records the bot's name on its platform ([`IntegrationRecord::account`]; `None` clears
    /// it) without moving the integration's version or `updated_at`: the relay restarts a
    /// connection when the version moves, and learning a name must not disconnect a live bot.
    /// False if the integration does not exist.
    async fn set_account(&self, id: &IntegrationId, account: Option<&str>) -> StoreResult<bool>;
    /// Deletes an integration and its status; false if it did not exist.
    async fn delete_integration(&self, id: &IntegrationId) -> StoreResult<bool>;
    /// Every long-connection integration of every organization, enabled or not (the relay's
    /// work list; callers filter). Reflects a mode change or deletion on the next call.
    async fn list_long_connection_integrations(&self) -> StoreResult<Vec<IntegrationRecord>>;
    /// Writes the runtime status (last writer wins).
    async fn put_status(&self, status: &IntegrationStatus) -> StoreResult<()>;
    /// Reads the runtime status.
    async fn get_status(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationStatus>>;
    /// The runtime statuses of `ids` that exist, each once, in any order (an id without a
    /// status is left out): the console lists a thousand integrations with a few reads instead
    /// of one each. The default reads them one by one; backends with a batched read override it.
    async fn get_statuses(&self, ids: &[IntegrationId]) -> StoreResult<Vec<IntegrationStatus>> {
        let mut seen = std::collections::HashSet::new();
        let mut statuses = Vec::new();
        for id in ids.iter().filter(|id| seen.insert(*id)) {
            if let Some(status) = self.get_status(id).await? {
                statuses.push(status);
            }
        }
        Ok(statuses)
    }
}

/// Agents.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Creates an agent (version 1); [`StoreError::Conflict`] if the id exists.
    async fn create_agent(&self, record: &AgentRecord) -> StoreResult<()>;
    /// Reads an agent.
    async fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>>;
    /// The organization's agents, oldest first.
    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<AgentRecord>>;
    /// Replaces an agent whose stored version is `record.version - 1` (errors as for integrations).
    async fn update_agent(&self, record: &AgentRecord) -> StoreResult<()>;
    /// Deletes an agent; false if it did not exist.
    async fn delete_agent(&self, id: &AgentId) -> StoreResult<bool>;
}

/// Triggers, one per integration.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// Reads the integration's trigger.
    async fn get_trigger(&self, integration: &IntegrationId) -> StoreResult<Option<Trigger>>;
    /// Writes a trigger. With `trigger.version == 1` the trigger must not exist yet; otherwise the
    /// stored version must be `trigger.version - 1`. [`StoreError::Conflict`] when not.
    async fn put_trigger(&self, trigger: &Trigger) -> StoreResult<()>;
    /// Deletes the integration's trigger; false if there was none.
    async fn delete_trigger(&self, integration: &IntegrationId) -> StoreResult<bool>;
    /// The organization's triggers, oldest first.
    async fn list_triggers(&self, org: &OrgId) -> StoreResult<Vec<Trigger>>;
}

/// Conversation sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Reads a session; one whose [`Session::keep_until`] is at or before `now` reads as
    /// absent. A session whose conversation ended ([`Session::is_live`] false) is still read
    /// while it keeps a recorded answer: callers decide whether the conversation goes on.
    async fn get_session(&self, key: &SessionKey, now: Timestamp) -> StoreResult<Option<Session>>;
    /// Writes a session (last writer wins).
    async fn put_session(&self, session: &Session) -> StoreResult<()>;
    /// Deletes a session; idempotent.
    async fn delete_session(&self, key: &SessionKey) -> StoreResult<()>;
    /// The integration's sessions whose conversation is live at `now` ([`Session::is_live`]),
    /// most recently active first, at most `limit`: the console's "who is talking to this bot".
    async fn list_sessions(
        &self,
        integration: &IntegrationId,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Session>>;
}

/// The outcome of a dedupe claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time this key is seen within its TTL: go ahead.
    Claimed,
    /// Already claimed and not expired: skip.
    Duplicate,
}

/// Durable dedupe of platform event ids, checked before any side effect.
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// Claims `key` until `now + ttl` with a conditional write. An expired claim can be claimed again.
    async fn claim(&self, key: &str, now: Timestamp, ttl: Duration) -> StoreResult<Claim>;
    /// Gives a claim back (the side effect it guarded failed and must be retried); idempotent.
    async fn release(&self, key: &str) -> StoreResult<()>;
    /// True if `key` is claimed and the claim has not expired at `now`. Only reads: for
    /// "did this already happen?" checks that must not claim anything.
    async fn is_claimed(&self, key: &str, now: Timestamp) -> StoreResult<bool>;
}

/// A relay's hold on one integration's long connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The integration.
    pub integration_id: IntegrationId,
    /// The relay instance holding it.
    pub owner: String,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

/// The outcome of trying to take a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The caller holds the lease.
    Acquired(Lease),
    /// Someone else holds an unexpired lease.
    HeldBy(Lease),
}

/// One owner per long connection.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease if it is free, expired, or already the caller's; until `now + ttl`.
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<LeaseOutcome>;
    /// Extends the caller's unexpired lease to `now + ttl`; false if the caller no longer holds it.
    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<bool>;
    /// Releases the lease if the caller holds it; idempotent.
    async fn release_lease(&self, integration: &IntegrationId, owner: &str) -> StoreResult<()>;
    /// The current lease, if any and unexpired at `now`.
    async fn get_lease(&self, integration: &IntegrationId, now: Timestamp) -> StoreResult<Option<Lease>>;
}

/// One line of an integration's recent event log ("why is my bot silent").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventLogEntry {
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// What: `received`, `duplicate`, `enqueued`, `rejected`, `dropped`, `session`, `replied`,
    /// `retrying`, `error`, `media`; for long connections `connecting`, `connected`, `stopped`, …
    pub kind: String,
    /// The platform event id, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// A short description without secrets or message bodies.
    pub detail: String,
}

/// A short, expiring, per-integration event log.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends an entry that expires at `entry.at + ttl`. Entries at the same instant are all kept.
    async fn record_event(&self, integration: &IntegrationId, entry: &EventLogEntry, ttl: Duration) -> StoreResult<()>;
    /// Appends several entries, in order, each expiring `ttl` after its `at`. Backends that can
    /// write them together override this; the default records one after the other.
    async fn record_events(
        &self,
        integration: &IntegrationId,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        for entry in entries {
            self.record_event(integration, entry, ttl).await?;
        }
        Ok(())
    }
    /// Records `entries` as one set kept under `key` and placed at `at` in the log, so that
    /// [`EventLog::has_keyed_events`] can later tell it was written. Writing the same `key` and
    /// `at` again replaces the set (idempotent). The dispatcher's `replied` line is written
    /// this way: the line the log shows is also the mark that the answer was delivered, one
    /// write for both.
    async fn record_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()>;
    /// True when a set was recorded under `key` at `at` and has not expired at `now`.
    async fn has_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Up to `limit` unexpired entries at `now`, newest first.
    async fn recent_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<EventLogEntry>>;
}

/// Everything the domain stores, in one object.
pub trait Store:
    OrgStore
    + IntegrationStore
    + AgentStore
    + TriggerStore
    + SessionStore
    + DedupeStore
    + LeaseStore
    + EventLog
    + UserDirectory
    + HistoryStore
    + AggregationStore
    + StreamStore
    + TokenCache
    + DeadLetterStore
{
}

impl<T> Store for T where
    T: OrgStore
        + IntegrationStore
        + AgentStore
        + TriggerStore
        + SessionStore
        + DedupeStore
        + LeaseStore
        + EventLog
        + UserDirectory
        + HistoryStore
        + AggregationStore
        + StreamStore
        + TokenCache
        + DeadLetterStore
{
}

/// The longest delay [`Queue::enqueue_delayed`] accepts (SQS's limit).
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// A queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The message was refused (too large, bad group id).
    #[error("message rejected: {0}")]
    Rejected(String),
    /// The receipt handle is unknown or expired.
    #[error("unknown or expired receipt")]
    UnknownReceipt,
    /// The queue backend failed.
    #[error("queue backend failed")]
    Backend(#[source] BoxError),
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// FIFO group: messages of one group are delivered one at a time, in order.
    pub group: String,
    /// Messages with the same dedupe id within 5 minutes are enqueued once.
    pub dedupe_id: String,
    /// The body (an [`crate::envelope::Envelope`] as JSON).
    pub body: String,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Handle for [`Queue::ack`] / [`Queue::retry_later`].
    pub receipt: String,
    /// The message's FIFO group.
    pub group: String,
    /// The body.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// A durable FIFO queue with per-group order, dedupe ids, visibility timeouts and a dead-letter queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Enqueues durably; returns only once the message is stored.
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError>;
    /// Receives up to `max` visible messages, hidden from other receivers for `visibility`.
    /// While a message of a group is in flight, later messages of that group are not delivered.
    /// A message received more than the queue's max receive count moves to the dead-letter queue.
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError>;
    /// Deletes a processed message.
    async fn ack(&self, receipt: &str) -> Result<(), QueueError>;
    /// Makes a message visible again after `delay` (a failed attempt).
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError>;
    /// Keeps received messages hidden for `visibility` from now: the heartbeat of a handler
    /// that is still working on them, so that a short visibility brings back the messages of a
    /// handler that died without making a live one's visible. Receipts that no longer hold a
    /// message (acknowledged, or received again by someone else) are skipped.
    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError>;
    /// Enqueues a timer message outside any FIFO group that becomes visible after `delay`
    /// (at most 15 minutes), e.g. the flush of an aggregation window. Delivered at least once
    /// through [`Queue::receive`] (with an empty `group`); handlers must tolerate duplicates.
    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError>;
    /// Receives up to `max` messages from the dead-letter queue (hidden for `visibility`).
    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError>;
    /// Waits, after a receive that found nothing, until a message may have arrived or
    /// `timeout` has passed. The default waits `timeout`; a queue that sees its own enqueues
    /// (the embedded one) returns as soon as one happens.
    async fn wait_for_messages(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }
}

/// The backends a process runs on.
#[derive(Clone)]
pub struct Deps {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The inbound queue.
    pub queue: Arc<dyn Queue>,
    /// The secret keyring.
    pub keyring: Arc<dyn Keyring>,
}
