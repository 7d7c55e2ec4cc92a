//! Weibo end to end against the fake Weibo: the stream in the relay, the dispatcher answering
//! through the stream buffer, the relay sending delta frames — on the embedded store and on
//! DynamoDB/SQS (moto). Messages answered by a streamed reply, duplicates answered once, drops,
//! dead links and refused tokens recovered, bad credentials stopped, agent failures told.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use imgate_channels::kit::tokens::SealedTokens;
use imgate_channels::weibo::api::TokenClient;
use imgate_channels::weibo::long::{Connector, Timing};
use imgate_core::integration::{ConnectionState, StatusReason};
use imgate_core::ports::{Deps, TokenCache};
use imgate_core::{IntegrationId, Platform};
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::fake_weibo::{FakeWeibo, Reply};
use imgate_tests::gateway::Gateway;
use imgate_tests::world::{TestOrg, eventually, fast_relay, start_relay};
use serde_json::json;

const APP_ID: &str = "5288388166";
const SECRET: &str = "weibo-TEST-app-secret";
const USER: &str = "1234567890";
const WAIT: Duration = Duration::from_secs(15);

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

struct World {
    _gateway: Gateway,
    fake: FakeWeibo,
    org: TestOrg,
    deps: Deps,
}

async fn world(deps: Deps) -> World {
    let fake = FakeWeibo::start(APP_ID, SECRET).await;
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.weibo.api = fake.api_base.clone();
    endpoints.weibo.ws = fake.ws_base.clone();
    let org = TestOrg::create(&deps).await;
    let gateway = Gateway::start_with(deps.clone(), 2, true, &endpoints).await;
    World {
        _gateway: gateway,
        fake,
        org,
        deps,
    }
}

impl World {
    /// A Weibo bot with `secret`, bound to `agent` (the echo agent when `None`).
    async fn bot(&self, secret: &str, agent: Option<&str>) -> IntegrationId {
        self.org
            .bot(
                json!({"name": "weibo", "platform": "weibo", "mode": "long_connection",
                    "credentials": {"app_id": APP_ID, "app_secret": secret}}),
                Some(agent.unwrap_or(&self.org.echo_agent_id)),
                json!({}),
            )
            .await
    }

    /// An OpenAI-compatible agent at `fake`.
    async fn model(&self, fake: &FakeAgent) -> String {
        self.org
            .agent(json!({"name": "model", "kind": "openai_compatible",
                "config": {"base_url": fake.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 30}}))
            .await
    }

    fn relay(&self) -> tokio::sync::watch::Sender<bool> {
        let cache: Arc<dyn TokenCache> = self.deps.store.clone();
        let tokens = TokenClient::new(
            reqwest::Client::new(),
            self.fake.api_base.clone(),
            SealedTokens::new("weibo", cache, self.deps.keyring.clone()),
        )
        .with_retry_delays([Duration::from_millis(20), Duration::from_millis(40)]);
        let connector =
            Connector::new(self.deps.store.clone(), tokens, self.fake.ws_base.clone()).with_timing(Timing {
                ping_every: Duration::from_millis(200),
                dead_after: Duration::from_millis(800),
                poll_every: Duration::from_millis(50),
            });
        start_relay(
            &self.deps,
            self.deps.queue.clone(),
            Platform::Weibo,
            Arc::new(connector),
            fast_relay("relay-w"),
        )
    }

    /// Waits for the `n`th socket (counting from the start).
    async fn connected(&self, n: usize) {
        let fake = &self.fake;
        eventually(&format!("socket {n}"), WAIT, || async move {
            let (open, _, connects) = fake.sockets();
            open == 1 && connects >= n
        })
        .await;
    }

    /// Waits until the replies to the user read `text` together, every one closed.
    async fn answered(&self, text: &str) -> Vec<Reply> {
        let fake = &self.fake;
        eventually(&format!("the answer {text:?}"), WAIT, || async move {
            let replies = fake.replies_to(USER);
            replies.iter().all(|r| r.done) && replies.iter().map(|r| r.text.as_str()).collect::<String>() == text
        })
        .await;
        // Nothing more comes after it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let replies = self.fake.replies_to(USER);
        assert_eq!(replies.iter().map(|r| r.text.as_str()).collect::<String>(), text);
        assert_eq!(self.fake.violations(), Vec::<String>::new());
        replies
    }
}

