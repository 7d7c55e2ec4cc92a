//! Upgrading a database written by an earlier build: the file is migrated in place on open and
//! keeps its rows.

use std::path::Path;
use std::time::Duration;

use imgate_core::Timestamp;
use imgate_core::ids::{IntegrationId, OrgId, UserId};
use imgate_core::ports::{
    CachedToken, DeadLetter, DeadLetterStore, EventLog, IntegrationStore, OrgStore, Queue, SessionStore, StreamState,
    StreamStore, TokenCache, UserDirectory,
};
use imgate_core::session::SessionKey;
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
    conn.execute(
        "INSERT INTO integrations (id, org_id, name, platform, mode, enabled, credentials, \
         created_at, updated_at, version) \
         VALUES (?1, ?2, 'bot', 'wecom', 'webhook', 1, 'v1.local.c2VhbGVk', ?3, ?3, 1)",
        params![v1_session_key().integration_id.as_str(), org.as_str(), NOW.as_millis()],
    )
    .expect("integration");
    let session = v1_session_key();
    conn.execute(
        "INSERT INTO sessions (digest, integration_id, conversation, sender, id, agent_id, \
         user_id, started_at, last_active_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, 'ses_0123456789abcdef0123456789abcdef', 'agt_0123456789abcdef0123456789abcdef', 'usr_0123456789abcdef0123456789abcdef', ?5, ?5, ?6)",
        params![
            session.digest(),
            session.integration_id.as_str(),
            session.conversation,
            session.sender,
            NOW.as_millis(),
            NOW.plus(Duration::from_secs(600)).as_millis()
        ],
    )
    .expect("session");
}

/// The conversation of the session a version-1 build left.
fn v1_session_key() -> SessionKey {
    SessionKey {
        integration_id: "int_0123456789abcdef0123456789abcdef".parse().expect("integration id"),
        conversation: "chat".into(),
        sender: "user".into(),
    }
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
    // A session from before sessions kept answers ends when it ended, and holds none.
    let session = store
        .get_session(&v1_session_key(), NOW)
        .await
        .expect("get session")
        .expect("session kept");
    assert_eq!(session.expires_at, NOW.plus(Duration::from_secs(600)));
    assert_eq!(session.answer, None);
    assert!(session.is_live(NOW));
    // It is listed until its conversation ends.
    let integration = v1_session_key().integration_id;
    assert_eq!(
        store.list_sessions(&integration, NOW, 10).await.expect("list sessions"),
        vec![session.clone()]
    );
    assert_eq!(
        store
            .list_sessions(&integration, session.expires_at, 10)
            .await
            .expect("list sessions"),
        vec![]
    );
    // An integration from before accounts were kept has none until its credentials are tested.
    let record = store
        .get_integration(&integration)
        .await
        .expect("get integration")
        .expect("integration kept");
    assert_eq!(record.account, None);
    let tested = imgate_core::integration::IntegrationRecord {
        account: Some("@bot".into()),
        version: 2,
        ..record
    };
    store.update_integration(&tested).await.expect("update integration");
    assert_eq!(
        store.get_integration(&integration).await.expect("get integration"),
        Some(tested)
    );

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
    let letter = DeadLetter {
        id: "dl_1".into(),
        org_id: org.clone(),
        integration_id: id.clone(),
        event_id: None,
        group: String::new(),
        body: "{}".into(),
        reason: "failed".into(),
        failed_at: NOW,
        receive_count: 5,
    };
    store
        .put_dead_letter(&letter, Duration::from_secs(60))
        .await
        .expect("put dead letter");
    assert_eq!(
        store.get_dead_letter(&org, "dl_1", NOW).await.expect("get dead letter"),
        Some(letter)
    );
    queue
        .enqueue_delayed("timer", Duration::ZERO)
        .await
        .expect("enqueue delayed");
    let timers = queue.receive(10, Duration::from_secs(60)).await.expect("receive");
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].group, "");
    drop(backend);

    assert_eq!(user_version(&path), 7, "migrated to the current schema");
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
