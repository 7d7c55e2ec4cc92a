//! WeChat (iLink) end to end, in the gateway `imgate serve` runs, against the fake iLink API:
//! long polling under the relay's lease, answers in whole blocks within the send budget,
//! refusals not hammered, session expiry, on the embedded store and on DynamoDB/SQS (moto).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use imgate_channels::wechat::api::Client;
use imgate_channels::wechat::format::{CUT_NOTE, LONG_BLOCK_CHARS};
use imgate_channels::wechat::long::Connector as Poller;
use imgate_core::IntegrationId;
use imgate_core::Platform;
use imgate_core::admin::LoginRequest;
use imgate_core::integration::{ConnectionState, StatusReason};
use imgate_core::ports::Deps;
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::fake_wechat::{FakeWechat, LoginStep, SEND_BUDGET};
use imgate_tests::flaky_queue::FlakyQueue;
use imgate_tests::gateway::Gateway;
use imgate_tests::world::{TestOrg, eventually, fast_relay, start_relay};
use serde_json::json;
use tokio::sync::watch;

const TOKEN: &str = "bot-token-set-by-hand";
const USER: &str = "o9cq80user@im.wechat";
const WAIT: Duration = Duration::from_secs(15);

struct World {
    /// The gateway (its admin service runs QR logins).
    gateway: Gateway,
    fake: FakeWechat,
    org: TestOrg,
    deps: Deps,
}

async fn world(deps: Deps) -> World {
    let fake = FakeWechat::start(Some(TOKEN)).await;
    let endpoints = imgate_channels::Endpoints {
        wechat: imgate_channels::wechat::Endpoints {
            refusal_backoff: Duration::from_millis(700),
            ..imgate_channels::wechat::Endpoints::at(&fake.base)
        },
        ..imgate_channels::Endpoints::default()
    };
    let org = TestOrg::create(&deps).await;
    let gateway = Gateway::start_with(deps.clone(), 2, true, &endpoints).await;
    World {
        gateway,
        fake,
        org,
        deps,
    }
}

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

async fn moto() -> Deps {
    imgate_tests::aws::fresh_deps(2).await.unwrap()
}

impl World {
    /// A WeChat bot with the token set by hand, bound to `agent` (the echo agent when `None`).
    async fn bot(&self, agent: Option<&str>) -> IntegrationId {
        self.org
            .bot(
                json!({"name": "wx", "platform": "wechat", "mode": "long_connection",
                    "credentials": {"bot_token": TOKEN, "base_url": self.fake.base}}),
                Some(agent.unwrap_or(&self.org.echo_agent_id)),
                json!({}),
            )
            .await
    }

    fn poller(&self) -> Arc<Poller> {
        Arc::new(Poller::new(
            Client::new(reqwest::Client::new()),
            self.deps.store.clone(),
            self.fake.base.clone(),
        ))
    }

    fn relay(&self, queue: Arc<FlakyQueue>, owner: &str) -> watch::Sender<bool> {
        start_relay(&self.deps, queue, Platform::Wechat, self.poller(), fast_relay(owner))
    }

    fn queue(&self) -> (Arc<FlakyQueue>, Arc<AtomicBool>) {
        let down = Arc::new(AtomicBool::new(false));
        (Arc::new(FlakyQueue::new(self.deps.queue.clone(), down.clone())), down)
    }

    /// Waits until the blocks answering message `id` read `text` together.
    async fn answered(&self, id: u64, text: &str) -> Vec<String> {
        let fake = &self.fake;
        eventually(&format!("the answer {text:?}"), WAIT, || async move {
            fake.answer_to(id).concat() == text
        })
        .await;
        self.fake.answer_to(id)
    }

    async fn events(&self, id: &IntegrationId) -> Vec<(String, String)> {
        self.org
            .admin
            .integration_status(&self.org.principal, id.as_str())
            .await
            .unwrap()
            .recent_events
            .into_iter()
            .map(|e| (e.kind, e.detail))
            .collect()
    }
}

