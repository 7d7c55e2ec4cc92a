//! The long connection (§3): endpoint discovery, the WebSocket handshake and its refusals, client
//! pings, event pushes (whole or in fragments), ACKs, and re-pushes of what was not ACKed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, Uri};

use super::frame::{Frame, METHOD_CONTROL, METHOD_DATA};
use super::open_api::{Answer, TENANT_KEY, query_param};
use super::{APP_NAME, FakeLark, State};

/// The `service_id` of every URL this fake hands out.
const SERVICE_ID: i32 = 1_234_567;
/// How long a clean close waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// How often pushes are checked for (re)delivery.
const DELIVERY_TICK: Duration = Duration::from_millis(20);
/// The open_id of the user the built events come from.
pub const USER_OPEN_ID: &str = "ou_user1";

/// `ClientConfig` of the endpoint answer and of pongs, in seconds (§3.2, §3.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// `PingInterval`.
    pub ping_interval: i64,
    /// `ReconnectCount` (-1: forever).
    pub reconnect_count: i64,
    /// `ReconnectInterval`.
    pub reconnect_interval: i64,
    /// `ReconnectNonce`.
    pub reconnect_nonce: i64,
}

impl Default for ClientConfig {
    /// The SDK defaults: 120 s pings, reconnect forever every 120 s after up to 30 s of jitter.
    fn default() -> Self {
        Self {
            ping_interval: 120,
            reconnect_count: -1,
            reconnect_interval: 120,
            reconnect_nonce: 30,
        }
    }
}

impl ClientConfig {
    fn to_json(self) -> Value {
        json!({"PingInterval": self.ping_interval, "ReconnectCount": self.reconnect_count,
            "ReconnectInterval": self.reconnect_interval, "ReconnectNonce": self.reconnect_nonce})
    }

    /// The pong payload, keys in the order of the vector of §3.10.
    fn pong_payload(self) -> Vec<u8> {
        format!(
            r#"{{"PingInterval":{},"ReconnectCount":{},"ReconnectInterval":{},"ReconnectNonce":{}}}"#,
            self.ping_interval, self.reconnect_count, self.reconnect_interval, self.reconnect_nonce
        )
        .into_bytes()
    }
}

/// How a handshake is refused (§3.3): the HTTP status, which is also sent as
/// `Handshake-Status`, with `Handshake-Msg` and `Handshake-Autherrcode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRefusal {
    /// 403 (forbidden: the SDKs stop) or 514 (auth failed: see the code).
    pub status: u16,
    /// `Handshake-Msg`.
    pub msg: String,
    /// `Handshake-Autherrcode`, when sent.
    pub auth_err_code: Option<i64>,
}

impl HandshakeRefusal {
    /// 403: the app is forbidden; clients must stop.
    pub fn forbidden() -> Self {
        Self {
            status: 403,
            msg: "forbidden".to_owned(),
            auth_err_code: None,
        }
    }

    /// 514 with 1000040350: more than 50 connections; clients must stop.
    pub fn exceed_conn_limit() -> Self {
        Self::auth_failed(1_000_040_350)
    }

    /// 514 with another code: a server-side auth failure; clients retry.
    pub fn auth_failed(code: i64) -> Self {
        Self {
            status: 514,
            msg: "auth failed".to_owned(),
            auth_err_code: Some(code),
        }
    }

    fn response(&self) -> ErrorResponse {
        let mut response = ErrorResponse::new(Some(self.msg.clone()));
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::FORBIDDEN);
        let headers = response.headers_mut();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        put("Handshake-Status", self.status.to_string());
        put("Handshake-Msg", self.msg.clone());
        if let Some(code) = self.auth_err_code {
            put("Handshake-Autherrcode", code.to_string());
        }
        response
    }
}

/// How an event is pushed.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Fragments to split the payload into (`sum`; at least 1, at most one per byte).
    pub fragments: usize,
    /// Send a server `ping` control frame between fragments.
    pub interleave: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            fragments: 1,
            interleave: false,
        }
    }
}

