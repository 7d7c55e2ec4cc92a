use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use super::*;

const TOKEN: &str = "bot-SECRET-token";

/// Answers like Discord: a bucket of 2 per second on message creation, a 429 on the third, and
/// an error code for an unknown channel.
async fn fake(calls: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new()
        .route(
            "/channels/{channel}/messages",
            axum::routing::post(move |axum::extract::Path(channel): axum::extract::Path<String>, headers: HeaderMap| {
                let calls = calls.clone();
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(headers["authorization"], format!("Bot {TOKEN}"));
                    assert!(headers["user-agent"].to_str().unwrap().starts_with("DiscordBot ("));
                    if channel == "404" {
                        return (StatusCode::NOT_FOUND, Json(json!({"message": "Unknown Channel", "code": 10003}))).into_response();
                    }
                    if n == 2 {
                        return (
                            StatusCode::TOO_MANY_REQUESTS,
                            Json(json!({"message": "You are being rate limited.", "retry_after": 0.25, "global": false})),
                        )
                            .into_response();
                    }
                    let remaining = if n == 0 { "1" } else { "0" };
                    (
                        [("x-ratelimit-bucket", "abc"), ("x-ratelimit-remaining", remaining), ("x-ratelimit-reset-after", "0.3")],
                        Json(json!({"id": format!("m{n}"), "channel_id": channel})),
                    )
                        .into_response()
                }
            }),
        )
        .route("/gateway/bot", axum::routing::get(|| async { Json(json!({"url": "wss://gateway.test"})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn buckets_are_waited_for_and_429s_are_reported() {
    let calls = Arc::new(AtomicUsize::new(0));
    let api = RestApi::new(reqwest::Client::new(), fake(calls.clone()).await);
    let token = Secret::new(TOKEN);
    assert_eq!(api.gateway_url(&token).await.unwrap(), "wss://gateway.test");
    assert_eq!(
        api.create_message(&token, "1", &message_body("a")).await.unwrap().id,
        "m0"
    );
    let started = Instant::now();
    assert_eq!(
        api.create_message(&token, "1", &message_body("b")).await.unwrap().id,
        "m1"
    );
    // The bucket is now empty: the next call waits for its reset, then meets a 429.
    let third = api.create_message(&token, "1", &message_body("c")).await;
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited {:?}",
        started.elapsed()
    );
    match third {
        Err(ReplyError::RateLimited { retry_after }) => assert_eq!(retry_after, Duration::from_millis(250)),
        other => panic!("{other:?}"),
    }
    // Another channel has a bucket of its own.
    assert_eq!(
        api.create_message(&token, "2", &message_body("d")).await.unwrap().id,
        "m3"
    );
    match api.create_message(&token, "404", &message_body("e")).await {
        Err(ReplyError::Platform { code, message }) => assert_eq!((code, message.as_str()), (10003, "Unknown Channel")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn interaction_tokens_never_reach_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let api = RestApi::new(reqwest::Client::new(), closed);
    let error = api
        .edit_original("1", "SECRET-interaction-token", &message_body("x"))
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("SECRET"), "{error}");
}
