use serde_json::{Value, json};

use super::*;
use crate::wire::parse_update;

fn bot() -> Bot {
    Bot {
        id: 42,
        username: "My_Bot".into(),
    }
}

fn integration() -> IntegrationId {
    IntegrationId::generate()
}

fn update(message: Value) -> Update {
    let body = json!({"update_id": 777, "message": message});
    parse_update(body.to_string().as_bytes()).unwrap()
}

fn group_text(text: &str, entities: Value) -> Update {
    update(json!({"message_id": 9, "date": 1_700_000_000,
        "from": {"id": 1111, "is_bot": false, "first_name": "Alice", "last_name": "Liddell"},
        "chat": {"id": -100_555, "type": "supergroup", "title": "Team"},
        "text": text, "entities": entities}))
}

fn message_of(event: &InboundEvent) -> &EventMessage {
    match &event.kind {
        InboundKind::Message(message) => message,
        other => panic!("not a message: {other:?}"),
    }
}

fn normalized(update: &Update) -> InboundEvent {
    normalize(update, &integration(), Some(&bot()), Timestamp::from_millis(1)).unwrap()
}

#[test]
fn a_private_message_is_a_direct_conversation_answered_in_place() {
    let event = normalized(&update(json!({"message_id": 5, "date": 1_700_000_000,
        "from": {"id": 1111, "is_bot": false, "first_name": "Alice"},
        "chat": {"id": 1111, "type": "private"}, "text": "  hello there "})));
    assert_eq!(event.event_id, "777");
    assert_eq!(event.platform, Platform::Telegram);
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.conversation.id, "1111");
    assert_eq!(event.sender.id, "1111");
    assert_eq!(event.sender.name.as_deref(), Some("Alice"));
    let message = message_of(&event);
    assert_eq!(message.text, "hello there");
    assert!(message.mentions_bot);
    assert_eq!(message.command, None);
    assert_eq!(
        event.reply,
        ReplyContext::Telegram {
            chat_id: 1111,
            message_id: 5,
            message_thread_id: None
        }
    );
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_700_000_000_000)));
}

#[test]
fn group_messages_address_the_bot_by_command_mention_or_reply() {
    let cases = [
        ("/new", json!([{"type": "bot_command", "offset": 0, "length": 4}]), true),
        (
            "/new@my_bot",
            json!([{"type": "bot_command", "offset": 0, "length": 11}]),
            true,
        ),
        (
            "/new@other_bot",
            json!([{"type": "bot_command", "offset": 0, "length": 14}]),
            false,
        ),
        (
            "hi @MY_BOT there",
            json!([{"type": "mention", "offset": 3, "length": 7}]),
            true,
        ),
        (
            "hi @someone",
            json!([{"type": "mention", "offset": 3, "length": 8}]),
            false,
        ),
        ("just talking", json!([]), false),
    ];
    for (text, entities, addressed) in cases {
        let event = normalized(&group_text(text, entities));
        assert_eq!(event.conversation.kind, ConversationKind::Group);
        assert_eq!(message_of(&event).mentions_bot, addressed, "{text}");
    }
    let text_mention = group_text(
        "Bot please",
        json!([{"type": "text_mention", "offset": 0, "length": 3, "user": {"id": 42, "is_bot": true, "first_name": "Bot"}}]),
    );
    let event = normalized(&text_mention);
    assert!(message_of(&event).mentions_bot);
    assert_eq!(message_of(&event).text, "please");

    let reply = update(json!({"message_id": 10, "date": 1,
        "from": {"id": 1111, "is_bot": false, "first_name": "Alice"},
        "chat": {"id": -100_555, "type": "group"}, "text": "and then?",
        "reply_to_message": {"message_id": 8, "date": 1, "from": {"id": 42, "is_bot": true, "first_name": "Bot"},
            "chat": {"id": -100_555, "type": "group"}, "text": "first answer"}}));
    let event = normalized(&reply);
    assert!(message_of(&event).mentions_bot, "a reply to the bot addresses it");
    assert_eq!(
        message_of(&event).quoted,
        Some(Quote {
            message_id: Some("8".into()),
            text: Some("first answer".into())
        })
    );
}

#[test]
fn the_bots_mentions_leave_the_text_and_others_stay_as_mentions() {
    let event = normalized(&group_text(
        "@my_bot ask 😀 @carol about it",
        json!([{"type": "mention", "offset": 0, "length": 7}, {"type": "mention", "offset": 15, "length": 6}]),
    ));
    let message = message_of(&event);
    assert_eq!(message.text, "ask 😀 @carol about it");
    assert_eq!(message.mentions.len(), 1);
    assert_eq!(message.mentions[0].id, "carol");
}

#[test]
fn commands_with_the_bot_suffix_are_commands() {
    let event = normalized(&group_text(
        "/status@my_bot",
        json!([{"type": "bot_command", "offset": 0, "length": 14}]),
    ));
    let command = message_of(&event).command.clone().unwrap();
    assert_eq!(command.name, "status");
}

#[test]
fn forum_topics_are_threads_and_answers_go_back_into_them() {
    let event = normalized(&update(
        json!({"message_id": 11, "date": 1, "message_thread_id": 7, "is_topic_message": true,
        "from": {"id": 1111, "first_name": "A"}, "chat": {"id": -1009, "type": "supergroup", "is_forum": true},
        "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}),
    ));
    assert_eq!(event.conversation.thread_id.as_deref(), Some("7"));
    assert_eq!(
        event.reply,
        ReplyContext::Telegram {
            chat_id: -1009,
            message_id: 11,
            message_thread_id: Some(7)
        }
    );
}

#[test]
fn other_bots_are_marked_and_media_are_kept_as_file_ids() {
    let event = normalized(&update(json!({"message_id": 12, "date": 1,
        "from": {"id": 99, "is_bot": true, "first_name": "Other"},
        "chat": {"id": 1111, "type": "private"}, "caption": "look",
        "photo": [{"file_id": "small", "width": 90, "height": 90}, {"file_id": "large", "width": 1280, "height": 960, "file_size": 2048}],
        "document": {"file_id": "doc1", "file_name": "a.pdf", "mime_type": "application/pdf", "file_size": 10}})));
    assert!(event.sender.is_bot);
    let message = message_of(&event);
    assert_eq!(message.text, "look");
    let keys: Vec<_> = message.media.iter().map(|m| (m.kind, m.key.clone().unwrap())).collect();
    assert_eq!(
        keys,
        [
            (MediaKind::Image, "large".to_owned()),
            (MediaKind::File, "doc1".to_owned())
        ]
    );
    assert_eq!(message.media[1].name.as_deref(), Some("a.pdf"));
}

#[test]
fn updates_without_a_new_message_are_left_out_and_unknown_identity_answers_groups() {
    let edited = parse_update(br#"{"update_id": 1, "edited_message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "x"}}"#).unwrap();
    assert_eq!(
        normalize(&edited, &integration(), Some(&bot()), Timestamp::from_millis(1)),
        None
    );
    let plain = group_text("just talking", json!([]));
    let event = normalize(&plain, &integration(), None, Timestamp::from_millis(1)).unwrap();
    assert!(message_of(&event).mentions_bot);
}
