//! The fake driven the way a client would: reqwest for the Open API, tokio-tungstenite for the
//! long connection.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::*;

const APP_ID: &str = "cli_test";
const APP_SECRET: &str = "secret-1";
const WAIT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

async fn call(fake: &FakeLark, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", fake.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap(),
    }
}

async fn post(fake: &FakeLark, path: &str, token: &str, body: Value) -> Answer {
    call(fake, Method::POST, path, Some(token), Some(body)).await
}

async fn token(fake: &FakeLark) -> String {
    let body = json!({"app_id": APP_ID, "app_secret": APP_SECRET});
    let answer = call(
        fake,
        Method::POST,
        "/open-apis/auth/v3/tenant_access_token/internal",
        None,
        Some(body),
    )
    .await;
    answer.body["tenant_access_token"].as_str().unwrap().to_owned()
}

fn text(text: &str) -> Value {
    json!({"msg_type": "text", "content": json!({"text": text}).to_string()})
}

fn streaming_card(content: &str) -> String {
    json!({"schema": "2.0", "config": {"streaming_mode": true, "summary": {"content": "[Generating...]"}},
        "body": {"elements": [{"tag": "markdown", "element_id": "stream_md", "content": content}]}})
    .to_string()
}

async fn create_card(fake: &FakeLark, token: &str) -> String {
    let body = json!({"type": "card_json", "data": streaming_card("Thinking...")});
    let answer = post(fake, "/open-apis/cardkit/v1/cards", token, body).await;
    answer.body["data"]["card_id"].as_str().unwrap().to_owned()
}

async fn stream(fake: &FakeLark, token: &str, card: &str, element: &str, content: &str, sequence: i64) -> Answer {
    let path = format!("/open-apis/cardkit/v1/cards/{card}/elements/{element}/content");
    let body = json!({"content": content, "sequence": sequence});
    call(fake, Method::PUT, &path, Some(token), Some(body)).await
}

#[tokio::test]
async fn tokens_gate_the_api() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let token_path = "/open-apis/auth/v3/tenant_access_token/internal";
    let wrong = json!({"app_id": APP_ID, "app_secret": "nope"});
    let answer = call(&fake, Method::POST, token_path, None, Some(wrong)).await;
    assert_eq!((answer.status, answer.body["code"].as_i64()), (400, Some(10014)));
    assert_eq!(fake.token_issues(), 0);

    let answer = call(&fake, Method::GET, "/open-apis/bot/v3/info", None, None).await;
    assert_eq!((answer.status, answer.body["code"].as_i64()), (400, Some(99991663)));

    let body = json!({"app_id": APP_ID, "app_secret": APP_SECRET});
    let issued = call(&fake, Method::POST, token_path, None, Some(body)).await.body;
    assert_eq!(issued["expire"], 7200);
    let first = issued["tenant_access_token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("t-"));
    let info = call(&fake, Method::GET, "/open-apis/bot/v3/info", Some(&first), None).await;
    assert_eq!(info.body["code"], 0);
    assert_eq!(info.body["bot"]["open_id"], "ou_bot_cli_test");
    assert_eq!(info.body["bot"]["open_id"], fake.bot_open_id().as_str());
    assert_eq!(info.body["bot"]["app_name"], APP_NAME);

    fake.invalidate_tokens();
    let answer = call(&fake, Method::GET, "/open-apis/bot/v3/info", Some(&first), None).await;
    assert_eq!(answer.body["code"], 99991663);
    let second = token(&fake).await;
    assert_ne!(first, second);
    let answer = call(&fake, Method::GET, "/open-apis/bot/v3/info", Some(&second), None).await;
    assert_eq!(answer.body["code"], 0);

    fake.set_token_expire(0);
    let expired = token(&fake).await;
    let answer = call(&fake, Method::GET, "/open-apis/bot/v3/info", Some(&expired), None).await;
    assert_eq!(answer.body["code"], 99991663);
    assert_eq!(fake.token_issues(), 3);

    let calls = fake.calls();
    assert_eq!(calls.len(), 9);
    assert!(calls.iter().all(|c| c.header("authorization").is_none()));
    assert_eq!(calls[2].path, "/open-apis/auth/v3/tenant_access_token/internal");
    assert_eq!(calls[2].header("content-type"), Some("application/json"));
    assert_eq!((calls[3].method.as_str(), calls[3].code), ("GET", Some(0)));
}

