//! A fake Tencent iLink bot API (protocols/wechat-ilink.md) on 127.0.0.1, port 0, for one bot
//! and its users, written from the notes.
//!
//! - **Headers** (§1.2): every POST must carry `Content-Type: application/json`,
//!   `AuthorizationType: ilink_bot_token` and an `X-WECHAT-UIN` that is base64 of a uint32's
//!   decimal text, else HTTP 400. Logged-in calls need `Authorization: Bearer <token>` of the
//!   bound token: any other token (or an expired session, [`FakeWechat::expire_session`]) gets
//!   `{"ret":-14,"errcode":-14,"errmsg":"session timeout"}`.
//! - **QR login** (§2): `POST get_bot_qrcode?bot_type=3` issues a code; `GET
//!   get_qrcode_status` walks a script ([`LoginStep`]): `wait`, `scaned`, `need_verifycode`
//!   (passed only by the right `verify_code`; a wrong one asks again), `expired`,
//!   `scaned_but_redirect` (later polls progress only on the redirect host: a second listener),
//!   `confirmed` with a fresh bot token that replaces the old one (whose calls then get -14).
//! - **getupdates** (§3.1): the cursor is opaque (base64 of a position); messages from the
//!   position a request names are served, again and again, until a request brings the newer
//!   cursor; with nothing to serve the request is held for the hold it announces in
//!   `longpolling_timeout_ms`. Concurrent pollers are counted.
//! - **sendmessage** (§4.1, §7): exactly one item; `message_type` 2, `message_state` 2, a
//!   `client_id`, a text item that is not empty (the real maximum is unknown, §12), and the
//!   context token of one of that user's messages; each inbound message allows 10 sends with
//!   its token, the 11th answers `ret -2`; [`FakeWechat::penalize`] makes sends answer `ret -2`
//!   too. An image item must name an image uploaded to the fake CDN ([`cdn`]).
//! - **The media CDN** (§5), at `<base>/c2c` as [`imgate_channels::wechat::Endpoints::at`] puts
//!   it: `POST /c2c/upload` takes images ([`cdn`]); `GET /c2c/download?encrypted_query_param=…`
//!   serves what users send from [`FakeWechat::media`], counting downloads.
//! - **getconfig / sendtyping** (§4.4): a ticket per user; typing with a wrong ticket is
//!   refused. `msg/notifystart` / `msg/notifystop` are recorded.
//!
//! What the user sees is [`FakeWechat::shown`] and [`FakeWechat::images`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::fake_media::Library;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

mod cdn;
pub use cdn::SentImage;

use crate::in_progress::InProgress;

/// The bot id the login confirms.
pub const BOT_ID: &str = "e06c1ceea05e@im.bot";
/// The WeChat user who scans the code: the owner.
pub const OWNER: &str = "o9cq80owner@im.wechat";
/// Sends one inbound message allows (§7).
pub const SEND_BUDGET: usize = 10;

/// One step of the scripted QR login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Not scanned yet.
    Wait,
    /// Scanned, waiting for confirmation on the phone.
    Scanned,
    /// The phone shows this number; the poll must bring it.
    NeedVerifyCode(String),
    /// The code expired.
    Expired,
    /// The account lives on the redirect host: polls go there from now on.
    Redirect,
    /// Confirmed: a new bot token is issued.
    Confirmed,
}

/// A message the bot sent, as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// The context token it carried.
    pub context_token: String,
    /// Its `client_id`.
    pub client_id: String,
    /// When it was accepted.
    pub at: tokio::time::Instant,
}

#[derive(Default)]
struct Inner {
    token: Option<String>,
    tokens_issued: usize,
    expired: bool,
    /// Every user message, in order; a cursor is a position here.
    log: Vec<Value>,
    /// The highest position a poller confirmed (by sending its cursor).
    confirmed: usize,
    next_message: u64,
    /// Sends used per context token, and the user each token belongs to.
    budget: HashMap<String, (String, usize)>,
    /// Sends still let through before the penalty, and sends then refused.
    penalty: (usize, usize),
    refused: usize,
    shown: Vec<Sent>,
    calls: Vec<(String, Value)>,
    typing: Vec<(String, i64)>,
    hold: Duration,
    // Login.
    script: VecDeque<LoginStep>,
    qrcodes: Vec<String>,
    pending_code: Option<String>,
    spent: bool,
    redirected: bool,
    status_polls: Vec<(String, String)>,
    cdn: cdn::Cdn,
}

