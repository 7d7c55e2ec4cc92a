//! Parsing and normalizing smart-bot callback JSON (tests/fixtures/wecom/bot_*.json).

#![allow(clippy::unwrap_used)]

use imgate_core::event::{ConversationKind, InboundKind, MediaKind, ReplyContext};
use imgate_core::{IntegrationId, Timestamp};
use imgate_wecom::Crypto;
use imgate_wecom::normalize::{bot_event, bot_message, stream_id_for};
use imgate_wecom::wire::{
    BotCallback, BotContent, BotEventKind, CallbackError, ChatType, MixedItem, parse_bot_callback, parse_bot_envelope,
};
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

fn message(name: &str) -> imgate_wecom::wire::BotMessage {
    match parse_bot_callback(&fixture(name)).unwrap() {
        BotCallback::Message(m) => m,
        other => panic!("{name}: {other:?}"),
    }
}

fn event(name: &str) -> imgate_wecom::wire::BotEvent {
    match parse_bot_callback(&fixture(name)).unwrap() {
        BotCallback::Event(e) => e,
        other => panic!("{name}: {other:?}"),
    }
}

fn text_of(kind: &InboundKind) -> &imgate_core::event::Message {
    match kind {
        InboundKind::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn group_text_strips_the_mention_and_parses_the_command() {
    let msg = message("bot_text_group.json");
    assert_eq!(msg.chattype, ChatType::Group);
    assert_eq!(msg.content, BotContent::Text("@RobotA /new hello robot".into()));
    let stream_id = stream_id_for(&integration(), &msg.msgid);
    let event = bot_message(&integration(), &msg, &stream_id, now());
    assert_eq!(event.event_id, "CAIQ16HMjQYY");
    assert_eq!(event.conversation.id, "wrkSFfCgAAtMQKg4xqDatM5C9IDHFpTw");
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(event.sender.id, "zhangsan");
    let m = text_of(&event.kind);
    assert_eq!(m.text, "/new hello robot");
    assert!(m.mentions_bot);
    let command = m.command.as_ref().unwrap();
    assert_eq!((command.name.as_str(), command.args.as_str()), ("new", "hello robot"));
    assert_eq!(
        event.reply,
        ReplyContext::WecomBot {
            response_url: Some("https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=RESPONSE_CODE".into()),
            req_id: None,
            stream_id: Some(stream_id),
            chat_type: "group".into(),
        }
    );
    assert_eq!(event.received_at, now());
}

#[test]
fn single_chat_text_is_a_direct_conversation_with_the_sender() {
    let msg = message("bot_text_single.json");
    let event = bot_message(&integration(), &msg, "s1", now());
    assert_eq!(event.conversation.id, "lisi");
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    let m = text_of(&event.kind);
    assert_eq!(m.text, "帮我总结一下今天的会议");
    assert!(!m.mentions_bot);
    assert!(m.command.is_none());
}

#[test]
fn media_messages_become_media_refs() {
    let image = bot_message(&integration(), &message("bot_image.json"), "s", now());
    let m = text_of(&image.kind);
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].kind, MediaKind::Image);
    assert!(m.media[0].url.as_deref().unwrap().starts_with("https://ww-aibot-img"));
    assert_eq!(m.media[0].aes_key, None);

    let file = bot_message(&integration(), &message("bot_file.json"), "s", now());
    assert_eq!(text_of(&file.kind).media[0].kind, MediaKind::File);

    let video = bot_message(&integration(), &message("bot_video_long_connection.json"), "s", now());
    let v = &text_of(&video.kind).media[0];
    assert_eq!(v.kind, MediaKind::Video);
    assert_eq!(
        v.aes_key.as_deref(),
        Some("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8")
    );
    // Long-connection frames have no response_url.
    assert!(matches!(video.reply, ReplyContext::WecomBot { response_url: None, .. }));
}

#[test]
fn mixed_messages_join_text_and_keep_images() {
    let msg = message("bot_mixed.json");
    let BotContent::Mixed(items) = &msg.content else {
        panic!("{:?}", msg.content)
    };
    assert_eq!(items.len(), 5);
    assert_eq!(items[4], MixedItem::Other("sticker".into()));
    let event = bot_message(&integration(), &msg, "s", now());
    let m = text_of(&event.kind);
    assert_eq!(m.text, "这张图里是什么\n还有这张");
    assert_eq!(m.media.len(), 2);
    assert_eq!(m.media[1].url.as_deref(), Some("https://example.invalid/img/2"));
}

#[test]
fn voice_is_its_transcript_and_quotes_are_kept() {
    let voice = bot_message(&integration(), &message("bot_voice.json"), "s", now());
    assert_eq!(text_of(&voice.kind).text, "明天上午十点提醒我开会");
    assert!(text_of(&voice.kind).media.is_empty());

    let quoted = bot_message(&integration(), &message("bot_quote.json"), "s", now());
    let q = text_of(&quoted.kind).quoted.as_ref().unwrap();
    assert_eq!(q.text.as_deref(), Some("路漫漫其修远兮"));
}

#[test]
fn unknown_message_types_are_unsupported_not_errors() {
    let msg = message("bot_unknown_msgtype.json");
    assert_eq!(
        msg.content,
        BotContent::Unsupported {
            msgtype: "location".into()
        }
    );
    let event = bot_message(&integration(), &msg, "s", now());
    assert_eq!(
        event.kind,
        InboundKind::Unsupported {
            raw_type: "location".into()
        }
    );
}

