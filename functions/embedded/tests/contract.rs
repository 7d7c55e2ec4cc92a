//! The core contract tests, run against SQLite: store contracts on a temporary database file,
//! each queue contract on a fresh queue with a dead-letter table after 3 receives; then all of
//! them at once, as `store_contract` and `queue_contract` run them.

use imgate_core::testing;
use imgate_embedded::{QueueOptions, SqliteQueue, SqliteStore};
use tempfile::TempDir;

const MAX_RECEIVES: u32 = 3;

/// A store on a new file in a new temporary directory (kept alive by the returned guard).
async fn store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("imgate.db"))
        .await
        .expect("open store");
    (store, dir)
}

/// A fresh, empty queue on its own database file.
async fn queue() -> (SqliteQueue, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = SqliteQueue::open(
        &dir.path().join("imgate.db"),
        QueueOptions {
            max_receives: MAX_RECEIVES,
        },
    )
    .await
    .expect("open queue");
    (queue, dir)
}

#[tokio::test]
async fn orgs_and_api_keys() {
    let (s, _dir) = store().await;
    testing::orgs_and_api_keys(&s).await;
}

#[tokio::test]
async fn integrations() {
    let (s, _dir) = store().await;
    testing::integrations(&s).await;
}

#[tokio::test]
async fn integration_statuses() {
    let (s, _dir) = store().await;
    testing::integration_statuses(&s).await;
}

#[tokio::test]
async fn long_connection_integrations() {
    let (s, _dir) = store().await;
    testing::long_connection_integrations(&s).await;
}

#[tokio::test]
async fn agents() {
    let (s, _dir) = store().await;
    testing::agents(&s).await;
}

#[tokio::test]
async fn triggers() {
    let (s, _dir) = store().await;
    testing::triggers(&s).await;
}

#[tokio::test]
async fn sessions() {
    let (s, _dir) = store().await;
    testing::sessions(&s).await;
}

#[tokio::test]
async fn session_listing() {
    let (s, _dir) = store().await;
    testing::session_listing(&s).await;
}

#[tokio::test]
async fn dedupe() {
    let (s, _dir) = store().await;
    testing::dedupe(&s).await;
}

#[tokio::test]
async fn leases() {
    let (s, _dir) = store().await;
    testing::leases(&s).await;
}

#[tokio::test]
async fn event_log() {
    let (s, _dir) = store().await;
    testing::event_log(&s).await;
}

#[tokio::test]
async fn event_log_keyed_sets() {
    let (s, _dir) = store().await;
    testing::event_log_keyed_sets(&s).await;
}

#[tokio::test]
async fn all_store_contracts_share_one_database() {
    let (s, _dir) = store().await;
    testing::store_contract(&s).await;
}

#[tokio::test]
async fn queue_fifo_per_group() {
    let (q, _dir) = queue().await;
    testing::queue_fifo_per_group(&q).await;
}

#[tokio::test]
async fn queue_dedupe_id() {
    let (q, _dir) = queue().await;
    testing::queue_dedupe_id(&q).await;
}

#[tokio::test]
async fn queue_visibility_and_retry() {
    let (q, _dir) = queue().await;
    testing::queue_visibility_and_retry(&q).await;
}

#[tokio::test]
async fn queue_heartbeat() {
    let (q, _dir) = queue().await;
    testing::queue_heartbeat(&q).await;
}

#[tokio::test]
async fn queue_dead_letters() {
    let (q, _dir) = queue().await;
    testing::queue_dead_letters(&q, MAX_RECEIVES).await;
}

#[tokio::test]
async fn user_directory() {
    let (s, _dir) = store().await;
    testing::user_directory(&s).await;
}

#[tokio::test]
async fn history() {
    let (s, _dir) = store().await;
    testing::history(&s).await;
}

#[tokio::test]
async fn aggregation() {
    let (s, _dir) = store().await;
    testing::aggregation(&s).await;
}

#[tokio::test]
async fn streams() {
    let (s, _dir) = store().await;
    testing::streams(&s).await;
}

#[tokio::test]
async fn tokens() {
    let (s, _dir) = store().await;
    testing::tokens(&s).await;
}

#[tokio::test]
async fn dead_letters() {
    let (s, _dir) = store().await;
    testing::dead_letters(&s).await;
}

#[tokio::test]
async fn queue_delayed() {
    let (q, _dir) = queue().await;
    testing::queue_delayed(&q).await;
}

#[tokio::test]
async fn all_queue_contracts() {
    // Each fresh queue's directory lives until the end of the test.
    let dirs = std::sync::Mutex::new(Vec::new());
    let dirs = &dirs;
    testing::queue_contract(
        move || async move {
            let (q, dir) = queue().await;
            dirs.lock().expect("dirs").push(dir);
            Box::new(q) as Box<dyn imgate_core::ports::Queue>
        },
        MAX_RECEIVES,
    )
    .await;
}