/// The fake; clones share it.
#[derive(Clone)]
pub struct FakeWechat {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
    polling: InProgress,
    /// `http://127.0.0.1:<port>`: the API and login base.
    pub base: String,
    /// `127.0.0.1:<port>` of the second listener, the `redirect_host`.
    pub redirect_host: String,
    /// The files users send, by their `encrypt_query_param`, as the CDN serves them.
    pub media: Library,
}

impl FakeWechat {
    /// Starts the fake with `token` already bound (`None`: only a QR login binds one).
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(token: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake WeChat");
        let redirect = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake WeChat redirect");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let redirect_host = redirect.local_addr().expect("address").to_string();
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                token: token.map(str::to_owned),
                next_message: 7_311_111_111_111_111_000,
                hold: Duration::from_millis(800),
                ..Inner::default()
            })),
            arrived: Arc::new(Notify::new()),
            polling: InProgress::default(),
            base,
            redirect_host,
            media: Library::default(),
        };
        for listener in [listener, redirect] {
            let app = Router::new()
                .route("/ilink/bot/get_bot_qrcode", post(qr_code))
                .route("/ilink/bot/get_qrcode_status", get(qr_status))
                .route("/ilink/bot/getupdates", post(get_updates))
                .route("/ilink/bot/sendmessage", post(send_message))
                .route("/ilink/bot/getconfig", post(get_config))
                .route("/ilink/bot/sendtyping", post(send_typing))
                .route("/ilink/bot/msg/notifystart", post(notify))
                .route("/ilink/bot/msg/notifystop", post(notify))
                .route("/ilink/bot/getuploadurl", post(cdn::get_upload_url))
                .route("/c2c/upload", post(cdn::upload))
                .route("/c2c/download", get(download))
                .with_state(fake.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        fake
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bound bot token.
    pub fn token(&self) -> Option<String> {
        self.state().token.clone()
    }

    /// `user` writes `text`: a new message with a fresh context token (10 sends). Returns its
    /// `message_id`.
    pub fn push_text(&self, user: &str, text: &str) -> u64 {
        let mut state = self.state();
        state.next_message += 1;
        let id = state.next_message;
        let context = format!("ctx-{id}");
        state.budget.insert(context.clone(), (user.to_owned(), 0));
        let message = json!({"seq": state.log.len() + 1, "message_id": id, "from_user_id": user,
            "to_user_id": BOT_ID, "create_time_ms": 1_789_481_963_761_u64, "message_type": 1, "message_state": 2,
            "context_token": context,
            "item_list": [{"type": 1, "msg_id": format!("v1:{id}"), "text_item": {"text": text}}]});
        state.log.push(message);
        drop(state);
        self.arrived.notify_waiters();
        id
    }

    /// Serves `message` (raw, e.g. a redelivery of one already served) as the next update.
    pub fn push_raw(&self, message: Value) {
        if let (Some(context), Some(user)) = (message["context_token"].as_str(), message["from_user_id"].as_str()) {
            self.state()
                .budget
                .entry(context.to_owned())
                .or_insert_with(|| (user.to_owned(), 0));
        }
        self.state().log.push(message);
        self.arrived.notify_waiters();
    }

    /// The message served with `message_id`.
    pub fn message(&self, message_id: u64) -> Option<Value> {
        self.state()
            .log
            .iter()
            .find(|m| m["message_id"].as_u64() == Some(message_id))
            .cloned()
    }

    /// The QR login's next status polls walk `steps` (then stay at `wait`).
    pub fn script_login(&self, steps: &[LoginStep]) {
        self.state().script = steps.iter().cloned().collect();
    }

    /// The bound token's session ends: every call answers -14.
    pub fn expire_session(&self) {
        self.state().expired = true;
        self.arrived.notify_waiters();
    }

    /// After `after` more accepted sends, the next `count` sends answer `ret -2` whatever the
    /// budget.
    pub fn penalize(&self, after: usize, count: usize) {
        self.state().penalty = (after, count);
    }

    /// How long an empty `getupdates` is held.
    pub fn set_hold(&self, hold: Duration) {
        self.state().hold = hold;
    }

    /// What the bot sent, in order.
    pub fn shown(&self) -> Vec<Sent> {
        self.state().shown.clone()
    }

    /// The texts the bot sent with the context token of message `message_id`.
    pub fn answer_to(&self, message_id: u64) -> Vec<String> {
        let context = format!("ctx-{message_id}");
        self.state()
            .shown
            .iter()
            .filter(|s| s.context_token == context)
            .map(|s| s.text.clone())
            .collect()
    }

    /// Sends refused with `ret -2` so far.
    pub fn refused(&self) -> usize {
        self.state().refused
    }

    /// Calls of `name` (e.g. `sendmessage`, `msg/notifystart`), with their bodies.
    pub fn calls_of(&self, name: &str) -> Vec<Value> {
        self.state()
            .calls
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// `(user, status)` of every `sendtyping`.
    pub fn typing(&self) -> Vec<(String, i64)> {
        self.state().typing.clone()
    }

    /// The position the pollers confirmed (how many messages are behind the cursor).
    pub fn confirmed(&self) -> usize {
        self.state().confirmed
    }

    /// Whether every copy of message `message_id` served so far is behind the confirmed
    /// cursor.
    pub fn is_confirmed(&self, message_id: u64) -> bool {
        let state = self.state();
        let last = state
            .log
            .iter()
            .rposition(|m| m["message_id"].as_u64() == Some(message_id));
        last.is_some_and(|at| at < state.confirmed)
    }

    /// `(getupdates in progress, the most in progress at once)`.
    pub fn polling(&self) -> (usize, usize) {
        self.polling.get()
    }

    /// QR codes issued so far.
    pub fn qrcodes(&self) -> Vec<String> {
        self.state().qrcodes.clone()
    }

    /// `(host, status answered)` of every status poll.
    pub fn status_polls(&self) -> Vec<(String, String)> {
        self.state().status_polls.clone()
    }

    /// Bot tokens issued by logins so far.
    pub fn tokens_issued(&self) -> usize {
        self.state().tokens_issued
    }
}

fn answer(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, why.to_owned()).into_response()
}

fn session_timeout() -> Response {
    answer(json!({"ret": -14, "errcode": -14, "errmsg": "session timeout"}))
}

fn cursor(position: usize) -> String {
    STANDARD.encode(format!("fake-cursor:{position}"))
}

fn position(cursor: &str) -> Option<usize> {
    if cursor.is_empty() {
        return Some(0);
    }
    let text = String::from_utf8(STANDARD.decode(cursor).ok()?).ok()?;
    text.strip_prefix("fake-cursor:")?.parse().ok()
}

/// Why a call was refused before it was served.
enum Refusal {
    /// HTTP 400 with the reason.
    BadRequest(&'static str),
    /// `ret -14`.
    SessionTimeout,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(why) => bad_request(why),
            Self::SessionTimeout => session_timeout(),
        }
    }
}

