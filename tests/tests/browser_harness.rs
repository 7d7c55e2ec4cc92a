//! The browser harness (imgate_tests::browser) against a small page served here: a form, a
//! button whose script (same origin, under `Content-Security-Policy: default-src 'self'`)
//! changes the page, and Chinese text; at desktop and phone widths, in English and Chinese.
//! Screenshots go to `<target>/screenshots/browser_harness/`. A browser that cannot start
//! fails these tests.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use imgate_tests::browser::{Browser, Launch, screenshot_dir};

const CSP: &str = "default-src 'self'";
const WAIT: Duration = Duration::from_secs(10);

const PAGE: &str = r#"<!doctype html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Harness</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/app.css">
</head>
<body>
<h1>控制台 · Console</h1>
<p>你好，世界！这是浏览器测试页面。Hello from the harness page.</p>
<form id="form">
  <label>Name / 名字 <input id="name" name="name" autocomplete="off"></label>
  <label>Colour / 颜色
    <select id="colour">
      <option value="red">红色 red</option>
      <option value="green">绿色 green</option>
    </select>
  </label>
  <button type="button" id="greet">Greet 问候</button>
</form>
<p id="spinner">Loading… 加载中</p>
<p id="out" data-state="idle">—</p>
<p id="submitted"></p>
<ul><li>一</li><li>二</li><li>三</li></ul>
<div class="tall"></div>
<footer>页脚 · the end of a page taller than the viewport</footer>
<script src="/app.js"></script>
</body>
</html>
"#;

const APP_JS: &str = r#"
const zh = navigator.language.startsWith('zh');
document.getElementById('greet').addEventListener('click', () => {
  const name = document.getElementById('name').value;
  const colour = document.getElementById('colour').value;
  const out = document.getElementById('out');
  out.textContent = zh ? `你好，${name}（${colour}）` : `Hello, ${name} (${colour})`;
  out.dataset.state = 'done';
  document.getElementById('spinner')?.remove();
});
document.getElementById('form').addEventListener('submit', (event) => {
  event.preventDefault();
  document.getElementById('submitted').textContent = 'submitted: ' + document.getElementById('name').value;
});
"#;

const APP_CSS: &str = "body { font-family: sans-serif; margin: 1rem; } label { display: block; margin: .5rem 0; } .tall { height: 1200px; }";

/// An inline script, which the policy blocks: the console reports the violation.
const INLINE_PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="/favicon.ico"></head>
<body><p>inline</p><script>document.body.dataset.ran = 'yes';</script></body></html>"#;

fn with_csp(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
}

