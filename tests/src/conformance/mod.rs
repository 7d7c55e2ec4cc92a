//! The conformance suite: one set of scenarios every platform mode runs through its own harness.
//!
//! A harness knows how its platform signs, encrypts and shapes a callback; the scenarios know
//! what must hold for every platform. A scenario a mode cannot do is declared by the harness with
//! its reason ([`Support::No`]) and printed when the test runs, never skipped silently.
//!
//! This module holds the webhook half, where the platform's request decides everything: URL
//! verification, a message queued once however often it is delivered, a queue outage answered
//! with a 5xx so that the platform retries, and every bad request refused with a 4xx and nothing
//! queued. [`chat`] holds the conversation half: what the user sees, on every mode.

pub mod chat;
pub mod chat_dingtalk;
pub mod chat_discord;
pub mod chat_lark;
pub mod chat_telegram;
pub mod chat_wechat;
pub mod chat_wecom;
pub mod chat_weibo;
mod dingtalk_http;
mod discord_interactions;
mod lark_webhook;
pub mod modes;
mod telegram_webhook;
mod wecom_webhook;

pub use dingtalk_http::DingtalkHttp;
pub use discord_interactions::DiscordInteractions;
pub use lark_webhook::LarkWebhook;
pub use telegram_webhook::TelegramWebhook;
pub use wecom_webhook::WecomWebhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use imgate_core::IntegrationId;
use imgate_core::ports::{Deps, Queue};
use serde_json::{Value, json};

use crate::flaky_queue::FlakyQueue;
use crate::gateway::Gateway;
use crate::world::TestOrg;

/// Whether a mode can do a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// It can, and the scenario runs.
    Yes,
    /// It cannot; the reason says why (printed by the test).
    No(&'static str),
}

/// A request a platform would send to the webhook route.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET` (URL verification) instead of `POST`.
    pub get: bool,
    /// The query string, without `?`.
    pub query: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

/// A URL verification request and a check of the answer's body.
pub type Verification = (Request, fn(&str) -> bool);

/// How a request is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakage {
    /// Signed with another secret.
    BadSignature,
    /// Signed correctly, with a timestamp far outside the platform's window.
    StaleTimestamp,
    /// Signed correctly over a body that is not what the platform sends.
    BrokenBody,
}

/// One platform mode's webhook, as the suite drives it.
pub trait WebhookHarness: Send + Sync {
    /// `"<platform>/<mode>"`, for messages.
    fn name(&self) -> &'static str;
    /// The platform's path segment in `/api/{platform}/webhook/{id}`.
    fn platform(&self) -> &'static str;
    /// The route segment after the platform (`webhook`; Discord's is `interactions`).
    fn route(&self) -> &'static str {
        "webhook"
    }
    /// The admin API body that creates the bot.
    fn integration(&self) -> Value;
    /// A signed request carrying a user's direct text message with platform id `message_id`.
    fn message(&self, message_id: &str, text: &str) -> Request;
    /// `message` broken as `breakage` says; `None` when the platform has no such check (the
    /// reason is [`WebhookHarness::no_check`]).
    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request>;
    /// Why a breakage the platform cannot have is not checked.
    fn no_check(&self, breakage: Breakage) -> &'static str {
        match breakage {
            Breakage::StaleTimestamp => {
                "the platform signs no timestamp; a replay is a duplicate and meets the dedupe claim"
            }
            Breakage::BadSignature | Breakage::BrokenBody => "every platform checks this",
        }
    }
    /// The platform's URL verification request, and a check of the answer's body.
    fn url_verification(&self) -> Result<Verification, &'static str>;
}

/// The status a refused request must get, per scenario.
const UNAUTHORIZED: u16 = 401;
const BAD_REQUEST: u16 = 400;
const TOO_LARGE: u16 = 413;
const NOT_FOUND: u16 = 404;

