use serde_json::{Value, json};

use super::*;
use crate::wire::BotEventKind;

const MSG: &str = r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"REQ-CB-1"},"body":{"msgid":"M1","aibotid":"B1","chattype":"single","from":{"userid":"u1"},"msgtype":"text","text":{"content":"hi"}}}"#;
const ENTER: &str = r#"{"cmd":"aibot_event_callback","headers":{"req_id":"EV-1"},"body":{"msgid":"E1","aibotid":"B1","chattype":"single","from":{"userid":"u1"},"msgtype":"event","event":{"eventtype":"enter_chat"}}}"#;
const KICK: &str = r#"{"cmd":"aibot_event_callback","headers":{"req_id":"EV-9"},"body":{"msgid":"X","create_time":1,"aibotid":"B1","msgtype":"event","event":{"eventtype":"disconnected_event"}}}"#;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ack(req_id: &str, errcode: i64) -> String {
    json!({"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": if errcode == 0 { "ok" } else { "failed" }})
        .to_string()
}

fn req_id_of(frame: &Outgoing) -> String {
    frame.req_id().to_owned()
}

/// A session subscribed at `t0`.
fn ready(t0: Instant) -> Session {
    let mut session = Session::new("B1", Secret::new("s3cr3t"));
    let subscribe = session.on_open(t0);
    assert_eq!(session.on_frame(&ack(subscribe.req_id(), 0), t0), Action::Subscribed);
    session
}

fn route(cmd: &str, req_id: &str, msgtype: Option<&str>) -> Route {
    Route {
        cmd: cmd.into(),
        req_id: req_id.into(),
        msgtype: msgtype.map(str::to_owned),
    }
}

#[test]
fn open_sends_subscribe_then_ack_makes_it_ready() {
    let t0 = Instant::now();
    let mut session = Session::new("B1", Secret::new("s3cr3t"));
    assert_eq!(session.state(), &State::Connecting);
    assert_eq!(session.tick(t0 + secs(3600)), Tick::Idle);
    assert_eq!(session.next_deadline(), None);

    let subscribe = session.on_open(t0);
    assert_eq!(session.state(), &State::Subscribing);
    let wire: Value = serde_json::from_str(&subscribe.to_text()).unwrap();
    assert_eq!(wire["cmd"], "aibot_subscribe");
    assert_eq!(wire["body"], json!({"bot_id": "B1", "secret": "s3cr3t"}));
    assert!(subscribe.req_id().starts_with("aibot_subscribe_"));
    assert_eq!(session.next_deadline(), Some(t0 + SUBSCRIBE_TIMEOUT));
    assert!(!format!("{session:?}").contains("s3cr3t"));

    // Another ack (or a ping ack) does not subscribe.
    assert!(matches!(session.on_frame(&ack("other", 0), t0), Action::AckFor { .. }));
    assert_eq!(session.state(), &State::Subscribing);

    assert_eq!(
        session.on_frame(&ack(subscribe.req_id(), 0), t0 + secs(1)),
        Action::Subscribed
    );
    assert!(session.is_ready());
    assert_eq!(session.next_deadline(), Some(t0 + secs(1) + HEARTBEAT_INTERVAL));
    // A repeated subscribe ack changes nothing.
    assert_eq!(
        session.on_frame(&ack(subscribe.req_id(), 0), t0 + secs(2)),
        Action::Ignore
    );
}

#[test]
fn bad_secret_fails_auth_and_closes() {
    let t0 = Instant::now();
    let mut session = Session::new("B1", Secret::new("wrong"));
    let subscribe = session.on_open(t0);
    let refused =
        json!({"headers": {"req_id": subscribe.req_id()}, "errcode": 853000, "errmsg": "invalid bot_id or secret"});
    assert_eq!(
        session.on_frame(&refused.to_string(), t0),
        Action::AuthFailed {
            errcode: 853_000,
            errmsg: "invalid bot_id or secret".into()
        }
    );
    assert!(matches!(
        session.state(),
        State::Closed {
            reason: CloseReason::AuthFailed { errcode: 853_000, .. }
        }
    ));
    assert_eq!(session.next_deadline(), None);
    assert_eq!(session.on_frame(MSG, t0), Action::Ignore);
}

