//! Crash-safety harness: the real `imgate serve` under WeCom load, killed with SIGKILL (at a
//! crash point or at a random moment) and restarted on the same database, while a simulated
//! WeCom keeps retrying unacknowledged callbacks and pulling streams, as it does for a smart bot
//! in callback mode. Afterwards every message is judged by what its user saw (see
//! [`report`]): the answer exactly once, none lost, one completed agent call.
//!
//! ```no_run
//! # async fn run(binary: &std::path::Path) -> anyhow::Result<()> {
//! use imgate_tests::crash::{Harness, Options};
//! let harness = Harness::start(binary, Options::default(), Some("dispatch.answered:50")).await?;
//! let load = tokio::spawn({
//!     let harness = harness.clone();
//!     async move { harness.load(0..300, 150).await }
//! });
//! harness.wait_for_crash_point(std::time::Duration::from_secs(30)).await;
//! harness.kill_and_restart(None, "crash point dispatch.answered:50").await?;
//! load.await?;
//! harness.settle().await;
//! harness.report(None).assert_exactly_once();
//! # Ok(()) }
//! ```
//!
//! Used by `relay/tests/crash.rs` (one kill per crash point, and one at a random moment) and the
//! soak benchmark `relay/benches/soak.rs` (a steady rate for an hour, a kill every few minutes).
//! Everything listens on 127.0.0.1 and every wait is bounded.

pub mod agent;
pub mod report;
pub mod serve;
pub mod wecom;

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use agent::{AgentTiming, StreamingAgent};
pub use report::{KillRecord, Report, Sample};
pub use serve::CrashLine;
pub use wecom::{Pull, Retry};

/// The crash points of `imgate serve` (`IMGATE_CRASH_AT`), in the order a message passes them.
pub const CRASH_POINTS: [&str; 6] = [
    "ingress.before_claim",
    "ingress.claimed",
    "ingress.enqueued",
    "dispatch.agent_streaming",
    "dispatch.answered",
    "queue.before_ack",
];

const TOKEN: &str = "crashTestCallbackToken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

/// How a run plays its part.
#[derive(Debug, Clone)]
pub struct Options {
    /// Distinct WeCom users (each a FIFO conversation); message `i` comes from user `i % users`.
    pub users: usize,
    /// The fake agent's pace.
    pub agent: AgentTiming,
    /// WeCom's retries of unacknowledged callbacks.
    pub retry: Retry,
    /// WeCom's stream pulling.
    pub pull: Pull,
    /// A second completed agent call is excused when a kill came at most this long after the
    /// first one finished, before its answer was delivered (see [`report`]). Measured on two
    /// cores with a debug build of the gateway: the answers re-asked after a kill had ended up
    /// to 0.3 s before it with 150 messages in flight, up to 1.5 s with 250 (the store's
    /// writes queue up), and none of them was recorded in the database at the kill.
    pub record_window: Duration,
    /// How often the gateway's RSS and WAL size are sampled.
    pub sample_every: Duration,
    /// `RUST_LOG` of the gateway.
    pub log_level: String,
    /// After the load: the run is settled when no agent call started or ended and no
    /// `response_url` post arrived for this long…
    pub quiet: Duration,
    /// …or after this long at most.
    pub settle_limit: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            users: 100,
            agent: AgentTiming::default(),
            retry: Retry::default(),
            pull: Pull::default(),
            record_window: Duration::from_secs(3),
            sample_every: Duration::from_secs(1),
            log_level: "warn".into(),
            quiet: Duration::from_secs(2),
            settle_limit: Duration::from_secs(15),
        }
    }
}

/// One gateway under test with its fake agent, its `response_url` sink and the simulated
/// WeCom. Cheap to clone (shared).
#[derive(Clone)]
pub struct Harness {
    inner: Arc<Inner>,
}