/// Serves the pages on 127.0.0.1; returns the base URL.
async fn serve() -> String {
    let app = Router::new()
        .route("/", get(|| async { with_csp("text/html; charset=utf-8", PAGE) }))
        .route("/app.js", get(|| async { with_csp("text/javascript", APP_JS) }))
        .route("/app.css", get(|| async { with_csp("text/css", APP_CSS) }))
        .route(
            "/inline",
            get(|| async { with_csp("text/html; charset=utf-8", INLINE_PAGE) }),
        )
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .route(
            "/accept-language",
            get(|headers: HeaderMap| async move {
                let value = headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                format!("accept-language: {value}")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn launch(width: u32, height: u32, lang: &str) -> Browser {
    let started = Instant::now();
    let browser = Browser::launch(Launch { width, height, lang })
        .await
        .unwrap_or_else(|err| panic!("the browser must start: {err:#}"));
    eprintln!("launched {width}x{height} {lang} in {:?}", started.elapsed());
    browser
}

/// Checks that `path` is a PNG of `width` x `height` pixels with more than a blank page in it.
fn assert_png(path: &Path, width: u32, height: u32) {
    let png = std::fs::read(path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    let size = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (size(16), size(20)),
        (width, height),
        "{} has the wrong size",
        path.display()
    );
    assert!(png.len() > 8 * 1024, "{} is only {} bytes", path.display(), png.len());
}

async fn scenario(device: &str, width: u32, height: u32, lang: &str) {
    let base = serve().await;
    let browser = launch(width, height, lang).await;
    browser.goto(&format!("{base}/")).await.unwrap();
    assert_eq!(browser.current_url().await.unwrap(), format!("{base}/"));
    browser.wait_for_text("你好，世界", WAIT).await.unwrap();

    assert_eq!(browser.eval("return navigator.language").await.unwrap(), lang);
    assert_eq!(browser.eval("return window.innerWidth").await.unwrap(), width);
    assert_eq!(browser.eval("return window.innerHeight").await.unwrap(), height);

    browser.fill("#name", "Ada").await.unwrap();
    browser.select("#colour", "green").await.unwrap();
    assert_eq!(
        browser.attribute("#out", "data-state").await.unwrap().as_deref(),
        Some("idle")
    );
    browser.click_text("Greet").await.unwrap();
    let greeting = if lang.starts_with("zh") {
        "你好，Ada（green）"
    } else {
        "Hello, Ada (green)"
    };
    browser.wait_for_text(greeting, WAIT).await.unwrap();
    browser.wait_gone("#spinner", WAIT).await.unwrap();
    assert_eq!(browser.text("#out").await.unwrap(), greeting);
    assert_eq!(
        browser.attribute("#out", "data-state").await.unwrap().as_deref(),
        Some("done")
    );
    assert_eq!(browser.attribute("#out", "missing").await.unwrap(), None);
    assert_eq!(browser.count("li").await.unwrap(), 3);
    assert_eq!(browser.count("#spinner").await.unwrap(), 0);

    // Typing goes through key events: a fill replaces the value, Enter submits the form.
    browser.fill("#name", "Grace").await.unwrap();
    browser.press_enter("#name").await.unwrap();
    browser.wait_for_text("submitted: Grace", WAIT).await.unwrap();
    browser.click("#greet").await.unwrap();
    browser.wait_for("#out[data-state=done]", WAIT).await.unwrap();

    let dir = screenshot_dir().join("browser_harness");
    let shot = dir.join(format!("{device}-{lang}.png"));
    browser.screenshot(&shot).await.unwrap();
    assert_png(&shot, width, height);
    let full = dir.join(format!("{device}-{lang}-full.png"));
    browser.screenshot_full_page(&full).await.unwrap();
    let page_height = browser
        .eval("return document.documentElement.scrollHeight")
        .await
        .unwrap();
    let page_height = u32::try_from(page_height.as_u64().unwrap()).unwrap();
    assert!(page_height > height, "the page should be taller than the viewport");
    assert_png(&full, width, page_height);

    assert_eq!(browser.console_errors().await.unwrap(), Vec::<String>::new());

    browser.goto(&format!("{base}/accept-language")).await.unwrap();
    let header = browser.text("body").await.unwrap();
    assert!(header.starts_with(&format!("accept-language: {lang}")), "{header}");

    browser.close().await.unwrap();
}

#[tokio::test]
async fn desktop_english() {
    scenario("desktop", 1280, 800, "en").await;
}

#[tokio::test]
async fn desktop_chinese() {
    scenario("desktop", 1280, 800, "zh-CN").await;
}

#[tokio::test]
async fn phone_english() {
    scenario("phone", 390, 844, "en").await;
}

#[tokio::test]
async fn phone_chinese() {
    scenario("phone", 390, 844, "zh-CN").await;
}

#[tokio::test]
async fn console_errors_report_a_blocked_inline_script() {
    let base = serve().await;
    let browser = launch(800, 600, "en").await;
    browser.goto(&format!("{base}/inline")).await.unwrap();
    browser.wait_for_text("inline", WAIT).await.unwrap();
    assert_eq!(
        browser.eval("return document.body.dataset.ran ?? null").await.unwrap(),
        serde_json::Value::Null
    );
    let errors = browser.console_errors().await.unwrap();
    assert!(
        errors.iter().any(|error| error.contains("Content Security Policy")),
        "expected a CSP violation, got {errors:?}"
    );
    // Reading the log empties it.
    assert_eq!(browser.console_errors().await.unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn a_timed_out_wait_names_the_page() {
    let base = serve().await;
    let browser = launch(800, 600, "en").await;
    browser.goto(&format!("{base}/")).await.unwrap();
    let err = browser
        .wait_for("#never", Duration::from_millis(300))
        .await
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("`#never`"), "{message}");
    assert!(message.contains(&format!("page: {base}/")), "{message}");
    assert!(message.contains("你好，世界"), "{message}");
    browser.resize(390, 844).await.unwrap();
    assert_eq!(browser.eval("return window.innerWidth").await.unwrap(), 390);
}