#[test]
fn unanswered_subscribe_is_dead_after_the_timeout() {
    let t0 = Instant::now();
    let mut session = Session::new("B1", Secret::new("s"));
    session.on_open(t0);
    assert_eq!(session.tick(t0 + SUBSCRIBE_TIMEOUT - secs(1)), Tick::Idle);
    assert_eq!(session.tick(t0 + SUBSCRIBE_TIMEOUT), Tick::Dead);
    assert_eq!(
        session.state(),
        &State::Closed {
            reason: CloseReason::Dead
        }
    );
}

#[test]
fn pings_every_30_seconds_and_acks_keep_it_alive() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    assert_eq!(session.tick(t0 + secs(29)), Tick::Idle);
    for round in 1..=5u64 {
        let due = t0 + HEARTBEAT_INTERVAL * u32::try_from(round).unwrap();
        let Tick::Ping(ping) = session.tick(due) else {
            panic!("no ping in round {round}")
        };
        assert_eq!(serde_json::from_str::<Value>(&ping.to_text()).unwrap()["cmd"], "ping");
        assert!(ping.req_id().starts_with("ping_"));
        assert_eq!(session.missed_pings(), 1);
        assert_eq!(session.tick(due + secs(1)), Tick::Idle, "one ping per period");
        assert_eq!(
            session.on_frame(&ack(&req_id_of(&ping), 0), due + secs(1)),
            Action::Ignore
        );
        assert_eq!(session.missed_pings(), 0);
        assert_eq!(session.next_deadline(), Some(due + HEARTBEAT_INTERVAL));
    }
}

#[test]
fn two_unacked_pings_mean_dead() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    let Tick::Ping(_) = session.tick(t0 + secs(30)) else {
        panic!()
    };
    let Tick::Ping(second) = session.tick(t0 + secs(60)) else {
        panic!()
    };
    assert_eq!(session.missed_pings(), 2);
    // An error ack does not count as alive.
    assert_eq!(
        session.on_frame(&ack(second.req_id(), -1), t0 + secs(61)),
        Action::Ignore
    );
    assert_eq!(session.missed_pings(), 2);
    assert_eq!(session.tick(t0 + secs(89)), Tick::Idle);
    assert_eq!(session.tick(t0 + secs(90)), Tick::Dead);
    assert_eq!(
        session.state(),
        &State::Closed {
            reason: CloseReason::Dead
        }
    );
    assert_eq!(session.tick(t0 + secs(120)), Tick::Idle);
}

#[test]
fn a_late_ack_of_an_older_ping_also_counts() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    let Tick::Ping(first) = session.tick(t0 + secs(30)) else {
        panic!()
    };
    let Tick::Ping(_) = session.tick(t0 + secs(60)) else {
        panic!()
    };
    session.on_frame(&ack(first.req_id(), 0), t0 + secs(70));
    assert_eq!(session.missed_pings(), 0);
    assert!(matches!(session.tick(t0 + secs(90)), Tick::Ping(_)));
}

#[test]
fn callbacks_become_inbound_and_open_a_reply_window() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    let Action::Inbound { req_id, callback } = session.on_frame(MSG, t0 + secs(5)) else {
        panic!("not inbound")
    };
    assert_eq!(req_id, "REQ-CB-1");
    assert!(matches!(*callback, BotCallback::Message(ref m) if m.msgid == "M1"));
    let window = session.reply_window("REQ-CB-1").unwrap();
    assert_eq!((window.received_at, window.kind), (t0 + secs(5), CallbackKind::Message));

    let Action::Inbound { callback, .. } = session.on_frame(ENTER, t0) else {
        panic!("not inbound")
    };
    assert!(matches!(*callback, BotCallback::Event(ref e) if e.kind == BotEventKind::EnterChat));
    assert_eq!(session.reply_window("EV-1").unwrap().kind, CallbackKind::Event);
}

#[test]
fn disconnected_event_kicks() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    assert_eq!(session.on_frame(KICK, t0), Action::Kicked);
    assert_eq!(
        session.state(),
        &State::Closed {
            reason: CloseReason::Kicked
        }
    );
    assert_eq!(session.tick(t0 + secs(30)), Tick::Idle);
}

