//! What a message costs on AWS, per platform and mode: the real webhook router (the webhook
//! function's code), the dispatcher function's own handler fed by a stand-in for Lambda's SQS
//! event source, and the relay, on DynamoDB, SQS and KMS (moto's server behind a counting proxy),
//! each mode's platform played by its conformance harness and fake.
//!
//! ```sh
//! IMGATE_MOTO_SERVER=.venv/bin/moto_server cargo bench --profile dev -p imgate-tests --bench aws_requests
//! ```
//!
//! (Counts do not depend on optimisation, so the dev profile saves a release build.)
//!
//! Settings (environment): `BENCH_MESSAGES` (default 5) messages per mode and agent, one after
//! another, each waited for; `BENCH_IDLE_SECS` (default 40) the idle window measured first;
//! `BENCH_MODES` (default all) a comma-separated list such as `wecom_webhook,lark_long_connection`;
//! `BENCH_AGENTS` (default `echo,stream`); `BENCH_PLACEMENTS` (default `lambda,relay`) where
//! the dispatcher runs: the function (fed by the event source stand-in) or the relay's queue
//! worker (`IMGATE_DISPATCHER_PLACEMENT=relay`), whose figures are listed as
//! `<mode> (dispatcher in relay)`.
//!
//! Two agents: `echo` answers at once; `stream` is the reference agent, 2,000 characters
//! streamed over 10 s (100 parts of 20 characters, 0.1 s apart) by an OpenAI-compatible fake.
//!
//! Per mode and agent: one warm-up message (tokens fetched, caches filled), then an idle window
//! that gives what runs without messages (the relay's lease renewals and reconciles, the event
//! source's long polls), then the messages. What a message costs is what the messages window
//! counted beyond the idle rate over the same time, divided by the messages. Webhook requests are
//! counted at a second proxy in front of the gateway: on AWS each is an API Gateway request and a
//! webhook function invocation, billed for the time it took here. WeCom's stream refreshes are
//! played once a second, an assumption (WeCom does not document the cadence).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod cost;

use std::time::{Duration, Instant};

use imgate_core::relay::RelaySettings;
use imgate_dispatcher_fn::Settings;
use imgate_tests::conformance::chat::{Chat, ChatHarness};
use imgate_tests::conformance::modes::{self, MODES};
use imgate_tests::counting_proxy::{CountingProxy, Counts, OpCount, since};
use imgate_tests::event_source::EventSource;
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::gateway::Gateway;
use imgate_tests::moto::MotoServer;
use imgate_tests::world::{TestOrg, start_relay};
use serde_json::json;

/// The reference agent: 100 parts of 20 characters, 0.1 s apart, each different (a fake
/// platform may check that a delta does not repeat the text before it).
const STREAM_PARTS: usize = 100;
const STREAM_PACE: Duration = Duration::from_millis(100);

/// The dispatcher function's invocations are counted under this name.
const DISPATCHER: &str = "lambda:dispatcher";
/// DynamoDB requests by the kind of item they touch are counted again under this prefix
/// (`by item:dynamodb:PutItem EVENTS`): a breakdown, left out of every total.
const BY_ITEM: &str = "by item:";

/// The operations that are billed, without the by-item breakdown.
fn billed(figures: &Figures) -> impl Iterator<Item = (&String, &OpCount)> {
    figures.per_message.iter().filter(|(op, _)| !op.starts_with(BY_ITEM))
}

async fn harness(mode: &str) -> Box<dyn ChatHarness> {
    modes::start(mode)
        .await
        .unwrap_or_else(|| panic!("unknown mode {mode} (one of {MODES:?})"))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn chosen<'a>(variable: &str, all: &[&'a str]) -> Vec<&'a str> {
    let chosen = std::env::var(variable).unwrap_or_default();
    all.iter()
        .copied()
        .filter(|m| chosen.is_empty() || chosen.split(',').any(|c| c.trim() == *m))
        .collect()
}

/// One mode and agent's figures: per message, and per hour idle.
struct Figures {
    mode: String,
    agent: String,
    per_message: Counts,
    idle_per_hour: Counts,
}