async fn a_message_is_answered_by_a_streamed_reply(deps: Deps) {
    let w = world(deps).await;
    let agent = FakeAgent::start_paced(
        &["Hello, 微博! ", "This is ", "a streamed ", "reply."],
        Duration::from_millis(150),
    )
    .await;
    let model = w.model(&agent).await;
    let id = w.bot(SECRET, Some(&model)).await;
    let relay = w.relay();
    w.connected(1).await;
    w.fake.push(USER, "hi");
    let replies = w.answered("Hello, 微博! This is a streamed reply.").await;
    assert_eq!(replies.len(), 1, "one messageId: {replies:?}");
    let chunks = &replies[0].chunks;
    assert!(chunks.len() >= 3, "streamed in several frames: {chunks:?}");
    assert_eq!(*chunks, (0..chunks.len() as u64).collect::<Vec<_>>());
    assert_eq!(agent.calls(), 1);
    assert!(w.fake.versions().iter().all(|v| v.starts_with("imgate-")));
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(w.fake.sockets().1, 1, "one socket for the app");
    let _ = relay.send(true);
}

async fn a_message_pushed_three_times_is_answered_once(deps: Deps) {
    let w = world(deps).await;
    let agent = FakeAgent::start(&["only ", "once"]).await;
    let model = w.model(&agent).await;
    w.bot(SECRET, Some(&model)).await;
    let relay = w.relay();
    w.connected(1).await;
    let payload = json!({"messageId": "msg_in_dup", "fromUserId": USER, "text": "again?", "timestamp": 1});
    for _ in 0..3 {
        w.fake.push_payload(&payload);
    }
    let replies = w.answered("only once").await;
    assert_eq!(replies.len(), 1);
    assert_eq!(agent.calls(), 1);
    let _ = relay.send(true);
}

async fn dropped_and_silent_links_reconnect_and_answer_once(deps: Deps) {
    let w = world(deps).await;
    w.bot(SECRET, None).await;
    let relay = w.relay();
    w.connected(1).await;
    w.fake.drop_connections();
    w.connected(2).await;
    w.fake.push(USER, "after the drop");
    w.answered("You said: after the drop").await;

    w.fake.go_silent(true);
    w.connected(3).await;
    w.fake.go_silent(false);
    w.fake.push(USER, "after the silence");
    w.answered("You said: after the dropYou said: after the silence").await;
    assert_eq!(w.fake.replies_to(USER).len(), 2, "each answered once");
    assert_eq!(w.fake.sockets().1, 1, "never two sockets at once");
    assert!(w.fake.client_pings() > 0);
    assert_eq!(w.fake.token_fetches(), 1, "the cached token served every reconnect");
    let _ = relay.send(true);
}

async fn a_refused_token_is_fetched_again(deps: Deps) {
    let w = world(deps).await;
    w.bot(SECRET, None).await;
    let relay = w.relay();
    w.connected(1).await;
    assert_eq!(w.fake.token_fetches(), 1);
    w.fake.revoke_tokens();
    w.fake.drop_connections();
    w.connected(2).await;
    assert_eq!(w.fake.refused(), [4002], "the revoked token was tried once");
    assert_eq!(w.fake.token_fetches(), 2, "then a new one fetched");
    w.fake.push(USER, "still there?");
    w.answered("You said: still there?").await;
    let _ = relay.send(true);
}

