//! The dispatcher over the embedded store, with a scripted agent and a recording replier:
//! triggers, policy, commands, sessions, streaming, retries, redelivery and aggregation.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::dispatch::{BatchRecord, DispatchSettings, Dispatcher, Repliers};
use imgate_core::envelope::Envelope;
use imgate_core::event::{
    Command, Conversation, ConversationKind, InboundEvent, InboundKind, MediaKind, MediaRef, Message, ReplyContext,
    Sender,
};
use imgate_core::ids::IntegrationId;
use imgate_core::ingress::Ingress;
use imgate_core::media::MediaSettings;
use imgate_core::ports::{AgentClient, AgentError, AgentRequest, Deps, Replier, ReplyError, ReplyStream, ReplyTarget};
use imgate_core::testing::media::{FakeMediaFetcher, MemoryMediaStore, PNG, media_ref};
use imgate_core::{Platform, Timestamp};
use serde_json::json;
use tokio::sync::mpsc;

/// What the replier saw for one event.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    event_id: String,
    updates: Vec<String>,
    finished: Option<String>,
    failed: Option<String>,
}

#[derive(Clone, Default)]
struct RecordingReplier(Arc<Mutex<Vec<Seen>>>);

struct RecordingStream {
    log: Arc<Mutex<Vec<Seen>>>,
    index: usize,
}

#[async_trait]
impl Replier for RecordingReplier {
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError> {
        let mut log = self.0.lock().unwrap();
        log.push(Seen {
            event_id: target.event.event_id.clone(),
            ..Seen::default()
        });
        Ok(Box::new(RecordingStream {
            log: self.0.clone(),
            index: log.len() - 1,
        }))
    }
}

#[async_trait]
impl ReplyStream for RecordingStream {
    async fn update(&mut self, text: &str) -> Result<(), ReplyError> {
        self.log.lock().unwrap()[self.index].updates.push(text.to_owned());
        Ok(())
    }
    async fn finish(&mut self, text: &str) -> Result<(), ReplyError> {
        self.log.lock().unwrap()[self.index].finished = Some(text.to_owned());
        Ok(())
    }
    async fn fail(&mut self, message: &str) -> Result<(), ReplyError> {
        self.log.lock().unwrap()[self.index].failed = Some(message.to_owned());
        Ok(())
    }
}

impl RecordingReplier {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    /// Replies that showed something (finishing with "" only closes a reply).
    fn answers(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.failed.is_some() || s.finished.as_ref().is_some_and(|t| !t.is_empty()))
            .collect()
    }
}

/// An agent that streams its input back, or fails as scripted.
#[derive(Clone, Default)]
struct ScriptedAgent {
    calls: Arc<Mutex<Vec<AgentRequest>>>,
    failures: Arc<Mutex<VecDeque<AgentError>>>,
    /// Inputs that always fail (for tests where several conversations run at once).
    failing_texts: Arc<Mutex<Vec<String>>>,
    /// How long each answer takes.
    thinking: Arc<Mutex<Duration>>,
    /// When set, the first word is streamed, then the agent stalls this long before the rest.
    stall: Arc<Mutex<Option<Duration>>>,
    /// Answers that ran to their end (an aborted call never gets here).
    completed: Arc<Mutex<usize>>,
}

#[async_trait]
impl AgentClient for ScriptedAgent {
    async fn run(&self, request: &AgentRequest, deltas: &mpsc::Sender<String>) -> Result<String, AgentError> {
        self.calls.lock().unwrap().push(request.clone());
        if self.failing_texts.lock().unwrap().contains(&request.text) {
            return Err(AgentError::Status { status: 500 });
        }
        if let Some(error) = self.failures.lock().unwrap().pop_front() {
            return Err(error);
        }
        let thinking = *self.thinking.lock().unwrap();
        tokio::time::sleep(thinking).await;
        let answer = format!("echo: {}", request.text);
        let stall = *self.stall.lock().unwrap();
        for (i, word) in answer.split_inclusive(' ').enumerate() {
            let _ = deltas.send(word.to_owned()).await;
            if let (0, Some(stall)) = (i, stall) {
                tokio::time::sleep(stall).await;
            }
        }
        *self.completed.lock().unwrap() += 1;
        Ok(answer)
    }
}

struct World {
    deps: Deps,
    dispatcher: Dispatcher,
    replier: RecordingReplier,
    agent: ScriptedAgent,
    integration: IntegrationId,
    admin: Admin,
    key: String,
    _dir: tempfile::TempDir,
}

const MAX_RECEIVES: u32 = 3;

async fn world(trigger: serde_json::Value) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _) = imgate_embedded::open(
        &dir.path().join("db"),
        &dir.path().join("key"),
        imgate_embedded::QueueOptions {
            max_receives: MAX_RECEIVES,
        },
    )
    .await
    .unwrap();
    world_on(deps, dir, trigger).await
}

