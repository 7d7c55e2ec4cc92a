//! A fake WeCom long-connection server (protocols/wecom.md §3) on 127.0.0.1, port 0.
//!
//! It follows the notes where the relay depends on them: `aibot_subscribe` first (846609 for
//! anything before it), 853000 for an unknown bot or a wrong secret with the socket left open
//! (§3.4), ping acks, `aibot_respond_msg` / `aibot_respond_welcome_msg` /
//! `aibot_respond_update_msg` only with a req_id pushed on the same connection (846605
//! otherwise, also after a reconnect, §3.1), acks of replies after a short delay, and a
//! `disconnected_event` to the old connection when a second one subscribes the same bot (§3.5).
//! It records every frame, flags a second reply frame sent for a req_id whose previous frame is
//! not acked yet (the one-in-flight rule the official SDKs keep, §3.7), and can push callbacks,
//! bad frames and kicks, stop answering pings, and reset connections. Media uploads and image
//! messages are in [`media`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use imgate_channels::wecom::long::Peer;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

mod media;
pub use media::SentImage;

/// How long the fake waits before acking a reply frame.
const REPLY_ACK_DELAY: Duration = Duration::from_millis(20);

/// One frame a client sent.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The connection it came on (numbered from 1 in accept order).
    pub conn: u64,
    /// The bot the connection had subscribed when it came (`None` before a subscribe).
    pub bot: Option<String>,
    /// The frame.
    pub frame: Value,
}

impl Seen {
    /// The frame's `cmd`.
    pub fn cmd(&self) -> &str {
        self.frame["cmd"].as_str().unwrap_or_default()
    }

    /// The frame's `headers.req_id`.
    pub fn req_id(&self) -> &str {
        self.frame["headers"]["req_id"].as_str().unwrap_or_default()
    }
}

/// What a connection's task is told to do.
enum Control {
    /// Send this text frame.
    Send(String),
    /// Ack the reply frame in flight for this req_id.
    AckReply(String),
    /// Close with a close frame.
    Close,
    /// Drop the TCP connection without a close frame.
    Reset,
}

struct Conn {
    bot: Option<String>,
    control: mpsc::UnboundedSender<Control>,
    /// Callback req_ids pushed on this connection (the only ones replies may carry).
    pushed: HashSet<String>,
    /// Reply req_ids whose frame waits for its ack.
    in_flight: HashSet<String>,
}

#[derive(Default)]
struct State {
    bots: HashMap<String, String>,
    conns: HashMap<u64, Conn>,
    /// The connection currently subscribed per bot.
    subscriber: HashMap<String, u64>,
    subscribes: HashMap<String, usize>,
    most_live: HashMap<String, usize>,
    seen: Vec<Seen>,
    violations: Vec<String>,
    ignore_pings: bool,
    record: bool,
    media: media::Media,
}

/// The running fake; its listener lives as long as the process.
#[derive(Clone)]
pub struct FakeWecom {
    /// `ws://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
    next_req: Arc<AtomicU64>,
}

