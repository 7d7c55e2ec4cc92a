//! The long-connection driver over a real WebSocket against a fake WeCom server that follows
//! protocols/wecom.md §3: subscribe first (846609 otherwise), 853000 for a bad secret (socket
//! left open, as WeCom does), ping acks, message callbacks, `aibot_respond_msg` frames only for
//! req_ids it pushed (846605 otherwise), `disconnected_event` kicks, silence, close and reset.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use imgate_core::secret::Secret;
use imgate_core::{IntegrationId, Timestamp};
use imgate_wecom::long::{self, Delivery, DeliveryStatus, DriverError, InboundFrame, Outcome, Refusal, Session, frame};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

const BOT_ID: &str = "BOT1";
const SECRET: &str = "right-secret";
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- the fake WeCom server

#[derive(Clone, Copy)]
struct Behaviour {
    ack_pings: bool,
    /// Delay before acking reply frames; `None` never acks them.
    reply_ack_delay: Option<Duration>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            ack_pings: true,
            reply_ack_delay: Some(Duration::from_millis(50)),
        }
    }
}

enum Control {
    /// Push an `aibot_msg_callback` with this req_id and body.
    Callback(&'static str, Value),
    /// Send this message as is.
    Raw(Message),
    /// Send `disconnected_event` and keep the socket open.
    Kick,
    /// Close with a close frame.
    Close,
    /// Drop the TCP connection without a close frame.
    Reset,
}

struct Fake {
    control: mpsc::UnboundedSender<Control>,
    /// Every frame the client sent, in order; ends when the first connection ends.
    seen: mpsc::UnboundedReceiver<Value>,
    connections: Arc<AtomicUsize>,
}

impl Fake {
    /// Listens on 127.0.0.1:0; the first connection is served, later ones only counted.
    async fn tcp(behaviour: Behaviour) -> (Self, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (fake, mut first) = Self::new();
        let count = fake.connections.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                if let Some((control, seen)) = first.take() {
                    tokio::spawn(serve(ws, behaviour, control, seen));
                }
            }
        });
        (fake, url)
    }

    /// The same server over an in-memory pipe (WebSocket handshake included): no OS I/O, so
    /// a paused clock only advances when every task waits on a timer.
    async fn in_memory(behaviour: Behaviour) -> (Self, impl long::TextSocket) {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let (fake, first) = Self::new();
        let (control, seen) = first.unwrap();
        fake.connections.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let ws = tokio_tungstenite::accept_async(server_io).await.unwrap();
            serve(ws, behaviour, control, seen).await;
        });
        let (ws, _) = tokio_tungstenite::client_async("ws://wecom.invalid/", client_io)
            .await
            .unwrap();
        (fake, long::text_socket(ws))
    }

    #[allow(clippy::type_complexity)]
    fn new() -> (
        Self,
        Option<(mpsc::UnboundedReceiver<Control>, mpsc::UnboundedSender<Value>)>,
    ) {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let fake = Self {
            control,
            seen,
            connections: Arc::new(AtomicUsize::new(0)),
        };
        (fake, Some((control_rx, seen_tx)))
    }

    fn send(&self, control: Control) {
        self.control.send(control).unwrap();
    }

    async fn next_seen(&mut self) -> Value {
        self.seen.recv().await.expect("the connection ended")
    }

    /// Waits until the server's connection ended; returns what it saw meanwhile.
    async fn ended(&mut self) -> Vec<Value> {
        let mut rest = Vec::new();
        while let Some(frame) = self.seen.recv().await {
            rest.push(frame);
        }
        rest
    }
}

fn ack(req_id: &str, errcode: i64, errmsg: &str) -> Message {
    Message::text(json!({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}).to_string())
}