/// A gateway without its queue worker (what is queued stays there to be counted) and one bot.
pub struct Stage {
    gateway: Gateway,
    integration: IntegrationId,
    http: reqwest::Client,
    /// The queue messages are counted on.
    counted: Arc<dyn Queue>,
}

impl Stage {
    /// The gateway on `deps` with `harness`'s bot bound to the echo agent.
    ///
    /// # Panics
    /// When the gateway or the bot cannot be set up.
    pub async fn new(deps: Deps, harness: &dyn WebhookHarness) -> Self {
        Self::with_queue(deps, harness, None).await
    }

    /// As [`Stage::new`], the webhooks enqueueing to `queue` when given (the queue is still
    /// read, and counted, through `deps`' queue).
    ///
    /// # Panics
    /// As [`Stage::new`].
    pub async fn with_queue(deps: Deps, harness: &dyn WebhookHarness, queue: Option<Arc<dyn Queue>>) -> Self {
        let counted = deps.queue.clone();
        let deps = Deps {
            queue: queue.unwrap_or_else(|| deps.queue.clone()),
            ..deps
        };
        let org = TestOrg::create(&deps).await;
        let integration = org
            .bot(harness.integration(), Some(&org.echo_agent_id), json!({}))
            .await;
        let gateway = Gateway::start(deps, 3, false, "http://127.0.0.1:9").await;
        Self {
            gateway,
            integration,
            http: reqwest::Client::new(),
            counted,
        }
    }

    /// Sends `request` to `integration`'s route; returns the status and body.
    ///
    /// # Panics
    /// When the gateway cannot be reached.
    pub async fn send(&self, harness: &dyn WebhookHarness, integration: &str, request: &Request) -> (u16, String) {
        let mut url = format!(
            "{}/api/{}/{}/{integration}",
            self.gateway.base,
            harness.platform(),
            harness.route()
        );
        if !request.query.is_empty() {
            url = format!("{url}?{}", request.query);
        }
        let mut builder = if request.get {
            self.http.get(url)
        } else {
            self.http.post(url).body(request.body.clone())
        };
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.expect("the gateway answers");
        (response.status().as_u16(), response.text().await.unwrap_or_default())
    }

    /// Sends `request` to the stage's bot.
    ///
    /// # Panics
    /// As [`Stage::send`].
    pub async fn send_to_bot(&self, harness: &dyn WebhookHarness, request: &Request) -> (u16, String) {
        self.send(harness, self.integration.as_str(), request).await
    }

    /// How many messages are on the queue; each is taken off it (acknowledged) as it is
    /// counted, so a conversation's later messages are counted too.
    ///
    /// # Panics
    /// When the queue cannot be read.
    pub async fn drain(&self) -> usize {
        let mut total = 0;
        loop {
            let batch = self
                .counted
                .receive(10, Duration::from_secs(60))
                .await
                .expect("the queue answers");
            if batch.is_empty() {
                return total;
            }
            total += batch.len();
            for delivery in batch {
                self.counted.ack(&delivery.receipt).await.expect("the queue acks");
            }
        }
    }
}

/// Prints a declared gap so the test output says what was not run and why.
fn declared(harness: &dyn WebhookHarness, scenario: &str, reason: &str) {
    println!("{}: {scenario}: not applicable: {reason}", harness.name());
}

/// URL verification is answered as the platform expects and queues nothing.
///
/// # Panics
/// When the mode does not conform.
pub async fn url_verification(deps: Deps, harness: &dyn WebhookHarness) {
    let (request, answer_is_right) = match harness.url_verification() {
        Ok(verification) => verification,
        Err(reason) => return declared(harness, "URL verification", reason),
    };
    let stage = Stage::new(deps, harness).await;
    let (status, body) = stage.send_to_bot(harness, &request).await;
    assert_eq!(status, 200, "{}: URL verification: {body}", harness.name());
    assert!(
        answer_is_right(&body),
        "{}: URL verification answer: {body}",
        harness.name()
    );
    assert_eq!(
        stage.drain().await,
        0,
        "{}: a verification is not a message",
        harness.name()
    );
}

