//! Local path throughput: signed WeCom smart-bot callbacks over real HTTP → webhook → embedded
//! SQLite queue → dispatcher → echo agent → stream buffer, on one machine as `imgate serve` runs.
//!
//! ```sh
//! cargo bench -p imgate-tests --bench local_throughput
//! ```
//!
//! Settings (environment):
//! - `BENCH_MESSAGES` (default 2000): messages per run, all distinct;
//! - `BENCH_USERS` (default 100): distinct senders, so distinct FIFO groups;
//! - `BENCH_CONCURRENCY` (default 32): HTTP requests in flight;
//! - `BENCH_RUNS` (default 3): repetitions of each end-to-end scenario (median and range shown);
//! - `BENCH_SCENARIOS` (default `commit,webhook,e2e,e2e-split,e2e-tmpfs,drain,profile`): what to run.
//!
//! Scenarios:
//! - `commit`: the floor under every store write: one-row SQLite commits in WAL mode on the
//!   temp dir's disk and on tmpfs, `synchronous=FULL` (what the embedded backend sets) and `NORMAL`;
//! - `webhook`: the gateway without its queue worker: how fast callbacks are accepted (verified,
//!   deduped, enqueued durably, answered with the first stream frame);
//! - `e2e`: the whole path with the worker on, the database in a temp dir (as `imgate serve`):
//!   first POST to the last finished stream;
//! - `e2e-split`: the same with the queue in its own database file, so the store's and the
//!   queue's connections stop competing for one SQLite write lock;
//! - `e2e-tmpfs`: the same with the database on `/dev/shm`, where fsync costs nothing;
//! - `drain`: the dispatcher alone: callbacks are queued with the worker off, then 1 or 4
//!   worker loops drain the queue (disk and tmpfs): is the single worker loop the limit?
//!   (one run each: a diagnostic)
//! - `profile`: one `e2e` run whose store and queue count and time every call.
//!
//! Everything listens on 127.0.0.1 only, every wait is bounded, and the process exits by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod probe;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use imgate_channels::wecom::simulate::Simulator;
use imgate_core::admin::{CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::ports::Deps;
use imgate_tests::gateway::{BOOTSTRAP, Gateway};
use serde_json::json;

const TOKEN: &str = "t0k3nForThroughputBench";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// No end-to-end run waits longer than this for its streams to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(240);
/// The issue's target.
const TARGET_PER_SEC: f64 = 2000.0;

#[derive(Debug, Clone, Copy)]
struct Config {
    messages: usize,
    users: usize,
    concurrency: usize,
    runs: usize,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("local_throughput: run with `cargo bench -p imgate-tests --bench local_throughput`");
        return;
    }
    let config = Config {
        messages: env_usize("BENCH_MESSAGES", 2000),
        users: env_usize("BENCH_USERS", 100),
        concurrency: env_usize("BENCH_CONCURRENCY", 32),
        runs: env_usize("BENCH_RUNS", 3),
    };
    let scenarios = std::env::var("BENCH_SCENARIOS")
        .unwrap_or_else(|_| "commit,webhook,e2e,e2e-split,e2e-tmpfs,drain,profile".into());
    let scenarios: Vec<&str> = scenarios.split(',').map(str::trim).collect();
    println!(
        "local_throughput: {} messages, {} users, {} in flight, {} run(s) per scenario, {} CPUs",
        config.messages,
        config.users,
        config.concurrency,
        config.runs,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    if scenarios.contains(&"commit") {
        commit_floor();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if scenarios.contains(&"webhook") {
            let runs = repeat(config.runs, || run(config, Where::Disk, Mode::WebhookOnly)).await;
            report("webhook only (no worker), disk", &runs);
        }
        if scenarios.contains(&"e2e") {
            let runs = repeat(config.runs, || run(config, Where::Disk, Mode::EndToEnd)).await;
            report("end to end, disk (synchronous=FULL)", &runs);
        }
        if scenarios.contains(&"e2e-split") {
            let runs = repeat(config.runs, || run(config, Where::DiskSplit, Mode::EndToEnd)).await;
            report("end to end, disk, queue in its own file", &runs);
        }
        if scenarios.contains(&"e2e-tmpfs") {
            let runs = repeat(config.runs, || run(config, Where::Tmpfs, Mode::EndToEnd)).await;
            report("end to end, /dev/shm (no fsync cost)", &runs);
        }
        if scenarios.contains(&"drain") {
            for location in [Where::Disk, Where::Tmpfs] {
                for workers in [1, 4] {
                    // A diagnostic: one run each.
                    let runs = vec![run(config, location, Mode::Drain(workers)).await];
                    report(
                        &format!("queue drain by {workers} worker loop(s), {}", location.label()),
                        &runs,
                    );
                }
            }
        }
        if scenarios.contains(&"profile") {
            let outcome = run(config, Where::Disk, Mode::Profile).await;
            report("end to end, disk, store/queue timed", std::slice::from_ref(&outcome));
        }
    });
}

