//! DingTalk Stream mode: recorded frame shapes from the protocol notes, the ACKs they get, and
//! `connections/open` against a fake gateway on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use imgate_core::secret::Secret;
use imgate_dingtalk::long::{
    FrameKind, FrameType, StreamError, Subscription, callback_ack, connect_url, event_ack, open_connection,
    parse_frame, ping_ack,
};
use serde_json::{Value, json};

const CLIENT_ID: &str = "dingclient123";
const SECRET: &str = "client-s3cret-value";
const TICKET: &str = "7724109a-tick+et/=1";

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/dingtalk/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn ping_is_echoed_with_its_opaque() {
    let frame = parse_frame(&fixture("frame_ping.json")).unwrap();
    assert_eq!(frame.kind, FrameType::System);
    assert_eq!(frame.classify(), FrameKind::Ping);
    assert_eq!(frame.spec_version.as_deref(), Some("1.0"));
    let ack = json_of(&ping_ack(&frame));
    assert_eq!(ack["code"], 200);
    assert_eq!(ack["message"], "OK");
    assert_eq!(
        ack["headers"],
        json!({"contentType": "application/json", "messageId": "sys-ping-1"})
    );
    // data is a string holding the same JSON (decoded twice).
    assert_eq!(json_of(ack["data"].as_str().unwrap()), json!({"opaque": "op-123"}));
}

#[test]
fn robot_message_callback() {
    let frame = parse_frame(&fixture("frame_bot_message.json")).unwrap();
    assert_eq!(frame.classify(), FrameKind::BotMessage);
    assert_eq!(frame.message_id(), "212ca9d7_974_1898c159aa6_1783b");
    assert_eq!(frame.topic(), "/v1.0/im/bot/messages/get");
    assert_eq!(frame.header("connectionId"), Some("conn-1"));
    assert_eq!(frame.time().unwrap().as_millis(), 1_690_362_102_194);
    let msg = frame.robot_message().unwrap();
    assert_eq!(msg.msg_id, "msgY****Pw==");
    assert_eq!(msg.sender_nick.as_deref(), Some("张三"));
    let ack = json_of(&callback_ack(frame.message_id()));
    assert_eq!(ack["code"], 200);
    assert_eq!(ack["headers"]["messageId"], "212ca9d7_974_1898c159aa6_1783b");
    assert_eq!(json_of(ack["data"].as_str().unwrap()), json!({"response": null}));
}

#[test]
fn events_are_acked_with_a_status() {
    let frame = parse_frame(&fixture("frame_event.json")).unwrap();
    assert_eq!(frame.classify(), FrameKind::Event);
    assert_eq!(frame.header("eventType"), Some("chat_update_title"));
    assert_eq!(frame.header("eventId"), Some("ev-1-id"));
    let data: Value = frame.data_json().unwrap();
    assert_eq!(data["openConversationId"], "cid1");
    let ok = json_of(&event_ack(frame.message_id(), true));
    assert_eq!(ok["headers"]["messageId"], "ev-1");
    assert_eq!(
        json_of(ok["data"].as_str().unwrap()),
        json!({"status": "SUCCESS", "message": "success"})
    );
    let later = json_of(&event_ack(frame.message_id(), false));
    assert_eq!(json_of(later["data"].as_str().unwrap())["status"], "LATER");
    // A robot message is not an event's data.
    assert!(frame.robot_message().is_err());
}

#[test]
fn disconnect_is_detected_with_its_reason() {
    let frame = parse_frame(&fixture("frame_disconnect.json")).unwrap();
    assert!(frame.is_disconnect());
    assert_eq!(frame.classify(), FrameKind::Disconnect);
    assert_eq!(frame.disconnect_reason().as_deref(), Some("connection is expired"));
    let ack = json_of(&ping_ack(&frame));
    assert_eq!(ack["headers"]["messageId"], "sys-dc-1");
    let ping = parse_frame(&fixture("frame_ping.json")).unwrap();
    assert!(!ping.is_disconnect());
    assert_eq!(ping.disconnect_reason(), None);
}

