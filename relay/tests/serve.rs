//! `imgate serve` as a user runs it: the real binary, a fresh directory, real HTTP.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    bootstrap: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `imgate serve` in `dir` on a free port and reads its first lines of output.
fn start(dir: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_imgate"));
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("IMGATE_BOOTSTRAP_KEY")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        command.env(k, v);
    }
    let mut server = Server {
        child: command.spawn().unwrap(),
        base: String::new(),
        bootstrap: None,
    };
    let stdout = server.child.stdout.take().unwrap();
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
            .expect("imgate serve printed its address");
        if let Some(key) = line.trim().strip_prefix("imgate-bootstrap-") {
            server.bootstrap = Some(format!("imgate-bootstrap-{key}"));
        }
        if let Some(rest) = line.strip_prefix("imgate is listening on ") {
            server.base = rest.split_whitespace().next().unwrap().to_owned();
            return server;
        }
    }
}

async fn create_org(client: &reqwest::Client, server: &Server, key: &str) -> reqwest::Response {
    client
        .post(format!("{}/api/admin/v1/organizations", server.base))
        .bearer_auth(key)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn first_start_creates_everything_and_restarts_keep_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let first = start(dir.path(), &[]);
    let bootstrap = first.bootstrap.clone().expect("the first start prints a bootstrap key");
    let mode = std::fs::metadata(dir.path().join("imgate.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key file is private");
    assert!(dir.path().join("imgate.db").exists());
    let health = client.get(format!("{}/healthz", first.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let r = create_org(&client, &first, &bootstrap).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let org_key = created["apiKey"]["token"].as_str().unwrap().to_owned();
    let body = json!({"name": "bot", "platform": "wecom",
        "credentials": {"token": "t0ken-secret", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}});
    let r = client
        .post(format!("{}/api/admin/v1/integrations", first.base))
        .bearer_auth(&org_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    drop(first);

    // Restart: no new key is printed, the old one still works, data and secrets survive.
    let second = start(dir.path(), &[]);
    assert_eq!(second.bootstrap, None, "the bootstrap key is printed only once");
    assert_eq!(create_org(&client, &second, &bootstrap).await.status(), 201);
    let r = client
        .get(format!("{}/api/admin/v1/integrations", second.base))
        .bearer_auth(&org_key)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["credentials"]["token"], "***");
    assert!(list[0]["callbackUrl"].as_str().unwrap().starts_with(&second.base));
    drop(second);

    // A configured bootstrap key replaces the generated one.
    let configured = "configured-bootstrap-key-123";
    let third = start(dir.path(), &[("IMGATE_BOOTSTRAP_KEY", configured)]);
    assert_eq!(create_org(&client, &third, configured).await.status(), 201);
    assert_eq!(create_org(&client, &third, &bootstrap).await.status(), 401);
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_imgate"));
        c.arg("serve")
            .args(args)
            .current_dir(dir.path())
            .env_remove("IMGATE_BOOTSTRAP_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&["--listen", "not-an-address"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
    let out = run(&["--listen", "127.0.0.1:0", "--public-base-url", "ftp://x"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("public-base-url"));
    let out = run(&["--listen", "127.0.0.1:0"], &[("IMGATE_BOOTSTRAP_KEY", "short")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("at least 16"), "{stderr}");
    assert!(!stderr.contains("short\""), "the key is not echoed");
    // A key file others can read is refused.
    std::fs::write(dir.path().join("imgate.key"), "00".repeat(32)).unwrap();
    std::fs::set_permissions(dir.path().join("imgate.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&["--listen", "127.0.0.1:0"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("imgate.key"), "{stderr}");
}

/// An organization on a running server, with its API key.
struct Org {
    client: reqwest::Client,
    api: String,
    key: String,
}

impl Org {
    async fn create(server: &Server) -> Self {
        let client = reqwest::Client::new();
        let bootstrap = server.bootstrap.clone().unwrap();
        let org: Value = create_org(&client, server, &bootstrap).await.json().await.unwrap();
        Self {
            api: format!("{}/api/admin/v1", server.base),
            key: org["apiKey"]["token"].as_str().unwrap().to_owned(),
            client,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}{path}", self.api))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.api))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap()
    }

    /// Creates the integration and an echo agent, publishes a trigger binding them, and returns
    /// the integration's id. Secrets come back masked.
    async fn bot_bound_to_echo(&self, integration: Value) -> String {
        let integration = self.post("/integrations", integration).await;
        assert!(
            integration["credentials"]
                .as_object()
                .unwrap()
                .values()
                .any(|v| v == "***")
        );
        let id = integration["id"].as_str().unwrap().to_owned();
        let agent = self.post("/agents", json!({"name": "Echo", "kind": "echo"})).await;
        let r = self
            .client
            .put(format!("{}/triggers/{id}", self.api))
            .bearer_auth(&self.key)
            .json(&json!({"agentId": agent["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        id
    }
}

/// The README quick start: serve, create an organization, an echo agent, a WeCom integration and
/// a trigger, then `imgate simulate wecom` prints the agent's streamed reply.
#[tokio::test]
async fn quick_start_simulated_wecom_message_is_answered_by_echo() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let org = Org::create(&server).await;
    let integration_id = org
        .bot_bound_to_echo(json!({"name": "Support bot", "platform": "wecom", "mode": "webhook",
            "credentials": {"token": "my-callback-token", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}))
        .await;

    simulate_wecom(&server, dir.path(), &integration_id, "hello from WeCom").await;

    // The status view now shows the message's way through the gateway.
    let status = org.get(&format!("/integrations/{integration_id}/status")).await;
    let kinds: Vec<&str> = status["recentEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in ["received", "enqueued", "replied"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }

    // Without credentials or a database, simulate says what to do.
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args([
            "simulate",
            "wecom",
            "--integration",
            &integration_id,
            "--text",
            "x",
            "--gateway",
            &server.base,
        ])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--encoding-aes-key"));
}

/// The Telegram quick start: serve pointed at the simulator's stand-in Bot API, a Telegram
/// integration bound to echo, then `imgate simulate telegram` prints the streamed answer.
#[tokio::test]
async fn simulated_telegram_message_is_answered_by_echo() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("IMGATE_TELEGRAM_API_BASE", &format!("http://{api}"))]);
    let org = Org::create(&server).await;
    let integration_id = org
        .bot_bound_to_echo(
            json!({"name": "Telegram bot", "platform": "telegram", "mode": "webhook",
            "credentials": {"bot_token": "123:simulated-token", "secret_token": "simulated-secret"}}),
        )
        .await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args([
            "simulate",
            "telegram",
            "--integration",
            &integration_id,
            "--text",
            "hello <Telegram> & co",
        ])
        .args(["--gateway", &server.base, "--api-listen", &api])
        .current_dir(dir.path())
        .env_remove("IMGATE_BOOTSTRAP_KEY")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "simulate failed: {stdout}\n{stderr}");
    assert!(stdout.contains("← You said: hello <Telegram> & co"), "{stdout}");
    assert!(stdout.contains("(typing)"), "{stdout}");

    // A wrong secret token is refused before anything is queued.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args(["simulate", "telegram", "--integration", &integration_id, "--text", "x"])
        .args([
            "--gateway",
            &server.base,
            "--api-listen",
            &api,
            "--secret-token",
            "wrong",
        ])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `imgate serve` itself, pointed at the fake Bot API and the fake Discord: a Telegram bot on
/// long polling, a Discord bot on the gateway and a Discord `/ask` at the interactions endpoint
/// all answer through the echo agent, and the status shows the connections.
#[tokio::test]
async fn telegram_polling_and_discord_gateway_bots_answer_in_imgate_serve() {
    use imgate_tests::fake_discord::{APP_PUBLIC_KEY, FakeDiscord, sign_interaction};
    use imgate_tests::fake_telegram::FakeTelegram;

    let telegram = FakeTelegram::start("42:serve-telegram-token").await;
    let discord = FakeDiscord::start("serve-discord-token").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            ("IMGATE_TELEGRAM_API_BASE", &telegram.base),
            ("IMGATE_DISCORD_API_BASE", &discord.base),
        ],
    );
    let org = Org::create(&server).await;
    let telegram_bot = org
        .bot_bound_to_echo(json!({"name": "tg", "platform": "telegram", "mode": "long_connection",
            "credentials": {"bot_token": "42:serve-telegram-token"}}))
        .await;
    let discord_bot = org
        .bot_bound_to_echo(json!({"name": "dc", "platform": "discord", "mode": "long_connection",
            "credentials": {"application_id": "app-1", "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "bot_token": "serve-discord-token"}}))
        .await;

    let update = telegram.push_update(telegram.text_update(5150, 5150, "hi from Telegram"));
    let message_id = update["message"]["message_id"].as_i64().unwrap();
    let telegram_answered = || {
        telegram
            .messages()
            .iter()
            .any(|m| m.reply_to == Some(message_id) && m.text == "You said: hi from Telegram")
    };
    for _ in 0..300 {
        if telegram_answered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(telegram_answered(), "{:?}", telegram.messages());

    let asked = discord.user_message("dm-serve", None, "hi from Discord", false);
    let discord_answered = || {
        discord
            .messages()
            .iter()
            .any(|m| m.reply_to.as_deref() == Some(asked.as_str()) && m.content == "You said: hi from Discord")
    };
    for _ in 0..300 {
        if discord_answered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(discord_answered(), "{:?}", discord.messages());

    for bot in [&telegram_bot, &discord_bot] {
        let status = org.get(&format!("/integrations/{bot}/status")).await;
        assert_eq!(status["runtime"]["state"], "connected", "{status}");
    }

    // The same application's `/ask` at the interactions endpoint: deferred at once, then the
    // answer edits the deferred response.
    let interactions_bot = org
        .bot_bound_to_echo(json!({"name": "dc-ask", "platform": "discord", "mode": "webhook",
            "credentials": {"application_id": "app-1", "public_key": APP_PUBLIC_KEY, "bot_token": "serve-discord-token"}}))
        .await;
    let ask = json!({"application_id": "app-1", "id": "990001", "token": "serve-ask-token", "type": 2, "version": 1,
        "channel_id": "dm-ask", "user": {"id": "700", "username": "alice"},
        "data": {"name": "ask", "options": [{"name": "text", "type": 3, "value": "hi from /ask"}]}})
    .to_string();
    let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
    let response = org
        .client
        .post(format!("{}/api/discord/interactions/{interactions_bot}", server.base))
        .header("content-type", "application/json")
        .header("X-Signature-Ed25519", sign_interaction(&timestamp, ask.as_bytes()))
        .header("X-Signature-Timestamp", &timestamp)
        .body(ask)
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), r#"{"type":5}"#, "deferred");
    let ask_answered = || {
        discord
            .interaction_answer("serve-ask-token")
            .iter()
            .any(|m| m.content == "You said: hi from /ask")
    };
    for _ in 0..300 {
        if ask_answered() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ask_answered(), "{:?}", discord.messages());
}

/// Runs `imgate simulate wecom` against `server` with the database in `dir` and checks that the
/// echo agent's answer to `text` was shown.
async fn simulate_wecom(server: &Server, dir: &Path, integration_id: &str, text: &str) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args(["simulate", "wecom", "--integration", integration_id, "--text", text])
        .args(["--gateway", &server.base])
        .current_dir(dir)
        .env_remove("IMGATE_BOOTSTRAP_KEY")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "simulate failed: {stdout}\n{stderr}");
    assert!(stdout.contains(&format!("You said: {text}")), "{stdout}");
}

/// The README's long-connection how-to: `imgate serve` holds a WeCom long-connection bot (here
/// against the fake WeCom server) and answers it through the echo agent; the status shows the
/// connection and the admin API restarts it.
#[tokio::test]
async fn serve_answers_a_wecom_long_connection_bot() {
    let fake = imgate_tests::fake_wecom_long::FakeWecom::start().await;
    fake.add_bot("LONG-BOT", "long-secret");
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            ("IMGATE_WECOM_WS_URL", fake.url.as_str()),
            ("IMGATE_RELAY_OWNER", "serve-under-test"),
        ],
    );
    let org = Org::create(&server).await;
    let (client, api, key) = (&org.client, &org.api, &org.key);
    let id = org
        .bot_bound_to_echo(
            json!({"name": "Long bot", "platform": "wecom", "mode": "long_connection",
            "credentials": {"bot_id": "LONG-BOT", "secret": "long-secret"}}),
        )
        .await;

    eventually("the subscribe", || fake.subscribes("LONG-BOT") == 1).await;
    fake.push_text("LONG-BOT", "LONG-MSG-1", "zhangsan", "hello over the long connection")
        .unwrap();
    eventually("the answer", || {
        fake.replies("LONG-BOT").iter().any(|s| {
            s.frame["body"]["stream"]["finish"] == true
                && s.frame["body"]["stream"]["content"] == "You said: hello over the long connection"
        })
    })
    .await;

    let status = org.get(&format!("/integrations/{id}/status")).await;
    assert_eq!(status["runtime"]["state"], "connected", "{status}");
    assert_eq!(status["runtime"]["owner"], "serve-under-test");

    let r = client
        .post(format!("{api}/integrations/{id}/restart"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually("the reconnect", || fake.subscribes("LONG-BOT") == 2).await;
}

/// Polls `check` every 50 ms for up to 30 s (the relay reads the store every 5 s).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `imgate serve` also holds a DingTalk Stream bot (here against the fake DingTalk) and answers
/// it through the echo agent on the message's session webhook.
#[tokio::test]
async fn serve_answers_a_dingtalk_stream_bot() {
    let fake = imgate_tests::fake_dingtalk::FakeDingtalk::start("ding-client", "ding-secret").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("IMGATE_DINGTALK_API_BASE", fake.base.as_str())]);
    let org = Org::create(&server).await;
    let id = org
        .bot_bound_to_echo(
            json!({"name": "Ding bot", "platform": "dingtalk", "mode": "long_connection",
            "credentials": {"client_id": "ding-client", "client_secret": "ding-secret", "robot_code": "ding-client"}}),
        )
        .await;
    eventually("the Stream connection", || fake.live().0 == 1).await;
    let in_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 3_600_000;
    let message = fake.robot_message("dingMsg1", "hello from DingTalk", "s1", in_an_hour, false);
    fake.push(&message).unwrap();
    eventually("the answer on the session webhook", || {
        fake.session_posts("s1")
            .iter()
            .any(|p| p["markdown"]["text"] == "You said: hello from DingTalk")
    })
    .await;
    let status = org.get(&format!("/integrations/{id}/status")).await;
    assert_eq!(status["runtime"]["state"], "connected", "{status}");
}

/// The README's Lark try-out: `imgate serve` pointed at a local Lark API, a Lark webhook bot
/// bound to echo, and `imgate simulate lark` posts an encrypted, signed event and prints the card
/// streamed into its stand-in API.
#[tokio::test]
async fn simulated_lark_message_is_answered_with_a_card() {
    let api = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let api_base = format!("http://{api}");
    let server = start(dir.path(), &[("IMGATE_LARK_API_BASE", api_base.as_str())]);
    let org = Org::create(&server).await;
    let id = org
        .bot_bound_to_echo(json!({"name": "Lark bot", "platform": "lark", "mode": "webhook",
            "credentials": {"app_id": "cli_demo", "app_secret": "demo-secret",
                "verification_token": "demo-token", "encrypt_key": "demo-encrypt-key"}}))
        .await;
    for group in [None, Some("oc_team")] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"));
        command
            .args(["simulate", "lark", "--integration", &id, "--text", "hello from Lark"])
            .args(["--gateway", &server.base, "--api-listen", &api.to_string()])
            .current_dir(dir.path());
        if let Some(group) = group {
            command.args(["--group", group]);
        }
        let output = command.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "simulate failed: {stdout}\n{stderr}");
        assert!(stdout.contains("the agent is thinking"), "{stdout}");
        assert!(stdout.contains("You said: hello from Lark"), "{stdout}");
        assert!(stdout.contains("[card finished]"), "{stdout}");
    }
}

/// `imgate serve` also holds a Lark long-connection bot (here against the fake Lark) and
/// answers it through the echo agent with a streamed card.
#[tokio::test]
async fn serve_answers_a_lark_long_connection_bot_with_a_card() {
    let fake = imgate_tests::fake_lark::FakeLark::start("cli_serve", "serve-secret").await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("IMGATE_LARK_API_BASE", fake.base.as_str())]);
    let org = Org::create(&server).await;
    let id = org
        .bot_bound_to_echo(
            json!({"name": "Lark bot", "platform": "lark", "mode": "long_connection",
            "credentials": {"app_id": "cli_serve", "app_secret": "serve-secret"}}),
        )
        .await;
    eventually("the long connection", || fake.live_connections() == 1).await;
    fake.push_event(&fake.message_event("om_serve", "oc_serve", false, "hello over the socket"));
    eventually("the finished card", || {
        fake.sent()
            .iter()
            .filter(|m| m.reply_to.as_deref() == Some("om_serve"))
            .filter_map(|m| m.card_id().and_then(|c| fake.card(c)))
            .any(|c| !c.streaming_mode && c.content("answer_md") == Some("You said: hello over the socket"))
    })
    .await;
    let status = org.get(&format!("/integrations/{id}/status")).await;
    assert_eq!(status["runtime"]["state"], "connected", "{status}");
}

/// `imgate serve` holds a Weibo app's stream (here against the fake Weibo, through
/// `--weibo-api-base` and `--weibo-ws-base`) and answers a private message with a streamed
/// reply: delta frames of one `messageId`, rising `chunkId`s, closed with `done`.
#[tokio::test]
async fn serve_answers_a_weibo_bot_with_a_streamed_reply() {
    use imgate_tests::fake_agent::FakeAgent;
    use imgate_tests::fake_weibo::FakeWeibo;

    let fake = FakeWeibo::start("5288388166", "serve-weibo-secret").await;
    let agent = FakeAgent::start_paced(&["Streamed ", "from ", "imgate ", "serve."], Duration::from_millis(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            ("IMGATE_WEIBO_API_BASE", fake.api_base.as_str()),
            ("IMGATE_WEIBO_WS_BASE", fake.ws_base.as_str()),
        ],
    );
    let org = Org::create(&server).await;
    let integration = org
        .post(
            "/integrations",
            json!({"name": "Weibo bot", "platform": "weibo", "mode": "long_connection",
                "credentials": {"app_id": "5288388166", "app_secret": "serve-weibo-secret"}}),
        )
        .await;
    assert_eq!(integration["credentials"]["app_secret"], "***");
    let id = integration["id"].as_str().unwrap().to_owned();
    let model = org
        .post(
            "/agents",
            json!({"name": "model", "kind": "openai_compatible",
                "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 30}}),
        )
        .await;
    let r = org
        .client
        .put(format!("{}/triggers/{id}", org.api))
        .bearer_auth(&org.key)
        .json(&json!({"agentId": model["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    eventually("the Weibo stream", || fake.sockets().0 == 1).await;
    fake.push("1234567890", "hello from Weibo");
    eventually("the streamed reply", || {
        fake.replies_to("1234567890")
            .iter()
            .any(|r| r.done && r.text == "Streamed from imgate serve.")
    })
    .await;
    let replies = fake.replies_to("1234567890");
    assert_eq!(replies.len(), 1, "{replies:?}");
    let chunks = &replies[0].chunks;
    assert!(chunks.len() >= 2, "streamed in several frames: {chunks:?}");
    assert_eq!(*chunks, (0..chunks.len() as u64).collect::<Vec<_>>());
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let status = org.get(&format!("/integrations/{id}/status")).await;
    assert_eq!(status["runtime"]["state"], "connected", "{status}");
}

/// `imgate serve` with `--wechat-api-base` at the fake iLink API: a WeChat bot created without
/// a token is logged in by `imgate login wechat` through the admin API (the code drawn in the
/// terminal, followed until confirmed), then its relay polls and a text is answered.
#[tokio::test]
async fn a_wechat_bot_logged_in_by_qr_code_answers_in_imgate_serve() {
    use imgate_tests::fake_wechat::{FakeWechat, LoginStep};

    let wechat = FakeWechat::start(None).await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("IMGATE_WECHAT_API_BASE", &wechat.base)]);
    let org = Org::create(&server).await;
    // Not logged in yet: no secret to show.
    let integration = org
        .post(
            "/integrations",
            json!({"name": "wx", "platform": "wechat", "mode": "long_connection", "credentials": {}}),
        )
        .await;
    let bot = integration["id"].as_str().unwrap().to_owned();
    let agent = org.post("/agents", json!({"name": "Echo", "kind": "echo"})).await;
    let published = org
        .client
        .put(format!("{}/triggers/{bot}", org.api))
        .bearer_auth(&org.key)
        .json(&json!({"agentId": agent["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    wechat.script_login(&[LoginStep::Wait, LoginStep::Scanned, LoginStep::Confirmed]);
    let login = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args(["login", "wechat", "--integration", &bot, "--admin-url", &server.base])
        .env("IMGATE_API_KEY", &org.key)
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&login.stdout);
    assert!(
        login.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert!(printed.contains("https://liteapp.weixin.qq.com/q/"), "{printed}");
    assert!(
        printed.contains('█') || printed.contains('▀'),
        "the code is drawn: {printed}"
    );
    assert!(printed.contains("confirmed"), "{printed}");
    let token = wechat.token().unwrap();
    assert!(!printed.contains(&token), "the token never reaches the terminal");

    let asked = wechat.push_text("o9cq80serve@im.wechat", "hi from WeChat");
    eventually("the WeChat answer", || {
        wechat.answer_to(asked).concat() == "You said: hi from WeChat"
    })
    .await;
    let status = org.get(&format!("/integrations/{bot}/status")).await;
    assert_eq!(status["runtime"]["state"], "connected", "{status}");
    let shown = org.get(&format!("/integrations/{bot}")).await;
    assert_eq!(shown["credentials"]["bot_token"], "***");
}
