//! DingTalk robot messages: the official samples (developerpedia `docs/learn/bot/message.md`) and
//! constructed group / external-sender payloads, parsed and normalized.

#![allow(clippy::unwrap_used)]

use imgate_core::event::{ConversationKind, InboundEvent, InboundKind, MediaKind, Mention, Message, ReplyContext};
use imgate_core::{IntegrationId, Platform, Timestamp};
use imgate_dingtalk::normalize::robot_message;
use imgate_dingtalk::wire::{Content, ConversationType, RichTextItem, parse_robot_message};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/dingtalk/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn normalize(name: &str) -> InboundEvent {
    let msg = parse_robot_message(&fixture(name)).unwrap();
    robot_message(
        &IntegrationId::generate(),
        &msg,
        Timestamp::from_millis(1_695_283_636_000),
    )
}

fn message(event: &InboundEvent) -> &Message {
    match &event.kind {
        InboundKind::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn single_chat_text() {
    let msg = parse_robot_message(&fixture("text_single.json")).unwrap();
    assert_eq!(msg.conversation_type, ConversationType::Single);
    assert_eq!(msg.content, Content::Text("hello DingTalk!".into()));
    assert!(msg.is_admin);
    assert_eq!(msg.robot_code.as_deref(), Some("ding****c6gk"));

    let event = normalize("text_single.json");
    assert_eq!(event.event_id, "msgY****Pw==");
    assert_eq!(event.platform, Platform::Dingtalk);
    assert_eq!(event.conversation.id, "cide****4g=");
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.conversation.name, None);
    assert_eq!(event.sender.id, "042***297");
    assert_eq!(event.sender.name.as_deref(), Some("张三"));
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_695_283_635_765)));
    let m = message(&event);
    assert_eq!(m.text, "hello DingTalk!");
    assert!(!m.mentions_bot);
    assert!(m.command.is_none());
    assert_eq!(
        event.reply,
        ReplyContext::Dingtalk {
            session_webhook: Some("https://oapi.dingtalk.com/robot/sendBySession?session=79b48****4d4b".into()),
            session_webhook_expires_at: Some(Timestamp::from_millis(1_695_289_035_996)),
            conversation_id: "cide****4g=".into(),
            sender_staff_id: Some("042***297".into()),
        }
    );
    // The webhook lives ~90 minutes in the official sample.
    let ReplyContext::Dingtalk {
        session_webhook_expires_at: Some(expiry),
        ..
    } = event.reply
    else {
        panic!()
    };
    assert_eq!(expiry.since(event.occurred_at.unwrap()).as_secs(), 5400);
}

#[test]
fn group_text_with_a_command_and_another_mention() {
    let event = normalize("text_group.json");
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(event.conversation.name.as_deref(), Some("项目群"));
    let m = message(&event);
    assert!(m.mentions_bot);
    // Other users are mentioned, so the text is only trimmed.
    assert_eq!(m.text, "/new  @李四 一起看看");
    let command = m.command.as_ref().unwrap();
    assert_eq!(
        (command.name.as_str(), command.args.as_str()),
        ("new", "@李四 一起看看")
    );
    assert_eq!(
        m.mentions,
        vec![Mention {
            id: "lisi01".into(),
            name: None
        }]
    );
    // Same sender in another group: a different session key.
    assert_ne!(event.session_key(), normalize("text_single.json").session_key());
}

#[test]
fn media_carry_download_codes() {
    let picture = normalize("picture.json");
    let m = message(&picture);
    assert_eq!(m.text, "");
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].kind, MediaKind::Image);
    assert_eq!(m.media[0].key.as_deref(), Some("mIof****JE0E"));
    assert_eq!(m.media[0].url, None);

    let video = normalize("video.json");
    let v = &message(&video).media[0];
    assert_eq!(
        (v.kind, v.key.as_deref(), v.mime.as_deref()),
        (MediaKind::Video, Some("mIof****SaqP"), Some("video/mp4"))
    );

    let file = normalize("file.json");
    let f = &message(&file).media[0];
    assert_eq!((f.kind, f.name.as_deref()), (MediaKind::File, Some("foobar.zip")));
    assert_eq!(f.key.as_deref(), Some("LJYY****bw=="));

    let audio = normalize("audio.json");
    let a = message(&audio);
    assert_eq!(a.text, "钉钉PaaS开放中心，致力为企业……");
    assert_eq!(a.media[0].kind, MediaKind::Voice);
    let parsed = parse_robot_message(&fixture("audio.json")).unwrap();
    let Content::Audio { media, .. } = parsed.content else {
        panic!()
    };
    assert_eq!(media.duration.as_deref(), Some("4000"));
}

#[test]
fn rich_text_keeps_text_and_pictures() {
    let parsed = parse_robot_message(&fixture("rich_text.json")).unwrap();
    let Content::RichText(items) = &parsed.content else {
        panic!()
    };
    assert_eq!(items.len(), 3);
    assert!(
        matches!(&items[1], RichTextItem::Picture(p) if p.picture_download_code.as_deref() == Some("pWjA****SjIg"))
    );
    let event = normalize("rich_text.json");
    let m = message(&event);
    assert_eq!(m.text, "这个问题示例图如下：\n通过以上示意图可以明白完整的交互流程");
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].key.as_deref(), Some("mIof****7A=="));
}

#[test]
fn unsupported_content_is_kept_as_such() {
    let event = normalize("unknown.json");
    assert_eq!(
        event.kind,
        InboundKind::Unsupported {
            raw_type: "unknownMsgType".into()
        }
    );
    assert_eq!(event.event_id, "msgN****Uw==");
}

#[test]
fn external_senders_fall_back_to_the_encrypted_id() {
    let event = normalize("external_sender.json");
    assert_eq!(event.sender.id, "$:LWCP_v1:$external==");
    assert_eq!(message(&event).text, "hi");
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_695_283_635_765)));
    let ReplyContext::Dingtalk {
        session_webhook,
        sender_staff_id,
        ..
    } = &event.reply
    else {
        panic!()
    };
    assert!(session_webhook.is_none() && sender_staff_id.is_none());
}

#[test]
fn normalized_events_survive_the_queue_envelope() {
    for name in ["text_group.json", "picture.json", "rich_text.json", "unknown.json"] {
        let event = normalize(name);
        let json = serde_json::to_string(&event).unwrap();
        let back: InboundEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event, "{name}");
    }
}
