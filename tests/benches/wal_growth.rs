//! WAL under steady load: signed WeCom smart-bot callbacks at a steady rate through the local
//! path (webhook → embedded SQLite queue → dispatcher → echo agent → stream buffer, as
//! `imgate serve` runs it), sampling the size of the database file and of its `-wal` and `-shm`
//! files while the load runs and for a while after it stops.
//!
//! ```sh
//! cargo bench -p imgate-tests --bench wal_growth
//! BENCH_RATE=150 BENCH_SECONDS=60 cargo bench -p imgate-tests --bench wal_growth
//! ```
//!
//! Settings (environment):
//! - `BENCH_RATE` (default 150, at most 5000): callbacks per second, sent on a fixed schedule
//!   (message *i* at *i* / rate seconds) whatever the answers take;
//! - `BENCH_SECONDS` (default 180, at most 3600): how long the load runs;
//! - `BENCH_SAMPLE_SECONDS` (default 5): one table row per this many seconds (the WAL's size is
//!   read every 100 ms, so a row's maximum misses no peak longer than that);
//! - `BENCH_USERS` (default 100): distinct senders, so distinct FIFO groups;
//! - `BENCH_DB_DIR` (default: a temp dir): where the database is created;
//! - `BENCH_LOG` (default: none): a `tracing` filter for the gateway's log on stderr, e.g.
//!   `imgate_embedded=debug` to see every WAL restart and how long it took.
//!
//! Each accepted callback is followed 1 s later by one refresh callback for its stream, as WeCom
//! pulls an unfinished stream, so the webhook reads the stream buffer while writes go on.
//!
//! Everything listens on 127.0.0.1 only, every wait is bounded (in-flight requests by a
//! semaphore, the drain after the load by 60 s), and the process exits by itself. Run without
//! `--bench` (e.g. by `cargo test --benches`), it prints one line and exits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imgate_channels::wecom::simulate::Simulator;
use imgate_tests::gateway::Gateway;
use imgate_tests::world::TestOrg;
use serde_json::json;
use tokio::sync::Semaphore;

const TOKEN: &str = "t0k3nForWalGrowthBench";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// Requests (callbacks with their refresh) in flight at most; past it the schedule slips, and
/// the table shows it as fewer messages sent.
const MAX_IN_FLIGHT: usize = 2048;
/// The longest wait for the queue to drain after the load stops.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// How long sizes are still sampled once the queue has drained.
const AFTER_LOAD: Duration = Duration::from_secs(10);
/// How often the WAL's size is read for the maxima.
const POLL_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
struct Config {
    rate: u64,
    seconds: u64,
    sample: u64,
    users: u64,
}

fn env_u64(name: &str, default: u64, max: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
        .min(max)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("wal_growth: run with `cargo bench -p imgate-tests --bench wal_growth`");
        return;
    }
    let config = Config {
        rate: env_u64("BENCH_RATE", 150, 5000),
        seconds: env_u64("BENCH_SECONDS", 180, 3600),
        sample: env_u64("BENCH_SAMPLE_SECONDS", 5, 600),
        users: env_u64("BENCH_USERS", 100, 100_000),
    };
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(config));
}

/// What the load has done so far.
#[derive(Default)]
struct Counters {
    sent: AtomicUsize,
    accepted: AtomicUsize,
    failed: AtomicUsize,
    refreshed: AtomicUsize,
    /// Webhook answer times (message callbacks) since the last table row.
    latencies: Mutex<Vec<Duration>>,
    /// Every webhook answer time of the run.
    all_latencies: Mutex<Vec<Duration>>,
}

/// The database's files, by path.
struct Files {
    db: PathBuf,
    wal: PathBuf,
    shm: PathBuf,
}