/// One WebSocket message a client sent.
#[derive(Debug, Clone)]
pub struct ClientFrame {
    /// The connection's id.
    pub conn: u64,
    /// When it came.
    pub at: Instant,
    /// The decoded frame (`None` for text and undecodable messages).
    pub frame: Option<Frame>,
    /// The message's bytes.
    pub raw: Vec<u8>,
    /// Whether it was a text message.
    pub text: bool,
    /// What is wrong with it: a text message, bytes that are no frame, required fields 1–4
    /// missing, a `service` other than the URL's `service_id`, an ACK that does not echo the
    /// pushed frame or lacks `biz_rt`, a data frame for nothing pushed.
    pub problems: Vec<String>,
}

/// One accepted WebSocket connection.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    /// Numbered from the fake's id source, in accept order.
    pub id: u64,
    /// `device_id` of its URL.
    pub device_id: String,
    /// `service_id` of its URL.
    pub service_id: i32,
    /// Whether it is still open.
    pub open: bool,
    /// When the client pinged on it.
    pub pings: Vec<Instant>,
}

/// A client's answer to a pushed event.
#[derive(Debug, Clone)]
pub struct Ack {
    /// The pushed event's `message_id`.
    pub message_id: String,
    /// The connection it came on.
    pub conn: u64,
    /// `code` of the payload (200: handled).
    pub code: Option<i64>,
    /// The `biz_rt` header.
    pub biz_rt: Option<String>,
    /// `data` of the payload, base64-decoded and parsed as JSON (a JSON string if it is not JSON).
    pub data: Option<Value>,
    /// Whether it echoes the push's completing frame: same SeqID, LogID, service, method and
    /// headers, plus `biz_rt`.
    pub echoes_push: bool,
    /// The frame.
    pub frame: Frame,
}

/// What a connection's task is told to do.
enum Control {
    Send(Message),
    /// Close with a close frame.
    Close,
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop reading: nothing is answered any more, WebSocket pings included.
    Mute,
}

struct Conn {
    record: ConnectionRecord,
    /// `None` once closed.
    control: Option<mpsc::UnboundedSender<Control>>,
}

struct Pushed {
    fragments: Vec<Frame>,
    interleave: bool,
    last_sent: Option<Instant>,
    deliveries: usize,
    acked: bool,
}

pub(super) struct Long {
    ws_base: String,
    config: ClientConfig,
    endpoint_calls: usize,
    busy_next: usize,
    fail_next: usize,
    /// Unused URL tickets and the device each names.
    tickets: HashMap<String, String>,
    refusals: VecDeque<HandshakeRefusal>,
    handshakes: usize,
    refused: usize,
    conns: Vec<Conn>,
    most_live: usize,
    frames: Vec<ClientFrame>,
    pushes: BTreeMap<String, Pushed>,
    acks: Vec<Ack>,
    redelivery: Option<Duration>,
    answer_pings: bool,
    pong_payload: bool,
}

impl Long {
    pub(super) fn new(ws_base: String) -> Self {
        Self {
            ws_base,
            config: ClientConfig::default(),
            endpoint_calls: 0,
            busy_next: 0,
            fail_next: 0,
            tickets: HashMap::new(),
            refusals: VecDeque::new(),
            handshakes: 0,
            refused: 0,
            conns: Vec::new(),
            most_live: 0,
            frames: Vec::new(),
            pushes: BTreeMap::new(),
            acks: Vec::new(),
            redelivery: Some(Duration::from_secs(3)),
            answer_pings: true,
            pong_payload: true,
        }
    }

    fn live(&self) -> usize {
        self.conns.iter().filter(|c| c.control.is_some()).count()
    }

    fn newest(&self) -> Option<&mpsc::UnboundedSender<Control>> {
        self.conns.iter().rev().find_map(|c| c.control.as_ref())
    }

    /// Checks the ticket of a handshake's URL (single use), then the queued refusals.
    fn admit(&mut self, uri: &Uri) -> Result<String, HandshakeRefusal> {
        let ticket = uri.query().and_then(|q| query_param(q, "ticket"));
        let Some(device_id) = ticket.and_then(|t| self.tickets.remove(t)) else {
            self.refused += 1;
            // What Lark answers a used or unknown URL is not in the notes; a 514 without an
            // auth code (a server error the SDKs retry with a fresh URL) is the fake's choice.
            return Err(HandshakeRefusal {
                status: 514,
                msg: "invalid or used connection url".to_owned(),
                auth_err_code: None,
            });
        };
        if let Some(refusal) = self.refusals.pop_front() {
            self.refused += 1;
            return Err(refusal);
        }
        self.handshakes += 1;
        Ok(device_id)
    }

