//! Cold start of the three Lambda functions (admin, webhook, dispatcher), measured locally the
//! way Lambda starts them: each release binary is spawned with a clean environment whose
//! `AWS_LAMBDA_RUNTIME_API` points at a fake Lambda Runtime API on 127.0.0.1, and with DynamoDB,
//! SQS and KMS on moto's server.
//!
//! ```sh
//! cargo build --release --locked --bin admin --bin webhook --bin dispatcher
//! cargo bench -p imgate-tests --bench cold_start
//! ```
//!
//! Per run and function it measures:
//! - **init**: from spawn to the first `GET /2018-06-01/runtime/invocation/next` (what Lambda
//!   reports as Init Duration, minus fetching the code);
//! - **RSS at rest**: `VmRSS` of `/proc/<pid>/status` while the function waits for its first
//!   event, and again while it waits after one invocation; plus the peak (`VmHWM`);
//! - **first invocation**: from handing out one event (admin: list organizations with the
//!   bootstrap key, a DynamoDB query; webhook: a WeCom callback for an unknown integration, a
//!   DynamoDB read answered 404; dispatcher: an empty SQS batch) to the function's response.
//!
//! It also prints the size of each host binary and, when `scripts/build-lambdas.sh` has run, of
//! each arm64 `bootstrap.zip`. Settings (environment): `COLD_START_RUNS` (default 10),
//! `COLD_START_BIN_DIR` (default: this bench's own profile directory, where `cargo build
//! --release` puts the binaries), `COLD_START_LAMBDA_DIR` (default `<workspace>/target/lambda`).
//! Everything listens on 127.0.0.1 only, every wait is bounded, and the process exits by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod runtime;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imgate_tests::moto::{MotoServer, unique_name};
use runtime::FakeRuntime;
use serde_json::{Value, json};

const FUNCTIONS: [&str; 3] = ["admin", "webhook", "dispatcher"];
const BOOTSTRAP: &str = "cold-start-bootstrap-key-0123456789";
/// Longest wait for a start, a response or the next poll.
const WAIT: Duration = Duration::from_secs(15);
/// Pause before reading the RSS, so the process is idle on its long poll.
const SETTLE: Duration = Duration::from_millis(300);
/// The issue's targets.
const TARGET_INIT: Duration = Duration::from_millis(20);
/// 10 MB and 32 MB read strictly, as decimal megabytes.
const TARGET_BINARY_BYTES: u64 = 10_000_000;
const TARGET_RSS_BYTES: u64 = 32_000_000;

/// One run of one function.
#[derive(Debug, Clone, Copy)]
struct Run {
    init: Duration,
    first_invocation: Duration,
    rss_ready: u64,
    rss_after: u64,
    peak: u64,
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("COLD_START_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let bin_dir = std::env::var_os("COLD_START_BIN_DIR").map_or_else(profile_dir, PathBuf::from);
    let lambda_dir = std::env::var_os("COLD_START_LAMBDA_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lambda"),
        PathBuf::from,
    );
    for name in FUNCTIONS {
        let path = bin_dir.join(name);
        assert!(
            path.is_file(),
            "{} is missing: run `cargo build --release --locked --bin admin --bin webhook --bin dispatcher` \
             with the same CARGO_TARGET_DIR first (or set COLD_START_BIN_DIR)",
            path.display()
        );
    }
    let environment = aws_environment().await;

    println!(
        "cold start: {runs} runs per function, binaries from {}",
        bin_dir.display()
    );
    let mut rows = Vec::new();
    for name in FUNCTIONS {
        let binary = bin_dir.join(name);
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(measure(name, &binary, &environment).await);
        }
        let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or_default();
        let zip_path = lambda_dir.join(name).join("bootstrap.zip");
        let zip = std::fs::metadata(&zip_path).map(|m| m.len()).ok().map(|zip| Arm64 {
            zip,
            bootstrap: unzipped_size(&zip_path, "bootstrap"),
        });
        rows.push((name, size, zip, samples));
    }
    report(&rows);
}