async fn serve<T: AsyncRead + AsyncWrite + Unpin>(
    ws: tokio_tungstenite::WebSocketStream<T>,
    behaviour: Behaviour,
    mut control: mpsc::UnboundedReceiver<Control>,
    seen: mpsc::UnboundedSender<Value>,
) {
    let (mut sink, mut stream) = ws.split();
    let (delayed_tx, mut delayed) = mpsc::unbounded_channel::<String>();
    let mut subscribed = false;
    let mut pushed: HashSet<String> = HashSet::new();
    let mut unacked: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            received = stream.next() => {
                let Some(Ok(message)) = received else { return };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Pong(data) => {
                        let _ = seen.send(json!({"pong": data.to_vec()}));
                        continue;
                    }
                    _ => continue,
                };
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                let cmd = frame["cmd"].as_str().unwrap_or_default().to_owned();
                let req_id = frame["headers"]["req_id"].as_str().unwrap_or_default().to_owned();
                let _ = seen.send(frame.clone());
                let answer = match cmd.as_str() {
                    "aibot_subscribe" => {
                        if frame["body"] == json!({"bot_id": BOT_ID, "secret": SECRET}) {
                            subscribed = true;
                            Some(ack(&req_id, 0, "ok"))
                        } else {
                            Some(ack(&req_id, 853_000, "invalid bot_id or secret"))
                        }
                    }
                    _ if !subscribed => Some(ack(&req_id, 846_609, "aibot websocket not subscribed")),
                    "ping" => behaviour.ack_pings.then(|| ack(&req_id, 0, "ok")),
                    "aibot_respond_msg" if !pushed.contains(&req_id) => Some(ack(&req_id, 846_605, "invalid req_id")),
                    "aibot_respond_msg" => {
                        if !unacked.insert(req_id.clone()) {
                            let _ = seen.send(json!({"violation": "second frame in flight", "req_id": req_id}));
                        }
                        if let Some(delay) = behaviour.reply_ack_delay {
                            let tx = delayed_tx.clone();
                            tokio::spawn(async move {
                                sleep(delay).await;
                                let _ = tx.send(req_id);
                            });
                        }
                        None
                    }
                    "aibot_send_msg" => Some(ack(&req_id, 0, "ok")),
                    _ => Some(ack(&req_id, 40_058, "unknown cmd")),
                };
                if let Some(answer) = answer {
                    sink.send(answer).await.unwrap();
                }
            }
            Some(req_id) = delayed.recv() => {
                unacked.remove(&req_id);
                sink.send(ack(&req_id, 0, "ok")).await.unwrap();
            }
            Some(command) = control.recv() => match command {
                Control::Callback(req_id, body) => {
                    pushed.insert(req_id.to_owned());
                    let frame = json!({"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body});
                    sink.send(Message::text(frame.to_string())).await.unwrap();
                }
                Control::Raw(message) => sink.send(message).await.unwrap(),
                Control::Kick => {
                    let frame = json!({"cmd": "aibot_event_callback", "headers": {"req_id": "KICK-1"},
                        "body": {"msgid": "K1", "create_time": 1, "aibotid": BOT_ID, "msgtype": "event",
                                 "event": {"eventtype": "disconnected_event"}}});
                    sink.send(Message::text(frame.to_string())).await.unwrap();
                }
                Control::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    // Read until the client answers the close.
                    while let Some(Ok(_)) = stream.next().await {}
                    return;
                }
                Control::Reset => return,
            },
        }
    }
}

fn text_message(msgid: &str, content: &str) -> Value {
    json!({"msgid": msgid, "aibotid": BOT_ID, "chattype": "single", "from": {"userid": "u1"},
           "response_url": "https://example.invalid/r", "msgtype": "text", "text": {"content": content}})
}

// ---------------------------------------------------------------- the driver under test

struct Client {
    inbound: mpsc::UnboundedReceiver<InboundFrame>,
    outbox: Option<mpsc::Sender<String>>,
    run: JoinHandle<Result<Outcome, DriverError>>,
}

impl Client {
    async fn connect(url: &str, secret: &str, queued: &[String]) -> Self {
        Self::start(long::connect(url).await.unwrap(), secret, queued).await
    }

    async fn start(socket: impl long::TextSocket + 'static, secret: &str, queued: &[String]) -> Self {
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let (outbox, mut outbox_rx) = mpsc::channel(64);
        for frame in queued {
            outbox.send(frame.clone()).await.unwrap();
        }
        let session = Session::new(BOT_ID, Secret::new(secret));
        let run = tokio::spawn(async move {
            let taken = move |frame| std::future::ready(inbound_tx.send(frame).is_ok());
            long::run(socket, session, taken, &mut outbox_rx).await
        });
        Self {
            inbound,
            outbox: Some(outbox),
            run,
        }
    }

    async fn push(&self, frame: &frame::Outgoing) {
        self.outbox.as_ref().unwrap().send(frame.to_text()).await.unwrap();
    }

    async fn next_inbound(&mut self) -> InboundFrame {
        timeout(WAIT, self.inbound.recv()).await.unwrap().unwrap()
    }

