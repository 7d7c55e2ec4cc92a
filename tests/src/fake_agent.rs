//! A fake OpenAI-compatible chat completions server that streams its answer over SSE, counts
//! and records calls (images included: [`FakeAgent::images`]), and can be told to fail. It notes when each request arrived and when its first
//! chunk left ([`FakeAgent::timings`]), for latency measurements.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// When one request arrived and its first chunk was sent.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The last message's text in the request (the user's question).
    pub text: String,
    /// When the request arrived.
    pub arrived: std::time::Instant,
    /// When the first chunk of the answer was written.
    pub first_chunk: Option<std::time::Instant>,
}

type Timings = Arc<std::sync::Mutex<Vec<Timing>>>;

/// The running fake.
#[derive(Clone)]
pub struct FakeAgent {
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    last_request: Arc<std::sync::Mutex<Option<Value>>>,
    requests: Arc<std::sync::Mutex<Vec<Value>>>,
    timings: Timings,
}

#[derive(Clone)]
struct Shared {
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    last_request: Arc<std::sync::Mutex<Option<Value>>>,
    requests: Arc<std::sync::Mutex<Vec<Value>>>,
    chunks: Arc<Vec<String>>,
    /// The wait before each chunk (zero: the whole answer at once).
    pace: std::time::Duration,
    /// How many calls, the first ones, are paced (later ones answer at once).
    paced_calls: usize,
    timings: Timings,
}

impl FakeAgent {
    /// Starts a fake that answers with `chunks` streamed in order.
    pub async fn start(chunks: &[&str]) -> Self {
        Self::start_paced(chunks, std::time::Duration::ZERO).await
    }

    /// Starts a fake that streams `chunks` with `pace` before each, like a model writing.
    pub async fn start_paced(chunks: &[&str], pace: std::time::Duration) -> Self {
        Self::start_with(chunks, pace, usize::MAX).await
    }

    /// Starts a fake whose first call streams `chunks` with `pace` before each and whose later
    /// calls answer at once: an answer still running when the next message comes.
    pub async fn start_slow_first(chunks: &[&str], pace: std::time::Duration) -> Self {
        Self::start_with(chunks, pace, 1).await
    }

    async fn start_with(chunks: &[&str], pace: std::time::Duration, paced_calls: usize) -> Self {
        let shared = Shared {
            calls: Arc::default(),
            down: Arc::default(),
            last_request: Arc::default(),
            requests: Arc::default(),
            chunks: Arc::new(chunks.iter().map(|c| (*c).to_owned()).collect()),
            pace,
            paced_calls,
            timings: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            // Images travel inline (base64): take requests as large as OpenAI's (a 20 MB image
            // is about 27 MB of JSON).
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake agent");
        let port = listener.local_addr().expect("fake agent address").port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            calls: shared.calls,
            down: shared.down,
            last_request: shared.last_request,
            requests: shared.requests,
            timings: shared.timings,
        }
    }

    /// When each request arrived and its first chunk left, in arrival order.
    pub fn timings(&self) -> Vec<Timing> {
        self.timings.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Calls received so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Makes every call answer 503 (or work again).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The JSON body of the last call.
    pub fn last_request(&self) -> Option<Value> {
        self.last_request.lock().ok().and_then(|r| r.clone())
    }

    /// The JSON bodies of every call, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The `image_url` parts of the last user message of every call: each image's data URL.
    pub fn images(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| r["messages"].as_array()?.last()?["content"].as_array().cloned())
            .flatten()
            .filter(|part| part["type"] == "image_url")
            .filter_map(|part| part["image_url"]["url"].as_str().map(str::to_owned))
            .collect()
    }
}

/// The text of a user message's `content`: the string itself, or its `text` parts joined.
pub fn user_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part["type"] == "text")
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

async fn complete(State(shared): State<Shared>, body: axum::Json<Value>) -> Response {
    let arrived = std::time::Instant::now();
    let call = shared.calls.fetch_add(1, Ordering::SeqCst);
    let text = body.0["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| user_text(&m["content"]))
        .unwrap_or_default();
    let index = shared.timings.lock().map_or(0, |mut t| {
        t.push(Timing {
            text,
            arrived,
            first_chunk: None,
        });
        t.len() - 1
    });
    let first_chunk = move |timings: &Timings| {
        if let Ok(mut t) = timings.lock()
            && let Some(timing) = t.get_mut(index)
        {
            timing.first_chunk.get_or_insert_with(std::time::Instant::now);
        }
    };
    if let Ok(mut requests) = shared.requests.lock() {
        requests.push(body.0.clone());
    }
    if let Ok(mut last) = shared.last_request.lock() {
        *last = Some(body.0);
    }
    if shared.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let mut events: Vec<String> = shared
        .chunks
        .iter()
        .map(|chunk| {
            let data = json!({"choices": [{"index": 0, "delta": {"content": chunk}}]});
            format!("data: {data}\n\n")
        })
        .collect();
    events.push("data: [DONE]\n\n".to_owned());
    if shared.pace.is_zero() || call >= shared.paced_calls {
        first_chunk(&shared.timings);
        return ([(header::CONTENT_TYPE, "text/event-stream")], events.concat()).into_response();
    }
    let pace = shared.pace;
    let timings = shared.timings.clone();
    let paced = futures_util::stream::unfold(events.into_iter(), move |mut rest| {
        let timings = timings.clone();
        async move {
            let event = rest.next()?;
            tokio::time::sleep(pace).await;
            first_chunk(&timings);
            Some((Ok::<_, std::convert::Infallible>(event), rest))
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(paced),
    )
        .into_response()
}
