use super::*;

fn message(json: &str) -> Message {
    serde_json::from_str(json).unwrap()
}

fn id() -> IntegrationId {
    IntegrationId::generate()
}

#[test]
fn a_text_message_is_a_private_addressed_message() {
    let m = message(
        r#"{"seq":101,"message_id":7505631358879709960,"from_user_id":"o9cq80abc@im.wechat",
        "to_user_id":"e06c@im.bot","create_time_ms":1789481963761,"message_type":1,"message_state":2,
        "context_token":"AARzJWAF","item_list":[{"type":1,"text_item":{"text":"你好"}}]}"#,
    );
    let event = normalize(&m, &id(), Timestamp::now()).unwrap();
    assert_eq!(event.event_id, "7505631358879709960");
    assert_eq!(event.platform, Platform::Wechat);
    assert_eq!(event.conversation.kind, ConversationKind::Direct);
    assert_eq!(event.conversation.id, "o9cq80abc@im.wechat");
    let InboundKind::Message(body) = &event.kind else {
        panic!("a message")
    };
    assert_eq!(body.text, "你好");
    assert!(body.mentions_bot);
    assert_eq!(
        event.reply,
        ReplyContext::Wechat {
            to_user_id: "o9cq80abc@im.wechat".into(),
            context_token: Some(Secret::new("AARzJWAF")),
        }
    );
    assert_eq!(event.occurred_at, Some(Timestamp::from_millis(1_789_481_963_761)));
}

#[test]
fn the_bots_own_messages_and_senderless_ones_are_left_out() {
    let echo = message(r#"{"message_id":1,"from_user_id":"","message_type":2,"item_list":[]}"#);
    assert!(normalize(&echo, &id(), Timestamp::now()).is_none());
    let echo = message(r#"{"message_id":1,"from_user_id":"o@im.wechat","message_type":2}"#);
    assert!(normalize(&echo, &id(), Timestamp::now()).is_none());
    let nobody = message(r#"{"message_id":1,"message_type":1}"#);
    assert!(normalize(&nobody, &id(), Timestamp::now()).is_none());
}

#[test]
fn voice_gives_its_transcript_and_media_become_references() {
    let m = message(
        r#"{"message_id":"9","from_user_id":"o@im.wechat","message_type":1,"item_list":[
        {"type":3,"voice_item":{"media":{"encrypt_query_param":"q1","aes_key":"k1"},"encode_type":6,"text":"语音转文字"}},
        {"type":2,"image_item":{"aeskey":"00112233445566778899aabbccddeeff","media":{"encrypt_query_param":"q2","aes_key":"ABEiM0RVZneImaq7zN3u/w==","full_url":"https://cdn/x"}}},
        {"type":4,"file_item":{"media":{"encrypt_query_param":"q3"},"file_name":"a.pdf","len":"1234"}}]}"#,
    );
    let event = normalize(&m, &id(), Timestamp::now()).unwrap();
    let InboundKind::Message(body) = &event.kind else {
        panic!("a message")
    };
    assert_eq!(body.text, "语音转文字");
    let kinds: Vec<_> = body.media.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MediaKind::Voice, MediaKind::Image, MediaKind::File]);
    assert_eq!(body.media[1].url.as_deref(), Some("https://cdn/x"));
    assert_eq!(
        body.media[1].aes_key.as_deref(),
        Some("00112233445566778899aabbccddeeff"),
        "an image's own aeskey wins"
    );
    assert_eq!(body.media[0].aes_key.as_deref(), Some("k1"));
    assert_eq!(body.media[2].name.as_deref(), Some("a.pdf"));
    assert_eq!(body.media[2].size, Some(1234));
}

#[test]
fn ids_fall_back_in_the_notes_order_and_stay_stable() {
    let by_client = message(r#"{"client_id":"c1","seq":5,"from_user_id":"o@im.wechat"}"#);
    assert_eq!(
        normalize(&by_client, &id(), Timestamp::now()).unwrap().event_id,
        "client:c1"
    );
    let by_seq = message(r#"{"seq":5,"from_user_id":"o@im.wechat"}"#);
    assert_eq!(normalize(&by_seq, &id(), Timestamp::now()).unwrap().event_id, "seq:5");
    let bare =
        r#"{"from_user_id":"o@im.wechat","create_time_ms":7,"item_list":[{"type":1,"text_item":{"text":"hi"}}]}"#;
    let a = normalize(&message(bare), &id(), Timestamp::now()).unwrap().event_id;
    let b = normalize(&message(bare), &id(), Timestamp::now()).unwrap().event_id;
    assert!(a.starts_with("hash:"));
    assert_eq!(a, b);
}

#[test]
fn commands_and_quotes_are_read() {
    let m = message(
        r#"{"message_id":3,"from_user_id":"o@im.wechat","item_list":[{"type":1,"text_item":{"text":"/new"},
        "ref_msg":{"title":"earlier","svr_id":7311111111111111111}}]}"#,
    );
    let event = normalize(&m, &id(), Timestamp::now()).unwrap();
    let InboundKind::Message(body) = &event.kind else {
        panic!("a message")
    };
    assert_eq!(body.command.as_ref().map(|c| c.name.as_str()), Some("new"));
    let quote = body.quoted.as_ref().unwrap();
    assert_eq!(quote.message_id.as_deref(), Some("7311111111111111111"));
    assert_eq!(quote.text.as_deref(), Some("earlier"));
}
