//! A fake Weibo Open IM (protocols/weibo.md) on 127.0.0.1, port 0, for one app.
//!
//! - Token endpoint (§2): `POST /open/auth/ws_token` with `{"app_id","app_secret"}` as
//!   strings. Missing fields → 400 code 4001; wrong ones → 401 code 4002; otherwise a new token
//!   with `expire_in` (3,600 s unless [`FakeWeibo::set_expire_in`]). Tokens carry `+`, `/`, `=`
//!   and a space, so a client that does not encode them cannot open the stream.
//!   [`FakeWeibo::fail_tokens`] makes the next fetches answer a status of choice.
//! - Stream (§3–§5): `GET /ws/stream?app_id&token&version`. A wrong path closes with 4000, a
//!   missing parameter with 4001, an unknown, expired or revoked token (or one of another
//!   app) with 4002 "Invalid token". An accepted socket gets a `system` frame, then every
//!   [`PING_EVERY`] a WebSocket ping and a JSON ping; it is closed with 4005 "Pong timeout"
//!   once no pong came for the pong timeout (120 s, shortened with
//!   [`FakeWeibo::set_pong_timeout`]). The client's JSON ping is answered `{"type":"pong"}`.
//! - [`FakeWeibo::push`] sends a `message` frame to every open socket of the app, as the
//!   simulator does (§9.5).
//! - `send_message` frames (§6) are recorded per `messageId` and held to the rules: `toUserId`
//!   present, `chunkId` 0, 1, 2, … with no gap or repeat, nothing after `done:true`, no empty
//!   first frame, at most 2,000 characters, deltas (a frame repeating the whole text so far is
//!   a cumulative snapshot). Each frame is acknowledged with `ack`; a broken one gets an
//!   `error` frame and is listed in [`FakeWeibo::violations`].
//! - Switches: [`FakeWeibo::drop_connections`] cuts every socket without a close frame,
//!   [`FakeWeibo::go_silent`] stops all pongs and pings (a dead link),
//!   [`FakeWeibo::revoke_tokens`] makes every token issued so far invalid, and
//!   [`FakeWeibo::token_outage`] answers every token request with 503.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response as WsResponse};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// How often the server pings each socket.
pub const PING_EVERY: Duration = Duration::from_millis(300);
/// The most characters the fake takes in one frame.
pub const MAX_FRAME_CHARS: usize = 2000;

/// One reply as the user sees it: the frames of one `messageId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The client's `messageId`.
    pub message_id: String,
    /// The recipient.
    pub to_user_id: String,
    /// The frames' texts joined.
    pub text: String,
    /// The `chunkId`s in arrival order.
    pub chunks: Vec<u64>,
    /// Whether the closing frame came.
    pub done: bool,
}

#[derive(Default)]
struct Inner {
    app_id: String,
    app_secret: String,
    expire_in: u64,
    /// Token → (expires at, valid).
    tokens: HashMap<String, (Instant, bool)>,
    token_fetches: usize,
    token_failures: Vec<u16>,
    pong_timeout: Duration,
    /// Replies in order of their first frame.
    replies: Vec<Reply>,
    violations: Vec<String>,
    open: usize,
    most_open: usize,
    connects: usize,
    refused: Vec<u16>,
    versions: Vec<String>,
    client_pings: usize,
}

enum Control {
    Push(String),
    Drop,
}

/// The fake; clones share it.
#[derive(Clone)]
pub struct FakeWeibo {
    inner: Arc<Mutex<Inner>>,
    next: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    token_outage: Arc<AtomicBool>,
    control: broadcast::Sender<Arc<Control>>,
    /// The token endpoint's base (`http://127.0.0.1:<port>`).
    pub api_base: String,
    /// The stream's base (`ws://127.0.0.1:<port>`).
    pub ws_base: String,
}

