//! What the gateway adds to the wait, per backend and mode: from the platform's callback (or
//! frame) to the agent's request, and from the agent's first token to the first text the
//! platform shows.
//!
//! ```sh
//! IMGATE_MOTO_SERVER=.venv/bin/moto_server cargo bench -p imgate-tests --bench latency
//! ```
//!
//! Everything runs in this process: the platform's fake (played by its conformance harness),
//! the gateway (webhook router, relay, dispatcher), an OpenAI-compatible fake agent that sends
//! its first token 100 ms after the request and the rest in 4 more parts 100 ms apart, and, for
//! `aws`, DynamoDB, SQS and KMS on moto's server with the dispatcher function's handler fed by
//! the stand-in for Lambda's SQS event source (five pollers, each invoking its own batches, as
//! Lambda's mapping starts). One monotonic clock times it all:
//!
//! - **A, callback → agent request**: from the harness starting to send the callback until
//!   the fake agent has the request;
//! - **B, first token → first visible update**: from the fake agent writing its first token
//!   until the harness first reads text in the chat (polled every 2 ms).
//!
//! Light load: one message at a time. Heavy load: messages from many conversations at once
//! (only for modes whose harness gives every message its own sender; the others would queue
//! them behind each other in one conversation, which measures ordering, not the gateway).
//!
//! Settings (environment): `BENCH_BACKENDS` (default `embedded,aws`), `BENCH_MODES` (default
//! below), `BENCH_LIGHT` (default 30 messages), `BENCH_HEAVY` (default 30 at once),
//! `BENCH_ROUNDS` (default 2 heavy rounds).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use imgate_core::ports::Deps;
use imgate_core::relay::RelaySettings;
use imgate_dispatcher_fn::Settings;
use imgate_tests::conformance::chat::{Chat, ChatHarness};
use imgate_tests::conformance::modes;
use imgate_tests::event_source::EventSource;
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::gateway::Gateway;
use imgate_tests::moto::MotoServer;
use imgate_tests::world::{TestOrg, embedded_deps, start_relay};
use serde_json::json;

const MODES: [&str; 5] = [
    "telegram_webhook",
    "dingtalk_http",
    "dingtalk_stream",
    "wecom_long_connection",
    "weibo_long_connection",
];
/// Modes whose harness sends every message from a new sender (its own conversation).
const ONE_CONVERSATION_PER_MESSAGE: [&str; 3] = ["wecom_webhook", "wecom_long_connection", "weibo_long_connection"];

const PARTS: [&str; 5] = [
    "The first words",
    ", then more",
    ", and more",
    ", nearly done",
    ", done.",
];
const PACE: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(2);
/// Concurrent batches of the stand-in for Lambda's SQS event source: Lambda starts with five.
const POLLERS: usize = 5;

