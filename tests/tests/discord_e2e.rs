//! Discord end to end against the fake Discord: the gateway in the relay (messages answered by
//! edits, resumes after drops, refused tokens) and the interactions endpoint in the gateway
//! (`/ask` deferred and answered), on the embedded store and on DynamoDB/SQS (moto).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use imgate_channels::discord::api::RestApi;
use imgate_channels::discord::long::{BASE_INTENTS, Connector};
use imgate_core::integration::StatusReason;
use imgate_core::ports::Deps;
use imgate_core::{IntegrationId, Platform};
use imgate_tests::fake_discord::{APP_PUBLIC_KEY, DEAD_LINK_WAIT, FakeDiscord, Shown, sign_interaction};
use imgate_tests::gateway::Gateway;
use imgate_tests::world::{TestOrg, eventually, fast_relay, start_relay};
use serde_json::{Value, json};

const TOKEN: &str = "discord-TEST-bot-token";
const WAIT: Duration = Duration::from_secs(10);

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

struct World {
    gateway: Gateway,
    fake: FakeDiscord,
    org: TestOrg,
    deps: Deps,
}

async fn world(deps: Deps) -> World {
    let fake = FakeDiscord::start(TOKEN).await;
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.discord.api = fake.base.clone();
    let org = TestOrg::create(&deps).await;
    let gateway = Gateway::start_with(deps.clone(), 2, true, &endpoints).await;
    World {
        gateway,
        fake,
        org,
        deps,
    }
}

impl World {
    async fn bot(&self, mode: &str, token: &str) -> IntegrationId {
        self.org
            .bot(
                json!({"name": "discord", "platform": "discord", "mode": mode,
                    "credentials": {"application_id": "app-1", "public_key": APP_PUBLIC_KEY, "bot_token": token}}),
                Some(&self.org.echo_agent_id),
                json!({}),
            )
            .await
    }

    fn relay(&self) -> tokio::sync::watch::Sender<bool> {
        let connector = Connector::new(
            RestApi::new(reqwest::Client::new(), self.fake.base.clone()),
            self.deps.store.clone(),
        )
        .with_own_check_after(Duration::from_millis(300));
        start_relay(
            &self.deps,
            self.deps.queue.clone(),
            Platform::Discord,
            Arc::new(connector),
            fast_relay("relay-d"),
        )
    }

    async fn connected(&self) {
        let fake = &self.fake;
        eventually("a gateway session", WAIT, || async move { fake.sessions().0 >= 1 }).await;
    }

    /// Waits until the messages answering `message_id` in `channel` read `text` together.
    async fn answered(&self, channel: &str, message_id: &str, text: &str) -> Vec<Shown> {
        let fake = &self.fake;
        eventually(&format!("the answer {text:?}"), WAIT, || async move {
            answer_to(fake, channel, message_id)
                .iter()
                .map(|m| m.content.as_str())
                .collect::<String>()
                == text
        })
        .await;
        answer_to(fake, channel, message_id)
    }
}

fn answer_to(fake: &FakeDiscord, channel: &str, message_id: &str) -> Vec<Shown> {
    fake.answer_to(channel, message_id)
}

async fn gateway_messages_are_answered_by_edits(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("long_connection", TOKEN).await;
    let relay = w.relay();
    w.connected().await;
    assert_eq!(
        w.fake.intents(),
        [BASE_INTENTS],
        "no message content for a mention-only bot"
    );
    let dm = w.fake.user_message("dm-1", None, "hello <@everyone>", false);
    let answer = w.answered("dm-1", &dm, "You said: hello <@everyone>").await;
    assert_eq!(answer.len(), 1);
    let quiet = w.fake.user_message("guild-chan", Some("g-1"), "just chatting", false);
    let asked = w
        .fake
        .user_message("guild-chan", Some("g-1"), "<@1100000000000000001> and you?", true);
    w.answered("guild-chan", &asked, "You said: and you?").await;
    assert!(
        answer_to(&w.fake, "guild-chan", &quiet).is_empty(),
        "no mention, no answer"
    );
    assert!(
        w.fake.commands().is_some_and(|c| c.to_string().contains("\"ask\"")),
        "slash commands registered"
    );
    let long: String = (0..600)
        .map(|i| format!("w{i} "))
        .collect::<String>()
        .trim_end()
        .to_owned();
    let big = w.fake.user_message("dm-1", None, &long, false);
    let parts = w.answered("dm-1", &big, &format!("You said: {long}")).await;
    assert!(parts.len() >= 2 && parts.iter().all(|m| m.content.encode_utf16().count() <= 2000));
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, imgate_core::integration::ConnectionState::Connected);
    let _ = relay.send(true);
}