struct Inner {
    options: Options,
    started: Instant,
    serve: tokio::sync::Mutex<serve::Serve>,
    webhook: Arc<RwLock<String>>,
    integration_id: String,
    agent: StreamingAgent,
    sink: wecom::Sink,
    ledger: wecom::Ledger,
    player: wecom::Player,
    crashes: tokio::sync::Mutex<mpsc::UnboundedReceiver<CrashLine>>,
    kills: Mutex<Vec<KillRecord>>,
    samples: Arc<Mutex<Vec<Sample>>>,
    sampler: tokio::task::JoinHandle<()>,
    /// Kept for the life of the run; removed with it.
    dir: tempfile::TempDir,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

impl Harness {
    /// Starts the fake agent, the sink and `binary serve` in a fresh directory (armed with
    /// `IMGATE_CRASH_AT=crash_at` if given), and sets the gateway up through its admin API with
    /// the printed bootstrap key: an organization, a WeCom smart-bot webhook integration, an
    /// `openai_compatible` agent on the fake, and a trigger binding them.
    ///
    /// # Errors
    /// When anything fails to start or the admin API refuses.
    pub async fn start(binary: &Path, options: Options, crash_at: Option<&str>) -> anyhow::Result<Self> {
        let started = Instant::now();
        let dir = tempfile::tempdir().context("a directory for the gateway")?;
        let agent = StreamingAgent::start(options.agent).await?;
        let sink = wecom::Sink::start().await?;
        let (crash_tx, crash_rx) = mpsc::unbounded_channel();
        let serve = serve::Serve::start(binary, dir.path(), &options.log_level, crash_at, crash_tx).await?;
        let integration_id = set_up(&serve, &agent).await?;
        let webhook = Arc::new(RwLock::new(webhook_url(&serve.base, &integration_id)));
        let ledger = wecom::Ledger::default();
        let player = wecom::Player::new(
            TOKEN,
            AES_KEY,
            webhook.clone(),
            sink.clone(),
            ledger.clone(),
            options.retry,
            options.pull,
        )?;
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let sampler = tokio::spawn(sample(
            serve.pid_cell(),
            dir.path().to_owned(),
            samples.clone(),
            started,
            options.sample_every,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                started,
                serve: tokio::sync::Mutex::new(serve),
                webhook,
                integration_id,
                agent,
                sink,
                ledger,
                player,
                crashes: tokio::sync::Mutex::new(crash_rx),
                kills: Mutex::default(),
                samples,
                sampler,
                dir,
            }),
        })
    }

    /// When the run started.
    pub fn started(&self) -> Instant {
        self.inner.started
    }

    /// The fake agent.
    pub fn agent(&self) -> &StreamingAgent {
        &self.inner.agent
    }

    /// Sends message `index` and follows it to its end (see [`wecom::Player::deliver`]).
    pub async fn deliver(&self, index: usize) {
        let message = wecom::Message::new(index, self.inner.options.users, &self.inner.sink.base);
        self.inner.player.deliver(message).await;
    }

    /// Sends the messages `indices` with at most `in_flight` of them between their first send
    /// and their end at any moment; returns when all have ended.
    pub async fn load(&self, indices: Range<usize>, in_flight: usize) {
        let slots = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for index in indices {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let harness = self.clone();
            tasks.spawn(async move {
                harness.deliver(index).await;
                drop(slot);
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Sends messages from `first` on at `per_second` until `duration` has passed, each followed
    /// to its end; returns the next unused index once all have ended.
    pub async fn load_at_rate(&self, first: usize, per_second: f64, duration: Duration) -> usize {
        let every = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        let end = tokio::time::Instant::now() + duration;
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut tasks = tokio::task::JoinSet::new();
        let mut index = first;
        loop {
            tick.tick().await;
            if tokio::time::Instant::now() >= end {
                break;
            }
            let harness = self.clone();
            tasks.spawn(async move { harness.deliver(index).await });
            index += 1;
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        index
    }

    /// Waits up to `limit` for the running process to report a crash point; the point's name.
    pub async fn wait_for_crash_point(&self, limit: Duration) -> Option<CrashLine> {
        let mut crashes = self.inner.crashes.lock().await;
        tokio::time::timeout(limit, crashes.recv()).await.ok().flatten()
    }

    /// `kill -9` of the gateway, then a restart on the same database (armed with `crash_at` if
    /// given); `cause` goes to the report.
    ///
    /// # Errors
    /// When the restart fails (recorded in the report too).
    pub async fn kill_and_restart(&self, crash_at: Option<&str>, cause: &str) -> anyhow::Result<()> {
        self.kill(cause).await;
        self.restart(crash_at).await
    }

    /// `kill -9` of the gateway, which stays down until [`Harness::restart`] (WeCom's retries
    /// meet a refused connection meanwhile); `cause` goes to the report.
    pub async fn kill(&self, cause: &str) {
        let at = self.inner.serve.lock().await.kill();
        let mut kills = self.inner.kills.lock().unwrap_or_else(PoisonError::into_inner);
        kills.push(KillRecord {
            at,
            offset: at.saturating_duration_since(self.inner.started),
            cause: cause.to_owned(),
            restart_took: None,
        });
    }

    /// Starts the gateway again on the same database after [`Harness::kill`] (armed with
    /// `crash_at` if given); the report notes how long it was down.
    ///
    /// # Errors
    /// When the restart fails (the report then shows it as failed).
    pub async fn restart(&self, crash_at: Option<&str>) -> anyhow::Result<()> {
        let mut serve = self.inner.serve.lock().await;
        serve.restart(crash_at).await?;
        *self.inner.webhook.write().unwrap_or_else(PoisonError::into_inner) =
            webhook_url(&serve.base, &self.inner.integration_id);
        let mut kills = self.inner.kills.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kill) = kills.last_mut() {
            kill.restart_took = Some(kill.at.elapsed());
        }
        Ok(())
    }

    /// The directory of the gateway's database (`imgate.db`), removed with the harness.
    pub fn dir(&self) -> &Path {
        self.inner.dir.path()
    }

    /// Waits until nothing happens any more: no agent call started or completed and no
    /// `response_url` post for [`Options::quiet`], at most [`Options::settle_limit`]. A late
    /// second answer is caught this way.
    pub async fn settle(&self) {
        let limit = Instant::now() + self.inner.options.settle_limit;
        let activity = || (self.inner.agent.totals(), self.inner.sink.total());
        let mut last = activity();
        let mut quiet_since = Instant::now();
        while Instant::now() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = activity();
            if now != last {
                last = now;
                quiet_since = Instant::now();
            } else if quiet_since.elapsed() >= self.inner.options.quiet {
                return;
            }
        }
    }

    /// The last lines the gateway wrote to stderr (for a failed run).
    pub async fn stderr_tail(&self) -> Vec<String> {
        self.inner.serve.lock().await.stderr_tail()
    }

    /// The figures so far; delays only of answers visible after `answered_since`, if given.
    pub fn report(&self, answered_since: Option<Instant>) -> Report {
        let outcomes = self.inner.ledger.all();
        let posts = self.inner.sink.all();
        let calls = self.inner.agent.calls();
        let kills = self.inner.kills.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let samples = self
            .inner
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Report::build(
            &report::Inputs {
                outcomes: &outcomes,
                posts: &posts,
                calls: &calls,
                kills: &kills,
                samples: &samples,
                record_window: self.inner.options.record_window,
                started: self.inner.started,
            },
            answered_since,
        )
    }
}

fn webhook_url(base: &str, integration_id: &str) -> String {
    format!("{base}/api/wecom/webhook/{integration_id}")
}

/// The README's quick start against the fresh gateway; returns the integration's id.
async fn set_up(serve: &serve::Serve, agent: &StreamingAgent) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let api = format!("{}/api/admin/v1", serve.base);
    let bootstrap = serve
        .bootstrap
        .clone()
        .context("the first start printed no bootstrap key")?;
    let call = |method: reqwest::Method, path: &str, key: &str, body: Value| {
        let request = http
            .request(method, format!("{api}{path}"))
            .bearer_auth(key)
            .timeout(Duration::from_secs(30))
            .json(&body);
        let path = path.to_owned();
        async move {
            let response = request.send().await.with_context(|| format!("admin API {path}"))?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("admin API {path} answered {status}: {body}");
            }
            anyhow::Ok(body)
        }
    };
    let org = call(
        reqwest::Method::POST,
        "/organizations",
        &bootstrap,
        json!({"name": "Crash test"}),
    )
    .await?;
    let key = org["apiKey"]["token"]
        .as_str()
        .context("the organization's API key")?
        .to_owned();
    let integration = call(
        reqwest::Method::POST,
        "/integrations",
        &key,
        json!({"name": "Crash bot", "platform": "wecom", "mode": "webhook",
            "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}}),
    )
    .await?;
    let integration_id = integration["id"].as_str().context("the integration's id")?.to_owned();
    let created = call(
        reqwest::Method::POST,
        "/agents",
        &key,
        json!({"name": "Fake model", "kind": "openai_compatible",
            "config": {"base_url": agent.base_url, "model": "crash-test", "api_key": "sk-crash-test",
                "timeout_seconds": 60}}),
    )
    .await?;
    let agent_id = created["id"].as_str().context("the agent's id")?;
    call(
        reqwest::Method::PUT,
        &format!("/triggers/{integration_id}"),
        &key,
        json!({"agentId": agent_id}),
    )
    .await?;
    Ok(integration_id)
}

/// Samples the running process's RSS and the WAL size until aborted.
async fn sample(
    pid: Arc<std::sync::atomic::AtomicU32>,
    dir: std::path::PathBuf,
    samples: Arc<Mutex<Vec<Sample>>>,
    started: Instant,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let sample = Sample {
            offset: started.elapsed(),
            rss_kib: serve::rss_kib(pid.load(Ordering::SeqCst)),
            wal_bytes: serve::wal_bytes(&dir),
        };
        samples.lock().unwrap_or_else(PoisonError::into_inner).push(sample);
    }
}

/// A random duration in `range` (no seeding needed: each call draws from the OS's hasher keys).
pub fn random_between(range: Range<Duration>) -> Duration {
    let span = range.end.saturating_sub(range.start).as_nanos().max(1);
    let draw = u128::from(std::collections::hash_map::RandomState::new().build_hasher().finish());
    let offset = u64::try_from(draw % span).unwrap_or(0);
    range.start + Duration::from_nanos(offset)
}
