//! Vectors 1–2 of `protocols/lark.md` §2.11 through [`Verifier::open`], the token rules of
//! §2.6, content parsing and malformed input.

use super::*;
use crate::verify::tests::{KEY, V1_BODY, V1_PLAIN, V2_BODY, V2_NONCE, V2_PLAIN, V2_SIGNATURE, V2_TIMESTAMP};

const TOKEN: &str = "test-verification-token";

fn both() -> Verifier {
    Verifier::new(Some(TOKEN), Some(KEY))
}

fn token_only() -> Verifier {
    Verifier::new(Some(TOKEN), None)
}

fn v2_headers(signature: &str) -> SignatureHeaders<'_> {
    SignatureHeaders {
        timestamp: V2_TIMESTAMP,
        nonce: V2_NONCE,
        signature,
    }
}

/// A plain schema 2.0 body around `message` (a JSON object text).
pub(crate) fn plain_event(event_type: &str, message: &str) -> String {
    format!(
        r#"{{"schema":"2.0","header":{{"event_id":"ev_1","event_type":"{event_type}","create_time":"1700000000000","token":"{TOKEN}","app_id":"cli_test"}},"event":{{"sender":{{"sender_id":{{"open_id":"ou_user1"}},"sender_type":"user"}},"message":{message}}}}}"#
    )
}

fn message(msg: &Callback) -> &MessageReceive {
    match msg {
        Callback::Event(Envelope {
            event: Event::MessageReceive(m),
            ..
        }) => m,
        other => panic!("not a received message: {other:?}"),
    }
}

