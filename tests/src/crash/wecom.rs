//! Playing WeCom against the gateway under test, as WeCom treats a smart bot in callback mode:
//!
//! - each message is a signed, encrypted callback carrying a `response_url` of its own;
//! - a callback not answered 200 (connection refused while the gateway is down, a timeout, a
//!   5xx) is sent again after a pause, until it is acknowledged or the retry budget is spent;
//! - an acknowledged message's stream is pulled with refresh callbacks until it is finished, for
//!   at most the pull window after the message was first sent (WeCom: 6 minutes), also across
//!   a restart of the gateway;
//! - the `response_url`s are served by a [`Sink`] that records every POST.
//!
//! Everything a message's user saw is kept in its [`Outcome`] and the sink, and judged later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use imgate_channels::wecom::simulate::{SignedCallback, Simulator};
use serde_json::{Value, json};

use super::agent::answer_for;

/// How WeCom sends a callback again when it is not answered 200.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// One attempt is abandoned after this (WeCom: 5 s).
    pub attempt_timeout: Duration,
    /// Between a failed attempt and the next.
    pub pause: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No attempt starts later than this after the first.
    pub give_up_after: Duration,
}

impl Default for Retry {
    /// WeCom's 5 s per attempt; more and closer retries than WeCom's three, so that a message is
    /// lost only when the gateway stays unreachable for about a minute, never by the restart
    /// itself.
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(5),
            pause: Duration::from_millis(500),
            max_attempts: 30,
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// One user message.
#[derive(Debug, Clone)]
pub struct Message {
    /// Position in the run (0, 1, …).
    pub index: usize,
    /// WeCom's message id.
    pub msgid: String,
    /// The sender.
    pub user: String,
    /// What the user wrote (unique per message).
    pub text: String,
    /// The one answer the user must see.
    pub answer: String,
    /// The message's own `response_url`.
    pub response_url: String,
}

impl Message {
    /// Message `index` of a run with `users` senders; its `response_url` is on `sink_base`.
    pub fn new(index: usize, users: usize, sink_base: &str) -> Self {
        let text = format!("question {index:06}");
        Self {
            index,
            msgid: format!("crash-msg-{index:06}"),
            user: format!("user{:04}", index % users.max(1)),
            answer: answer_for(&text),
            response_url: format!("{sink_base}{RESPONSE_PATH}?response_code={index}"),
            text,
        }
    }
}

/// Why an attempt was not an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// No connection (the gateway is down).
    Refused,
    /// No answer within the attempt's timeout.
    Timeout,
    /// The connection broke during the request (the gateway was killed).
    Broken,
    /// An answer other than 200.
    Status(u16),
    /// A 200 whose body is not a signed, encrypted stream frame.
    BadReply,
}

/// What happened to one message, as WeCom and its user saw it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The message.
    pub message: Message,
    /// When the callback was first sent.
    pub first_sent: Instant,
    /// Callback attempts made.
    pub attempts: u32,
    /// Why attempts failed.
    pub failures: Vec<Failure>,
    /// When a callback attempt was first answered 200 with a stream frame.
    pub acked_at: Option<Instant>,
    /// The stream the acknowledgement named.
    pub stream_id: Option<String>,
    /// The stream's content as last pulled (what the user's bubble shows).
    pub stream_content: Option<String>,
    /// The stream said it was finished.
    pub stream_finished: bool,
    /// Refresh callbacks sent (answered or not).
    pub refreshes: u32,
    /// When a pulled frame first held the whole answer.
    pub answer_in_stream_at: Option<Instant>,
    /// When a pulled frame first held the whole answer and said the stream was finished (the
    /// gateway finishes a stream only after it recorded the answer).
    pub answer_finished_at: Option<Instant>,
    /// WeCom would stop pulling: the window passed before the stream finished.
    pub stream_abandoned: bool,
    /// Everything WeCom would do for this message is done (the answer arrived, or no more is
    /// awaited).
    pub done: bool,
}

impl Outcome {
    fn new(message: Message) -> Self {
        Self {
            message,
            first_sent: Instant::now(),
            attempts: 0,
            failures: Vec::new(),
            acked_at: None,
            stream_id: None,
            stream_content: None,
            stream_finished: false,
            refreshes: 0,
            answer_in_stream_at: None,
            answer_finished_at: None,
            stream_abandoned: false,
            done: false,
        }
    }
}

/// Every message's outcome, by index, shared by the message tasks and the reports.
#[derive(Clone, Default)]
pub struct Ledger(Arc<Mutex<Vec<Option<Outcome>>>>);

