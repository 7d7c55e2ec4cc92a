//! Normalization of text, post, group mentions, media and unknown types.

use super::*;
use crate::verify::tests::V2_PLAIN;
use crate::wire::tests::plain_event;
use crate::wire::{Callback, MESSAGE_RECEIVE, SignatureHeaders, Verifier};

const NOW: Timestamp = Timestamp::from_millis(1_700_000_001_000);

fn open(body: &str) -> Envelope {
    let verifier = Verifier::new(Some("test-verification-token"), None);
    match verifier.open(body.as_bytes(), SignatureHeaders::default()) {
        Ok(Callback::Event(envelope)) => envelope,
        other => panic!("not an event: {other:?}"),
    }
}

fn normalize(body: &str, bot: Option<&str>) -> InboundEvent {
    envelope(&IntegrationId::generate(), &open(body), bot, NOW).expect("a message")
}

fn message_of(event: &InboundEvent) -> &Message {
    match &event.kind {
        InboundKind::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

fn group_text(text: &str, mentions: &str) -> String {
    let content = serde_json::json!({ "text": text }).to_string();
    plain_event(
        MESSAGE_RECEIVE,
        &format!(
            r#"{{"message_id":"om_g","root_id":"om_root","chat_id":"oc_g","chat_type":"group","message_type":"text","content":{},"mentions":{mentions}}}"#,
            serde_json::Value::from(content)
        ),
    )
}

const BOT_AND_ALICE: &str = r#"[{"key":"@_user_1","id":{"open_id":"ou_bot"},"name":"Bot","mentioned_type":"bot"},{"key":"@_user_2","id":{"open_id":"ou_alice"},"name":"Alice"}]"#;

#[test]
fn direct_text_from_vector_2() {
    let event = normalize(V2_PLAIN, Some("ou_bot"));
    // The message id, not the event id: a message sent again under a new event id is one message.
    assert_eq!(event.event_id, "om_msg1");
    assert_eq!(event.platform, Platform::Lark);
    assert_eq!(event.conversation.id, "oc_chat1");
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.sender.id, "ou_user1");
    assert!(!event.sender.is_bot);
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_700_000_000_000)));
    assert_eq!(event.received_at, NOW);
    assert_eq!(
        event.reply,
        ReplyContext::Lark {
            message_id: "om_msg1".into(),
            chat_id: "oc_chat1".into(),
            root_id: None
        }
    );
    let m = message_of(&event);
    assert_eq!(m.text, "hi");
    assert!(!m.mentions_bot);
    assert!(m.mentions.is_empty() && m.media.is_empty() && m.command.is_none() && m.quoted.is_none());
}

#[test]
fn group_mention_of_the_bot_is_removed_and_others_named() {
    let event = normalize(
        &group_text("@_user_1 /new hello @_user_2", BOT_AND_ALICE),
        Some("ou_bot"),
    );
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(
        event.reply,
        ReplyContext::Lark {
            message_id: "om_g".into(),
            chat_id: "oc_g".into(),
            root_id: Some("om_root".into())
        }
    );
    let m = message_of(&event);
    assert_eq!(m.text, "/new hello @Alice");
    assert!(m.mentions_bot);
    assert_eq!(
        m.mentions,
        vec![Mention {
            id: "ou_alice".into(),
            name: Some("Alice".into())
        }]
    );
    let command = m.command.as_ref().expect("a command");
    assert_eq!((command.name.as_str(), command.args.as_str()), ("new", "hello @Alice"));
}

#[test]
fn group_message_for_someone_else() {
    let event = normalize(
        &group_text("@_user_2 hi", BOT_AND_ALICE.replace("ou_bot", "ou_other").as_str()),
        Some("ou_bot"),
    );
    let m = message_of(&event);
    assert!(!m.mentions_bot);
    assert_eq!(m.text, "@Alice hi");
    assert_eq!(m.mentions.len(), 2);
}

#[test]
fn unknown_bot_id_uses_the_mention_type_and_group_delivery() {
    let event = normalize(&group_text("@_user_1 hi", BOT_AND_ALICE), None);
    let m = message_of(&event);
    assert!(m.mentions_bot);
    assert_eq!(m.text, "hi");
    assert_eq!(m.mentions.len(), 1);
    let direct = normalize(V2_PLAIN, None);
    assert!(!message_of(&direct).mentions_bot);
}

#[test]
fn placeholder_keys_do_not_overlap() {
    let mentions: Vec<MentionEvent> = (1..=10)
        .map(|i| MentionEvent {
            key: format!("@_user_{i}"),
            name: Some(format!("U{i}")),
            ..MentionEvent::default()
        })
        .collect();
    assert_eq!(
        replace_mentions(" @_user_10 and @_user_1 ", &mentions, |_| false),
        "@U10 and @U1"
    );
    assert_eq!(replace_mentions("@_user_1 x", &mentions[..1], |_| true), "x");
    assert_eq!(replace_mentions("a @_user_3", &[], |_| false), "a @_user_3");
}

