//! A real headless Chromium for the web console's tests, driven over WebDriver.
//!
//! [`Browser::launch`] starts Debian's `chromedriver` on a free 127.0.0.1 port and, through it, a
//! headless Chromium with a new empty profile in a temporary directory, a window of the given size
//! and the given language (`--lang` and the `intl.accept_languages` pref, so `navigator.language`
//! and the Accept-Language header both follow it). The client is [fantoccini]; chromedriver speaks
//! plain HTTP on loopback, so the client carries no TLS stack.
//!
//! The executables come from `IMGATE_CHROMIUM` and `IMGATE_CHROMEDRIVER`, by default
//! `/usr/bin/chromium` and `/usr/bin/chromedriver`; `scripts/test.sh` installs them (with a CJK
//! font for Chinese text). A missing browser is an error, never a skip.
//!
//! chromedriver runs under a small `sh` wrapper in a process group of its own, with Chromium's
//! processes in that group too. Dropping the [`Browser`] (or closing it) kills the whole group; the
//! wrapper also kills it when our end of its stdin closes, so nothing outlives a test binary that
//! dies without unwinding.
//!
//! Screenshots go to [`screenshot_dir`]: `$CARGO_TARGET_DIR/screenshots/` when that variable is
//! set (as `.ci/run` sets it), else `target/screenshots/` at the workspace root.
//!
//! Console messages: the session asks for the browser log (`goog:loggingPrefs`), and
//! [`Browser::console_errors`] returns its errors (uncaught exceptions, failed loads, Content
//! Security Policy violations) so a test can fail on them.

use std::fmt::Write as _;
use std::fs::File;
use std::future::Future;
use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use fantoccini::elements::Element;

/// Environment variable naming the Chromium executable (default [`DEFAULT_CHROMIUM`]).
pub const CHROMIUM_VAR: &str = "IMGATE_CHROMIUM";
/// Environment variable naming the chromedriver executable (default [`DEFAULT_CHROMEDRIVER`]).
pub const CHROMEDRIVER_VAR: &str = "IMGATE_CHROMEDRIVER";
/// Debian's `chromium` package.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package.
pub const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long the actions that find their element first ([`Browser::click`], [`Browser::fill`],
/// [`Browser::text`], ...) wait for it to be displayed.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);
const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How much of the page's text a timeout error quotes.
const TEXT_SNIPPET_CHARS: usize = 600;

/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Runs chromedriver (`$0`, with the arguments `$@`) in the background; when stdin (held by the
/// harness) closes, kills this whole process group: the wrapper, chromedriver and Chromium.
const WRAPPER: &str = r#"exec 3<&0
"$0" "$@" </dev/null &
(cat <&3 >/dev/null; kill -KILL 0) &
wait "$!""#;

/// Chromium's flags besides the profile, size and language. Without the background-networking
/// ones, Chromium keeps trying hosts that a closed network refuses.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--force-device-scale-factor=1",
    // Scrollbars take no room, as on a phone, so the page is as wide as the viewport.
    "--hide-scrollbars",
];

/// What [`Browser::launch`] starts.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// The viewport's width in CSS pixels.
    pub width: u32,
    /// The viewport's height in CSS pixels.
    pub height: u32,
    /// The browser's language, such as `"en"` or `"zh-CN"`.
    pub lang: &'a str,
}

/// A headless Chromium session; see the module doc.
pub struct Browser {
    client: Option<Client>,
    driver: Driver,
    _profile: tempfile::TempDir,
}