async fn repeat<F, Fut>(runs: usize, mut f: F) -> Vec<Outcome>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(f().await);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    /// One database file in a temp dir, as `imgate serve` opens it.
    Disk,
    /// The queue in a second file next to the store's.
    DiskSplit,
    /// One database file on tmpfs.
    Tmpfs,
}

impl Where {
    fn label(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::DiskSplit => "disk, queue in its own file",
            Self::Tmpfs => "/dev/shm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Callbacks only, no worker.
    WebhookOnly,
    /// The gateway's own worker running while callbacks arrive.
    EndToEnd,
    /// [`Mode::EndToEnd`] with a timed store and queue.
    Profile,
    /// Callbacks queued first, then drained by this many worker loops.
    Drain(usize),
}

/// One run's numbers.
#[derive(Debug, Clone, Default)]
struct Outcome {
    messages: usize,
    /// Callbacks answered 200 with a stream frame.
    accepted: usize,
    /// First POST to the last webhook answer.
    post_phase: Duration,
    /// First POST to the last finished stream (end-to-end runs).
    end_to_end: Option<Duration>,
    /// Streams finished when the run ended.
    finished: usize,
    /// Webhook answer latencies, sorted.
    webhook_latency: Vec<Duration>,
    /// Server-side `received` → `replied` per message from the event log (ms resolution), sorted.
    reply_latency: Vec<Duration>,
    /// Replies checked through refresh callbacks.
    verified: usize,
    /// Process CPU time (user + system, all threads: load generator included) over the run.
    cpu: Duration,
    /// Wall time the CPU time was measured over.
    wall: Duration,
    /// Drain runs: worker start → last finished stream, and how many streams that covered.
    drain: Option<(Duration, usize)>,
}

impl Outcome {
    fn accept_rate(&self) -> f64 {
        self.accepted as f64 / self.post_phase.as_secs_f64()
    }

    fn e2e_rate(&self) -> Option<f64> {
        self.end_to_end.map(|d| self.finished as f64 / d.as_secs_f64())
    }

    fn cpu_per_message_ms(&self) -> f64 {
        ms(self.cpu) / self.messages as f64
    }

