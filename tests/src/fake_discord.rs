//! A fake Discord (protocols/discord.md) on 127.0.0.1, port 0, for one application.
//!
//! - REST (§1, §2.5, §4): `GET /gateway/bot` answers this fake's gateway and `GET /users/@me`
//!   the bot user ([`BOT_USERNAME`]); messages, edits, typing, interaction callbacks, follow-ups
//!   and `@original` edits, and command registration are recorded. Bot routes check
//!   `Authorization: Bot <token>` (401 otherwise); message content over 2,000 UTF-16 units is
//!   refused with 400 / 50035. Every answer carries rate-limit headers;
//!   [`FakeDiscord::fail_next`] makes a route answer 429 with a `retry_after`.
//! - Gateway (§3): Hello with a short heartbeat interval; Identify with a wrong token closes with
//!   4004; READY carries a session id, this gateway as the resume URL and the bot user; every
//!   heartbeat is acknowledged unless [`FakeDiscord::mute_acks`]; dispatched events carry
//!   increasing sequence numbers and are kept, so a Resume with a session id and sequence number
//!   replays what came after it, then RESUMED. [`FakeDiscord::drop_connection`] cuts the socket
//!   without a close frame; [`FakeDiscord::close_with`] closes with a code.
//!
//! Every channel message the bot creates through REST is dispatched on the gateway as well, as
//! Discord does; [`FakeDiscord::message_by_another_program`] plays a second program posting as
//! the same bot.
//!
//! What a user would see is [`FakeDiscord::messages`]: each message's content after its edits;
//! images shown in embeds are [`FakeDiscord::embedded_images`] ([`embeds`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

mod embeds;
pub use embeds::Embedded;

/// The bot user's id.
pub const BOT_ID: &str = "1100000000000000001";
/// The bot user's username.
pub const BOT_USERNAME: &str = "imgate";
/// The application's public key: RFC 8032 §7.1 TEST 1, the protocol notes' vector.
pub const APP_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/// The private half of [`APP_PUBLIC_KEY`].
const APP_SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];

/// Discord's `X-Signature-Ed25519` for an interaction: the application's signature over the
/// timestamp and the raw body, hex.
#[must_use]
pub fn sign_interaction(timestamp: &str, body: &[u8]) -> String {
    use ed25519_dalek::{Signer, SigningKey};
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(SigningKey::from_bytes(&APP_SEED).sign(&message).to_bytes())
}

/// The heartbeat interval the gateway asks for.
pub const HEARTBEAT_MS: u64 = 250;

/// A message as a channel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Its id (`@original` for a deferred interaction answer).
    pub id: String,
    /// The channel, or `interaction:<token>` for interaction answers and follow-ups.
    pub channel: String,
    /// The content now.
    pub content: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// Edits so far.
    pub edits: usize,
    /// The custom ids of its buttons.
    pub buttons: Vec<String>,
}

#[derive(Default)]
struct Inner {
    token: String,
    messages: Vec<Shown>,
    typing: usize,
    deferred: Vec<String>,
    commands: Option<Value>,
    identifies: usize,
    resumes: usize,
    intents: Vec<u64>,
    events: Vec<(u64, Value)>,
    failures: HashMap<String, Vec<f64>>,
    /// Sockets with a session (after READY or RESUMED), and the most at once.
    live: usize,
    most_live: usize,
    /// The sequence number the client last reported (heartbeat or resume): what it has taken.
    client_seq: Option<u64>,
    embedded: Vec<Embedded>,
}

enum Control {
    Event,
    Drop,
    Close(u16),
}

/// The fake; clones share it.
#[derive(Clone)]
pub struct FakeDiscord {
    inner: Arc<Mutex<Inner>>,
    seq: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    mute: Arc<AtomicBool>,
    control: broadcast::Sender<Arc<Control>>,
    /// The REST base (`http://127.0.0.1:<port>`).
    pub base: String,
    gateway: String,
}