async fn a_text_is_answered_with_typing_and_the_cursor_moves(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot(None).await;
    let (queue, _) = w.queue();
    let relay = w.relay(queue, "relay-w");
    let first = w.fake.push_text(USER, "你好");
    let answer = w.answered(first, "You said: 你好").await;
    assert_eq!(answer.len(), 1);
    eventually("typing shown then cancelled", WAIT, || async {
        let typing = w.fake.typing();
        typing.first().map(|t| t.1) == Some(1) && typing.last().map(|t| t.1) == Some(2)
    })
    .await;
    assert!(!w.fake.calls_of("msg/notifystart").is_empty(), "notifystart sent");
    eventually("the cursor past the message", WAIT, || async {
        w.fake.confirmed() == 1
    })
    .await;
    let sent = &w.fake.shown()[0];
    assert_eq!(sent.to, USER);
    assert_eq!(sent.context_token, format!("ctx-{first}"));
    let status = w.deps.store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Connected);
    assert_eq!(w.fake.polling().1, 1, "one poller");
    let _ = relay.send(true);
    eventually("notifystop sent", WAIT, || async {
        !w.fake.calls_of("msg/notifystop").is_empty()
    })
    .await;
}

async fn a_long_answer_arrives_whole_within_the_budget(deps: Deps) {
    let w = world(deps).await;
    w.bot(None).await;
    let (queue, _) = w.queue();
    let _relay = w.relay(queue, "relay-w");
    let paragraph = "这是一个很长的段落。".repeat(90);
    let text = [paragraph.as_str(); 6].join("\n\n");
    let id = w.fake.push_text(USER, &text);
    let answer = w.answered(id, &format!("You said: {text}")).await;
    assert!(answer.len() >= 3, "several blocks: {}", answer.len());
    assert!(answer.iter().all(|b| b.chars().count() <= 2000));
    let times: Vec<_> = w.fake.shown().iter().map(|s| s.at).collect();
    assert!(
        times
            .windows(2)
            .all(|pair| pair[1] - pair[0] >= Duration::from_millis(1000)),
        "blocks are paced about a second apart"
    );

    // Past nine blocks of 2,000 characters: blocks of up to 4,000, still whole.
    let words = "word ".repeat(300);
    let long = [words.trim(); 14].join("\n\n");
    let id = w.fake.push_text(USER, &long);
    let answer = w.answered(id, &format!("You said: {long}")).await;
    assert!(answer.len() < SEND_BUDGET, "at most nine blocks, one send kept");
    assert!(answer.iter().all(|b| b.chars().count() <= LONG_BLOCK_CHARS));

    // Past nine blocks of 4,000: cut with a note, never a message past 4,000 characters.
    let huge = [words.trim(); 40].join("\n\n");
    let id = w.fake.push_text(USER, &huge);
    let fake = &w.fake;
    eventually("the cut answer", WAIT, || async move {
        fake.answer_to(id).last().is_some_and(|b| b.ends_with(CUT_NOTE))
    })
    .await;
    let answer = w.fake.answer_to(id);
    assert_eq!(answer.len(), SEND_BUDGET - 1, "nine blocks, one send kept");
    assert!(answer.iter().all(|b| b.chars().count() <= LONG_BLOCK_CHARS));
    let shown = answer.concat();
    let kept = shown.trim_end_matches(CUT_NOTE).trim_end();
    assert!(
        format!("You said: {huge}").starts_with(kept),
        "the answer's head, in order"
    );
    assert_eq!(w.fake.refused(), 0);
}

