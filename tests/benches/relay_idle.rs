//! One relay holding many idle WeCom long connections: memory per connection, and how fast it
//! forwards events to the queue.
//!
//! ```sh
//! cargo bench -p imgate-tests --bench relay_idle
//! ```
//!
//! The relay (the supervisor with the WeCom connector, on the embedded SQLite store, production
//! settings) runs in this process; the fake WeCom server runs in a child process (this same
//! binary with `RELAY_IDLE_ROLE=fake`), so the memory measured is the relay's alone.
//!
//! 1. `BENCH_CONNECTIONS` (default 5000) bots are created, each bound to the echo agent.
//! 2. `VmRSS` is read, the supervisor started, and once every bot is subscribed and its status
//!    written, `VmRSS` is read again: (after − before) / connections is the memory per idle
//!    connection (target ≤ 30 KB). Connections use `ws://`: TLS state (`wss://` in production)
//!    is not included.
//! 3. `BENCH_EVENTS` (default: one per connection) text callbacks are pushed at once, spread over
//!    the connections, and timed until the last one is on the queue (no dispatcher runs, so
//!    every answer stays open and the pushers poll their stream buffers meanwhile).
//!
//! `BENCH_DB_DIR` puts the database in another directory (e.g. `/dev/shm`, where fsync costs
//! nothing) to see the relay's own cost apart from the disk's.
//!
//! Needs a file-descriptor limit above the number of connections (plus the database's); a lower
//! soft limit is raised to the hard one by re-running under `ulimit -n`. Everything listens on
//! 127.0.0.1, every wait is bounded, and both processes exit by themselves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imgate_channels::wecom::long;
use imgate_core::Platform;
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::ingress::Ingress;
use imgate_core::ports::{Delivery, OutgoingMessage, Queue, QueueError};
use imgate_core::relay::{Connector, RelaySettings, Supervisor};
use imgate_tests::fake_wecom_long::FakeWecom;
use serde_json::json;
use tokio::sync::watch;

const ROLE_VAR: &str = "RELAY_IDLE_ROLE";
const SECRET: &str = "bench-secret";
/// The issue's target for memory per idle connection.
const TARGET_BYTES: f64 = 30.0 * 1024.0;
/// No phase waits longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("relay_idle: run with `cargo bench -p imgate-tests --bench relay_idle`");
        return;
    }
    let connections = env_usize("BENCH_CONNECTIONS", 5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(ROLE_VAR).as_deref() == Ok("fake") {
        runtime.block_on(fake_server(connections));
        return;
    }
    ensure_fd_limit(connections);
    runtime.block_on(relay(connections, env_usize("BENCH_EVENTS", connections)));
}

/// The soft and hard `RLIMIT_NOFILE` of this process, from `/proc/self/limits`.
fn fd_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut numbers = line.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
    Some((numbers.next()?, numbers.next()?))
}

/// Re-runs this benchmark under `ulimit -n <hard>` when the soft limit is too low.
fn ensure_fd_limit(connections: usize) {
    let needed = connections as u64 + 512;
    let Some((soft, hard)) = fd_limits() else { return };
    if soft >= needed || std::env::var("RELAY_IDLE_RAISED").is_ok() {
        return;
    }
    assert!(
        hard >= needed,
        "{connections} connections need {needed} file descriptors; the hard limit is {hard}"
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {hard} && exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().unwrap())
        .args(std::env::args().skip(1))
        .env("RELAY_IDLE_RAISED", "1")
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}

/// The child: a fake WeCom server for `bots` bots, driven by lines on stdin.
/// `count` → the number of subscribed bots; `push <n>` → pushes n text callbacks round-robin;
/// end of input → exit.
async fn fake_server(bots: usize) {
    let fake = FakeWecom::start_with(false).await;
    for i in 0..bots {
        fake.add_bot(&format!("B{i}"), SECRET);
    }
    println!("url {}", fake.url);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut sent = 0usize;
    while let Some(line) = rx.recv().await {
        let mut out = std::io::stdout();
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["count"] => writeln!(out, "{}", fake.subscribed_bots()).unwrap(),
            ["push", n] => {
                let n: usize = n.parse().unwrap();
                let mut pushed = 0;
                for _ in 0..n {
                    let bot = format!("B{}", sent % bots);
                    let msgid = format!("M{sent}");
                    sent += 1;
                    pushed += usize::from(fake.push_text(&bot, &msgid, "u1", "hello").is_some());
                }
                writeln!(out, "{pushed}").unwrap();
            }
            _ => writeln!(out, "?").unwrap(),
        }
        out.flush().unwrap();
    }
}

