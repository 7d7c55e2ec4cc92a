//! A fake DingTalk (protocols/dingtalk.md) on 127.0.0.1, port 0: the Stream gateway and the
//! OpenAPI an app robot talks to.
//!
//! - `POST /v1.0/gateway/connections/open` (§1.1): checks the client id and secret (401
//!   `authFailed` otherwise) and the robot-message subscription, answers an endpoint on its own
//!   WebSocket listener and a fresh single-use ticket.
//! - The WebSocket (§1.2–1.5): refuses a handshake without an unused ticket (401); pushes robot
//!   messages as CALLBACK frames, `ping` and `disconnect` SYSTEM frames and raw text; records
//!   every frame the client sends; re-pushes robot messages that were not ACKed (every
//!   [`FakeDingtalk::set_redelivery`] interval, on the newest connection; real DingTalk does
//!   this for events, its FAQ calls robot messages fire-and-forget); after `disconnect` it
//!   closes the socket once the client has been silent for a moment (§1.5, "closes after ~10 s
//!   of silence", shortened); can drop a connection or stop reading it (a dead link).
//! - `POST /v1.0/oauth2/accessToken` (§4.2), the robot sends (§4.3), the AI card calls (§4.4):
//!   check the `x-acs-dingtalk-access-token` it issued (401 `InvalidAuthentication` otherwise)
//!   and record what they received.
//! - `POST /robot/sendBySession?session=…` (§4.1): records the posts per session.
//! - The files users send: `messageFiles/download` and the temporary URLs it gives ([`media`]).

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use imgate_channels::wecom::long::Peer;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::fake_media::Library;

mod media;

/// How long the fake waits after `disconnect` before it closes the socket.
const DISCONNECT_DRAIN: Duration = Duration::from_millis(200);

/// One call the fake received on its HTTP API.
#[derive(Debug, Clone)]
pub struct Call {
    /// `METHOD /path`.
    pub route: String,
    /// The JSON body.
    pub body: Value,
}

enum Control {
    Send(String),
    Drop,
    Mute,
}

struct Pending {
    frame: String,
    last_sent: Instant,
}

#[derive(Default)]
struct Shared {
    client_id: String,
    client_secret: String,
    ws_url: String,
    tickets: HashSet<String>,
    opens: usize,
    handshakes: usize,
    refused_handshakes: usize,
    live: Vec<(u64, mpsc::UnboundedSender<Control>)>,
    most_live: usize,
    frames: Vec<Value>,
    pending: HashMap<String, Pending>,
    redelivery: Option<Duration>,
    tokens: HashSet<String>,
    token_fetches: usize,
    sessions: HashMap<String, Vec<Value>>,
    calls: Vec<Call>,
}

/// The running fake; it stops when the test's runtime ends.
#[derive(Clone)]
pub struct FakeDingtalk {
    /// `http://127.0.0.1:<port>`: the gateway, the OpenAPI and the session webhooks.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    next: Arc<AtomicU64>,
    /// The files users send, by `downloadCode` ([`media`]).
    pub media: Library,
}