#[tokio::test]
async fn messages_are_validated_recorded_and_idempotent() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let token = token(&fake).await;
    let send_path = "/open-apis/im/v1/messages?receive_id_type=chat_id";
    let mut body = text("hello");
    body["receive_id"] = "oc_chat1".into();
    body["uuid"] = "u-1".into();
    let first = post(&fake, send_path, &token, body.clone()).await.body;
    assert_eq!(first["code"], 0);
    let id = first["data"]["message_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("om_"));
    assert_eq!(first["data"]["chat_id"], "oc_chat1");
    let again = post(&fake, send_path, &token, body).await.body;
    assert_eq!(again["data"]["message_id"], id.as_str());
    assert_eq!(fake.sent().len(), 1);

    let mut reply = text("in thread");
    reply["reply_in_thread"] = true.into();
    let reply_path = format!("/open-apis/im/v1/messages/{id}/reply");
    let answer = post(&fake, &reply_path, &token, reply).await.body;
    assert_eq!(answer["data"]["chat_id"], "oc_chat1");
    let sent = fake.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].uuid.as_deref(), Some("u-1"));
    assert_eq!(sent[0].receive_id_type.as_deref(), Some("chat_id"));
    assert_eq!(sent[1].reply_to.as_deref(), Some(id.as_str()));
    assert!(sent[1].reply_in_thread);
    assert_eq!(sent[1].chat_id.as_deref(), Some("oc_chat1"));
    assert_eq!(sent[1].text().as_deref(), Some("in thread"));

    let post_content = json!({"zh_cn": {"title": "", "content": [[{"tag": "md", "text": "**bold**"}],
        [{"tag": "text", "text": "plain"}, {"tag": "at", "user_id": "ou_user1"}]]}});
    let body = json!({"receive_id": "ou_user1", "msg_type": "post", "content": post_content.to_string()});
    let answer = post(&fake, "/open-apis/im/v1/messages?receive_id_type=open_id", &token, body).await;
    assert_eq!(answer.body["code"], 0);
    let sent = fake.sent();
    assert_eq!(sent[2].text().as_deref(), Some("**bold**\nplain"));
    assert_eq!(sent[2].chat_id.as_deref(), Some("oc_p2p_ou_user1"));

    let bad = [
        json!({"msg_type": "image", "content": "{}"}),
        json!({"msg_type": "text", "content": "not json"}),
        json!({"msg_type": "text", "content": "{\"text\":\"\"}"}),
        json!({"msg_type": "text", "content": {"text": "an object, not a string"}}),
        json!({"msg_type": "post", "content": "{\"zh_cn\":{\"content\":[[{\"tag\":\"a\",\"text\":\"x\"}]]}}"}),
        json!({"msg_type": "interactive", "content": "{\"type\":\"card\",\"data\":{\"card_id\":\"card_404\"}}"}),
        json!({"msg_type": "interactive", "content": "{\"plain\":true}"}),
    ];
    let expected = [230001, 230001, 230001, 230001, 230001, 230099, 230099];
    for (body, code) in bad.into_iter().zip(expected) {
        let answer = post(&fake, &reply_path, &token, body.clone()).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_i64()),
            (400, Some(code)),
            "{body}"
        );
    }
    let answer = post(&fake, "/open-apis/im/v1/messages", &token, text("no id type")).await;
    assert_eq!(answer.body["code"], 230001);

    let long_post = json!({"zh_cn": {"content": [[{"tag": "text", "text": "x".repeat(31 * 1024)}]]}});
    let body = json!({"msg_type": "post", "content": long_post.to_string()});
    assert_eq!(post(&fake, &reply_path, &token, body).await.body["code"], 230025);
    let answer = post(&fake, &reply_path, &token, text(&"x".repeat(100 * 1024))).await;
    assert_eq!(answer.body["code"], 0);
    let answer = post(&fake, &reply_path, &token, text(&"x".repeat(151 * 1024))).await;
    assert_eq!(answer.body["code"], 230025);

    let full_card = json!({"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "hi"}]}});
    let card_body = json!({"msg_type": "interactive", "content": full_card.to_string()});
    assert_eq!(
        post(&fake, &reply_path, &token, card_body.clone()).await.body["code"],
        0
    );
    fake.refuse_interactive_messages(true);
    assert_eq!(post(&fake, &reply_path, &token, card_body).await.body["code"], 230027);

    fake.rate_limit_next(2);
    for _ in 0..2 {
        let answer = post(&fake, &reply_path, &token, text("busy")).await;
        assert_eq!((answer.status, answer.body["code"].as_i64()), (429, Some(99991400)));
        assert_eq!(answer.headers["x-ogw-ratelimit-reset"], "1");
    }
    assert_eq!(post(&fake, &reply_path, &token, text("through")).await.body["code"], 0);

    fake.recall(&id);
    let answer = post(&fake, &reply_path, &token, text("too late")).await;
    assert_eq!((answer.status, answer.body["code"].as_i64()), (400, Some(230011)));
    assert_eq!(fake.sent().len(), 6);
}

#[tokio::test]
async fn cards_stream_under_one_sequence() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let token = token(&fake).await;
    let card_id = create_card(&fake, &token).await;
    let card = fake.card(&card_id).unwrap();
    assert!(card.streaming_mode);
    assert_eq!(card.summary.as_deref(), Some("[Generating...]"));
    assert_eq!(card.content("stream_md"), Some("Thinking..."));

    let reference = json!({"type": "card", "data": {"card_id": card_id}}).to_string();
    let body = json!({"msg_type": "interactive", "content": reference});
    let sent = post(&fake, "/open-apis/im/v1/messages/om_user/reply", &token, body.clone()).await;
    let message_id = sent.body["data"]["message_id"].as_str().unwrap().to_owned();
    assert_eq!(fake.card_of_message(&message_id).unwrap().card_id, card_id);
    assert_eq!(fake.sent()[0].card_id(), Some(card_id.as_str()));
    let again = post(&fake, "/open-apis/im/v1/messages/om_user/reply", &token, body).await;
    assert_eq!(again.body["code"], 230099);

    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "Hel", 1).await.body["code"],
        0
    );
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "Hello", 2).await.body["code"],
        0
    );
    let stale = stream(&fake, &token, &card_id, "stream_md", "Hello!", 2).await;
    assert_eq!((stale.status, stale.body["code"].as_i64()), (400, Some(300317)));
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "Hello!", 1).await.body["code"],
        300317
    );
    assert_eq!(
        stream(&fake, &token, &card_id, "nope", "x", 3).await.body["code"],
        300313
    );
    assert_eq!(
        stream(&fake, &token, "card_404", "stream_md", "x", 3).await.body["code"],
        200740
    );
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "x", 0).await.body["code"],
        10002
    );

    let path = format!("/open-apis/cardkit/v1/cards/{card_id}/elements/stream_md/content");
    let with_uuid = json!({"content": "Hello w", "sequence": 3, "uuid": "op-3"});
    for _ in 0..2 {
        let answer = call(&fake, Method::PUT, &path, Some(&token), Some(with_uuid.clone())).await;
        assert_eq!(answer.body["code"], 0);
    }
    let conflicting = json!({"content": "Hello x", "sequence": 4, "uuid": "op-3"});
    let answer = call(&fake, Method::PUT, &path, Some(&token), Some(conflicting)).await;
    assert_eq!(answer.body["code"], 200770);

    let settings = json!({"config": {"streaming_mode": false, "summary": {"content": "Hello w"}}}).to_string();
    let settings_path = format!("/open-apis/cardkit/v1/cards/{card_id}/settings");
    let body = json!({"settings": settings, "sequence": 4});
    let answer = call(&fake, Method::PATCH, &settings_path, Some(&token), Some(body)).await;
    assert_eq!(answer.body["code"], 0);
    let card = fake.card(&card_id).unwrap();
    assert!(!card.streaming_mode);
    assert_eq!(card.summary.as_deref(), Some("Hello w"));
    assert_eq!(card.json["config"]["streaming_mode"], false);
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "late", 5).await.body["code"],
        300309
    );

    let top_level = json!({"streaming_mode": true}).to_string();
    let body = json!({"settings": top_level, "sequence": 5});
    let answer = call(&fake, Method::PATCH, &settings_path, Some(&token), Some(body)).await;
    assert_eq!(answer.body["code"], 0);
    assert!(!fake.card(&card_id).unwrap().streaming_mode);

    let update_path = format!("/open-apis/cardkit/v1/cards/{card_id}");
    let final_card = json!({"schema": "2.0", "config": {"summary": {"content": "Done"}},
        "body": {"elements": [{"tag": "markdown", "element_id": "stream_md", "content": "Hello world"}]}});
    let body = json!({"card": {"type": "card_json", "data": final_card.to_string()}, "sequence": 6});
    let answer = call(&fake, Method::PUT, &update_path, Some(&token), Some(body)).await;
    assert_eq!(answer.body["code"], 0);

    let card = fake.card(&card_id).unwrap();
    assert_eq!(card.sequences, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(card.summary.as_deref(), Some("Done"));
    assert_eq!(
        card.elements["stream_md"].history,
        vec!["Thinking...", "Hel", "Hello", "Hello w", "Hello world"]
    );
    let replays: Vec<bool> = card
        .ops
        .iter()
        .filter(|op| op.uuid.is_some())
        .map(|op| op.replayed)
        .collect();
    assert_eq!(replays, vec![false, true, false]);
    assert_eq!(card.ops.iter().filter(|op| op.code != 0).count(), 6);

    let v1 = json!({"type": "card_json", "data": json!({"elements": []}).to_string()});
    assert_eq!(
        post(&fake, "/open-apis/cardkit/v1/cards", &token, v1).await.body["code"],
        300303
    );
    let duplicate = json!({"schema": "2.0", "body": {"elements": [{"tag": "markdown", "element_id": "a", "content": ""},
        {"tag": "column_set", "columns": [{"elements": [{"tag": "markdown", "element_id": "a"}]}]}]}});
    let body = json!({"type": "card_json", "data": duplicate.to_string()});
    assert_eq!(
        post(&fake, "/open-apis/cardkit/v1/cards", &token, body).await.body["code"],
        300301
    );
    fake.refuse_card_creation(true);
    let body = json!({"type": "card_json", "data": streaming_card("x")});
    let answer = post(&fake, "/open-apis/cardkit/v1/cards", &token, body).await;
    assert_eq!((answer.status, answer.body["code"].as_i64()), (400, Some(99991672)));
    assert_eq!(fake.cards().len(), 1);
}

