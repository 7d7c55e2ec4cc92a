//! Telegram end to end, in the gateway `imgate serve` runs, against the fake Bot API: webhook
//! updates and long polling, answers streamed as drafts (private chats) or edits (groups), on
//! the embedded store and on DynamoDB/SQS (moto).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use imgate_channels::telegram::api::BotApi;
use imgate_channels::telegram::long::Connector as Poller;
use imgate_core::IntegrationId;
use imgate_core::Platform;
use imgate_core::integration::StatusReason;
use imgate_core::ports::Deps;
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::fake_telegram::{BOT_USERNAME, FakeTelegram, Shown};
use imgate_tests::flaky_queue::FlakyQueue;
use imgate_tests::gateway::Gateway;
use imgate_tests::world::{TestOrg, eventually, fast_relay, start_relay};
use serde_json::{Value, json};

const TOKEN: &str = "123456:TEST-bot-token";
const SECRET: &str = "webhook-secret_1";
const WAIT: Duration = Duration::from_secs(10);

struct World {
    gateway: Gateway,
    fake: FakeTelegram,
    org: TestOrg,
    http: reqwest::Client,
}

async fn world(deps: Deps) -> World {
    let fake = FakeTelegram::start(TOKEN).await;
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.telegram.api = fake.base.clone();
    let org = TestOrg::create(&deps).await;
    let gateway = Gateway::start_with(deps, 2, true, &endpoints).await;
    World {
        gateway,
        fake,
        org,
        http: reqwest::Client::new(),
    }
}

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

impl World {
    /// A Telegram bot in `mode` bound to `agent` (the echo agent when `None`).
    async fn bot(&self, mode: &str, agent: Option<&str>, trigger: Value) -> IntegrationId {
        self.org
            .bot(
                json!({"name": "tg", "platform": "telegram", "mode": mode,
                    "credentials": {"bot_token": TOKEN, "secret_token": SECRET}}),
                Some(agent.unwrap_or(&self.org.echo_agent_id)),
                trigger,
            )
            .await
    }