    fn cores_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64()
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn median_and_range(mut values: Vec<f64>) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    if values.len() == 1 {
        format!("{median:.0}")
    } else {
        format!("{median:.0} ({:.0}–{:.0})", values[0], values[values.len() - 1])
    }
}

fn median_and_range_2(mut values: Vec<f64>) -> String {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => "-".into(),
        1 => format!("{:.2}", values[0]),
        n => format!("{:.2} ({:.2}–{:.2})", values[n / 2], values[0], values[n - 1]),
    }
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(title: &str, runs: &[Outcome]) {
    println!();
    println!("## {title}: {} run(s), median (min–max)", runs.len());
    println!("| metric | value |");
    println!("|---|---|");
    let row = |name: &str, values: Vec<f64>| println!("| {name} | {} |", median_and_range(values));
    row("messages sent", runs.iter().map(|r| r.messages as f64).collect());
    row("messages accepted", runs.iter().map(|r| r.accepted as f64).collect());
    row(
        "webhook acceptance, msg/s",
        runs.iter().map(Outcome::accept_rate).collect(),
    );
    row(
        "webhook answer p50, ms",
        runs.iter().map(|r| ms(percentile(&r.webhook_latency, 50))).collect(),
    );
    row(
        "webhook answer p99, ms",
        runs.iter().map(|r| ms(percentile(&r.webhook_latency, 99))).collect(),
    );
    println!(
        "| process CPU per message, ms (load generator included) | {} |",
        median_and_range_2(runs.iter().map(Outcome::cpu_per_message_ms).collect())
    );
    println!(
        "| cores busy on average (of {}) | {} |",
        std::thread::available_parallelism().map_or(0, usize::from),
        median_and_range_2(runs.iter().map(Outcome::cores_busy).collect())
    );
    if runs.iter().any(|r| r.drain.is_some()) {
        row(
            "drain (worker start → last finished), msg/s",
            runs.iter()
                .filter_map(|r| r.drain.map(|(d, n)| n as f64 / d.as_secs_f64()))
                .collect(),
        );
    }
    if runs.iter().any(|r| r.end_to_end.is_some() && r.drain.is_none()) {
        row("streams finished", runs.iter().map(|r| r.finished as f64).collect());
        row("end to end, msg/s", runs.iter().filter_map(Outcome::e2e_rate).collect());
        row(
            "first POST → last finished stream, ms",
            runs.iter().filter_map(|r| r.end_to_end.map(ms)).collect(),
        );
        row(
            "received → replied p50, ms (event log)",
            runs.iter().map(|r| ms(percentile(&r.reply_latency, 50))).collect(),
        );
        row(
            "received → replied p99, ms (event log)",
            runs.iter().map(|r| ms(percentile(&r.reply_latency, 99))).collect(),
        );
        row(
            "replies checked by refresh callbacks",
            runs.iter().map(|r| r.verified as f64).collect(),
        );
        let rates: Vec<f64> = runs
            .iter()
            .filter(|r| r.drain.is_none())
            .filter_map(Outcome::e2e_rate)
            .collect();
        if let Some(best) = rates.iter().copied().reduce(f64::max) {
            println!(
                "target ≥ {TARGET_PER_SEC:.0} msg/s end to end: {}",
                if best >= TARGET_PER_SEC { "met" } else { "NOT met" }
            );
        }
    }
}

/// The backend of one run in a fresh directory.
async fn backend(location: Where) -> (Deps, PathBuf, tempfile::TempDir) {
    let dir = match location {
        Where::Disk | Where::DiskSplit => tempfile::tempdir().unwrap(),
        Where::Tmpfs => tempfile::tempdir_in("/dev/shm").expect("/dev/shm is needed for e2e-tmpfs"),
    };
    let db = dir.path().join("imgate.db");
    let options = imgate_embedded::QueueOptions { max_receives: 3 };
    let deps = if location == Where::DiskSplit {
        let key = imgate_embedded::load_or_create_key(&dir.path().join("imgate.key")).unwrap();
        imgate_embedded::LocalBackend {
            store: Arc::new(imgate_embedded::SqliteStore::open(&db).await.unwrap()),
            queue: Arc::new(
                imgate_embedded::SqliteQueue::open(&dir.path().join("queue.db"), options)
                    .await
                    .unwrap(),
            ),
        }
        .deps(key)
    } else {
        imgate_embedded::open(&db, &dir.path().join("imgate.key"), options)
            .await
            .unwrap()
            .0
    };
    (deps, db, dir)
}

/// An organization, a WeCom smart bot, the echo agent and the trigger binding them.
async fn configure(gateway: &Gateway) -> String {
    let admin = &gateway.admin;
    let boot = admin.authenticate(Some(BOOTSTRAP)).await.unwrap();
    let org = admin.create_org(&boot, "bench").await.unwrap();
    let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let agent = admin
        .create_agent(
            &p,
            serde_json::from_value::<CreateAgent>(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    admin
        .publish_trigger(
            &p,
            &integration.id,
            serde_json::from_value::<PublishTrigger>(json!({"agentId": agent.id})).unwrap(),
        )
        .await
        .unwrap();
    integration.id
}

fn text_of(i: usize) -> String {
    format!("第{i}条消息：请帮我查一下订单 #{i} 的物流状态, thanks!")
}

async fn run(config: Config, location: Where, mode: Mode) -> Outcome {
    let (deps, db_path, _dir) = backend(location).await;
    let stats = probe::Stats::default();
    let deps = if mode == Mode::Profile {
        Deps {
            store: Arc::new(probe::TimedStore {
                inner: deps.store.clone(),
                stats: stats.clone(),
            }),
            queue: Arc::new(probe::TimedQueue {
                inner: deps.queue.clone(),
                stats: stats.clone(),
            }),
            keyring: deps.keyring.clone(),
        }
    } else {
        deps
    };
    // Replies fit the stream, so the WeCom API (response_url, message/send) is never called.
    let worker = matches!(mode, Mode::EndToEnd | Mode::Profile);
    let gateway = Gateway::start(deps, 3, worker, "http://127.0.0.1:9").await;
    let integration = configure(&gateway).await;
    let url = Arc::new(format!("{}/api/wecom/webhook/{integration}", gateway.base));
    let sim = Arc::new(Simulator::new(TOKEN, AES_KEY).unwrap());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency)
        .build()
        .unwrap();
    // One request first so connection setup and lazy statics are not measured.
    let warm = sim.text("warm-up", "warm-up-user", None, "warm up", None);
    let r = http
        .post(format!("{url}?{}", warm.query))
        .body(warm.body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "warm-up callback");
    let _ = r.text().await;
    let expected = config.messages + 1;
    if worker {
        wait_finished(&db_path, 1, Duration::from_secs(30)).await;
    }
    stats.reset();

    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let senders: Vec<_> = (0..config.concurrency)
        .map(|_| {
            let (next, sim, http, url) = (next.clone(), sim.clone(), http.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut streams = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= config.messages {
                        break;
                    }
                    let user = format!("user-{:04}", i % config.users);
                    let callback = sim.text(&format!("msg-{i:06}"), &user, None, &text_of(i), None);
                    let sent = Instant::now();
                    let answer = http
                        .post(format!("{url}?{}", callback.query))
                        .body(callback.body)
                        .send()
                        .await;
                    let body = match answer {
                        Ok(r) if r.status() == 200 => r.text().await.ok(),
                        Ok(r) => {
                            eprintln!("callback {i}: HTTP {}", r.status());
                            None
                        }
                        Err(error) => {
                            eprintln!("callback {i}: {error}");
                            None
                        }
                    };
                    latencies.push(sent.elapsed());
                    if let Some(frame) = body.and_then(|b| sim.read_stream(&b).ok()) {
                        streams.push((i, frame.id));
                    }
                }
                (latencies, streams)
            })
        })
        .collect();
    let mut webhook_latency = Vec::new();
    let mut streams = Vec::new();
    for sender in senders {
        let (l, s) = sender.await.unwrap();
        webhook_latency.extend(l);
        streams.extend(s);
    }
    let post_phase = started.elapsed();
    webhook_latency.sort();
    let mut outcome = Outcome {
        messages: config.messages,
        accepted: streams.len(),
        post_phase,
        webhook_latency,
        ..Outcome::default()
    };
    if mode == Mode::WebhookOnly {
        outcome.cpu = process_cpu().saturating_sub(cpu_before);
        outcome.wall = started.elapsed();
        return outcome;
    }
    let drain_started = Instant::now();
    let stop_workers = match mode {
        Mode::Drain(workers) => Some(start_workers(&gateway, workers)),
        _ => None,
    };
    let (finished, done) = wait_finished(&db_path, expected, DRAIN_LIMIT.saturating_sub(started.elapsed())).await;
    if let Some(stop) = stop_workers {
        outcome.drain = Some((done.duration_since(drain_started), finished));
        let _ = stop.send(true);
    }
    outcome.finished = finished.saturating_sub(1);
    outcome.end_to_end = Some(done.duration_since(started));
    outcome.cpu = process_cpu().saturating_sub(cpu_before);
    outcome.wall = started.elapsed();
    if finished < expected {
        eprintln!(
            "only {} of {} streams finished within {DRAIN_LIMIT:?}",
            outcome.finished, config.messages
        );
    }
    outcome.reply_latency = reply_latencies(&db_path);
    outcome.verified = verify_sample(&http, &url, &sim, &streams).await;
    if mode == Mode::Profile {
        print_profile(&stats, config.messages, outcome.end_to_end.unwrap_or_default());
    }
    outcome
}

