//! `imgate serve` against slow and idle clients: the real binary on 127.0.0.1, thousands of
//! half-sent requests, a small connection cap, and short timeouts set through
//! `IMGATE_HEADER_READ_TIMEOUT_MS` and `IMGATE_REQUEST_TIMEOUT_MS` so the whole file runs in
//! about 15 s.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Half-sent requests held open at once by the first test (plus its 2,000 refused ones, the
/// file makes 4,000).
const HALF_SENT: usize = 2000;
/// Descriptors this test process may need at once: both tests run side by side.
const DESCRIPTORS_NEEDED: u64 = HALF_SENT as u64 + 600;

struct Server {
    child: Child,
    base: String,
    address: String,
    bootstrap: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `imgate serve` in `dir` on a free port of 127.0.0.1 with `env` and reads its
    /// address and generated bootstrap key.
    fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imgate"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("IMGATE_BOOTSTRAP_KEY")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        // Owned by a `Server` at once, so that it is killed whatever happens next.
        let mut server = Self {
            child: command.spawn().unwrap(),
            base: String::new(),
            address: String::new(),
            bootstrap: String::new(),
        };
        let stdout = server.child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("imgate serve printed its address");
            if let Some(key) = line.trim().strip_prefix("imgate-bootstrap-") {
                server.bootstrap = format!("imgate-bootstrap-{key}");
            }
            if let Some(rest) = line.strip_prefix("imgate is listening on ") {
                server.base = rest.split_whitespace().next().unwrap().to_owned();
                server.address = server.base.strip_prefix("http://").unwrap().to_owned();
                assert!(!server.bootstrap.is_empty(), "a bootstrap key was printed");
                return server;
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// `POST /organizations` with the bootstrap key: its status, and its API key when created.
    async fn create_org(&self, client: &reqwest::Client, name: &str) -> (u16, Value) {
        let response = client
            .post(format!("{}/api/admin/v1/organizations", self.base))
            .bearer_auth(&self.bootstrap)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An organization with a WeCom smart bot (callback mode) bound to the echo agent: the
    /// integration's id.
    async fn wecom_bot(&self, client: &reqwest::Client) -> String {
        let (status, org) = self.create_org(client, "Acme").await;
        assert!((200..300).contains(&status), "{status} {org}");
        let key = org["apiKey"]["token"].as_str().unwrap().to_owned();
        let api = format!("{}/api/admin/v1", self.base);
        let post = |path: &str, body: Value| client.post(format!("{api}{path}")).bearer_auth(&key).json(&body).send();
        let integration: Value = post(
            "/integrations",
            json!({"name": "Support bot", "platform": "wecom", "mode": "webhook",
                "credentials": {"token": "my-callback-token",
                                "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = integration["id"].as_str().unwrap().to_owned();
        let agent: Value = post("/agents", json!({"name": "Echo", "kind": "echo"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let trigger = client
            .put(format!("{api}/triggers/{id}"))
            .bearer_auth(&key)
            .json(&json!({"agentId": agent["id"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(trigger.status(), 200);
        id
    }

    /// `GET /healthz` on a new connection, for at most 2 s: its status, body and latency.
    async fn health(&self) -> (u16, String, Duration) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let asked = Instant::now();
        let response = client.get(format!("{}/healthz", self.base)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap(), asked.elapsed())
    }
}

/// Runs `imgate simulate wecom` (a real signed, encrypted callback, then WeCom's refreshes)
/// against `server` and checks that the echo agent's answer was shown.
async fn simulate_wecom(server: &Server, dir: &Path, integration_id: &str, text: &str) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_imgate"))
        .args(["simulate", "wecom", "--integration", integration_id, "--text", text])
        .args(["--gateway", &server.base])
        .current_dir(dir)
        .env_remove("IMGATE_BOOTSTRAP_KEY")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output)
        .await
        .expect("simulate finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "simulate failed: {stdout}\n{stderr}");
    assert!(stdout.contains(&format!("You said: {text}")), "{stdout}");
}

/// Fails clearly when this process may not open the sockets the tests need.
fn check_descriptor_limit() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<u64>().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= DESCRIPTORS_NEEDED * 2,
            "these tests open {DESCRIPTORS_NEEDED} sockets (and so does the server): raise `ulimit -n` from {soft} to at least {}",
            DESCRIPTORS_NEEDED * 2
        );
    }
}

/// Reads until the server closes the connection (a reset counts as closed), for at most
/// `limit`: what was received, or `None` if the connection is still open.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 2048];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// What a connection held by the first test sent.
#[derive(Debug, Clone, Copy)]
enum Held {
    /// Part of a request head.
    Head,
    /// A whole head and part of the body.
    Body,
    /// A whole request, answered; then nothing (keep-alive).
    Idle,
}

/// Whether the server has neither answered nor closed `stream` yet.
fn still_waiting(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

/// The head and JSON body of a whole answer.
fn split_answer(answer: &str) -> (String, Value) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    (
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// 2,000 half-sent requests (1,000 stopped inside the request head, 1,000 with the whole head of
/// a WeCom callback and part of its body) are held open at once: meanwhile `/healthz` answers
/// within a second, a real WeCom message is answered end to end and the admin API serves the
/// bootstrap key. Then the heads, and idle keep-alive connections, are closed at the header
/// timeout and the bodies get `408`, none of them sooner.
#[tokio::test]
async fn thousands_of_half_sent_requests_do_not_stop_a_wecom_message_from_being_answered() {
    check_descriptor_limit();
    const HEADER_TIMEOUT: Duration = Duration::from_secs(8);
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Connections opened at once: below the listen backlog (128), so none waits for a SYN
    /// retransmission and the server's clocks start when the test's do.
    const BATCH: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            // Above the half-sent requests: this test is about the timeouts, the next about the cap.
            ("IMGATE_MAX_CONNECTIONS", "4096".to_owned()),
            ("IMGATE_HEADER_READ_TIMEOUT_MS", HEADER_TIMEOUT.as_millis().to_string()),
            ("IMGATE_REQUEST_TIMEOUT_MS", REQUEST_TIMEOUT.as_millis().to_string()),
        ],
    );
    let client = reqwest::Client::new();
    let integration_id = server.wecom_bot(&client).await;

    let partial_heads: [&[u8]; 4] = [
        b"P",
        b"POST /api/wecom/webhook/",
        b"GET /healthz HTTP/1.1\r\n",
        b"POST /api/admin/v1/organizations HTTP/1.1\r\nHost: gateway\r\nContent-Le",
    ];
    let partial_body = format!(
        "POST /api/wecom/webhook/{integration_id}?msg_signature=0&timestamp=1&nonce=n HTTP/1.1\r\n\
         Host: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"encrypt\":\""
    );
    // Each batch ends with a whole request on one more connection: its answer shows that the
    // server has accepted the whole batch (it accepts in order), and that connection stays as
    // an idle keep-alive one. Each connection is kept with the window in which the server's
    // clock for it started: from before its connect to that answer.
    let first_opened = Instant::now();
    let mut held = Vec::with_capacity(HALF_SENT + HALF_SENT / BATCH);
    for batch in 0..HALF_SENT / BATCH {
        let started = Instant::now();
        let opened = futures_util::stream::iter(0..BATCH)
            .map(|j| {
                let (address, partial_body) = (&server.address, &partial_body);
                async move {
                    let mut stream = TcpStream::connect(address).await.unwrap();
                    let (kind, partial) = if j % 2 == 0 {
                        (Held::Head, partial_heads[(batch + j / 2) % partial_heads.len()])
                    } else {
                        (Held::Body, partial_body.as_bytes())
                    };
                    stream.write_all(partial).await.unwrap();
                    (kind, stream)
                }
            })
            .buffer_unordered(BATCH)
            .collect::<Vec<_>>()
            .await;
        let mut probe = TcpStream::connect(&server.address).await.unwrap();
        probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), probe.read(&mut answer))
            .await
            .expect("the batch's health check was answered")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok"),
            "{answer}"
        );
        let accepted = Instant::now();
        held.extend(
            opened
                .into_iter()
                .map(|(kind, stream)| (kind, stream, started, accepted)),
        );
        held.push((Held::Idle, probe, accepted, accepted));
    }
    let opening = first_opened.elapsed();

    // While they hang: the health check, a real WeCom message and the admin API.
    let (status, body, latency) = server.health().await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert!(latency < Duration::from_secs(1), "/healthz took {latency:?}");
    let simulated = Instant::now();
    simulate_wecom(&server, dir.path(), &integration_id, "still there?").await;
    let simulated = simulated.elapsed();
    let (status, org) = server.create_org(&client, "Second").await;
    assert!((200..300).contains(&status), "{status} {org}");
    assert!(org["apiKey"]["token"].is_string(), "{org}");
    // All of that happened while every half-sent request was still held.
    assert!(
        first_opened.elapsed() < HEADER_TIMEOUT,
        "opening took {opening:?} and the message {simulated:?}: the half-sent requests timed out before the checks ended"
    );
    assert!(held.iter().all(|(_, stream, _, _)| still_waiting(stream)));

    // Then each is closed by the server when its time is up, not sooner: the heads and the idle
    // keep-alive connections without an answer, the bodies with `408` and `Connection: close`.
    let ended = futures_util::stream::iter(held)
        .map(|(kind, mut stream, started, accepted)| async move {
            let answer = read_until_closed(&mut stream, REQUEST_TIMEOUT + Duration::from_secs(10)).await;
            (kind, answer, started, accepted, Instant::now())
        })
        .buffer_unordered(usize::MAX)
        .collect::<Vec<_>>()
        .await;
    for (kind, answer, started, accepted, ended) in ended {
        let answer = answer.unwrap_or_else(|| panic!("a {kind:?} connection was never closed"));
        let limit = match kind {
            Held::Head | Held::Idle => {
                assert!(answer.is_empty(), "{kind:?}: {answer}");
                HEADER_TIMEOUT
            }
            Held::Body => {
                let (head, body) = split_answer(&answer);
                assert!(head.starts_with("http/1.1 408 request timeout"), "{answer}");
                assert!(head.contains("\r\nconnection: close"), "{answer}");
                assert_eq!(body["error"]["code"], "request_timeout", "{answer}");
                REQUEST_TIMEOUT
            }
        };
        let (earliest, latest) = (started + limit, accepted + limit + Duration::from_secs(3));
        assert!(
            ended + Duration::from_millis(100) >= earliest && ended <= latest,
            "a {kind:?} connection ended {:?} after its batch started (limit {limit:?}; batch accepted after {:?})",
            ended - started,
            accepted - started
        );
    }

    // Nothing is left over: the server serves on.
    assert!(server.is_running());
    let (status, _, latency) = server.health().await;
    assert_eq!(status, 200);
    assert!(latency < Duration::from_secs(1), "/healthz took {latency:?}");
}

/// With `--max-connections 32` held by idle clients, 2,000 more half-sent requests are each
/// answered `503` `overloaded` with `Connection: close` at once (so is a real HTTP client); the
/// idle ones, a keep-alive connection among them, are closed at the header timeout, and the
/// freed places serve the health check and the admin API again.
#[tokio::test]
async fn connections_past_a_small_cap_are_answered_503_overloaded_at_once() {
    check_descriptor_limit();
    const CAP: usize = 32;
    const REFUSED: usize = 2000;
    const AT_ONCE: usize = 100;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[
            ("IMGATE_MAX_CONNECTIONS", CAP.to_string()),
            ("IMGATE_HEADER_READ_TIMEOUT_MS", HEADER_TIMEOUT.as_millis().to_string()),
        ],
    );

    // The cap is filled: 31 connections that send nothing, then one keep-alive connection
    // whose answer shows that the server has accepted (and counted) all of them.
    let filled = Instant::now();
    let mut held = Vec::with_capacity(CAP);
    for _ in 0..CAP - 1 {
        held.push(TcpStream::connect(&server.address).await.unwrap());
    }
    let mut keep_alive = TcpStream::connect(&server.address).await.unwrap();
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(2), keep_alive.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("ok"),
        "{answer}"
    );
    held.push(keep_alive);

    // Past the cap: 2,000 half-sent requests, 100 at a time, each refused at once.
    let refusals = futures_util::stream::iter(0..REFUSED)
        .map(|i| {
            let address = server.address.clone();
            async move {
                let mut stream = TcpStream::connect(&address).await.unwrap();
                let asked = Instant::now();
                let partial: &[u8] = if i % 2 == 0 {
                    b"GET /healthz HTTP/1.1\r\nHost: gate"
                } else {
                    b"POST /api/wecom/webhook/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"
                };
                // The answer may already be on its way: a failed write is not the point here.
                let _ = stream.write_all(partial).await;
                let answer = read_until_closed(&mut stream, Duration::from_secs(3)).await;
                (answer, asked.elapsed())
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect::<Vec<_>>()
        .await;
    let mut slowest = Duration::ZERO;
    for (answer, after) in &refusals {
        let answer = answer.as_deref().expect("every connection past the cap was closed");
        let (head, body) = split_answer(answer);
        assert!(head.starts_with("http/1.1 503 service unavailable"), "{answer}");
        assert!(head.contains("\r\nconnection: close"), "{answer}");
        assert_eq!(body["error"]["code"], "overloaded", "{answer}");
        assert!(body["error"]["message"].is_string(), "{answer}");
        slowest = slowest.max(*after);
    }
    assert!(slowest < Duration::from_secs(1), "the slowest refusal took {slowest:?}");

    // A real HTTP client gets the same clear answer, every time.
    for _ in 0..10 {
        let (status, body, latency) = server.health().await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
            "overloaded"
        );
        assert!(latency < Duration::from_secs(1), "the refusal took {latency:?}");
    }
    assert!(
        filled.elapsed() < HEADER_TIMEOUT,
        "the refusals ended after the held connections timed out ({:?})",
        filled.elapsed()
    );

    // The held connections (idle keep-alive included) are closed at the header timeout…
    for mut stream in held {
        let rest = read_until_closed(&mut stream, HEADER_TIMEOUT + Duration::from_secs(5))
            .await
            .expect("every held connection was closed");
        assert!(rest.is_empty(), "{rest}");
    }
    assert!(
        filled.elapsed() >= HEADER_TIMEOUT - Duration::from_millis(200),
        "held connections were closed after {:?}",
        filled.elapsed()
    );

    // …and the freed places serve again.
    assert!(server.is_running());
    let (status, _, _) = server.health().await;
    assert_eq!(status, 200);
    let (status, org) = server.create_org(&reqwest::Client::new(), "Acme").await;
    assert!((200..300).contains(&status), "{status} {org}");
}