    async fn streaming_agent(&self, chunks: &[&str], pace: Duration) -> (FakeAgent, String) {
        let agent = FakeAgent::start_paced(chunks, pace).await;
        let id = self
            .org
            .agent(json!({"name": "gpt", "kind": "openai_compatible",
                "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 10}}))
            .await;
        (agent, id)
    }

    async fn post(&self, id: &IntegrationId, update: &Value, secret: Option<&str>) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}/api/telegram/webhook/{id}", self.gateway.base))
            .json(update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Waits until the bot's messages replying to `message_id` read `text` together.
    async fn answered(&self, message_id: i64, text: &str) -> Vec<Shown> {
        let fake = &self.fake;
        eventually(&format!("the answer {text:?}"), WAIT, || async move {
            let parts = answer_to(fake, message_id);
            parts.iter().map(|m| m.text.as_str()).collect::<String>() == text
        })
        .await;
        answer_to(fake, message_id)
    }
}

fn answer_to(fake: &FakeTelegram, message_id: i64) -> Vec<Shown> {
    fake.answer_to(message_id)
}

fn message_id(update: &Value) -> i64 {
    update["message"]["message_id"].as_i64().unwrap()
}

async fn private_chat_streams_a_draft_then_sends_the_answer_once(deps: Deps) {
    let w = world(deps).await;
    let (agent, agent_id) = w
        .streaming_agent(&["Hello", " from", " the", " **agent**"], Duration::from_millis(250))
        .await;
    let id = w.bot("webhook", Some(&agent_id), json!({})).await;
    let update = w.fake.text_update(1001, 1001, "hi <there> & you");
    let update = json!({"update_id": 5001, "message": update["message"]});
    for _ in 0..3 {
        assert_eq!(w.post(&id, &update, Some(SECRET)).await, (200, "{}".to_owned()));
    }
    let answer = w.answered(message_id(&update), "Hello from the agent").await;
    assert_eq!(answer.len(), 1, "one message: {answer:?}");
    assert!(!w.fake.drafts().is_empty(), "the answer streamed as a draft");
    assert!(w.fake.drafts().iter().all(|(chat, _)| *chat == 1001));
    assert!(!w.fake.calls_of("sendChatAction").is_empty(), "typing shown");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.calls(), 1, "three deliveries, one agent call");
    assert_eq!(w.fake.messages().len(), 1, "and one answer");
    let sent = &w.fake.calls_of("sendMessage")[0];
    assert_eq!(sent["parse_mode"], "HTML");
    assert!(sent["text"].as_str().unwrap().contains("<b>agent</b>"));
}

async fn bad_requests_change_nothing(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("webhook", None, json!({})).await;
    let update = json!({"update_id": 6001, "message": w.fake.text_update(1002, 1002, "hello")["message"]});
    assert_eq!(w.post(&id, &update, Some("wrong-secret")).await.0, 401);
    assert_eq!(w.post(&id, &update, None).await.0, 401);
    let broken = w
        .http
        .post(format!("{}/api/telegram/webhook/{id}", w.gateway.base))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body("{\"update_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let unknown = IntegrationId::generate();
    assert_eq!(w.post(&unknown, &update, Some(SECRET)).await.0, 404);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(w.fake.messages().is_empty(), "nothing answered");
    // The good one still goes through.
    assert_eq!(w.post(&id, &update, Some(SECRET)).await.0, 200);
    w.answered(message_id(&update), "You said: hello").await;
}

async fn groups_answer_mentions_by_editing_a_placeholder(deps: Deps) {
    let w = world(deps).await;
    let (_agent, agent_id) = w
        .streaming_agent(&["Part one.", " Part two.", " Done."], Duration::from_millis(700))
        .await;
    let id = w.bot("webhook", Some(&agent_id), json!({})).await;
    let quiet = json!({"update_id": 7001, "message": w.fake.text_update(-100_777, 1003, "just chatting")["message"]});
    assert_eq!(w.post(&id, &quiet, Some(SECRET)).await.0, 200);
    let asked = format!("@{BOT_USERNAME} what now?");
    let mention = json!({"update_id": 7002, "message": w.fake.text_update(-100_777, 1003, &asked)["message"]});
    assert_eq!(w.post(&id, &mention, Some(SECRET)).await.0, 200);
    let answer = w.answered(message_id(&mention), "Part one. Part two. Done.").await;
    assert_eq!(answer.len(), 1);
    assert!(
        answer[0].edits >= 2,
        "the placeholder was edited as the answer grew: {answer:?}"
    );
    assert!(w.fake.drafts().is_empty(), "no drafts in groups");
    assert!(
        answer_to(&w.fake, message_id(&quiet)).is_empty(),
        "no mention, no answer"
    );
}

async fn a_long_answer_continues_in_new_messages(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("webhook", None, json!({})).await;
    let long: String = (0..1500)
        .map(|i| format!("w{i} "))
        .collect::<String>()
        .trim_end()
        .to_owned();
    let update = json!({"update_id": 8001, "message": w.fake.text_update(1004, 1004, &long)["message"]});
    assert_eq!(w.post(&id, &update, Some(SECRET)).await.0, 200);
    let expected = format!("You said: {long}");
    let answer = w.answered(message_id(&update), &expected).await;
    assert!(
        answer.len() >= 2,
        "{} characters in {} messages",
        expected.len(),
        answer.len()
    );
    assert!(answer.iter().all(|m| m.text.encode_utf16().count() <= 4096));
}

async fn refused_formatting_is_sent_plain(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot("webhook", None, json!({})).await;
    w.fake.fail_next(
        "sendMessage",
        1,
        400,
        "Bad Request: can't parse entities: unsupported start tag",
        None,
    );
    let update = json!({"update_id": 9001, "message": w.fake.text_update(1005, 1005, "**x**")["message"]});
    assert_eq!(w.post(&id, &update, Some(SECRET)).await.0, 200);
    w.answered(message_id(&update), "You said: **x**").await;
    let sends = w.fake.calls_of("sendMessage");
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0]["parse_mode"], "HTML");
    assert!(sends[1].get("parse_mode").is_none(), "the retry is plain");
}

async fn long_polling_answers_keeps_the_offset_and_yields_to_another_poller(deps: Deps) {
    let w = world(deps.clone()).await;
    let id = w.bot("long_connection", None, json!({})).await;
    let down = Arc::new(AtomicBool::new(false));
    let flaky = Arc::new(FlakyQueue::new(deps.queue.clone(), down.clone()));
    let poller = Poller::new(
        BotApi::new(reqwest::Client::new(), w.fake.base.clone()),
        deps.store.clone(),
    )
    .with_poll_timeout(Duration::from_secs(1));
    let relay = start_relay(
        &deps,
        flaky.clone(),
        Platform::Telegram,
        Arc::new(poller),
        fast_relay("relay-t"),
    );
    let first = w.fake.push_update(w.fake.text_update(1006, 1006, "polled"));
    w.answered(message_id(&first), "You said: polled").await;
    eventually("the update confirmed", WAIT, || async { w.fake.unconfirmed() == 0 }).await;
    assert!(
        w.fake.calls_of("deleteWebhook").len() == 1,
        "a leftover webhook is removed first"
    );

    // While the queue fails, the offset does not move; the update is answered once it is back.
    down.store(true, Ordering::SeqCst);
    let second = w.fake.push_update(w.fake.text_update(1006, 1006, "during an outage"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.fake.unconfirmed(), 1, "not confirmed while it is not queued");
    down.store(false, Ordering::SeqCst);
    w.answered(message_id(&second), "You said: during an outage").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(answer_to(&w.fake, message_id(&second)).len(), 1, "answered once");

    // Another program polls the same bot: the relay steps aside and says so.
    w.fake.kick();
    let store = deps.store.clone();
    eventually("the kicked status", WAIT, || async {
        store
            .get_status(&id)
            .await
            .unwrap()
            .is_some_and(|s| s.reason == Some(StatusReason::KickedByOtherConnection))
    })
    .await;
    let _ = relay.send(true);
}

async fn rate_limits_drop_intermediate_edits_and_the_final_text_waits(deps: Deps) {
    let w = world(deps).await;
    let (_agent, agent_id) = w
        .streaming_agent(&["One.", " Two.", " Three."], Duration::from_millis(600))
        .await;
    let id = w.bot("webhook", Some(&agent_id), json!({})).await;
    w.fake
        .fail_next("editMessageText", 2, 429, "Too Many Requests: retry after 1", Some(1));
    let asked = format!("@{BOT_USERNAME} count");
    let update = json!({"update_id": 7101, "message": w.fake.text_update(-100_888, 1007, &asked)["message"]});
    assert_eq!(w.post(&id, &update, Some(SECRET)).await.0, 200);
    let answer = w.answered(message_id(&update), "One. Two. Three.").await;
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(
        w.fake.calls_of("editMessageText").len() >= 3,
        "the refused edits were tried and the final one went through"
    );
}

async fn publishing_sets_the_webhook_and_unbinding_removes_it(deps: Deps) {
    let w = world(deps).await;
    let admin = &w.gateway.admin;
    let boot = admin
        .authenticate(Some(imgate_tests::gateway::BOOTSTRAP))
        .await
        .unwrap();
    let org = admin.create_org(&boot, "tg-org").await.unwrap();
    let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value(json!({"name": "tg", "platform": "telegram", "mode": "webhook",
                "credentials": {"bot_token": TOKEN, "secret_token": SECRET}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let agent = admin
        .create_agent(
            &p,
            serde_json::from_value(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(w.fake.webhook(), None, "nothing registered before a trigger binds it");
    let publish = || serde_json::from_value(json!({"agentId": agent.id})).unwrap();
    admin.publish_trigger(&p, &integration.id, publish()).await.unwrap();
    let expected = (
        format!("{}/api/telegram/webhook/{}", w.gateway.base, integration.id),
        SECRET.to_owned(),
    );
    assert_eq!(w.fake.webhook(), Some(expected.clone()));
    assert_eq!(
        w.fake.calls_of("setMyCommands").len(),
        1,
        "the command menu is registered"
    );

    admin.set_integration_enabled(&p, &integration.id, false).await.unwrap();
    assert_eq!(w.fake.webhook(), None, "disabling removes the webhook");
    admin.set_integration_enabled(&p, &integration.id, true).await.unwrap();
    assert_eq!(w.fake.webhook(), Some(expected));
    admin.unpublish_trigger(&p, &integration.id).await.unwrap();
    assert_eq!(w.fake.webhook(), None, "unbinding removes it");

    // A refusal keeps the trigger and shows in the status.
    w.fake.fail_next(
        "setWebhook",
        1,
        400,
        "Bad Request: bad webhook: HTTPS url must be provided for webhook",
        None,
    );
    admin.publish_trigger(&p, &integration.id, publish()).await.unwrap();
    assert_eq!(w.fake.webhook(), None);
    let status = admin.integration_status(&p, &integration.id).await.unwrap();
    let refusal = status
        .recent_events
        .iter()
        .find(|e| e.kind == "error")
        .expect("the refusal in the event log");
    assert!(
        refusal.detail.contains("refused the webhook registration") && refusal.detail.contains("HTTPS url"),
        "{refusal:?}"
    );
    assert!(!refusal.detail.contains("TEST-bot-token"), "no token in the event log");
}

imgate_tests::on_both_backends!(
    private_chat_streams_a_draft_then_sends_the_answer_once,
    bad_requests_change_nothing,
    groups_answer_mentions_by_editing_a_placeholder,
    a_long_answer_continues_in_new_messages,
    refused_formatting_is_sent_plain,
    long_polling_answers_keeps_the_offset_and_yields_to_another_poller,
    publishing_sets_the_webhook_and_unbinding_removes_it,
    rate_limits_drop_intermediate_edits_and_the_final_text_waits,
);
