use super::*;

fn value(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn subscribe_frame_matches_the_wire_and_hides_the_secret() {
    let frame = subscribe("aibot_subscribe_1_0", "BOTID", &Secret::new("s3cr3t"));
    assert_eq!(
        value(&frame.to_text()),
        json!({"cmd": "aibot_subscribe", "headers": {"req_id": "aibot_subscribe_1_0"},
               "body": {"bot_id": "BOTID", "secret": "s3cr3t"}})
    );
    let debug = format!("{frame:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
    assert!(debug.contains("BOTID"));
    assert!(!frame.body().unwrap().to_string().contains("s3cr3t"));
}

#[test]
fn outgoing_frames_match_the_observed_wire() {
    assert_eq!(
        value(&ping("ping_1").to_text()),
        json!({"cmd": "ping", "headers": {"req_id": "ping_1"}})
    );
    assert_eq!(
        value(&respond_stream("REQ-CB-1", "stream_abc", "thinking...", false).to_text()),
        value(
            r#"{"cmd":"aibot_respond_msg","headers":{"req_id":"REQ-CB-1"},"body":{"msgtype":"stream","stream":{"id":"stream_abc","finish":false,"content":"thinking..."}}}"#
        )
    );
    assert_eq!(
        value(&send_markdown("aibot_send_msg_1", "u1", "push").to_text()),
        value(
            r#"{"cmd":"aibot_send_msg","headers":{"req_id":"aibot_send_msg_1"},"body":{"chatid":"u1","msgtype":"markdown","markdown":{"content":"push"}}}"#
        )
    );
    let welcome = value(&respond_welcome("E1", "hi").to_text());
    assert_eq!(welcome["cmd"], "aibot_respond_welcome_msg");
    assert_eq!(welcome["body"], json!({"msgtype": "text", "text": {"content": "hi"}}));
    let card = value(&respond_card("R1", &json!({"card_type": "text_notice"})).to_text());
    assert_eq!(card["cmd"], "aibot_respond_msg");
    assert_eq!(card["body"]["template_card"]["card_type"], "text_notice");
    let update = respond_update("E2", &payload::update_card_done("t", None));
    assert_eq!(update.cmd(), "aibot_respond_update_msg");
    assert_eq!(update.req_id(), "E2");
}

#[test]
fn req_ids_follow_the_sdk_shape() {
    let id = new_req_id("ping");
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert_eq!(parts[0], "ping");
    assert!(parts[1].len() >= 13 && parts[1].chars().all(|c| c.is_ascii_digit()));
    assert_eq!(parts[2].len(), 8);
    assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(new_req_id("ping"), new_req_id("ping"));
}

#[test]
fn parses_observed_incoming_frames() {
    assert_eq!(
        parse(r#"{"headers":{"req_id":"aibot_subscribe_1"},"errcode":0,"errmsg":"ok"}"#),
        Incoming::Ack {
            req_id: "aibot_subscribe_1".into(),
            errcode: 0,
            errmsg: "ok".into(),
            body: None
        }
    );
    let Incoming::MessageCallback { req_id, body } = parse(
        r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"REQ-CB-1"},"body":{"msgid":"M1","aibotid":"B1","chattype":"single","from":{"userid":"u1"},"msgtype":"text","text":{"content":"hi"}}}"#,
    ) else {
        panic!("not a message callback")
    };
    assert_eq!(req_id, "REQ-CB-1");
    assert!(matches!(
        crate::wire::parse_bot_callback(&body),
        Ok(crate::wire::BotCallback::Message(_))
    ));
    let kicked = parse(
        r#"{"cmd":"aibot_event_callback","headers":{"req_id":"E9"},"body":{"msgid":"X","create_time":1,"aibotid":"B1","msgtype":"event","event":{"eventtype":"disconnected_event"}}}"#,
    );
    assert!(matches!(kicked, Incoming::EventCallback { ref eventtype, .. } if eventtype == DISCONNECTED_EVENT));
    let ack = parse(
        r#"{"headers":{"req_id":"u1"},"errcode":"853000","errmsg":"invalid bot_id or secret","body":{"media_id":"m"}}"#,
    );
    assert!(matches!(
        ack,
        Incoming::Ack {
            errcode: 853_000,
            body: Some(_),
            ..
        }
    ));
}

#[test]
fn anything_else_is_unknown() {
    for text in [
        "",
        "not json",
        "[1,2]",
        r#"{"cmd":"aibot_msg_callback","body":{}}"#,
        r#"{"cmd":"aibot_msg_callback","headers":{"req_id":"r"}}"#,
        r#"{"cmd":"aibot_event_callback","headers":{"req_id":"r"},"body":"x"}"#,
        r#"{"cmd":"something_new","headers":{"req_id":"r"},"body":{}}"#,
        r#"{"headers":{"req_id":"r"},"errmsg":"no code"}"#,
    ] {
        assert!(matches!(parse(text), Incoming::Unknown { .. }), "{text}");
    }
}

#[test]
fn routes_outgoing_text() {
    let route = Route::of(&respond_stream("R", "s", "x", true).to_text()).unwrap();
    assert_eq!((route.cmd.as_str(), route.req_id.as_str()), ("aibot_respond_msg", "R"));
    assert!(route.is_stream());
    assert!(!Route::of(&respond_card("R", &json!({})).to_text()).unwrap().is_stream());
    assert!(!Route::of(&send_markdown("S", "u", "x").to_text()).unwrap().is_stream());
    assert_eq!(Route::of(&ping("p").to_text()).unwrap().msgtype, None);
    assert_eq!(Route::of("{}"), None);
    assert_eq!(Route::of(r#"{"cmd":"ping"}"#), None);
    assert_eq!(Route::of("nope"), None);
}
