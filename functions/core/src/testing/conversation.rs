//! Contracts of the conversation ports: users, history, aggregation, streams, tokens.

use std::time::Duration;

use super::NOW;
use crate::event::{Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender};
use crate::ids::{IntegrationId, SessionId, UserId};
use crate::keyring::SealedSecret;
use crate::platform::Platform;
use crate::ports::{CachedToken, HistoryEntry, Role, Store, StreamState};

/// Concurrent and repeated resolutions of one identity give one user.
pub async fn user_directory(store: &dyn Store) {
    let identity = format!("org_x:wecom:{}", UserId::generate());
    let first = UserId::generate();
    let resolved = store.resolve_user(&identity, &first, NOW).await.expect("resolve new");
    assert_eq!(resolved, first, "a new identity gets the candidate");
    let again = store
        .resolve_user(&identity, &UserId::generate(), NOW)
        .await
        .expect("resolve again");
    assert_eq!(again, first, "an identity keeps its user");
    let other = store
        .resolve_user(&format!("{identity}-2"), &UserId::generate(), NOW)
        .await
        .expect("other");
    assert_ne!(other, first);
    let fresh = format!("org_x:lark:{}", UserId::generate());
    let (candidate_a, candidate_b) = (UserId::generate(), UserId::generate());
    let (a, b) = tokio::join!(
        store.resolve_user(&fresh, &candidate_a, NOW),
        store.resolve_user(&fresh, &candidate_b, NOW)
    );
    assert_eq!(a.expect("a"), b.expect("b"), "racing resolutions agree");
}

/// History: oldest first, bounded, expiring, per session.
pub async fn history(store: &dyn Store) {
    let session = SessionId::generate();
    let ttl = Duration::from_secs(3600);
    for (i, role) in [Role::User, Role::Assistant, Role::User].into_iter().enumerate() {
        let entry = HistoryEntry {
            role,
            content: format!("turn {i} 你好"),
            at: NOW.plus(Duration::from_millis(i as u64)),
        };
        store.append_history(&session, &entry, ttl).await.expect("append");
    }
    let same_instant = HistoryEntry {
        role: Role::Assistant,
        content: "turn 3".into(),
        at: NOW.plus(Duration::from_millis(2)),
    };
    store
        .append_history(&session, &same_instant, ttl)
        .await
        .expect("append same instant");
    let all = store.recent_history(&session, 10, NOW).await.expect("recent");
    assert_eq!(all.len(), 4, "turns at the same instant are all kept");
    assert_eq!(all[0].content, "turn 0 你好", "oldest first");
    assert_eq!(all[1].role, Role::Assistant);
    let last_two = store.recent_history(&session, 2, NOW).await.expect("recent 2");
    assert_eq!(last_two.len(), 2);
    assert!(
        last_two
            .iter()
            .all(|e| e.content == "turn 2 你好" || e.content == "turn 3"),
        "{last_two:?}"
    );
    assert_eq!(
        store
            .recent_history(&SessionId::generate(), 10, NOW)
            .await
            .expect("other"),
        vec![]
    );
    let later = NOW.plus(ttl).plus(Duration::from_secs(1));
    assert_eq!(
        store.recent_history(&session, 10, later).await.expect("expired"),
        vec![]
    );
}

fn event(text: &str) -> InboundEvent {
    InboundEvent {
        event_id: format!("msg-{text}"),
        platform: Platform::Wecom,
        integration_id: IntegrationId::generate(),
        conversation: Conversation {
            id: "chat".into(),
            kind: ConversationKind::Direct,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: "u1".into(),
            name: None,
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            text: text.into(),
            ..Message::default()
        }),
        reply: ReplyContext::WecomBot {
            response_url: None,
            req_id: None,
            stream_id: Some("s".into()),
            chat_type: "single".into(),
        },
        occurred_at: None,
        received_at: NOW,
    }
}