#[tokio::test]
async fn card_rate_is_recorded_not_refused() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let token = token(&fake).await;
    let card_id = create_card(&fake, &token).await;
    for sequence in 1..=10 {
        let answer = stream(&fake, &token, &card_id, "stream_md", "x", sequence).await;
        assert_eq!(answer.body["code"], 0);
    }
    assert!(fake.card_rate_violations().is_empty());
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "x", 11).await.body["code"],
        0
    );
    let violations = fake.card_rate_violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        (violations[0].card_id.as_str(), violations[0].calls_in_window),
        (card_id.as_str(), 11)
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        stream(&fake, &token, &card_id, "stream_md", "x", 12).await.body["code"],
        0
    );
    assert_eq!(fake.card_rate_violations().len(), 1);
}

async fn endpoint(fake: &FakeLark, secret: &str) -> Answer {
    let body = json!({"AppID": APP_ID, "AppSecret": secret});
    call(fake, Method::POST, "/callback/ws/endpoint", None, Some(body)).await
}

async fn url(fake: &FakeLark) -> String {
    endpoint(fake, APP_SECRET).await.body["data"]["URL"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn connect(fake: &FakeLark) -> Ws {
    tokio_tungstenite::connect_async(url(fake).await).await.unwrap().0
}

/// The next binary frame the server sends (other messages skipped).
async fn next_frame(ws: &mut Ws) -> Frame {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Message::Binary(bytes) = ws.next().await.unwrap().unwrap() {
                return Frame::decode(&bytes).unwrap().frame;
            }
        }
    })
    .await
    .unwrap()
}

