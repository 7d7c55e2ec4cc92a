//! The OpenAI-compatible adapter against a fake chat-completions server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use imgate_agents::RetryPolicy;
use imgate_core::Timestamp;
use imgate_core::agent::{AgentConfig, OpenaiCompatibleConfig};
use imgate_core::event::MediaKind;
use imgate_core::ports::{AgentError, HistoryEntry, Role};
use imgate_core::secret::Secret;
use serde_json::{Value, json};

use crate::common::{self, agents, attachment, call, event_stream, header_value, json_response, request, serve};

fn config(base_url: &str) -> OpenaiCompatibleConfig {
    OpenaiCompatibleConfig {
        base_url: base_url.to_owned(),
        model: "test-model".to_owned(),
        api_key: Some(Secret::new("sk-test")),
        system_prompt: None,
        history_limit: 20,
        timeout_seconds: 10,
    }
}

fn chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]})
    )
}

/// What the fake saw.
#[derive(Default)]
struct Seen {
    calls: AtomicUsize,
    requests: Mutex<Vec<(HeaderMap, Value)>>,
}

/// A server that answers `respond(call_number)` on `/v1/chat/completions`.
async fn fake(respond: fn(usize) -> Response) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let router = Router::new()
        .route(
            "/v1/chat/completions",
            post(
                move |State(seen): State<Arc<Seen>>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    let n = seen.calls.fetch_add(1, Ordering::SeqCst) + 1;
                    seen.requests.lock().unwrap().push((headers, body));
                    respond(n)
                },
            ),
        )
        .with_state(seen.clone());
    (format!("{}/v1", serve(router).await), seen)
}

fn streamed_answer(_: usize) -> Response {
    // Chunk boundaries fall mid-line, mid-CRLF and mid-JSON on purpose.
    let raw = format!(
        ": keep-alive\r\n\r\ndata: {}\r\n\r\n{}{}{}data: {}\r\n\r\ndata: [DONE]\r\n\r\n",
        json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}),
        chunk("Hel"),
        chunk("lo"),
        chunk(" wörld"),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
    );
    let bytes = raw.as_bytes();
    let cuts = [7, 40, 41, 95, 150, 151, 260];
    let mut parts = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
        parts.push(String::from_utf8_lossy(&bytes[start..cut]).into_owned());
        start = cut;
    }
    parts.push(String::from_utf8_lossy(&bytes[start..]).into_owned());
    // Keep the test honest: the cuts never split the multi-byte "ö".
    assert_eq!(parts.concat(), raw);
    event_stream(parts, Duration::from_millis(5), false)
}

#[tokio::test]
async fn streams_deltas_and_sends_model_key_prompt_and_limited_history() {
    let (base, seen) = fake(streamed_answer).await;
    let mut cfg = config(&format!("{base}/"));
    cfg.system_prompt = Some("Be brief.".to_owned());
    cfg.history_limit = 3;
    let mut req = request(AgentConfig::OpenaiCompatible(cfg), "and now?");
    req.history = [
        (Role::User, "first"),
        (Role::Assistant, "one"),
        (Role::User, "second"),
        (Role::Assistant, "two"),
    ]
    .into_iter()
    .map(|(role, content)| HistoryEntry {
        role,
        content: content.to_owned(),
        at: Timestamp::from_millis(1),
    })
    .collect();

    let (outcome, deltas) = call(&agents(), &req).await;

    assert_eq!(outcome, Ok("Hello wörld".to_owned()));
    assert_eq!(deltas, ["Hel", "lo", " wörld"]);
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(header_value(headers, "authorization"), "Bearer sk-test");
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "and now?"},
        ])
    );
}