impl Ledger {
    fn insert(&self, outcome: Outcome) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let index = outcome.message.index;
        if all.len() <= index {
            all.resize(index + 1, None);
        }
        all[index] = Some(outcome);
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut Outcome)) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(Some(outcome)) = all.get_mut(index) {
            f(outcome);
        }
    }

    fn get(&self, index: usize) -> Option<Outcome> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.get(index).cloned().flatten()
    }

    /// A copy of every outcome so far.
    pub fn all(&self) -> Vec<Outcome> {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().flatten().cloned().collect()
    }
}

/// The path of the `response_url`s.
const RESPONSE_PATH: &str = "/cgi-bin/aibot/response";

/// One POST to a `response_url`.
#[derive(Debug, Clone)]
pub struct Post {
    /// When it arrived.
    pub at: Instant,
    /// The Markdown content (or the whole body when it has none).
    pub content: String,
}

/// The posts of every `response_url`, per message index.
type Posts = Arc<Mutex<HashMap<usize, Vec<Post>>>>;

/// The `response_url` receiver: every POST, per `response_code` (the message index). Like
/// WeCom's, each URL takes one message; a second POST is recorded and answered with an error.
#[derive(Clone)]
pub struct Sink {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    posts: Posts,
}

impl Sink {
    /// Starts the receiver on 127.0.0.1.
    ///
    /// # Errors
    /// When no local port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        let posts: Posts = Arc::default();
        let app = axum::Router::new()
            .route(RESPONSE_PATH, axum::routing::post(receive))
            .with_state(posts.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { base, posts })
    }

    /// The posts to message `index`'s `response_url`.
    pub fn posts(&self, index: usize) -> Vec<Post> {
        let posts = self.posts.lock().unwrap_or_else(PoisonError::into_inner);
        posts.get(&index).cloned().unwrap_or_default()
    }

    /// Every post so far, per message index.
    pub fn all(&self) -> HashMap<usize, Vec<Post>> {
        self.posts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Posts received so far, over all messages.
    pub fn total(&self) -> usize {
        let posts = self.posts.lock().unwrap_or_else(PoisonError::into_inner);
        posts.values().map(Vec::len).sum()
    }
}

async fn receive(
    State(posts): State<Posts>,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let index = query
        .get("response_code")
        .and_then(|c| c.parse().ok())
        .unwrap_or(usize::MAX);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let content = parsed
        .pointer("/markdown/content")
        .and_then(Value::as_str)
        .map_or_else(|| String::from_utf8_lossy(&body).into_owned(), str::to_owned);
    let first = {
        let mut posts = posts.lock().unwrap_or_else(PoisonError::into_inner);
        let list = posts.entry(index).or_default();
        list.push(Post {
            at: Instant::now(),
            content,
        });
        list.len() == 1
    };
    axum::Json(if first {
        json!({"errcode": 0, "errmsg": "ok"})
    } else {
        json!({"errcode": 600039, "errmsg": "response_url already used"})
    })
}

/// How WeCom follows a message after the acknowledgement.
#[derive(Debug, Clone, Copy)]
pub struct Pull {
    /// Between two refresh callbacks of one stream.
    pub refresh_every: Duration,
    /// Refreshes stop this long after the message was first sent (WeCom: 6 minutes).
    pub window: Duration,
    /// After the stream ended without the whole answer, how long to wait for it to arrive
    /// through `response_url`.
    pub follow_up_wait: Duration,
}

impl Default for Pull {
    fn default() -> Self {
        Self {
            refresh_every: Duration::from_millis(500),
            window: Duration::from_secs(360),
            follow_up_wait: Duration::from_secs(30),
        }
    }
}

/// Plays WeCom for one integration of the gateway.
#[derive(Clone)]
pub struct Player {
    sim: Arc<Simulator>,
    http: reqwest::Client,
    /// The webhook URL of the integration (changes if a restart had to take a new port).
    webhook: Arc<RwLock<String>>,
    sink: Sink,
    ledger: Ledger,
    retry: Retry,
    pull: Pull,
}