async fn send(ws: &mut Ws, frame: &Frame) {
    ws.send(Message::binary(frame.encode())).await.unwrap();
}

fn ack_of(frame: &Frame, payload: &Value) -> Frame {
    let mut ack = frame.clone();
    ack.headers.push(("biz_rt".to_owned(), "3".to_owned()));
    ack.payload = Some(payload.to_string().into_bytes());
    ack
}

#[tokio::test]
async fn endpoint_answers_urls_config_and_faults() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let wrong = endpoint(&fake, "nope").await;
    assert_eq!((wrong.status, wrong.body["code"].as_i64()), (200, Some(10014)));
    fake.endpoint_busy_next(1);
    assert_eq!(endpoint(&fake, APP_SECRET).await.body["code"], 1);
    fake.endpoint_fail_next(1);
    assert_eq!(endpoint(&fake, APP_SECRET).await.status, 500);
    fake.set_client_config(ClientConfig {
        ping_interval: 5,
        reconnect_count: 3,
        reconnect_interval: 1,
        reconnect_nonce: 0,
    });
    let answer = endpoint(&fake, APP_SECRET).await.body;
    assert_eq!(answer["code"], 0);
    let url = answer["data"]["URL"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/ws?device_id=", fake.ws_base)), "{url}");
    assert!(url.contains(&format!("&service_id={}&", fake.service_id())), "{url}");
    assert_eq!(
        answer["data"]["ClientConfig"],
        json!({"PingInterval": 5, "ReconnectCount": 3, "ReconnectInterval": 1, "ReconnectNonce": 0})
    );
    assert_eq!(fake.endpoint_calls(), 4);
}