impl FakeDiscord {
    /// Starts the fake for the bot with `token`.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(token: &str) -> Self {
        let rest = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Discord REST");
        let ws = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Discord gateway");
        let (control, _) = broadcast::channel(64);
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                token: token.to_owned(),
                ..Inner::default()
            })),
            seq: Arc::new(AtomicU64::new(0)),
            next_id: Arc::new(AtomicU64::new(5000)),
            mute: Arc::default(),
            control,
            base: format!("http://{}", rest.local_addr().expect("address")),
            gateway: format!("ws://{}", ws.local_addr().expect("address")),
        };
        let app = Router::new()
            .route("/gateway/bot", get(gateway_bot))
            .route("/users/@me", get(current_user))
            .route("/channels/{channel}/messages", post(create_message))
            .route("/channels/{channel}/messages/{message}", patch(edit_message))
            .route("/channels/{channel}/typing", post(typing))
            .route("/interactions/{id}/{token}/callback", post(callback))
            .route("/webhooks/{app}/{token}", post(followup))
            .route(
                "/webhooks/{app}/{token}/messages/{message}",
                patch(edit_webhook_message),
            )
            .route("/applications/{app}/commands", put(set_commands))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(rest, app).await });
        let gateway = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = ws.accept().await {
                let gateway = gateway.clone();
                tokio::spawn(async move { gateway.serve_socket(stream).await });
            }
        });
        fake
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self) -> String {
        self.next_id.fetch_add(1, Ordering::SeqCst).to_string()
    }

    /// Dispatches `MESSAGE_CREATE` for a user's message in `channel` (a guild channel when
    /// `guild` is given) and returns the message's id. It is kept for resumes even when no
    /// socket is connected.
    pub fn user_message(&self, channel: &str, guild: Option<&str>, content: &str, mentions_bot: bool) -> String {
        self.message_from(
            json!({"id": "700", "username": "alice", "global_name": "Alice"}),
            channel,
            guild,
            content,
            mentions_bot,
        )
    }

    /// As [`FakeDiscord::user_message`], from another bot.
    pub fn bot_message(&self, channel: &str, guild: Option<&str>, content: &str, mentions_bot: bool) -> String {
        self.message_from(
            json!({"id": "800", "username": "otherbot", "bot": true}),
            channel,
            guild,
            content,
            mentions_bot,
        )
    }

    /// Dispatches `MESSAGE_CREATE` for a message the bot user sent without this fake's REST
    /// API having been asked: another program running the same bot token. Returns its id.
    pub fn message_by_another_program(&self, channel: &str, content: &str) -> String {
        self.message_from(
            json!({"id": BOT_ID, "username": "imgate", "bot": true}),
            channel,
            None,
            content,
            false,
        )
    }

    /// Dispatches `MESSAGE_CREATE` for `data` with the next sequence number, kept for resumes.
    fn dispatch_message(&self, data: Value) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.state()
            .events
            .push((seq, json!({"op": 0, "t": "MESSAGE_CREATE", "s": seq, "d": data})));
        let _ = self.control.send(Arc::new(Control::Event));
    }

    fn message_from(
        &self,
        author: Value,
        channel: &str,
        guild: Option<&str>,
        content: &str,
        mentions_bot: bool,
    ) -> String {
        let id = self.id();
        let mut data = json!({"id": id, "channel_id": channel, "author": author,
            "content": content, "timestamp": "2026-11-22T00:00:00Z",
            "mentions": if mentions_bot { json!([{"id": BOT_ID, "username": "imgate", "bot": true}]) } else { json!([]) },
            "attachments": [], "type": 0});
        if let Some(guild) = guild {
            data["guild_id"] = json!(guild);
        }
        self.dispatch_message(data);
        id
    }

    /// Cuts every socket without a close frame.
    pub fn drop_connection(&self) {
        let _ = self.control.send(Arc::new(Control::Drop));
    }

    /// Closes every socket with `code`.
    pub fn close_with(&self, code: u16) {
        let _ = self.control.send(Arc::new(Control::Close(code)));
    }

    /// Stops (or resumes) acknowledging heartbeats.
    pub fn mute_acks(&self, mute: bool) {
        self.mute.store(mute, Ordering::SeqCst);
    }

    /// Makes the next `count` calls of `route` (e.g. `"PATCH messages"`) answer 429.
    pub fn fail_next(&self, route: &str, count: usize, retry_after: f64) {
        self.state()
            .failures
            .entry(route.to_owned())
            .or_default()
            .extend(std::iter::repeat_n(retry_after, count));
    }

    /// Messages the bot sent, as shown.
    pub fn messages(&self) -> Vec<Shown> {
        self.state().messages.clone()
    }

    /// The bot's messages in `channel` answering `message_id`: its reply, and the messages that
    /// continue it (sent without a reply) until another reply.
    pub fn answer_to(&self, channel: &str, message_id: &str) -> Vec<Shown> {
        let messages: Vec<Shown> = self.messages().into_iter().filter(|m| m.channel == channel).collect();
        let Some(first) = messages.iter().position(|m| m.reply_to.as_deref() == Some(message_id)) else {
            return Vec::new();
        };
        let mut answer = vec![messages[first].clone()];
        answer.extend(
            messages[first + 1..]
                .iter()
                .take_while(|m| m.reply_to.is_none())
                .cloned(),
        );
        answer
    }

    /// The deferred answer of the interaction with `token` and its follow-ups.
    pub fn interaction_answer(&self, token: &str) -> Vec<Shown> {
        let channel = format!("interaction:{token}");
        self.messages().into_iter().filter(|m| m.channel == channel).collect()
    }

    /// Dispatches the `MESSAGE_CREATE` of message `id` once more, with a new sequence number,
    /// as a replay after a resume can; false when there is no such message.
    pub fn dispatch_again(&self, id: &str) -> bool {
        let mut state = self.state();
        let Some(event) = state
            .events
            .iter()
            .find(|(_, e)| e["t"] == "MESSAGE_CREATE" && e["d"]["id"] == id)
            .map(|(_, e)| e.clone())
        else {
            return false;
        };
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut again = event;
        again["s"] = json!(seq);
        state.events.push((seq, again));
        drop(state);
        let _ = self.control.send(Arc::new(Control::Event));
        true
    }

    /// Whether the client has reported (in a heartbeat or a resume) a sequence number at or
    /// past every dispatch of message `id`: it will not be replayed.
    pub fn confirmed(&self, id: &str) -> bool {
        let state = self.state();
        let last = state
            .events
            .iter()
            .filter(|(_, e)| e["t"] == "MESSAGE_CREATE" && e["d"]["id"] == id)
            .map(|(seq, _)| *seq)
            .max();
        matches!((last, state.client_seq), (Some(last), Some(seq)) if seq >= last)
    }

    /// `(sockets with a session now, the most at once)`: a bot has one session.
    pub fn live(&self) -> (usize, usize) {
        let state = self.state();
        (state.live, state.most_live)
    }

    /// `(identifies, resumes)` so far.
    pub fn sessions(&self) -> (usize, usize) {
        let state = self.state();
        (state.identifies, state.resumes)
    }

    /// The intents of each Identify.
    pub fn intents(&self) -> Vec<u64> {
        self.state().intents.clone()
    }

    /// Typing indicators shown.
    pub fn typing_count(&self) -> usize {
        self.state().typing
    }

    /// Interactions acknowledged with a deferred response through the callback route.
    pub fn deferred(&self) -> Vec<String> {
        self.state().deferred.clone()
    }

    /// The registered commands.
    pub fn commands(&self) -> Option<Value> {
        self.state().commands.clone()
    }

    async fn serve_socket(self, stream: tokio::net::TcpStream) {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let mut control = self.control.subscribe();
        let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}, "s": null, "t": null});
        if ws.send(Message::text(hello.to_string())).await.is_err() {
            return;
        }
        // The last sequence number this socket delivered.
        let mut delivered: Option<u64> = None;
        let session = Session(self.clone(), std::cell::Cell::new(false));
        let mut ready = false;
        loop {
            if ready {
                session.start();
            }
            tokio::select! {
                frame = ws.next() => {
                    let Some(Ok(Message::Text(text))) = frame else { return };
                    let Ok(payload) = serde_json::from_str::<Value>(text.as_str()) else { return };
                    match payload["op"].as_u64() {
                        Some(1) => {
                            if let Some(seq) = payload["d"].as_u64() {
                                self.state().client_seq = Some(seq);
                            }
                            if !self.mute.load(Ordering::SeqCst) {
                                let _ = ws.send(Message::text(json!({"op": 11}).to_string())).await;
                            }
                        }
                        Some(2) => {
                            if payload["d"]["token"] != self.state().token.as_str() {
                                let _ = ws.close(Some(CloseFrame { code: CloseCode::Library(4004), reason: "Authentication failed.".into() })).await;
                                return;
                            }
                            {
                                let mut state = self.state();
                                state.identifies += 1;
                                state.intents.push(payload["d"]["intents"].as_u64().unwrap_or(0));
                            }
                            let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
                            let session = format!("session-{}", self.id());
                            let ready_event = json!({"op": 0, "t": "READY", "s": seq, "d": {"v": 10, "session_id": session,
                                "resume_gateway_url": self.gateway, "user": {"id": BOT_ID, "username": "imgate", "bot": true},
                                "guilds": [], "application": {"id": "app-1"}}});
                            if ws.send(Message::text(ready_event.to_string())).await.is_err() { return; }
                            // A new session starts with the events from now on.
                            delivered = Some(seq);
                            ready = true;
                        }
                        Some(6) => {
                            if payload["d"]["token"] != self.state().token.as_str() {
                                let _ = ws.close(Some(CloseFrame { code: CloseCode::Library(4004), reason: "Authentication failed.".into() })).await;
                                return;
                            }
                            {
                                let mut state = self.state();
                                state.resumes += 1;
                                state.client_seq = payload["d"]["seq"].as_u64();
                            }
                            delivered = payload["d"]["seq"].as_u64();
                            if !self.replay(&mut ws, &mut delivered).await { return; }
                            let seq = self.seq.load(Ordering::SeqCst);
                            let resumed = json!({"op": 0, "t": "RESUMED", "s": seq, "d": {}});
                            if ws.send(Message::text(resumed.to_string())).await.is_err() { return; }
                            ready = true;
                        }
                        _ => {}
                    }
                }
                command = control.recv() => {
                    let Ok(command) = command else { return };
                    match &*command {
                        Control::Event if ready => {
                            if !self.replay(&mut ws, &mut delivered).await { return; }
                        }
                        Control::Event => {}
                        Control::Drop => return,
                        Control::Close(code) => {
                            let _ = ws.close(Some(CloseFrame { code: CloseCode::Library(*code), reason: "".into() })).await;
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Counts a socket with a session while it lives.
struct Session(FakeDiscord, std::cell::Cell<bool>);

impl Session {
    fn start(&self) {
        if !self.1.replace(true) {
            let mut state = self.0.state();
            state.live += 1;
            state.most_live = state.most_live.max(state.live);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.1.get() {
            self.0.state().live -= 1;
        }
    }
}

impl FakeDiscord {
    /// Sends the kept events after `delivered`.
    async fn replay<S>(&self, ws: &mut S, delivered: &mut Option<u64>) -> bool
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        let pending: Vec<(u64, Value)> = self
            .state()
            .events
            .iter()
            .filter(|(seq, _)| delivered.is_none_or(|d| *seq > d))
            .cloned()
            .collect();
        for (seq, event) in pending {
            if ws.send(Message::text(event.to_string())).await.is_err() {
                return false;
            }
            *delivered = Some(seq);
        }
        true
    }

    /// Answers a REST call: 429 when a failure is queued for `route`, else `ok`.
    fn answer(&self, route: &str, ok: impl FnOnce() -> Response) -> Response {
        let failure = self
            .state()
            .failures
            .get_mut(route)
            .and_then(|f| (!f.is_empty()).then(|| f.remove(0)));
        if let Some(retry_after) = failure {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": false})),
            )
                .into_response();
        }
        let mut response = ok();
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-bucket", "fakebucket".parse().expect("header"));
        headers.insert("x-ratelimit-remaining", "4".parse().expect("header"));
        headers.insert("x-ratelimit-reset-after", "1.0".parse().expect("header"));
        response
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let expected = format!("Bot {}", self.state().token);
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
    }
}

fn refuse(status: StatusCode, code: i64, message: &str) -> Response {
    (status, Json(json!({"message": message, "code": code}))).into_response()
}

/// Checks content as Discord would: the content, or Discord's JSON error code and message.
fn content_of(body: &Value) -> Result<String, (i64, &'static str)> {
    let content = body["content"].as_str().unwrap_or_default();
    if content.encode_utf16().count() > 2000 {
        return Err((50035, "Invalid Form Body"));
    }
    if content.is_empty() && !embeds::has_embeds(body) {
        return Err((50006, "Cannot send an empty message"));
    }
    Ok(content.to_owned())
}

fn buttons(body: &Value) -> Vec<String> {
    body["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .filter_map(|c| c["custom_id"].as_str().map(str::to_owned))
        .collect()
}

async fn gateway_bot(State(fake): State<FakeDiscord>, headers: HeaderMap) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    Json(json!({"url": fake.gateway, "shards": 1, "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}}))
        .into_response()
}

async fn current_user(State(fake): State<FakeDiscord>, headers: HeaderMap) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    Json(json!({"id": BOT_ID, "username": BOT_USERNAME, "discriminator": "0", "bot": true})).into_response()
}

async fn create_message(
    State(fake): State<FakeDiscord>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    fake.answer("POST messages", || {
        let content = match content_of(&body) {
            Ok(content) => content,
            Err((code, message)) => return refuse(StatusCode::BAD_REQUEST, code, message),
        };
        let id = fake.id();
        let reply_to = body["message_reference"]["message_id"].as_str().map(str::to_owned);
        embeds::note(&fake, &channel, &id, &body);
        fake.state().messages.push(Shown {
            id: id.clone(),
            channel: channel.clone(),
            content: content.clone(),
            reply_to: reply_to.clone(),
            edits: 0,
            buttons: buttons(&body),
        });
        let mut created = json!({"id": id, "channel_id": channel, "content": content,
            "author": {"id": BOT_ID, "username": "imgate", "bot": true},
            "timestamp": "2026-11-22T00:00:00Z", "mentions": [], "attachments": [], "type": 0});
        if let Some(reply_to) = reply_to {
            created["type"] = json!(19);
            created["message_reference"] = json!({"message_id": reply_to, "channel_id": channel});
        }
        fake.dispatch_message(created.clone());
        Json(created).into_response()
    })
}

fn edit(fake: &FakeDiscord, channel: &str, id: &str, body: &Value) -> Response {
    let content = match content_of(body) {
        Ok(content) => content,
        Err((code, message)) => return refuse(StatusCode::BAD_REQUEST, code, message),
    };
    let mut state = fake.state();
    let exists = state.messages.iter().any(|m| m.channel == channel && m.id == id);
    if !exists && id == "@original" && channel.starts_with("interaction:") {
        // The deferred answer the interactions endpoint gave inline (`{"type":5}`).
        state.messages.push(Shown {
            id: id.to_owned(),
            channel: channel.to_owned(),
            content: String::new(),
            reply_to: None,
            edits: 0,
            buttons: Vec::new(),
        });
    }
    let Some(message) = state.messages.iter_mut().find(|m| m.channel == channel && m.id == id) else {
        return refuse(StatusCode::NOT_FOUND, 10008, "Unknown Message");
    };
    message.content.clone_from(&content);
    message.edits += 1;
    message.buttons = buttons(body);
    Json(json!({"id": id, "content": content})).into_response()
}

async fn edit_message(
    State(fake): State<FakeDiscord>,
    Path((channel, message)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    fake.answer("PATCH messages", || edit(&fake, &channel, &message, &body))
}

async fn typing(State(fake): State<FakeDiscord>, headers: HeaderMap) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    fake.state().typing += 1;
    StatusCode::NO_CONTENT.into_response()
}

async fn callback(
    State(fake): State<FakeDiscord>,
    Path((id, token)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if body["type"] != 5 {
        return refuse(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
    }
    let mut state = fake.state();
    state.deferred.push(id);
    state.messages.push(Shown {
        id: "@original".into(),
        channel: format!("interaction:{token}"),
        content: String::new(),
        reply_to: None,
        edits: 0,
        buttons: Vec::new(),
    });
    StatusCode::NO_CONTENT.into_response()
}

async fn followup(
    State(fake): State<FakeDiscord>,
    Path((_app, token)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    fake.answer("POST followup", || {
        let content = match content_of(&body) {
            Ok(content) => content,
            Err((code, message)) => return refuse(StatusCode::BAD_REQUEST, code, message),
        };
        let id = fake.id();
        embeds::note(&fake, &format!("interaction:{token}"), &id, &body);
        fake.state().messages.push(Shown {
            id: id.clone(),
            channel: format!("interaction:{token}"),
            content,
            reply_to: None,
            edits: 0,
            buttons: buttons(&body),
        });
        Json(json!({"id": id})).into_response()
    })
}

async fn edit_webhook_message(
    State(fake): State<FakeDiscord>,
    Path((_app, token, message)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    fake.answer("PATCH original", || {
        edit(&fake, &format!("interaction:{token}"), &message, &body)
    })
}

async fn set_commands(State(fake): State<FakeDiscord>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !fake.authorized(&headers) {
        return refuse(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    fake.state().commands = Some(body.clone());
    Json(body).into_response()
}

/// How long tests wait for the fake's heartbeat-based behaviour.
pub const DEAD_LINK_WAIT: Duration = Duration::from_millis(HEARTBEAT_MS * 3);

mod attachments;
