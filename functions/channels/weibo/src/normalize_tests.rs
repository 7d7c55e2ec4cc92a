use imgate_core::event::{ConversationKind, InboundKind, MediaKind, ReplyContext};
use imgate_core::{IntegrationId, Timestamp};

use super::*;
use crate::wire::{Frame, parse};

fn message(json: &str) -> InboundMessage {
    match parse(json) {
        Ok(Frame::Message(message)) => *message,
        other => panic!("not a message frame: {other:?}"),
    }
}

/// §11: the plugin's three normalization cases.
#[test]
fn the_notes_vectors() {
    let legacy = message(r#"{"type":"message","payload":{"messageId":"m1","fromUserId":"1","text":"legacy text"}}"#);
    assert_eq!(content(&legacy).text, "legacy text");
    assert!(content(&legacy).media.is_empty());

    let both = message(
        r#"{"type":"message","payload":{"messageId":"m2","fromUserId":"1","text":"legacy text",
            "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"new text"}]}]}}"#,
    );
    assert_eq!(content(&both).text, "new text");

    let attached = message(
        r#"{"type":"message","payload":{"messageId":"m3","fromUserId":"1","text":"t",
            "input":[{"type":"message","role":"user","content":[
              {"type":"input_text","text":"帮我看看这两份附件"},
              {"type":"input_image","filename":"image.png","source":{"type":"base64","media_type":"image/png","data":"aGVsbG8="}},
              {"type":"input_file","filename":"doc.txt","source":{"type":"base64","media_type":"text/plain","data":"d29ybGQ="}}]}]}}"#,
    );
    let got = content(&attached);
    assert_eq!(got.text, "帮我看看这两份附件");
    assert_eq!(got.media.len(), 2);
    assert_eq!(got.media[0].kind, MediaKind::Image);
    assert_eq!(got.media[0].name.as_deref(), Some("image.png"));
    assert_eq!(got.media[0].mime.as_deref(), Some("image/png"));
    assert_eq!(got.media[0].size, Some(5));
    assert_eq!(got.media[0].url, None, "the bytes are not kept");
    assert_eq!(got.media[1].kind, MediaKind::File);
    assert_eq!(got.media[1].name.as_deref(), Some("doc.txt"));
    assert_eq!(got.media[1].size, Some(5));
}

#[test]
fn texts_are_joined_and_other_roles_and_parts_ignored() {
    let m = message(
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"1","input":[
            {"type":"message","role":"user","content":[{"type":"input_text","text":"one"},{"type":"input_audio","text":"x"},{"type":"input_text","text":"two"}]},
            {"type":"message","role":"assistant","content":[{"type":"input_text","text":"not mine"}]}]}}"#,
    );
    assert_eq!(content(&m).text, "one\ntwo");
    let broken_image = message(
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"1","input":[{"role":"user","content":[
            {"type":"input_image","filename":"x.png","source":{"type":"base64","data":"%%%not base64"}}]}]}}"#,
    );
    assert!(content(&broken_image).media.is_empty());
}

#[test]
fn events_are_direct_and_answer_the_sender() {
    let integration = IntegrationId::generate();
    let m = message(
        r#"{"type":"message","payload":{"messageId":"msg_in_1","fromUserId":"1234567890","text":"/new hi","timestamp":1741080000000}}"#,
    );
    let event = normalize(&m, &integration, Timestamp::from_millis(5)).unwrap();
    assert_eq!(event.event_id, "msg_in_1");
    assert_eq!(event.conversation.id, "1234567890");
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.sender.id, "1234567890");
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_741_080_000_000)));
    let InboundKind::Message(body) = &event.kind else {
        panic!("a message");
    };
    assert!(body.mentions_bot);
    assert_eq!(body.command.as_ref().map(|c| c.name.as_str()), Some("new"));
    assert_eq!(
        event.reply,
        ReplyContext::Weibo {
            to_user_id: "1234567890".into(),
            stream_id: stream_id_for(&integration, "msg_in_1"),
        }
    );
}

#[test]
fn nothing_for_the_agent_is_dropped() {
    let integration = IntegrationId::generate();
    let now = Timestamp::from_millis(1);
    for json in [
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"1","text":"  "}}"#,
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"1"}}"#,
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"","text":"hi"}}"#,
    ] {
        assert_eq!(normalize(&message(json), &integration, now), None, "{json}");
    }
    let only_file = message(
        r#"{"type":"message","payload":{"messageId":"m","fromUserId":"1","input":[{"role":"user","content":[
            {"type":"input_file","filename":"a.txt","source":{"type":"base64","media_type":"text/plain","data":"d29ybGQ="}}]}]}}"#,
    );
    assert!(normalize(&only_file, &integration, now).is_some());
}

#[test]
fn empty_message_ids_fall_back_to_a_content_digest() {
    let a = message(r#"{"type":"message","payload":{"messageId":"","fromUserId":"1","text":"hi","timestamp":5}}"#);
    let again = message(r#"{"type":"message","payload":{"messageId":"","fromUserId":"1","text":"hi","timestamp":5}}"#);
    let later = message(r#"{"type":"message","payload":{"messageId":"","fromUserId":"1","text":"hi","timestamp":6}}"#);
    let other = message(r#"{"type":"message","payload":{"messageId":"","fromUserId":"2","text":"hi","timestamp":5}}"#);
    let id = dedupe_id(&a);
    assert_eq!(id.len(), 17);
    assert!(id.starts_with('h'));
    assert_eq!(id, dedupe_id(&again));
    assert_ne!(id, dedupe_id(&later));
    assert_ne!(id, dedupe_id(&other));
    let named = message(r#"{"type":"message","payload":{"messageId":"abc","fromUserId":"1","text":"hi"}}"#);
    assert_eq!(dedupe_id(&named), "abc");
}