#[tokio::test]
async fn urls_are_single_use_and_refusals_carry_headers() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let first = url(&fake).await;
    let _ws = tokio_tungstenite::connect_async(first.as_str()).await.unwrap();
    let refused = |error: tungstenite::Error| match error {
        tungstenite::Error::Http(response) => {
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            (status, header("Handshake-Status"), header("Handshake-Autherrcode"))
        }
        other => panic!("not an HTTP refusal: {other}"),
    };
    let reused = tokio_tungstenite::connect_async(first.as_str()).await.unwrap_err();
    assert_eq!(refused(reused), (514, Some("514".to_owned()), None));

    fake.refuse_next_handshake(HandshakeRefusal::exceed_conn_limit());
    fake.refuse_next_handshake(HandshakeRefusal::forbidden());
    let limit = tokio_tungstenite::connect_async(url(&fake).await).await.unwrap_err();
    assert_eq!(
        refused(limit),
        (514, Some("514".to_owned()), Some("1000040350".to_owned()))
    );
    let forbidden = tokio_tungstenite::connect_async(url(&fake).await).await.unwrap_err();
    assert_eq!(refused(forbidden), (403, Some("403".to_owned()), None));
    let _second = connect(&fake).await;
    assert_eq!(fake.handshakes(), (2, 3));
    assert!(fake.wait_for(WAIT, |f| f.live_connections() == 2).await);
    assert_eq!(fake.most_live_connections(), 2);
}

