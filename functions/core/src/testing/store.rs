//! Store contracts.

use std::time::Duration;

use super::NOW;
use crate::agent::{AgentKind, AgentRecord};
use crate::apikey;
use crate::ids::{AgentId, IntegrationId, OrgId, SessionId, UserId};
use crate::integration::{ConnectionState, IntegrationRecord, IntegrationStatus, StatusReason};
use crate::keyring::SealedSecret;
use crate::org::Organization;
use crate::platform::{ConnectionMode, Platform};
use crate::ports::{Claim, DeadLetter, EventLogEntry, LeaseOutcome, Store, StoreError};
use crate::session::{RecordedAnswer, Session, SessionKey};
use crate::time::Timestamp;
use crate::trigger::{Access, BusyPolicy, GroupPolicy, Refusal, Trigger};

fn org() -> Organization {
    Organization {
        id: OrgId::generate(),
        name: "Acme 公司".into(),
        created_at: NOW,
    }
}

fn integration(org: &OrgId, name: &str) -> IntegrationRecord {
    IntegrationRecord {
        id: IntegrationId::generate(),
        org_id: org.clone(),
        name: name.into(),
        platform: Platform::Wecom,
        mode: ConnectionMode::Webhook,
        enabled: true,
        credentials: SealedSecret::from_stored("v1.local.c2VhbGVk"),
        created_at: NOW,
        updated_at: NOW,
        version: 1,
        account: None,
    }
}

fn agent(org: &OrgId) -> AgentRecord {
    AgentRecord {
        id: AgentId::generate(),
        org_id: org.clone(),
        name: "helper".into(),
        kind: AgentKind::Echo,
        config: SealedSecret::from_stored("v1.local.YWdlbnQ"),
        created_at: NOW,
        updated_at: NOW,
        version: 1,
    }
}