#[tokio::test]
async fn images_arrive_inline_after_the_text_and_files_as_links() {
    let (base, seen) = fake(streamed_answer).await;
    let mut req = request(AgentConfig::OpenaiCompatible(config(&base)), "what is on it?");
    req.attachments = vec![
        attachment(MediaKind::Image, "cat.png", "image/png", Some(b"\x89PNG")),
        attachment(MediaKind::File, "notes.txt", "text/plain", None),
    ];

    let (outcome, _) = call(&agents(), &req).await;

    assert!(outcome.is_ok());
    let requests = seen.requests.lock().unwrap();
    assert_eq!(
        requests[0].1["messages"],
        json!([{"role": "user", "content": [
            {"type": "text", "text": "what is on it?\n\n(the user sent a 42-byte file “notes.txt” (text/plain), \
                kept at https://media.example/notes.txt until 2026-11-24T12:00:00Z)"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        ]}])
    );
}

#[tokio::test]
async fn sends_no_authorization_without_a_key() {
    let (base, seen) = fake(streamed_answer).await;
    let mut cfg = config(&base);
    cfg.api_key = None;
    let (outcome, _) = call(&agents(), &request(AgentConfig::OpenaiCompatible(cfg), "hi")).await;
    assert!(outcome.is_ok());
    let requests = seen.requests.lock().unwrap();
    assert_eq!(header_value(&requests[0].0, "authorization"), "");
}

#[tokio::test]
async fn retries_server_errors_then_answers_once() {
    let (base, seen) = fake(|n| {
        if n <= 2 {
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        } else {
            event_stream(vec![chunk("ok"), "data: [DONE]\n\n".to_owned()], Duration::ZERO, false)
        }
    })
    .await;
    let (outcome, deltas) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert_eq!(outcome, Ok("ok".to_owned()));
    assert_eq!(deltas, ["ok"]);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_the_last_attempt() {
    let (base, seen) = fake(|_| StatusCode::SERVICE_UNAVAILABLE.into_response()).await;
    let (outcome, deltas) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert_eq!(outcome, Err(AgentError::Status { status: 503 }));
    assert!(deltas.is_empty());
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_dropped_stream_after_output_is_not_retried() {
    let (base, seen) = fake(|_| event_stream(vec![chunk("Hel")], Duration::from_millis(5), true)).await;
    let (outcome, deltas) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert!(matches!(outcome, Err(AgentError::Unreachable(_))), "{outcome:?}");
    assert_eq!(deltas, ["Hel"]);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dropped_stream_before_output_is_retried() {
    let (base, seen) = fake(|n| {
        let parts = if n == 1 { vec![] } else { vec![chunk("fine")] };
        event_stream(parts, Duration::ZERO, n == 1)
    })
    .await;
    let (outcome, deltas) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert_eq!(outcome, Ok("fine".to_owned()));
    assert_eq!(deltas, ["fine"]);
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let (base, seen) = fake(|_| StatusCode::UNAUTHORIZED.into_response()).await;
    let (outcome, _) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert_eq!(outcome, Err(AgentError::Status { status: 401 }));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_bad_chunk_is_a_protocol_error_and_not_retried() {
    let (base, seen) = fake(|_| event_stream(vec!["data: {nope\n\n".to_owned()], Duration::ZERO, false)).await;
    let (outcome, _) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert!(matches!(outcome, Err(AgentError::Protocol(_))), "{outcome:?}");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_slow_agent_times_out() {
    let router = Router::new().route("/v1/chat/completions", post(common::hang));
    let base = format!("{}/v1", serve(router).await);
    let mut cfg = config(&base);
    cfg.timeout_seconds = 1;
    let started = Instant::now();
    let (outcome, _) = call(&agents(), &request(AgentConfig::OpenaiCompatible(cfg), "hi")).await;
    assert_eq!(outcome, Err(AgentError::Timeout(Duration::from_secs(1))));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_timeout_bounds_all_attempts_together() {
    let (base, seen) = fake(|_| StatusCode::BAD_GATEWAY.into_response()).await;
    let mut cfg = config(&base);
    cfg.timeout_seconds = 1;
    let patient = agents().with_retry(RetryPolicy {
        attempts: 100,
        base_delay: Duration::from_millis(300),
        max_delay: Duration::from_millis(300),
    });
    let (outcome, _) = call(&patient, &request(AgentConfig::OpenaiCompatible(cfg), "hi")).await;
    assert_eq!(outcome, Err(AgentError::Timeout(Duration::from_secs(1))));
    let calls = seen.calls.load(Ordering::SeqCst);
    assert!((2..=8).contains(&calls), "{calls} attempts");
}

#[tokio::test]
async fn connection_refused_is_unreachable_and_retried() {
    let base = common::refused_url().await;
    let slow_retries = agents().with_retry(RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
    });
    let started = Instant::now();
    let (outcome, deltas) = call(
        &slow_retries,
        &request(AgentConfig::OpenaiCompatible(config(&base)), "hi"),
    )
    .await;
    assert!(matches!(&outcome, Err(AgentError::Unreachable(_))), "{outcome:?}");
    assert!(
        !outcome.unwrap_err().to_string().contains("127.0.0.1"),
        "no URL in errors"
    );
    assert!(deltas.is_empty());
    // Two backoffs happened: at least 50 ms + 100 ms with equal jitter.
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn accepts_a_non_streamed_json_answer() {
    let (base, _) = fake(|_| {
        json_response(&json!({
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "All at once."}}]
        }))
    })
    .await;
    let (outcome, deltas) = call(&agents(), &request(AgentConfig::OpenaiCompatible(config(&base)), "hi")).await;
    assert_eq!(outcome, Ok("All at once.".to_owned()));
    assert_eq!(deltas, ["All at once."]);
}