#[tokio::test]
async fn pings_get_pongs_and_bad_frames_are_flagged() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    fake.set_client_config(ClientConfig {
        ping_interval: 7,
        ..ClientConfig::default()
    });
    let mut ws = connect(&fake).await;
    let service = fake.service_id();
    send(&mut ws, &Frame::control(service, "ping", None)).await;
    let pong = next_frame(&mut ws).await;
    assert_eq!(
        (pong.method, pong.header("type"), pong.service),
        (METHOD_CONTROL, Some("pong"), service)
    );
    assert_eq!(pong.payload_json().unwrap()["PingInterval"], 7);
    fake.set_pong_payload(false);
    send(&mut ws, &Frame::control(service, "ping", None)).await;
    assert_eq!(next_frame(&mut ws).await.payload, None);
    assert_eq!(fake.pings(), 2);
    assert!(fake.frame_problems().is_empty(), "{:?}", fake.frame_problems());

    send(&mut ws, &Frame::control(service + 1, "ping", None)).await;
    ws.send(Message::binary(vec![
        0x2a, 0x0c, 0x0a, 0x04, b't', b'y', b'p', b'e', 0x12, 0x04, b'p', b'i', b'n', b'g',
    ]))
    .await
    .unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    ws.send(Message::binary(vec![0xff, 0xff])).await.unwrap();
    assert!(fake.wait_for(WAIT, |f| f.frames().len() == 6).await);
    let problems = fake.frame_problems();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(
        problems[0].contains(&format!("service {} differs", service + 1)),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("required fields [1, 2, 3, 4] missing"),
        "{problems:?}"
    );
    assert!(problems[3].contains("text message"), "{problems:?}");
    assert!(problems[4].contains("not a pbbp2 frame"), "{problems:?}");
    assert!(fake.frames()[4].text);
    // The two malformed pings were still pings: each got its pong.
    for _ in 0..2 {
        assert_eq!(next_frame(&mut ws).await.header("type"), Some("pong"));
    }

    assert!(fake.send_server_ping());
    let ping = next_frame(&mut ws).await;
    assert_eq!((ping.header("type"), ping.service), (Some("ping"), service));

    fake.set_answer_pings(false);
    send(&mut ws, &Frame::control(service, "ping", None)).await;
    let silence = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(silence.is_err(), "{silence:?}");
    assert!(fake.wait_for(WAIT, |f| f.pings() == 5).await);
    assert_eq!(fake.connections()[0].pings.len(), 5);
}

