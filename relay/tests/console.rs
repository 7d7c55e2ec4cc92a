//! The web console as an operator uses it: the real `imgate serve`, a real headless Chromium
//! clicking through the pages, and `imgate simulate wecom` playing a WeCom user.
//!
//! Screenshots of every page, in English and Chinese, at desktop and phone width, are written
//! to the screenshot directory (`imgate_tests::browser::screenshot_dir`); with
//! `IMGATE_UPDATE_SCREENSHOTS=1` also to `docs/console/`, where the README shows them.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use imgate_tests::browser::{Browser, Launch, screenshot_dir};
use imgate_tests::crash::serve::Serve;
use serde_json::{Value, json};

const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const WAIT: Duration = Duration::from_secs(15);
const DESKTOP: (u32, u32) = (1280, 860);
const PHONE: (u32, u32) = (390, 844);

/// `imgate serve` on a fresh directory (killed on drop), with its address and bootstrap key.
struct Server {
    _serve: Serve,
    base: String,
    bootstrap: String,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Server {
    start_server_with(&[]).await
}

async fn start_server_with(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (crashes, _) = tokio::sync::mpsc::unbounded_channel();
    let binary = Path::new(env!("CARGO_BIN_EXE_imgate"));
    let serve = Serve::start_with_env(binary, dir.path(), "warn", env, None, crashes)
        .await
        .unwrap();
    Server {
        base: serve.base.clone(),
        bootstrap: serve.bootstrap.clone().expect("the first start prints a bootstrap key"),
        _serve: serve,
        _dir: dir,
    }
}

/// The admin API with a bearer key, for set-up and for checking what the clicks did.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/api/admin/v1{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn org(&self, bootstrap: &str, name: &str) -> String {
        let created = self
            .call(
                reqwest::Method::POST,
                "/organizations",
                bootstrap,
                Some(json!({ "name": name })),
            )
            .await;
        created["apiKey"]["token"].as_str().unwrap().to_owned()
    }
}

async fn open(size: (u32, u32), lang: &str) -> Browser {
    Browser::launch(Launch {
        width: size.0,
        height: size.1,
        lang,
    })
    .await
    .unwrap()
}

async fn sign_in(browser: &Browser, base: &str, key: &str) {
    browser.goto(&format!("{base}/console/")).await.unwrap();
    browser.fill("#key", key).await.unwrap();
    browser.click("#sign-in").await.unwrap();
    browser.wait_for("#sign-out", WAIT).await.unwrap();
}

/// Where screenshots go: the screenshot directory, and `docs/console/` when asked.
fn shot_paths(name: &str) -> Vec<PathBuf> {
    let mut paths = vec![screenshot_dir().join("console").join(format!("{name}.png"))];
    if std::env::var("IMGATE_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/console");
        paths.push(docs.join(format!("{name}.png")));
    }
    paths
}

async fn shot(browser: &Browser, name: &str) {
    for path in shot_paths(name) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        browser.screenshot(&path).await.unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().len() > 5_000,
            "{name} is a real picture"
        );
    }
}

/// Fails on script errors and Content-Security-Policy violations. Answers the console expects
/// and handles (401 before signing in, 409 on a trigger conflict) are logged by Chromium as
/// failed loads; those are not errors of the page.
async fn no_console_errors(browser: &Browser) {
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            !(e.contains("Failed to load resource: the server responded with a status of 401")
                || e.contains("Failed to load resource: the server responded with a status of 403")
                || e.contains("Failed to load resource: the server responded with a status of 409"))
        })
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

