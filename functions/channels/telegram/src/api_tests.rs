use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::*;

const TOKEN: &str = "123456:SECRET-bot-token";

/// A Bot API stand-in: answers each method as the notes say, and records the calls.
async fn fake(calls: Arc<Mutex<Vec<(String, Value)>>>) -> String {
    let app = axum::Router::new().route(
        "/{token}/{method}",
        axum::routing::post(move |Path((token, method)): Path<(String, String)>, Json(params): Json<Value>| {
            let calls = calls.clone();
            async move {
                calls.lock().unwrap().push((method.clone(), params.clone()));
                if token != format!("bot{TOKEN}") {
                    return (StatusCode::UNAUTHORIZED, Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})))
                        .into_response();
                }
                match method.as_str() {
                    "getMe" => Json(json!({"ok": true, "result": {"id": 42, "is_bot": true, "first_name": "Bot", "username": "my_bot"}})).into_response(),
                    "sendMessage" if params["text"] == "flood" => (
                        StatusCode::TOO_MANY_REQUESTS,
                        Json(json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})),
                    )
                        .into_response(),
                    "sendMessage" => Json(json!({"ok": true, "result": {"message_id": 77, "date": 1, "chat": {"id": params["chat_id"], "type": "private"}, "text": params["text"]}})).into_response(),
                    "editMessageText" => (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"})),
                    )
                        .into_response(),
                    "getUpdates" => (
                        StatusCode::CONFLICT,
                        Json(json!({"ok": false, "error_code": 409, "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"})),
                    )
                        .into_response(),
                    _ => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn results_errors_and_waits_are_read_from_the_envelope() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let api = BotApi::new(reqwest::Client::new(), fake(calls.clone()).await);
    let token = Secret::new(TOKEN);

    let me = api.get_me(&token).await.unwrap();
    assert_eq!((me.id, me.username.as_deref()), (42, Some("my_bot")));

    let sent = api
        .send_message(&token, &json!({"chat_id": 5, "text": "hi"}))
        .await
        .unwrap();
    assert_eq!(sent.message_id, 77);

    let flood = api
        .send_message(&token, &json!({"chat_id": 5, "text": "flood"}))
        .await
        .unwrap_err();
    assert_eq!(
        ReplyError::from(flood).to_string(),
        ReplyError::RateLimited {
            retry_after: Duration::from_secs(7)
        }
        .to_string()
    );

    api.edit_message_text(&token, &json!({"chat_id": 5, "message_id": 77, "text": "same"}))
        .await
        .expect("an unchanged edit is a success");

    let kicked = api.get_updates(&token, 1, Duration::ZERO).await.unwrap_err();
    assert!(
        kicked.is(409) && kicked.description().contains("terminated by other getUpdates"),
        "{kicked}"
    );

    let broken = api.typing(&token, 5, None).await.unwrap_err();
    assert!(matches!(broken, ApiError::Transport { .. }), "{broken}");
    assert!(matches!(ReplyError::from(broken), ReplyError::Transport(_)));

    let methods: Vec<_> = calls.lock().unwrap().iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(
        methods,
        [
            "getMe",
            "sendMessage",
            "sendMessage",
            "editMessageText",
            "getUpdates",
            "sendChatAction"
        ]
    );
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let api = BotApi::new(reqwest::Client::new(), fake(calls).await);
    let wrong = Secret::new("999:WRONG-token");
    let refused = api.get_me(&wrong).await.unwrap_err();
    assert!(refused.is(401));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let unreachable = BotApi::new(reqwest::Client::new(), closed)
        .get_me(&Secret::new(TOKEN))
        .await
        .unwrap_err();
    for error in [
        refused.to_string(),
        unreachable.to_string(),
        ReplyError::from(unreachable).to_string(),
    ] {
        assert!(!error.contains("SECRET") && !error.contains("WRONG"), "{error}");
    }
}