/// The agent a bot is bound to: its id, and the fake that must live as long as the run.
async fn agent(org: &TestOrg, kind: &str) -> (String, String, Option<FakeAgent>) {
    if kind == "echo" {
        return (org.echo_agent_id.clone(), String::new(), None);
    }
    let parts: Vec<String> = (0..STREAM_PARTS).map(|i| format!("reference part {i:03}. ")).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let fake = FakeAgent::start_paced(&parts, STREAM_PACE).await;
    let id = org
        .agent(json!({"name": "reference", "kind": "openai_compatible",
            "config": {"base_url": fake.base_url, "model": "m", "api_key": "sk-bench", "timeout_seconds": 60}}))
        .await;
    (id, parts.concat(), Some(fake))
}

/// Where the dispatcher runs: `lambda` (the function, fed by the event source stand-in) or
/// `relay` (the queue worker the relay runs with `IMGATE_DISPATCHER_PLACEMENT=relay`).
const PLACEMENTS: [&str; 2] = ["lambda", "relay"];
/// The relay's long-poll wait (`imgate relay`'s `QUEUE_WAIT`).
const RELAY_QUEUE_WAIT: Duration = Duration::from_secs(5);

async fn measure(mode: &str, agent_kind: &str, placement: &str, messages: u64, idle: Duration) -> Figures {
    let harness = harness(mode).await;
    let moto = MotoServer::shared();
    let aws = CountingProxy::start(&moto.endpoint()).await;
    let config = moto.sdk_config().to_builder().endpoint_url(&aws.endpoint).build();
    let backend = imgate_tests::aws::fresh_backend_with(&config, 5).await.unwrap();
    let deps = backend.deps.clone();
    let mut endpoints = imgate_channels::Endpoints::default();
    harness.endpoints(&mut endpoints);
    let org = TestOrg::create(&deps).await;
    let (agent_id, streamed, _fake) = agent(&org, agent_kind).await;
    let integration = org
        .bot(harness.integration(), Some(&agent_id), json!({}))
        .await
        .to_string();
    // The webhook and admin functions' router; the dispatcher runs as the function, below.
    let gateway = Gateway::start_with(deps.clone(), 5, false, &endpoints).await;
    let webhooks = CountingProxy::start(&gateway.base).await;
    let settings = Settings {
        max_receives: 5,
        ..Settings::default()
    };
    let dispatcher = || imgate_dispatcher_fn::dispatcher_with(&deps, &settings, &endpoints, None).unwrap();
    let in_lambda = placement == "lambda";
    let (inbound, _delayed) = if in_lambda {
        let inbound = EventSource::start(
            backend.sqs.clone(),
            backend.settings.queue_url.clone(),
            backend.queue_arn.clone(),
            dispatcher(),
        );
        // The delay queue's records carry no group and no ARN the dispatcher reads.
        let delayed = EventSource::start(
            backend.sqs.clone(),
            backend.settings.delay_queue_url.clone(),
            backend.queue_arn.clone(),
            dispatcher(),
        );
        (Some(inbound), Some(delayed))
    } else {
        (None, None)
    };
    // The relay's dispatcher: the worker on long-polling queues, as `imgate relay` runs it.
    let (_stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
    let _worker = (!in_lambda).then(|| {
        let queue = imgate_aws::SqsQueue::new(
            backend.sqs.clone(),
            &backend.settings.queue_url,
            &backend.settings.dead_letter_queue_url,
            &backend.settings.delay_queue_url,
        )
        .with_wait_time(RELAY_QUEUE_WAIT);
        tokio::spawn(imgate_core::dispatch::worker::run(
            std::sync::Arc::new(queue),
            dispatcher(),
            worker_stopped,
        ))
    });
    let _relay = harness.connector(&deps).map(|connector| {
        start_relay(
            &deps,
            deps.queue.clone(),
            harness.platform(),
            connector,
            RelaySettings::new(format!("bench-{mode}")),
        )
    });
    let exchange = |n: u64| {
        let harness = &harness;
        let base = webhooks.endpoint.clone();
        let integration = integration.clone();
        let streamed = streamed.clone();
        async move {
            let text = format!("message {n}");
            let said = harness.say(&base, &integration, Chat::Direct, &text, false).await;
            let expected = if streamed.is_empty() {
                format!("You said: {text}")
            } else {
                streamed
            };
            let refreshes = mode == "wecom_webhook";
            let deadline = Instant::now() + Duration::from_secs(90);
            // Platforms that send whole blocks trim the answer's ends.
            while harness.answer(&said).await.as_deref().map(str::trim) != Some(expected.trim()) {
                assert!(Instant::now() < deadline, "{mode}: no answer to {text:?}");
                let pause = if refreshes { 1000 } else { 50 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
        }
    };
    let dispatcher_counts = || {
        let durations = inbound
            .as_ref()
            .map(|source| source.invocations.durations())
            .unwrap_or_default();
        let mut counts = Counts::new();
        counts.insert(
            DISPATCHER.to_owned(),
            OpCount {
                requests: durations.len() as u64,
                millis: durations.iter().map(|d| d.as_secs_f64() * 1000.0).sum(),
                ..OpCount::default()
            },
        );
        counts
    };
    let by_item = || {
        aws.counts_by_item()
            .into_iter()
            .map(|(op, count)| (format!("{BY_ITEM}{op}"), count))
            .collect::<Counts>()
    };
    let all_counts = || {
        merge(
            merge(merge(aws.counts(), webhooks.counts()), dispatcher_counts()),
            by_item(),
        )
    };
    exchange(0).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let idle_start = (all_counts(), Instant::now());
    tokio::time::sleep(idle).await;
    let idle_counts = since(&all_counts(), &idle_start.0);
    let idle_secs = idle_start.1.elapsed().as_secs_f64();

    let start = (all_counts(), Instant::now());
    for n in 1..=messages {
        exchange(n).await;
    }
    // The last answer is shown before its delivery is marked and its queue message deleted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = since(&all_counts(), &start.0);
    let busy_secs = start.1.elapsed().as_secs_f64();

    let scale = busy_secs / idle_secs;
    let per_message = busy
        .iter()
        .filter_map(|(op, count)| {
            let background = idle_counts.get(op).copied().unwrap_or_default();
            let per = |busy: f64, idle: f64| (busy - idle * scale) / messages as f64;
            let requests = per(count.requests as f64, background.requests as f64);
            (requests > 0.05).then(|| {
                (
                    op.clone(),
                    OpCount {
                        // Hundredths of a request, kept in an integer.
                        requests: (requests * 100.0).round() as u64,
                        write_units: per(count.write_units, background.write_units),
                        read_units: per(count.read_units, background.read_units),
                        millis: per(count.millis, background.millis),
                    },
                )
            })
        })
        .collect();
    let idle_per_hour = idle_counts
        .into_iter()
        .map(|(op, count)| {
            let hourly = 3600.0 / idle_secs;
            (
                op,
                OpCount {
                    requests: (count.requests as f64 * hourly).round() as u64,
                    write_units: count.write_units * hourly,
                    read_units: count.read_units * hourly,
                    millis: count.millis * hourly,
                },
            )
        })
        .collect();
    Figures {
        mode: if in_lambda {
            mode.to_owned()
        } else {
            format!("{mode} (dispatcher in relay)")
        },
        agent: agent_kind.to_owned(),
        per_message,
        idle_per_hour,
    }
}

fn merge(mut a: Counts, b: Counts) -> Counts {
    a.extend(b);
    a
}

/// Requests per message of the operations whose names start with `prefix`.
fn requests(figures: &Figures, prefix: &str) -> f64 {
    let sum: f64 = figures
        .per_message
        .iter()
        .filter(|(op, _)| op.starts_with(prefix))
        .map(|(_, c)| c.requests as f64 / 100.0)
        .sum();
    non_negative(sum)
}

/// What the idle rate leaves is noise around zero, never a negative count.
fn non_negative(figure: f64) -> f64 {
    if figure > 0.0 { figure } else { 0.0 }
}

fn is_write(op: &str) -> bool {
    op.starts_with("dynamodb:")
        && [
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "TransactWriteItems",
            "BatchWriteItem",
        ]
        .iter()
        .any(|w| op.ends_with(w))
}

/// What one message uses, in billed units.
fn usage(figures: &Figures) -> cost::Usage {
    let webhook = |c: &OpCount| c.requests as f64 / 100.0;
    let webhook_requests: f64 = figures
        .per_message
        .iter()
        .filter(|(op, _)| op.starts_with("POST /api/") || op.starts_with("GET /api/"))
        .map(|(_, c)| webhook(c))
        .sum();
    let webhook_millis: f64 = figures
        .per_message
        .iter()
        .filter(|(op, _)| op.starts_with("POST /api/") || op.starts_with("GET /api/"))
        .map(|(_, c)| c.millis)
        .sum();
    let dispatcher = figures.per_message.get(DISPATCHER).copied().unwrap_or_default();
    cost::Usage {
        write_units: billed(figures).map(|(_, c)| c.write_units).sum(),
        read_units: billed(figures).map(|(_, c)| c.read_units).sum(),
        sqs_requests: requests(figures, "sqs:"),
        kms_requests: requests(figures, "kms:"),
        http_api_requests: non_negative(webhook_requests),
        lambda_invocations: non_negative(webhook_requests) + dispatcher.requests as f64 / 100.0,
        lambda_seconds: non_negative(webhook_millis + dispatcher.millis) / 1000.0,
    }
}

fn report_detail(figures: &Figures) {
    println!("\n#### {} — {}\n", figures.mode, figures.agent);
    println!("| operation | requests per message | WCU per message | RCU per message | ms per message |");
    println!("|---|---|---|---|---|");
    for (op, count) in billed(figures) {
        // Time is billed for the functions only (an SQS long poll's wait is free).
        let billed_time = op.starts_with("lambda:") || op.contains(" /api/");
        println!(
            "| `{op}` | {:.2} | {:.2} | {:.2} | {} |",
            count.requests as f64 / 100.0,
            count.write_units,
            count.read_units,
            if billed_time {
                format!("{:.0}", count.millis)
            } else {
                "—".to_owned()
            }
        );
    }
    let items: Vec<String> = figures
        .per_message
        .iter()
        .filter_map(|(op, c)| op.strip_prefix(BY_ITEM).map(|op| (op, c)))
        .map(|(op, c)| {
            format!(
                "`{}` {:.2}",
                op.trim_start_matches("dynamodb:"),
                c.requests as f64 / 100.0
            )
        })
        .collect();
    if !items.is_empty() {
        println!("\nDynamoDB per message, by item: {}.", items.join(", "));
    }
    let idle: Vec<String> = figures
        .idle_per_hour
        .iter()
        .filter(|(op, _)| !op.starts_with(BY_ITEM))
        .map(|(op, c)| format!("`{op}` {}", c.requests))
        .collect();
    println!(
        "\nIdle, per hour: {}.",
        if idle.is_empty() {
            "nothing".to_owned()
        } else {
            idle.join(", ")
        }
    );
}

/// Where both placements were measured: what each costs per message, and from which monthly
/// volume the relay placement is cheaper.
fn report_placement(all: &[Figures]) {
    const RELAY: &str = " (dispatcher in relay)";
    let pairs: Vec<(&Figures, &Figures)> = all
        .iter()
        .filter_map(|relay| {
            let mode = relay.mode.strip_suffix(RELAY)?;
            let lambda = all.iter().find(|f| f.mode == mode && f.agent == relay.agent)?;
            Some((lambda, relay))
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let per_hour = |figures: &Figures| {
        let hourly: Counts = figures
            .idle_per_hour
            .iter()
            .map(|(op, c)| {
                (
                    op.clone(),
                    OpCount {
                        requests: c.requests * 100,
                        ..*c
                    },
                )
            })
            .collect();
        let figures = Figures {
            mode: String::new(),
            agent: String::new(),
            per_message: hourly,
            idle_per_hour: Counts::new(),
        };
        cost::price(&usage(&figures)).total()
    };
    let big = cost::task_month(cost::BIG_RELAY_VCPU, cost::BIG_RELAY_GB);
    println!("\n### Dispatcher placement\n");
    println!(
        "Dollars per million messages with the dispatcher in the function and in the relay, and the \
         monthly volume above which the relay is cheaper: (a) the relay task runs anyway for long \
         connections, (b) it is deployed only for the dispatcher (${:.2} a month), (c) it is grown to \
         {} vCPU and {} GB for volume (${:.2} a month). Each includes the relay's idle queue polling.\n",
        cost::relay_month(),
        cost::BIG_RELAY_VCPU,
        cost::BIG_RELAY_GB,
        big
    );
    println!("| mode | agent | function $/M | relay $/M | (a) cheaper above | (b) cheaper above | (c) cheaper above |");
    println!("|---|---|---|---|---|---|---|");
    let volume = |messages: Option<f64>| match messages {
        None => "never".to_owned(),
        Some(m) if m < 1.0 => "any volume".to_owned(),
        Some(m) if m < 1e6 => format!("{:.0} thousand/month", (m / 1e3).max(1.0)),
        Some(m) => format!("{:.1} million/month", m / 1e6),
    };
    for (lambda, relay) in pairs {
        let (on_lambda, on_relay) = (usage(lambda), usage(relay));
        let idle = (per_hour(relay) - per_hour(lambda)) * cost::HOURS_PER_MONTH;
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {} | {} |",
            lambda.mode,
            lambda.agent,
            cost::price(&on_lambda).total() * 1e6,
            cost::price(&on_relay).total() * 1e6,
            volume(cost::crossover(&on_lambda, &on_relay, idle)),
            volume(cost::crossover(&on_lambda, &on_relay, idle + cost::relay_month())),
            volume(cost::crossover(&on_lambda, &on_relay, idle + big - cost::relay_month())),
        );
    }
}

fn report_summary(all: &[Figures]) {
    println!("\n### Requests per message\n");
    println!(
        "| mode | agent | DynamoDB writes | WCU | DynamoDB reads | RCU | SQS | KMS | API Gateway | Lambda invocations | Lambda s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for figures in all {
        let writes: f64 = figures
            .per_message
            .iter()
            .filter(|(op, _)| is_write(op))
            .map(|(_, c)| c.requests as f64 / 100.0)
            .sum();
        let usage = usage(figures);
        println!(
            "| {} | {} | {writes:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            figures.mode,
            figures.agent,
            usage.write_units,
            requests(figures, "dynamodb:") - writes,
            usage.read_units,
            usage.sqs_requests,
            usage.kms_requests,
            usage.http_api_requests,
            usage.lambda_invocations,
            usage.lambda_seconds,
        );
    }
    println!(
        "\n### Dollars per million messages (us-east-1 list prices of {})\n",
        cost::PRICE_DATE
    );
    println!("| mode | agent | DynamoDB | SQS | KMS | API Gateway | Lambda | total |");
    println!("|---|---|---|---|---|---|---|---|");
    for figures in all {
        let dollars = cost::price(&usage(figures));
        let million = |d: f64| d * 1e6;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.2}** |",
            figures.mode,
            figures.agent,
            million(dollars.dynamodb),
            million(dollars.sqs),
            million(dollars.kms),
            million(dollars.http_api),
            million(dollars.lambda),
            million(dollars.total()),
        );
    }
    report_placement(all);
    println!("\n### Idle, per month\n");
    println!(
        "The relay task (Fargate arm64, {} vCPU, {} GB, always on): ${:.2}; the KMS key: ${:.2}.\n",
        cost::RELAY_VCPU,
        cost::RELAY_GB,
        cost::relay_month(),
        cost::KMS_KEY_MONTH
    );
    println!("| mode | requests per hour without messages | dollars per month |");
    println!("|---|---|---|");
    for figures in all.iter().filter(|f| f.agent == "echo") {
        let hourly = Figures {
            mode: figures.mode.clone(),
            agent: figures.agent.clone(),
            per_message: figures
                .idle_per_hour
                .iter()
                .map(|(op, c)| {
                    (
                        op.clone(),
                        OpCount {
                            requests: c.requests * 100,
                            ..*c
                        },
                    )
                })
                .collect(),
            idle_per_hour: Counts::new(),
        };
        let month = cost::price(&usage(&hourly)).total() * cost::HOURS_PER_MONTH;
        let listed: Vec<String> = figures
            .idle_per_hour
            .iter()
            .filter(|(op, _)| !op.starts_with(BY_ITEM))
            .map(|(op, c)| format!("`{op}` {}", c.requests))
            .collect();
        println!("| {} | {} | {month:.2} |", figures.mode, listed.join(", "));
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("aws_requests: run with `cargo bench --profile dev -p imgate-tests --bench aws_requests`");
        return;
    }
    let messages = env_number("BENCH_MESSAGES", 5);
    let idle = Duration::from_secs(env_number("BENCH_IDLE_SECS", 40));
    let modes = chosen("BENCH_MODES", &MODES);
    let agents = chosen("BENCH_AGENTS", &["echo", "stream"]);
    let placements = chosen("BENCH_PLACEMENTS", &PLACEMENTS);
    println!(
        "AWS requests per message: {messages} messages per mode and agent, idle window {} s",
        idle.as_secs()
    );
    let mut all = Vec::new();
    for placement in &placements {
        for mode in &modes {
            for agent in &agents {
                let figures = measure(mode, agent, placement, messages, idle).await;
                report_detail(&figures);
                all.push(figures);
            }
        }
    }
    report_summary(&all);
}