/// Discord tells no session about another on the same token; a message from the bot that
/// imgate did not send shows that one is running, in the status.
async fn another_program_on_the_same_bot_shows_in_the_status(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("long_connection", TOKEN).await;
    let relay = w.relay();
    w.connected().await;
    let asked = w.fake.user_message("dm-2", None, "hello", false);
    w.answered("dm-2", &asked, "You said: hello").await;
    // imgate's own answer came back on the gateway: past the check, nothing is reported.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert!(
        !status
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("another program"),
        "{status:?}"
    );

    w.fake.message_by_another_program("dm-2", "hello from elsewhere");
    let store = w.deps.store.clone();
    eventually("the other program reported", WAIT, || async {
        store.get_status(&id).await.unwrap().is_some_and(|s| {
            s.last_error
                .as_deref()
                .is_some_and(|e| e.contains("another program is connected to Discord as this bot"))
        })
    })
    .await;
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(
        status.state,
        imgate_core::integration::ConnectionState::Connected,
        "still connected: Discord does not end either session"
    );
    let _ = relay.send(true);
}

async fn a_dropped_connection_resumes_without_losing_or_doubling(deps: Deps) {
    let w = world(deps).await;
    w.bot("long_connection", TOKEN).await;
    let relay = w.relay();
    w.connected().await;
    let first = w.fake.user_message("dm-2", None, "before", false);
    w.answered("dm-2", &first, "You said: before").await;

    w.fake.drop_connection();
    let during = w.fake.user_message("dm-2", None, "while dropped", false);
    w.answered("dm-2", &during, "You said: while dropped").await;
    // A dead link (heartbeats no longer acknowledged) is noticed and resumed too.
    w.fake.mute_acks(true);
    tokio::time::sleep(DEAD_LINK_WAIT).await;
    w.fake.mute_acks(false);
    let after = w.fake.user_message("dm-2", None, "after", false);
    w.answered("dm-2", &after, "You said: after").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (message, text) in [(&first, "before"), (&during, "while dropped"), (&after, "after")] {
        let answers = answer_to(&w.fake, "dm-2", message);
        assert_eq!(answers.len(), 1, "{text} answered once: {answers:?}");
    }
    let (identifies, resumes) = w.fake.sessions();
    assert_eq!(identifies, 1, "resumed, not identified again");
    assert!(resumes >= 2, "{resumes} resumes");
    let _ = relay.send(true);
}

async fn a_refused_token_stops_with_auth_failed(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("long_connection", "not-the-token").await;
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
    assert_eq!(w.fake.sessions(), (0, 0));
    let _ = relay.send(true);
}

fn signed(body: &Value, timestamp: i64) -> (String, String, String) {
    let body = body.to_string();
    let timestamp = timestamp.to_string();
    let signature = sign_interaction(&timestamp, body.as_bytes());
    (body, timestamp, signature)
}

async fn interactions_are_verified_deferred_and_answered(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("webhook", TOKEN).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/discord/interactions/{id}", w.gateway.base);
    let post = |(body, timestamp, signature): (String, String, String)| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http
                .post(url)
                .header("content-type", "application/json")
                .header("X-Signature-Ed25519", signature)
                .header("X-Signature-Timestamp", timestamp)
                .body(body)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let now = imgate_core::Timestamp::now().as_secs();
    let ping = json!({"application_id": "app-1", "id": "9001", "token": "ping-token", "type": 1, "version": 1});
    assert_eq!(post(signed(&ping, now)).await, (200, r#"{"type":1}"#.to_owned()));
    let (body, timestamp, _) = signed(&ping, now);
    let forged = signed(&json!({"other": true}), now).2;
    assert_eq!(post((body, timestamp, forged)).await.0, 401, "a bad signature");
    assert_eq!(post(signed(&ping, now - 3600)).await.0, 401, "a stale timestamp");

    let ask = json!({"application_id": "app-1", "id": "9002", "token": "ask-token", "type": 2, "version": 1,
        "channel_id": "c-9", "guild_id": "g-9", "member": {"user": {"id": "700", "username": "alice"}},
        "data": {"name": "ask", "options": [{"name": "text", "type": 3, "value": "why is the sky blue?"}]}});
    assert_eq!(post(signed(&ask, now)).await, (200, r#"{"type":5}"#.to_owned()));
    let fake = &w.fake;
    eventually("the deferred answer edited", WAIT, || async move {
        fake.messages().iter().any(|m| {
            m.channel == "interaction:ask-token" && m.id == "@original" && m.content == "You said: why is the sky blue?"
        })
    })
    .await;
}

imgate_tests::on_both_backends!(
    gateway_messages_are_answered_by_edits,
    a_dropped_connection_resumes_without_losing_or_doubling,
    another_program_on_the_same_bot_shows_in_the_status,
    a_refused_token_stops_with_auth_failed,
    interactions_are_verified_deferred_and_answered,
);
