use super::*;

#[test]
fn minimal_text_message() {
    let msg = parse_robot_message(
        br#"{"msgId":"m1","conversationId":"cid1","conversationType":"1","senderId":"s",
            "msgtype":"text","text":{"content":"hi"},"createAt":"1695283635765"}"#,
    )
    .unwrap();
    assert_eq!(msg.content, Content::Text("hi".into()));
    assert_eq!(msg.conversation_type, ConversationType::Single);
    assert_eq!(msg.create_at, Some(1_695_283_635_765));
    assert_eq!(msg.is_in_at_list, None);
    assert!(msg.at_users.is_empty());
}

#[test]
fn conversation_type_as_number_or_unknown() {
    let parse = |t: &str| {
        parse_robot_message(format!(r#"{{"msgId":"m","conversationId":"c","conversationType":{t}}}"#).as_bytes())
            .unwrap()
            .conversation_type
    };
    assert_eq!(parse("2"), ConversationType::Group);
    assert_eq!(parse(r#""2""#), ConversationType::Group);
    assert_eq!(parse(r#""3""#), ConversationType::Other("3".into()));
    assert_eq!(parse("null"), ConversationType::Other(String::new()));
}

#[test]
fn unknown_or_missing_msgtype_is_unsupported() {
    let msg = parse_robot_message(br#"{"msgId":"m","conversationId":"c","msgtype":"interactiveCard"}"#).unwrap();
    assert_eq!(
        msg.content,
        Content::Unsupported {
            msgtype: "interactiveCard".into()
        }
    );
    let msg = parse_robot_message(br#"{"msgId":"m","conversationId":"c"}"#).unwrap();
    assert_eq!(msg.content, Content::Unsupported { msgtype: String::new() });
}

#[test]
fn errors_name_fields_not_content() {
    assert_eq!(
        parse_robot_message(br#"{"conversationId":"c"}"#),
        Err(MessageError::MissingField("msgId"))
    );
    assert_eq!(
        parse_robot_message(br#"{"msgId":"m","conversationId":""}"#),
        Err(MessageError::MissingField("conversationId"))
    );
    let err = parse_robot_message(br#"{"msgId": ["secret-value"]}"#).unwrap_err();
    assert!(
        matches!(&err, MessageError::Json(m) if !m.contains("secret-value")),
        "{err:?}"
    );
    assert!(matches!(parse_robot_message(b"not json"), Err(MessageError::Json(_))));
    assert!(parse_robot_message(b"[]").is_err());
}