async fn bad_credentials_stop_with_auth_failed(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("not-the-secret", None).await;
    let relay = w.relay();
    let store = w.deps.store.clone();
    eventually("auth_failed", WAIT, || async {
        store
            .get_status(&id)
            .await
            .unwrap()
            .is_some_and(|s| s.reason == Some(StatusReason::AuthFailed))
    })
    .await;
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Error);
    assert!(!format!("{status:?}").contains("not-the-secret"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(w.fake.token_fetches(), 1, "no retry loop");
    assert_eq!(w.fake.sockets().2, 0);
    let _ = relay.send(true);
}

async fn an_agent_failure_is_told_with_done(deps: Deps) {
    let w = world(deps).await;
    let agent = FakeAgent::start(&["never"]).await;
    agent.set_down(true);
    let model = w.model(&agent).await;
    w.bot(SECRET, Some(&model)).await;
    let relay = w.relay();
    w.connected(1).await;
    w.fake.push(USER, "are you there?");
    let fake = &w.fake;
    eventually("the error reply", WAIT, || async move {
        fake.replies_to(USER).iter().any(|r| r.done && !r.text.is_empty())
    })
    .await;
    let replies = w.fake.replies_to(USER);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0].text.contains("the agent failed") && replies[0].text.contains("new conversation"),
        "the honest error and the way to a new conversation: {:?}",
        replies[0].text
    );
    assert_eq!(w.fake.violations(), Vec::<String>::new());
    assert_eq!(agent.calls(), 2, "the queue's retry, then the honest error");
    let _ = relay.send(true);
}

/// The answer finishes while no socket can be opened: it is not reported replied until the
/// relay is back, has closed the open reply and sent the rest as a new one.
async fn an_answer_is_not_reported_delivered_while_the_socket_is_down(deps: Deps) {
    let w = world(deps).await;
    let agent = FakeAgent::start_paced(&["First part. ", "Second part."], Duration::from_millis(600)).await;
    let model = w.model(&agent).await;
    let id = w.bot(SECRET, Some(&model)).await;
    let relay = w.relay();
    w.connected(1).await;
    let message = w.fake.push(USER, "tell me");
    let fake = &w.fake;
    eventually("the first part", WAIT, || async move {
        fake.replies_to(USER).iter().any(|r| r.text == "First part. ")
    })
    .await;
    w.fake.token_outage(true);
    w.fake.revoke_tokens();
    w.fake.drop_connections();
    // The agent finishes while the relay cannot reconnect.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let replied = || async {
        w.deps
            .store
            .recent_events(&id, 200, imgate_core::Timestamp::now())
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == "replied" && e.event_id.as_deref() == Some(message.as_str()))
    };
    assert!(!replied().await, "reported replied while the socket is down");
    assert_eq!(w.fake.sockets().0, 0);
    w.fake.token_outage(false);
    let replies = w.answered("First part. Second part.").await;
    assert_eq!(replies.len(), 2, "the rest as a new reply: {replies:?}");
    assert_eq!(replies[0].chunks, [0, 1], "the open reply closed on the new socket");
    assert_eq!(replies[1].chunks, [0]);
    eventually("the replied event", WAIT, replied).await;
    assert_eq!(agent.calls(), 1, "the answer was recorded, not asked for again");
    let _ = relay.send(true);
}

/// The server's pong timeout (shortened to a second) never closes a healthy link: the client's
/// JSON pings and its pongs to the server's pings keep it open.
async fn the_server_pong_timeout_never_fires_on_a_healthy_link(deps: Deps) {
    let w = world(deps).await;
    w.fake.set_pong_timeout(Duration::from_secs(1));
    w.bot(SECRET, None).await;
    let relay = w.relay();
    w.connected(1).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(w.fake.sockets(), (1, 1, 1), "one socket, never closed");
    w.fake.push(USER, "ping?");
    w.answered("You said: ping?").await;
    let _ = relay.send(true);
}

imgate_tests::on_both_backends!(
    a_message_is_answered_by_a_streamed_reply,
    a_message_pushed_three_times_is_answered_once,
    dropped_and_silent_links_reconnect_and_answer_once,
    a_refused_token_is_fetched_again,
    bad_credentials_stop_with_auth_failed,
    an_agent_failure_is_told_with_done,
    an_answer_is_not_reported_delivered_while_the_socket_is_down,
    the_server_pong_timeout_never_fires_on_a_healthy_link,
);
