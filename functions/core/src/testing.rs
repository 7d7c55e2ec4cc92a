//! Contract tests every backend passes: written once, run against SQLite and against DynamoDB/SQS
//! (on moto's server). Each function panics with a message on the first broken rule.
//!
//! All ids are generated per call, so the store functions can share one database or table; the
//! queue functions each need a fresh, empty queue. [`reply_target`] is what repliers' tests
//! answer.

mod conversation;
mod fixtures;
pub mod media;
mod queue;
mod store;

pub use conversation::*;
pub use fixtures::reply_target;
pub use queue::*;
pub use store::*;

use crate::ports::{Queue, Store};
use crate::time::Timestamp;

/// A fixed "now" well inside the range every backend stores (2026-11-21).
pub const NOW: Timestamp = Timestamp::from_millis(1_795_244_400_000);

/// Runs every store contract.
pub async fn store_contract(store: &dyn Store) {
    orgs_and_api_keys(store).await;
    integrations(store).await;
    integration_statuses(store).await;
    long_connection_integrations(store).await;
    agents(store).await;
    triggers(store).await;
    sessions(store).await;
    session_listing(store).await;
    dedupe(store).await;
    leases(store).await;
    event_log(store).await;
    user_directory(store).await;
    history(store).await;
    aggregation(store).await;
    streams(store).await;
    tokens(store).await;
    dead_letters(store).await;
}

/// Runs every queue contract; `fresh` must return a new, empty queue each call, with a
/// dead-letter queue behind it after `max_receives` receives.
pub async fn queue_contract<F, Fut>(mut fresh: F, max_receives: u32)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Box<dyn Queue>>,
{
    queue_fifo_per_group(fresh().await.as_ref()).await;
    queue_dedupe_id(fresh().await.as_ref()).await;
    queue_visibility_and_retry(fresh().await.as_ref()).await;
    queue_heartbeat(fresh().await.as_ref()).await;
    queue_dead_letters(fresh().await.as_ref(), max_receives).await;
    queue_delayed(fresh().await.as_ref()).await;
}