/// The §1.2 header rules every POST must follow; `auth` also the bound token.
fn checked(fake: &FakeWechat, headers: &HeaderMap, name: &str, body: &str, auth: bool) -> Result<Value, Refusal> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !header("content-type").starts_with("application/json") {
        return Err(Refusal::BadRequest("Content-Type must be application/json"));
    }
    if header("AuthorizationType") != "ilink_bot_token" {
        return Err(Refusal::BadRequest("AuthorizationType must be ilink_bot_token"));
    }
    let uin = STANDARD
        .decode(header("X-WECHAT-UIN"))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.parse::<u32>().ok());
    if uin.is_none() {
        return Err(Refusal::BadRequest(
            "X-WECHAT-UIN must be base64 of a uint32's decimal text",
        ));
    }
    let body: Value = serde_json::from_str(body).map_err(|_| Refusal::BadRequest("the body is not JSON"))?;
    let mut state = fake.state();
    state.calls.push((name.to_owned(), body.clone()));
    if auth {
        if body["base_info"]["channel_version"].as_str().is_none() {
            return Err(Refusal::BadRequest("base_info.channel_version is missing"));
        }
        let bearer = header("authorization").strip_prefix("Bearer ").unwrap_or_default();
        if state.expired || state.token.as_deref() != Some(bearer) {
            return Err(Refusal::SessionTimeout);
        }
    }
    Ok(body)
}