/// Starts `workers` queue worker loops wired like the gateway's own (which is off in drain runs).
fn start_workers(gateway: &Gateway, workers: usize) -> tokio::sync::watch::Sender<bool> {
    let deps = &gateway.deps;
    let http = reqwest::Client::new();
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.wecom.api = "http://127.0.0.1:9".into();
    let dispatcher = imgate_core::dispatch::Dispatcher::new(
        deps,
        Arc::new(imgate_agents::Agents::new(http.clone()).with_retry(imgate_agents::RetryPolicy::none())),
        imgate_channels::Channels::new(deps, &http, &endpoints).repliers(),
        imgate_core::dispatch::DispatchSettings {
            max_receives: 3,
            update_interval: Duration::from_millis(50),
            ..imgate_core::dispatch::DispatchSettings::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for _ in 0..workers {
        tokio::spawn(imgate_core::dispatch::worker::run(
            deps.queue.clone(),
            dispatcher.clone(),
            stopped.clone(),
        ));
    }
    stop
}

/// Polls the database on its own read connection (WAL: readers never block the gateway's
/// writers) until `expected` streams are finished (not counting the recorded answers, kept in the
/// same table); returns the count and when it was seen.
async fn wait_finished(db: &Path, expected: usize, limit: Duration) -> (usize, Instant) {
    let db = db.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let started = Instant::now();
        let mut finished = 0;
        while started.elapsed() < limit {
            finished = conn
                .query_row(
                    "SELECT COUNT(*) FROM streams WHERE finished = 1 AND id NOT LIKE 'answer:%'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_or(finished, |n| usize::try_from(n).unwrap_or(0));
            if finished >= expected {
                return (finished, Instant::now());
            }
            std::thread::sleep(Duration::from_millis(4));
        }
        (finished, Instant::now())
    })
    .await
    .unwrap()
}

/// `received` → `replied` per message, from the event log's millisecond timestamps.
fn reply_latencies(db: &Path) -> Vec<Duration> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT MAX(CASE WHEN kind = 'replied' THEN at END) - MIN(CASE WHEN kind = 'received' THEN at END) \
             FROM event_log WHERE event_id LIKE 'msg-%' GROUP BY event_id \
             HAVING COUNT(CASE WHEN kind = 'replied' THEN 1 END) > 0",
        )
        .unwrap();
    let mut out: Vec<Duration> = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .filter_map(Result::ok)
        .map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .collect();
    out.sort();
    out
}