/// Organizations and API keys.
pub async fn orgs_and_api_keys(store: &dyn Store) {
    let a = org();
    let b = org();
    store.create_org(&a).await.expect("create org a");
    store.create_org(&b).await.expect("create org b");
    assert!(
        matches!(store.create_org(&a).await, Err(StoreError::Conflict(_))),
        "duplicate org must conflict"
    );
    assert_eq!(store.get_org(&a.id).await.expect("get org"), Some(a.clone()));
    assert_eq!(store.get_org(&OrgId::generate()).await.expect("get missing org"), None);
    let all = store.list_orgs().await.expect("list orgs");
    assert!(all.contains(&a) && all.contains(&b), "list_orgs must contain both");

    let k1 = apikey::issue(a.id.clone(), "ci".into(), NOW).record;
    let k2 = apikey::issue(a.id.clone(), "ops".into(), NOW.plus(Duration::from_millis(1))).record;
    let other = apikey::issue(b.id.clone(), "b".into(), NOW).record;
    for k in [&k1, &k2, &other] {
        store.create_api_key(k).await.expect("create key");
    }
    assert!(matches!(store.create_api_key(&k1).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_api_key(&k1.id).await.expect("get key"), Some(k1.clone()));
    assert_eq!(
        store.list_api_keys(&a.id).await.expect("list keys"),
        vec![k1.clone(), k2.clone()]
    );
    assert!(store.delete_api_key(&k1.id).await.expect("delete key"));
    assert!(!store.delete_api_key(&k1.id).await.expect("delete key again"));
    assert_eq!(store.get_api_key(&k1.id).await.expect("get deleted key"), None);
    assert_eq!(store.list_api_keys(&a.id).await.expect("list keys"), vec![k2]);
}

/// Integrations, optimistic versions and status.
pub async fn integrations(store: &dyn Store) {
    let org_a = OrgId::generate();
    let org_b = OrgId::generate();
    let first = integration(&org_a, "first");
    let mut second = integration(&org_a, "second");
    second.created_at = NOW.plus(Duration::from_millis(5));
    second.account = Some("@acme_bot 机器人".into());
    let foreign = integration(&org_b, "foreign");
    for r in [&first, &second, &foreign] {
        store.create_integration(r).await.expect("create integration");
    }
    assert!(matches!(
        store.create_integration(&first).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_integration(&first.id).await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store.list_integrations(&org_a).await.expect("list"),
        vec![first.clone(), second.clone()]
    );

    let mut updated = first.clone();
    updated.name = "renamed".into();
    updated.enabled = false;
    updated.credentials = SealedSecret::from_stored("v1.local.bmV3");
    updated.updated_at = NOW.plus(Duration::from_secs(1));
    updated.version = 2;
    updated.account = Some("@renamed_bot".into());
    store.update_integration(&updated).await.expect("update v2");
    assert_eq!(
        store.get_integration(&first.id).await.expect("get"),
        Some(updated.clone())
    );
    assert!(
        matches!(store.update_integration(&updated).await, Err(StoreError::Conflict(_))),
        "a stale version must conflict"
    );
    // The account is set on its own, the version and update time unchanged.
    assert!(
        store
            .set_account(&first.id, Some("@learned_bot"))
            .await
            .expect("set account")
    );
    let learned = store.get_integration(&first.id).await.expect("get").expect("present");
    assert_eq!(learned.account.as_deref(), Some("@learned_bot"));
    assert_eq!(
        (learned.version, learned.updated_at),
        (updated.version, updated.updated_at)
    );
    assert!(store.set_account(&first.id, None).await.expect("clear account"));
    let cleared = store.get_integration(&first.id).await.expect("get").expect("present");
    assert_eq!(cleared.account, None);
    assert_eq!(cleared.version, updated.version);
    let mut missing = integration(&org_a, "ghost");
    assert!(
        !store
            .set_account(&missing.id, Some("@nobody"))
            .await
            .expect("set on none")
    );
    assert_eq!(
        store.get_integration(&missing.id).await.expect("get ghost"),
        None,
        "nothing created"
    );
    store
        .set_account(&first.id, updated.account.as_deref())
        .await
        .expect("restore");
    missing.version = 2;
    assert!(matches!(
        store.update_integration(&missing).await,
        Err(StoreError::NotFound)
    ));

    let status = IntegrationStatus {
        integration_id: first.id.clone(),
        state: ConnectionState::Retrying,
        reason: Some(StatusReason::Network),
        connected_since: None,
        last_event_at: Some(NOW),
        last_error: Some("connection reset".into()),
        reconnect_attempts: 3,
        owner: Some("relay-1".into()),
        updated_at: NOW,
    };
    store.put_status(&status).await.expect("put status");
    assert_eq!(
        store.get_status(&first.id).await.expect("get status"),
        Some(status.clone())
    );
    let newer = IntegrationStatus {
        state: ConnectionState::Connected,
        reason: None,
        connected_since: Some(NOW),
        ..status
    };
    store.put_status(&newer).await.expect("overwrite status");
    assert_eq!(store.get_status(&first.id).await.expect("get status"), Some(newer));

    assert!(store.delete_integration(&first.id).await.expect("delete"));
    assert!(!store.delete_integration(&first.id).await.expect("delete again"));
    assert_eq!(store.get_integration(&first.id).await.expect("get deleted"), None);
    assert_eq!(
        store.get_status(&first.id).await.expect("status of deleted"),
        None,
        "delete removes the status"
    );
    assert_eq!(store.list_integrations(&org_a).await.expect("list"), vec![second]);
}

/// Batched status reads: the statuses that exist, each once, whatever the number of ids.
pub async fn integration_statuses(store: &dyn Store) {
    let status = |id: &IntegrationId, attempts: u32| IntegrationStatus {
        integration_id: id.clone(),
        state: ConnectionState::Connected,
        reason: None,
        connected_since: Some(NOW),
        last_event_at: None,
        last_error: None,
        reconnect_attempts: attempts,
        owner: Some("relay-1".into()),
        updated_at: NOW,
    };
    // More ids than one batched read takes (DynamoDB: 100 keys), most without a status.
    let ids: Vec<IntegrationId> = (0..250).map(|_| IntegrationId::generate()).collect();
    let mut stored = Vec::new();
    for (n, i) in [0, 120, 249].into_iter().enumerate() {
        let s = status(&ids[i], u32::try_from(n).unwrap_or_default());
        store.put_status(&s).await.expect("put status");
        stored.push(s);
    }
    let sorted = |mut list: Vec<IntegrationStatus>| {
        list.sort_by(|a, b| a.integration_id.cmp(&b.integration_id));
        list
    };
    let mut asked = ids.clone();
    asked.push(ids[120].clone());
    assert_eq!(
        sorted(store.get_statuses(&asked).await.expect("get statuses")),
        sorted(stored.clone()),
        "the statuses that exist, each once"
    );
    assert_eq!(
        store.get_statuses(&ids[1..3]).await.expect("get missing"),
        vec![],
        "ids without a status are left out"
    );
    assert_eq!(store.get_statuses(&[]).await.expect("get none"), vec![]);
}

/// The relay's work list: long-connection integrations across organizations, following mode
/// changes and deletions.
pub async fn long_connection_integrations(store: &dyn Store) {
    let long_a = IntegrationRecord {
        mode: ConnectionMode::LongConnection,
        ..integration(&OrgId::generate(), "long a")
    };
    let long_b = IntegrationRecord {
        mode: ConnectionMode::LongConnection,
        enabled: false,
        ..integration(&OrgId::generate(), "long b")
    };
    let webhook = integration(&OrgId::generate(), "webhook");
    for r in [&long_a, &long_b, &webhook] {
        store.create_integration(r).await.expect("create");
    }
    let ids = |list: Vec<IntegrationRecord>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let listed = ids(store.list_long_connection_integrations().await.expect("list"));
    assert!(
        listed.contains(&long_a.id) && listed.contains(&long_b.id),
        "both long connections, enabled or not"
    );
    assert!(!listed.contains(&webhook.id), "webhook integrations are not listed");

    // Switching modes moves an integration in or out of the list; deleting removes it.
    let switched = IntegrationRecord {
        mode: ConnectionMode::LongConnection,
        version: 2,
        ..webhook.clone()
    };
    store.update_integration(&switched).await.expect("to long connection");
    let back = IntegrationRecord {
        mode: ConnectionMode::Webhook,
        version: 2,
        ..long_a.clone()
    };
    store.update_integration(&back).await.expect("to webhook");
    store.delete_integration(&long_b.id).await.expect("delete");
    let listed = ids(store.list_long_connection_integrations().await.expect("list again"));
    assert!(listed.contains(&webhook.id), "switched to long connection");
    assert!(!listed.contains(&long_a.id), "switched to webhook");
    assert!(!listed.contains(&long_b.id), "deleted");
}

/// Agents and optimistic versions.
pub async fn agents(store: &dyn Store) {
    let org_a = OrgId::generate();
    let a = agent(&org_a);
    let other = agent(&OrgId::generate());
    store.create_agent(&a).await.expect("create agent");
    store.create_agent(&other).await.expect("create other agent");
    assert!(matches!(store.create_agent(&a).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.get_agent(&a.id).await.expect("get"), Some(a.clone()));
    assert_eq!(store.list_agents(&org_a).await.expect("list"), vec![a.clone()]);
    let updated = AgentRecord {
        name: "renamed".into(),
        kind: AgentKind::Http,
        version: 2,
        ..a.clone()
    };
    store.update_agent(&updated).await.expect("update");
    assert_eq!(store.get_agent(&a.id).await.expect("get"), Some(updated.clone()));
    assert!(matches!(
        store.update_agent(&updated).await,
        Err(StoreError::Conflict(_))
    ));
    let ghost = AgentRecord {
        version: 2,
        ..agent(&org_a)
    };
    assert!(matches!(store.update_agent(&ghost).await, Err(StoreError::NotFound)));
    assert!(store.delete_agent(&a.id).await.expect("delete"));
    assert!(!store.delete_agent(&a.id).await.expect("delete again"));
    assert_eq!(store.list_agents(&org_a).await.expect("list"), vec![]);
}

/// Triggers: create-if-absent and versioned replace.
pub async fn triggers(store: &dyn Store) {
    let org_a = OrgId::generate();
    let t = Trigger {
        integration_id: IntegrationId::generate(),
        org_id: org_a.clone(),
        agent_id: AgentId::generate(),
        enabled: true,
        session_timeout_seconds: 3600,
        summary_window_seconds: 0,
        group_policy: GroupPolicy::MentionOnly,
        access: Access::default(),
        agents: Vec::new(),
        busy: BusyPolicy::Queue,
        created_at: NOW,
        updated_at: NOW,
        version: 1,
    };
    store.put_trigger(&t).await.expect("create trigger");
    assert!(
        matches!(store.put_trigger(&t).await, Err(StoreError::Conflict(_))),
        "second create must conflict"
    );
    assert_eq!(
        store.get_trigger(&t.integration_id).await.expect("get"),
        Some(t.clone())
    );
    let t2 = Trigger {
        agent_id: AgentId::generate(),
        enabled: false,
        group_policy: GroupPolicy::AllMessages,
        summary_window_seconds: 30,
        access: Access {
            allowed_users: vec!["alice".into(), "用户 2".into()],
            allowed_chats: vec!["ops-room".into()],
            refusal: Refusal::Silent,
        },
        agents: vec![AgentId::generate(), AgentId::generate()],
        busy: BusyPolicy::Collect,
        version: 2,
        ..t.clone()
    };
    store.put_trigger(&t2).await.expect("replace v2");
    assert_eq!(
        store.get_trigger(&t.integration_id).await.expect("get v2"),
        Some(t2.clone()),
        "allowlists round-trip"
    );
    assert!(
        matches!(store.put_trigger(&t2).await, Err(StoreError::Conflict(_))),
        "stale replace must conflict"
    );
    let later = Trigger {
        integration_id: IntegrationId::generate(),
        created_at: NOW.plus(Duration::from_secs(1)),
        ..t.clone()
    };
    store.put_trigger(&later).await.expect("second trigger");
    assert_eq!(
        store.list_triggers(&org_a).await.expect("list"),
        vec![t2.clone(), later.clone()]
    );
    assert_eq!(
        store.list_triggers(&OrgId::generate()).await.expect("list other"),
        vec![]
    );
    assert!(store.delete_trigger(&t.integration_id).await.expect("delete"));
    assert!(!store.delete_trigger(&t.integration_id).await.expect("delete again"));
    assert_eq!(store.get_trigger(&t.integration_id).await.expect("get deleted"), None);
    // After a delete the next publish starts at version 1 again.
    store.put_trigger(&t).await.expect("recreate after delete");
}

/// Sessions and their expiry.
pub async fn sessions(store: &dyn Store) {
    let key = SessionKey {
        integration_id: IntegrationId::generate(),
        conversation: "chat/1 群".into(),
        sender: "user:1".into(),
    };
    assert_eq!(store.get_session(&key, NOW).await.expect("get none"), None);
    let session = Session {
        key: key.clone(),
        id: SessionId::generate(),
        agent_id: AgentId::generate(),
        user_id: UserId::generate(),
        started_at: NOW,
        last_active_at: NOW,
        expires_at: NOW.plus(Duration::from_secs(3600)),
        answer: None,
    };
    store.put_session(&session).await.expect("put");
    assert_eq!(store.get_session(&key, NOW).await.expect("get"), Some(session.clone()));
    assert_eq!(
        store.get_session(&key, session.expires_at).await.expect("get expired"),
        None,
        "expired reads as absent"
    );
    let other = SessionKey {
        sender: "user:2".into(),
        ..key.clone()
    };
    assert_eq!(store.get_session(&other, NOW).await.expect("other sender"), None);
    let renewed = Session {
        last_active_at: NOW.plus(Duration::from_secs(60)),
        ..session
    };
    store.put_session(&renewed).await.expect("overwrite");
    assert_eq!(store.get_session(&key, NOW).await.expect("get"), Some(renewed.clone()));
    // A session keeping a recorded answer is read after its conversation ended, until the
    // answer is no longer needed.
    let answered = Session {
        answer: Some(RecordedAnswer {
            event_key: "wecom:int:msg-1".into(),
            text: "答案 with an answer".into(),
            at: NOW.plus(Duration::from_secs(30)),
        }),
        ..renewed
    };
    store.put_session(&answered).await.expect("put with answer");
    let ended = answered.expires_at;
    let read = store.get_session(&key, ended).await.expect("get ended").expect("kept");
    assert_eq!(read, answered, "every field read back");
    assert!(!read.is_live(ended), "its conversation has ended");
    assert_eq!(read.answer_to("wecom:int:msg-1"), Some("答案 with an answer"));
    assert_eq!(read.answer_to("wecom:int:msg-2"), None);
    assert_eq!(
        store.get_session(&key, answered.keep_until()).await.expect("get gone"),
        None,
        "gone once the answer is no longer needed"
    );
    store.delete_session(&key).await.expect("delete");
    store.delete_session(&key).await.expect("delete is idempotent");
    assert_eq!(store.get_session(&key, NOW).await.expect("get deleted"), None);
}

/// A session of `integration` talking in `conversation`, active from `started` to `last_active`,
/// its conversation ending at `ends`.
fn session_at(integration: &IntegrationId, conversation: &str, started: u64, last_active: u64, ends: u64) -> Session {
    let at = |secs: u64| NOW.plus(Duration::from_secs(secs));
    Session {
        key: SessionKey {
            integration_id: integration.clone(),
            conversation: conversation.into(),
            sender: "user:1".into(),
        },
        id: SessionId::generate(),
        agent_id: AgentId::generate(),
        user_id: UserId::generate(),
        started_at: at(started),
        last_active_at: at(last_active),
        expires_at: at(ends),
        answer: None,
    }
}

/// Listing an integration's live sessions: live ones only, most recently active first,
/// following rewrites, new conversations and deletes.
pub async fn session_listing(store: &dyn Store) {
    let id = IntegrationId::generate();
    let other = IntegrationId::generate();
    let now = NOW.plus(Duration::from_secs(30));
    // Started first but active last but one: the order is by activity, not by start.
    let early = session_at(&id, "early", 0, 20, 3600);
    let middle = session_at(&id, "middle", 1, 5, 3600);
    let late = session_at(&id, "late", 2, 25, 3600);
    // Ended before `now` but kept for its recorded answer: read, never listed.
    let ended = Session {
        answer: Some(RecordedAnswer {
            event_key: "wecom:int:msg-1".into(),
            text: "answer".into(),
            at: NOW.plus(Duration::from_secs(10)),
        }),
        ..session_at(&id, "ended", 3, 10, 29)
    };
    let expired = session_at(&id, "expired", 4, 4, 30);
    let foreign = session_at(&other, "foreign", 5, 28, 3600);
    for s in [&early, &middle, &late, &ended, &expired, &foreign] {
        store.put_session(s).await.expect("put session");
    }
    assert!(store.get_session(&ended.key, now).await.expect("get ended").is_some());
    let list = |limit: usize, at: Timestamp| {
        let id = id.clone();
        async move { store.list_sessions(&id, at, limit).await.expect("list sessions") }
    };
    assert_eq!(
        list(10, now).await,
        vec![late.clone(), early.clone(), middle.clone()],
        "live ones, most recently active first"
    );
    assert_eq!(list(2, now).await, vec![late.clone(), early.clone()], "at most `limit`");
    assert_eq!(list(0, now).await, vec![]);
    assert_eq!(
        store.list_sessions(&other, now, 10).await.expect("list other"),
        vec![foreign],
        "each integration lists its own"
    );

    // An answer moves a session to the front; a new conversation under a known key replaces
    // the old one; a deleted session is gone.
    let answered = Session {
        last_active_at: NOW.plus(Duration::from_secs(29)),
        ..middle
    };
    store.put_session(&answered).await.expect("rewrite");
    let restarted = session_at(&id, "late", 26, 27, 3600);
    store.put_session(&restarted).await.expect("new conversation");
    store.delete_session(&early.key).await.expect("delete");
    assert_eq!(list(10, now).await, vec![answered.clone(), restarted.clone()]);
    assert_eq!(
        list(10, NOW.plus(Duration::from_secs(3600))).await,
        vec![],
        "nothing is live once every conversation ended"
    );
}

/// Dedupe claims with TTL.
pub async fn dedupe(store: &dyn Store) {
    let key = format!("wecom:{}:msg-1", IntegrationId::generate());
    let ttl = Duration::from_secs(600);
    assert_eq!(store.claim(&key, NOW, ttl).await.expect("claim"), Claim::Claimed);
    assert_eq!(
        store
            .claim(&key, NOW.plus(Duration::from_secs(1)), ttl)
            .await
            .expect("claim 2"),
        Claim::Duplicate
    );
    assert_eq!(
        store
            .claim(&key, NOW.plus(ttl).minus(Duration::from_millis(1)), ttl)
            .await
            .expect("claim 3"),
        Claim::Duplicate
    );
    assert_eq!(
        store
            .claim(&key, NOW.plus(ttl).plus(Duration::from_secs(1)), ttl)
            .await
            .expect("claim after expiry"),
        Claim::Claimed,
        "an expired claim can be taken again"
    );
    let other = format!("{key}-other");
    // Asking claims nothing: the claim right after still succeeds.
    assert!(!store.is_claimed(&other, NOW).await.expect("is_claimed before"));
    assert_eq!(store.claim(&other, NOW, ttl).await.expect("other key"), Claim::Claimed);
    assert!(store.is_claimed(&other, NOW).await.expect("is_claimed"));
    assert!(
        !store
            .is_claimed(&other, NOW.plus(ttl))
            .await
            .expect("is_claimed at expiry"),
        "a claim is over at its expiry"
    );
    store.release(&other).await.expect("release");
    assert!(!store.is_claimed(&other, NOW).await.expect("is_claimed after release"));
    store.release(&other).await.expect("release is idempotent");
    assert_eq!(
        store.claim(&other, NOW, ttl).await.expect("claim released"),
        Claim::Claimed
    );
}

/// Relay leases: one owner, renew, takeover on expiry, release.
pub async fn leases(store: &dyn Store) {
    let id = IntegrationId::generate();
    let ttl = Duration::from_secs(45);
    assert_eq!(store.get_lease(&id, NOW).await.expect("get none"), None);
    let LeaseOutcome::Acquired(lease) = store.acquire_lease(&id, "relay-a", NOW, ttl).await.expect("acquire a") else {
        panic!("a free lease must be acquired");
    };
    assert_eq!(lease.owner, "relay-a");
    assert_eq!(lease.expires_at, NOW.plus(ttl));
    let t1 = NOW.plus(Duration::from_secs(10));
    match store.acquire_lease(&id, "relay-b", t1, ttl).await.expect("acquire b") {
        LeaseOutcome::HeldBy(held) => assert_eq!(held.owner, "relay-a"),
        other => panic!("a held lease must not be taken: {other:?}"),
    }
    assert!(matches!(
        store.acquire_lease(&id, "relay-a", t1, ttl).await.expect("re-acquire"),
        LeaseOutcome::Acquired(_)
    ));
    assert!(store.renew_lease(&id, "relay-a", t1, ttl).await.expect("renew a"));
    assert!(
        !store.renew_lease(&id, "relay-b", t1, ttl).await.expect("renew b"),
        "only the holder renews"
    );
    assert_eq!(
        store.get_lease(&id, t1).await.expect("get").map(|l| l.expires_at),
        Some(t1.plus(ttl))
    );

    // relay-a dies: after expiry relay-b takes over and relay-a can no longer renew.
    let t2 = t1.plus(ttl).plus(Duration::from_secs(1));
    assert_eq!(store.get_lease(&id, t2).await.expect("get expired"), None);
    assert!(matches!(
        store.acquire_lease(&id, "relay-b", t2, ttl).await.expect("takeover"),
        LeaseOutcome::Acquired(_)
    ));
    assert!(!store.renew_lease(&id, "relay-a", t2, ttl).await.expect("late renew"));
    store
        .release_lease(&id, "relay-a")
        .await
        .expect("release by non-holder");
    assert_eq!(
        store.get_lease(&id, t2).await.expect("get").map(|l| l.owner),
        Some("relay-b".to_owned())
    );
    store.release_lease(&id, "relay-b").await.expect("release");
    store
        .release_lease(&id, "relay-b")
        .await
        .expect("release is idempotent");
    assert_eq!(store.get_lease(&id, t2).await.expect("get released"), None);
    assert!(matches!(
        store
            .acquire_lease(&id, "relay-a", t2, ttl)
            .await
            .expect("acquire again"),
        LeaseOutcome::Acquired(_)
    ));
}

/// The per-integration event log.
pub async fn event_log(store: &dyn Store) {
    let id = IntegrationId::generate();
    let other = IntegrationId::generate();
    let ttl = Duration::from_secs(3600);
    let entry = |ms: u64, kind: &str| EventLogEntry {
        at: NOW.plus(Duration::from_millis(ms)),
        kind: kind.into(),
        event_id: Some(format!("e{ms}")),
        detail: format!("{kind} at {ms}"),
    };
    store
        .record_event(&id, &entry(0, "received"), ttl)
        .await
        .expect("record");
    store
        .record_event(&id, &entry(5, "enqueued"), ttl)
        .await
        .expect("record");
    let mut same_instant = entry(5, "duplicate");
    same_instant.event_id = None;
    store
        .record_event(&id, &same_instant, ttl)
        .await
        .expect("record same instant");
    store
        .record_event(&other, &entry(7, "received"), ttl)
        .await
        .expect("record other");

    let recent = store.recent_events(&id, 10, NOW).await.expect("recent");
    assert_eq!(recent.len(), 3, "entries at the same instant are all kept: {recent:?}");
    assert_eq!(recent[2], entry(0, "received"), "newest first");
    assert!(recent[..2].contains(&same_instant) && recent[..2].contains(&entry(5, "enqueued")));
    assert_eq!(store.recent_events(&id, 1, NOW).await.expect("limit").len(), 1);
    let later = NOW.plus(ttl).plus(Duration::from_secs(1));
    assert_eq!(
        store.recent_events(&id, 10, later).await.expect("expired"),
        vec![],
        "expired entries are hidden"
    );
}

/// Keyed event-log sets: one write that is both the log's lines and a mark found again by key.
pub async fn event_log_keyed_sets(store: &dyn Store) {
    let id = IntegrationId::generate();
    let ttl = Duration::from_secs(3600);
    let at = NOW;
    let line = |ms: u64, kind: &str| EventLogEntry {
        at: NOW.plus(Duration::from_millis(ms)),
        kind: kind.into(),
        event_id: Some("e1".into()),
        detail: format!("{kind} at {ms}"),
    };
    let has = |key: &'static str, at: Timestamp, now: Timestamp| {
        let id = id.clone();
        async move { store.has_keyed_events(&id, key, at, now).await.expect("has") }
    };
    assert!(!has("answered:e1", at, NOW).await, "nothing recorded yet");
    let lines = [line(3, "session"), line(9, "replied")];
    store
        .record_keyed_events(&id, "answered:e1", at, &lines, ttl)
        .await
        .expect("record");
    assert!(has("answered:e1", at, NOW).await);
    assert!(!has("answered:e2", at, NOW).await, "another key");
    assert!(
        !has("answered:e1", at.plus(Duration::from_millis(1)), NOW).await,
        "another time"
    );
    let after = NOW.plus(ttl).plus(Duration::from_secs(1));
    assert!(!has("answered:e1", at, after).await, "expired");
    // Written again (a retried step), the lines are still there once.
    store
        .record_keyed_events(&id, "answered:e1", at, &lines, ttl)
        .await
        .expect("record again");
    store
        .record_events(&id, &[line(1, "received"), line(2, "enqueued")], ttl)
        .await
        .expect("record a step's lines");
    let recent = store.recent_events(&id, 10, NOW).await.expect("recent");
    let kinds: Vec<&str> = recent.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["replied", "session", "enqueued", "received"],
        "newest first, once each"
    );
    assert_eq!(store.recent_events(&id, 3, NOW).await.expect("limit").len(), 3);
}

/// Dead letters: idempotent puts, newest first, expiry, and each organization sees only its own.
pub async fn dead_letters(store: &dyn Store) {
    let org_a = OrgId::generate();
    let org_b = OrgId::generate();
    let ttl = Duration::from_secs(3600);
    let letter = |org: &OrgId, id: &str, secs: u64| DeadLetter {
        id: id.into(),
        org_id: org.clone(),
        integration_id: IntegrationId::generate(),
        event_id: Some(format!("msg-{id}")),
        group: format!("int:{id}"),
        body: format!("{{\"text\":\"消息 {id}\"}}"),
        reason: "agent answered 500".into(),
        failed_at: NOW.plus(Duration::from_secs(secs)),
        receive_count: 5,
    };
    let first = letter(&org_a, "dl_1", 0);
    let second = letter(&org_a, "dl_2", 1);
    // A timer message: no event id, no group.
    let timer = DeadLetter {
        event_id: None,
        group: String::new(),
        ..letter(&org_a, "dl_3", 2)
    };
    // Another organization's letter under the same id.
    let foreign = letter(&org_b, "dl_1", 3);
    for l in [&first, &second, &timer, &foreign] {
        store.put_dead_letter(l, ttl).await.expect("put dead letter");
    }
    // The same id again replaces the letter.
    let first = DeadLetter {
        reason: "agent timed out".into(),
        receive_count: 6,
        ..first
    };
    store.put_dead_letter(&first, ttl).await.expect("put again");
    store.put_dead_letter(&first, ttl).await.expect("put is idempotent");

    let list = |org: &OrgId, at: Timestamp, limit: usize| {
        let org = org.clone();
        async move {
            store
                .list_dead_letters(&org, at, limit)
                .await
                .expect("list dead letters")
        }
    };
    assert_eq!(
        list(&org_a, NOW, 10).await,
        vec![timer.clone(), second.clone(), first.clone()],
        "newest first, each once"
    );
    assert_eq!(
        list(&org_a, NOW, 2).await,
        vec![timer.clone(), second.clone()],
        "at most `limit`"
    );
    assert_eq!(list(&org_b, NOW, 10).await, vec![foreign.clone()]);
    assert_eq!(list(&OrgId::generate(), NOW, 10).await, vec![]);

    let get = |org: &OrgId, id: &'static str, at: Timestamp| {
        let org = org.clone();
        async move { store.get_dead_letter(&org, id, at).await.expect("get dead letter") }
    };
    assert_eq!(get(&org_a, "dl_1", NOW).await, Some(first.clone()));
    assert_eq!(
        get(&org_b, "dl_1", NOW).await,
        Some(foreign.clone()),
        "same id, own letter"
    );
    assert_eq!(get(&org_b, "dl_2", NOW).await, None, "another organization's letter");
    assert_eq!(get(&org_a, "dl_9", NOW).await, None);

    // Each expires `ttl` after it failed.
    let after_first = NOW.plus(ttl);
    assert_eq!(get(&org_a, "dl_1", after_first).await, None, "expired");
    assert_eq!(get(&org_a, "dl_2", after_first).await, Some(second.clone()));
    assert_eq!(
        list(&org_a, after_first, 10).await,
        vec![timer.clone(), second.clone()],
        "expired letters are not listed"
    );

    assert!(
        !store.delete_dead_letter(&org_b, "dl_2").await.expect("delete foreign"),
        "another organization's letter is not deleted"
    );
    assert_eq!(get(&org_a, "dl_2", NOW).await, Some(second.clone()));
    assert!(store.delete_dead_letter(&org_a, "dl_2").await.expect("delete"));
    assert!(!store.delete_dead_letter(&org_a, "dl_2").await.expect("delete again"));
    assert_eq!(get(&org_a, "dl_2", NOW).await, None);
    assert!(store.delete_dead_letter(&org_b, "dl_1").await.expect("delete b"));
    assert_eq!(
        get(&org_a, "dl_1", NOW).await,
        Some(first.clone()),
        "only b's letter went"
    );
    assert_eq!(list(&org_a, NOW, 10).await, vec![timer, first]);
}