async fn qr_code(
    State(fake): State<FakeWechat>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let body = if body.is_empty() { "{}".to_owned() } else { body };
    if let Err(refused) = checked(&fake, &headers, "get_bot_qrcode", &body, false) {
        return refused.into_response();
    }
    if query.get("bot_type").map(String::as_str) != Some("3") {
        return answer(json!({"ret": -1, "errmsg": "bot_type must be 3"}));
    }
    let mut state = fake.state();
    let qrcode = format!("{:032x}", state.qrcodes.len() as u128 + 0xabc0_0000);
    state.qrcodes.push(qrcode.clone());
    state.pending_code = None;
    state.spent = false;
    state.redirected = false;
    answer(json!({"qrcode": qrcode,
        "qrcode_img_content": format!("https://liteapp.weixin.qq.com/q/7GiQu1?qrcode={qrcode}&bot_type=3")}))
}

async fn qr_status(
    State(fake): State<FakeWechat>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, extra) = {
        let mut state = fake.state();
        let (status, extra) = login_step(&mut state, &fake, &host, &query);
        state.status_polls.push((host, status.to_owned()));
        (status, extra)
    };
    let mut body = json!({"status": status});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    if status == "wait" {
        // The server holds a poll with nothing new for a while.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    answer(body)
}

/// The next status of the scripted login for one poll.
fn login_step(
    state: &mut Inner,
    fake: &FakeWechat,
    host: &str,
    query: &HashMap<String, String>,
) -> (&'static str, Value) {
    let known = query.get("qrcode").is_some_and(|q| state.qrcodes.last() == Some(q));
    if !known || state.spent {
        return ("expired", json!({}));
    }
    if state.redirected && host != fake.redirect_host {
        return ("wait", json!({}));
    }
    if let Some(expected) = state.pending_code.clone() {
        match query.get("verify_code") {
            Some(code) if *code == expected => {
                state.pending_code = None;
                return ("scaned", json!({}));
            }
            _ => return ("need_verifycode", json!({})),
        }
    }
    match state.script.pop_front() {
        None | Some(LoginStep::Wait) => ("wait", json!({})),
        Some(LoginStep::Scanned) => ("scaned", json!({})),
        Some(LoginStep::NeedVerifyCode(code)) => {
            state.pending_code = Some(code);
            ("need_verifycode", json!({}))
        }
        Some(LoginStep::Expired) => {
            state.spent = true;
            ("expired", json!({}))
        }
        Some(LoginStep::Redirect) => {
            state.redirected = true;
            ("scaned_but_redirect", json!({"redirect_host": fake.redirect_host}))
        }
        Some(LoginStep::Confirmed) => {
            state.tokens_issued += 1;
            let token = format!("bot-token-{}-{:x}", state.tokens_issued, rand_suffix(state));
            state.token = Some(token.clone());
            state.expired = false;
            (
                "confirmed",
                json!({"bot_token": token, "ilink_bot_id": BOT_ID, "baseurl": fake.base, "ilink_user_id": OWNER}),
            )
        }
    }
}

fn rand_suffix(state: &Inner) -> u64 {
    (state.calls.len() as u64).wrapping_mul(0x9e37_79b9) ^ 0x5eed
}

async fn get_updates(State(fake): State<FakeWechat>, headers: HeaderMap, body: String) -> Response {
    let body = match checked(&fake, &headers, "getupdates", &body, true) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let _polling = fake.polling.enter();
    let Some(from) = body["get_updates_buf"].as_str().and_then(position) else {
        return answer(json!({"ret": -1, "errmsg": "invalid get_updates_buf"}));
    };
    let hold = fake.state().hold;
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let arrived = fake.arrived.notified();
        {
            let mut state = fake.state();
            if state.expired {
                return session_timeout();
            }
            if from > state.log.len() {
                return answer(json!({"ret": -1, "errmsg": "invalid get_updates_buf"}));
            }
            state.confirmed = state.confirmed.max(from);
            if from < state.log.len() {
                let msgs: Vec<Value> = state.log[from..].to_vec();
                return answer(
                    json!({"ret": 0, "msgs": msgs, "get_updates_buf": cursor(state.log.len()),
                    "longpolling_timeout_ms": hold.as_millis() as u64}),
                );
            }
        }
        if tokio::time::timeout_at(deadline, arrived).await.is_err() {
            return answer(json!({"ret": 0, "msgs": [], "get_updates_buf": cursor(from),
                "longpolling_timeout_ms": hold.as_millis() as u64}));
        }
    }
}

