//! Dead letters kept for operators: queue messages that failed every delivery attempt, taken
//! off the queue's dead-letter queue and stored per organization, so the console can list
//! them, redrive them (enqueue the body again) or discard them.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::ids::{IntegrationId, OrgId};
use crate::time::Timestamp;

/// One message that failed every delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// A stable id chosen by the caller (e.g. `dl_` + hex digest of the body), so that storing
    /// the same message twice keeps one letter.
    pub id: String,
    /// The organization it belongs to; only that organization sees it.
    pub org_id: OrgId,
    /// The integration the message came through.
    pub integration_id: IntegrationId,
    /// The platform event id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The queue message group (`""` for timer messages), needed to enqueue it again.
    pub group: String,
    /// The queue body, verbatim.
    pub body: String,
    /// Why it failed, without secrets.
    pub reason: String,
    /// When it was taken off the dead-letter queue.
    pub failed_at: Timestamp,
    /// How many times the queue delivered it.
    pub receive_count: u32,
}

/// Dead letters, kept until they expire, per organization.
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Keeps `letter` until `letter.failed_at + ttl`; the same id again replaces it (idempotent).
    async fn put_dead_letter(&self, letter: &DeadLetter, ttl: Duration) -> StoreResult<()>;
    /// The organization's dead letters unexpired at `now`, newest `failed_at` first, at most
    /// `limit`.
    async fn list_dead_letters(&self, org: &OrgId, now: Timestamp, limit: usize) -> StoreResult<Vec<DeadLetter>>;
    /// The organization's dead letter `id` if it exists and is unexpired at `now` (another
    /// organization's id reads as `None`).
    async fn get_dead_letter(&self, org: &OrgId, id: &str, now: Timestamp) -> StoreResult<Option<DeadLetter>>;
    /// Deletes the organization's dead letter `id`; false if there was none.
    async fn delete_dead_letter(&self, org: &OrgId, id: &str) -> StoreResult<bool>;
}
