//! `imgate relay` and `imgate health` as the ECS container runs them: the real binary on the
//! AWS backend (moto's DynamoDB, SQS and KMS), a fake WeCom long-connection server, and a
//! dispatcher in this process standing in for the Lambda function.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use imgate_aws::{AwsSettings, create_delay_queue_with_dlq, create_fifo_queue_with_dlq, create_table, deps_with};
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::dispatch::{DispatchSettings, Dispatcher};
use imgate_core::ids::IntegrationId;
use imgate_core::integration::ConnectionState;
use imgate_core::ports::Deps;
use imgate_core::{ConnectionMode, Timestamp};
use imgate_tests::fake_wecom_long::FakeWecom;
use imgate_tests::moto::{MotoServer, unique_name};
use serde_json::json;
use tokio::sync::watch;

const BOT: &str = "RELAY-BOT";
const SECRET: &str = "relay-bot-secret";

fn imgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_imgate"))
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_names_the_commands_and_the_relay_settings() {
    let out = imgate().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["serve", "relay", "health", "simulate"] {
        assert!(text.contains(command), "{command} in {text}");
    }
    let out = imgate().args(["relay", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for setting in [
        "IMGATE_RELAY_LISTEN",
        "0.0.0.0:8081",
        "IMGATE_RELAY_OWNER",
        "IMGATE_WECOM_WS_URL",
        "IMGATE_DINGTALK_API_BASE",
        "IMGATE_LOG_FORMAT",
    ] {
        assert!(text.contains(setting), "{setting} in {text}");
    }
    let out = imgate().args(["health", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("http://127.0.0.1:8081/healthz"));
}

#[test]
fn relay_without_its_backend_settings_says_which_is_missing() {
    let mut command = imgate();
    command.arg("relay").env("IMGATE_RELAY_LISTEN", "127.0.0.1:0");
    for var in [
        "IMGATE_TABLE",
        "IMGATE_QUEUE_URL",
        "IMGATE_DLQ_URL",
        "IMGATE_DELAY_QUEUE_URL",
        "IMGATE_KMS_KEY_ID",
    ] {
        command.env_remove(var);
    }
    let out = command.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IMGATE_TABLE"));

    let out = imgate()
        .args(["relay", "--wecom-ws-url", "http://not-a-websocket"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IMGATE_WECOM_WS_URL"));
}

/// A tiny server answering `GET /healthz` with `status`.
async fn tiny_server(status: u16) -> String {
    let app = axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || async move { axum::http::StatusCode::from_u16(status).unwrap() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn health(url: &str) -> ExitStatus {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args(["health", "--url", url])
        .status()
        .await
        .unwrap()
}

#[tokio::test]
async fn health_exits_zero_only_for_a_200() {
    assert!(health(&tiny_server(200).await).await.success());
    assert!(!health(&tiny_server(503).await).await.success());
    assert!(!health(&tiny_server(404).await).await.success());
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/healthz", listener.local_addr().unwrap())
    };
    assert!(!health(&closed).await.success(), "nothing listening");
}

/// The AWS resources on moto and the settings the relay reads from its environment.
async fn aws_backend() -> (Deps, AwsSettings) {
    let config = MotoServer::shared().sdk_config();
    let table = unique_name("relay");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let name = unique_name("relay");
    let (queue_url, dead_letter_queue_url) = create_fifo_queue_with_dlq(&sqs, &name, 3).await.unwrap();
    let (delay_queue_url, delay_dead_letter_queue_url) = create_delay_queue_with_dlq(&sqs, &name, 3).await.unwrap();
    let key = aws_sdk_kms::Client::new(&config).create_key().send().await.unwrap();
    let settings = AwsSettings {
        table,
        queue_url,
        dead_letter_queue_url,
        delay_queue_url,
        delay_dead_letter_queue_url: Some(delay_dead_letter_queue_url),
        kms_key_id: key.key_metadata().unwrap().key_id().to_owned(),
    };
    (deps_with(&config, &settings).await, settings)
}

/// A WeCom long-connection bot bound to the echo agent.
async fn bound_bot(deps: &Deps) -> IntegrationId {
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "https://gw.example.com".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash("relay-test-bootstrap")),
        },
    );
    let boot = admin.authenticate(Some("relay-test-bootstrap")).await.unwrap();
    let org = admin.create_org(&boot, "acme").await.unwrap();
    let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let agent = admin
        .create_agent(
            &p,
            serde_json::from_value::<CreateAgent>(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                "mode": "long_connection", "credentials": {"bot_id": BOT, "secret": SECRET}}))
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(integration.mode, ConnectionMode::LongConnection);
    admin
        .publish_trigger(
            &p,
            &integration.id,
            serde_json::from_value::<PublishTrigger>(json!({"agentId": agent.id})).unwrap(),
        )
        .await
        .unwrap();
    integration.id.parse().unwrap()
}

/// Starts `imgate relay` and returns it with its health URL (read from its first line).
fn start_relay(settings: &AwsSettings, wecom_url: &str) -> (Running, String) {
    start_relay_with(settings, wecom_url, &[])
}

/// [`start_relay`] with more environment variables.
fn start_relay_with(settings: &AwsSettings, wecom_url: &str, env: &[(&str, &str)]) -> (Running, String) {
    let mut command = imgate();
    command.envs(env.iter().copied());
    command
        .arg("relay")
        .env("IMGATE_RELAY_LISTEN", "127.0.0.1:0")
        .env("IMGATE_RELAY_OWNER", "relay-under-test")
        .env("IMGATE_WECOM_WS_URL", wecom_url)
        .env("IMGATE_LOG_FORMAT", "json")
        .env("IMGATE_TABLE", &settings.table)
        .env("IMGATE_QUEUE_URL", &settings.queue_url)
        .env("IMGATE_DLQ_URL", &settings.dead_letter_queue_url)
        .env("IMGATE_DELAY_QUEUE_URL", &settings.delay_queue_url)
        .env("IMGATE_KMS_KEY_ID", &settings.kms_key_id)
        .env("AWS_ENDPOINT_URL", MotoServer::shared().endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Running(command.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the relay printed its address");
        if let Some((_, rest)) = line.split_once("(health: ") {
            return (child, rest.trim_end_matches(')').to_owned());
        }
    }
}

/// Polls `check` until it holds, for up to 30 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    imgate_tests::world::eventually(what, Duration::from_secs(30), check).await;
}

#[tokio::test]
async fn the_relay_holds_the_bot_on_aws_answers_through_the_queue_and_stops_on_sigterm() {
    let (deps, settings) = aws_backend().await;
    let bot = bound_bot(&deps).await;
    let fake = FakeWecom::start().await;
    fake.add_bot(BOT, SECRET);

    // The dispatcher function's part, in this process, on the same queue and table.
    let http = reqwest::Client::new();
    let dispatcher = Dispatcher::new(
        &deps,
        Arc::new(imgate_agents::Agents::new(http.clone())),
        imgate_channels::Channels::new(&deps, &http, &imgate_channels::Endpoints::default()).repliers(),
        DispatchSettings::default(),
    );
    let (stop_worker, worker_stopped) = watch::channel(false);
    let worker = tokio::spawn(imgate_core::dispatch::worker::run(
        deps.queue.clone(),
        dispatcher,
        worker_stopped,
    ));

    let (mut relay, health_url) = start_relay(&settings, &fake.url);
    eventually("the relay's subscribe", || async { fake.subscribes(BOT) == 1 }).await;
    eventually("a connected status", || async {
        deps.store
            .get_status(&bot)
            .await
            .unwrap()
            .is_some_and(|s| s.state == ConnectionState::Connected)
    })
    .await;
    let status = deps.store.get_status(&bot).await.unwrap().unwrap();
    assert_eq!(status.owner.as_deref(), Some("relay-under-test"));
    assert!(health(&health_url).await.success(), "healthy while running");

    fake.push_text(BOT, "AWS-MSG-1", "zhangsan", "hello over the relay")
        .unwrap();
    eventually("the echo answer", || async {
        fake.replies(BOT).iter().any(|s| {
            s.frame["body"]["stream"]["finish"] == true
                && s.frame["body"]["stream"]["content"] == "You said: hello over the relay"
        })
    })
    .await;
    assert!(fake.violations().is_empty());

    // SIGTERM: connections closed, leases released, status written, exit 0 within 10 s.
    let pid = relay.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = relay.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the relay exits within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert_eq!(deps.store.get_lease(&bot, Timestamp::now()).await.unwrap(), None);
    let status = deps.store.get_status(&bot).await.unwrap().unwrap();
    assert_eq!(status.state, ConnectionState::Stopped);
    eventually("the connection closed", || async { fake.open_connections() == 0 }).await;
    assert!(!health(&health_url).await.success(), "nothing answers after the exit");
    let _ = stop_worker.send(true);
    worker.await.unwrap();
}

/// Sends `text` from a WeCom user over the fake's long connection and waits for the relay's
/// finished echo answer.
async fn answered(fake: &FakeWecom, msgid: &str, text: &str) {
    fake.push_text(BOT, msgid, "zhangsan", text).unwrap();
    let expected = format!("You said: {text}");
    eventually("the echo answer", || async {
        fake.replies(BOT).iter().any(|s| {
            s.frame["body"]["stream"]["finish"] == true && s.frame["body"]["stream"]["content"] == expected.as_str()
        })
    })
    .await;
}

#[tokio::test]
async fn with_the_dispatcher_placed_in_the_relay_no_dispatcher_function_is_needed() {
    let (deps, settings) = aws_backend().await;
    let bot = bound_bot(&deps).await;
    let fake = FakeWecom::start().await;
    fake.add_bot(BOT, SECRET);
    // No dispatcher function and no worker in this process: only the relay reads the queue.
    let (mut relay, _) = start_relay_with(
        &settings,
        &fake.url,
        &[("IMGATE_DISPATCHER_PLACEMENT", "relay"), ("IMGATE_MAX_RECEIVES", "3")],
    );
    eventually("the relay's subscribe", || async { fake.subscribes(BOT) == 1 }).await;
    answered(&fake, "PLACED-1", "hello, relay-placed dispatcher").await;
    answered(&fake, "PLACED-2", "and once more").await;
    let finished = |text: &str| {
        let expected = format!("You said: {text}");
        fake.replies(BOT)
            .iter()
            .filter(|s| {
                s.frame["body"]["stream"]["finish"] == true && s.frame["body"]["stream"]["content"] == expected.as_str()
            })
            .count()
    };
    assert_eq!(finished("hello, relay-placed dispatcher"), 1, "answered once");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let events = deps.store.recent_events(&bot, 50, Timestamp::now()).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.kind == "replied").count(),
        2,
        "both answered: {events:?}"
    );

    // SIGTERM: the worker and the connections stop, exit 0.
    let pid = relay.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = relay.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the relay exits after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn with_the_dispatcher_in_lambda_the_relay_leaves_the_queue_alone() {
    let (deps, settings) = aws_backend().await;
    let bot = bound_bot(&deps).await;
    let fake = FakeWecom::start().await;
    fake.add_bot(BOT, SECRET);
    let (_relay, _) = start_relay(&settings, &fake.url);
    eventually("the relay's subscribe", || async { fake.subscribes(BOT) == 1 }).await;
    fake.push_text(BOT, "LEFT-1", "zhangsan", "for the dispatcher function")
        .unwrap();
    eventually("the message enqueued", || async {
        deps.store
            .recent_events(&bot, 10, Timestamp::now())
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == "enqueued")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        fake.replies(BOT)
            .iter()
            .all(|s| s.frame["body"]["stream"]["finish"] != true),
        "nothing answered it"
    );
    // The message is still there for the dispatcher function.
    let waiting = deps.queue.receive(10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(waiting.len(), 1, "the queued message was not taken");
    assert!(waiting[0].body.contains("LEFT-1"));
}