/// A page on another origin (same site: another port of 127.0.0.1) with a form that posts to
/// the gateway, as a forged cross-site request would.
fn attacker_page(target: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let page = format!(
        "<!doctype html><html><body><form method=\"POST\" action=\"{target}\" enctype=\"text/plain\">\
         <input type=\"hidden\" name='{{\"name\":\"evil\",\"kind\":\"echo\",\"x\":\"' value='\"}}'>\
         <button id=\"go\" type=\"submit\">Win a prize</button></form></body></html>"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(4) {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{address}/")
}

fn simulate(server: &Server, integration: &str, text: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args([
            "simulate",
            "wecom",
            "--gateway",
            &server.base,
            "--integration",
            integration,
            "--token",
            "my-callback-token",
            "--encoding-aes-key",
            AES_KEY,
            "--text",
            text,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "simulate failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn an_operator_does_the_quick_start_by_clicking() {
    let server = start_server().await;
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let other_key = api.org(&server.bootstrap, "Globex").await;
    api.call(
        reqwest::Method::POST,
        "/integrations",
        &other_key,
        Some(json!({"name": "Globex secret bot", "platform": "wecom",
            "credentials": {"token": "globex-token", "encoding_aes_key": AES_KEY}})),
    )
    .await;

    let b = open(DESKTOP, "en").await;
    // A wrong key is refused in plain words; the key `imgate serve` printed signs in.
    b.goto(&format!("{}/console/", server.base)).await.unwrap();
    b.fill("#key", "key_wrong.nope").await.unwrap();
    b.click("#sign-in").await.unwrap();
    b.wait_for_text("That key is not valid.", WAIT).await.unwrap();
    b.fill("#key", &server.bootstrap).await.unwrap();
    b.click("#sign-in").await.unwrap();
    // The bootstrap key creates the organization and goes on with its new key.
    b.fill("#org-name", "Acme").await.unwrap();
    b.click("#create-org").await.unwrap();
    b.wait_for("#new-key", WAIT).await.unwrap();
    let key = b.text("#new-key").await.unwrap();
    assert!(key.starts_with("key_"), "{key}");
    b.click_text("Sign in with this key").await.unwrap();
    b.wait_for_text("No integrations yet", WAIT).await.unwrap();
    assert_eq!(b.text(".org").await.unwrap(), "Acme");
    assert!(
        b.eval("return document.cookie")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .is_empty(),
        "the session cookie is HttpOnly: scripts cannot read it"
    );
    let stored = b
        .eval("return JSON.stringify(Object.keys(localStorage)) + JSON.stringify(Object.keys(sessionStorage))")
        .await
        .unwrap();
    assert!(
        !stored.as_str().unwrap().contains("key_"),
        "the key is not kept in browser storage"
    );

    // Create a WeCom integration with the guided form.
    b.click("#new-integration").await.unwrap();
    b.fill("#name", "Support bot").await.unwrap();
    b.select("#platform", "wecom").await.unwrap();
    b.fill("#cred-token", "my-callback-token").await.unwrap();
    b.fill("#cred-encoding_aes_key", AES_KEY).await.unwrap();
    b.click("#create-integration").await.unwrap();
    b.wait_for("#callback-url", WAIT).await.unwrap();
    let callback = b.text("#callback-url").await.unwrap();
    assert!(
        callback.starts_with(&format!("{}/api/wecom/webhook/int_", server.base)),
        "{callback}"
    );
    let integration = callback.rsplit('/').next().unwrap().to_owned();
    let token_input = b.attribute("#cred-token", "value").await.unwrap().unwrap_or_default();
    assert!(
        token_input.is_empty(),
        "a stored secret is never put back into the page"
    );
    b.wait_for_text("Not bound", WAIT).await.unwrap();
    // A smart bot in callback mode has no secret to test: the page says why, in plain words.
    b.click("#test-credentials").await.unwrap();
    b.wait_for_text("Cannot be tested here.", WAIT).await.unwrap();
    assert!(b.text("#test-result").await.unwrap().contains("WeCom"));

    // Two agents; try one.
    for name in ["Echo", "Backup echo"] {
        b.goto(&format!("{}/console/#/agents/new", server.base)).await.unwrap();
        b.fill("#agent-name", name).await.unwrap();
        b.select("#agent-kind", "echo").await.unwrap();
        b.click("#save-agent").await.unwrap();
        b.wait_for("#try-text", WAIT).await.unwrap();
    }
    b.fill("#try-text", "ping from the console").await.unwrap();
    b.click("#try-send").await.unwrap();
    b.wait_for_text("complete after", WAIT).await.unwrap();
    assert!(b.text("#try-answer").await.unwrap().contains("ping from the console"));

    // Publish the trigger, then hit the conflict and take over.
    b.goto(&format!("{}/console/#/triggers", server.base)).await.unwrap();
    let card = format!("[data-integration=\"{integration}\"]");
    b.select(&format!("#agent-{integration}"), "Echo").await.unwrap();
    b.click(&format!("{card} .publish")).await.unwrap();
    b.wait_for_text("Published: answered by Echo.", WAIT).await.unwrap();
    b.select(&format!("#agent-{integration}"), "Backup echo").await.unwrap();
    b.select(
        &format!("#busy-{integration}"),
        "New messages are answered together afterwards",
    )
    .await
    .unwrap();
    b.click(&format!("{card} .publish")).await.unwrap();
    b.wait_for("#conflict-text", WAIT).await.unwrap();
    assert!(b.text("#conflict-text").await.unwrap().contains("“Echo”"));
    b.click_text("Take over").await.unwrap();
    b.wait_for_text("Published: answered by Backup echo.", WAIT)
        .await
        .unwrap();
    let trigger = api
        .call(reqwest::Method::GET, &format!("/triggers/{integration}"), &key, None)
        .await;
    assert_eq!(trigger["busyPolicy"], "collect", "{trigger}");

    // A WeCom user writes; the chip, the chart, the log and the conversations follow.
    b.goto(&format!("{}/console/#/integrations/{integration}", server.base))
        .await
        .unwrap();
    b.wait_for_text("Ready", WAIT).await.unwrap();
    assert_eq!(b.text("#received-total").await.unwrap(), "0 received");
    let said = simulate(&server, &integration, "你好，console");
    assert!(said.contains("你好，console"), "{said}");
    b.wait_for_text("1 received", Duration::from_secs(30)).await.unwrap();
    b.wait_for("#event-log .log-replied", WAIT).await.unwrap();
    b.wait_for_text("Reply time: median", WAIT).await.unwrap();
    b.wait_for_text("zhangsan", Duration::from_secs(30)).await.unwrap();
    // "Why did my bot not reply?" for that message.
    b.click("#event-log .log-replied button").await.unwrap();
    b.wait_for(".verdict-replied", WAIT).await.unwrap();
    no_console_errors(&b).await;

    // The list shows the chip; another organization's bot is invisible.
    b.goto(&format!("{}/console/#/integrations", server.base))
        .await
        .unwrap();
    b.wait_for(&format!("tr[data-id=\"{integration}\"][data-chip=\"ready\"]"), WAIT)
        .await
        .unwrap();
    let page = b.text("main").await.unwrap();
    assert!(!page.contains("Globex"), "another organization's objects are invisible");

    // A forged cross-site POST carries the cookie (same site) but is refused.
    let forged_from = attacker_page(&format!("{}/api/admin/v1/agents", server.base));
    b.goto(&forged_from).await.unwrap();
    b.click("#go").await.unwrap();
    b.wait_for_text("\"code\":\"csrf\"", WAIT).await.unwrap();
    let agents = api.call(reqwest::Method::GET, "/agents", &key, None).await;
    assert!(
        agents.as_array().unwrap().iter().all(|a| a["name"] != "evil"),
        "the forged request changed nothing"
    );

    // Delete, after a warning that names what it affects.
    b.goto(&format!("{}/console/#/integrations/{integration}", server.base))
        .await
        .unwrap();
    b.click("#delete-integration").await.unwrap();
    b.wait_for("#impact", WAIT).await.unwrap();
    let impact = b.text("#impact").await.unwrap();
    assert!(impact.contains("“Backup echo”"), "{impact}");
    assert!(impact.contains("ends 1 open conversations"), "{impact}");
    b.click("dialog .danger").await.unwrap();
    b.wait_for_text("No integrations yet", WAIT).await.unwrap();
    let left = api.call(reqwest::Method::GET, "/integrations", &key, None).await;
    assert_eq!(left, json!([]));

    // Sign out: the session is gone, also after a reload.
    b.click("#sign-out").await.unwrap();
    b.wait_for("#sign-in", WAIT).await.unwrap();
    b.goto(&format!("{}/console/", server.base)).await.unwrap();
    b.wait_for("#sign-in", WAIT).await.unwrap();
    no_console_errors(&b).await;
    b.close().await.unwrap();
}

/// A new organization "Acme", and a desktop browser signed in with its key.
async fn signed_in_to_a_new_organization(server: &Server) -> (Api, String, Browser) {
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let key = api.org(&server.bootstrap, "Acme").await;
    let b = open(DESKTOP, "en").await;
    sign_in(&b, &server.base, &key).await;
    (api, key, b)
}

/// Sets up one of everything, so each page has something to show.
async fn furnish(server: &Server, api: &Api) -> (String, String, String) {
    let key = api.org(&server.bootstrap, "Acme").await;
    let created = api
        .call(
            reqwest::Method::POST,
            "/integrations",
            &key,
            Some(json!({"name": "Support bot", "platform": "wecom",
                "credentials": {"token": "my-callback-token", "encoding_aes_key": AES_KEY}})),
        )
        .await;
    let integration = created["id"].as_str().unwrap().to_owned();
    api.call(
        reqwest::Method::POST,
        "/integrations",
        &key,
        Some(
            json!({"name": "Sales bot", "platform": "lark", "mode": "long_connection",
            "credentials": {"app_id": "cli_a1b2c3", "app_secret": "lark-secret"}, "enabled": false}),
        ),
    )
    .await;
    let agent = api
        .call(
            reqwest::Method::POST,
            "/agents",
            &key,
            Some(json!({"name": "Echo", "kind": "echo"})),
        )
        .await;
    let agent = agent["id"].as_str().unwrap().to_owned();
    api.call(
        reqwest::Method::PUT,
        &format!("/triggers/{integration}"),
        &key,
        Some(json!({ "agentId": agent })),
    )
    .await;
    simulate(server, &integration, "你好，imgate");
    (key, integration, agent)
}

#[tokio::test]
async fn every_page_in_both_languages_at_desktop_and_phone_width() {
    let server = start_server().await;
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let (key, integration, agent) = furnish(&server, &api).await;
    let base = &server.base;
    let pages = [
        ("integrations", "#/integrations".to_owned(), "#integrations"),
        (
            "integration",
            format!("#/integrations/{integration}"),
            "#event-log .log-replied",
        ),
        ("new-integration", "#/integrations/new".to_owned(), "#cred-token"),
        ("agents", "#/agents".to_owned(), "#agents"),
        ("agent", format!("#/agents/{agent}"), "#try-text"),
        ("triggers", "#/triggers".to_owned(), "#triggers"),
        ("dead-letters", "#/dead-letters".to_owned(), "#dead-letters .empty"),
        ("keys", "#/keys".to_owned(), ".keys table"),
    ];
    for (lang, suffix) in [("en", "en"), ("zh-CN", "zh")] {
        for (size, size_name) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            let b = open(size, lang).await;
            b.goto(&format!("{base}/console/")).await.unwrap();
            b.wait_for("#key", WAIT).await.unwrap();
            shot(&b, &format!("signin-{suffix}-{size_name}")).await;
            sign_in(&b, base, &key).await;
            for (name, route, ready) in &pages {
                b.goto(&format!("{base}/console/{route}")).await.unwrap();
                b.wait_for(ready, WAIT).await.unwrap();
                shot(&b, &format!("{name}-{suffix}-{size_name}")).await;
            }
            let html_lang = b.eval("return document.documentElement.lang").await.unwrap();
            assert_eq!(html_lang, if suffix == "zh" { "zh-CN" } else { "en" });
            if suffix == "zh" {
                b.goto(&format!("{base}/console/#/integrations")).await.unwrap();
                b.wait_for_text("接入", WAIT).await.unwrap();
            }
            no_console_errors(&b).await;
            b.close().await.unwrap();
        }
    }
    // The bootstrap key sees the organizations page.
    let b = open(DESKTOP, "en").await;
    sign_in(&b, base, &server.bootstrap).await;
    b.wait_for_text("Acme", WAIT).await.unwrap();
    shot(&b, "organizations-en-desktop").await;
    no_console_errors(&b).await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn the_integrations_page_is_light_and_lists_a_thousand_bots() {
    let server = start_server().await;
    let (api, key, b) = signed_in_to_a_new_organization(&server).await;
    // First load, cache empty: everything the integrations page transfers.
    let transferred = b
        .eval(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
             .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)",
        )
        .await
        .unwrap();
    let transferred = transferred.as_f64().unwrap();
    assert!(
        transferred > 10_000.0,
        "the measure saw the files ({transferred} bytes)"
    );
    assert!(
        transferred < 150.0 * 1024.0,
        "first load transferred {transferred} bytes"
    );

    for i in 0..1000 {
        let body = json!({"name": format!("bot {i:04}"), "platform": "telegram", "mode": "long_connection",
            "credentials": {"bot_token": format!("{i}:token")}, "enabled": i % 3 != 0});
        api.call(reqwest::Method::POST, "/integrations", &key, Some(body)).await;
    }
    b.goto(&format!("{}/console/#/triggers", server.base)).await.unwrap();
    b.goto(&format!("{}/console/#/integrations", server.base))
        .await
        .unwrap();
    b.wait_for_text("1000 of 1000 integrations", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.count("#integrations tbody tr").await.unwrap(), 1000);
    b.select("#filter-state", "disabled").await.unwrap();
    b.wait_for_text("334 of 1000 integrations", WAIT).await.unwrap();
    no_console_errors(&b).await;
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_wechat_bot_is_connected_by_scanning_the_qr_code_on_its_page() {
    use imgate_tests::fake_wechat::{FakeWechat, LoginStep};

    let wechat = FakeWechat::start(None).await;
    wechat.script_login(&[LoginStep::Wait, LoginStep::Scanned, LoginStep::Confirmed]);
    let server = start_server_with(&[("IMGATE_WECHAT_API_BASE", wechat.base.as_str())]).await;
    let (_, _, b) = signed_in_to_a_new_organization(&server).await;
    b.click("#new-integration").await.unwrap();
    b.fill("#name", "WeChat helper").await.unwrap();
    b.select("#platform", "wechat").await.unwrap();
    b.click("#create-integration").await.unwrap();
    b.click("#start-login").await.unwrap();
    b.wait_for("img.qr", WAIT).await.unwrap();
    shot(&b, "wechat-login-en-desktop").await;
    b.wait_for_text("Logged in.", Duration::from_secs(60)).await.unwrap();
    assert_eq!(wechat.tokens_issued(), 1, "the scan bound the bot");
    b.wait_gone("img.qr", WAIT).await.unwrap();
    no_console_errors(&b).await;
    b.close().await.unwrap();
}
