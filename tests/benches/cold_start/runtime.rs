//! A fake Lambda Runtime API on 127.0.0.1:0: the four routes a function's runtime client uses
//! (`invocation/next`, `invocation/{id}/response`, `invocation/{id}/error`, `init/error`).
//! Each long poll is reported with the instant it arrived and answered with the next event the
//! bench hands out; responses and errors come back to the bench.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// A function's answer to one event: its response, or the error it reported.
pub type Answer = Result<Value, String>;

#[derive(Clone)]
struct Shared {
    polls: mpsc::UnboundedSender<Instant>,
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    answers: mpsc::UnboundedSender<Answer>,
}

/// The running fake; the server stops when it is dropped.
pub struct FakeRuntime {
    address: SocketAddr,
    polls: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::UnboundedSender<(String, Value)>,
    answers: mpsc::UnboundedReceiver<Answer>,
    invocations: u64,
    server: JoinHandle<()>,
}

impl FakeRuntime {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Self {
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (answers_tx, answers) = mpsc::unbounded_channel();
        let shared = Shared {
            polls: polls_tx,
            events: Arc::new(Mutex::new(events_rx)),
            answers: answers_tx,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let address = listener.local_addr().expect("runtime API address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            polls,
            events,
            answers,
            invocations: 0,
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// When the function next asked for an event, if it did within `wait`.
    pub async fn next_poll(&mut self, wait: Duration) -> Option<Instant> {
        tokio::time::timeout(wait, self.polls.recv()).await.ok().flatten()
    }

    /// Hands `payload` to the function's pending (or next) poll and waits for its answer.
    pub async fn invoke(&mut self, payload: Value, wait: Duration) -> Option<Answer> {
        self.invocations += 1;
        let id = format!("invocation-{}", self.invocations);
        self.events.send((id, payload)).ok()?;
        tokio::time::timeout(wait, self.answers.recv()).await.ok().flatten()
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Shared>) -> Response {
    let _ = shared.polls.send(Instant::now());
    let Some((id, payload)) = shared.events.lock().await.recv().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or_default();
    (
        [
            ("lambda-runtime-aws-request-id", id),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:cold-start".to_owned(),
            ),
            (
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            ),
            ("content-type", "application/json".to_owned()),
        ],
        payload.to_string(),
    )
        .into_response()
}

async fn response(State(shared): State<Shared>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let answer = serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"));
    let _ = shared.answers.send(answer);
    StatusCode::ACCEPTED
}

async fn error(State(shared): State<Shared>, Path(_id): Path<String>, body: Bytes) -> StatusCode {
    let _ = shared.answers.send(Err(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    let _ = shared
        .answers
        .send(Err(format!("init error: {}", String::from_utf8_lossy(&body))));
    StatusCode::ACCEPTED
}
