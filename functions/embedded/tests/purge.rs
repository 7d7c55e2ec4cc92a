//! Purging expired items: only what expired goes, of every kind, and reads agree afterwards.

use std::time::Duration;

use imgate_core::Timestamp;
use imgate_core::event::{Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender};
use imgate_core::ids::{AgentId, IntegrationId, OrgId, SessionId, UserId};
use imgate_core::keyring::SealedSecret;
use imgate_core::platform::Platform;
use imgate_core::ports::{
    AggregationStore, CachedToken, Claim, DeadLetter, DeadLetterStore, DedupeStore, EventLog, EventLogEntry,
    HistoryEntry, HistoryStore, LeaseStore, Role, SessionStore, StreamState, StreamStore, TokenCache,
};
use imgate_core::session::{Session, SessionKey};
use imgate_embedded::{LocalBackend, PurgeReport, QueueOptions, SqliteStore};

#[tokio::test]
async fn purge_deletes_only_expired_items() {
    let backend = LocalBackend::open_in_memory(QueueOptions::default()).expect("backend");
    let store: &SqliteStore = &backend.store;
    let now = Timestamp::from_millis(1_795_244_400_000);
    let short = Duration::from_secs(10);
    let long = Duration::from_secs(3600);
    let id = IntegrationId::generate();

    assert_eq!(store.claim("old", now, short).await.expect("claim"), Claim::Claimed);
    assert_eq!(store.claim("new", now, long).await.expect("claim"), Claim::Claimed);
    store.acquire_lease(&id, "relay", now, short).await.expect("lease");
    let entry = |kind: &str| EventLogEntry {
        at: now,
        kind: kind.into(),
        event_id: None,
        detail: String::new(),
    };
    store.record_event(&id, &entry("old"), short).await.expect("event");
    store.record_event(&id, &entry("new"), long).await.expect("event");
    let session = |sender: &str, ttl| Session {
        key: SessionKey {
            integration_id: id.clone(),
            conversation: "c".into(),
            sender: sender.into(),
        },
        id: SessionId::generate(),
        agent_id: AgentId::generate(),
        user_id: UserId::generate(),
        started_at: now,
        last_active_at: now,
        expires_at: now.plus(ttl),
        answer: None,
    };
    store.put_session(&session("a", short)).await.expect("session");
    store.put_session(&session("b", long)).await.expect("session");
    let turn = |content: &str| HistoryEntry {
        role: Role::User,
        content: content.into(),
        at: now,
    };
    let stream = |stream_id: &str, ttl| StreamState {
        integration_id: id.clone(),
        id: stream_id.into(),
        content: String::new(),
        finished: false,
        card: None,
        version: 1,
        created_at: now,
        expires_at: now.plus(ttl),
    };
    let token = |ttl| CachedToken {
        token: SealedSecret::from_stored("v1.local.dG9rZW4"),
        expires_at: now.plus(ttl),
    };

    store
        .append_history(&session("a", short).id, &turn("old"), short)
        .await
        .expect("history");
    let history_session = SessionId::generate();
    store
        .append_history(&history_session, &turn("new"), long)
        .await
        .expect("history");
    store
        .append_pending("old", &event("x"), now, short)
        .await
        .expect("pending");
    store
        .append_pending("new", &event("y"), now, long)
        .await
        .expect("pending");
    store.create_stream(&stream("old", short)).await.expect("stream");
    store.create_stream(&stream("new", long)).await.expect("stream");
    store.put_token("old", &token(short)).await.expect("token");
    store.put_token("new", &token(long)).await.expect("token");
    let org = OrgId::generate();
    let letter = |letter_id: &str| DeadLetter {
        id: letter_id.into(),
        org_id: org.clone(),
        integration_id: id.clone(),
        event_id: None,
        group: String::new(),
        body: "{}".into(),
        reason: "failed".into(),
        failed_at: now,
        receive_count: 5,
    };
    store.put_dead_letter(&letter("old"), short).await.expect("dead letter");
    store.put_dead_letter(&letter("new"), long).await.expect("dead letter");

    let later = now.plus(short);
    let report = store.purge_expired(later).await.expect("purge");
    assert_eq!(
        report,
        PurgeReport {
            dedupe_claims: 1,
            sessions: 1,
            leases: 1,
            events: 1,
            history: 1,
            aggregation_buffers: 1,
            streams: 1,
            tokens: 1,
            dead_letters: 1,
        }
    );
    assert_eq!(report.total(), 9);
    assert_eq!(store.purge_expired(later).await.expect("purge").total(), 0);
    assert_eq!(store.claim("new", later, long).await.expect("claim"), Claim::Duplicate);
    let events = store.recent_events(&id, 10, later).await.expect("events");
    assert_eq!(events, vec![entry("new")]);
    assert!(
        store
            .get_session(&session("b", long).key, later)
            .await
            .expect("session")
            .is_some()
    );
    assert_eq!(
        store
            .recent_history(&history_session, 10, later)
            .await
            .expect("history"),
        vec![turn("new")]
    );
    // The purged buffer's events went with it: the key starts over at version 1.
    assert_eq!(store.take_pending("old", 1).await.expect("take"), None);
    assert_eq!(
        store
            .append_pending("old", &event("z"), later, long)
            .await
            .expect("pending"),
        1
    );
    assert_eq!(
        store.take_pending("old", 1).await.expect("take"),
        Some(vec![event("z")])
    );
    assert_eq!(
        store.take_pending("new", 1).await.expect("take"),
        Some(vec![event("y")])
    );
    assert!(store.get_stream(&id, "new", later).await.expect("stream").is_some());
    assert!(store.get_token("new", later).await.expect("token").is_some());
    assert_eq!(
        store.list_dead_letters(&org, later, 10).await.expect("dead letters"),
        vec![letter("new")]
    );
}

/// A message event with `text`, received at a fixed instant.
fn event(text: &str) -> InboundEvent {
    InboundEvent {
        event_id: format!("msg-{text}"),
        platform: Platform::Wecom,
        integration_id: "int_0190f0e0a0b0c0d0e0f0a0b0c0d0e0f0".parse().expect("integration id"),
        conversation: Conversation {
            id: "chat".into(),
            kind: ConversationKind::Group,
            thread_id: Some("t".into()),
            name: Some("群聊".into()),
        },
        sender: Sender {
            id: "u1".into(),
            name: Some("Ann".into()),
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            text: text.into(),
            mentions_bot: true,
            ..Message::default()
        }),
        reply: ReplyContext::WecomBot {
            response_url: Some("https://example.com/r".into()),
            req_id: None,
            stream_id: None,
            chat_type: "group".into(),
        },
        occurred_at: Some(Timestamp::from_millis(1_795_244_399_000)),
        received_at: Timestamp::from_millis(1_795_244_400_000),
    }
}