    /// Sends, on the newest connection, pushes never sent and un-ACKed ones whose redelivery
    /// interval has passed.
    fn deliver_due(&mut self) {
        let Some(control) = self.newest().cloned() else {
            return;
        };
        let redelivery = self.redelivery;
        for pushed in self.pushes.values_mut().filter(|p| !p.acked) {
            let due = pushed
                .last_sent
                .is_none_or(|at| redelivery.is_some_and(|every| at.elapsed() >= every));
            if !due {
                continue;
            }
            let mut sent = true;
            for (i, fragment) in pushed.fragments.iter().enumerate() {
                if i > 0 && pushed.interleave {
                    let ping = Frame::control(fragment.service, "ping", None).encode();
                    sent &= control.send(Control::Send(Message::binary(ping))).is_ok();
                }
                sent &= control.send(Control::Send(Message::binary(fragment.encode()))).is_ok();
            }
            if sent {
                pushed.last_sent = Some(Instant::now());
                pushed.deliveries += 1;
            }
        }
    }

    fn close(&mut self, conn: u64) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.record.id == conn) {
            c.control = None;
            c.record.open = false;
        }
    }

    fn on_text(&mut self, conn: u64, text: &str) {
        self.frames.push(ClientFrame {
            conn,
            at: Instant::now(),
            frame: None,
            raw: text.as_bytes().to_vec(),
            text: true,
            problems: vec!["a text message (the protocol uses binary frames only)".to_owned()],
        });
    }

    /// Records a binary message and returns the answer to send, if any (a pong).
    fn on_binary(&mut self, conn: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        let at = Instant::now();
        let index = self.conns.iter().position(|c| c.record.id == conn)?;
        let service_id = self.conns[index].record.service_id;
        let mut record = ClientFrame {
            conn,
            at,
            frame: None,
            raw: bytes.to_vec(),
            text: false,
            problems: Vec::new(),
        };
        let decoded = match Frame::decode(bytes) {
            Ok(decoded) => decoded,
            Err(error) => {
                record.problems.push(error.to_string());
                self.frames.push(record);
                return None;
            }
        };
        let frame = decoded.frame;
        if !decoded.missing.is_empty() {
            record
                .problems
                .push(format!("required fields {:?} missing", decoded.missing));
        }
        if frame.service != service_id {
            record.problems.push(format!(
                "service {} differs from the URL's service_id {service_id}",
                frame.service
            ));
        }
        let mut reply = None;
        match (frame.method, frame.header("type")) {
            (METHOD_CONTROL, Some("ping")) => {
                self.conns[index].record.pings.push(at);
                if self.answer_pings {
                    let payload = self.pong_payload.then(|| self.config.pong_payload());
                    reply = Some(Frame::control(service_id, "pong", payload).encode());
                }
            }
            (METHOD_DATA, _) => record.problems.extend(self.on_ack(conn, &frame)),
            (method, kind) => record
                .problems
                .push(format!("unexpected frame: method {method}, type {kind:?}")),
        }
        record.frame = Some(frame);
        self.frames.push(record);
        reply
    }

    /// Records a data frame as the ACK of a push; returns what is wrong with it.
    fn on_ack(&mut self, conn: u64, frame: &Frame) -> Vec<String> {
        let Some(message_id) = frame.header("message_id") else {
            return vec!["a data frame without message_id".to_owned()];
        };
        let Some(pushed) = self.pushes.get_mut(message_id) else {
            return vec![format!(
                "a data frame for message_id {message_id}, which was never pushed"
            )];
        };
        let Some(payload) = frame.payload_json() else {
            return vec!["an ACK whose payload is not JSON".to_owned()];
        };
        let mut problems = Vec::new();
        let pushed_frame = pushed.fragments.last().cloned().unwrap_or_default();
        let echoed: Vec<_> = frame.headers.iter().filter(|(k, _)| k != "biz_rt").cloned().collect();
        let echoes_push = frame.seq_id == pushed_frame.seq_id
            && frame.log_id == pushed_frame.log_id
            && frame.service == pushed_frame.service
            && frame.method == METHOD_DATA
            && echoed == pushed_frame.headers;
        if !echoes_push {
            problems.push("an ACK that does not echo the pushed frame".to_owned());
        }
        let biz_rt = frame.header("biz_rt").map(str::to_owned);
        if biz_rt.is_none() {
            problems.push("an ACK without biz_rt".to_owned());
        }
        let code = payload["code"].as_i64();
        if code == Some(200) {
            pushed.acked = true;
        }
        let data = payload["data"].as_str().map(|encoded| {
            STANDARD
                .decode(encoded)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_else(|| Value::String(encoded.to_owned()))
        });
        self.acks.push(Ack {
            message_id: message_id.to_owned(),
            conn,
            code,
            biz_rt,
            data,
            echoes_push,
            frame: frame.clone(),
        });
        problems
    }
}