impl Files {
    fn new(db: &Path) -> Self {
        let with = |suffix: &str| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        };
        Self {
            db: db.to_path_buf(),
            wal: with("-wal"),
            shm: with("-shm"),
        }
    }
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (clock ticks of 10 ms).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Messages answered so far: finished stream buffers, without the recorded answers the dispatcher
/// keeps beside them (`answer:<event>`), on a read-only connection of the bench's own.
async fn finished(db: &Path) -> usize {
    let db = db.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.query_row(
            "SELECT COUNT(*) FROM streams WHERE finished = 1 AND id NOT LIKE 'answer:%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .ok()
        .and_then(|n| usize::try_from(n).ok())
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(0)
}

/// An organization, a WeCom smart bot, the echo agent and the trigger binding them.
async fn configure(gateway: &Gateway) -> String {
    let org = TestOrg::create(&gateway.deps).await;
    let body = json!({"name": "bot", "platform": "wecom",
        "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}});
    org.bot(body, Some(&org.echo_agent_id), json!({})).await.to_string()
}

/// The shared pieces one request needs.
struct Client {
    http: reqwest::Client,
    sim: Simulator,
    url: String,
    counters: Counters,
}

impl Client {
    /// Sends message `i` from its user, then one refresh of its stream 1 s later.
    async fn message(&self, i: usize, users: u64) {
        let user = format!("user-{:04}", i as u64 % users);
        let text = format!("第{i}条消息：请帮我查一下订单 #{i} 的物流状态, thanks!");
        let callback = self.sim.text(&format!("msg-{i:07}"), &user, None, &text, None);
        let sent = Instant::now();
        let answer = self
            .http
            .post(format!("{}?{}", self.url, callback.query))
            .body(callback.body)
            .send()
            .await;
        let body = match answer {
            Ok(r) if r.status() == 200 => r.text().await.ok(),
            _ => None,
        };
        let took = sent.elapsed();
        self.counters.latencies.lock().unwrap().push(took);
        self.counters.all_latencies.lock().unwrap().push(took);
        let Some(frame) = body.and_then(|b| self.sim.read_stream(&b).ok()) else {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let refresh = self.sim.refresh(&format!("refresh-{i:07}"), &frame.id);
        let refreshed = self
            .http
            .post(format!("{}?{}", self.url, refresh.query))
            .body(refresh.body)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if refreshed {
            self.counters.refreshed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The largest WAL size seen since the last [`Peak::take`], polled every [`POLL_EVERY`].
#[derive(Default)]
struct Peak {
    since_row: AtomicU64,
    overall: AtomicU64,
}

impl Peak {
    fn see(&self, bytes: u64) {
        self.since_row.fetch_max(bytes, Ordering::Relaxed);
        self.overall.fetch_max(bytes, Ordering::Relaxed);
    }

    fn take(&self) -> u64 {
        self.since_row.swap(0, Ordering::Relaxed)
    }
}

async fn run(config: Config) {
    let dir = match std::env::var_os("BENCH_DB_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let db = dir.path().join("imgate.db");
    let files = Arc::new(Files::new(&db));
    let options = imgate_embedded::QueueOptions { max_receives: 3 };
    let (deps, _store) = imgate_embedded::open(&db, &dir.path().join("imgate.key"), options)
        .await
        .unwrap();
    // Replies fit the stream, so the WeCom API (response_url, message/send) is never called.
    let gateway = Gateway::start(deps, 3, true, "http://127.0.0.1:9").await;
    let integration = configure(&gateway).await;
    let client = Arc::new(Client {
        http: reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap(),
        sim: Simulator::new(TOKEN, AES_KEY).unwrap(),
        url: format!("{}/api/wecom/webhook/{integration}", gateway.base),
        counters: Counters::default(),
    });
    let total = usize::try_from(config.rate * config.seconds).unwrap();
    println!(
        "wal_growth: {} msg/s for {} s ({total} messages, {} users), database in {}, {} CPUs",
        config.rate,
        config.seconds,
        config.users,
        dir.path().display(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!();
    println!(
        "| t, s | phase | sent | accepted | replied | webhook p99 in row, ms | DB, MB | WAL now, MB | WAL max in row, MB | SHM, MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");

    let peak = Arc::new(Peak::default());
    let polling = {
        let (peak, files) = (peak.clone(), files.clone());
        tokio::spawn(async move {
            loop {
                peak.see(size(&files.wal));
                tokio::time::sleep(POLL_EVERY).await;
            }
        })
    };
    let started = Instant::now();
    let cpu_before = process_cpu();
    let row = {
        let (client, files, peak) = (client.clone(), files.clone(), peak.clone());
        move |phase: &'static str| {
            let (client, files, peak) = (client.clone(), files.clone(), peak.clone());
            async move {
                let replied = finished(&files.db).await;
                let mut latencies = std::mem::take(&mut *client.counters.latencies.lock().unwrap());
                latencies.sort();
                let wal = size(&files.wal);
                peak.see(wal);
                println!(
                    "| {:.0} | {phase} | {} | {} | {replied} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} |",
                    started.elapsed().as_secs_f64(),
                    client.counters.sent.load(Ordering::Relaxed),
                    client.counters.accepted.load(Ordering::Relaxed),
                    ms(percentile(&latencies, 99)),
                    mb(size(&files.db)),
                    mb(wal),
                    mb(peak.take()),
                    mb(size(&files.shm)),
                );
                replied
            }
        }
    };
    let sampling = {
        let row = row.clone();
        let every = Duration::from_secs(config.sample);
        tokio::spawn(async move {
            let mut next = Instant::now() + every;
            loop {
                tokio::time::sleep_until(next.into()).await;
                next += every;
                row("load").await;
            }
        })
    };

    // The load: message i leaves at i / rate seconds after the start.
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let period = Duration::from_secs(1) / u32::try_from(config.rate).unwrap();
    let mut requests = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + period * u32::try_from(i).unwrap();
        tokio::time::sleep_until(due.into()).await;
        let permit = in_flight.clone().acquire_owned().await.unwrap();
        client.counters.sent.fetch_add(1, Ordering::Relaxed);
        let client = client.clone();
        let users = config.users;
        requests.push(tokio::spawn(async move {
            client.message(i, users).await;
            drop(permit);
        }));
    }
    let load_took = started.elapsed();
    sampling.abort();
    let wal_end_of_load = size(&files.wal);
    let peak_during_load = peak.overall.load(Ordering::Relaxed);
    row("load ends").await;

    // Let the answers finish (bounded), then watch the files with no load.
    let drain_until = Instant::now() + DRAIN_LIMIT;
    for request in requests {
        let _ = tokio::time::timeout_at(drain_until.into(), request).await;
    }
    let accepted = client.counters.accepted.load(Ordering::Relaxed);
    while finished(&files.db).await < accepted && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cpu = process_cpu().saturating_sub(cpu_before);
    let quiet_until = Instant::now() + AFTER_LOAD;
    let replied = row("drained").await;
    while Instant::now() < quiet_until {
        tokio::time::sleep(Duration::from_secs(5).min(quiet_until - Instant::now())).await;
        row("after").await;
    }
    polling.abort();

    let mut all = std::mem::take(&mut *client.counters.all_latencies.lock().unwrap());
    all.sort();
    let c = &client.counters;
    println!();
    println!("| summary | value |");
    println!("|---|---|");
    println!(
        "| messages sent / accepted / failed / replied | {} / {} / {} / {} |",
        c.sent.load(Ordering::Relaxed),
        c.accepted.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        replied
    );
    println!(
        "| refresh callbacks answered | {} |",
        c.refreshed.load(Ordering::Relaxed)
    );
    println!(
        "| load ran for | {:.1} s ({:.0} msg/s) |",
        load_took.as_secs_f64(),
        c.sent.load(Ordering::Relaxed) as f64 / load_took.as_secs_f64()
    );
    println!(
        "| webhook answer p50 / p99 / max, ms | {:.1} / {:.1} / {:.1} |",
        ms(percentile(&all, 50)),
        ms(percentile(&all, 99)),
        ms(all.last().copied().unwrap_or_default())
    );
    println!("| WAL max during the load, MB | {:.1} |", mb(peak_during_load));
    println!("| WAL when the load stopped, MB | {:.1} |", mb(wal_end_of_load));
    println!(
        "| WAL / DB {} s after draining, MB | {:.1} / {:.1} |",
        AFTER_LOAD.as_secs(),
        mb(size(&files.wal)),
        mb(size(&files.db))
    );
    println!(
        "| process CPU per message, ms (load generator included) | {:.2} |",
        ms(cpu) / total.max(1) as f64
    );
    drop(gateway);
}