/// Asks for 20 streams the way WeCom does (refresh callbacks) and checks the echoed text.
async fn verify_sample(http: &reqwest::Client, url: &str, sim: &Simulator, streams: &[(usize, String)]) -> usize {
    let step = (streams.len() / 20).max(1);
    let mut ok = 0;
    for (n, (i, stream_id)) in streams.iter().step_by(step).take(20).enumerate() {
        let refresh = sim.refresh(&format!("refresh-{n}"), stream_id);
        let Ok(r) = http
            .post(format!("{url}?{}", refresh.query))
            .body(refresh.body)
            .send()
            .await
        else {
            continue;
        };
        let Ok(body) = r.text().await else { continue };
        match sim.read_stream(&body) {
            Ok(frame) if frame.finished && frame.content == format!("You said: {}", text_of(*i)) => ok += 1,
            other => eprintln!("stream of message {i} is not the echo: {other:?}"),
        }
    }
    ok
}

fn print_profile(stats: &probe::Stats, messages: usize, elapsed: Duration) {
    println!();
    println!(
        "## store/queue calls during the profiled run ({messages} messages, {:.2} s)",
        elapsed.as_secs_f64()
    );
    println!("| call | calls | per message | mean latency seen by caller, ms | total, s |");
    println!("|---|---|---|---|---|");
    let (mut calls, mut total) = (0u64, Duration::ZERO);
    for (name, n, t) in stats.snapshot() {
        let counted = !name.contains('(') && name != "queue.received messages";
        if counted {
            calls += n;
            total += t;
        }
        println!(
            "| {name} | {n} | {:.2} | {} | {} |",
            n as f64 / messages as f64,
            if counted {
                format!("{:.3}", ms(t) / n as f64)
            } else {
                "-".into()
            },
            if counted {
                format!("{:.2}", t.as_secs_f64())
            } else {
                "-".into()
            },
        );
    }
    println!(
        "| all calls | {calls} | {:.1} | {:.3} | {:.2} |",
        calls as f64 / messages as f64,
        ms(total) / calls.max(1) as f64,
        total.as_secs_f64()
    );
}

