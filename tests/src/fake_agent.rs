//! A fake OpenAI-compatible chat completions server that streams its answer over SSE, counts
//! calls, and can be told to fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// The running fake.
#[derive(Clone)]
pub struct FakeAgent {
    /// `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    last_request: Arc<std::sync::Mutex<Option<Value>>>,
}

#[derive(Clone)]
struct Shared {
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    last_request: Arc<std::sync::Mutex<Option<Value>>>,
    chunks: Arc<Vec<String>>,
    /// The wait before each chunk (zero: the whole answer at once).
    pace: std::time::Duration,
}

impl FakeAgent {
    /// Starts a fake that answers with `chunks` streamed in order.
    pub async fn start(chunks: &[&str]) -> Self {
        Self::start_paced(chunks, std::time::Duration::ZERO).await
    }

    /// Starts a fake that streams `chunks` with `pace` before each, like a model writing.
    pub async fn start_paced(chunks: &[&str], pace: std::time::Duration) -> Self {
        let shared = Shared {
            calls: Arc::default(),
            down: Arc::default(),
            last_request: Arc::default(),
            chunks: Arc::new(chunks.iter().map(|c| (*c).to_owned()).collect()),
            pace,
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
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
        }
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
}

async fn complete(State(shared): State<Shared>, body: axum::Json<Value>) -> Response {
    shared.calls.fetch_add(1, Ordering::SeqCst);
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
    if shared.pace.is_zero() {
        return ([(header::CONTENT_TYPE, "text/event-stream")], events.concat()).into_response();
    }
    let pace = shared.pace;
    let paced = futures_util::stream::unfold(events.into_iter(), move |mut rest| async move {
        let event = rest.next()?;
        tokio::time::sleep(pace).await;
        Some((Ok::<_, std::convert::Infallible>(event), rest))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        axum::body::Body::from_stream(paced),
    )
        .into_response()
}