async fn a_message_served_three_times_is_answered_once(deps: Deps) {
    let w = world(deps).await;
    let agent = FakeAgent::start(&["Only ", "once"]).await;
    let agent_id = w
        .org
        .agent(json!({"name": "gpt", "kind": "openai_compatible",
            "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 10}}))
        .await;
    w.bot(Some(&agent_id)).await;
    let (queue, _) = w.queue();
    let _relay = w.relay(queue, "relay-w");
    let id = w.fake.push_text(USER, "again and again");
    let message = w.fake.message(id).unwrap();
    w.fake.push_raw(message.clone());
    w.fake.push_raw(message);
    w.answered(id, "Only once").await;
    eventually("every copy confirmed", WAIT, || async { w.fake.confirmed() == 3 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.calls(), 1, "one agent call");
    assert_eq!(w.fake.answer_to(id).len(), 1, "one answer");
}

async fn a_queue_outage_keeps_the_cursor_and_answers_once_after(deps: Deps) {
    let w = world(deps).await;
    w.bot(None).await;
    let (queue, down) = w.queue();
    let _relay = w.relay(queue, "relay-w");
    let first = w.fake.push_text(USER, "before");
    w.answered(first, "You said: before").await;
    eventually("the first confirmed", WAIT, || async { w.fake.confirmed() == 1 }).await;
    down.store(true, Ordering::SeqCst);
    let second = w.fake.push_text(USER, "during an outage");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.fake.confirmed(),
        1,
        "the cursor does not move while nothing is queued"
    );
    assert!(w.fake.answer_to(second).is_empty());
    down.store(false, Ordering::SeqCst);
    w.answered(second, "You said: during an outage").await;
    eventually("the second confirmed", WAIT, || async { w.fake.confirmed() == 2 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.fake.answer_to(second).len(), 1, "answered once");
}

async fn an_expired_session_stops_polling_with_login_expired(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot(None).await;
    let (queue, _) = w.queue();
    let _relay = w.relay(queue, "relay-w");
    let first = w.fake.push_text(USER, "hi");
    w.answered(first, "You said: hi").await;
    w.fake.expire_session();
    let store = w.deps.store.clone();
    eventually("the login_expired status", WAIT, || async {
        store
            .get_status(&id)
            .await
            .unwrap()
            .is_some_and(|s| s.state == ConnectionState::Error && s.reason == Some(StatusReason::LoginExpired))
    })
    .await;
    let polls = w.fake.calls_of("getupdates").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.fake.calls_of("getupdates").len(), polls, "no retry loop");
    let status = serde_json::to_value(store.get_status(&id).await.unwrap().unwrap()).unwrap();
    assert_eq!(status["reason"], "login_expired");
    let events = w.events(&id).await;
    assert!(
        events
            .iter()
            .any(|(kind, detail)| kind == "error" && detail.contains("login expired")),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, detail)| !detail.contains(TOKEN)),
        "no token in the log"
    );

    // A new QR login brings it back on the new token, from a fresh cursor.
    w.fake.script_login(&[LoginStep::Confirmed]);
    let (admin, p) = (&w.gateway.admin, &w.org.principal);
    let started = admin
        .start_login(p, id.as_str(), LoginRequest::default())
        .await
        .unwrap();
    assert!(started.qrcode_svg.is_some());
    let done = admin.poll_login(p, id.as_str()).await.unwrap();
    assert_eq!(done.status, imgate_core::ports::LoginStatus::Confirmed);
    let again = w.fake.push_text(USER, "back again");
    w.answered(again, "You said: back again").await;
    let status = store.get_status(&id).await.unwrap().unwrap();
    assert_eq!((status.state, status.reason), (ConnectionState::Connected, None));
}

async fn a_second_relay_takes_over_without_loss_or_doubles(deps: Deps) {
    let w = world(deps).await;
    w.bot(None).await;
    let (queue, _) = w.queue();
    let first_relay = w.relay(queue.clone(), "relay-a");
    let first = w.fake.push_text(USER, "one");
    w.answered(first, "You said: one").await;
    eventually("a poll in progress", WAIT, || async { w.fake.polling().0 == 1 }).await;
    // Stopped mid-poll; messages arrive before the second relay is there.
    let _ = first_relay.send(true);
    let second = w.fake.push_text(USER, "two");
    let third = w.fake.push_text(USER, "three");
    let _second_relay = w.relay(queue, "relay-b");
    w.answered(second, "You said: two").await;
    w.answered(third, "You said: three").await;
    eventually("all confirmed", WAIT, || async { w.fake.confirmed() == 3 }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in [first, second, third] {
        assert_eq!(w.fake.answer_to(id).len(), 1, "message {id} answered once");
    }
    assert_eq!(w.fake.polling().1, 1, "never two pollers at once");
}

async fn a_refused_send_is_not_hammered_and_the_rest_goes_merged(deps: Deps) {
    let w = world(deps).await;
    let id = w.bot(None).await;
    let (queue, _) = w.queue();
    let _relay = w.relay(queue, "relay-w");
    // Four blocks of 1,200 characters; the three not delivered fit one long block.
    let paragraph = "段落".repeat(600);
    let text = [paragraph.as_str(); 4].join("\n\n");
    // The first block goes through, the second is refused.
    w.fake.penalize(1, 1);
    let message = w.fake.push_text(USER, &text);
    let answer = w.answered(message, &format!("You said: {text}")).await;
    assert_eq!(answer.len(), 2, "the first block, then the rest merged into one");
    assert_eq!(w.fake.refused(), 1);
    assert_eq!(w.fake.calls_of("sendmessage").len(), 3, "one refused send, one retry");
    let (w, integration) = (&w, &id);
    eventually("the merged block in the event log", WAIT, || async move {
        w.events(integration)
            .await
            .iter()
            .any(|(_, detail)| detail.contains("merged"))
    })
    .await;
    let events = w.events(&id).await;
    assert!(
        events
            .iter()
            .any(|(kind, detail)| kind == "retrying" && detail.contains("ret -2")),
        "{events:?}"
    );

    // Refused again after the back-off: given up, said in the event log, nothing more sent.
    w.fake.penalize(1, 2);
    let second = w.fake.push_text(USER, &text);
    eventually("the merged block refused too", WAIT, || async move {
        w.events(integration)
            .await
            .iter()
            .any(|(kind, detail)| kind == "error" && detail.contains("merged block too"))
    })
    .await;
    let sends = w.fake.calls_of("sendmessage").len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(w.fake.calls_of("sendmessage").len(), sends, "no more tries");
    assert_eq!(sends, 6, "one block, one refusal, one refused merged retry");
    assert_eq!(w.fake.answer_to(second).len(), 1);
}

/// Logs in through the admin API's QR flow against the fake: the code is shown, scanned on a
/// redirected host, a wrong number refused and the right one accepted, then confirmed; the
/// relay, which waited with `login_expired`, polls with the new token and answers.
async fn a_qr_login_through_the_admin_api_starts_the_bot(deps: Deps) {
    let fake = FakeWechat::start(None).await;
    let endpoints = imgate_channels::Endpoints {
        wechat: imgate_channels::wechat::Endpoints::at(&fake.base),
        ..imgate_channels::Endpoints::default()
    };
    let gateway = Gateway::start_with(deps.clone(), 2, true, &endpoints).await;
    let admin = &gateway.admin;
    let boot = admin
        .authenticate(Some(imgate_tests::gateway::BOOTSTRAP))
        .await
        .unwrap();
    let org = admin.create_org(&boot, "wx-org").await.unwrap();
    let key = org.api_key.token.clone();
    let p = admin.authenticate(Some(&key)).await.unwrap();
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value(
                json!({"name": "wx", "platform": "wechat", "mode": "long_connection", "credentials": {}}),
            )
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
    admin
        .publish_trigger(
            &p,
            &integration.id,
            serde_json::from_value(json!({"agentId": agent.id})).unwrap(),
        )
        .await
        .unwrap();
    let id: IntegrationId = integration.id.parse().unwrap();
    let poller = Arc::new(Poller::new(
        Client::new(reqwest::Client::new()),
        deps.store.clone(),
        fake.base.clone(),
    ));
    let _relay = start_relay(
        &deps,
        deps.queue.clone(),
        Platform::Wechat,
        poller,
        fast_relay("relay-w"),
    );
    let store = deps.store.clone();
    eventually("waiting for a login", WAIT, || async {
        store
            .get_status(&id)
            .await
            .unwrap()
            .is_some_and(|s| s.reason == Some(StatusReason::LoginExpired))
    })
    .await;

    let http = reqwest::Client::new();
    let url = format!("{}/api/admin/v1/integrations/{id}/login", gateway.base);
    let call = |post: Option<serde_json::Value>| {
        let request = match post {
            Some(body) if body.is_null() => http.post(&url),
            Some(body) => http.post(&url).json(&body),
            None => http.get(&url),
        };
        let key = key.clone();
        async move {
            let response = request.bearer_auth(key).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    fake.script_login(&[
        LoginStep::Wait,
        LoginStep::Redirect,
        LoginStep::NeedVerifyCode("4321".into()),
        LoginStep::Confirmed,
    ]);
    let (status, started) = call(Some(serde_json::Value::Null)).await;
    assert_eq!(status, 200, "{}", started["error"]);
    assert_eq!(started["status"], "wait");
    assert!(started["qrcodeSvg"].as_str().unwrap().contains("<svg"));
    assert!(
        started["qrcodeUrl"]
            .as_str()
            .unwrap()
            .starts_with("https://liteapp.weixin.qq.com/q/")
    );
    assert_eq!(call(None).await.1["status"], "wait");
    assert_eq!(call(None).await.1["status"], "scanned", "redirected");
    let asked = call(None).await.1;
    assert_eq!(asked["status"], "need_verifycode");
    let wrong = call(Some(json!({"verifyCode": "0000"}))).await.1;
    assert_eq!(wrong["status"], "need_verifycode");
    assert!(wrong["message"].as_str().unwrap().contains("wrong"), "{wrong}");
    let (status, bad) = call(Some(json!({"verifyCode": "12 34"}))).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(call(Some(json!({"verifyCode": "4321"}))).await.1["status"], "scanned");
    let (status, done) = call(None).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("confirmed")), "{done}");
    let token = fake.token().unwrap();
    assert!(!done.to_string().contains(&token), "the answer never shows the token");
    let polls = fake.status_polls();
    assert!(
        polls.iter().skip(2).all(|(host, _)| *host == fake.redirect_host),
        "after the redirect the login polls the new host: {polls:?}"
    );
    let shown = admin.get_integration(&p, id.as_str()).await.unwrap();
    assert_eq!(shown.credentials["bot_token"], "***");
    assert_eq!(shown.credentials["bot_id"], imgate_tests::fake_wechat::BOT_ID);

    // The relay restarts with the new token and answers.
    let message = fake.push_text(USER, "logged in?");
    eventually("the answer", WAIT, || async {
        fake.answer_to(message).concat() == "You said: logged in?"
    })
    .await;
    let status = store.get_status(&id).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Connected);

    // A code that expires is replaced by POSTing again; an attempt gives three codes at most.
    fake.script_login(&[LoginStep::Expired]);
    assert_eq!(call(Some(serde_json::Value::Null)).await.0, 200);
    assert_eq!(call(None).await.1["status"], "expired");
    assert_eq!(call(None).await.1["status"], "expired", "no login in progress");
    assert_eq!(call(Some(serde_json::Value::Null)).await.0, 200);
    assert_eq!(call(Some(serde_json::Value::Null)).await.0, 200);
    let (status, refused) = call(Some(serde_json::Value::Null)).await;
    assert_eq!(status, 409, "a fourth code in one attempt: {}", refused["error"]);
    assert_eq!(fake.tokens_issued(), 1);
    // Platforms without a QR login say so.
    let telegram = admin
        .create_integration(
            &p,
            serde_json::from_value(json!({"name": "tg", "platform": "telegram", "mode": "long_connection",
                "credentials": {"bot_token": "1:x"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let response = http
        .post(format!(
            "{}/api/admin/v1/integrations/{}/login",
            gateway.base, telegram.id
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

imgate_tests::on_both_backends!(
    a_text_is_answered_with_typing_and_the_cursor_moves,
    a_long_answer_arrives_whole_within_the_budget,
    a_message_served_three_times_is_answered_once,
    a_queue_outage_keeps_the_cursor_and_answers_once_after,
    an_expired_session_stops_polling_with_login_expired,
    a_second_relay_takes_over_without_loss_or_doubles,
    a_refused_send_is_not_hammered_and_the_rest_goes_merged,
    a_qr_login_through_the_admin_api_starts_the_bot,
);
