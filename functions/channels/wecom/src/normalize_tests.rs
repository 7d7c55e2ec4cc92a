use super::*;
use crate::wire::{BotFrom, BotQuote};

fn integration(n: u8) -> IntegrationId {
    format!("int_{}", format!("{n:x}").repeat(32)).parse().unwrap()
}

fn group_message(text: &str) -> BotMessage {
    BotMessage {
        msgid: "m1".into(),
        aibotid: "b".into(),
        chatid: Some("g1".into()),
        chattype: ChatType::Group,
        from: BotFrom {
            userid: "u1".into(),
            corpid: None,
        },
        response_url: None,
        create_time: Some(1_700_000_000),
        content: BotContent::Text(text.into()),
        quote: None,
    }
}

#[test]
fn stream_ids_are_deterministic_and_scoped() {
    let a = stream_id_for(&integration(1), "msg");
    assert_eq!(a, stream_id_for(&integration(1), "msg"));
    assert_ne!(a, stream_id_for(&integration(2), "msg"));
    assert_ne!(a, stream_id_for(&integration(1), "msg2"));
    assert_eq!(a.len(), 25);
    assert!(a.starts_with('s') && a[1..].bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn group_text_mentions_the_bot_and_keeps_occurred_at() {
    let event = bot_message(
        &integration(1),
        &group_message("@bot /Help me"),
        "s1",
        Timestamp::from_millis(5),
    );
    let InboundKind::Message(m) = &event.kind else {
        panic!("{event:?}")
    };
    assert_eq!(m.text, "/Help me");
    assert!(m.mentions_bot);
    assert_eq!(m.command.as_ref().map(|c| c.name.as_str()), Some("help"));
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_700_000_000_000)));
    assert_eq!(event.session_key().conversation, "g1");
    assert_eq!(event.session_key().sender, "u1");
}

#[test]
fn quoted_media_has_no_text() {
    let mut msg = group_message("@bot look");
    msg.quote = Some(BotQuote {
        content: BotContent::Image(BotMedia {
            url: "https://x".into(),
            aeskey: None,
        }),
    });
    let event = bot_message(&integration(1), &msg, "s", Timestamp::from_millis(0));
    let InboundKind::Message(m) = &event.kind else {
        panic!("{event:?}")
    };
    assert_eq!(
        m.quoted,
        Some(Quote {
            message_id: None,
            text: None
        })
    );
}

#[test]
fn unknown_chat_type_with_chatid_is_a_group() {
    let mut msg = group_message("@bot hi");
    msg.chattype = ChatType::Other;
    let event = bot_message(&integration(1), &msg, "s", Timestamp::from_millis(0));
    assert_eq!(event.conversation.kind, ConversationKind::Group);
    msg.chatid = None;
    let event = bot_message(&integration(1), &msg, "s", Timestamp::from_millis(0));
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.conversation.id, "u1");
}