/// One-row commits in WAL mode: the cost under each store or queue write.
fn commit_floor() {
    const COMMITS: usize = 300;
    println!();
    println!("## SQLite commit floor: {COMMITS} one-row write transactions (BEGIN IMMEDIATE … COMMIT), WAL");
    println!("| where | synchronous | mean, µs | p50, µs | p99, µs | commits/s |");
    println!("|---|---|---|---|---|---|");
    let disk = tempfile::tempdir().unwrap();
    let shm = tempfile::tempdir_in("/dev/shm").ok();
    let mut places = vec![("temp dir (disk)", disk.path().to_path_buf())];
    if let Some(shm) = &shm {
        places.push(("/dev/shm (tmpfs)", shm.path().to_path_buf()));
    }
    for (label, dir) in places {
        for sync in ["FULL", "NORMAL"] {
            let path = dir.join(format!("commit-{sync}.db"));
            let mut conn = rusqlite::Connection::open(&path).unwrap();
            let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
            conn.pragma_update(None, "synchronous", sync).unwrap();
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
                .unwrap();
            let body = "x".repeat(600);
            let mut times = Vec::with_capacity(COMMITS);
            for i in 0..COMMITS {
                let started = Instant::now();
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap();
                tx.execute("INSERT INTO t (id, body) VALUES (?1, ?2)", rusqlite::params![i, body])
                    .unwrap();
                tx.commit().unwrap();
                times.push(started.elapsed());
            }
            times.sort();
            let mean = times.iter().sum::<Duration>() / u32::try_from(COMMITS).unwrap_or(1);
            println!(
                "| {label} | {sync} | {:.0} | {:.0} | {:.0} | {:.0} |",
                mean.as_secs_f64() * 1e6,
                percentile(&times, 50).as_secs_f64() * 1e6,
                percentile(&times, 99).as_secs_f64() * 1e6,
                1.0 / mean.as_secs_f64()
            );
        }
    }
    // Store and queue keep one connection each to the same file; SQLite has one write lock
    // per database, and a connection that finds it taken sleeps in its busy handler.
    let contention = tempfile::tempdir().unwrap();
    for connections in [1usize, 2] {
        let path = contention.path().join(format!("contention-{connections}.db"));
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
            conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")
                .unwrap();
        }
        let per_connection = COMMITS / connections;
        let started = Instant::now();
        let threads: Vec<_> = (0..connections)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut conn = rusqlite::Connection::open(&path).unwrap();
                    conn.busy_timeout(Duration::from_secs(10)).unwrap();
                    conn.pragma_update(None, "synchronous", "FULL").unwrap();
                    let mut worst = Duration::ZERO;
                    for _ in 0..per_connection {
                        let t = Instant::now();
                        let tx = conn
                            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                            .unwrap();
                        tx.execute("INSERT INTO t (body) VALUES (?1)", ["x".repeat(600)])
                            .unwrap();
                        tx.commit().unwrap();
                        worst = worst.max(t.elapsed());
                    }
                    worst
                })
            })
            .collect();
        let worst = threads.into_iter().map(|t| t.join().unwrap()).max().unwrap_or_default();
        let took = started.elapsed();
        println!(
            "{connections} connection(s) committing to one file (disk, FULL): {:.0} commits/s, slowest commit {:.1} ms",
            (per_connection * connections) as f64 / took.as_secs_f64(),
            ms(worst)
        );
    }
    // The embedded backend runs every query through spawn_blocking: the price of that hop.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let hop = runtime.block_on(async {
        let started = Instant::now();
        for _ in 0..10_000 {
            tokio::task::spawn_blocking(|| ()).await.unwrap();
        }
        started.elapsed() / 10_000
    });
    println!(
        "spawn_blocking round trip (idle runtime): {:.1} µs",
        hop.as_secs_f64() * 1e6
    );
}