/// The chromedriver process group.
struct Driver {
    child: Child,
    /// Our end of the wrapper's stdin: closing it ends the group.
    stdin: Option<ChildStdin>,
    log: PathBuf,
    port: u16,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a new empty profile.
    ///
    /// # Errors
    /// If Chromium or chromedriver is missing (run `scripts/test.sh`, which installs them) or
    /// does not start; the error quotes chromedriver's log.
    pub async fn launch(launch: Launch<'_>) -> anyhow::Result<Browser> {
        let chromium = executable(CHROMIUM_VAR, DEFAULT_CHROMIUM)?;
        let chromedriver = executable(CHROMEDRIVER_VAR, DEFAULT_CHROMEDRIVER)?;
        let profile = tempfile::Builder::new()
            .prefix("imgate-chromium-")
            .tempdir()
            .context("creating the browser's profile directory")?;
        let driver = Driver::start(&chromedriver, profile.path()).await?;

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().join("profile").display()));
        args.push(format!("--window-size={},{}", launch.width, launch.height));
        args.push(format!("--lang={}", launch.lang));
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": args,
                "prefs": { "intl": { "accept_languages": launch.lang } },
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));

        let url = format!("http://127.0.0.1:{}", driver.port);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .map_err(|err| anyhow!("{err}"))
            .with_context(|| {
                format!(
                    "starting {} through {} failed; chromedriver's log:\n{}",
                    chromium.display(),
                    chromedriver.display(),
                    driver.log_tail()
                )
            })?;
        let browser = Browser {
            client: Some(client),
            driver,
            _profile: profile,
        };
        // The window size flag sizes the window; make sure the viewport is the size asked for.
        browser.resize(launch.width, launch.height).await?;
        Ok(browser)
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the browser is open until close() consumes it")
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.client()
            .goto(url)
            .await
            .with_context(|| format!("navigating to {url}"))
    }

    /// The current page's URL.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self
            .client()
            .current_url()
            .await
            .context("reading the current URL")?
            .to_string())
    }

    /// Clicks the first displayed element matching `css`, waiting up to [`ACTION_TIMEOUT`] for
    /// one that can be clicked.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.poll(
            ACTION_TIMEOUT,
            || format!("a clickable element matching `{css}`"),
            || async {
                match self.find_displayed(css).await? {
                    Some(element) => click_if_ready(&element).await,
                    None => Ok(None),
                }
            },
        )
        .await
    }

    /// Clicks the displayed button, link or other element whose visible text contains `text`:
    /// buttons, links, labels and elements with a button-like role first, else the innermost
    /// displayed element with that text. Waits up to [`ACTION_TIMEOUT`].
    pub async fn click_text(&self, text: &str) -> anyhow::Result<()> {
        self.poll(
            ACTION_TIMEOUT,
            || format!("a clickable element with the text {text:?}"),
            || async {
                let found = self.eval_with(FIND_BY_TEXT, vec![json!(text)]).await?;
                match self.element_from(&found) {
                    Some(element) => click_if_ready(&element).await,
                    None => Ok(None),
                }
            },
        )
        .await
    }

    /// Clears the displayed field matching `css` and types `value` into it, so the page sees the
    /// same key and input events as from a person.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, ACTION_TIMEOUT).await?;
        element.clear().await.with_context(|| format!("clearing `{css}`"))?;
        if value.is_empty() {
            // Clearing fires no input event; a page listening for one should still see it.
            self.eval_with(
                "arguments[0].dispatchEvent(new Event('input', {bubbles: true})); \
                 arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
                vec![serde_json::to_value(&element)?],
            )
            .await?;
        } else {
            element
                .send_keys(value)
                .await
                .with_context(|| format!("typing into `{css}`"))?;
        }
        Ok(())
    }

    /// Chooses the option whose value (or, failing that, whose label) is `value` in the displayed
    /// `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, ACTION_TIMEOUT).await?;
        if element.select_by_value(value).await.is_ok() {
            return Ok(());
        }
        element
            .select_by_label(value)
            .await
            .with_context(|| format!("`{css}` has no option with the value or label {value:?}"))
    }

    /// Presses Enter in the displayed element matching `css` (submitting its form).
    pub async fn press_enter(&self, css: &str) -> anyhow::Result<()> {
        let element = self.wait_for(css, ACTION_TIMEOUT).await?;
        element
            .send_keys(&fantoccini::key::Key::Enter.to_string())
            .await
            .with_context(|| format!("pressing Enter in `{css}`"))
    }

    /// Waits up to `timeout` for an element matching `css` to be displayed, and returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<Element> {
        self.poll(
            timeout,
            || format!("an element matching `{css}` to be displayed"),
            || self.find_displayed(css),
        )
        .await
    }

    /// Waits up to `timeout` for `text` to appear in the page's visible text.
    pub async fn wait_for_text(&self, text: &str, timeout: Duration) -> anyhow::Result<()> {
        self.poll(
            timeout,
            || format!("the text {text:?} on the page"),
            || async {
                let body = self.eval("return document.body ? document.body.innerText : ''").await?;
                Ok(body.as_str().is_some_and(|body| body.contains(text)).then_some(()))
            },
        )
        .await
    }

    /// Waits up to `timeout` until no element matching `css` is displayed (none exists, or all
    /// are hidden).
    pub async fn wait_gone(&self, css: &str, timeout: Duration) -> anyhow::Result<()> {
        self.poll(
            timeout,
            || format!("no element matching `{css}` to be displayed"),
            || async { Ok(self.find_displayed(css).await?.is_none().then_some(())) },
        )
        .await
    }

    /// The visible text of the displayed element matching `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self.wait_for(css, ACTION_TIMEOUT).await?;
        element
            .text()
            .await
            .with_context(|| format!("reading the text of `{css}`"))
    }

    /// The attribute `name` of the first element matching `css` (displayed or not), waiting up
    /// to [`ACTION_TIMEOUT`] for one to exist; `None` when the element lacks the attribute.
    pub async fn attribute(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        let element = self
            .poll(
                ACTION_TIMEOUT,
                || format!("an element matching `{css}`"),
                || async {
                    let found = self
                        .eval_with("return document.querySelector(arguments[0]);", vec![json!(css)])
                        .await?;
                    Ok(self.element_from(&found))
                },
            )
            .await?;
        element
            .attr(name)
            .await
            .with_context(|| format!("reading the attribute `{name}` of `{css}`"))
    }

    /// How many elements match `css` now (displayed or not); no waiting.
    pub async fn count(&self, css: &str) -> anyhow::Result<usize> {
        let count = self
            .eval_with(
                "return document.querySelectorAll(arguments[0]).length;",
                vec![json!(css)],
            )
            .await?;
        count
            .as_u64()
            .and_then(|count| usize::try_from(count).ok())
            .with_context(|| format!("counting `{css}` gave {count}"))
    }

    /// Runs `js` as a function body in the page (`return` gives the result) and returns its
    /// result as JSON.
    pub async fn eval(&self, js: &str) -> anyhow::Result<Value> {
        self.eval_with(js, Vec::new()).await
    }

    async fn eval_with(&self, js: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.client()
            .execute(js, args)
            .await
            .with_context(|| format!("running the script `{}`", snippet(js, 200)))
    }

    /// Sets the viewport to `width` x `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await
        .with_context(|| format!("resizing the viewport to {width}x{height}"))?;
        Ok(())
    }

    /// Saves a PNG of the viewport at `path`, creating its directory.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        let png = self.client().screenshot().await.context("taking a screenshot")?;
        write_png(path.as_ref(), &png)
    }

    /// Saves a PNG of the whole page, beyond the viewport, at `path`, creating its directory.
    pub async fn screenshot_full_page(&self, path: impl AsRef<Path>) -> anyhow::Result<()> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            bail!("Page.getLayoutMetrics gave no content size: {metrics}");
        };
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await?;
        let data = shot["data"].as_str().context("Page.captureScreenshot gave no data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("decoding the full-page screenshot")?;
        write_png(path.as_ref(), &png)
    }

    /// The browser console's errors (level SEVERE: uncaught exceptions, failed loads, Content
    /// Security Policy violations) logged since the previous call, each as chromedriver gives
    /// it (source URL, position and message). Reading the log empties it.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let entries = self
            .client()
            .issue_cmd(GetLog)
            .await
            .map_err(|err| anyhow!("{err}"))
            .context("reading the browser's console log")?;
        let entries = entries
            .as_array()
            .with_context(|| format!("the console log is not a list: {entries}"))?;
        Ok(entries
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(client) = self.client.take() {
            client.close().await.context("closing the browser session")?;
        }
        self.driver.kill();
        Ok(())
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver.
    async fn cdp(&self, method: &'static str, params: Value) -> anyhow::Result<Value> {
        self.client()
            .issue_cmd(Cdp { method, params })
            .await
            .map_err(|err| anyhow!("{err}"))
            .with_context(|| format!("the DevTools command {method}"))
    }

    /// The first element matching `css` that is displayed (has a box and is not hidden).
    async fn find_displayed(&self, css: &str) -> anyhow::Result<Option<Element>> {
        let found = self.eval_with(FIND_DISPLAYED, vec![json!(css)]).await?;
        Ok(self.element_from(&found))
    }

    fn element_from(&self, value: &Value) -> Option<Element> {
        let id = value.get(ELEMENT_KEY)?.as_str()?;
        Some(Element::from_element_id(self.client().clone(), id.to_owned().into()))
    }

    /// Polls `attempt` until it gives a value, fails, or `timeout` passes; a time-out error names
    /// what was awaited, the page's URL and the start of its text.
    async fn poll<T, F, Fut>(
        &self,
        timeout: Duration,
        awaited: impl Fn() -> String,
        mut attempt: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = attempt()
                .await
                .with_context(|| format!("while waiting for {}", awaited()))?
            {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(anyhow!(
                    "timed out after {timeout:?} waiting for {}\n{}",
                    awaited(),
                    self.describe_page().await
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The page's URL and the start of its visible text, for error messages.
    async fn describe_page(&self) -> String {
        let url = self
            .current_url()
            .await
            .unwrap_or_else(|err| format!("(unknown: {err:#})"));
        let text = match self.eval("return document.body ? document.body.innerText : ''").await {
            Ok(Value::String(text)) => snippet(&text, TEXT_SNIPPET_CHARS),
            Ok(other) => other.to_string(),
            Err(err) => format!("(unreadable: {err:#})"),
        };
        format!("page: {url}\ntext: {text}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.driver.kill();
    }
}

/// Clicks `element`, taking "not clickable yet" (covered, not interactable, replaced) as a
/// reason to try again.
async fn click_if_ready(element: &Element) -> anyhow::Result<Option<()>> {
    match element.click().await {
        Ok(()) => Ok(Some(())),
        Err(CmdError::Standard(err))
            if matches!(
                err.error,
                ErrorStatus::ElementClickIntercepted
                    | ErrorStatus::ElementNotInteractable
                    | ErrorStatus::StaleElementReference
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(anyhow!("{err}")).context("clicking"),
    }
}

/// `arguments[0]` is a CSS selector; returns the first matching element that is displayed.
const FIND_DISPLAYED: &str = r#"
const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
for (const el of document.querySelectorAll(arguments[0])) {
  if (shown(el)) return el;
}
return null;
"#;

/// `arguments[0]` is a text; returns the displayed control whose text (or value, for input
/// buttons) contains it, else the innermost displayed element whose text contains it.
const FIND_BY_TEXT: &str = r#"
const text = arguments[0];
const shown = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
const label = (el) => (el.tagName === 'INPUT' ? el.value : el.innerText) || '';
const controls = 'button, a, summary, label, input[type=submit], input[type=button], input[type=reset], '
  + '[role=button], [role=link], [role=tab], [role=menuitem], [role=option], [role=checkbox], [role=radio]';
for (const el of document.querySelectorAll(controls)) {
  if (shown(el) && label(el).includes(text)) return el;
}
let best = null;
for (const el of document.body.querySelectorAll('*')) {
  if (shown(el) && label(el).includes(text)) best = el;
}
return best;
"#;

/// The browser log (chromedriver's legacy endpoint, still served in W3C mode).
#[derive(Debug)]
struct GetLog;

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/se/log", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// A Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    method: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.method, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Driver {
    /// Starts chromedriver on a free port, logging to a file in `dir`, and waits until it is
    /// ready.
    async fn start(chromedriver: &Path, dir: &Path) -> anyhow::Result<Driver> {
        let port = free_port()?;
        let log = dir.join("chromedriver.log");
        let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().context("sharing chromedriver's log file")?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let mut driver = Driver {
            stdin: None,
            child,
            log,
            port,
        };
        driver.stdin = driver.child.stdin.take();
        driver.wait_ready().await?;
        Ok(driver)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let status = format!("http://127.0.0.1:{}/status", self.port);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            if let Ok(response) = http.get(&status).timeout(Duration::from_secs(2)).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return Ok(());
            }
            if let Some(exit) = self.child.try_wait().context("checking on chromedriver")? {
                bail!(
                    "chromedriver exited ({exit}) before it was ready; its log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "chromedriver was not ready on port {} after {DRIVER_READY_TIMEOUT:?}; its log:\n{}",
                    self.port,
                    self.log_tail()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The end of chromedriver's log (which holds Chromium's own output too).
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_else(|err| format!("(unreadable: {err})"));
        let lines: Vec<&str> = log.lines().collect();
        let mut tail = String::new();
        for line in &lines[lines.len().saturating_sub(40)..] {
            let _ = writeln!(tail, "  {line}");
        }
        tail
    }

    /// Kills the process group (wrapper, chromedriver, Chromium) and reaps the wrapper.
    fn kill(&mut self) {
        if self.stdin.is_none() {
            return;
        }
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The executable named by `var`, or `default`; an error saying how to install it when missing.
fn executable(var: &str, default: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if !path.is_file() {
        bail!(
            "{} not found (set {var} to override). Run `scripts/test.sh`: it installs Debian's \
             chromium, chromium-driver and a CJK font. Browser tests never skip.",
            path.display()
        );
    }
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port for chromedriver")?;
    Ok(listener.local_addr()?.port())
}

fn write_png(path: &Path, png: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, png).with_context(|| format!("writing the screenshot {}", path.display()))
}

fn snippet(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots`, else `target/screenshots` at the
/// workspace root. Not created here ([`Browser::screenshot`] creates a file's directory).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"),
        PathBuf::from,
    );
    target.join("screenshots")
}
