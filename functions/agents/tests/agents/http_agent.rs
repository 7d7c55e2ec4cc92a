//! The generic HTTP agent in its JSON and SSE forms.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use imgate_core::agent::{AgentConfig, HttpConfig};
use imgate_core::event::MediaKind;
use imgate_core::ports::AgentError;
use imgate_core::secret::Secret;
use serde_json::{Value, json};

use crate::common::{agents, attachment, call, event_stream, header_value, json_response, request, serve};

type Seen = Arc<Mutex<Vec<Value>>>;

/// Serves `/json`, `/reply`, `/sse` and `/plain`, all requiring `Bearer agent-token`.
async fn fake() -> (String, Seen) {
    async fn guard(seen: &Seen, headers: &HeaderMap, body: Value) -> Result<(), Response> {
        if header_value(headers, "authorization") != "Bearer agent-token" {
            return Err(StatusCode::UNAUTHORIZED.into_response());
        }
        seen.lock().unwrap().push(body);
        Ok(())
    }
    let seen: Seen = Arc::default();
    let router = Router::new()
        .route(
            "/json",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if let Err(denied) = guard(&seen, &headers, body).await {
                        return denied;
                    }
                    json_response(&json!({"text": "Hi Ada."}))
                },
            ),
        )
        .route(
            "/reply",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if let Err(denied) = guard(&seen, &headers, body).await {
                        return denied;
                    }
                    json_response(&json!({"reply": "Replied.", "meta": {"x": 1}}))
                },
            ),
        )
        .route(
            "/sse",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    if let Err(denied) = guard(&seen, &headers, body).await {
                        return denied;
                    }
                    let parts = [
                        ": hello\n\n",
                        "data: {\"delta\":\"Stream\"}\n\n",
                        "data: {\"usage\":{\"tokens\":2}}\n\n",
                        "data: ing\n\ndata:  plain\n",
                        "data: two lines\n\n",
                        "data: [DONE]\n\n",
                        "data: {\"delta\":\"after done\"}\n\n",
                    ];
                    event_stream(parts.map(str::to_owned).to_vec(), Duration::from_millis(2), false)
                },
            ),
        )
        .with_state(seen.clone());
    (serve(router).await, seen)
}

fn config(url: String, token: Option<&str>) -> AgentConfig {
    AgentConfig::Http(HttpConfig {
        url,
        bearer_token: token.map(Secret::new),
        timeout_seconds: 10,
    })
}

#[tokio::test]
async fn json_answer_with_bearer_token_and_the_documented_request() {
    let (base, seen) = fake().await;
    let mut req = request(config(format!("{base}/json"), Some("agent-token")), "hello");
    req.attachments = vec![attachment(MediaKind::Image, "1.png", "image/png", Some(b"png"))];

    let (outcome, deltas) = call(&agents(), &req).await;

    assert_eq!(outcome, Ok("Hi Ada.".to_owned()));
    assert_eq!(deltas, ["Hi Ada."]);
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({
            "session_id": req.session_id.as_str(),
            "user_id": req.user_id.as_str(),
            "text": "hello",
            "attachments": [{"kind": "image", "name": "1.png", "mime_type": "image/png", "size": 42,
                             "url": "https://media.example/1.png", "expires_at": "2026-11-24T12:00:00Z"}],
            "platform": "telegram",
            "conversation_id": "chat-1",
            "sender_name": "Ada",
        })
    );
}

#[tokio::test]
async fn json_reply_field_is_accepted() {
    let (base, _) = fake().await;
    let (outcome, _) = call(
        &agents(),
        &request(config(format!("{base}/reply"), Some("agent-token")), "x"),
    )
    .await;
    assert_eq!(outcome, Ok("Replied.".to_owned()));
}

#[tokio::test]
async fn sse_answer_streams_json_and_plain_deltas_until_done() {
    let (base, seen) = fake().await;
    let (outcome, deltas) = call(
        &agents(),
        &request(config(format!("{base}/sse"), Some("agent-token")), "x"),
    )
    .await;
    assert_eq!(outcome, Ok("Streaming plain\ntwo lines".to_owned()));
    assert_eq!(deltas, ["Stream", "ing", " plain\ntwo lines"]);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_and_not_retried() {
    let (base, seen) = fake().await;
    let (outcome, _) = call(&agents(), &request(config(format!("{base}/json"), Some("wrong")), "x")).await;
    assert_eq!(outcome, Err(AgentError::Status { status: 401 }));
    let (outcome, _) = call(&agents(), &request(config(format!("{base}/json"), None), "x")).await;
    assert_eq!(outcome, Err(AgentError::Status { status: 401 }));
    assert!(seen.lock().unwrap().is_empty());
}
