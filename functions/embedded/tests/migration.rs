//! Upgrading a database written by an earlier build: the file is migrated in place on open and
//! keeps its rows.

use std::path::Path;
use std::time::Duration;

use imgate_core::Timestamp;
use imgate_core::ids::{IntegrationId, OrgId, UserId};
use imgate_core::ports::{CachedToken, EventLog, OrgStore, Queue, StreamState, StreamStore, TokenCache, UserDirectory};
use imgate_embedded::{LocalBackend, QueueOptions};
use rusqlite::{Connection, params};

const NOW: Timestamp = Timestamp::from_millis(1_795_244_400_000);

/// Writes a version-1 database as a version-1 build left it: schema, user_version, a few rows.
fn write_v1(path: &Path, org: &OrgId) {
    let conn = Connection::open(path).expect("open v1");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.execute_batch(include_str!("../src/schema_v1.sql"))
        .expect("v1 schema");
    conn.pragma_update(None, "user_version", 1).expect("user_version");
    conn.execute(
        "INSERT INTO orgs (id, name, created_at) VALUES (?1, 'Acme', ?2)",
        params![org.as_str(), NOW.as_millis()],
    )
    .expect("org");
    conn.execute(
        "INSERT INTO queue_messages \
         (group_id, dedupe_id, body, enqueued_at, visible_at, receive_count, receipt) \
         VALUES ('g', 'm1', 'queued before the upgrade', ?1, 0, 0, NULL)",
        [NOW.as_millis()],
    )
    .expect("queue message");
    conn.execute("INSERT INTO meta (key, value) VALUES ('bootstrap', 'hash')", [])
        .expect("meta");
}

fn user_version(path: &Path) -> i64 {
    let conn = Connection::open(path).expect("open");
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user_version")
}

#[tokio::test]
async fn version_1_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("imgate.db");
    let org = OrgId::generate();
    write_v1(&path, &org);
    assert_eq!(user_version(&path), 1);

    let backend = LocalBackend::open(&path, QueueOptions::default())
        .await
        .expect("open and migrate");
    let (store, queue) = (&backend.store, &backend.queue);

    // The old rows are all there.
    let found = store.get_org(&org).await.expect("get org").expect("org kept");
    assert_eq!((found.name.as_str(), found.created_at), ("Acme", NOW));
    assert_eq!(
        store.get_meta("bootstrap").await.expect("meta").as_deref(),
        Some("hash")
    );
    let got = queue.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "queued before the upgrade");
    queue.ack(&got[0].receipt).await.expect("ack");

    // Old and new tables work side by side.
    let id = IntegrationId::generate();
    assert!(store.recent_events(&id, 10, NOW).await.expect("events").is_empty());
    let user = UserId::generate();
    assert_eq!(
        store.resolve_user("org:wecom:u1", &user, NOW).await.expect("resolve"),
        user
    );
    let token = CachedToken {
        token: imgate_core::keyring::SealedSecret::from_stored("v1.local.dG9rZW4"),
        expires_at: NOW.plus(Duration::from_secs(60)),
    };
    store.put_token("k", &token).await.expect("put token");
    assert_eq!(store.get_token("k", NOW).await.expect("get token"), Some(token));
    let stream = StreamState {
        integration_id: id.clone(),
        id: "s".into(),
        content: String::new(),
        finished: false,
        card: None,
        version: 1,
        created_at: NOW,
        expires_at: NOW.plus(Duration::from_secs(60)),
    };
    assert!(store.create_stream(&stream).await.expect("create stream"));
    queue
        .enqueue_delayed("timer", Duration::ZERO)
        .await
        .expect("enqueue delayed");
    let timers = queue.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].group, "");
    drop(backend);

    assert_eq!(user_version(&path), 3, "migrated to the current schema");
    // Opening again leaves an up-to-date file alone.
    let backend = LocalBackend::open(&path, QueueOptions::default())
        .await
        .expect("reopen");
    assert_eq!(
        backend
            .store
            .resolve_user("org:wecom:u1", &UserId::generate(), NOW)
            .await
            .expect("resolve"),
        user
    );
    assert!(backend.store.get_org(&org).await.expect("get org").is_some());
}