#[test]
fn post_with_mention_and_image() {
    let content = r#"{"title":"","content":[[{"tag":"at","user_id":"@_user_1","user_name":"Bot"},{"tag":"text","text":" look"}],[{"tag":"img","image_key":"img_1"}]]}"#;
    let body = plain_event(
        MESSAGE_RECEIVE,
        &format!(
            r#"{{"message_id":"om_p","chat_id":"oc_g","chat_type":"group","message_type":"post","content":{},"mentions":{BOT_AND_ALICE}}}"#,
            serde_json::Value::from(content)
        ),
    );
    let event = normalize(&body, Some("ou_bot"));
    let m = message_of(&event);
    assert_eq!(m.text, "look");
    assert!(m.mentions_bot);
    assert_eq!(m.media.len(), 1);
    assert_eq!(m.media[0].kind, MediaKind::Image);
    assert_eq!(m.media[0].key.as_deref(), Some("om_p/img_1"));
}

#[test]
fn media_messages_and_quotes() {
    let body = plain_event(
        MESSAGE_RECEIVE,
        r#"{"message_id":"om_f","parent_id":"om_parent","chat_id":"oc_1","chat_type":"p2p","message_type":"file","content":"{\"file_key\":\"file_1\",\"file_name\":\"a.pdf\"}"}"#,
    );
    let event = normalize(&body, Some("ou_bot"));
    let m = message_of(&event);
    assert_eq!(m.text, "");
    assert_eq!(m.media[0].kind, MediaKind::File);
    assert_eq!(m.media[0].key.as_deref(), Some("om_f/file_1"));
    assert_eq!(m.media[0].name.as_deref(), Some("a.pdf"));
    assert_eq!(
        m.quoted,
        Some(Quote {
            message_id: Some("om_parent".into()),
            text: None
        })
    );
}

#[test]
fn unknown_message_types_are_unsupported() {
    let body = plain_event(
        MESSAGE_RECEIVE,
        r#"{"message_id":"om_i","chat_id":"oc_1","chat_type":"topic_group","message_type":"interactive","content":"{}"}"#,
    );
    let event = normalize(&body, Some("ou_bot"));
    assert_eq!(
        event.kind,
        InboundKind::Unsupported {
            raw_type: "interactive".into()
        }
    );
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(event.event_id, "om_i");
}

#[test]
fn other_events_are_not_queued() {
    let body = plain_event("im.chat.member.bot.added_v1", "{}");
    assert_eq!(envelope(&IntegrationId::generate(), &open(&body), None, NOW), None);
}

#[test]
fn bot_senders_are_marked() {
    let body = V2_PLAIN.replace(r#""sender_type":"user""#, r#""sender_type":"app""#);
    assert!(normalize(&body, Some("ou_bot")).sender.is_bot);
}

#[test]
fn card_clicks_become_card_actions_in_the_cards_chat() {
    let body = plain_event("card.action.trigger", "{}").replace(
        r#""event":{"sender":{"sender_id":{"open_id":"ou_user1"},"sender_type":"user"},"message":{}}"#,
        r#""event":{"operator":{"open_id":"ou_user1","user_id":"u1"},"token":"c-1","action":{"tag":"button","value":{"action":"imgate_new_session","chat_type":"group"}},"context":{"open_message_id":"om_card","open_chat_id":"oc_g"}}"#,
    );
    let envelope = crate::wire::parse_plain(body.as_bytes()).unwrap();
    let id = IntegrationId::generate();
    let event = envelope_event(&id, &envelope).expect("a click is queued");
    assert_eq!(event.event_id, "ev_1");
    assert_eq!(event.sender.id, "ou_user1");
    assert_eq!(event.conversation.id, "oc_g");
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(
        event.reply,
        ReplyContext::Lark {
            message_id: "om_card".into(),
            chat_id: "oc_g".into(),
            root_id: None
        }
    );
    let InboundKind::CardAction { action, value } = &event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(action, "imgate_new_session");
    assert_eq!(value.as_ref().unwrap()["chat_type"], "group");

    // A click without its chat cannot be answered: not queued.
    let orphan = body.replace(r#""open_chat_id":"oc_g""#, r#""open_chat_id":"""#);
    let envelope = crate::wire::parse_plain(orphan.as_bytes()).unwrap();
    assert!(envelope_event(&id, &envelope).is_none());
}

fn envelope_event(id: &IntegrationId, envelope: &crate::wire::Envelope) -> Option<InboundEvent> {
    super::envelope(id, envelope, Some("ou_bot"), Timestamp::from_millis(1_700_000_000_000))
}