impl Player {
    /// A player for the integration at `webhook` with these credentials.
    ///
    /// # Errors
    /// When the EncodingAESKey is not valid or no HTTP client can be built.
    pub fn new(
        token: &str,
        encoding_aes_key: &str,
        webhook: Arc<RwLock<String>>,
        sink: Sink,
        ledger: Ledger,
        retry: Retry,
        pull: Pull,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            sim: Arc::new(Simulator::new(token, encoding_aes_key)?),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .build()?,
            webhook,
            sink,
            ledger,
            retry,
            pull,
        })
    }

    /// Sends message `message` and follows it until its user has the answer or WeCom would
    /// stop waiting; every step goes to the ledger. Bounded by the retry budget, the pull
    /// window and the follow-up wait.
    pub async fn deliver(&self, message: Message) {
        let index = message.index;
        let callback = self.sim.text(
            &message.msgid,
            &message.user,
            None,
            &message.text,
            Some(&message.response_url),
        );
        let answer = message.answer.clone();
        self.ledger.insert(Outcome::new(message));
        let Some(first) = self.send_until_acked(index, &callback).await else {
            self.ledger.update(index, |o| o.done = true);
            return;
        };
        let first_sent = self.ledger.get(index).map_or_else(Instant::now, |o| o.first_sent);
        let mut frame = first;
        let mut refreshes = 0u32;
        while !frame.finished {
            if first_sent.elapsed() + self.pull.refresh_every >= self.pull.window {
                self.ledger.update(index, |o| o.stream_abandoned = true);
                break;
            }
            tokio::time::sleep(self.pull.refresh_every).await;
            refreshes += 1;
            let refresh = self
                .sim
                .refresh(&format!("crash-refresh-{index}-{refreshes}"), &frame.id);
            self.ledger.update(index, |o| o.refreshes = refreshes);
            // A refresh that fails (the gateway is down) is simply asked again at the next tick.
            if let Ok(next) = self.post(&refresh).await {
                self.seen(index, &next, &answer);
                frame = next;
            }
        }
        let in_stream = frame.content.contains(&answer);
        if !in_stream {
            let deadline = Instant::now() + self.pull.follow_up_wait;
            while Instant::now() < deadline && !self.sink.posts(index).iter().any(|p| p.content.contains(&answer)) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.ledger.update(index, |o| o.done = true);
    }

    /// Sends `callback` until an attempt is answered 200 with a stream frame; `None` when the
    /// retry budget ran out first.
    async fn send_until_acked(&self, index: usize, callback: &SignedCallback) -> Option<Frame> {
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.ledger.update(index, |o| o.attempts = attempts);
            match self.post(callback).await {
                Ok(frame) => {
                    self.ledger.update(index, |o| {
                        o.acked_at = Some(Instant::now());
                        o.stream_id = Some(frame.id.clone());
                    });
                    let answer = self.ledger.get(index).map(|o| o.message.answer).unwrap_or_default();
                    self.seen(index, &frame, &answer);
                    return Some(frame);
                }
                Err(failure) => self.ledger.update(index, |o| o.failures.push(failure)),
            }
            if attempts >= self.retry.max_attempts || started.elapsed() + self.retry.pause > self.retry.give_up_after {
                return None;
            }
            tokio::time::sleep(self.retry.pause).await;
        }
    }

    /// Records a frame the user saw.
    fn seen(&self, index: usize, frame: &Frame, answer: &str) {
        self.ledger.update(index, |o| {
            o.stream_content = Some(frame.content.clone());
            o.stream_finished = frame.finished;
            if frame.content.contains(answer) {
                let now = Instant::now();
                o.answer_in_stream_at.get_or_insert(now);
                if frame.finished {
                    o.answer_finished_at.get_or_insert(now);
                }
            }
        });
    }

    /// One attempt: POST the callback, read the passive reply as a stream frame.
    async fn post(&self, callback: &SignedCallback) -> Result<Frame, Failure> {
        let url = {
            let webhook = self.webhook.read().unwrap_or_else(PoisonError::into_inner);
            format!("{}?{}", webhook, callback.query)
        };
        let response = self
            .http
            .post(url)
            .timeout(self.retry.attempt_timeout)
            .body(callback.body.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| classify(&e))?;
        if status != 200 {
            return Err(Failure::Status(status));
        }
        let frame = self.sim.read_stream(&body).map_err(|_| Failure::BadReply)?;
        Ok(Frame {
            id: frame.id,
            content: frame.content,
            finished: frame.finished,
        })
    }
}

/// The part of a stream frame the player follows.
#[derive(Debug, Clone)]
struct Frame {
    id: String,
    content: String,
    finished: bool,
}

fn classify(error: &reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout
    } else if error.is_connect() {
        Failure::Refused
    } else {
        Failure::Broken
    }
}
