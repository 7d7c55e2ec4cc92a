//! Parsing and normalizing self-built app callback XML (tests/fixtures/wecom/app_*.xml).

#![allow(clippy::unwrap_used)]

use imgate_core::event::{ConversationKind, InboundKind, MediaKind, ReplyContext};
use imgate_core::{IntegrationId, Timestamp};
use imgate_wecom::Crypto;
use imgate_wecom::normalize::app_message;
use imgate_wecom::wire::{AppKind, CallbackError, parse_app_envelope, parse_app_message};
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/wecom/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn integration() -> IntegrationId {
    "int_0123456789abcdef0123456789abcdef".parse().unwrap()
}

fn now() -> Timestamp {
    Timestamp::from_millis(1_717_171_717_000)
}

fn text_of(kind: &InboundKind) -> &imgate_core::event::Message {
    match kind {
        InboundKind::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn app_envelope_and_v4_round_trip() {
    let envelope = parse_app_envelope(&fixture("app_envelope.xml")).unwrap();
    assert_eq!(envelope.to_user_name, "ww1234567890abcdef");
    assert_eq!(envelope.agent_id.as_deref(), Some("1000002"));
    let crypto = Crypto::new(
        "appToken2024",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "ww1234567890abcdef",
    )
    .unwrap();
    let plain = crypto
        .open(
            "316c5c2dbea6ad4c9aa0a482bb0c94e7508dbaec",
            "1409659813",
            "1372623149",
            &envelope.encrypt,
        )
        .unwrap();
    assert_eq!(plain, fixture("app_text.xml").trim_ascii_end());
    let msg = parse_app_message(&plain).unwrap();
    assert_eq!(msg.from_user_name, "zhangsan");
    assert_eq!(msg.to_user_name, "ww1234567890abcdef");
    assert_eq!(msg.create_time, Some(1_409_659_813));
    assert_eq!(msg.msg_id.as_deref(), Some("4561255354251345929"));
    assert_eq!(
        msg.kind,
        AppKind::Text {
            content: "hello".into()
        }
    );
    let event = app_message(&integration(), &msg, now());
    assert_eq!(event.event_id, "4561255354251345929");
    assert_eq!(event.conversation.id, "zhangsan");
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(
        event.reply,
        ReplyContext::WecomApp {
            agent_id: "1000002".into(),
            to_user: "zhangsan".into()
        }
    );
    assert_eq!(text_of(&event.kind).text, "hello");
}

#[test]
fn app_media_and_events() {
    let image = parse_app_message(&fixture("app_image.xml")).unwrap();
    assert_eq!(
        image.kind,
        AppKind::Image {
            pic_url: Some("https://example.invalid/pic.jpg".into()),
            media_id: Some("media_id_image".into())
        }
    );
    let e = app_message(&integration(), &image, now());
    assert_eq!(text_of(&e.kind).media[0].key.as_deref(), Some("media_id_image"));

    let voice = parse_app_message(&fixture("app_voice.xml")).unwrap();
    assert!(
        matches!(&voice.kind, AppKind::Voice { media_id: Some(id), format: Some(f), recognition: None } if id == "media_id_voice" && f == "amr")
    );
    let e = app_message(&integration(), &voice, now());
    assert_eq!(text_of(&e.kind).media[0].kind, MediaKind::Voice);

    let click = parse_app_message(&fixture("app_event_click.xml")).unwrap();
    let e = app_message(&integration(), &click, now());
    assert_eq!(e.event_id, "zhangsan:1408091189:click");
    assert_eq!(
        e.kind,
        InboundKind::CardAction {
            action: "imgate_new_session".into(),
            value: None
        }
    );

    let card = parse_app_message(&fixture("app_event_template_card.xml")).unwrap();
    let e = app_message(&integration(), &card, now());
    assert_eq!(
        e.kind,
        InboundKind::CardAction {
            action: "key111".into(),
            value: Some(json!({"task_id": "taskid111"}))
        }
    );
    assert_eq!(
        e.reply,
        ReplyContext::WecomApp {
            agent_id: "1".into(),
            to_user: "zhangsan".into()
        }
    );

    let location = parse_app_message(&fixture("app_location.xml")).unwrap();
    assert_eq!(
        location.kind,
        AppKind::Unsupported {
            msg_type: "location".into()
        }
    );
    assert_eq!(
        app_message(&integration(), &location, now()).kind,
        InboundKind::Unsupported {
            raw_type: "location".into()
        }
    );
}

#[test]
fn malformed_app_xml_is_a_clear_error() {
    for bad in [
        &b"<xml><Encrypt>abc</Other></xml>"[..],
        b"<xml><Encrypt>abc",
        b"",
        b"not xml at all",
        b"<a/><b/>",
        b"<xml><Content>&bogus;</Content></xml>",
    ] {
        let err = parse_app_message(bad).unwrap_err();
        assert!(
            matches!(err, CallbackError::Xml(_)),
            "{:?}: {err:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        parse_app_envelope(b"<xml><ToUserName>ww</ToUserName></xml>"),
        Err(CallbackError::MissingField("Encrypt"))
    );
    assert_eq!(
        parse_app_message(b"<xml><MsgType>text</MsgType></xml>"),
        Err(CallbackError::MissingField("FromUserName"))
    );
    // Escaped text and entities are decoded.
    let msg = parse_app_message(
        b"<xml><FromUserName>u</FromUserName><MsgType>text</MsgType><Content>a &amp; b &lt;c&gt;</Content></xml>",
    )
    .unwrap();
    assert_eq!(
        msg.kind,
        AppKind::Text {
            content: "a & b <c>".into()
        }
    );
}