#[tokio::test]
async fn fragmented_events_are_reassembled_and_acked() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let mut ws = connect(&fake).await;
    let event = fake.message_event("om_in1", "oc_group", true, "hello bot");
    assert_eq!(
        event["event"]["message"]["mentions"][0]["id"]["open_id"],
        fake.bot_open_id().as_str()
    );
    let id = fake.push_event_with(
        &event,
        PushOptions {
            fragments: 3,
            interleave: true,
        },
    );
    let mut payload = Vec::new();
    let mut last = None;
    for expected_seq in 0..3 {
        let fragment = next_frame(&mut ws).await;
        assert_eq!(fragment.method, METHOD_DATA);
        assert_eq!(fragment.header("message_id"), Some(id.as_str()));
        assert_eq!(fragment.header("sum"), Some("3"));
        assert_eq!(fragment.header("seq"), Some(expected_seq.to_string().as_str()));
        payload.extend_from_slice(fragment.payload.as_deref().unwrap());
        if expected_seq < 2 {
            let between = next_frame(&mut ws).await;
            assert_eq!((between.method, between.header("type")), (METHOD_CONTROL, Some("ping")));
        }
        last = Some(fragment);
    }
    assert_eq!(serde_json::from_slice::<Value>(&payload).unwrap(), event);
    let last = last.unwrap();
    let data = STANDARD.encode(json!({"toast": {"type": "info"}}).to_string());
    send(&mut ws, &ack_of(&last, &json!({"code": 200, "data": data}))).await;
    let ack = fake.wait_for_ack(&id, WAIT).await.unwrap();
    assert!(ack.echoes_push);
    assert_eq!(ack.biz_rt.as_deref(), Some("3"));
    assert_eq!(ack.data, Some(json!({"toast": {"type": "info"}})));
    assert!(fake.frame_problems().is_empty(), "{:?}", fake.frame_problems());
    assert_eq!(fake.deliveries(&id), 1);

    let mut wrong = ack_of(&last, &json!({"code": 200}));
    wrong.seq_id += 100;
    wrong.headers.retain(|(k, _)| k != "biz_rt");
    send(&mut ws, &wrong).await;
    assert!(fake.wait_for(WAIT, |f| f.acks().len() == 2).await);
    let problems = fake.frame_problems();
    assert!(problems[0].contains("does not echo"), "{problems:?}");
    assert!(problems[1].contains("without biz_rt"), "{problems:?}");

    let token = token(&fake).await;
    let reply = post(&fake, "/open-apis/im/v1/messages/om_in1/reply", &token, text("hi")).await;
    assert_eq!(reply.body["data"]["chat_id"], "oc_group");
}

#[tokio::test]
async fn unacked_events_are_pushed_again_on_the_newest_connection() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    fake.set_redelivery(Some(Duration::from_millis(200)));
    let event = fake.message_event("om_in2", "oc_p2p", false, "hi");
    let id = fake.push_event(&event);
    assert_eq!(fake.deliveries(&id), 0);
    let mut first = connect(&fake).await;
    let pushed = next_frame(&mut first).await;
    assert_eq!(pushed.header("message_id"), Some(id.as_str()));
    send(&mut first, &ack_of(&pushed, &json!({"code": 500}))).await;
    assert!(fake.wait_for(WAIT, |f| f.acks().len() == 1).await);

    assert!(fake.drop_connection());
    let end = tokio::time::timeout(WAIT, first.next()).await.unwrap();
    assert!(!matches!(end, Some(Ok(Message::Close(_)))), "{end:?}");
    let mut second = connect(&fake).await;
    let again = next_frame(&mut second).await;
    assert_eq!(again.header("message_id"), Some(id.as_str()));
    assert_eq!(again.payload_json().unwrap(), event);
    send(&mut second, &ack_of(&again, &json!({"code": 200}))).await;
    let ack = fake.wait_for_ack(&id, WAIT).await.unwrap();
    assert_eq!(ack.conn, fake.connections()[1].id);
    let delivered = fake.deliveries(&id);
    assert!(delivered >= 2, "{delivered}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(fake.deliveries(&id), delivered);
    assert_eq!(fake.acks().iter().map(|a| a.code).collect::<Vec<_>>()[0], Some(500));
    assert_eq!(fake.live_connections(), 1);
}

#[tokio::test]
async fn connections_can_be_closed_fed_text_and_muted() {
    let fake = FakeLark::start(APP_ID, APP_SECRET).await;
    let mut ws = connect(&fake).await;
    assert!(fake.send_text("hello"));
    let message = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(message, Message::text("hello"));
    assert!(fake.send_binary(vec![1, 2, 3]));
    let message = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(message, Message::binary(vec![1, 2, 3]));
    assert!(fake.close_connection());
    let message = tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(message, Message::Close(_)), "{message:?}");
    drop(ws);
    assert!(fake.wait_for(WAIT, |f| f.live_connections() == 0).await);
    assert!(!fake.send_text("nobody"));

    let mut ws = connect(&fake).await;
    assert!(fake.mute());
    send(&mut ws, &Frame::control(fake.service_id(), "ping", None)).await;
    let silence = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(silence.is_err(), "{silence:?}");
    assert_eq!(fake.pings(), 0);
}