    async fn next_delivery(&mut self) -> Delivery {
        match self.next_inbound().await {
            InboundFrame::Delivery(delivery) => delivery,
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    async fn outcome(self) -> Result<Outcome, DriverError> {
        timeout(WAIT, self.run).await.unwrap().unwrap()
    }
}

fn cmd(frame: &Value) -> &str {
    frame["cmd"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------- scenarios

#[tokio::test]
async fn happy_path_delivers_the_callback_and_writes_replies_in_order() {
    let (mut server, url) = Fake::tcp(Behaviour::default()).await;
    // Queued before the connection exists: must wait for the subscribe ack (846609 otherwise).
    let push = frame::send_markdown(&frame::new_req_id(frame::cmd::SEND_MSG), "u1", "hello");
    let mut client = Client::connect(&url, SECRET, &[push.to_text()]).await;

    let subscribe = server.next_seen().await;
    assert_eq!(cmd(&subscribe), "aibot_subscribe");
    assert_eq!(subscribe["body"], json!({"bot_id": BOT_ID, "secret": SECRET}));
    assert_eq!(cmd(&server.next_seen().await), "aibot_send_msg");
    let pushed = client.next_delivery().await;
    assert_eq!(
        (pushed.req_id.as_str(), pushed.status),
        (push.req_id(), DeliveryStatus::Acked)
    );

    server.send(Control::Callback("REQ-CB-1", text_message("M1", "hi")));
    let InboundFrame::Callback { req_id, callback } = client.next_inbound().await else {
        panic!("expected the callback")
    };
    assert_eq!(req_id, "REQ-CB-1");
    let event = long::inbound_event(&IntegrationId::generate(), &req_id, &callback, Timestamp::now()).unwrap();
    assert_eq!(event.event_id, "M1");

    let stream_id = "stream_abc";
    let texts = ["thinking...", "thinking... almost", "final answer"];
    for (i, text) in texts.iter().enumerate() {
        client
            .push(&frame::respond_stream(&req_id, stream_id, text, i == texts.len() - 1))
            .await;
    }
    for _ in texts {
        let delivery = client.next_delivery().await;
        assert_eq!(delivery.req_id, "REQ-CB-1");
        assert_eq!(delivery.cmd, "aibot_respond_msg");
        assert_eq!(delivery.status, DeliveryStatus::Acked);
    }

    // Dropping the outbox stops the run once everything is settled.
    client.outbox = None;
    assert_eq!(client.outcome().await.unwrap(), Outcome::Stopped);
    let rest = server.ended().await;
    let replies: Vec<&Value> = rest.iter().filter(|f| cmd(f) == "aibot_respond_msg").collect();
    assert_eq!(replies.len(), 3);
    for (frame, text) in replies.iter().zip(texts) {
        assert_eq!(frame["headers"]["req_id"], "REQ-CB-1");
        assert_eq!(frame["body"]["stream"]["id"], stream_id);
        assert_eq!(frame["body"]["stream"]["content"], text);
    }
    assert_eq!(replies[2]["body"]["stream"]["finish"], true);
    assert!(rest.iter().all(|f| f.get("violation").is_none()), "{rest:?}");
}

#[tokio::test]
async fn bad_secret_is_auth_failed_and_the_driver_closes() {
    let (mut server, url) = Fake::tcp(Behaviour::default()).await;
    let push = frame::send_markdown("aibot_send_msg_1_00000000", "u1", "never sent");
    let client = Client::connect(&url, "wrong-secret", &[push.to_text()]).await;
    let outcome = client.outcome().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::AuthFailed {
            errcode: frame::errcode::INVALID_CREDENTIALS,
            errmsg: "invalid bot_id or secret".into()
        }
    );
    assert!(!format!("{outcome:?}").contains("wrong-secret"));
    // Only the subscribe went out, and WeCom's open socket was closed by the driver.
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    assert_eq!(server.ended().await, Vec::<Value>::new());
}

#[tokio::test]
async fn kick_ends_the_run_and_the_driver_does_not_reconnect() {
    let (mut server, url) = Fake::tcp(Behaviour {
        reply_ack_delay: None,
        ..Behaviour::default()
    })
    .await;
    let mut client = Client::connect(&url, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    server.send(Control::Callback("REQ-CB-1", text_message("M1", "hi")));
    assert!(matches!(client.next_inbound().await, InboundFrame::Callback { .. }));
    // A reply WeCom never acks is still in flight when the kick comes.
    client.push(&frame::respond_stream("REQ-CB-1", "s1", "…", false)).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_respond_msg");

    server.send(Control::Kick);
    let cancelled = client.next_delivery().await;
    assert_eq!(
        (cancelled.req_id.as_str(), cancelled.status),
        ("REQ-CB-1", DeliveryStatus::Cancelled)
    );
    assert_eq!(client.outcome().await.unwrap(), Outcome::Kicked);
    server.ended().await;
    sleep(Duration::from_millis(300)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn silent_server_is_dead_after_two_missed_pings() {
    let (mut server, socket) = Fake::in_memory(Behaviour {
        ack_pings: false,
        ..Behaviour::default()
    })
    .await;
    let client = Client::start(socket, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    let subscribed = Instant::now();
    assert_eq!(client.run.await.unwrap().unwrap(), Outcome::Dead);
    let elapsed = subscribed.elapsed();
    assert!(
        elapsed >= Duration::from_secs(90) && elapsed < Duration::from_secs(91),
        "{elapsed:?}"
    );
    let rest = server.ended().await;
    assert_eq!(rest.iter().filter(|f| cmd(f) == "ping").count(), 2, "{rest:?}");
}

#[tokio::test(start_paused = true)]
async fn acked_pings_keep_the_link_alive_and_streams_expire_after_6_minutes() {
    let (mut server, socket) = Fake::in_memory(Behaviour::default()).await;
    let mut client = Client::start(socket, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    server.send(Control::Callback("REQ-CB-1", text_message("M1", "hi")));
    assert!(matches!(client.next_inbound().await, InboundFrame::Callback { .. }));
    client.push(&frame::respond_stream("REQ-CB-1", "s1", "a", false)).await;
    assert_eq!(client.next_delivery().await.status, DeliveryStatus::Acked);

    sleep(Duration::from_secs(6 * 60)).await;
    client.push(&frame::respond_stream("REQ-CB-1", "s1", "ab", true)).await;
    assert_eq!(
        client.next_delivery().await.status,
        DeliveryStatus::Refused(Refusal::StreamExpired)
    );
    // A req_id WeCom never sent on this connection is refused without touching the wire.
    client.push(&frame::respond_stream("OLD-REQ", "s2", "x", true)).await;
    assert_eq!(
        client.next_delivery().await.status,
        DeliveryStatus::Refused(Refusal::UnknownReqId)
    );
    client.outbox = None;
    assert_eq!(client.outcome().await.unwrap(), Outcome::Stopped);
    let rest = server.ended().await;
    assert_eq!(rest.iter().filter(|f| cmd(f) == "aibot_respond_msg").count(), 1);
    assert!(rest.iter().filter(|f| cmd(f) == "ping").count() >= 12, "{rest:?}");
}

#[tokio::test]
async fn bad_and_unknown_frames_are_ignored_and_the_connection_survives() {
    let (mut server, url) = Fake::tcp(Behaviour::default()).await;
    let mut client = Client::connect(&url, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    let junk = [
        Message::text("garbage"),
        Message::text("{}"),
        Message::text("[]"),
        Message::text(r#"{"cmd":"aibot_future_cmd","headers":{"req_id":"F1"},"body":{}}"#),
        Message::text(r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"NB"}}"#),
        Message::text(r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"NM"},"body":{"msgtype":"text"}}"#),
        Message::text(r#"{"cmd":"aibot_msg_callback","body":{"msgid":"M0","msgtype":"text"}}"#),
        Message::text(r#"{"headers":{"req_id":"nobody-asked"},"errcode":0,"errmsg":"ok"}"#),
        Message::binary(vec![0xff, 0xfe, 0x00]),
        Message::Ping(vec![1, 2, 3].into()),
    ];
    for message in junk {
        server.send(Control::Raw(message));
    }
    server.send(Control::Callback("REQ-CB-2", text_message("M2", "still there?")));
    let InboundFrame::Callback { req_id, .. } = client.next_inbound().await else {
        panic!("expected the callback")
    };
    assert_eq!(req_id, "REQ-CB-2");
    client.push(&frame::respond_stream(&req_id, "s", "yes", true)).await;
    assert_eq!(client.next_delivery().await.status, DeliveryStatus::Acked);

    // An outbox item that is not a frame is dropped; the next one still goes.
    client
        .outbox
        .as_ref()
        .unwrap()
        .send("not a frame".into())
        .await
        .unwrap();
    client
        .push(&frame::send_markdown("aibot_send_msg_2_00000000", "u1", "push"))
        .await;
    assert_eq!(client.next_delivery().await.status, DeliveryStatus::Acked);

    // The WebSocket-level ping was answered (§3.5).
    let mut seen = Vec::new();
    while !seen.iter().any(|f: &Value| f.get("pong").is_some()) {
        seen.push(server.next_seen().await);
    }
    assert_eq!(seen.iter().find_map(|f| f.get("pong")).unwrap(), &json!([1, 2, 3]));

    server.send(Control::Close);
    assert_eq!(client.outcome().await.unwrap(), Outcome::Closed);
}

#[tokio::test]
async fn socket_closed_is_closed_and_a_reset_is_an_error() {
    let (mut server, url) = Fake::tcp(Behaviour::default()).await;
    let client = Client::connect(&url, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    server.send(Control::Close);
    assert_eq!(client.outcome().await.unwrap(), Outcome::Closed);

    let (mut server, url) = Fake::tcp(Behaviour::default()).await;
    let client = Client::connect(&url, SECRET, &[]).await;
    assert_eq!(cmd(&server.next_seen().await), "aibot_subscribe");
    server.send(Control::Reset);
    assert!(matches!(client.outcome().await, Err(DriverError::Receive(_))));
}