/// `<target>/release`: this bench runs from `<target>/release/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("profile directory")
        .to_path_buf()
}

/// The backend on moto (table, both queue pairs, KMS key) as the functions' environment.
async fn aws_environment() -> Vec<(String, String)> {
    let moto = MotoServer::shared();
    let config = moto.sdk_config();
    let table = unique_name("cold-start");
    imgate_aws::create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .expect("table");
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue, dlq) = imgate_aws::create_fifo_queue_with_dlq(&sqs, &table, 5)
        .await
        .expect("queues");
    let (delay, delay_dlq) = imgate_aws::create_delay_queue_with_dlq(&sqs, &table, 5)
        .await
        .expect("delay queues");
    let key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .send()
        .await
        .expect("KMS key");
    let key = key.key_metadata().expect("key metadata").key_id().to_owned();
    [
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        (imgate_aws::TABLE_VAR, table),
        (imgate_aws::QUEUE_URL_VAR, queue),
        (imgate_aws::DLQ_URL_VAR, dlq),
        (imgate_aws::DELAY_QUEUE_URL_VAR, delay),
        (imgate_aws::DELAY_DLQ_URL_VAR, delay_dlq),
        (imgate_aws::KMS_KEY_ID_VAR, key),
        ("IMGATE_PUBLIC_BASE_URL", "https://im.example.com".to_owned()),
        ("IMGATE_BOOTSTRAP_KEY", BOOTSTRAP.to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The one event each function gets, and a check of its answer.
fn event(name: &str) -> (Value, fn(&Value) -> bool) {
    let http = |method: &str, path: &str| {
        json!({
            "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": "",
            "headers": {"authorization": format!("Bearer {BOOTSTRAP}"), "content-type": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api1", "domainName": "api1.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "api1", "requestId": "cold-start", "routeKey": format!("{method} {path}"),
                "stage": "$default", "time": "21/Nov/2026:07:00:00 +0000", "timeEpoch": 1_795_244_400_000_i64,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "bench"}
            },
            "body": "<xml></xml>", "isBase64Encoded": false
        })
    };
    match name {
        "admin" => (http("GET", "/api/admin/v1/organizations"), |r| r["statusCode"] == 200),
        "webhook" => (
            http(
                "POST",
                &format!("/api/wecom/webhook/{}", imgate_core::IntegrationId::generate()),
            ),
            |r| r["statusCode"] == 404,
        ),
        _ => (json!({"Records": []}), |r| r["batchItemFailures"] == json!([])),
    }
}

async fn measure(name: &str, binary: &Path, environment: &[(String, String)]) -> Run {
    let mut runtime = FakeRuntime::start().await;
    let log = std::env::temp_dir().join(format!("imgate-cold-start-{name}-{}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).expect("log file");
    let started = Instant::now();
    let child = Command::new(binary)
        .env_clear()
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log handle"))
        .stderr(log_file)
        .spawn()
        .expect("spawn the function");
    let mut child = KillOnDrop(child);
    let failed = |what: &str, child: &mut KillOnDrop| -> ! {
        let status = child.0.try_wait().ok().flatten();
        let output = std::fs::read_to_string(&log).unwrap_or_default();
        panic!("{name}: {what} (exit status {status:?}); output:\n{output}");
    };

    let Some(ready) = runtime.next_poll(WAIT).await else {
        failed("no first poll", &mut child)
    };
    let init = ready.duration_since(started);
    tokio::time::sleep(SETTLE).await;
    let rss_ready = memory(child.0.id(), "VmRSS:");

    let (payload, accepted) = event(name);
    let sent = Instant::now();
    let Some(answer) = runtime.invoke(payload, WAIT).await else {
        failed("no response", &mut child)
    };
    let first_invocation = sent.elapsed();
    match answer {
        Ok(body) if accepted(&body) => {}
        other => failed(&format!("unexpected answer {other:?}"), &mut child),
    }
    if runtime.next_poll(WAIT).await.is_none() {
        failed("no second poll", &mut child);
    }
    tokio::time::sleep(SETTLE).await;
    let rss_after = memory(child.0.id(), "VmRSS:");
    let peak = memory(child.0.id(), "VmHWM:");
    drop(child);
    let _ = std::fs::remove_file(&log);
    Run {
        init,
        first_invocation,
        rss_ready,
        rss_after,
        peak,
    }
}

/// A field of `/proc/<pid>/status` in bytes (the kernel reports kB).
fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    kb * 1024
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The arm64 build of a function, from `scripts/build-lambdas.sh`.
#[derive(Debug, Clone, Copy)]
struct Arm64 {
    /// `bootstrap.zip`, what Lambda downloads.
    zip: u64,
    /// The `bootstrap` binary inside it, what Lambda runs.
    bootstrap: Option<u64>,
}

/// The uncompressed size of `entry` in the zip archive at `path`, from its central directory.
fn unzipped_size(path: &Path, entry: &str) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    let u16_at = |at: usize| data.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    // End of central directory: signature 0x06054b50, found from the end (a comment may follow).
    let end = (0..data.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(at) == Some(0x0605_4b50))?;
    let entries = u16_at(end + 10)?;
    let mut at = u32_at(end + 16)? as usize;
    for _ in 0..entries {
        if u32_at(at)? != 0x0201_4b50 {
            return None;
        }
        let size = u32_at(at + 24)?;
        let (name_len, extra_len, comment_len) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        if data.get(at + 46..at + 46 + name_len)? == entry.as_bytes() {
            return Some(u64::from(size));
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}

fn report(rows: &[(&str, u64, Option<Arm64>, Vec<Run>)]) {
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / 1_048_576.0);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "| Function | Binary (host) | bootstrap (arm64) | bootstrap.zip (arm64) | Init, median (min–max) | First invocation, median | RSS ready | RSS after 1st | Peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut verdicts = Vec::new();
    for (name, size, zip, runs) in rows {
        let init = median(runs.iter().map(|r| r.init));
        let min = runs.iter().map(|r| r.init).min().unwrap_or_default();
        let max = runs.iter().map(|r| r.init).max().unwrap_or_default();
        let invoke = median(runs.iter().map(|r| r.first_invocation));
        let rss_ready = median(runs.iter().map(|r| r.rss_ready));
        let rss_after = median(runs.iter().map(|r| r.rss_after));
        let peak = runs.iter().map(|r| r.peak).max().unwrap_or_default();
        println!(
            "| `{name}` | {} | {} | {} | {} ({}–{}) | {} | {} | {} | {} |",
            mib(*size),
            zip.and_then(|z| z.bootstrap)
                .map_or_else(|| "not built".to_owned(), mib),
            zip.map_or_else(|| "not built".to_owned(), |z| mib(z.zip)),
            ms(init),
            ms(min),
            ms(max),
            ms(invoke),
            mib(rss_ready),
            mib(rss_after),
            mib(peak)
        );
        verdicts.push(format!(
            "{name}: init ≤ 20 ms {}, binary ≤ 10 MB {}, memory at rest ≤ 32 MB {}",
            yes_no(init <= TARGET_INIT),
            // What Lambda runs is the arm64 bootstrap; without it, the host build stands in.
            yes_no(zip.and_then(|z| z.bootstrap).unwrap_or(*size) <= TARGET_BINARY_BYTES),
            yes_no(rss_after.max(rss_ready) <= TARGET_RSS_BYTES),
        ));
    }
    println!();
    for verdict in verdicts {
        println!("{verdict}");
    }
}

fn yes_no(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn median<T: Ord + Copy + Default>(values: impl Iterator<Item = T>) -> T {
    let mut values: Vec<T> = values.collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}
