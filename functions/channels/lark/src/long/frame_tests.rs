//! The frame vectors of `protocols/lark.md` §3.10, encoded and decoded.

use std::time::Duration;

use base64::Engine;
use prost::Message;
use serde_json::{Value, json};

use super::frame::*;

const PING: &str = "08001000187b20002a0c0a0474797065120470696e67";
const PONG: &str = "08001000187b20002a0c0a04747970651204706f6e6742547b2250696e67496e74657276616c223a3132302c225265636f6e6e656374436f756e74223a2d312c225265636f6e6e656374496e74657276616c223a3132302c225265636f6e6e6563744e6f6e6365223a33307d";
const DATA: &str = "0807102a187b20012a0d0a047479706512056576656e742a150a0a6d6573736167655f696412076d73672d6162632a080a0373756d1201312a080a037365711201302a150a0874726163655f6964120974726163652d78797a42607b22736368656d61223a22322e30222c22686561646572223a7b226576656e745f6964223a2265765f30303031222c226576656e745f74797065223a22696d2e6d6573736167652e726563656976655f7631227d2c226576656e74223a7b7d7d";
const ACK: &str = "0807102a187b20012a0d0a047479706512056576656e742a150a0a6d6573736167655f696412076d73672d6162632a080a0373756d1201312a080a037365711201302a150a0874726163655f6964120974726163652d78797a2a0b0a0662697a5f7274120135420d7b22636f6465223a203230307d";

const EVENT_JSON: &str =
    r#"{"schema":"2.0","header":{"event_id":"ev_0001","event_type":"im.message.receive_v1"},"event":{}}"#;
const CONFIG_JSON: &str = r#"{"PingInterval":120,"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30}"#;

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs.iter().map(|(k, v)| Header::new(k, v)).collect()
}

fn data_frame() -> Frame {
    Frame {
        seq_id: 7,
        log_id: 42,
        service: 123,
        method: METHOD_DATA,
        headers: headers(&[
            ("type", "event"),
            ("message_id", "msg-abc"),
            ("sum", "1"),
            ("seq", "0"),
            ("trace_id", "trace-xyz"),
        ]),
        payload: Some(EVENT_JSON.as_bytes().to_vec()),
        ..Frame::default()
    }
}

#[test]
fn ping_always_carries_the_required_zero_fields() {
    let ping = Frame::ping(123);
    assert_eq!(ping.encode_to_vec(), bytes(PING));
    let decoded = Frame::decode_from(&bytes(PING)).unwrap();
    assert_eq!(decoded, ping);
    assert_eq!(decoded.kind(), types::PING);
    assert_eq!(decoded.payload, None);
    // Service 0 is written too: `18 00`.
    assert_eq!(&Frame::ping(0).encode_to_vec()[..8], &bytes("0800100018002000")[..]);
}

#[test]
fn pong_with_config() {
    let pong = Frame {
        service: 123,
        method: METHOD_CONTROL,
        headers: headers(&[("type", "pong")]),
        payload: Some(CONFIG_JSON.as_bytes().to_vec()),
        ..Frame::default()
    };
    assert_eq!(pong.encode_to_vec(), bytes(PONG));
    let decoded = Frame::decode_from(&bytes(PONG)).unwrap();
    assert_eq!(decoded.kind(), types::PONG);
    assert_eq!(decoded.payload(), CONFIG_JSON.as_bytes());
}

#[test]
fn data_frame_both_ways() {
    assert_eq!(data_frame().encode_to_vec(), bytes(DATA));
    let decoded = Frame::decode_from(&bytes(DATA)).unwrap();
    assert_eq!(decoded, data_frame());
    assert_eq!(
        (decoded.kind(), decoded.message_id(), decoded.trace_id()),
        ("event", "msg-abc", "trace-xyz")
    );
    assert_eq!((decoded.sum(), decoded.seq()), (1, 0));
    assert_eq!(decoded.method, METHOD_DATA);
    assert_eq!(decoded.payload(), EVENT_JSON.as_bytes());
}

#[test]
fn ack_of_the_data_vector() {
    let data = Frame::decode_from(&bytes(DATA)).unwrap();
    // The SDK's own payload reproduces the vector byte for byte.
    let ack = data.ack(Duration::from_micros(5_900), br#"{"code": 200}"#.to_vec());
    assert_eq!(ack.encode_to_vec(), bytes(ACK));
    assert_eq!(Frame::decode_from(&bytes(ACK)).unwrap(), ack);

    // Ours differs only in the payload.
    let ours = data.ack(Duration::from_millis(5), ok_response());
    assert_eq!(ours.payload(), br#"{"code":200}"#);
    let expected = Frame {
        payload: Some(ok_response()),
        ..Frame::decode_from(&bytes(ACK)).unwrap()
    };
    assert_eq!(ours, expected);
    let response: Value = serde_json::from_slice(ours.payload()).unwrap();
    assert_eq!(response, json!({"code": 200}));
    assert_eq!(ours.header(keys::BIZ_RT), Some("5"));
}

#[test]
fn ack_keeps_the_fields_no_one_reads() {
    let frame = Frame {
        payload_encoding: Some("gzip".into()),
        payload_type: Some("json".into()),
        log_id_new: Some("new-log".into()),
        ..data_frame()
    };
    let ack = Frame::decode_from(&frame.ack(Duration::ZERO, ok_response()).encode_to_vec()).unwrap();
    assert_eq!(ack.payload_encoding.as_deref(), Some("gzip"));
    assert_eq!(ack.payload_type.as_deref(), Some("json"));
    assert_eq!(ack.log_id_new.as_deref(), Some("new-log"));
    assert_eq!(ack.header(keys::BIZ_RT), Some("0"));
    assert_eq!(ack.headers.len(), frame.headers.len() + 1);
}

#[test]
fn toast_answer_carries_base64_json() {
    let response: Value = serde_json::from_slice(&toast_response("Got it \"quoted\"")).unwrap();
    assert_eq!(response["code"], 200);
    let data = base64::engine::general_purpose::STANDARD
        .decode(response["data"].as_str().unwrap())
        .unwrap();
    let answer: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(
        answer,
        json!({"toast": {"type": "info", "content": "Got it \"quoted\""}})
    );
}

#[test]
fn lenient_header_numbers_and_bad_bytes() {
    let frame = Frame {
        headers: headers(&[("sum", " 3 "), ("seq", "x"), ("type", "event"), ("type", "card")]),
        ..Frame::default()
    };
    assert_eq!((frame.sum(), frame.seq()), (3, 0));
    assert_eq!(frame.kind(), "event", "the first header wins");
    assert_eq!(Frame::default().sum(), 1);
    assert_eq!(Frame::default().message_id(), "");
    let err = Frame::decode_from(&[0x0a, 0xff]).unwrap_err();
    assert!(err.to_string().starts_with("malformed frame"), "{err}");
    let debug = format!("{:?}", data_frame());
    assert!(!debug.contains("ev_0001"), "{debug}");
    assert!(debug.contains("payload_bytes: Some(96)"), "{debug}");
}