impl FakeWecom {
    /// Starts the fake; it records every frame.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// Starts the fake; `record: false` keeps no frames (for many idle connections).
    pub async fn start_with(record: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake WeCom");
        let url = format!("ws://{}", listener.local_addr().expect("fake WeCom address"));
        let state = Arc::new(Mutex::new(State {
            record,
            ..State::default()
        }));
        let accepting = state.clone();
        tokio::spawn(async move {
            let mut next_conn = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                next_conn += 1;
                tokio::spawn(serve(accepting.clone(), next_conn, tcp));
            }
        });
        Self {
            url,
            state,
            next_req: Arc::new(AtomicU64::new(1)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a bot and its long-connection secret.
    pub fn add_bot(&self, bot_id: &str, secret: &str) {
        self.state().bots.insert(bot_id.to_owned(), secret.to_owned());
    }

    /// Pushes a single-chat text message from `user` to the bot's subscribed connection and
    /// returns the callback's req_id; `None` when no connection has subscribed the bot.
    pub fn push_text(&self, bot_id: &str, msgid: &str, user: &str, text: &str) -> Option<String> {
        let body = json!({
            "msgid": msgid, "aibotid": bot_id, "chattype": "single", "from": {"userid": user},
            "response_url": "http://127.0.0.1:9/cgi-bin/aibot/response?response_code=fake",
            "msgtype": "text", "text": {"content": text},
        });
        self.push(bot_id, "aibot_msg_callback", body)
    }

    /// Pushes an event callback (`enter_chat`, `template_card_event`, …) from `user`.
    pub fn push_event(&self, bot_id: &str, msgid: &str, user: &str, event: Value) -> Option<String> {
        let body = json!({
            "msgid": msgid, "aibotid": bot_id, "chattype": "single", "from": {"userid": user},
            "create_time": 1_795_244_400, "msgtype": "event", "event": event,
        });
        self.push(bot_id, "aibot_event_callback", body)
    }

    /// Pushes a message callback with `body` as it is (group messages, other senders).
    pub fn push_message(&self, bot_id: &str, body: Value) -> Option<String> {
        self.push(bot_id, "aibot_msg_callback", body)
    }

    fn push(&self, bot_id: &str, cmd: &str, body: Value) -> Option<String> {
        let req_id = format!("REQ-{}", self.next_req.fetch_add(1, Ordering::SeqCst));
        let frame = json!({"cmd": cmd, "headers": {"req_id": req_id}, "body": body});
        let mut state = self.state();
        let conn_id = *state.subscriber.get(bot_id)?;
        let conn = state.conns.get_mut(&conn_id)?;
        conn.pushed.insert(req_id.clone());
        conn.control.send(Control::Send(frame.to_string())).ok()?;
        Some(req_id)
    }

    /// Sends `text` as is to the bot's subscribed connection; false when there is none.
    pub fn send_raw(&self, bot_id: &str, text: &str) -> bool {
        self.control(bot_id, Control::Send(text.to_owned()))
    }

    /// Tells the bot's subscribed connection that another connection took the bot over
    /// (`disconnected_event`), and keeps the socket open as WeCom may for a while (§3.5).
    pub fn kick(&self, bot_id: &str) -> bool {
        let frame = json!({"cmd": "aibot_event_callback", "headers": {"req_id": "KICK"},
            "body": {"msgid": "KICK", "aibotid": bot_id, "msgtype": "event",
                "event": {"eventtype": "disconnected_event"}}});
        self.control(bot_id, Control::Send(frame.to_string()))
    }

    /// Drops the bot's subscribed connection without a close frame (a network failure).
    pub fn reset(&self, bot_id: &str) -> bool {
        self.control(bot_id, Control::Reset)
    }

    /// Closes the bot's subscribed connection with a close frame.
    pub fn close(&self, bot_id: &str) -> bool {
        self.control(bot_id, Control::Close)
    }

    fn control(&self, bot_id: &str, control: Control) -> bool {
        let state = self.state();
        state
            .subscriber
            .get(bot_id)
            .and_then(|id| state.conns.get(id))
            .is_some_and(|conn| conn.control.send(control).is_ok())
    }

    /// Stops (or resumes) answering pings, as a dead link would.
    pub fn ignore_pings(&self, ignore: bool) {
        self.state().ignore_pings = ignore;
    }

    /// Every frame received from connections of `bot_id` (subscribes included), in order.
    pub fn frames(&self, bot_id: &str) -> Vec<Seen> {
        let state = self.state();
        let mine = |s: &&Seen| s.bot.as_deref() == Some(bot_id) || s.frame["body"]["bot_id"] == bot_id;
        state.seen.iter().filter(mine).cloned().collect()
    }

    /// The reply and push frames (`aibot_respond_*`, `aibot_send_msg`) of `bot_id`, in order.
    pub fn replies(&self, bot_id: &str) -> Vec<Seen> {
        self.frames(bot_id)
            .into_iter()
            .filter(|s| s.cmd().starts_with("aibot_respond") || s.cmd() == "aibot_send_msg")
            .collect()
    }

    /// How many connections are open (subscribed or not).
    pub fn open_connections(&self) -> usize {
        self.state().conns.len()
    }

    /// How many bots have a subscribed connection.
    pub fn subscribed_bots(&self) -> usize {
        self.state().subscriber.len()
    }

    /// How many open connections have subscribed `bot_id` and not been kicked.
    pub fn live(&self, bot_id: &str) -> usize {
        usize::from(self.state().subscriber.contains_key(bot_id))
    }

    /// The most connections that were subscribed to `bot_id` at the same moment.
    pub fn most_live(&self, bot_id: &str) -> usize {
        self.state().most_live.get(bot_id).copied().unwrap_or(0)
    }

    /// How many successful subscribes `bot_id` got.
    pub fn subscribes(&self, bot_id: &str) -> usize {
        self.state().subscribes.get(bot_id).copied().unwrap_or(0)
    }

    /// Protocol rules the clients broke (e.g. two reply frames in flight for one req_id).
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }
}

async fn serve(state: Arc<Mutex<State>>, id: u64, tcp: tokio::net::TcpStream) {
    let Ok(mut peer) = Peer::accept(tcp).await else {
        return;
    };
    let (control, mut controls) = mpsc::unbounded_channel();
    lock(&state).conns.insert(
        id,
        Conn {
            bot: None,
            control: control.clone(),
            pushed: HashSet::new(),
            in_flight: HashSet::new(),
        },
    );
    loop {
        tokio::select! {
            received = peer.recv() => {
                let Some(Ok(text)) = received else { break };
                let answers = on_frame(&state, id, &text, &control);
                for answer in answers {
                    if peer.send(answer).await.is_err() {
                        break;
                    }
                }
            }
            Some(command) = controls.recv() => match command {
                Control::Send(text) => {
                    if peer.send(text).await.is_err() {
                        break;
                    }
                }
                Control::AckReply(req_id) => {
                    let acked = lock(&state).conns.get_mut(&id).is_some_and(|c| c.in_flight.remove(&req_id));
                    if acked && peer.send(ack(&req_id, 0, "ok")).await.is_err() {
                        break;
                    }
                }
                Control::Close => {
                    peer.close().await;
                    break;
                }
                Control::Reset => break,
            },
        }
    }
    let mut state = lock(&state);
    if let Some(conn) = state.conns.remove(&id)
        && let Some(bot) = conn.bot
        && state.subscriber.get(&bot) == Some(&id)
    {
        state.subscriber.remove(&bot);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ack(req_id: &str, errcode: i64, errmsg: &str) -> String {
    json!({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}).to_string()
}

/// Answers one client frame; returns what to send back at once.
fn on_frame(state: &Mutex<State>, id: u64, text: &str, control: &mpsc::UnboundedSender<Control>) -> Vec<String> {
    let mut state = lock(state);
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        state
            .violations
            .push(format!("connection {id} sent a frame that is not JSON"));
        return Vec::new();
    };
    let cmd = frame["cmd"].as_str().unwrap_or_default().to_owned();
    let req_id = frame["headers"]["req_id"].as_str().unwrap_or_default().to_owned();
    let bot = state.conns.get(&id).and_then(|c| c.bot.clone());
    if state.record {
        state.seen.push(Seen {
            conn: id,
            bot: bot.clone(),
            frame: frame.clone(),
        });
    }
    if cmd == "aibot_subscribe" {
        return vec![subscribe(&mut state, id, &frame, &req_id)];
    }
    // A kicked connection keeps working until it closes (§3.5), so only a missing subscribe counts.
    if bot.is_none() {
        return vec![ack(&req_id, 846_609, "aibot websocket not subscribed")];
    }
    match cmd.as_str() {
        "ping" if state.ignore_pings => Vec::new(),
        upload if upload.starts_with("aibot_upload_media_") => {
            vec![media::upload(&mut state, upload, &req_id, &frame["body"])]
        }
        "aibot_send_msg" if frame["body"]["msgtype"] == "image" => {
            vec![media::send_image(&mut state, &req_id, &frame["body"])]
        }
        "ping" | "aibot_send_msg" => vec![ack(&req_id, 0, "ok")],
        "aibot_respond_msg" | "aibot_respond_welcome_msg" | "aibot_respond_update_msg" => {
            let Some(conn) = state.conns.get_mut(&id) else {
                return Vec::new();
            };
            if !conn.pushed.contains(&req_id) {
                return vec![ack(&req_id, 846_605, "invalid req_id")];
            }
            if !conn.in_flight.insert(req_id.clone()) {
                state
                    .violations
                    .push(format!("connection {id}: a second frame in flight for {req_id}"));
                return Vec::new();
            }
            let control = control.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REPLY_ACK_DELAY).await;
                let _ = control.send(Control::AckReply(req_id));
            });
            Vec::new()
        }
        _ => vec![ack(&req_id, 40_058, "unknown cmd")],
    }
}