/// Aggregation buffers: versioned appends, take only at the current version.
pub async fn aggregation(store: &dyn Store) {
    let key = format!("{}:conv", IntegrationId::generate());
    let ttl = Duration::from_secs(900);
    assert_eq!(store.take_pending(&key, 1).await.expect("take missing"), None);
    assert_eq!(
        store
            .append_pending(&key, &event("a"), NOW, ttl)
            .await
            .expect("append a"),
        1
    );
    assert_eq!(
        store
            .append_pending(&key, &event("b"), NOW, ttl)
            .await
            .expect("append b"),
        2
    );
    assert_eq!(
        store.take_pending(&key, 1).await.expect("stale take"),
        None,
        "a stale flush takes nothing"
    );
    let taken = store
        .take_pending(&key, 2)
        .await
        .expect("take")
        .expect("current version");
    let texts: Vec<String> = taken
        .iter()
        .map(|e| match &e.kind {
            InboundKind::Message(m) => m.text.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, vec!["a", "b"], "events come back in order");
    assert_eq!(
        store.take_pending(&key, 2).await.expect("take twice"),
        None,
        "taken once"
    );
    assert_eq!(
        store
            .append_pending(&key, &event("c"), NOW, ttl)
            .await
            .expect("new buffer"),
        1,
        "a new buffer starts at 1"
    );
}

/// Stream buffers: create once, monotonic updates, expiry.
pub async fn streams(store: &dyn Store) {
    let integration = IntegrationId::generate();
    let stream = StreamState {
        integration_id: integration.clone(),
        id: "stream-1".into(),
        content: "思考中…".into(),
        finished: false,
        card: None,
        version: 1,
        created_at: NOW,
        expires_at: NOW.plus(Duration::from_secs(3600)),
    };
    assert!(store.create_stream(&stream).await.expect("create"));
    assert!(
        !store
            .create_stream(&StreamState {
                content: "other".into(),
                ..stream.clone()
            })
            .await
            .expect("create twice")
    );
    assert_eq!(
        store.get_stream(&integration, "stream-1", NOW).await.expect("get"),
        Some(stream.clone())
    );
    assert_eq!(
        store
            .get_stream(&IntegrationId::generate(), "stream-1", NOW)
            .await
            .expect("other integration"),
        None
    );
    let v2 = StreamState {
        content: "hello".into(),
        version: 2,
        ..stream.clone()
    };
    assert!(store.update_stream(&v2).await.expect("update v2"));
    let v3 = StreamState {
        content: "hello world".into(),
        finished: true,
        card: Some(serde_json::json!({"card_type": "button_interaction"})),
        version: 3,
        ..stream.clone()
    };
    assert!(store.update_stream(&v3).await.expect("update v3"));
    assert!(
        !store.update_stream(&v2).await.expect("stale update"),
        "a stale write is ignored"
    );
    assert_eq!(
        store.get_stream(&integration, "stream-1", NOW).await.expect("get"),
        Some(v3.clone())
    );
    let missing = StreamState {
        id: "nope".into(),
        version: 5,
        ..stream.clone()
    };
    assert!(
        !store.update_stream(&missing).await.expect("update missing"),
        "updates never create"
    );
    assert_eq!(
        store.get_stream(&integration, "nope", NOW).await.expect("get missing"),
        None
    );
    assert_eq!(
        store
            .get_stream(&integration, "stream-1", v3.expires_at)
            .await
            .expect("expired"),
        None
    );
}

/// Token cache: valid until expiry, replace, invalidate.
pub async fn tokens(store: &dyn Store) {
    let key = format!("wecom:{}", IntegrationId::generate());
    assert_eq!(store.get_token(&key, NOW).await.expect("get none"), None);
    let token = CachedToken {
        token: SealedSecret::from_stored("v1.local.dG9rZW4"),
        expires_at: NOW.plus(Duration::from_secs(7200)),
    };
    store.put_token(&key, &token).await.expect("put");
    assert_eq!(store.get_token(&key, NOW).await.expect("get"), Some(token.clone()));
    assert_eq!(store.get_token(&key, token.expires_at).await.expect("expired"), None);
    let newer = CachedToken {
        token: SealedSecret::from_stored("v1.local.bmV3"),
        ..token
    };
    store.put_token(&key, &newer).await.expect("replace");
    assert_eq!(store.get_token(&key, NOW).await.expect("get newer"), Some(newer));
    store.invalidate_token(&key).await.expect("invalidate");
    store.invalidate_token(&key).await.expect("invalidate is idempotent");
    assert_eq!(store.get_token(&key, NOW).await.expect("get invalidated"), None);
}