#[test]
fn stream_refresh() {
    assert_eq!(
        parse_bot_callback(&fixture("bot_stream_refresh.json")).unwrap(),
        BotCallback::StreamRefresh {
            msgid: "CAIQrcjMjQYY".into(),
            stream_id: "s0123456789abcdef01234567".into(),
        }
    );
    assert_eq!(
        parse_bot_callback(br#"{"msgid":"m","msgtype":"stream","stream":{}}"#),
        Err(CallbackError::MissingField("stream.id"))
    );
}

#[test]
fn events() {
    let enter = event("bot_enter_chat.json");
    assert_eq!(enter.kind, BotEventKind::EnterChat);
    assert_eq!(enter.from.corpid.as_deref(), Some("wpxxxx"));
    let e = bot_event(&integration(), &enter, now()).unwrap();
    assert_eq!(e.kind, InboundKind::EnterChat);
    assert_eq!(e.event_id, "EVT_ENTER_1");
    assert_eq!(e.occurred_at, Some(Timestamp::from_millis(1_700_000_000_000)));

    let card = event("bot_template_card_event.json");
    let BotEventKind::TemplateCard(c) = &card.kind else {
        panic!("{card:?}")
    };
    assert_eq!(c.selected_items[0].option_ids, vec!["one", "two"]);
    let e = bot_event(&integration(), &card, now()).unwrap();
    assert_eq!(
        e.kind,
        InboundKind::CardAction {
            action: "submit_key".into(),
            value: Some(json!({
                "task_id": "task_42",
                "card_type": "vote_interaction",
                "selected_items": [{"question_key": "q1", "option_ids": ["one", "two"]}],
            })),
        }
    );
    assert_eq!(e.conversation.id, "CHATID");
    assert!(matches!(
        &e.reply,
        ReplyContext::WecomBot {
            response_url: Some(_),
            stream_id: None,
            ..
        }
    ));

    let feedback = event("bot_feedback_event.json");
    let BotEventKind::Feedback(f) = &feedback.kind else {
        panic!("{feedback:?}")
    };
    assert_eq!((f.id.as_str(), f.kind), ("FEEDBACK_ID", 2));
    assert_eq!(f.inaccurate_reason_list, vec![2, 4]);
    assert_eq!(
        bot_event(&integration(), &feedback, now()).unwrap().kind,
        InboundKind::Feedback {
            rating: "dislike".into(),
            comment: Some("答案不准确".into())
        }
    );

    let disconnected = event("bot_disconnected_event.json");
    assert_eq!(disconnected.kind, BotEventKind::Disconnected);
    assert!(bot_event(&integration(), &disconnected, now()).is_none());

    let unknown = event("bot_unknown_event.json");
    assert_eq!(
        unknown.kind,
        BotEventKind::Unknown {
            eventtype: "brand_new_event".into()
        }
    );
    assert!(bot_event(&integration(), &unknown, now()).is_none());
}

#[test]
fn malformed_bot_json_is_a_clear_error() {
    let err = parse_bot_callback(b"{\"msgid\": \"secret-content").unwrap_err();
    assert!(matches!(&err, CallbackError::Json(m) if m.contains("line 1")), "{err}");
    assert!(!err.to_string().contains("secret-content"));
    assert!(matches!(parse_bot_callback(b"[1,2]"), Err(CallbackError::Json(_))));
    assert!(matches!(parse_bot_callback(br#"{"msgtype": 5}"#), Err(CallbackError::Json(m)) if !m.contains('5')));
    assert_eq!(
        parse_bot_callback(br#"{"msgid":"m"}"#),
        Err(CallbackError::MissingField("msgtype"))
    );
    assert_eq!(
        parse_bot_callback(br#"{"msgtype":"text","text":{"content":"x"}}"#),
        Err(CallbackError::MissingField("msgid"))
    );
    assert_eq!(
        parse_bot_callback(br#"{"msgid":"m","msgtype":"text","text":{"content":"x"}}"#),
        Err(CallbackError::MissingField("from.userid"))
    );
}

#[test]
fn bot_envelope() {
    assert_eq!(parse_bot_envelope(br#"{"encrypt":"abc="}"#).unwrap(), "abc=");
    assert_eq!(parse_bot_envelope(br#"{"Encrypt":"abc=","x":1}"#).unwrap(), "abc=");
    assert_eq!(
        parse_bot_envelope(br#"{"encrypt":""}"#),
        Err(CallbackError::MissingField("encrypt"))
    );
    assert_eq!(
        parse_bot_envelope(br#"{"encrypt":5}"#),
        Err(CallbackError::MissingField("encrypt"))
    );
    assert_eq!(parse_bot_envelope(b"{}"), Err(CallbackError::MissingField("encrypt")));
    assert!(matches!(
        parse_bot_envelope(b"encrypt=abc"),
        Err(CallbackError::Json(_))
    ));
}

#[test]
fn encrypted_bot_callback_end_to_end() {
    let crypto = Crypto::new(
        "t0k3nForGatewayTests",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "",
    )
    .unwrap();
    let encrypt = crypto.encrypt(&fixture("bot_text_group.json"));
    let body = serde_json::to_vec(&json!({ "encrypt": encrypt })).unwrap();
    let signature = crypto.signature("1717171717", "n1", &encrypt);
    let encrypt = parse_bot_envelope(&body).unwrap();
    let plain = crypto.open(&signature, "1717171717", "n1", &encrypt).unwrap();
    let BotCallback::Message(msg) = parse_bot_callback(&plain).unwrap() else {
        panic!("message")
    };
    let first = stream_id_for(&integration(), &msg.msgid);
    assert_eq!(first, stream_id_for(&integration(), "CAIQ16HMjQYY"));
    assert_eq!(
        bot_message(&integration(), &msg, &first, now()).event_id,
        "CAIQ16HMjQYY"
    );
}