/// The same world on DynamoDB, SQS and KMS (moto's server).
async fn world_on_moto(trigger: serde_json::Value) -> World {
    let deps = imgate_tests::aws::fresh_deps(MAX_RECEIVES).await.unwrap();
    world_on(deps, tempfile::tempdir().unwrap(), trigger).await
}

async fn world_on(deps: Deps, dir: tempfile::TempDir, trigger: serde_json::Value) -> World {
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "http://gw".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash("boot-boot-boot-boot")),
        },
    );
    let boot = admin.authenticate(Some("boot-boot-boot-boot")).await.unwrap();
    let org = admin.create_org(&boot, "acme").await.unwrap();
    let principal = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let integration = admin
        .create_integration(
            &principal,
            serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                "credentials": {"token": "t", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let agent = admin
        .create_agent(
            &principal,
            serde_json::from_value::<CreateAgent>(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    if !trigger.is_null() {
        let mut body = trigger;
        body["agentId"] = json!(agent.id);
        admin
            .publish_trigger(
                &principal,
                &integration.id,
                serde_json::from_value::<PublishTrigger>(body).unwrap(),
            )
            .await
            .unwrap();
    }
    let replier = RecordingReplier::default();
    let agent_client = ScriptedAgent::default();
    let dispatcher = Dispatcher::new(
        &deps,
        Arc::new(agent_client.clone()),
        Repliers::new().with(Platform::Wecom, Arc::new(replier.clone())),
        DispatchSettings {
            max_receives: MAX_RECEIVES,
            update_interval: Duration::ZERO,
            cancel_poll: Duration::from_millis(50),
            ..DispatchSettings::default()
        },
    );
    World {
        deps,
        dispatcher,
        replier,
        agent: agent_client,
        integration: integration.id.parse().unwrap(),
        admin,
        key: org.api_key.token,
        _dir: dir,
    }
}

fn message(world: &World, id: &str, text: &str, kind: ConversationKind, mentioned: bool) -> InboundEvent {
    InboundEvent {
        event_id: id.into(),
        platform: Platform::Wecom,
        integration_id: world.integration.clone(),
        conversation: Conversation {
            id: "chat-1".into(),
            kind,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: "zhangsan".into(),
            name: Some("张三".into()),
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            text: text.into(),
            mentions_bot: mentioned,
            command: Command::parse(text),
            ..Message::default()
        }),
        reply: ReplyContext::WecomBot {
            response_url: None,
            req_id: None,
            stream_id: Some(format!("s-{id}")),
            chat_type: "single".into(),
        },
        occurred_at: None,
        received_at: Timestamp::now(),
    }
}

fn body(event: InboundEvent) -> String {
    Envelope::inbound(event, Timestamp::now()).to_body()
}

#[tokio::test]
async fn answers_with_a_streamed_reply_and_keeps_the_session() {
    let w = world(json!({})).await;
    w.dispatcher
        .handle(
            &body(message(&w, "m1", "hello there", ConversationKind::Direct, false)),
            1,
        )
        .await
        .unwrap();
    let seen = w.replier.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].finished.as_deref(), Some("echo: hello there"));
    assert!(
        seen[0].updates.len() >= 2,
        "streamed in several updates: {:?}",
        seen[0].updates
    );
    assert!(
        seen[0].updates.windows(2).all(|w| w[1].starts_with(&w[0])),
        "updates are cumulative"
    );

    w.dispatcher
        .handle(&body(message(&w, "m2", "again", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[0].session_id, calls[1].session_id,
        "same conversation, same session"
    );
    assert_eq!(calls[0].user_id, calls[1].user_id);
    assert_eq!(calls[0].sender_name.as_deref(), Some("张三"));
}

#[tokio::test]
async fn a_redelivered_message_is_not_answered_twice() {
    let w = world(json!({})).await;
    let b = body(message(&w, "m1", "hi", ConversationKind::Direct, false));
    for attempt in 1..=3 {
        w.dispatcher.handle(&b, attempt).await.unwrap();
    }
    assert_eq!(w.agent.calls.lock().unwrap().len(), 1, "one agent call");
    assert_eq!(w.replier.answers().len(), 1, "one reply");
}

#[tokio::test]
async fn an_unbound_integration_says_so() {
    let w = world(serde_json::Value::Null).await;
    w.dispatcher
        .handle(&body(message(&w, "m1", "hi", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    let seen = w.replier.seen();
    assert!(seen[0].finished.as_ref().unwrap().contains("not bound to a trigger"));
    assert!(w.agent.calls.lock().unwrap().is_empty());
    let status = w
        .admin
        .integration_status(
            &w.admin.authenticate(Some(&w.key)).await.unwrap(),
            w.integration.as_str(),
        )
        .await
        .unwrap();
    assert!(
        status.recent_events.iter().any(|e| e.kind == "dropped"),
        "{:?}",
        status.recent_events
    );
}

#[tokio::test]
async fn group_messages_need_a_mention_unless_the_policy_says_all() {
    let w = world(json!({})).await;
    w.dispatcher
        .handle(&body(message(&w, "g1", "chatter", ConversationKind::Group, false)), 1)
        .await
        .unwrap();
    assert!(w.replier.seen().is_empty() && w.agent.calls.lock().unwrap().is_empty());
    w.dispatcher
        .handle(&body(message(&w, "g2", "question", ConversationKind::Group, true)), 1)
        .await
        .unwrap();
    assert_eq!(w.agent.calls.lock().unwrap().len(), 1);

    let all = world(json!({"groupPolicy": "all_messages"})).await;
    all.dispatcher
        .handle(&body(message(&all, "g1", "chatter", ConversationKind::Group, false)), 1)
        .await
        .unwrap();
    assert_eq!(all.agent.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn commands_new_help_and_status() {
    let w = world(json!({})).await;
    let d = &w.dispatcher;
    d.handle(&body(message(&w, "m1", "first", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    d.handle(&body(message(&w, "m2", "/status", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    d.handle(&body(message(&w, "m3", "/help", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    d.handle(&body(message(&w, "m4", "/new", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    d.handle(
        &body(message(&w, "m5", "/new fresh start", ConversationKind::Direct, false)),
        1,
    )
    .await
    .unwrap();
    let seen = w.replier.seen();
    assert!(
        seen[1].finished.as_ref().unwrap().contains("Agent: echo"),
        "{:?}",
        seen[1]
    );
    assert!(seen[2].finished.as_ref().unwrap().contains("/new"));
    assert!(seen[3].finished.as_ref().unwrap().contains("new conversation"));
    assert_eq!(
        seen[4].finished.as_deref(),
        Some("echo: fresh start"),
        "/new <text> asks the agent"
    );
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "commands do not reach the agent");
    assert_ne!(calls[0].session_id, calls[1].session_id, "/new starts a new session");
}

#[tokio::test]
async fn idle_sessions_time_out() {
    let w = world(json!({"sessionTimeoutSeconds": 60})).await;
    w.dispatcher
        .handle(&body(message(&w, "m1", "one", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    // Age the session past its timeout.
    let key = message(&w, "x", "", ConversationKind::Direct, false).session_key();
    let mut session = w.deps.store.get_session(&key, Timestamp::now()).await.unwrap().unwrap();
    session.expires_at = Timestamp::now().minus(Duration::from_secs(1));
    w.deps.store.put_session(&session).await.unwrap();
    w.dispatcher
        .handle(&body(message(&w, "m2", "two", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_ne!(calls[0].session_id, calls[1].session_id);
    assert_eq!(calls[0].user_id, calls[1].user_id, "the user stays the same");
}

#[tokio::test]
async fn a_failing_agent_is_retried_then_the_user_is_told_once() {
    let w = world(json!({})).await;
    for _ in 0..10 {
        w.agent
            .failures
            .lock()
            .unwrap()
            .push_back(AgentError::Status { status: 503 });
    }
    let b = body(message(&w, "m1", "hi", ConversationKind::Direct, false));
    for attempt in 1..MAX_RECEIVES {
        assert!(
            w.dispatcher.handle(&b, attempt).await.is_err(),
            "attempt {attempt} fails and is retried"
        );
        assert!(
            w.replier.seen().iter().all(|s| s.failed.is_none()),
            "no error reply before the last attempt"
        );
    }
    assert!(
        w.dispatcher.handle(&b, MAX_RECEIVES).await.is_err(),
        "the last attempt still fails: the DLQ keeps it"
    );
    let failed: Vec<Seen> = w.replier.seen().into_iter().filter(|s| s.failed.is_some()).collect();
    assert_eq!(failed.len(), 1, "the user is told once");
    assert!(failed[0].failed.as_ref().unwrap().contains("new conversation"));
    // A redrive from the dead-letter queue does not repeat the error message.
    let _ = w.dispatcher.handle(&b, MAX_RECEIVES + 1).await;
    assert_eq!(w.replier.seen().iter().filter(|s| s.failed.is_some()).count(), 1);
}

#[tokio::test]
async fn a_permanent_agent_error_is_reported_at_once() {
    let w = world(json!({})).await;
    w.agent
        .failures
        .lock()
        .unwrap()
        .push_back(AgentError::Status { status: 401 });
    let b = body(message(&w, "m1", "hi", ConversationKind::Direct, false));
    assert!(w.dispatcher.handle(&b, 1).await.is_err());
    let seen = w.replier.seen();
    assert!(seen[0].failed.as_ref().unwrap().contains("credentials"));
}

#[tokio::test]
async fn the_aggregation_window_merges_messages_into_one_call() {
    let w = world(json!({"summaryWindowSeconds": 1})).await;
    for (id, text) in [("a1", "first part"), ("a2", "second part")] {
        w.dispatcher
            .handle(&body(message(&w, id, text, ConversationKind::Direct, false)), 1)
            .await
            .unwrap();
    }
    assert!(
        w.agent.calls.lock().unwrap().is_empty(),
        "nothing is sent during the window"
    );
    // Drive the queue like the worker does: the flushes come due after the window.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    for _ in 0..5 {
        let deliveries = w.deps.queue.receive(10, Duration::from_secs(30)).await.unwrap();
        for d in deliveries {
            w.dispatcher.handle(&d.body, d.receive_count).await.unwrap();
            w.deps.queue.ack(&d.receipt).await.unwrap();
        }
    }
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one agent call per window: {calls:?}");
    assert_eq!(calls[0].text, "first part\nsecond part");
    let answers = w.replier.answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].event_id, "merged:a2", "the answer goes to the last message");
    assert!(
        w.replier
            .seen()
            .iter()
            .any(|s| s.event_id == "a1" && s.finished.as_deref() == Some("")),
        "the first reply is closed"
    );
}

#[tokio::test]
async fn a_failed_record_fails_the_rest_of_its_group_only() {
    let w = world(json!({})).await;
    w.agent.failing_texts.lock().unwrap().push("one".into());
    let mut other = message(&w, "b1", "other", ConversationKind::Direct, false);
    other.sender.id = "lisi".into();
    let first = message(&w, "a1", "one", ConversationKind::Direct, false);
    let group_a = first.session_key().queue_group();
    let records = vec![
        BatchRecord {
            receipt: None,
            id: "1".into(),
            group: group_a.clone(),
            body: body(first),
            receive_count: 1,
        },
        BatchRecord {
            receipt: None,
            id: "2".into(),
            group: group_a,
            body: body(message(&w, "a2", "two", ConversationKind::Direct, false)),
            receive_count: 1,
        },
        BatchRecord {
            receipt: None,
            id: "3".into(),
            group: other.session_key().queue_group(),
            body: body(other),
            receive_count: 1,
        },
    ];
    let failed = w.dispatcher.handle_batch(records).await;
    assert_eq!(failed, vec!["1".to_owned(), "2".to_owned()]);
    assert_eq!(w.replier.answers().len(), 1, "the other conversation was answered");
}

#[tokio::test]
async fn unreadable_bodies_fail_so_the_dead_letter_queue_keeps_them() {
    let w = world(json!({})).await;
    assert!(w.dispatcher.handle("{not json", 1).await.is_err());
    assert!(w.dispatcher.handle(r#"{"v":99}"#, 1).await.is_err());
}

#[tokio::test]
async fn a_redelivery_after_the_answer_was_recorded_does_not_ask_the_agent_again() {
    let w = world(json!({})).await;
    let event = message(&w, "m1", "expensive question", ConversationKind::Direct, false);
    let b = body(event.clone());
    // An earlier delivery's process died after the agent answered and the answer was
    // recorded, before the answer was shown and marked.
    let now = Timestamp::now();
    let recorded = imgate_core::ports::StreamState {
        integration_id: w.integration.clone(),
        id: format!("answer:{}", event.dedupe_key()),
        content: "the recorded answer".into(),
        finished: true,
        card: None,
        version: 1,
        created_at: now,
        expires_at: now.plus(std::time::Duration::from_secs(3600)),
    };
    assert!(w.deps.store.create_stream(&recorded).await.unwrap());
    w.dispatcher.handle(&b, 2).await.unwrap();
    assert!(w.agent.calls.lock().unwrap().is_empty(), "the agent was not asked");
    let seen = w.replier.seen();
    assert_eq!(seen.len(), 1, "the delivery was finished");
    assert_eq!(
        seen[0].finished.as_deref(),
        Some("the recorded answer"),
        "with the recorded answer"
    );
    assert!(seen[0].updates.is_empty(), "nothing streamed");
    let events = w
        .deps
        .store
        .recent_events(&w.integration, 50, Timestamp::now())
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "resumed"), "{events:?}");
    assert!(events.iter().any(|e| e.kind == "replied"), "{events:?}");
    // And once marked, another delivery does nothing at all.
    w.dispatcher.handle(&b, 3).await.unwrap();
    assert_eq!(w.replier.seen().len(), 1);
    assert!(w.agent.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_event_whose_claim_was_lost_is_enqueued_again_but_queued_once() {
    let w = world(json!({})).await;
    let ingress = imgate_core::ingress::Ingress::new(w.deps.store.clone(), w.deps.queue.clone());
    let event = message(&w, "m1", "hi", ConversationKind::Direct, false);
    assert_eq!(
        ingress.accept(event.clone()).await.unwrap(),
        imgate_core::ingress::Accepted::Enqueued
    );
    // The process died after the enqueue, before the dedupe claim was recorded.
    w.deps.store.release(&event.dedupe_key()).await.unwrap();
    assert_eq!(
        ingress.accept(event.clone()).await.unwrap(),
        imgate_core::ingress::Accepted::Enqueued,
        "the platform's retry is taken again, not lost as a duplicate"
    );
    assert_eq!(
        ingress.accept(event).await.unwrap(),
        imgate_core::ingress::Accepted::Duplicate,
        "now claimed"
    );
    let queued = w.deps.queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(queued.len(), 1, "the queue's dedupe id kept one copy");
}

#[tokio::test]
async fn the_worker_keeps_a_slow_answer_hidden_past_its_visibility() {
    let mut w = world(json!({})).await;
    let visibility = Duration::from_secs(2);
    w.dispatcher = Dispatcher::new(
        &w.deps,
        Arc::new(w.agent.clone()),
        Repliers::new().with(Platform::Wecom, Arc::new(w.replier.clone())),
        DispatchSettings {
            max_receives: MAX_RECEIVES,
            update_interval: Duration::ZERO,
            visibility,
            ..DispatchSettings::default()
        },
    );
    *w.agent.thinking.lock().unwrap() = visibility * 3;
    let ingress = imgate_core::ingress::Ingress::new(w.deps.store.clone(), w.deps.queue.clone());
    ingress
        .accept(message(&w, "slow", "take your time", ConversationKind::Direct, false))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(imgate_core::dispatch::worker::run(
        w.deps.queue.clone(),
        w.dispatcher.clone(),
        stopped,
    ));
    let started = std::time::Instant::now();
    while w.replier.answers().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert_eq!(
        w.agent.calls.lock().unwrap().len(),
        1,
        "the heartbeat kept the message from being handed out a second time"
    );
    assert!(
        w.deps.queue.receive(10, visibility).await.unwrap().is_empty(),
        "acknowledged"
    );
}

#[tokio::test]
async fn senders_outside_the_allowlist_are_refused_once_a_day_and_logged() {
    let w = world(json!({"allowedUsers": ["lisi"]})).await;
    for id in ["r1", "r2", "r3"] {
        w.dispatcher
            .handle(&body(message(&w, id, "hi", ConversationKind::Direct, false)), 1)
            .await
            .unwrap();
    }
    assert!(w.agent.calls.lock().unwrap().is_empty(), "the agent is not asked");
    let told = w.replier.answers();
    assert_eq!(told.len(), 1, "one refusal per conversation per day: {told:?}");
    assert!(told[0].finished.as_ref().unwrap().contains("not on its list"));
    let status = w
        .admin
        .integration_status(
            &w.admin.authenticate(Some(&w.key)).await.unwrap(),
            w.integration.as_str(),
        )
        .await
        .unwrap();
    let refused: Vec<_> = status
        .recent_events
        .iter()
        .filter(|e| e.detail.starts_with("refused sender zhangsan in chat chat-1"))
        .collect();
    assert_eq!(
        refused.len(),
        3,
        "every refused message is logged: {:?}",
        status.recent_events
    );

    // Silent: nobody is told, the log still says who.
    let quiet = world(json!({"allowedUsers": ["lisi"], "refusal": "silent"})).await;
    quiet
        .dispatcher
        .handle(&body(message(&quiet, "q1", "hi", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert!(quiet.replier.answers().is_empty() && quiet.agent.calls.lock().unwrap().is_empty());

    // An allowed user is answered.
    let allowed = world(json!({"allowedUsers": ["zhangsan"]})).await;
    allowed
        .dispatcher
        .handle(&body(message(&allowed, "a1", "hi", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert_eq!(allowed.agent.calls.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_chat_allowlist_limits_groups_and_leaves_direct_chats_alone() {
    let w = world(json!({"allowedChats": ["ops-room"], "groupPolicy": "all_messages"})).await;
    w.dispatcher
        .handle(&body(message(&w, "g1", "hi all", ConversationKind::Group, false)), 1)
        .await
        .unwrap();
    assert!(w.agent.calls.lock().unwrap().is_empty(), "chat-1 is not on the list");
    assert_eq!(w.replier.answers().len(), 1, "the group is told once");
    w.dispatcher
        .handle(&body(message(&w, "d1", "hi", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert_eq!(w.agent.calls.lock().unwrap().len(), 1, "a direct chat is answered");
}

#[tokio::test]
async fn switch_moves_a_conversation_to_another_allowed_agent() {
    let w = world(json!({})).await;
    let principal = w.admin.authenticate(Some(&w.key)).await.unwrap();
    let other = w
        .admin
        .create_agent(
            &principal,
            serde_json::from_value::<CreateAgent>(json!({"name": "Backup", "kind": "echo", "config": {"prefix": "B"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    let default_agent = w.admin.list_triggers(&principal).await.unwrap()[0].agent.id.clone();
    let say = |id: &'static str, text: &'static str| {
        let (dispatcher, event) = (
            &w.dispatcher,
            body(message(&w, id, text, ConversationKind::Direct, false)),
        );
        async move { dispatcher.handle(&event, 1).await.unwrap() }
    };

    // Without other agents, /help has no /switch and /switch says there is one agent.
    say("h1", "/help").await;
    assert!(!w.replier.answers()[0].finished.as_ref().unwrap().contains("/switch"));
    say("s0", "/switch Backup").await;
    assert!(w.replier.answers()[1].finished.as_ref().unwrap().contains("one agent"));

    let republish = |agents: serde_json::Value| {
        let (admin, principal, integration) = (&w.admin, &principal, w.integration.as_str());
        let body = json!({"agentId": default_agent, "agents": agents});
        async move {
            admin
                .publish_trigger(
                    principal,
                    integration,
                    serde_json::from_value::<PublishTrigger>(body).unwrap(),
                )
                .await
                .unwrap()
        }
    };
    let view = republish(json!([other.id])).await;
    assert_eq!(view.agents[0].name, "Backup");
    say("h2", "/help").await;
    assert!(w.replier.answers()[2].finished.as_ref().unwrap().contains("/switch"));
    say("s1", "/switch").await;
    let listed = w.replier.answers()[3].finished.clone().unwrap();
    assert!(
        listed.contains("1. echo ← current") && listed.contains("2. Backup"),
        "{listed}"
    );
    say("s2", "/switch nobody").await;
    assert!(
        w.replier.answers()[4]
            .finished
            .as_ref()
            .unwrap()
            .contains("No agent is called")
    );

    say("m1", "before").await;
    say("s3", "/switch 2").await;
    assert!(
        w.replier.answers()[6]
            .finished
            .as_ref()
            .unwrap()
            .contains("Now talking to Backup")
    );
    say("m2", "after").await;
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_ne!(
        calls[0].session_id, calls[1].session_id,
        "the switch started a new session"
    );
    let prefix = |r: &AgentRequest| match &r.config {
        imgate_core::agent::AgentConfig::Echo(c) => c.prefix.clone(),
        _ => None,
    };
    assert_eq!(prefix(&calls[0]), None, "first the default agent");
    assert_eq!(prefix(&calls[1]).as_deref(), Some("B"), "then the one switched to");
    say("st", "/status").await;
    assert!(
        w.replier.answers()[8]
            .finished
            .as_ref()
            .unwrap()
            .contains("Agent: Backup")
    );

    // Taken off the trigger's list, the conversation goes back to the default agent.
    republish(json!([])).await;
    say("m3", "later").await;
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(prefix(&calls[2]), None);
}

#[tokio::test]
async fn cancel_stops_the_answer_in_progress_through_the_store() {
    cancel_scenario(world(json!({})).await, "/cancel").await;
}

#[tokio::test]
async fn cancel_stops_the_answer_in_progress_on_aws() {
    cancel_scenario(world_on_moto(json!({})).await, "/cancel").await;
}

#[tokio::test]
async fn cancel_by_its_chinese_name_stops_the_answer_too() {
    cancel_scenario(world(json!({})).await, "／取消").await;
}

/// A stalled answer, `cancel` (`/cancel` or a Chinese name) accepted by an ingress, the answer
/// stopped through the store.
async fn cancel_scenario(w: World, cancel: &str) {
    *w.agent.stall.lock().unwrap() = Some(Duration::from_secs(60));
    let running = {
        let (dispatcher, event) = (
            w.dispatcher.clone(),
            body(message(&w, "m1", "a long question", ConversationKind::Direct, false)),
        );
        tokio::spawn(async move { dispatcher.handle(&event, 1).await })
    };
    // The first words are on screen; the agent is stalled mid-answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while w.replier.seen().first().is_none_or(|s| s.updates.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "no update came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The user sends /cancel: the ingress (any instance) marks the conversation in the store.
    let ingress = Ingress::new(w.deps.store.clone(), w.deps.queue.clone());
    ingress
        .accept(message(&w, "c1", cancel, ConversationKind::Direct, false))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the answer stopped within a few polls")
        .unwrap()
        .unwrap();
    let seen = w.replier.seen();
    let finished = seen[0].finished.clone().unwrap();
    assert!(
        finished.starts_with("echo: ") && finished.ends_with("(stopped / 已停止)"),
        "{finished}"
    );
    assert_eq!(*w.agent.completed.lock().unwrap(), 0, "the agent call was aborted");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.replier.seen()[0], seen[0], "nothing is sent after the stop");

    // The /cancel message, in its turn, says what it did and clears the mark.
    w.dispatcher
        .handle(&body(message(&w, "c1", "/cancel", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert!(
        w.replier.answers()[1]
            .finished
            .as_ref()
            .unwrap()
            .starts_with("Stopped.")
    );
    // The conversation goes on: the next answer runs to its end.
    *w.agent.stall.lock().unwrap() = None;
    w.dispatcher
        .handle(&body(message(&w, "m2", "again", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert_eq!(w.replier.answers()[2].finished.as_deref(), Some("echo: again"));
    assert_eq!(*w.agent.completed.lock().unwrap(), 1);
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls[0].session_id, calls[1].session_id, "the session goes on");

    // With nothing running, /cancel says so.
    w.dispatcher
        .handle(&body(message(&w, "c2", "/cancel", ConversationKind::Direct, false)), 1)
        .await
        .unwrap();
    assert!(
        w.replier.answers()[3]
            .finished
            .as_ref()
            .unwrap()
            .starts_with("Nothing was being answered")
    );
}

#[tokio::test]
async fn busy_policy_queue_answers_each_message_in_turn() {
    busy_scenario(world(json!({})).await, "queue").await;
}

#[tokio::test]
async fn busy_policy_queue_on_aws() {
    busy_scenario(world_on_moto(json!({"busyPolicy": "queue"})).await, "queue").await;
}

#[tokio::test]
async fn busy_policy_collect_answers_what_arrived_meanwhile_together() {
    busy_scenario(world(json!({"busyPolicy": "collect"})).await, "collect").await;
}

#[tokio::test]
async fn busy_policy_collect_on_aws() {
    busy_scenario(world_on_moto(json!({"busyPolicy": "collect"})).await, "collect").await;
}

#[tokio::test]
async fn busy_policy_interrupt_stops_the_answer_and_answers_both() {
    busy_scenario(world(json!({"busyPolicy": "interrupt"})).await, "interrupt").await;
}

#[tokio::test]
async fn busy_policy_interrupt_on_aws() {
    busy_scenario(world_on_moto(json!({"busyPolicy": "interrupt"})).await, "interrupt").await;
}

/// Messages sent in quick succession while the first answer streams, through the ingress, the
/// queue and the worker, as on a live gateway.
async fn busy_scenario(w: World, policy: &str) {
    // The first answer shows its first word, then takes a while (under `interrupt`, longer
    // than the test: only the interruption ends it).
    let stall = if policy == "interrupt" { 60 } else { 1 };
    *w.agent.stall.lock().unwrap() = Some(Duration::from_secs(stall));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(imgate_core::dispatch::worker::run(
        w.deps.queue.clone(),
        w.dispatcher.clone(),
        stopped,
    ));
    let ingress = Ingress::new(w.deps.store.clone(), w.deps.queue.clone());
    let say = |id: &'static str, text: &'static str| {
        let ingress = ingress.clone();
        let event = message(&w, id, text, ConversationKind::Direct, false);
        async move { ingress.accept(event).await.unwrap() }
    };
    say("m1", "first question").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while w.replier.seen().first().is_none_or(|s| s.updates.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the first answer did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While it runs: one more message, or two under `collect` (to be answered as one).
    say("m2", "second").await;
    if policy == "collect" {
        say("m3", "third").await;
    }
    // Later answers run at once (the running one read its stall when it started).
    *w.agent.stall.lock().unwrap() = None;
    let expected_calls = 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answered = w.replier.answers().len() >= expected_calls
            && w.agent.calls.lock().unwrap().len() >= expected_calls
            && *w.agent.completed.lock().unwrap() >= expected_calls - usize::from(policy == "interrupt");
        if answered {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{policy}: not answered: {:?}",
            w.replier.seen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    let _ = worker.await;

    let texts: Vec<String> = w.agent.calls.lock().unwrap().iter().map(|c| c.text.clone()).collect();
    let answers: Vec<(String, String)> = w
        .replier
        .answers()
        .into_iter()
        .map(|s| (s.event_id, s.finished.unwrap_or_default()))
        .collect();
    match policy {
        "queue" => {
            assert_eq!(texts, ["first question", "second"], "each message in its own call");
            assert_eq!(
                answers,
                [
                    ("m1".to_owned(), "echo: first question".to_owned()),
                    ("m2".to_owned(), "echo: second".to_owned())
                ]
            );
        }
        "collect" => {
            assert_eq!(
                texts,
                ["first question", "second\nthird"],
                "what arrived meanwhile, in one call"
            );
            assert_eq!(
                answers,
                [
                    ("m1".to_owned(), "echo: first question".to_owned()),
                    ("merged:m3".to_owned(), "echo: second\nthird".to_owned())
                ],
                "the first answer ran to its end; the merged one answers the last message"
            );
        }
        _ => {
            assert_eq!(
                texts,
                ["first question", "first question\nsecond"],
                "the interrupted question is asked again with the newer one"
            );
            assert_eq!(*w.agent.completed.lock().unwrap(), 1, "the first call was aborted");
            assert_eq!(answers.len(), 2, "{answers:?}");
            assert_eq!(answers[0].0, "m1");
            assert!(
                answers[0].1.starts_with("echo: ") && answers[0].1.ends_with("(stopped / 已停止)"),
                "{answers:?}"
            );
            assert_eq!(
                answers[1],
                ("merged:m2".to_owned(), "echo: first question\nsecond".to_owned())
            );
            // The marks are gone: the next answer is not stopped.
            let group = message(&w, "m9", "", ConversationKind::Direct, false)
                .session_key()
                .queue_group();
            let now = Timestamp::now();
            for key in [
                imgate_core::cancel::cancel_key(&group),
                imgate_core::cancel::interrupt_key(&group),
                imgate_core::cancel::busy_key(&group),
            ] {
                assert!(!w.deps.store.is_claimed(&key, now).await.unwrap(), "{key} left behind");
            }
        }
    }
    let events = w
        .admin
        .integration_status(
            &w.admin.authenticate(Some(&w.key)).await.unwrap(),
            w.integration.as_str(),
        )
        .await
        .unwrap()
        .recent_events;
    if policy != "queue" {
        assert!(
            events.iter().any(|e| e.kind == "aggregating"),
            "the event log says the message was gathered: {events:?}"
        );
    }
}

/// `text` with `media`, as WeCom would have sent it.
fn with_media(mut event: InboundEvent, media: Vec<MediaRef>) -> InboundEvent {
    if let InboundKind::Message(message) = &mut event.kind {
        message.media = media;
    }
    event
}

#[tokio::test]
async fn media_are_fetched_kept_and_handed_to_the_agent_once_per_file() {
    let mut w = world(json!({})).await;
    let fetcher = FakeMediaFetcher::default().with("photo", PNG, None);
    let store = MemoryMediaStore::default();
    w.dispatcher = w.dispatcher.clone().with_media(
        Arc::new(fetcher.clone()),
        Arc::new(store.clone()),
        MediaSettings::default(),
    );
    let event = with_media(
        message(&w, "m1", "what is this?", ConversationKind::Direct, false),
        vec![
            media_ref(MediaKind::Image, "photo", None),
            media_ref(MediaKind::Video, "video", Some(40 * 1024 * 1024)),
        ],
    );
    // The first attempt's agent call fails; the redelivery fetches and stores again, under the
    // same names.
    w.agent
        .failures
        .lock()
        .unwrap()
        .push_back(AgentError::Status { status: 503 });
    let b = body(event);
    assert!(w.dispatcher.handle(&b, 1).await.is_err());
    w.dispatcher.handle(&b, 2).await.unwrap();

    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let request = &calls[1];
    assert_eq!(
        request.text,
        "what is this?\n\n(the user sent a 40 MB video that was not fetched: larger than the 20 MB limit)"
    );
    assert_eq!(request.attachments.len(), 1);
    let image = &request.attachments[0];
    assert_eq!((image.kind, image.mime.as_str()), (MediaKind::Image, "image/png"));
    assert_eq!(image.bytes.as_deref(), Some(PNG));
    assert!(image.url.starts_with("memory://"));
    assert_eq!(calls[0].attachments[0].url, image.url, "the same link both times");
    assert_eq!(fetcher.fetched(), ["photo", "photo"], "the video was never downloaded");
    assert_eq!((store.puts(), store.files().len()), (2, 1), "stored twice, kept once");

    let events = w
        .deps
        .store
        .recent_events(&w.integration, 100, Timestamp::now())
        .await
        .unwrap();
    let media: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "media")
        .map(|e| e.detail.as_str())
        .collect();
    assert!(
        media.contains(&"video 2 of 2 (40 MB) not fetched: larger than the 20 MB limit"),
        "{media:?}"
    );
    assert!(media.iter().any(|d| d.starts_with("image 1 of 2 kept for the agent")));
    assert!(media.iter().all(|d| !d.contains("memory://")), "no link in the log");
    assert_eq!(w.replier.answers().len(), 1);
}

#[tokio::test]
async fn without_a_media_store_the_agent_is_told_what_was_sent() {
    let w = world(json!({})).await;
    let event = with_media(
        message(&w, "m1", "", ConversationKind::Direct, false),
        vec![media_ref(MediaKind::Image, "photo", Some(2048))],
    );
    w.dispatcher.handle(&body(event), 1).await.unwrap();
    let calls = w.agent.calls.lock().unwrap().clone();
    assert_eq!(
        calls[0].text,
        "(the user sent a 2 KB image that was not fetched: this gateway keeps no media)"
    );
    assert!(calls[0].attachments.is_empty());
    assert_eq!(w.replier.answers().len(), 1, "answered all the same");
}