impl FakeDingtalk {
    /// Starts a fake knowing one app.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let ws = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake DingTalk stream");
        let ws_url = format!("ws://{}/connect", ws.local_addr().expect("stream address"));
        let shared = Arc::new(Mutex::new(Shared {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            ws_url,
            redelivery: Some(Duration::from_millis(300)),
            ..Shared::default()
        }));
        let fake = Self {
            base: String::new(),
            shared,
            next: Arc::new(AtomicU64::new(1)),
            media: Library::default(),
        };
        let accepting = fake.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = ws.accept().await {
                tokio::spawn(accepting.clone().serve(tcp));
            }
        });
        tokio::spawn(fake.clone().redeliver());
        let app = Router::new()
            .route("/v1.0/gateway/connections/open", post(open))
            .route("/v1.0/oauth2/accessToken", post(access_token))
            .route("/v1.0/robot/oToMessages/batchSend", post(api_call))
            .route("/v1.0/robot/groupMessages/send", post(api_call))
            .route("/v1.0/card/instances", post(api_call).put(api_call))
            .route("/v1.0/card/instances/deliver", post(api_call))
            .route("/v1.0/card/streaming", put(api_call))
            .route("/robot/sendBySession", post(session_post))
            .merge(media::routes())
            .with_state(fake.clone());
        let http = TcpListener::bind("127.0.0.1:0").await.expect("bind fake DingTalk API");
        let base = format!("http://{}", http.local_addr().expect("API address"));
        tokio::spawn(async move {
            let _ = axum::serve(http, app).await;
        });
        Self { base, ..fake }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gateway and API endpoints to give the connector and the replier.
    pub fn endpoints(&self) -> imgate_channels::dingtalk::Endpoints {
        imgate_channels::dingtalk::Endpoints {
            api: self.base.clone(),
            gateway: self.base.clone(),
        }
    }

    /// A robot message (§2) from staff user `staff_id` whose session webhook is this fake's
    /// `session` and expires at `expires_at_ms` (Unix ms); `group` makes it a group message
    /// that @-mentions the robot.
    pub fn robot_message(&self, msg_id: &str, text: &str, session: &str, expires_at_ms: i64, group: bool) -> Value {
        let now = now_ms();
        json!({
            "msgId": msg_id, "msgtype": "text", "text": {"content": text},
            "conversationId": if group { "cidGroup==" } else { "cidSingle==" },
            "conversationType": if group { "2" } else { "1" },
            "conversationTitle": if group { "Team" } else { "" },
            "senderId": "$:LWCP_v1:$sender", "senderStaffId": "staff-1", "senderNick": "Alice",
            "chatbotUserId": "$:LWCP_v1:$bot", "robotCode": self.shared().client_id,
            "isInAtList": group, "createAt": now,
            "sessionWebhook": format!("{}/robot/sendBySession?session={session}", self.base),
            "sessionWebhookExpiredTime": expires_at_ms,
        })
    }

    /// Pushes a robot message on the newest connection as a CALLBACK frame and keeps it for
    /// re-pushing until it is ACKed; returns the frame's messageId, `None` without a connection.
    pub fn push(&self, data: &Value) -> Option<String> {
        let message_id = format!("msg-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let frame = json!({"specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": "app-1", "connectionId": "conn", "contentType": "application/json",
                "messageId": message_id, "time": now_ms().to_string(), "topic": "/v1.0/im/bot/messages/get"},
            "data": data.to_string()})
        .to_string();
        let mut shared = self.shared();
        let (_, conn) = shared.live.last()?;
        conn.send(Control::Send(frame.clone())).ok()?;
        shared.pending.insert(
            message_id.clone(),
            Pending {
                frame,
                last_sent: Instant::now(),
            },
        );
        Some(message_id)
    }

    /// Sends a `ping` with `opaque`; false without a connection.
    pub fn ping(&self, opaque: &str) -> bool {
        let id = format!("ping-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let frame = json!({"specVersion": "1.0", "type": "SYSTEM", "headers": {"topic": "ping",
            "messageId": id, "contentType": "application/json", "time": now_ms()},
            "data": json!({"opaque": opaque}).to_string()});
        self.send_raw(&frame.to_string())
    }

    /// Sends `disconnect` (a rotation); the socket is closed once the client has gone quiet.
    pub fn disconnect(&self) -> bool {
        let frame = json!({"specVersion": "1.0", "type": "SYSTEM", "headers": {"topic": "disconnect",
            "messageId": "dc-1", "contentType": "application/json"},
            "data": "{\"reason\":\"connection is expired\"}"});
        self.send_raw(&frame.to_string())
    }

    /// Sends `text` as is on the newest connection.
    pub fn send_raw(&self, text: &str) -> bool {
        self.control(Control::Send(text.to_owned()))
    }

    /// Drops the newest connection without a close frame (a network failure).
    pub fn drop_connection(&self) -> bool {
        self.control(Control::Drop)
    }

    /// Stops reading the newest connection: nothing is answered any more, WebSocket pings
    /// included (a dead link).
    pub fn mute(&self) -> bool {
        self.control(Control::Mute)
    }

    fn control(&self, control: Control) -> bool {
        self.shared()
            .live
            .last()
            .is_some_and(|(_, conn)| conn.send(control).is_ok())
    }

    /// Re-push un-ACKed robot messages after this long (`None`: never).
    pub fn set_redelivery(&self, every: Option<Duration>) {
        self.shared().redelivery = every;
    }

    /// Every JSON frame clients sent, in order.
    pub fn frames(&self) -> Vec<Value> {
        self.shared().frames.clone()
    }

    /// The ACK frames for `message_id`.
    pub fn acks_of(&self, message_id: &str) -> Vec<Value> {
        self.frames()
            .into_iter()
            .filter(|f| f["headers"]["messageId"] == message_id)
            .collect()
    }

    /// `connections/open` calls.
    pub fn opens(&self) -> usize {
        self.shared().opens
    }

    /// Accepted WebSocket handshakes, and refused ones.
    pub fn handshakes(&self) -> (usize, usize) {
        let shared = self.shared();
        (shared.handshakes, shared.refused_handshakes)
    }

    /// Open connections now, and the most at any time.
    pub fn live(&self) -> (usize, usize) {
        let shared = self.shared();
        (shared.live.len(), shared.most_live)
    }

    /// Access tokens issued.
    pub fn token_fetches(&self) -> usize {
        self.shared().token_fetches
    }

    /// What was posted to the session webhook `session`.
    pub fn session_posts(&self, session: &str) -> Vec<Value> {
        self.shared().sessions.get(session).cloned().unwrap_or_default()
    }

    /// OpenAPI calls (robot sends and cards), in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared().calls.clone()
    }

    /// Serves one WebSocket connection after checking its ticket.
    async fn serve(self, tcp: TcpStream) {
        let Some((head, tcp)) = read_head(tcp).await else {
            return;
        };
        let ticket = ticket_of(&head);
        let valid = ticket.is_some_and(|t| self.shared().tickets.remove(&t));
        if !valid {
            self.shared().refused_handshakes += 1;
            let _ = write_all(
                &tcp,
                b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
            return;
        }
        let Ok(mut peer) = Peer::accept(Replay { head, pos: 0, tcp }).await else {
            return;
        };
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let (control, mut commands) = mpsc::unbounded_channel();
        {
            let mut shared = self.shared();
            shared.handshakes += 1;
            shared.live.push((id, control));
            shared.most_live = shared.most_live.max(shared.live.len());
        }
        let mut muted = false;
        let mut draining = false;
        loop {
            let quiet = tokio::time::sleep(DISCONNECT_DRAIN);
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Control::Send(text)) => {
                        draining |= text.contains("\"disconnect\"");
                        if peer.send(text).await.is_err() {
                            break;
                        }
                    }
                    Some(Control::Mute) => muted = true,
                    Some(Control::Drop) | None => break,
                },
                frame = peer.recv(), if !muted => match frame {
                    Some(Ok(text)) => self.record(&text),
                    _ => break,
                },
                () = quiet, if draining => {
                    peer.close().await;
                    self.shared().live.retain(|(c, _)| *c != id);
                    return;
                }
            }
        }
        self.shared().live.retain(|(c, _)| *c != id);
    }

    fn record(&self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let mut shared = self.shared();
        if frame["code"] == 200
            && let Some(id) = frame["headers"]["messageId"].as_str()
        {
            shared.pending.remove(id);
        }
        shared.frames.push(frame);
    }

    /// Re-pushes un-ACKed robot messages on the newest connection.
    async fn redeliver(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut shared = self.shared();
            let Some(every) = shared.redelivery else {
                continue;
            };
            let Some((_, conn)) = shared.live.last().map(|(id, c)| (*id, c.clone())) else {
                continue;
            };
            for pending in shared.pending.values_mut() {
                if pending.last_sent.elapsed() >= every {
                    let _ = conn.send(Control::Send(pending.frame.clone()));
                    pending.last_sent = Instant::now();
                }
            }
        }
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get("x-acs-dingtalk-access-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|token| self.shared().tokens.contains(token))
    }
}

