//! The LangGraph adapter against a fake Agent Server speaking the documented wire format:
//! `POST /threads` (`thread_id`, `if_exists`) and `POST /threads/{id}/runs/stream` answering
//! `event: metadata` then `event: messages` with `[message_chunk, metadata]` data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use imgate_agents::langgraph_thread_id;
use imgate_core::agent::{AgentConfig, LanggraphConfig};
use imgate_core::event::MediaKind;
use imgate_core::ports::AgentError;
use imgate_core::secret::Secret;
use serde_json::{Value, json};

use crate::common::{agents, attachment, call, event_stream, header_value, json_response, request, serve};

#[derive(Default)]
struct Server {
    /// Thread id -> how many create calls named it.
    threads: Mutex<HashMap<String, usize>>,
    runs: Mutex<Vec<(String, Value)>>,
    fail_runs: bool,
}

fn authorized(headers: &HeaderMap) -> bool {
    header_value(headers, "x-api-key") == "lg-key"
}

async fn create_thread(State(server): State<Arc<Server>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(id) = body["thread_id"].as_str() else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let mut threads = server.threads.lock().unwrap();
    let seen = threads.entry(id.to_owned()).or_default();
    if *seen > 0 && body["if_exists"] != "do_nothing" {
        return StatusCode::CONFLICT.into_response();
    }
    *seen += 1;
    json_response(&json!({
        "thread_id": id, "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z",
        "metadata": {}, "status": "idle", "values": null
    }))
}

fn message(data: &Value) -> String {
    format!("event: messages\ndata: {data}\n\n")
}

async fn stream_run(
    State(server): State<Arc<Server>>,
    Path(thread_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    if !server.threads.lock().unwrap().contains_key(&thread_id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    server.runs.lock().unwrap().push((thread_id, body));
    let meta = json!({"langgraph_node": "agent", "langgraph_step": 1});
    let mut parts = vec!["event: metadata\ndata: {\"run_id\":\"1ef-run\",\"attempt\":1}\n\n".to_owned()];
    if server.fail_runs {
        parts.push("event: error\ndata: {\"error\":\"ValueError\",\"message\":\"boom\"}\n\n".to_owned());
    } else {
        parts.extend([
            message(&json!([{"type": "AIMessageChunk", "id": "run-1", "content": "Let me "}, meta])),
            message(&json!([{"type": "AIMessageChunk", "id": "run-1", "content": "check."}, meta])),
            message(&json!([{"type": "AIMessageChunk", "id": "run-1", "content": "",
                              "tool_call_chunks": [{"name": "search", "args": "{}", "id": "call-1"}]}, meta])),
            message(&json!([{"type": "tool", "id": "t-1", "content": "42", "tool_call_id": "call-1"}, meta])),
            message(&json!([{"type": "AIMessageChunk", "id": "run-2",
                              "content": [{"type": "text", "text": "It is "}]}, meta])),
            message(&json!([{"type": "AIMessageChunk", "id": "run-2", "content": "42."}, meta])),
        ]);
    }
    event_stream(parts, Duration::from_millis(2), false)
}

async fn fake(fail_runs: bool) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        fail_runs,
        ..Server::default()
    });
    let router = Router::new()
        .route("/threads", post(create_thread))
        .route("/threads/{thread_id}/runs/stream", post(stream_run))
        .with_state(server.clone());
    (serve(router).await, server)
}

fn config(base_url: String) -> AgentConfig {
    AgentConfig::Langgraph(LanggraphConfig {
        base_url,
        assistant_id: "agent".to_owned(),
        api_key: Some(Secret::new("lg-key")),
        timeout_seconds: 10,
    })
}

#[tokio::test]
async fn creates_the_session_thread_and_streams_ai_message_text() {
    let (base, server) = fake(false).await;
    let req = request(config(format!("{base}/")), "what is six times seven?");

    let (outcome, deltas) = call(&agents(), &req).await;

    assert_eq!(outcome, Ok("Let me check.\n\nIt is 42.".to_owned()));
    assert_eq!(deltas, ["Let me ", "check.", "\n\n", "It is ", "42."]);
    let thread = langgraph_thread_id(&req.session_id).to_string();
    let runs = server.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, thread);
    assert_eq!(
        runs[0].1,
        json!({
            "assistant_id": "agent",
            "input": {"messages": [{"role": "user", "content": "what is six times seven?"}]},
            "stream_mode": ["messages-tuple"],
        })
    );

    // The next message of the same session reuses the thread.
    let (outcome, _) = call(&agents(), &req).await;
    assert!(outcome.is_ok());
    assert_eq!(server.threads.lock().unwrap().get(&thread), Some(&2));
    assert_eq!(server.threads.lock().unwrap().len(), 1);
    assert!(server.runs.lock().unwrap().iter().all(|(t, _)| *t == thread));
}

#[tokio::test]
async fn the_files_the_user_sent_travel_in_the_input() {
    let (base, server) = fake(false).await;
    let mut req = request(config(base), "summarize this");
    req.attachments = vec![attachment(MediaKind::File, "report.pdf", "application/pdf", None)];

    let (outcome, _) = call(&agents(), &req).await;

    assert!(outcome.is_ok());
    let runs = server.runs.lock().unwrap().clone();
    assert_eq!(
        runs[0].1["input"],
        json!({
            "messages": [{"role": "user", "content": "summarize this"}],
            "attachments": [{"kind": "file", "name": "report.pdf", "mime_type": "application/pdf", "size": 42,
                             "url": "https://media.example/report.pdf", "expires_at": "2026-11-24T12:00:00Z"}],
        })
    );
}

#[tokio::test]
async fn a_failed_run_is_a_protocol_error() {
    let (base, _) = fake(true).await;
    let (outcome, deltas) = call(&agents(), &request(config(base), "hi")).await;
    assert_eq!(
        outcome,
        Err(AgentError::Protocol("the LangGraph run failed (ValueError)".to_owned()))
    );
    assert!(deltas.is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_refused() {
    let (base, _) = fake(false).await;
    let AgentConfig::Langgraph(mut cfg) = config(base) else {
        unreachable!()
    };
    cfg.api_key = Some(Secret::new("nope"));
    let (outcome, _) = call(&agents(), &request(AgentConfig::Langgraph(cfg), "hi")).await;
    assert_eq!(outcome, Err(AgentError::Status { status: 403 }));
}
