//! WeCom smart bot in callback mode, end to end: signed, encrypted callbacks → webhook →
//! queue → dispatcher → a streaming OpenAI-compatible agent → stream buffer → WeCom's refresh
//! callbacks. Run on the embedded store and on DynamoDB/SQS (moto).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imgate_channels::wecom::Crypto;
use imgate_channels::wecom::reply::payload;
use imgate_channels::wecom::simulate::{SignedCallback, Simulator, StreamFrame};
use imgate_core::admin::{CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::ports::Deps;
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::gateway::{BOOTSTRAP, Gateway};
use serde_json::{Value, json};

const TOKEN: &str = "t0k3nForGatewayTests";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// Receives `response_url` posts.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Value>>>);

impl Sink {
    async fn start(&self) -> String {
        let posts = self.0.clone();
        let app = axum::Router::new().route(
            "/cgi-bin/aibot/response",
            axum::routing::post(move |body: axum::Json<Value>| {
                let posts = posts.clone();
                async move {
                    posts.lock().unwrap().push(body.0);
                    axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }
}

struct World {
    gateway: Gateway,
    agent: FakeAgent,
    sim: Simulator,
    integration: String,
    response_url: String,
    sink: Sink,
    http: reqwest::Client,
}

async fn world(deps: Deps, max_receives: u32, worker: bool) -> World {
    let sink = Sink::default();
    let sink_base = sink.start().await;
    let gateway = Gateway::start(deps, max_receives, worker, &sink_base).await;
    let agent = FakeAgent::start(&["Hello", " from", " the", " agent"]).await;
    let admin = &gateway.admin;
    let boot = admin.authenticate(Some(BOOTSTRAP)).await.unwrap();
    let org = admin.create_org(&boot, "acme").await.unwrap();
    let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value::<CreateIntegration>(
                json!({"name": "bot", "platform": "wecom", "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let agent_view = admin
        .create_agent(
            &p,
            serde_json::from_value::<CreateAgent>(json!({"name": "gpt", "kind": "openai_compatible",
                "config": {"base_url": agent.base_url, "model": "test-model", "api_key": "sk-test", "timeout_seconds": 10}}))
            .unwrap(),
        )
        .await
        .unwrap();
    admin
        .publish_trigger(
            &p,
            &integration.id,
            serde_json::from_value::<PublishTrigger>(json!({"agentId": agent_view.id})).unwrap(),
        )
        .await
        .unwrap();
    World {
        gateway,
        agent,
        sim: Simulator::new(TOKEN, AES_KEY).unwrap(),
        integration: integration.id,
        response_url: format!("{sink_base}/cgi-bin/aibot/response?response_code=abc"),
        sink,
        http: reqwest::Client::new(),
    }
}

impl World {
    fn url(&self) -> String {
        format!("{}/api/wecom/webhook/{}", self.gateway.base, self.integration)
    }

    async fn post(&self, callback: &SignedCallback) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}?{}", self.url(), callback.query))
            .body(callback.body.clone())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Polls refresh callbacks until the stream finishes; returns every frame seen.
    async fn follow(&self, stream_id: &str, limit: Duration) -> Vec<StreamFrame> {
        let started = Instant::now();
        let mut frames = Vec::new();
        while started.elapsed() < limit {
            let (status, body) = self
                .post(&self.sim.refresh(&format!("refresh-{}", frames.len()), stream_id))
                .await;
            assert_eq!(status, 200, "{body}");
            let frame = self.sim.read_stream(&body).unwrap();
            let finished = frame.finished;
            frames.push(frame);
            if finished {
                return frames;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the stream did not finish within {limit:?}: {frames:?}");
    }
}

async fn streamed_reply_delivered_once(deps: Deps) {
    let w = world(deps, 3, true).await;
    let callback = w.sim.text("msg-1", "zhangsan", None, "你好", Some(&w.response_url));
    let (status, body) = w.post(&callback).await;
    assert_eq!(status, 200, "{body}");
    let first = w.sim.read_stream(&body).unwrap();
    assert!(!first.finished);
    assert!(!first.id.is_empty());

    let frames = w.follow(&first.id, Duration::from_secs(20)).await;
    let last = frames.last().unwrap();
    assert_eq!(last.content, "Hello from the agent");
    assert!(last.card.is_none());
    let texts: Vec<&str> = frames
        .iter()
        .map(|f| f.content.as_str())
        .filter(|c| !c.contains("Thinking"))
        .collect();
    assert!(
        texts.windows(2).all(|p| p[1].starts_with(p[0])),
        "contents grow: {texts:?}"
    );
    let request = w.agent.last_request().unwrap();
    assert_eq!(request["model"], "test-model");
    assert_eq!(
        request["messages"].as_array().unwrap().last().unwrap()["content"],
        "你好"
    );

    // WeCom retries the same callback twice more: same stream, no second agent call.
    for _ in 0..2 {
        let (status, body) = w.post(&callback).await;
        assert_eq!(status, 200);
        let frame = w.sim.read_stream(&body).unwrap();
        assert_eq!(frame.id, first.id);
        assert_eq!(frame.content, "Hello from the agent");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.agent.calls(), 1, "one agent call for three deliveries");
    assert!(
        w.sink.0.lock().unwrap().is_empty(),
        "no second message for a short answer"
    );

    // The next message continues the session with its history.
    let (_, body) = w.post(&w.sim.text("msg-2", "zhangsan", None, "again", None)).await;
    let second = w.sim.read_stream(&body).unwrap();
    w.follow(&second.id, Duration::from_secs(20)).await;
    let history = w.agent.last_request().unwrap()["messages"].as_array().unwrap().clone();
    assert_eq!(history.len(), 3, "user, assistant, user: {history:?}");
}

async fn agent_down_gets_an_error_card_and_a_dead_letter(deps: Deps) {
    let w = world(deps, 2, true).await;
    w.agent.set_down(true);
    let (status, body) = w
        .post(&w.sim.text("msg-down", "lisi", None, "hi", Some(&w.response_url)))
        .await;
    assert_eq!(status, 200);
    let first = w.sim.read_stream(&body).unwrap();
    let frames = w.follow(&first.id, Duration::from_secs(30)).await;
    let last = frames.last().unwrap();
    assert!(last.content.contains("Sorry"), "{last:?}");
    let card = last.card.as_ref().expect("a new-conversation card");
    assert!(card.to_string().contains(payload::NEW_SESSION_KEY));
    assert_eq!(w.agent.calls(), 2, "tried max_receives times");

    let started = Instant::now();
    loop {
        let dead = w
            .gateway
            .deps
            .queue
            .receive_dead_letters(10, Duration::from_secs(30))
            .await
            .unwrap();
        if !dead.is_empty() {
            assert!(dead[0].body.contains("msg-down"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the message reaches the dead-letter queue"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn embedded_streamed_reply_delivered_once() {
    streamed_reply_delivered_once(embedded().await).await;
}

#[tokio::test]
async fn embedded_agent_down() {
    agent_down_gets_an_error_card_and_a_dead_letter(embedded().await).await;
}

#[tokio::test]
async fn aws_streamed_reply_delivered_once() {
    streamed_reply_delivered_once(imgate_tests::aws::fresh_deps(3).await.unwrap()).await;
}

#[tokio::test]
async fn aws_agent_down() {
    agent_down_gets_an_error_card_and_a_dead_letter(imgate_tests::aws::fresh_deps(2).await.unwrap()).await;
}

async fn embedded() -> Deps {
    imgate_tests::world::embedded_deps(2).await
}

#[tokio::test]
async fn url_verification_answers_the_bare_echostr() {
    let w = world(embedded().await, 3, false).await;
    let crypto = Crypto::new(TOKEN, AES_KEY, "").unwrap();
    let echostr = crypto.encrypt(b"8345672345678123456");
    let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
    let signature = crypto.signature(&timestamp, "n1", &echostr);
    let encoded: String = echostr
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let url = format!(
        "{}?msg_signature={signature}&timestamp={timestamp}&nonce=n1&echostr={encoded}",
        w.url()
    );
    let r = w.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "8345672345678123456");
    let r = w.http.get(url.replace("nonce=n1", "nonce=n2")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn bad_callbacks_get_clear_errors_and_enqueue_nothing() {
    let w = world(embedded().await, 3, false).await;
    let good = w.sim.text("msg-x", "u", None, "hi", None);
    let tampered = SignedCallback {
        query: good.query.replace("msg_signature=", "msg_signature=0"),
        body: good.body.clone(),
    };
    let stale = w.sim.sign_at(
        &json!({"msgid": "old", "msgtype": "text"}),
        &(imgate_core::Timestamp::now().as_secs() - 3600).to_string(),
    );
    // Correctly signed, absurd timestamps: the window check must not overflow into "fresh".
    let far_past = w
        .sim
        .sign_at(&json!({"msgid": "min", "msgtype": "text"}), &i64::MIN.to_string());
    let far_future = w
        .sim
        .sign_at(&json!({"msgid": "max", "msgtype": "text"}), &i64::MAX.to_string());
    let crypto = Crypto::new(TOKEN, AES_KEY, "").unwrap();
    let signed_raw = |encrypt: &str| {
        let ts = imgate_core::Timestamp::now().as_secs().to_string();
        let sig = crypto.signature(&ts, "nn", encrypt);
        SignedCallback {
            query: format!("msg_signature={sig}&timestamp={ts}&nonce=nn"),
            body: json!({"encrypt": encrypt}).to_string(),
        }
    };
    let broken_base64 = signed_raw("!!!not base64!!!");
    let broken_inner_json = signed_raw(&crypto.encrypt(b"{not json"));
    let wrong_key = {
        let other = Simulator::new(TOKEN, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut").unwrap();
        other.text("msg-y", "u", None, "hi", None)
    };
    let cases: Vec<(&str, SignedCallback, u16)> = vec![
        ("bad signature", tampered, 401),
        ("stale timestamp", stale, 401),
        ("timestamp i64::MIN", far_past, 401),
        ("timestamp i64::MAX", far_future, 401),
        ("broken base64", broken_base64, 400),
        ("broken JSON inside", broken_inner_json, 400),
        ("wrong AES key (signature still ours)", wrong_key, 400),
        (
            "broken outer JSON",
            SignedCallback {
                query: good.query.clone(),
                body: "{".into(),
            },
            400,
        ),
        (
            "missing parameters",
            SignedCallback {
                query: String::new(),
                body: good.body.clone(),
            },
            400,
        ),
    ];
    for (name, callback, status) in cases {
        let (got, body) = w.post(&callback).await;
        assert_eq!(got, status, "{name}: {body}");
        assert!(body.contains("\"error\""), "{name}: {body}");
    }
    // Wrong receiveid: a self-built app callback encrypted for another corp.
    let app_status = {
        let admin = &w.gateway.admin;
        let boot = admin.authenticate(Some(BOOTSTRAP)).await.unwrap();
        let org = admin.create_org(&boot, "app").await.unwrap();
        let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
        let app = admin
            .create_integration(
                &p,
                serde_json::from_value::<CreateIntegration>(json!({"name": "app", "platform": "wecom",
                "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY, "corp_id": "ww-right"}}))
                .unwrap(),
            )
            .await
            .unwrap();
        let other_corp = Crypto::new(TOKEN, AES_KEY, "ww-wrong").unwrap();
        let xml = "<xml><ToUserName><![CDATA[ww-wrong]]></ToUserName><FromUserName><![CDATA[u]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>1</MsgId><AgentID>1</AgentID></xml>";
        let encrypt = other_corp.encrypt(xml.as_bytes());
        let ts = imgate_core::Timestamp::now().as_secs().to_string();
        let sig = other_corp.signature(&ts, "n", &encrypt);
        let body = format!(
            "<xml><ToUserName><![CDATA[ww-wrong]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>"
        );
        let url = format!(
            "{}/api/wecom/webhook/{}?msg_signature={sig}&timestamp={ts}&nonce=n",
            w.gateway.base, app.id
        );
        w.http.post(url).body(body).send().await.unwrap().status().as_u16()
    };
    assert_eq!(app_status, 400, "wrong receiveid");
    // Unknown integration, malformed id, oversized body.
    for (url, status) in [
        (
            format!(
                "{}/api/wecom/webhook/int_00000000000000000000000000000000?{}",
                w.gateway.base, good.query
            ),
            404,
        ),
        (format!("{}/api/wecom/webhook/nope?{}", w.gateway.base, good.query), 404),
    ] {
        let r = w.http.post(url).body(good.body.clone()).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
    let huge = format!("{{\"encrypt\":\"{}\"}}", "A".repeat(imgate_http::BODY_LIMIT_BYTES + 10));
    let r = w
        .http
        .post(format!("{}?{}", w.url(), good.query))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    // A flood of forged callbacks: every one is refused, the event log keeps one line a minute.
    let forged = SignedCallback {
        query: good.query.replace("msg_signature=", "msg_signature=f"),
        body: good.body.clone(),
    };
    for _ in 0..40 {
        assert_eq!(w.post(&forged).await.0, 401);
    }
    let integration = w.integration.parse().unwrap();
    let events = w
        .gateway
        .deps
        .store
        .recent_events(&integration, 500, imgate_core::Timestamp::now())
        .await
        .unwrap();
    let signature_rows = events
        .iter()
        .filter(|e| e.kind == "rejected" && e.detail.contains("signature"))
        .count();
    assert_eq!(signature_rows, 1, "one row for many forged callbacks: {events:?}");

    let queued = w.gateway.deps.queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert!(queued.is_empty(), "nothing was enqueued: {queued:?}");
    assert_eq!(w.agent.calls(), 0);
}

#[tokio::test]
async fn a_disabled_integration_refuses_callbacks() {
    let w = world(embedded().await, 3, false).await;
    let record = w
        .gateway
        .deps
        .store
        .get_integration(&w.integration.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let disabled = imgate_core::integration::IntegrationRecord {
        enabled: false,
        version: record.version + 1,
        ..record
    };
    w.gateway.deps.store.update_integration(&disabled).await.unwrap();
    let (status, _) = w.post(&w.sim.text("m", "u", None, "hi", None)).await;
    assert_eq!(status, 403);
    assert!(
        w.gateway
            .deps
            .queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Collects everything a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything this test process logs, from the first call on.
///
/// The subscriber must be the global one: with one thread-local subscriber, `tracing` caches a
/// log line's interest from whichever test thread reaches that line first, so a line first
/// reached by another test (with no subscriber) would never be captured here.
fn captured_logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    })
}

/// The webhook and dispatcher paths log what happened, never the credentials, the agent's API
/// key, the message text or the answer (checked over every test's logs from here on).
#[tokio::test]
async fn webhook_and_dispatcher_logs_carry_no_secrets_or_content() {
    let logs = captured_logs();
    let w = world(embedded().await, 3, true).await;
    let (status, body) = w
        .post(&w.sim.text(
            "msg-secret",
            "zhangsan",
            None,
            "my private question",
            Some(&w.response_url),
        ))
        .await;
    assert_eq!(status, 200);
    let first = w.sim.read_stream(&body).unwrap();
    w.follow(&first.id, Duration::from_secs(20)).await;
    let (status, _) = w
        .post(&SignedCallback {
            query: "msg_signature=00&timestamp=1&nonce=n".into(),
            body: "{}".into(),
        })
        .await;
    assert_eq!(status, 401, "a stale, unsigned callback is refused and logged");

    // The answer is shown before it is marked answered (the mark's log line comes right
    // after), so on a busy machine the line may trail the visible answer a little.
    let read = || String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let replied = |logged: &str| {
        logged
            .lines()
            .any(|line| line.contains(&w.integration) && line.contains("kind=\"replied\""))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !replied(&read()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logged = read();
    assert!(logged.contains("event enqueued"), "the pipeline was logged: {logged}");
    assert!(replied(&logged), "the dispatcher's answer was logged: {logged}");
    for secret in [
        TOKEN,
        AES_KEY,
        "sk-test",
        "my private question",
        "Hello from the agent",
        "response_code=abc",
    ] {
        assert!(!logged.contains(secret), "a log line contained {secret}");
    }
}