impl State {
    /// `POST /callback/ws/endpoint` (§3.2). A wrong AppID or AppSecret is answered HTTP 200 with
    /// code 10014 "app secret invalid" (the notes give no code; any code but 0, 1 and 1000040343
    /// makes the SDKs stop, which is what a wrong secret calls for).
    pub(super) fn ws_endpoint(&mut self, body: &Value) -> Answer {
        self.long.endpoint_calls += 1;
        if self.long.fail_next > 0 {
            self.long.fail_next -= 1;
            return Answer::error(StatusCode::INTERNAL_SERVER_ERROR, 500, "internal server error");
        }
        if self.long.busy_next > 0 {
            self.long.busy_next -= 1;
            return Answer::ok(json!({"code": 1, "msg": "system busy"}));
        }
        if body["AppID"] != self.app_id.as_str() || body["AppSecret"] != self.app_secret.as_str() {
            return Answer::ok(json!({"code": 10014, "msg": "app secret invalid"}));
        }
        let device_id = self.next_id().to_string();
        let ticket = format!("tk{}", self.next_id());
        self.long.tickets.insert(ticket.clone(), device_id.clone());
        let url = format!(
            "{}/ws?device_id={device_id}&service_id={SERVICE_ID}&ticket={ticket}",
            self.long.ws_base
        );
        Answer::ok(json!({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": self.long.config.to_json()}}))
    }
}

impl FakeLark {
    /// Serves one WebSocket connection once its URL is admitted.
    pub(super) async fn serve(self, tcp: TcpStream) {
        let mut admitted = None;
        // The Err type is the one tungstenite's handshake callback requires.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request, response: Response| match self.state().long.admit(request.uri()) {
            Ok(device_id) => {
                admitted = Some(device_id);
                Ok(response)
            }
            Err(refusal) => Err(refusal.response()),
        };
        let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
            return;
        };
        let Some(device_id) = admitted else {
            return;
        };
        let (control, mut commands) = mpsc::unbounded_channel();
        let id = {
            let mut state = self.state();
            let id = state.next_id();
            let long = &mut state.long;
            long.conns.push(Conn {
                record: ConnectionRecord {
                    id,
                    device_id,
                    service_id: SERVICE_ID,
                    open: true,
                    pings: Vec::new(),
                },
                control: Some(control),
            });
            long.most_live = long.most_live.max(long.live());
            long.deliver_due();
            id
        };
        let (mut sink, mut stream) = ws.split();
        let mut muted = false;
        loop {
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(Control::Send(message)) => {
                        if sink.send(message).await.is_err() {
                            break;
                        }
                    }
                    Some(Control::Mute) => muted = true,
                    Some(Control::Close) => {
                        let _ = sink.send(Message::Close(None)).await;
                        let _ = tokio::time::timeout(CLOSE_WAIT, async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                        break;
                    }
                    Some(Control::Drop) | None => break,
                },
                message = stream.next(), if !muted => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        let reply = self.state().long.on_binary(id, &bytes);
                        if let Some(reply) = reply
                            && sink.send(Message::binary(reply)).await.is_err()
                        {
                            break;
                        }
                    }
                    Some(Ok(Message::Text(text))) => self.state().long.on_text(id, text.as_str()),
                    Some(Ok(Message::Close(_))) => {
                        let _ = sink.flush().await;
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                },
            }
        }
        self.state().long.close(id);
    }

    /// Delivers due pushes, every [`DELIVERY_TICK`].
    pub(super) async fn redeliver(self) {
        loop {
            tokio::time::sleep(DELIVERY_TICK).await;
            self.state().long.deliver_due();
        }
    }

    /// The `service_id` of the URLs (and so the `service` clients must put in frames).
    pub fn service_id(&self) -> i32 {
        SERVICE_ID
    }

    /// Sets the `ClientConfig` of later endpoint answers and pongs.
    pub fn set_client_config(&self, config: ClientConfig) {
        self.state().long.config = config;
    }

    /// `/callback/ws/endpoint` calls.
    pub fn endpoint_calls(&self) -> usize {
        self.state().long.endpoint_calls
    }

    /// Answers the next `calls` endpoint calls with code 1 "system busy" (retryable).
    pub fn endpoint_busy_next(&self, calls: usize) {
        self.state().long.busy_next = calls;
    }

    /// Answers the next `calls` endpoint calls with HTTP 500 (retryable).
    pub fn endpoint_fail_next(&self, calls: usize) {
        self.state().long.fail_next = calls;
    }

    /// Refuses the next handshake that presents a valid URL (queued: one refusal per call).
    pub fn refuse_next_handshake(&self, refusal: HandshakeRefusal) {
        self.state().long.refusals.push_back(refusal);
    }

    /// Accepted WebSocket handshakes, and refused ones.
    pub fn handshakes(&self) -> (usize, usize) {
        let state = self.state();
        (state.long.handshakes, state.long.refused)
    }

    /// Open connections now.
    pub fn live_connections(&self) -> usize {
        self.state().long.live()
    }

    /// The most connections open at once.
    pub fn most_live_connections(&self) -> usize {
        self.state().long.most_live
    }

    /// Every accepted connection, in accept order.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.state().long.conns.iter().map(|c| c.record.clone()).collect()
    }

    /// Every message clients sent, in order.
    pub fn frames(&self) -> Vec<ClientFrame> {
        self.state().long.frames.clone()
    }

    /// The problems of every client message, as `conn <id>: <problem>`.
    pub fn frame_problems(&self) -> Vec<String> {
        let state = self.state();
        let frames = state.long.frames.iter();
        frames
            .flat_map(|f| f.problems.iter().map(move |p| format!("conn {}: {p}", f.conn)))
            .collect()
    }

    /// Client pings, on all connections.
    pub fn pings(&self) -> usize {
        self.state().long.conns.iter().map(|c| c.record.pings.len()).sum()
    }

    /// Answer client pings (the default) or leave them unanswered (a dead server).
    pub fn set_answer_pings(&self, answer: bool) {
        self.state().long.answer_pings = answer;
    }

    /// Put the `ClientConfig` in pongs (the default) or send empty pongs.
    pub fn set_pong_payload(&self, with_config: bool) {
        self.state().long.pong_payload = with_config;
    }

    /// Re-push un-ACKed events after this long (default 3 s; `None`: never).
    pub fn set_redelivery(&self, every: Option<Duration>) {
        self.state().long.redelivery = every;
    }

    /// Pushes `event` as one data frame; see [`FakeLark::push_event_with`].
    pub fn push_event(&self, event: &Value) -> String {
        self.push_event_with(event, PushOptions::default())
    }

    /// Pushes `event` on the newest connection (or the first to come) as data frames of type
    /// `event`, and keeps re-pushing it until an ACK with code 200; returns its `message_id`.
    pub fn push_event_with(&self, event: &Value, options: PushOptions) -> String {
        let payload = event.to_string().into_bytes();
        let count = options.fragments.clamp(1, payload.len().max(1));
        let mut state = self.state();
        let n = state.next_id();
        let message_id = format!("msg-{n}");
        let log_id = state.next_id();
        let fragments = (0..count)
            .map(|i| Frame {
                seq_id: state.next_id(),
                log_id,
                service: SERVICE_ID,
                method: METHOD_DATA,
                headers: [
                    ("type", "event".to_owned()),
                    ("message_id", message_id.clone()),
                    ("sum", count.to_string()),
                    ("seq", i.to_string()),
                    ("trace_id", format!("trace-{n}")),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
                payload: Some(payload[i * payload.len() / count..(i + 1) * payload.len() / count].to_vec()),
                ..Frame::default()
            })
            .collect();
        state.long.pushes.insert(
            message_id.clone(),
            Pushed {
                fragments,
                interleave: options.interleave,
                last_sent: None,
                deliveries: 0,
                acked: false,
            },
        );
        state.long.deliver_due();
        message_id
    }

    /// An `im.message.receive_v1` event (schema 2.0) of a text message from [`USER_OPEN_ID`];
    /// in a group the text @-mentions the bot (`@_user_1`). The fake notes the message's chat.
    pub fn message_event(&self, message_id: &str, chat_id: &str, group: bool, text: &str) -> Value {
        let (n, app_id, bot) = {
            let mut state = self.state();
            (state.next_id(), state.app_id.clone(), state.bot_open_id())
        };
        self.note_message(message_id, chat_id);
        let now = imgate_core::Timestamp::now().as_millis().to_string();
        let mut message = json!({
            "message_id": message_id, "root_id": "", "parent_id": "", "create_time": now,
            "update_time": now, "chat_id": chat_id, "chat_type": if group { "group" } else { "p2p" },
            "message_type": "text",
        });
        if group {
            message["content"] = json!({"text": format!("@_user_1 {text}")}).to_string().into();
            message["mentions"] = json!([{"key": "@_user_1", "id": {"open_id": bot, "union_id": "on_bot",
                "user_id": ""}, "name": APP_NAME, "tenant_key": TENANT_KEY}]);
        } else {
            message["content"] = json!({ "text": text }).to_string().into();
        }
        json!({"schema": "2.0",
            "header": {"event_id": format!("ev_{n}"), "event_type": "im.message.receive_v1",
                "create_time": now, "token": "", "app_id": app_id, "tenant_key": TENANT_KEY},
            "event": {"sender": {"sender_id": {"open_id": USER_OPEN_ID, "union_id": "on_user1", "user_id": "u1"},
                "sender_type": "user", "tenant_key": TENANT_KEY}, "message": message}})
    }

    /// Every ACK, in order.
    pub fn acks(&self) -> Vec<Ack> {
        self.state().long.acks.clone()
    }

    /// Waits up to `timeout` for an ACK with code 200 of push `message_id`.
    pub async fn wait_for_ack(&self, message_id: &str, timeout: Duration) -> Option<Ack> {
        let mut found = None;
        self.wait_for(timeout, |fake| {
            found = fake
                .state()
                .long
                .acks
                .iter()
                .find(|a| a.message_id == message_id && a.code == Some(200))
                .cloned();
            found.is_some()
        })
        .await;
        found
    }

    /// How often push `message_id` went out (1 + re-pushes).
    pub fn deliveries(&self, message_id: &str) -> usize {
        self.state().long.pushes.get(message_id).map_or(0, |p| p.deliveries)
    }

    /// Sends a server `ping` control frame on the newest connection; false without one.
    pub fn send_server_ping(&self) -> bool {
        self.send_frame(&Frame::control(SERVICE_ID, "ping", None))
    }

    /// Sends `frame` on the newest connection.
    pub fn send_frame(&self, frame: &Frame) -> bool {
        self.send_binary(frame.encode())
    }

    /// Sends a binary message as is (garbage included) on the newest connection.
    pub fn send_binary(&self, bytes: Vec<u8>) -> bool {
        self.control(Control::Send(Message::binary(bytes)))
    }

    /// Sends a text message on the newest connection.
    pub fn send_text(&self, text: &str) -> bool {
        self.control(Control::Send(Message::text(text)))
    }

    /// Closes the newest connection cleanly (a close frame).
    pub fn close_connection(&self) -> bool {
        self.control(Control::Close)
    }

    /// Drops the newest connection without a close frame (a network failure).
    pub fn drop_connection(&self) -> bool {
        self.control(Control::Drop)
    }

    /// Stops reading the newest connection: nothing is answered any more (a dead link).
    pub fn mute(&self) -> bool {
        self.control(Control::Mute)
    }

    fn control(&self, control: Control) -> bool {
        self.state()
            .long
            .newest()
            .is_some_and(|conn| conn.send(control).is_ok())
    }
}
