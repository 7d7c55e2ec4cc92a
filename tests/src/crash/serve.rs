//! The `imgate serve` child process: started in a directory of its own, killed with SIGKILL,
//! restarted on the same database (and, when it can, the same port, so that WeCom's retries
//! reach it at the address they were sent to).
//!
//! Its stdout gives the address and, on the first start, the bootstrap key; its stderr is read
//! for the line `imgate crash point reached: <point>` and kept (the last lines) for diagnostics.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::mpsc;

/// What the process prints when a crash point stops one of its tasks.
pub const CRASH_LINE: &str = "imgate crash point reached: ";
/// How long a start may take before it counts as failed (a debug build on a busy machine).
const START_LIMIT: Duration = Duration::from_secs(60);
/// Lines of stderr kept for diagnostics.
const TAIL: usize = 60;

/// A crash point a process reached.
#[derive(Debug, Clone)]
pub struct CrashLine {
    /// Which start of the process (0 = the first).
    pub generation: u32,
    /// The point's name.
    pub point: String,
    /// When the line was read.
    pub at: Instant,
}

/// The child process and how to start it again.
pub struct Serve {
    binary: PathBuf,
    dir: PathBuf,
    log_level: String,
    env: Vec<(String, String)>,
    child: Option<Child>,
    port: u16,
    generation: u32,
    pid: Arc<AtomicU32>,
    crashes: mpsc::UnboundedSender<CrashLine>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The bootstrap key printed by the first start.
    pub bootstrap: Option<String>,
}

impl Serve {
    /// Starts `binary serve --listen 127.0.0.1:0` in `dir`, with `IMGATE_CRASH_AT=crash_at` when
    /// given; crash-point lines of this and every later start go to `crashes`.
    ///
    /// # Errors
    /// When the process does not start or does not print its address within a minute.
    pub async fn start(
        binary: &Path,
        dir: &Path,
        log_level: &str,
        crash_at: Option<&str>,
        crashes: mpsc::UnboundedSender<CrashLine>,
    ) -> anyhow::Result<Self> {
        Self::start_with_env(binary, dir, log_level, &[], crash_at, crashes).await
    }

    /// [`Serve::start`] with `env` set for this and every later start (e.g. a platform's API
    /// pointed at a fake).
    ///
    /// # Errors
    /// As [`Serve::start`].
    pub async fn start_with_env(
        binary: &Path,
        dir: &Path,
        log_level: &str,
        env: &[(&str, &str)],
        crash_at: Option<&str>,
        crashes: mpsc::UnboundedSender<CrashLine>,
    ) -> anyhow::Result<Self> {
        let mut serve = Self {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            log_level: log_level.to_owned(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            child: None,
            port: 0,
            generation: 0,
            pid: Arc::default(),
            crashes,
            stderr_tail: Arc::default(),
            base: String::new(),
            bootstrap: None,
        };
        serve.spawn("127.0.0.1:0", crash_at).await?;
        Ok(serve)
    }

    /// The process id while a process runs (0 while none does), shared with samplers.
    pub fn pid_cell(&self) -> Arc<AtomicU32> {
        self.pid.clone()
    }

    /// The directory holding the database.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last lines the processes wrote to stderr.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Kills the process with SIGKILL and reaps it; returns when the kill was sent.
    pub fn kill(&mut self) -> Instant {
        let at = Instant::now();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.pid.store(0, Ordering::SeqCst);
        at
    }

    /// Starts the process again on the same directory, on the same port when it is free (else
    /// on a new one: [`Serve::base`] says which); returns how long the start took.
    ///
    /// # Errors
    /// When neither start succeeds.
    pub async fn restart(&mut self, crash_at: Option<&str>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        self.kill();
        self.generation += 1;
        let same_port = format!("127.0.0.1:{}", self.port);
        if let Err(error) = self.spawn(&same_port, crash_at).await {
            self.stderr_line(format!(
                "[harness] restart on {same_port} failed ({error:#}); trying a new port"
            ));
            self.spawn("127.0.0.1:0", crash_at).await?;
        }
        Ok(started.elapsed())
    }

    fn stderr_line(&self, line: String) {
        push_tail(&self.stderr_tail, line);
    }

    async fn spawn(&mut self, listen: &str, crash_at: Option<&str>) -> anyhow::Result<()> {
        let mut command = Command::new(&self.binary);
        command
            .args(["serve", "--listen", listen])
            .current_dir(&self.dir)
            .env("RUST_LOG", &self.log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Nothing from the surrounding environment configures the gateway under test.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("IMGATE_") {
                command.env_remove(name);
            }
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(point) = crash_at {
            command.env("IMGATE_CRASH_AT", point);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let stderr = child.stderr.take().context("the child's stderr")?;
        self.pid.store(child.id(), Ordering::SeqCst);
        self.child = Some(child);

        let (lines_tx, mut lines) = mpsc::unbounded_channel::<String>();
        // Both pipes are drained for the life of the process, so it never blocks on them.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        });
        let (generation, crashes, tail) = (self.generation, self.crashes.clone(), self.stderr_tail.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(point) = line.split(CRASH_LINE).nth(1) {
                    let _ = crashes.send(CrashLine {
                        generation,
                        point: point.trim().to_owned(),
                        at: Instant::now(),
                    });
                }
                push_tail(&tail, format!("[{generation}] {line}"));
            }
        });

        let deadline = tokio::time::Instant::now() + START_LIMIT;
        loop {
            let line = match tokio::time::timeout_at(deadline, lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    // The process ended before listening; give the stderr reader a moment.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    self.kill();
                    bail!(
                        "imgate serve exited before listening:\n{}",
                        self.stderr_tail().join("\n")
                    );
                }
                Err(_) => {
                    self.kill();
                    bail!("imgate serve did not print its address within {START_LIMIT:?}");
                }
            };
            if let Some(key) = line.trim().strip_prefix("imgate-bootstrap-") {
                self.bootstrap = Some(format!("imgate-bootstrap-{key}"));
            }
            if let Some(rest) = line.strip_prefix("imgate is listening on ") {
                let base = rest.split_whitespace().next().unwrap_or_default().to_owned();
                self.port = base
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .context("the printed address has no port")?;
                self.base = base;
                return Ok(());
            }
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

fn push_tail(tail: &Mutex<VecDeque<String>>, line: String) {
    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
    if tail.len() == TAIL {
        tail.pop_front();
    }
    tail.push_back(line);
}

/// The resident set of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`), if it runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    if pid == 0 {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// The size of every SQLite write-ahead log (`*-wal`) in `dir`, in bytes.
pub fn wal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with("-wal"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
