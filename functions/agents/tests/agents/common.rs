//! Helpers shared by the fake servers.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use futures_util::stream;
use imgate_agents::{Agents, RetryPolicy};
use imgate_core::agent::AgentConfig;
use imgate_core::event::MediaKind;
use imgate_core::ports::{AgentClient, AgentError, AgentRequest, Attachment};
use imgate_core::{Platform, SessionId, Timestamp, UserId};
use tokio::sync::mpsc;

/// Serves `router` on an ephemeral port; returns `http://127.0.0.1:port`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// Agents with short test backoffs.
pub fn agents() -> Agents {
    Agents::new(reqwest::Client::new()).with_retry(RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    })
}

/// A request for `config` saying `text`.
pub fn request(config: AgentConfig, text: &str) -> AgentRequest {
    AgentRequest {
        config,
        session_id: SessionId::generate(),
        user_id: UserId::generate(),
        text: text.to_owned(),
        attachments: Vec::new(),
        platform: Platform::Telegram,
        conversation_id: "chat-1".to_owned(),
        sender_name: Some("Ada".to_owned()),
        history: Vec::new(),
    }
}

/// A kept file of `kind` and `mime`, linked at `https://media.example/<name>` until
/// 2026-11-24T12:00:00Z; `inline` bytes as an image's.
pub fn attachment(kind: MediaKind, name: &str, mime: &str, inline: Option<&[u8]>) -> Attachment {
    Attachment {
        kind,
        name: Some(name.to_owned()),
        mime: mime.to_owned(),
        size: 42,
        url: format!("https://media.example/{name}"),
        expires_at: Timestamp::parse_rfc3339("2026-11-24T12:00:00Z").unwrap(),
        bytes: inline.map(<[u8]>::to_vec),
    }
}

/// Runs the agent; returns its outcome and every delta it sent.
pub async fn call(agents: &Agents, request: &AgentRequest) -> (Result<String, AgentError>, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(256);
    let outcome = agents.run(request, &tx).await;
    drop(tx);
    let mut deltas = Vec::new();
    while let Some(delta) = rx.recv().await {
        deltas.push(delta);
    }
    (outcome, deltas)
}

/// A `text/event-stream` response writing `parts` one by one, `gap` apart; when `then_drop`, the
/// connection is cut after the last part instead of ending the body cleanly.
pub fn event_stream(parts: Vec<String>, gap: Duration, then_drop: bool) -> Response {
    let body = stream::iter(parts)
        .then(move |part| async move {
            tokio::time::sleep(gap).await;
            Ok::<_, std::io::Error>(part)
        })
        .chain(stream::iter(then_drop.then_some(())).then(move |()| async move {
            // Pause first so the server flushes what it wrote before cutting the connection.
            tokio::time::sleep(gap + Duration::from_millis(20)).await;
            Err(std::io::Error::other("connection cut"))
        }));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .unwrap()
}

/// A JSON response.
pub fn json_response(value: &serde_json::Value) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(value.to_string()))
        .unwrap()
}

/// The value of `name`, or "".
pub fn header_value(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An address where nothing listens.
pub async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Never answers (a handler that hangs).
pub async fn hang() -> Result<Response, Infallible> {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    Ok(Response::new(Body::empty()))
}