/// The fake server process and its line protocol.
struct Fake {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Fake {
    fn start(connections: usize) -> (Self, String) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg("--bench")
            .env(ROLE_VAR, "fake")
            .env("BENCH_CONNECTIONS", connections.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut fake = Self { child, stdin, lines };
        let first = fake.line();
        let url = first.strip_prefix("url ").expect("the fake's address").to_owned();
        (fake, url)
    }

    fn line(&mut self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the fake answers")
    }

    fn ask(&mut self, command: &str) -> usize {
        writeln!(self.stdin, "{command}").unwrap();
        self.line().parse().expect("a number")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The embedded queue, counting enqueues.
struct Counting {
    inner: Arc<dyn Queue>,
    enqueued: AtomicUsize,
}

#[async_trait]
impl Queue for Counting {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        self.inner.enqueue(message).await?;
        self.enqueued.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(max, visibility).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.retry_later(receipt, delay).await
    }
    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend_visibility(receipts, visibility).await
    }
    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.enqueue_delayed(body, delay).await
    }
    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive_dead_letters(max, visibility).await
    }
    async fn wait_for_messages(&self, timeout: Duration) {
        self.inner.wait_for_messages(timeout).await;
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PHASE_LIMIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    started.elapsed()
}

async fn relay(connections: usize, events: usize) {
    // `BENCH_DB_DIR=/dev/shm` takes the disk's fsyncs out of the forwarding rate.
    let dir = match std::env::var("BENCH_DB_DIR") {
        Ok(parent) => tempfile::tempdir_in(parent).unwrap(),
        Err(_) => tempfile::tempdir().unwrap(),
    };
    let (deps, _) = imgate_embedded::open(
        &dir.path().join("db"),
        &dir.path().join("key"),
        imgate_embedded::QueueOptions { max_receives: 5 },
    )
    .await
    .unwrap();
    let counting = Arc::new(Counting {
        inner: deps.queue.clone(),
        enqueued: AtomicUsize::new(0),
    });
    let setup = Instant::now();
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "http://127.0.0.1".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash("relay-idle-bootstrap")),
        },
    );
    let boot = admin.authenticate(Some("relay-idle-bootstrap")).await.unwrap();
    let org = admin.create_org(&boot, "bench").await.unwrap();
    let p = admin.authenticate(Some(&org.api_key.token)).await.unwrap();
    let agent = admin
        .create_agent(
            &p,
            serde_json::from_value::<CreateAgent>(json!({"name": "echo", "kind": "echo"})).unwrap(),
        )
        .await
        .unwrap();
    for i in 0..connections {
        let integration = admin
            .create_integration(
                &p,
                serde_json::from_value::<CreateIntegration>(json!({"name": format!("bot {i}"), "platform": "wecom",
                    "mode": "long_connection", "credentials": {"bot_id": format!("B{i}"), "secret": SECRET}}))
                .unwrap(),
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
    }
    println!(
        "relay_idle: {connections} bots created in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let (mut fake, url) = Fake::start(connections);
    let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
    connectors.insert(Platform::Wecom, Arc::new(long::Connector::new(deps.store.clone(), url)));
    let supervisor = Supervisor::new(
        deps.store.clone(),
        deps.keyring.clone(),
        Ingress::new(deps.store.clone(), counting.clone()),
        connectors,
        RelaySettings::new("relay-idle-bench"),
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_bytes();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(async move { supervisor.run(stopped).await });
    let connect_time = wait_for("every bot subscribed", || fake.ask("count") == connections).await;
    // Let the last statuses land and a lease renewal pass.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = rss_bytes();
    let per_connection = (after.saturating_sub(before)) as f64 / connections as f64;

    let pushed = Instant::now();
    assert_eq!(fake.ask(&format!("push {events}")), events, "every event pushed");
    let forward_time = wait_for("every event on the queue", || {
        counting.enqueued.load(Ordering::SeqCst) >= events
    })
    .await;
    let forward_time = forward_time.max(pushed.elapsed());
    let per_sec = events as f64 / forward_time.as_secs_f64();

    println!(
        "relay_idle: {connections} connections subscribed in {:.1} s; RSS {:.1} MiB -> {:.1} MiB: {:.1} KiB per idle connection (target {:.0} KiB) {}",
        connect_time.as_secs_f64(),
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per_connection / 1024.0,
        TARGET_BYTES / 1024.0,
        if per_connection <= TARGET_BYTES {
            "ok"
        } else {
            "OVER TARGET"
        },
    );
    println!(
        "relay_idle: {events} events forwarded to the queue in {:.2} s: {per_sec:.0} events/s",
        forward_time.as_secs_f64()
    );
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
}