async fn harness(mode: &str) -> Box<dyn ChatHarness> {
    modes::start(mode)
        .await
        .unwrap_or_else(|| panic!("unknown mode {mode} (one of {:?})", modes::MODES))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chosen(variable: &str, all: &[&str]) -> Vec<String> {
    match std::env::var(variable) {
        Ok(list) if !list.trim().is_empty() => list.split(',').map(|m| m.trim().to_owned()).collect(),
        _ => all.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// One message's two intervals.
#[derive(Debug, Clone, Copy)]
struct Sample {
    to_agent: Duration,
    to_visible: Duration,
}

/// A running gateway for one backend and mode.
struct Setup {
    harness: Box<dyn ChatHarness>,
    base: String,
    integration: String,
    agent: FakeAgent,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

async fn setup(backend: &str, mode: &str) -> Setup {
    let harness = harness(mode).await;
    let mut endpoints = imgate_channels::Endpoints::default();
    harness.endpoints(&mut endpoints);
    let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let deps: Deps = if backend == "aws" {
        let moto = MotoServer::shared();
        let aws = imgate_tests::aws::fresh_backend_with(&moto.sdk_config(), 5)
            .await
            .unwrap();
        let settings = Settings {
            max_receives: 5,
            ..Settings::default()
        };
        for url in [&aws.settings.queue_url, &aws.settings.delay_queue_url] {
            let dispatcher = imgate_dispatcher_fn::dispatcher_with(&aws.deps, &settings, &endpoints, None).unwrap();
            keep.push(Box::new(EventSource::start_pollers(
                aws.sqs.clone(),
                url.clone(),
                aws.queue_arn.clone(),
                dispatcher,
                POLLERS,
            )));
        }
        aws.deps.clone()
    } else {
        embedded_deps(5).await
    };
    let org = TestOrg::create(&deps).await;
    let agent = FakeAgent::start_paced(&PARTS, PACE).await;
    let agent_id = org
        .agent(json!({"name": "paced", "kind": "openai_compatible",
            "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-bench", "timeout_seconds": 60}}))
        .await;
    let integration = org
        .bot(harness.integration(), Some(&agent_id), json!({}))
        .await
        .to_string();
    // The embedded backend runs the dispatcher as `imgate serve` does, in the gateway's worker.
    let gateway = Gateway::start_with(deps.clone(), 5, backend != "aws", &endpoints).await;
    let base = gateway.base.clone();
    keep.push(Box::new(gateway));
    if let Some(connector) = harness.connector(&deps) {
        keep.push(Box::new(start_relay(
            &deps,
            deps.queue.clone(),
            harness.platform(),
            connector,
            RelaySettings::new(format!("latency-{mode}")),
        )));
    }
    Setup {
        harness,
        base,
        integration,
        agent,
        _keep: keep,
    }
}

/// Sends `text` and times it; waits for the whole answer before returning.
async fn exchange(setup: &Setup, text: &str) -> Sample {
    let started = Instant::now();
    let said = setup
        .harness
        .say(&setup.base, &setup.integration, Chat::Direct, text, false)
        .await;
    let deadline = started + Duration::from_secs(60);
    let visible = loop {
        if setup.harness.answer(&said).await.is_some_and(|a| !a.trim().is_empty()) {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "no answer to {text:?}");
        tokio::time::sleep(POLL).await;
    };
    let whole = PARTS.concat();
    while setup.harness.answer(&said).await.as_deref().map(str::trim) != Some(whole.trim()) {
        assert!(Instant::now() < deadline, "the answer to {text:?} did not complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let timing = setup
        .agent
        .timings()
        .into_iter()
        .find(|t| t.text.contains(text))
        .expect("the agent was asked");
    let first = timing.first_chunk.expect("the agent answered");
    Sample {
        to_agent: timing.arrived.saturating_duration_since(started),
        to_visible: visible.saturating_duration_since(first),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn row(backend: &str, mode: &str, load: &str, samples: &[Sample]) {
    let mut a: Vec<Duration> = samples.iter().map(|s| s.to_agent).collect();
    let mut b: Vec<Duration> = samples.iter().map(|s| s.to_visible).collect();
    a.sort();
    b.sort();
    println!(
        "| {backend} | {mode} | {load} | {} | {} | {} | {} | {} | {} | {} |",
        samples.len(),
        ms(percentile(&a, 0.5)),
        ms(percentile(&a, 0.99)),
        ms(a[a.len() - 1]),
        ms(percentile(&b, 0.5)),
        ms(percentile(&b, 0.99)),
        ms(b[b.len() - 1]),
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("latency: run with `cargo bench -p imgate-tests --bench latency`");
        return;
    }
    let backends = chosen("BENCH_BACKENDS", &["embedded", "aws"]);
    let modes = chosen("BENCH_MODES", &MODES);
    let light = env_number("BENCH_LIGHT", 30);
    let heavy = env_number("BENCH_HEAVY", 30) as usize;
    let rounds = env_number("BENCH_ROUNDS", 2);
    println!(
        "Gateway-added latency: {light} messages one at a time; {rounds} rounds of {heavy} at once \
         (one conversation each); agent: first token 100 ms after the request, 5 parts 100 ms apart\n"
    );
    println!("| backend | mode | load | messages | A p50 ms | A p99 ms | A max ms | B p50 ms | B p99 ms | B max ms |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for backend in &backends {
        for mode in &modes {
            let setup = setup(backend, mode).await;
            // A warm-up message: tokens fetched, connections open, caches filled.
            exchange(&setup, &format!("warm-up {backend} {mode}")).await;
            let mut samples = Vec::new();
            for n in 0..light {
                samples.push(exchange(&setup, &format!("light {n} {backend} {mode}")).await);
            }
            row(backend, mode, "light", &samples);
            if !ONE_CONVERSATION_PER_MESSAGE.contains(&mode.as_str()) {
                continue;
            }
            let mut samples = Vec::new();
            for round in 0..rounds {
                let texts: Vec<String> = (0..heavy)
                    .map(|n| format!("heavy {round}-{n} {backend} {mode}"))
                    .collect();
                let all = futures_util::future::join_all(texts.iter().map(|t| exchange(&setup, t))).await;
                samples.extend(all);
            }
            row(backend, mode, &format!("{heavy} at once"), &samples);
        }
    }
}
