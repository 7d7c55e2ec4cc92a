//! A fake OpenAI-compatible agent for the crash tests: it answers each question with a text
//! derived from it ([`answer_for`]), streamed over SSE in a few chunks spread over a few hundred
//! milliseconds so that a `kill -9` can land in the middle of a call, and it counts, per question,
//! the calls started and the calls completed (the whole answer and `[DONE]` written out).
//!
//! A call whose connection dies before the end (the gateway was killed) is not completed: hyper
//! stops polling the response body and drops it, which the call's guard sees. The last chunks of
//! a call can still be written out just after its gateway died (the kernel takes them before
//! the peer's reset comes back), so each call keeps when it started and when it ended, and the
//! judge counts as completed only calls without a kill in between.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the fake answers: a pause before the first words, then the rest in chunks.
#[derive(Debug, Clone, Copy)]
pub struct AgentTiming {
    /// Before the first chunk ("thinking").
    pub first_words: Duration,
    /// Chunks the answer is cut into (at least 1).
    pub chunks: usize,
    /// Between two chunks.
    pub chunk_every: Duration,
}

impl Default for AgentTiming {
    /// About half a second per call: long enough for a kill to cut calls, short enough for a
    /// few hundred messages to pass in seconds.
    fn default() -> Self {
        Self {
            first_words: Duration::from_millis(80),
            chunks: 5,
            chunk_every: Duration::from_millis(80),
        }
    }
}

/// One agent call.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// When it arrived.
    pub started: Instant,
    /// When it finished writing its whole answer (None: its connection ended before).
    pub completed: Option<Instant>,
}

/// The calls for one question, in the order they arrived.
#[derive(Debug, Clone, Default)]
pub struct Calls(pub Vec<Call>);

/// The answer the fake gives to `question`. It names the question, so an answer shown to the
/// wrong user is recognised, and it is plain text that WeCom's Markdown leaves as it is.
pub fn answer_for(question: &str) -> String {
    format!("answer to {question}: the quick brown fox jumps over the lazy dog.")
}

/// The running fake.
#[derive(Clone)]
pub struct StreamingAgent {
    /// `http://127.0.0.1:<port>/v1`, the agent's `base_url`.
    pub base_url: String,
    shared: Arc<Shared>,
}

struct Shared {
    timing: AgentTiming,
    calls: Mutex<HashMap<String, Calls>>,
}

impl Shared {
    fn with_calls<T>(&self, question: &str, f: impl FnOnce(&mut Calls) -> T) -> T {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        f(calls.entry(question.to_owned()).or_default())
    }
}

impl StreamingAgent {
    /// Starts the fake on 127.0.0.1.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start(timing: AgentTiming) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            timing,
            calls: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            shared,
        })
    }

    /// The calls made so far, per question.
    pub fn calls(&self) -> HashMap<String, Calls> {
        self.shared.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Calls started and completed so far, over all questions (to tell when things went quiet).
    pub fn totals(&self) -> (usize, usize) {
        let calls = self.shared.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.values().flat_map(|c| &c.0).fold((0, 0), |(s, c), call| {
            (s + 1, c + usize::from(call.completed.is_some()))
        })
    }
}

/// The question of a chat completions request: the content of its last user message.
fn question_of(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Cuts `text` into `n` pieces of about equal length (on character boundaries).
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Marks its call completed when the body ran to its end.
struct CallGuard {
    shared: Arc<Shared>,
    question: String,
    /// The call's position in its question's calls.
    slot: usize,
}

impl CallGuard {
    fn complete(&mut self) {
        let slot = self.slot;
        self.shared.with_calls(&self.question, |c| {
            if let Some(call) = c.0.get_mut(slot) {
                call.completed = Some(Instant::now());
            }
        });
    }
}

async fn complete(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let question = question_of(&request);
    let slot = shared.with_calls(&question, |c| {
        c.0.push(Call {
            started: Instant::now(),
            completed: None,
        });
        c.0.len() - 1
    });
    let timing = shared.timing;
    let chunks = pieces(&answer_for(&question), timing.chunks);
    let guard = CallGuard { shared, question, slot };
    // Frames: each chunk after its pause, then `[DONE]`; the poll after `[DONE]` (hyper asking
    // for more) is the end of the call.
    let stream = futures_util::stream::unfold((0usize, chunks, guard), move |(i, chunks, mut guard)| async move {
        if i > chunks.len() {
            guard.complete();
            return None;
        }
        let frame = if let Some(chunk) = chunks.get(i) {
            tokio::time::sleep(if i == 0 { timing.first_words } else { timing.chunk_every }).await;
            let data = json!({"choices": [{"index": 0, "delta": {"content": chunk}}]});
            format!("data: {data}\n\n")
        } else {
            "data: [DONE]\n\n".to_owned()
        };
        Some((Ok::<_, Infallible>(frame), (i + 1, chunks, guard)))
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(stream)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_text() {
        let text = answer_for("question 000001");
        for n in [1, 2, 5, 500] {
            let p = pieces(&text, n);
            assert!(p.len() <= n.max(1));
            assert_eq!(p.concat(), text);
        }
    }

    #[test]
    fn the_question_is_the_last_user_message() {
        let request = json!({"messages": [
            {"role": "user", "content": "old"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "new"},
        ]});
        assert_eq!(question_of(&request), "new");
        assert_eq!(question_of(&Value::Null), "");
    }
}