fn subscribe(state: &mut State, id: u64, frame: &Value, req_id: &str) -> String {
    let bot_id = frame["body"]["bot_id"].as_str().unwrap_or_default().to_owned();
    let secret = frame["body"]["secret"].as_str().unwrap_or_default();
    if state.bots.get(&bot_id).is_none_or(|s| s != secret) {
        return ack(req_id, 853_000, "invalid bot_id or secret");
    }
    if let Some(old) = state.subscriber.insert(bot_id.clone(), id)
        && old != id
        && let Some(conn) = state.conns.get(&old)
    {
        let kick = json!({"cmd": "aibot_event_callback", "headers": {"req_id": format!("KICK-{id}")},
            "body": {"msgid": format!("KICK-{id}"), "aibotid": bot_id, "msgtype": "event",
                "event": {"eventtype": "disconnected_event"}}});
        let _ = conn.control.send(Control::Send(kick.to_string()));
        let most = state.most_live.entry(bot_id.clone()).or_default();
        *most = (*most).max(2);
    }
    let most = state.most_live.entry(bot_id.clone()).or_default();
    *most = (*most).max(1);
    *state.subscribes.entry(bot_id.clone()).or_default() += 1;
    if let Some(conn) = state.conns.get_mut(&id) {
        conn.bot = Some(bot_id);
    }
    ack(req_id, 0, "ok")
}
