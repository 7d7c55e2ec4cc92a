use serde_json::json;

use super::*;
use crate::wire::{parse_interaction, parse_message};

const BOT: &str = "1100000000000000001";

fn integration() -> IntegrationId {
    IntegrationId::generate()
}

fn guild_message(content: &str, mentions: serde_json::Value) -> Message {
    parse_message(&json!({"id": "2000", "channel_id": "300", "guild_id": "400",
        "author": {"id": "500", "username": "alice", "global_name": "Alice"},
        "content": content, "mentions": mentions}))
    .unwrap()
}

fn message_of(event: &InboundEvent) -> &EventMessage {
    match &event.kind {
        InboundKind::Message(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn guild_messages_address_the_bot_by_mention_or_reply() {
    let mentioned = guild_message(
        &format!("<@{BOT}> what is   up"),
        json!([{"id": BOT, "username": "bot", "bot": true}]),
    );
    let event = message(&mentioned, &integration(), BOT, Timestamp::from_millis(1)).unwrap();
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    assert_eq!(message_of(&event).text, "what is up");
    assert!(message_of(&event).mentions_bot);
    assert_eq!(event.sender.name.as_deref(), Some("Alice"));
    assert_eq!(
        event.reply,
        ReplyContext::Discord {
            channel_id: "300".into(),
            message_id: Some("2000".into()),
            interaction_token: None,
            guild_id: Some("400".into())
        }
    );

    let chatter = guild_message("just talking", json!([]));
    assert!(!message_of(&message(&chatter, &integration(), BOT, Timestamp::from_millis(1)).unwrap()).mentions_bot);

    let mut reply = guild_message("and then?", json!([]));
    reply.referenced_message = Some(Box::new(guild_message("earlier", json!([]))));
    reply.referenced_message.as_mut().unwrap().author.id = BOT.into();
    assert!(message_of(&message(&reply, &integration(), BOT, Timestamp::from_millis(1)).unwrap()).mentions_bot);
}

#[test]
fn direct_messages_own_messages_and_bots() {
    let dm = parse_message(
        &json!({"id": "1", "channel_id": "9", "author": {"id": "500", "username": "a"}, "content": "/new hi"}),
    )
    .unwrap();
    let event = message(&dm, &integration(), BOT, Timestamp::from_millis(1)).unwrap();
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(message_of(&event).command.as_ref().unwrap().name, "new");

    let own = parse_message(
        &json!({"id": "2", "channel_id": "9", "author": {"id": BOT, "username": "me", "bot": true}, "content": "x"}),
    )
    .unwrap();
    assert_eq!(message(&own, &integration(), BOT, Timestamp::from_millis(1)), None);

    let other_bot = parse_message(
        &json!({"id": "3", "channel_id": "9", "author": {"id": "77", "username": "b", "bot": true}, "content": "x"}),
    )
    .unwrap();
    assert!(
        message(&other_bot, &integration(), BOT, Timestamp::from_millis(1))
            .unwrap()
            .sender
            .is_bot
    );
}

#[test]
fn slash_commands_and_the_new_conversation_button() {
    let ask = parse_interaction(br#"{"id":"10","application_id":"1","type":2,"token":"tok","channel_id":"300","guild_id":"400",
        "member":{"user":{"id":"500","username":"alice"}},"data":{"name":"ask","options":[{"name":"text","type":3,"value":" why? "}]}}"#).unwrap();
    let event = interaction(&ask, &integration(), Timestamp::from_millis(1)).unwrap();
    assert_eq!(event.event_id, "10");
    assert_eq!(message_of(&event).text, "why?");
    assert!(message_of(&event).mentions_bot);
    assert!(
        matches!(&event.reply, ReplyContext::Discord { interaction_token: Some(t), message_id: None, .. } if t == "tok")
    );

    let status = parse_interaction(br#"{"id":"11","application_id":"1","type":2,"token":"t","channel_id":"9","user":{"id":"500","username":"a"},"data":{"name":"status"}}"#).unwrap();
    let event = interaction(&status, &integration(), Timestamp::from_millis(1)).unwrap();
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(message_of(&event).command.as_ref().unwrap().name, "status");

    // `/switch` with its optional agent: the command with its argument.
    let switch = parse_interaction(br#"{"id":"14","application_id":"1","type":2,"token":"t","channel_id":"9","user":{"id":"500","username":"a"},"data":{"name":"switch","options":[{"type":3,"name":"agent","value":"gpt"}]}}"#).unwrap();
    let event = interaction(&switch, &integration(), Timestamp::from_millis(1)).unwrap();
    let command = message_of(&event).command.clone().unwrap();
    assert_eq!((command.name.as_str(), command.args.as_str()), ("switch", "gpt"));

    let button = parse_interaction(format!(r#"{{"id":"12","application_id":"1","type":3,"token":"t","channel_id":"9","user":{{"id":"500","username":"a"}},"data":{{"name":"","custom_id":"{NEW_SESSION_ACTION}"}}}}"#).as_bytes()).unwrap();
    assert!(matches!(
        interaction(&button, &integration(), Timestamp::from_millis(1))
            .unwrap()
            .kind,
        InboundKind::CardAction { .. }
    ));

    let ping = parse_interaction(br#"{"id":"13","application_id":"1","type":1,"token":"t"}"#).unwrap();
    assert_eq!(interaction(&ping, &integration(), Timestamp::from_millis(1)), None);
}