#[test]
fn malformed_frames_and_data_are_errors_without_content() {
    assert!(matches!(parse_frame("not json"), Err(StreamError::Frame(_))));
    let frame = parse_frame(r#"{"type":"CALLBACK","headers":{"topic":"/v1.0/im/bot/messages/get","messageId":"m"},"data":"{oops secret-body"}"#).unwrap();
    let err = frame.data_json::<Value>().unwrap_err();
    assert!(!err.to_string().contains("secret-body"), "{err}");
    assert!(frame.robot_message().is_err());
}

#[derive(Default)]
struct Gateway {
    requests: Vec<(HeaderMap, Value)>,
    /// What to answer: (status, body).
    answer: Option<(StatusCode, Value)>,
}

type Shared = Arc<Mutex<Gateway>>;

async fn open(State(gw): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut gw = gw.lock().unwrap();
    gw.requests.push((headers, body.clone()));
    if let Some((status, answer)) = gw.answer.clone() {
        return (status, Json(answer)).into_response();
    }
    if body["clientId"] != CLIENT_ID || body["clientSecret"] != SECRET {
        let err = json!({"requestid": "R1", "code": "authFailed", "message": "鉴权失败"});
        return (StatusCode::UNAUTHORIZED, Json(err)).into_response();
    }
    Json(json!({"endpoint": "wss://wss-open-connection.dingtalk.com:443/connect", "ticket": TICKET})).into_response()
}

async fn start() -> (String, Shared) {
    let gw: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1.0/gateway/connections/open", post(open))
        .with_state(gw.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), gw)
}

fn subscriptions() -> Vec<Subscription> {
    vec![Subscription::all_events(), Subscription::bot_messages()]
}

#[tokio::test]
async fn open_connection_happy_path() {
    let (base, gw) = start().await;
    let http = reqwest::Client::new();
    let (endpoint, ticket) = open_connection(
        &http,
        &format!("{base}/"),
        CLIENT_ID,
        &Secret::new(SECRET),
        &subscriptions(),
    )
    .await
    .unwrap();
    assert_eq!(endpoint, "wss://wss-open-connection.dingtalk.com:443/connect");
    assert_eq!(ticket.expose(), TICKET);
    assert!(!format!("{ticket:?}").contains("tick"));
    let url = connect_url(&endpoint, &ticket).unwrap();
    assert!(
        url.expose().ends_with("/connect?ticket=7724109a-tick%2Bet%2F%3D1"),
        "{}",
        url.expose()
    );

    let gw = gw.lock().unwrap();
    let (headers, body) = &gw.requests[0];
    assert_eq!(headers["accept"], "application/json");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        body["subscriptions"],
        json!([{"type": "EVENT", "topic": "*"}, {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}])
    );
    assert!(body["ua"].as_str().unwrap().starts_with("imgate"));
}

#[tokio::test]
async fn open_connection_bad_credentials() {
    let (base, _gw) = start().await;
    let err = open_connection(
        &reqwest::Client::new(),
        &base,
        CLIENT_ID,
        &Secret::new("wrong-secret"),
        &subscriptions(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        StreamError::BadCredentials {
            status: 401,
            code: "authFailed".into()
        }
    );
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn open_connection_unavailable_and_odd_answers() {
    let (base, gw) = start().await;
    let http = reqwest::Client::new();
    let secret = Secret::new(SECRET);
    gw.lock().unwrap().answer = Some((StatusCode::SERVICE_UNAVAILABLE, json!({})));
    let err = open_connection(&http, &base, CLIENT_ID, &secret, &subscriptions())
        .await
        .unwrap_err();
    assert_eq!(err, StreamError::Unavailable { status: 503 });
    assert!(err.is_retryable());

    gw.lock().unwrap().answer = Some((
        StatusCode::BAD_REQUEST,
        json!({"code": "invalidParameter", "message": "x"}),
    ));
    let err = open_connection(&http, &base, CLIENT_ID, &secret, &subscriptions())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StreamError::Refused {
            status: 400,
            code: "invalidParameter".into()
        }
    );

    gw.lock().unwrap().answer = Some((StatusCode::OK, json!({"endpoint": "wss://e/connect"})));
    let err = open_connection(&http, &base, CLIENT_ID, &secret, &subscriptions())
        .await
        .unwrap_err();
    assert!(matches!(err, StreamError::BadResponse(_)), "{err:?}");
    assert!(err.is_retryable());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = open_connection(&http, &format!("http://{addr}"), CLIENT_ID, &secret, &subscriptions())
        .await
        .unwrap_err();
    assert!(matches!(&err, StreamError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains(SECRET));
}