async fn send_message(State(fake): State<FakeWechat>, headers: HeaderMap, body: String) -> Response {
    let body = match checked(&fake, &headers, "sendmessage", &body, true) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let msg = &body["msg"];
    let items = msg["item_list"].as_array().map(Vec::len).unwrap_or(0);
    if items != 1 {
        return answer(json!({"ret": -1, "errmsg": "item_list must hold exactly one item"}));
    }
    if msg["message_type"] != 2 || msg["message_state"] != 2 {
        return answer(json!({"ret": -1, "errmsg": "message_type and message_state must be 2"}));
    }
    let client_id = msg["client_id"].as_str().unwrap_or_default();
    let to = msg["to_user_id"].as_str().unwrap_or_default();
    let context = msg["context_token"].as_str().unwrap_or_default();
    let text = msg["item_list"][0]["text_item"]["text"].as_str().unwrap_or_default();
    let image = msg["item_list"][0]["type"] == 2;
    if client_id.is_empty() || !(msg["item_list"][0]["type"] == 1 || image) {
        return answer(json!({"ret": -1, "errmsg": "a text or image item and a client_id are required"}));
    }
    if text.is_empty() && !image {
        return answer(json!({"ret": -1, "errmsg": "empty text"}));
    }
    let mut state = fake.state();
    if let (true, Err(why)) = (image, cdn::check_item(&state, &msg["item_list"][0])) {
        return answer(json!({"ret": -1, "errmsg": why}));
    }
    let Some((owner, used)) = state.budget.get(context).cloned() else {
        return answer(json!({"ret": -1, "errmsg": "invalid context_token"}));
    };
    if owner != to {
        return answer(json!({"ret": -1, "errmsg": "context_token belongs to another user"}));
    }
    let penalized = state.penalty.0 == 0 && state.penalty.1 > 0;
    if penalized || used >= SEND_BUDGET {
        if penalized {
            state.penalty.1 -= 1;
        }
        state.refused += 1;
        return answer(json!({"ret": -2, "errmsg": ""}));
    }
    state.penalty.0 = state.penalty.0.saturating_sub(1);
    state.budget.insert(context.to_owned(), (owner, used + 1));
    if image {
        cdn::record(&mut state, to, context, &msg["item_list"][0]);
        return answer(json!({"ret": 0, "errmsg": ""}));
    }
    state.shown.push(Sent {
        to: to.to_owned(),
        text: text.to_owned(),
        context_token: context.to_owned(),
        client_id: client_id.to_owned(),
        at: tokio::time::Instant::now(),
    });
    answer(json!({"ret": 0, "errmsg": ""}))
}

fn ticket(user: &str) -> String {
    STANDARD.encode(format!("ticket:{user}"))
}

async fn get_config(State(fake): State<FakeWechat>, headers: HeaderMap, body: String) -> Response {
    match checked(&fake, &headers, "getconfig", &body, true) {
        Ok(body) => match body["ilink_user_id"].as_str() {
            Some(user) => answer(json!({"ret": 0, "typing_ticket": ticket(user)})),
            None => answer(json!({"ret": -1, "errmsg": "ilink_user_id is required"})),
        },
        Err(refused) => refused.into_response(),
    }
}

async fn send_typing(State(fake): State<FakeWechat>, headers: HeaderMap, body: String) -> Response {
    let body = match checked(&fake, &headers, "sendtyping", &body, true) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let user = body["ilink_user_id"].as_str().unwrap_or_default();
    let status = body["status"].as_i64().unwrap_or_default();
    if body["typing_ticket"].as_str() != Some(ticket(user).as_str()) || !(1..=2).contains(&status) {
        return answer(json!({"ret": -1, "errmsg": "invalid typing_ticket or status"}));
    }
    fake.state().typing.push((user.to_owned(), status));
    answer(json!({"ret": 0}))
}

async fn notify(State(fake): State<FakeWechat>, headers: HeaderMap, uri: axum::http::Uri, body: String) -> Response {
    let name = uri.path().trim_start_matches("/ilink/bot/").to_owned();
    match checked(&fake, &headers, &name, &body, true) {
        Ok(_) => answer(json!({"ret": 0, "errmsg": ""})),
        Err(refused) => refused.into_response(),
    }
}

/// `GET /c2c/download?encrypted_query_param=…`: a file a user sent, as stored (encrypted).
async fn download(State(fake): State<FakeWechat>, Query(query): Query<HashMap<String, String>>) -> Response {
    fake.media
        .download(query.get("encrypted_query_param").map_or("", String::as_str))
}