#[test]
fn other_acks_are_reported() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    assert_eq!(
        session.on_frame(&ack("REQ-CB-1", 846_608), t0),
        Action::AckFor {
            req_id: "REQ-CB-1".into(),
            errcode: 846_608,
            errmsg: "failed".into(),
            body: None,
        }
    );
}

#[test]
fn garbage_is_ignored_and_changes_nothing() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    for text in [
        "garbage",
        "{}",
        r#"{"cmd":"new_thing","headers":{"req_id":"x"},"body":{}}"#,
        // A callback whose body lacks msgid / msgtype.
        r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"R"},"body":{"from":{"userid":"u"}}}"#,
    ] {
        assert_eq!(session.on_frame(text, t0), Action::Ignore, "{text}");
    }
    assert!(session.is_ready());
    assert_eq!(session.reply_window("R"), None);
}

#[test]
fn socket_close_closes() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    session.on_close();
    assert_eq!(
        session.state(),
        &State::Closed {
            reason: CloseReason::SocketClosed
        }
    );
    assert_eq!(session.next_deadline(), None);
}

#[test]
fn stream_window_counts_from_the_first_frame() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    session.on_frame(MSG, t0);
    let stream = route(cmd::RESPOND_MSG, "REQ-CB-1", Some("stream"));
    assert_eq!(session.stream_deadline("REQ-CB-1"), None);
    // The first frame may come long after the callback (measured: 120 s).
    let first = t0 + secs(120);
    assert_eq!(session.admit(&stream, first), Ok(()));
    assert_eq!(session.stream_deadline("REQ-CB-1"), Some(first + STREAM_WINDOW));
    assert_eq!(session.admit(&stream, first + STREAM_WINDOW - secs(1)), Ok(()));
    assert_eq!(
        session.admit(&stream, first + STREAM_WINDOW),
        Err(Refusal::StreamExpired)
    );
    let with_card = route(cmd::RESPOND_MSG, "REQ-CB-1", Some("stream_with_template_card"));
    assert_eq!(
        session.admit(&with_card, first + STREAM_WINDOW),
        Err(Refusal::StreamExpired)
    );
    // Non-stream replies keep the 24 h window.
    let markdown = route(cmd::RESPOND_MSG, "REQ-CB-1", Some("markdown"));
    assert_eq!(session.admit(&markdown, first + STREAM_WINDOW), Ok(()));
    assert_eq!(session.admit(&markdown, t0 + REPLY_WINDOW), Err(Refusal::WindowClosed));
}

#[test]
fn replies_need_a_req_id_from_this_connection() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    let stale = route(cmd::RESPOND_MSG, "from-last-connection", Some("stream"));
    assert_eq!(session.admit(&stale, t0), Err(Refusal::UnknownReqId));
    // Our own pushes carry our own req_ids.
    let push = route(cmd::SEND_MSG, "aibot_send_msg_1_abcdef01", Some("markdown"));
    assert_eq!(session.admit(&push, t0 + REPLY_WINDOW * 2), Ok(()));
}

#[test]
fn welcome_and_card_updates_have_5_seconds() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    session.on_frame(ENTER, t0);
    let welcome = route(cmd::RESPOND_WELCOME, "EV-1", Some("text"));
    assert_eq!(session.admit(&welcome, t0 + secs(4)), Ok(()));
    assert_eq!(session.admit(&welcome, t0 + secs(5)), Err(Refusal::WindowClosed));
    let update = route(cmd::RESPOND_UPDATE, "EV-1", None);
    assert_eq!(session.admit(&update, t0 + secs(6)), Err(Refusal::WindowClosed));
}

#[test]
fn windows_are_forgotten_after_a_day() {
    let t0 = Instant::now();
    let mut session = ready(t0);
    session.on_frame(MSG, t0);
    // Keep the link alive for a day and a bit.
    let mut now = t0;
    while now < t0 + REPLY_WINDOW + HEARTBEAT_INTERVAL {
        now += HEARTBEAT_INTERVAL;
        let Tick::Ping(ping) = session.tick(now) else { panic!() };
        session.on_frame(&ack(ping.req_id(), 0), now);
    }
    assert_eq!(session.reply_window("REQ-CB-1"), None);
}