/// Encrypts `plain` under [`KEY`], signs the body and opens it with `verifier`.
fn open_signed(verifier: &Verifier, plain: &str) -> Result<Callback, EventError> {
    let body = format!(r#"{{"encrypt":"{}"}}"#, EventCipher::new(KEY).encrypt(plain.as_bytes()));
    let signature = crate::verify::signature("1", "n", KEY, body.as_bytes());
    let headers = SignatureHeaders {
        timestamp: "1",
        nonce: "n",
        signature: &signature,
    };
    verifier.open(body.as_bytes(), headers)
}

#[test]
fn vector_1_encrypted_challenge_needs_no_signature() {
    let callback = both().open(V1_BODY.as_bytes(), SignatureHeaders::default()).unwrap();
    assert_eq!(
        callback,
        Callback::Challenge {
            challenge: "ajls384kdj".into()
        }
    );
    assert_eq!(challenge_response("ajls384kdj"), r#"{"challenge":"ajls384kdj"}"#);
}

#[test]
fn vector_1_plain_challenge_without_encrypt_key() {
    let callback = token_only()
        .open(V1_PLAIN.as_bytes(), SignatureHeaders::default())
        .unwrap();
    assert_eq!(
        callback,
        Callback::Challenge {
            challenge: "ajls384kdj".into()
        }
    );
}

#[test]
fn challenge_with_a_wrong_token_is_refused() {
    let body = V1_PLAIN.replace(TOKEN, "forged");
    assert_eq!(
        token_only().open(body.as_bytes(), SignatureHeaders::default()),
        Err(EventError::BadToken)
    );
    // §2.6: a challenge is token-checked even with an Encrypt Key.
    let body = V1_PLAIN.replace(r#""token":"test-verification-token","#, "");
    assert_eq!(
        both().open(body.as_bytes(), SignatureHeaders::default()),
        Err(EventError::BadToken)
    );
}

#[test]
fn vector_2_encrypted_signed_message() {
    let callback = both().open(V2_BODY.as_bytes(), v2_headers(V2_SIGNATURE)).unwrap();
    let Callback::Event(envelope) = &callback else { panic!() };
    assert_eq!(envelope.header.event_id, "ev_0001");
    assert_eq!(envelope.header.event_type, MESSAGE_RECEIVE);
    assert_eq!(envelope.header.app_id.as_deref(), Some("cli_test"));
    assert_eq!(envelope.header.create_time.as_deref(), Some("1700000000000"));
    let m = message(&callback);
    assert_eq!(m.message.message_id, "om_msg1");
    assert_eq!(m.message.chat_id, "oc_chat1");
    assert_eq!(m.message.chat_type, ChatType::P2p);
    assert_eq!(m.message.content, Content::Text("hi".into()));
    assert_eq!(m.message.create_time, Some(1_700_000_000_000));
    assert_eq!(m.sender.sender_id.open_id.as_deref(), Some("ou_user1"));
    assert_eq!(m.sender.sender_id.best(), Some("ou_user1"));
    // The same payload, unencrypted, to an app without an Encrypt Key.
    let plain = token_only()
        .open(V2_PLAIN.as_bytes(), SignatureHeaders::default())
        .unwrap();
    assert_eq!(plain, callback);
}

#[test]
fn vector_2_with_a_wrong_or_missing_signature_is_refused() {
    let zeros = "0".repeat(64);
    for headers in [v2_headers(&zeros), SignatureHeaders::default()] {
        assert_eq!(
            both().open(V2_BODY.as_bytes(), headers),
            Err(EventError::Crypto(CryptoError::BadSignature))
        );
    }
}

#[test]
fn encrypted_body_without_a_key_is_refused() {
    assert_eq!(
        token_only().open(V2_BODY.as_bytes(), v2_headers(V2_SIGNATURE)),
        Err(EventError::NoEncryptKey)
    );
}

#[test]
fn event_tokens_follow_section_2_6() {
    let wrong = V2_PLAIN.replace(TOKEN, "forged");
    assert_eq!(
        token_only().open(wrong.as_bytes(), SignatureHeaders::default()),
        Err(EventError::BadToken)
    );
    // Without an Encrypt Key a missing token is refused.
    let missing = V2_PLAIN.replace(r#""token":"test-verification-token","#, "");
    assert_eq!(
        token_only().open(missing.as_bytes(), SignatureHeaders::default()),
        Err(EventError::BadToken)
    );
    // With an Encrypt Key only a carried token is checked; the signature still is.
    assert!(open_signed(&both(), &missing).is_ok());
    assert_eq!(open_signed(&both(), &wrong), Err(EventError::BadToken));
    // No token configured: nothing to check.
    let open = Verifier::new(None, Some(""));
    assert!(open.open(wrong.as_bytes(), SignatureHeaders::default()).is_ok());
}

#[test]
fn broken_bodies_give_clear_errors() {
    let v = token_only();
    let none = SignatureHeaders::default;
    let err = v.open(b"{not json", none()).unwrap_err();
    assert!(
        matches!(&err, EventError::Json(m) if m.starts_with("body: syntax error")),
        "{err}"
    );
    assert!(matches!(v.open(b"[1,2]", none()), Err(EventError::Json(_))));
    assert_eq!(v.open(br#"{"encrypt":"%%%"}"#, none()), Err(EventError::NoEncryptKey));
    assert_eq!(
        both().open(br#"{"encrypt":"%%%"}"#, none()),
        Err(EventError::Crypto(CryptoError::Base64))
    );
    let cipher = EventCipher::new(KEY);
    let body = format!(r#"{{"encrypt":"{}"}}"#, cipher.encrypt(b"not json"));
    assert!(matches!(
        both().open(body.as_bytes(), none()),
        Err(EventError::Json(m)) if m.starts_with("decrypted body")
    ));
    let token = format!(r#"{{"token":"{TOKEN}"}}"#);
    assert_eq!(
        v.open(token.as_bytes(), none()),
        Err(EventError::MissingField("schema"))
    );
    let challenge = format!(r#"{{"type":"url_verification","token":"{TOKEN}"}}"#);
    assert_eq!(
        v.open(challenge.as_bytes(), none()),
        Err(EventError::MissingField("challenge"))
    );
    let no_id = V2_PLAIN.replace("ev_0001", "");
    assert_eq!(
        v.open(no_id.as_bytes(), none()),
        Err(EventError::MissingField("header.event_id"))
    );
    let no_chat = V2_PLAIN.replace("oc_chat1", "");
    assert_eq!(
        v.open(no_chat.as_bytes(), none()),
        Err(EventError::MissingField("message.chat_id"))
    );
    let bad_content = plain_event(
        MESSAGE_RECEIVE,
        r#"{"message_id":"om","chat_id":"oc","chat_type":"p2p","message_type":"text","content":"{oops"}"#,
    );
    let err = v.open(bad_content.as_bytes(), none()).unwrap_err();
    assert!(
        matches!(&err, EventError::Json(m) if m.starts_with("message content")),
        "{err}"
    );
    assert!(!err.to_string().contains("oops"));
}

#[test]
fn other_event_types_and_schema_1_are_kept_as_other() {
    let body = plain_event("im.chat.member.bot.added_v1", r#"{}"#);
    let Callback::Event(envelope) = token_only().open(body.as_bytes(), SignatureHeaders::default()).unwrap() else {
        panic!()
    };
    assert_eq!(envelope.event, Event::Other);
    assert_eq!(envelope.header.event_type, "im.chat.member.bot.added_v1");
    let v1 = format!(
        r#"{{"uuid":"u-1","ts":"1700000000.1","token":"{TOKEN}","type":"event_callback","event":{{"type":"message"}}}}"#
    );
    let Callback::Event(envelope) = token_only().open(v1.as_bytes(), SignatureHeaders::default()).unwrap() else {
        panic!()
    };
    assert_eq!(envelope.header.event_id, "u-1");
    assert_eq!(envelope.header.event_type, "message");
    assert_eq!(envelope.event, Event::Other);
}

#[test]
fn group_message_with_mentions_and_thread() {
    let body = plain_event(
        MESSAGE_RECEIVE,
        r#"{"message_id":"om_2","root_id":"om_root","parent_id":"om_parent","thread_id":"omt_1","chat_id":"oc_g","chat_type":"group","message_type":"text","content":"{\"text\":\"@_user_1 hello @_user_2\"}","create_time":1700000000123,"mentions":[{"key":"@_user_1","id":{"open_id":"ou_bot"},"name":"Bot","tenant_key":"tk"},{"key":"@_user_2","id":{"open_id":"ou_alice","user_id":"alice"},"name":"Alice"}]}"#,
    );
    let callback = token_only().open(body.as_bytes(), SignatureHeaders::default()).unwrap();
    let m = &message(&callback).message;
    assert_eq!(m.chat_type, ChatType::Group);
    assert_eq!(m.root_id.as_deref(), Some("om_root"));
    assert_eq!(m.parent_id.as_deref(), Some("om_parent"));
    assert_eq!(m.thread_id.as_deref(), Some("omt_1"));
    assert_eq!(m.create_time, Some(1_700_000_000_123));
    assert_eq!(m.content, Content::Text("@_user_1 hello @_user_2".into()));
    assert_eq!(m.mentions.len(), 2);
    assert_eq!(m.mentions[1].id.best(), Some("ou_alice"));
    assert_eq!(m.mentions[1].name.as_deref(), Some("Alice"));
}

#[test]
fn content_types() {
    assert_eq!(
        parse_content("image", r#"{"image_key":"img_1"}"#).unwrap(),
        Content::Image {
            image_key: "img_1".into()
        }
    );
    assert_eq!(
        parse_content("file", r#"{"file_key":"file_1","file_name":"a.pdf"}"#).unwrap(),
        Content::File {
            file_key: "file_1".into(),
            file_name: Some("a.pdf".into())
        }
    );
    assert_eq!(
        parse_content("audio", r#"{"file_key":"file_a","duration":2000}"#).unwrap(),
        Content::Audio {
            file_key: "file_a".into()
        }
    );
    assert_eq!(
        parse_content(
            "media",
            r#"{"file_key":"file_v","image_key":"img_v","file_name":"v.mp4"}"#
        )
        .unwrap(),
        Content::Media {
            file_key: "file_v".into(),
            file_name: Some("v.mp4".into())
        }
    );
    assert_eq!(
        parse_content("sticker", r#"{"file_key":"st"}"#).unwrap(),
        Content::Sticker { file_key: "st".into() }
    );
    assert_eq!(parse_content("interactive", "{oops").unwrap(), Content::Unsupported);
    assert_eq!(parse_content("", "").unwrap(), Content::Unsupported);
    assert!(parse_content("text", "[1]").is_err());
}

#[test]
fn post_is_flattened_to_plain_text() {
    let post = r#"{"title":"Weekly","content":[[{"tag":"at","user_id":"@_user_1","user_name":"Bot"},{"tag":"text","text":" see "},{"tag":"a","href":"https://x","text":"link"}],[{"tag":"img","image_key":"img_1"}],[{"tag":"text","text":"line two"},{"tag":"emotion","emoji_type":"SMILE"}],[{"tag":"at","user_id":"ou_x","user_name":"Zed"}]]}"#;
    assert_eq!(
        parse_content("post", post).unwrap(),
        Content::Post {
            text: "Weekly\n@_user_1 see link\nline two\n@Zed".into(),
            image_keys: vec!["img_1".into()]
        }
    );
    let localized = r#"{"zh_cn":{"title":"","content":[[{"tag":"text","text":"你好"}]]}}"#;
    assert_eq!(
        parse_content("post", localized).unwrap(),
        Content::Post {
            text: "你好".into(),
            image_keys: Vec::new()
        }
    );
    assert_eq!(
        parse_content("post", "{}").unwrap(),
        Content::Post {
            text: String::new(),
            image_keys: Vec::new()
        }
    );
}

#[test]
fn debug_output_hides_secrets() {
    let shown = format!("{:?}", both());
    assert!(!shown.contains(KEY) && !shown.contains(TOKEN), "{shown}");
}