/// The same delivery three times is accepted three times and queued once.
///
/// # Panics
/// When the mode does not conform.
pub async fn delivered_three_times_queued_once(deps: Deps, harness: &dyn WebhookHarness) {
    let stage = Stage::new(deps, harness).await;
    let request = harness.message("conformance-msg-1", "hello");
    for attempt in 1..=3 {
        let (status, body) = stage.send_to_bot(harness, &request).await;
        assert_eq!(status, 200, "{}: delivery {attempt}: {body}", harness.name());
    }
    assert_eq!(
        stage.drain().await,
        1,
        "{}: one message however often delivered",
        harness.name()
    );
    let other = harness.message("conformance-msg-2", "another");
    assert_eq!(stage.send_to_bot(harness, &other).await.0, 200);
    assert_eq!(
        stage.drain().await,
        1,
        "{}: another message is queued too",
        harness.name()
    );
}

/// While the queue is down a delivery gets a 5xx (so the platform retries it) and leaves no
/// trace; the retry once the queue is back is queued once.
///
/// # Panics
/// When the mode does not conform.
pub async fn queue_outage_is_a_5xx_and_the_retry_is_queued(deps: Deps, harness: &dyn WebhookHarness) {
    let down = Arc::new(AtomicBool::new(true));
    let queue: Arc<dyn Queue> = Arc::new(FlakyQueue::new(deps.queue.clone(), down.clone()));
    let stage = Stage::with_queue(deps, harness, Some(queue)).await;
    let name = harness.name();
    let request = harness.message("conformance-outage-1", "while the queue is down");
    let (status, body) = stage.send_to_bot(harness, &request).await;
    assert!((500..600).contains(&status), "{name}: queue down: {status} {body}");
    assert!(body.contains("\"error\""), "{name}: a clear error, got {body}");
    assert_eq!(stage.drain().await, 0, "{name}: nothing queued while the queue is down");

    down.store(false, Ordering::SeqCst);
    for attempt in 1..=2 {
        let (status, body) = stage.send_to_bot(harness, &request).await;
        assert_eq!(status, 200, "{name}: retry {attempt} after the outage: {body}");
    }
    assert_eq!(stage.drain().await, 1, "{name}: the retry is queued, once");
}

/// Every bad request gets its 4xx and nothing is queued.
///
/// # Panics
/// When the mode does not conform.
pub async fn bad_requests_are_refused_and_queue_nothing(deps: Deps, harness: &dyn WebhookHarness) {
    let stage = Stage::new(deps, harness).await;
    let name = harness.name();
    let cases = [
        ("bad signature", Breakage::BadSignature, UNAUTHORIZED),
        ("stale timestamp", Breakage::StaleTimestamp, UNAUTHORIZED),
        ("broken body", Breakage::BrokenBody, BAD_REQUEST),
    ];
    for (what, breakage, status) in cases {
        let Some(request) = harness.broken(&format!("bad-{what}"), breakage) else {
            declared(harness, what, harness.no_check(breakage));
            continue;
        };
        let (got, body) = stage.send_to_bot(harness, &request).await;
        assert_eq!(got, status, "{name}: {what}: {body}");
        assert!(body.contains("\"error\""), "{name}: {what}: a clear error, got {body}");
    }
    let mut oversized = harness.message("bad-4", "big");
    oversized.body = vec![b' '; 70 * 1024];
    let (got, body) = stage.send_to_bot(harness, &oversized).await;
    assert_eq!(got, TOO_LARGE, "{name}: oversized body: {body}");
    let valid = harness.message("bad-5", "to nobody");
    let never_created = IntegrationId::generate();
    for unknown in [never_created.as_str(), "not-an-id"] {
        let (got, body) = stage.send(harness, unknown, &valid).await;
        assert_eq!(got, NOT_FOUND, "{name}: unknown integration {unknown}: {body}");
    }
    assert_eq!(stage.drain().await, 0, "{name}: nothing refused is queued");
}