async fn open(State(fake): State<FakeDingtalk>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut shared = fake.shared();
    shared.opens += 1;
    if headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::NOT_ACCEPTABLE, "<xml>json only with Accept</xml>").into_response();
    }
    if body["clientId"] != shared.client_id.as_str() || body["clientSecret"] != shared.client_secret.as_str() {
        return error(
            StatusCode::UNAUTHORIZED,
            "authFailed",
            "clientId or clientSecret is wrong",
        );
    }
    let subscribed = body["subscriptions"].as_array().is_some_and(|subs| {
        subs.iter()
            .any(|s| s["type"] == "CALLBACK" && s["topic"] == "/v1.0/im/bot/messages/get")
    });
    if !subscribed {
        return error(StatusCode::BAD_REQUEST, "invalidParameter", "no subscription");
    }
    let ticket = format!("ticket-{}+/=", fake.next.fetch_add(1, Ordering::SeqCst));
    shared.tickets.insert(ticket.clone());
    Json(json!({"endpoint": shared.ws_url, "ticket": ticket})).into_response()
}

async fn access_token(State(fake): State<FakeDingtalk>, Json(body): Json<Value>) -> Response {
    let mut shared = fake.shared();
    if body["appKey"] != shared.client_id.as_str() || body["appSecret"] != shared.client_secret.as_str() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "wrong app key or secret",
        );
    }
    shared.token_fetches += 1;
    let token = format!("token-{}", shared.token_fetches);
    shared.tokens.insert(token.clone());
    Json(json!({"accessToken": token, "expireIn": 7200})).into_response()
}

