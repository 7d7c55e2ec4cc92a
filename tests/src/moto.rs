//! A moto server (DynamoDB, SQS and KMS emulator) for the AWS backend tests.
//!
//! [`MotoServer::shared`] starts one server per test binary on a free 127.0.0.1 port. Each
//! `#[tokio::test]` has its own runtime, so tests share only the process and build their SDK
//! clients from [`MotoServer::sdk_config`]. The server runs under a small `sh` wrapper that
//! kills it when our end of its stdin closes, so it also goes away when the test binary exits
//! (statics are never dropped). If moto cannot start, this panics: emulator tests never skip.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

/// Environment variable overriding the path of the `moto_server` executable.
pub const MOTO_SERVER_VAR: &str = "IMGATE_MOTO_SERVER";
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs moto's server (`$0`) on port `$1`; when stdin (held by this process) closes, kills it
/// and removes its log (`$2`). A server that dies on its own leaves the log for diagnosis.
const WRAPPER: &str = r#"exec 3<&0
"$0" -H 127.0.0.1 -p "$1" </dev/null &
child=$!
(cat <&3 >/dev/null; kill "$child" 2>/dev/null; rm -f "$2") &
wait "$child""#;

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// The server shared by every test of this binary, started on first use.
    pub fn shared() -> &'static MotoServer {
        static SHARED: OnceLock<MotoServer> = OnceLock::new();
        SHARED.get_or_init(MotoServer::start)
    }

    /// Starts a new server on a free port and waits until it answers HTTP.
    ///
    /// # Panics
    /// If `moto_server` is missing or does not come up: run `scripts/test.sh`, which creates the
    /// virtualenv with moto.
    pub fn start() -> MotoServer {
        let binary = moto_binary();
        if !binary.is_file() {
            panic!(
                "moto_server not found at {}. Run `scripts/test.sh` (it creates the virtualenv \
                 with moto via scripts/venv.sh) or point {MOTO_SERVER_VAR} at moto_server.",
                binary.display()
            );
        }
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match try_start(&binary) {
                Ok(server) => return server,
                Err(why) => failures.push(why),
            }
        }
        panic!(
            "moto_server at {} did not start after {START_ATTEMPTS} attempts: {}. Run \
             `scripts/test.sh` to (re)create the virtualenv with moto.",
            binary.display(),
            failures.join("; ")
        );
    }

    /// The server's endpoint URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK configuration for this server: test credentials, `us-east-1`, its endpoint URL.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .http_client(imgate_aws::http_client())
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "imgate-tests",
            )))
            .build()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing stdin makes the wrapper kill moto; fall back to killing the wrapper.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(MOTO_SERVER_VAR) {
        return PathBuf::from(path);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(".venv")
        .join("bin")
        .join("moto_server")
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener.local_addr().map_err(|e| format!("local_addr: {e}"))?.port();
    Ok(port)
}

fn try_start(binary: &Path) -> Result<MotoServer, String> {
    let port = free_port()?;
    let log = std::env::temp_dir().join(format!("imgate-moto-{}-{port}.log", std::process::id()));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let log_err = log_file.try_clone().map_err(|e| format!("clone log handle: {e}"))?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(WRAPPER)
        .arg(binary)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut server = MotoServer { child, port, log };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if answers_http(port) {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited with {status}; log: {}", log_tail(&server.log)));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no HTTP answer on port {port} within {} s; log: {}",
                READY_TIMEOUT.as_secs(),
                log_tail(&server.log)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last lines of the server log, for a failure message (the wrapper deletes the file once
/// the failed server is dropped).
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        "(empty)".to_owned()
    } else {
        format!("\n{tail}")
    }
}

fn answers_http(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

/// A name unique to this process and call, for tables and queues (`[A-Za-z0-9-]`, ≤ 60 chars).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
