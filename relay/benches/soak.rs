//! Soak: `imgate serve` under a steady WeCom load for a long time, killed with SIGKILL at a
//! random moment every few minutes and restarted on the same database, while the simulated
//! WeCom retries and pulls streams as it does for a smart bot in callback mode. Every minute it
//! prints the figures so far; at the end the totals and the verdict of the crash test (every
//! message answered exactly once, one completed agent call each; see
//! `imgate_tests::crash::report`).
//!
//! ```sh
//! cargo bench -p imgate --bench soak
//! SOAK_SECONDS=600 SOAK_KILL_EVERY=60 cargo bench -p imgate --bench soak
//! ```
//!
//! Settings (environment):
//! - `SOAK_RATE` (default 20): messages per second, sent at a steady pace;
//! - `SOAK_SECONDS` (default 3600): how long messages are sent;
//! - `SOAK_KILL_EVERY` (default 300): one `kill -9` at a random moment in every period this long
//!   (0: none);
//! - `SOAK_USERS` (default 250): distinct senders (FIFO conversations);
//! - `SOAK_BINARY`: another `imgate` binary to soak (default: the one built with this bench).
//!
//! Columns: seconds since the start, messages sent, answered exactly once, lost (never
//! acknowledged, or acknowledged and never answered), doubled, still followed, completed and
//! started agent calls per message, kills so far, the 99th percentile of the delay from the first
//! send to the visible answer over the answers of the last minute, the gateway's RSS and the size
//! of its write-ahead log.
//!
//! Everything listens on 127.0.0.1 only; the run ends at most ten minutes after the sending
//! (the longest a message is followed: WeCom's retries, its 6-minute pull window, the wait for a
//! `response_url` message). It exits with status 1 when a check failed.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use imgate_tests::crash::{Harness, Options, Pull, Report, random_between};

/// The longest the end of the run may take after the last message was sent.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);
/// How often a row is printed.
const ROW_EVERY: Duration = Duration::from_secs(60);

struct Config {
    rate: f64,
    seconds: u64,
    kill_every: u64,
    users: usize,
    binary: PathBuf,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("soak: run with `cargo bench -p imgate --bench soak` (SOAK_RATE, SOAK_SECONDS, SOAK_KILL_EVERY)");
        return;
    }
    let config = Config {
        rate: env_or("SOAK_RATE", 20.0_f64).max(0.1),
        seconds: env_or("SOAK_SECONDS", 3600_u64).max(1),
        kill_every: env_or("SOAK_KILL_EVERY", 300_u64),
        users: env_or("SOAK_USERS", 250_usize).max(1),
        binary: std::env::var_os("SOAK_BINARY")
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_imgate")), PathBuf::from),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let passed = runtime.block_on(soak(&config));
    if !passed {
        std::process::exit(1);
    }
}

async fn soak(config: &Config) -> bool {
    println!(
        "soak: {} msg/s for {} s from {} users, a kill -9 every {} s, gateway {}",
        config.rate,
        config.seconds,
        config.users,
        config.kill_every,
        config.binary.display()
    );
    let options = Options {
        users: config.users,
        pull: Pull::default(),
        sample_every: Duration::from_secs(5),
        ..Options::default()
    };
    let harness = Harness::start(&config.binary, options, None).await.unwrap();
    let duration = Duration::from_secs(config.seconds);
    let load = tokio::spawn({
        let harness = harness.clone();
        let rate = config.rate;
        async move { harness.load_at_rate(0, rate, duration).await }
    });
    let killer = tokio::spawn(kill_periodically(harness.clone(), duration, config.kill_every));

    println!("{}", Report::row_header());
    let mut last_row = Instant::now();
    let limit = tokio::time::Instant::now() + duration + DRAIN_LIMIT;
    let mut load = load;
    let sent = loop {
        tokio::select! {
            ended = &mut load => break ended.ok(),
            () = tokio::time::sleep(ROW_EVERY) => {
                println!("{}", harness.report(Some(last_row)).row());
                last_row = Instant::now();
            }
            () = tokio::time::sleep_until(limit) => {
                load.abort();
                println!("the load did not end within {DRAIN_LIMIT:?} after the sending");
                break None;
            }
        }
    };
    killer.abort();
    harness.settle().await;
    println!("{}", harness.report(Some(last_row)).row());
    let report = harness.report(None);
    println!(
        "\ntotals ({} messages sent):\n{report}",
        sent.unwrap_or(report.messages)
    );
    let problems =
        report.problems.len() + report.pending + usize::from(report.kills.iter().any(|k| k.restart_took.is_none()));
    if problems == 0 && sent.is_some() {
        println!("soak passed: every message answered exactly once, one completed agent call each");
        true
    } else {
        println!("soak FAILED: see the problems above");
        false
    }
}

/// One `kill -9` at a random moment of every `every` seconds while messages are sent, each
/// followed by a restart.
async fn kill_periodically(harness: Harness, duration: Duration, every: u64) {
    if every == 0 {
        return;
    }
    let period = Duration::from_secs(every);
    let mut start = Duration::ZERO;
    let mut n = 0;
    while start < duration {
        let end = (start + period).min(duration);
        let at = random_between(start..end);
        tokio::time::sleep_until(tokio::time::Instant::from_std(harness.started()) + at).await;
        n += 1;
        if let Err(error) = harness.kill_and_restart(None, &format!("random moment #{n}")).await {
            println!("restart #{n} failed: {error:#}");
            return;
        }
        start = end;
    }
}