async fn api_call(
    State(fake): State<FakeDingtalk>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if !fake.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthentication",
            "不合法的access_token",
        );
    }
    let route = format!("{method} {}", uri.path());
    let answer = if route.contains("/robot/") {
        json!({"processQueryKey": "pqk-1", "invalidStaffIdList": [], "flowControlledStaffIdList": []})
    } else {
        json!({"success": true, "result": true})
    };
    fake.shared().calls.push(Call { route, body });
    Json(answer).into_response()
}

async fn session_post(
    State(fake): State<FakeDingtalk>,
    Query(query): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Response {
    let session = query.get("session").cloned().unwrap_or_default();
    fake.shared().sessions.entry(session).or_default().push(body);
    Json(json!({"errcode": 0, "errmsg": "ok"})).into_response()
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "requestid": "req-1"})),
    )
        .into_response()
}

fn now_ms() -> i64 {
    imgate_core::Timestamp::now().as_millis()
}

/// The `ticket` query parameter of a WebSocket request head, percent-decoded (`+` is a space
/// in form encoding, so the client must encode a literal `+` as `%2B`).
fn ticket_of(head: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let target = line.split(' ').nth(1)?;
    let query = target.split_once('?')?.1;
    let value = query.split('&').find_map(|pair| pair.strip_prefix("ticket="))?;
    let value = value.replace('+', " ");
    percent_decode(&value)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads the HTTP request head (up to the blank line) without the stream traits' extensions.
async fn read_head(tcp: TcpStream) -> Option<(Vec<u8>, TcpStream)> {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        tcp.readable().await.ok()?;
        match tcp.try_read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
        if head.len() > 16 * 1024 {
            return None;
        }
    }
    Some((head, tcp))
}

async fn write_all(tcp: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        tcp.writable().await?;
        match tcp.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A TCP stream whose first bytes (the request head already read) are served again.
struct Replay {
    head: Vec<u8>,
    pos: usize,
    tcp: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos < self.head.len() {
            let n = buf.remaining().min(self.head.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.head[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