impl FakeWeibo {
    /// Starts the fake for the app `app_id` / `app_secret`.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(app_id: &str, app_secret: &str) -> Self {
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Weibo API");
        let ws = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Weibo stream");
        let (control, _) = broadcast::channel(256);
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                app_id: app_id.to_owned(),
                app_secret: app_secret.to_owned(),
                expire_in: 3600,
                pong_timeout: Duration::from_secs(120),
                ..Inner::default()
            })),
            next: Arc::new(AtomicU64::new(1)),
            silent: Arc::default(),
            token_outage: Arc::default(),
            control,
            api_base: format!("http://{}", http.local_addr().expect("address")),
            ws_base: format!("ws://{}", ws.local_addr().expect("address")),
        };
        let app = Router::new()
            .route("/open/auth/ws_token", post(ws_token))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(http, app).await });
        let server = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let server = server.clone();
                tokio::spawn(async move { server.serve_socket(stream).await });
            }
        });
        fake
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tokens issued from now on last `seconds`.
    pub fn set_expire_in(&self, seconds: u64) {
        self.state().expire_in = seconds;
    }

    /// Sockets without a pong for `timeout` are closed with 4005.
    pub fn set_pong_timeout(&self, timeout: Duration) {
        self.state().pong_timeout = timeout;
    }

    /// The next token fetches answer these statuses, in order.
    pub fn fail_tokens(&self, statuses: &[u16]) {
        self.state().token_failures.extend_from_slice(statuses);
    }

    /// While on, the token endpoint answers 503 to everyone (Weibo unreachable for new sockets).
    pub fn token_outage(&self, on: bool) {
        self.token_outage.store(on, Ordering::SeqCst);
    }

    /// Every token issued so far is refused from now on (close 4002).
    pub fn revoke_tokens(&self) {
        for (_, valid) in self.state().tokens.values_mut() {
            *valid = false;
        }
    }

    /// Stops (or resumes) all pings and pongs: the link looks dead to the client.
    pub fn go_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Cuts every open socket without a close frame.
    pub fn drop_connections(&self) {
        let _ = self.control.send(Arc::new(Control::Drop));
    }

    /// Pushes a text message from `from_user_id` to every open socket; returns its messageId.
    pub fn push(&self, from_user_id: &str, text: &str) -> String {
        let id = format!("msg_in_{}", self.next.fetch_add(1, Ordering::SeqCst));
        self.push_payload(&json!({"messageId": id, "fromUserId": from_user_id, "text": text,
            "timestamp": 1_741_080_000_000_i64,
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]}));
        id
    }

    /// Pushes a `message` frame with `payload` to every open socket (a message pushed again
    /// uses the same payload).
    pub fn push_payload(&self, payload: &Value) {
        let frame = json!({"type": "message", "payload": payload}).to_string();
        let _ = self.control.send(Arc::new(Control::Push(frame)));
    }

    /// Every reply so far, in order.
    pub fn replies(&self) -> Vec<Reply> {
        self.state().replies.clone()
    }

    /// The replies to `user`, in order.
    pub fn replies_to(&self, user: &str) -> Vec<Reply> {
        self.replies().into_iter().filter(|r| r.to_user_id == user).collect()
    }

    /// Frames that broke the rules, described.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// `(open sockets now, the most at once, sockets accepted in all)`.
    pub fn sockets(&self) -> (usize, usize, usize) {
        let state = self.state();
        (state.open, state.most_open, state.connects)
    }

    /// The close codes of refused connects, in order.
    pub fn refused(&self) -> Vec<u16> {
        self.state().refused.clone()
    }

    /// How many token requests came.
    pub fn token_fetches(&self) -> usize {
        self.state().token_fetches
    }

    /// The `version` parameters of accepted sockets.
    pub fn versions(&self) -> Vec<String> {
        self.state().versions.clone()
    }

    /// How many JSON pings clients sent.
    pub fn client_pings(&self) -> usize {
        self.state().client_pings
    }

    /// Checks the query of a connect; the close code and reason when it is refused.
    fn admit(&self, path: &str, query: &HashMap<String, String>) -> Result<(), (u16, &'static str)> {
        if path != "/ws/stream" {
            return Err((4000, "Invalid path"));
        }
        let (Some(app_id), Some(token)) = (query.get("app_id"), query.get("token")) else {
            return Err((4001, "Missing app_id or token"));
        };
        let state = self.state();
        let fresh = state
            .tokens
            .get(token)
            .is_some_and(|(expires, valid)| *valid && Instant::now() < *expires);
        if *app_id != state.app_id || !fresh {
            return Err((4002, "Invalid token"));
        }
        Ok(())
    }

    async fn serve_socket(self, stream: TcpStream) {
        let target = Arc::new(Mutex::new(String::new()));
        let seen = target.clone();
        // tungstenite's callback type fixes the large error variant.
        #[allow(clippy::result_large_err)]
        let callback = move |request: &Request, response: WsResponse| {
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = request.uri().to_string();
            Ok(response)
        };
        let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
            return;
        };
        let target = target.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (path, query) = split_target(&target);
        if let Err((code, reason)) = self.admit(&path, &query) {
            self.state().refused.push(code);
            let _ = socket
                .close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                }))
                .await;
            return;
        }
        let mut control = self.control.subscribe();
        let pong_timeout = {
            let mut state = self.state();
            state.open += 1;
            state.connects += 1;
            state.most_open = state.most_open.max(state.open);
            state.versions.push(query.get("version").cloned().unwrap_or_default());
            state.pong_timeout
        };
        let system = json!({"type": "system", "payload": {"message": "connected",
            "serverTime": "2026-11-23T00:00:00Z", "pongTimeoutMs": pong_timeout.as_millis()}});
        let _ = socket.send(Message::text(system.to_string())).await;
        let mut last_pong = tokio::time::Instant::now();
        let mut ping = tokio::time::interval(PING_EVERY);
        loop {
            let silent = self.silent.load(Ordering::SeqCst);
            tokio::select! {
                () = tokio::time::sleep_until(last_pong + pong_timeout) => {
                    let _ = socket.close(Some(CloseFrame { code: CloseCode::from(4005), reason: "Pong timeout".into() })).await;
                    break;
                }
                _ = ping.tick() => {
                    if !silent {
                        let _ = socket.send(Message::Ping(Vec::new().into())).await;
                        let _ = socket.send(Message::text(r#"{"type":"ping"}"#)).await;
                    }
                }
                control = control.recv() => match control.as_deref() {
                    Ok(Control::Push(frame)) => {
                        if socket.send(Message::text(frame.clone())).await.is_err() {
                            break;
                        }
                    }
                    Ok(Control::Drop) | Err(broadcast::error::RecvError::Closed) => break,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                },
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(answer) = self.on_text(text.as_str(), &mut last_pong, silent) {
                            let _ = socket.send(Message::text(answer)).await;
                        }
                    }
                    Some(Ok(Message::Pong(_))) => {
                        if !silent {
                            last_pong = tokio::time::Instant::now();
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        self.state().open -= 1;
    }

    /// Handles one text frame from the client; the frame to answer with, if any.
    fn on_text(&self, text: &str, last_pong: &mut tokio::time::Instant, silent: bool) -> Option<String> {
        if text.trim() == "pong" {
            *last_pong = tokio::time::Instant::now();
            return None;
        }
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return Some(error_frame("invalid JSON"));
        };
        match frame["type"].as_str() {
            Some("ping") => {
                self.state().client_pings += 1;
                (!silent).then(|| r#"{"type":"pong"}"#.to_owned())
            }
            Some("pong") => {
                if !silent {
                    *last_pong = tokio::time::Instant::now();
                }
                None
            }
            Some("send_message") => Some(self.on_send(&frame["payload"])),
            _ => Some(error_frame("unknown type")),
        }
    }

    /// Records one `send_message` frame, held to §6; the `ack` or `error` to answer with.
    fn on_send(&self, payload: &Value) -> String {
        let mut state = self.state();
        let (Some(to), Some(text), Some(message_id), Some(chunk), Some(done)) = (
            payload["toUserId"].as_str().filter(|s| !s.is_empty()),
            payload["text"].as_str(),
            payload["messageId"].as_str().filter(|s| !s.is_empty()),
            payload["chunkId"].as_u64(),
            payload["done"].as_bool(),
        ) else {
            state.violations.push(format!("malformed send_message: {payload}"));
            return error_frame("toUserId, text, messageId, chunkId and done are required");
        };
        let mut broken = Vec::new();
        if text.chars().count() > MAX_FRAME_CHARS {
            broken.push(format!("{message_id}#{chunk}: {} characters", text.chars().count()));
        }
        let index = state.replies.iter().position(|r| r.message_id == message_id);
        match index {
            None => {
                if chunk != 0 {
                    broken.push(format!("{message_id}: first chunkId {chunk}"));
                }
                if text.is_empty() && !done {
                    broken.push(format!("{message_id}: empty first frame"));
                }
                state.replies.push(Reply {
                    message_id: message_id.to_owned(),
                    to_user_id: to.to_owned(),
                    text: text.to_owned(),
                    chunks: vec![chunk],
                    done,
                });
            }
            Some(i) => {
                let reply = &mut state.replies[i];
                let expected = reply.chunks.last().map_or(0, |c| c + 1);
                if reply.done {
                    broken.push(format!("{message_id}#{chunk}: a frame after done"));
                }
                if chunk != expected {
                    broken.push(format!("{message_id}: chunkId {chunk} where {expected} was due"));
                }
                if reply.text.chars().count() >= 10 && text.starts_with(&reply.text) {
                    broken.push(format!("{message_id}#{chunk}: the whole text again, not a delta"));
                }
                if reply.to_user_id != to {
                    broken.push(format!("{message_id}#{chunk}: another recipient"));
                }
                reply.text.push_str(text);
                reply.chunks.push(chunk);
                reply.done |= done;
            }
        }
        if broken.is_empty() {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            json!({"type": "ack", "payload": {"messageId": format!("srv_{n}"), "receivedAt": 1}}).to_string()
        } else {
            let message = broken.join("; ");
            state.violations.extend(broken);
            error_frame(&message)
        }
    }
}

fn error_frame(message: &str) -> String {
    json!({"type": "error", "payload": {"message": message}}).to_string()
}

/// `/path?query` → path and decoded query parameters (form encoding: `+` is a space).
fn split_target(target: &str) -> (String, HashMap<String, String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    (path.to_owned(), params)
}

/// The token endpoint (§2).
async fn ws_token(State(fake): State<FakeWeibo>, body: Option<Json<Value>>) -> Response {
    let mut state = fake.state();
    state.token_fetches += 1;
    if fake.token_outage.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": 5000, "message": "unavailable"})),
        )
            .into_response();
    }
    if !state.token_failures.is_empty() {
        let status = state.token_failures.remove(0);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (code, Json(json!({"code": 5000, "message": "unavailable"}))).into_response();
    }
    let body = body.map(|Json(b)| b).unwrap_or(Value::Null);
    let (Some(app_id), Some(secret)) = (body["app_id"].as_str(), body["app_secret"].as_str()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": 4001, "message": "app_id and app_secret are required"})),
        )
            .into_response();
    };
    if app_id != state.app_id || secret != state.app_secret {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 4002, "message": "invalid app_id or app_secret"})),
        )
            .into_response();
    }
    let n = fake.next.fetch_add(1, Ordering::SeqCst);
    let token = format!("tk+{n}/a=b c");
    let expire_in = state.expire_in;
    state
        .tokens
        .insert(token.clone(), (Instant::now() + Duration::from_secs(expire_in), true));
    Json(json!({"code": 0, "message": "success",
        "data": {"token": token, "uid": 1_234_567_890_123_i64, "expire_in": expire_in}}))
    .into_response()
}
