use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use imgate_channel_kit::tokens::MemoryTokens;
use imgate_core::keyring::LocalKeyring;
use serde_json::{Value, json};

use super::*;

const NO_WAIT: [Duration; 2] = [Duration::from_millis(1), Duration::from_millis(1)];

/// §11: the WS URL vector (`+`, `/`, `=` and a space in the token).
#[test]
fn the_ws_url_is_form_encoded() {
    assert_eq!(
        ws_url("ws://open-im.api.weibo.com", "5288388166", "tk+a/b=c d", "gw-0.1.0"),
        "ws://open-im.api.weibo.com/ws/stream?app_id=5288388166&token=tk%2Ba%2Fb%3Dc+d&version=gw-0.1.0"
    );
    assert_eq!(
        ws_url("wss://h/", "a&b", "x?y#z", "1 2"),
        "wss://h/ws/stream?app_id=a%26b&token=x%3Fy%23z&version=1+2"
    );
}

/// §11: acquired at 1767225600 with `expire_in` 3600 → not used from 1767229140 on.
#[tokio::test]
async fn tokens_are_refreshed_60_seconds_early() {
    let acquired = Timestamp::from_millis(1_767_225_600_000);
    let expire_in = Duration::from_secs(3600);
    assert_eq!(
        refresh_at(acquired, expire_in),
        Timestamp::from_millis(1_767_229_140_000)
    );
    // The kit's cache applies the same arithmetic to the stored expiry.
    let tokens = SealedTokens::new(
        "weibo",
        Arc::new(MemoryTokens::default()),
        Arc::new(LocalKeyring::new(LocalKeyring::generate_key())),
    );
    tokens.store("k", &Secret::new("tk"), acquired.plus(expire_in)).await;
    let just_before = Timestamp::from_millis(1_767_229_139_999);
    assert!(tokens.cached("k", just_before, TOKEN_MARGIN).await.unwrap().is_some());
    let from = Timestamp::from_millis(1_767_229_140_000);
    assert!(tokens.cached("k", from, TOKEN_MARGIN).await.unwrap().is_none());
}

#[test]
fn only_the_notes_statuses_are_retried() {
    for status in [408, 425, 429, 500, 502, 503, 504] {
        assert!(retryable(status), "{status}");
    }
    for status in [200, 400, 401, 403, 404, 501, 505] {
        assert!(!retryable(status), "{status}");
    }
}

/// A token endpoint answering from a script, one answer per call, the last one repeated.
async fn endpoint(script: Vec<(u16, Value)>) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<Value>>>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let (c, b) = (calls.clone(), bodies.clone());
    let app = axum::Router::new().route(
        "/open/auth/ws_token",
        axum::routing::post(move |Json(body): Json<Value>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            b.lock().unwrap().push(body);
            let (status, answer) = script[n.min(script.len() - 1)].clone();
            async move { (StatusCode::from_u16(status).unwrap(), Json(answer)).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, calls, bodies)
}

fn client(base: &str) -> TokenClient {
    let tokens = SealedTokens::new(
        "weibo",
        Arc::new(MemoryTokens::default()),
        Arc::new(LocalKeyring::new(LocalKeyring::generate_key())),
    );
    TokenClient::new(reqwest::Client::new(), base, tokens).with_retry_delays(NO_WAIT)
}

fn ok(token: &str) -> (u16, Value) {
    (
        200,
        json!({"code": 0, "message": "success", "data": {"token": token, "uid": 1_234_567_890_i64, "expire_in": 7200}}),
    )
}

#[tokio::test]
async fn a_token_is_fetched_once_and_cached_sealed() {
    let (base, calls, bodies) = endpoint(vec![ok("tk-1"), ok("tk-2")]).await;
    let client = client(&base);
    let secret = Secret::new("app-secret");
    assert_eq!(client.token("5288388166", &secret).await.unwrap().expose(), "tk-1");
    assert_eq!(client.token("5288388166", &secret).await.unwrap().expose(), "tk-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        bodies.lock().unwrap()[0],
        json!({"app_id": "5288388166", "app_secret": "app-secret"})
    );
    client.invalidate("5288388166", &secret).await;
    assert_eq!(client.token("5288388166", &secret).await.unwrap().expose(), "tk-2");
    assert!(!client.key("5288388166", &secret).contains("app-secret"));
    assert_ne!(
        client.key("5288388166", &secret),
        client.key("5288388166", &Secret::new("rotated"))
    );
}

#[tokio::test]
async fn retryable_statuses_are_retried_twice() {
    let (base, calls, _) = endpoint(vec![(503, json!({})), (429, json!({})), ok("tk")]).await;
    assert_eq!(
        client(&base)
            .fetch("a", &Secret::new("s"))
            .await
            .unwrap()
            .token
            .expose(),
        "tk"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (base, calls, _) = endpoint(vec![(502, json!({"code": 5000, "message": "busy"}))]).await;
    let error = client(&base).fetch("a", &Secret::new("s")).await.unwrap_err();
    assert!(
        matches!(error, TokenError::Unavailable(ref m) if m.contains("502")),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3, "three attempts, no more");
}

#[tokio::test]
async fn refusals_stop_at_once() {
    for (status, body) in [
        (401, json!({"code": 4002, "message": "invalid app_id or app_secret"})),
        (
            400,
            json!({"code": 4001, "message": "app_id and app_secret are required"}),
        ),
        (200, json!({"code": 0, "message": "success", "data": {}})),
        (200, json!({"code": 0, "message": "success", "data": {"token": ""}})),
        (200, json!({"code": 4002, "message": "invalid"})),
    ] {
        let (base, calls, _) = endpoint(vec![(status, body.clone())]).await;
        let error = client(&base).fetch("a", &Secret::new("the-secret")).await.unwrap_err();
        assert!(matches!(error, TokenError::Refused(_)), "{status} {body}: {error}");
        assert!(!error.to_string().contains("the-secret"));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "{status} {body}");
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_after_the_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client(&base).token("a", &Secret::new("s")).await.unwrap_err();
    assert!(matches!(error, TokenError::Unavailable(_)), "{error}");
}
