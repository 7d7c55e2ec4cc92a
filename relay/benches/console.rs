//! The console with a thousand integrations: how long `imgate serve` takes to answer the
//! integrations overview, how long a real headless Chromium takes from opening the page to
//! showing all thousand rows, and how many bytes the first load transfers.
//!
//! ```sh
//! cargo bench -p imgate --bench console
//! CONSOLE_INTEGRATIONS=5000 cargo bench -p imgate --bench console
//! ```
//!
//! It needs Chromium and chromedriver (`scripts/test.sh` installs them). The `imgate` binary is
//! the one built with this bench (the bench profile: release).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use imgate_tests::browser::{Browser, Launch};
use imgate_tests::crash::serve::Serve;
use serde_json::{Value, json};

const ROUNDS: usize = 7;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("console: run with `cargo bench -p imgate --bench console`");
        return;
    }
    let count: usize = std::env::var("CONSOLE_INTEGRATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let (crashes, _) = tokio::sync::mpsc::unbounded_channel();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_imgate"));
    let serve = Serve::start(binary, dir.path(), "warn", None, crashes).await.unwrap();
    let (base, bootstrap) = (serve.base.clone(), serve.bootstrap.clone().unwrap());
    let http = reqwest::Client::new();
    let api = format!("{base}/api/admin/v1");
    let org: Value = http
        .post(format!("{api}/organizations"))
        .bearer_auth(&bootstrap)
        .json(&json!({"name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = org["apiKey"]["token"].as_str().unwrap().to_owned();
    for i in 0..count {
        let body = json!({"name": format!("bot {i:05}"), "platform": "telegram", "mode": "webhook",
            "credentials": {"bot_token": format!("{i}:token"), "secret_token": "s3cret"}, "enabled": i % 4 != 0});
        let r = http
            .post(format!("{api}/integrations"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }

    let mut api_ms = Vec::new();
    let mut bytes = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let body = http
            .get(format!("{api}/integrations/overview"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        api_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
    }

    let browser = Browser::launch(Launch {
        width: 1280,
        height: 860,
        lang: "en",
    })
    .await
    .unwrap();
    browser.goto(&format!("{base}/console/")).await.unwrap();
    browser.fill("#key", &key).await.unwrap();
    browser.click("#sign-in").await.unwrap();
    let done = format!("{count} of {count} integrations");
    browser.wait_for_text(&done, Duration::from_secs(60)).await.unwrap();
    let transferred = browser
        .eval(
            "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))\
             .filter((e) => !e.name.includes('/api/'))\
             .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0)",
        )
        .await
        .unwrap();
    let mut page_ms = Vec::new();
    for _ in 0..ROUNDS {
        browser.goto(&format!("{base}/console/#/agents")).await.unwrap();
        browser.wait_for("#new-agent", Duration::from_secs(10)).await.unwrap();
        // Start the clock in the page, and stop it there when the count line says all rows
        // are drawn: the harness's polling is not measured.
        let script = format!(
            "window.__shown = null; const want = {done:?};\
             new MutationObserver((_, observer) => {{\
               const line = document.getElementById('integration-count');\
               if (line && line.textContent === want) {{ window.__shown = performance.now(); observer.disconnect(); }}\
             }}).observe(document.body, {{ subtree: true, childList: true, characterData: true }});\
             window.__opened = performance.now(); location.hash = '#/integrations'; return true;"
        );
        browser.eval(&script).await.unwrap();
        browser.wait_for_text(&done, Duration::from_secs(60)).await.unwrap();
        let elapsed = browser.eval("return window.__shown - window.__opened").await.unwrap();
        page_ms.push(elapsed.as_f64().unwrap());
    }
    browser.close().await.unwrap();
    drop(serve);

    println!("| Measure ({count} integrations, median of {ROUNDS}) | Value |");
    println!("|---|---|");
    println!(
        "| `GET /integrations/overview` answered (imgate serve, loopback) | {:.0} ms |",
        median(api_ms)
    );
    println!("| its JSON | {} KB |", bytes / 1024);
    println!(
        "| opening the integrations page until all rows are shown (Chromium, headless) | {:.0} ms |",
        median(page_ms)
    );
    println!(
        "| console files transferred on first load | {:.1} KB |",
        transferred.as_f64().unwrap() / 1024.0
    );
}
