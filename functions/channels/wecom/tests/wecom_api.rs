//! The WeCom HTTP clients against a small fake WeCom API on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use imgate_channel_kit::tokens::MemoryTokens;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use imgate_core::Timestamp;
use imgate_core::keyring::Keyring;
use imgate_core::keyring::LocalKeyring;
use imgate_core::ports::{CachedToken, ReplyError, TokenCache};
use imgate_core::secret::Secret;
use imgate_wecom::api::{AppClient, ResponseUrl, token_cache_key};
use serde_json::{Value, json};

const CORP: &str = "ww1234567890abcdef";
const SECRET: &str = "app-s3cret-value";

#[derive(Default)]
struct Fake {
    token_fetches: usize,
    /// The token `gettoken` handed out last.
    current: String,
    /// How many `message/send` calls to answer with 42001 regardless of the token.
    expire_next: usize,
    /// Accepted sends: (token, body).
    sent: Vec<(String, Value)>,
    /// Queries seen by any handler (to check that secrets only go where they must).
    response_posts: Vec<Value>,
}

type Shared = Arc<Mutex<Fake>>;

async fn gettoken(State(fake): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let mut fake = fake.lock().unwrap();
    if q.get("corpid").map(String::as_str) != Some(CORP) || q.get("corpsecret").map(String::as_str) != Some(SECRET) {
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    fake.token_fetches += 1;
    fake.current = format!("TOKEN-{}", fake.token_fetches);
    Json(json!({"errcode": 0, "errmsg": "ok", "access_token": fake.current, "expires_in": 7200}))
}

async fn message_send(
    State(fake): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let mut fake = fake.lock().unwrap();
    if fake.expire_next > 0 {
        fake.expire_next -= 1;
        return Json(json!({"errcode": 42001, "errmsg": "access_token expired"}));
    }
    let token = q.get("access_token").cloned().unwrap_or_default();
    if token != fake.current {
        return Json(json!({"errcode": 40014, "errmsg": "invalid access_token"}));
    }
    fake.sent.push((token, body));
    Json(json!({"errcode": 0, "errmsg": "ok", "msgid": "MSGID"}))
}

async fn response_ok(State(fake): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    fake.lock().unwrap().response_posts.push(body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn response_used() -> Json<Value> {
    Json(json!({"errcode": 93000, "errmsg": "invalid response_code"}))
}

async fn response_busy() -> Response {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", "7".parse().unwrap());
    (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
}

async fn response_broken() -> StatusCode {
    StatusCode::SERVICE_UNAVAILABLE
}

async fn response_empty() -> StatusCode {
    StatusCode::OK
}

async fn start() -> (String, Shared) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/cgi-bin/gettoken", get(gettoken))
        .route("/cgi-bin/message/send", post(message_send))
        .route("/cgi-bin/aibot/response", post(response_ok))
        .route("/used", post(response_used))
        .route("/busy", post(response_busy))
        .route("/broken", post(response_broken))
        .route("/empty", post(response_empty))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

struct Setup {
    client: AppClient,
    fake: Shared,
    tokens: Arc<MemoryTokens>,
    keyring: Arc<LocalKeyring>,
    base: String,
}

impl Setup {
    /// The client as another process sees it: the same store, nothing in memory.
    fn another_process(&self) -> AppClient {
        AppClient::new(
            reqwest::Client::new(),
            format!("{}/", self.base),
            self.tokens.clone(),
            self.keyring.clone(),
        )
    }
}

async fn setup() -> Setup {
    let (base, fake) = start().await;
    let tokens = Arc::new(MemoryTokens::default());
    let keyring = Arc::new(LocalKeyring::new(LocalKeyring::generate_key()));
    let client = AppClient::new(
        reqwest::Client::new(),
        format!("{base}/"),
        tokens.clone(),
        keyring.clone(),
    );
    Setup {
        client,
        fake,
        tokens,
        keyring,
        base,
    }
}

fn text(content: &str) -> Value {
    json!({"msgtype": "text", "text": {"content": content}})
}

fn secret() -> Secret {
    Secret::new(SECRET)
}

#[tokio::test]
async fn sends_and_reuses_the_cached_token() {
    let s = setup().await;
    s.client
        .send(CORP, &secret(), "1000002", "zhangsan", &text("one"))
        .await
        .unwrap();
    s.client
        .send(CORP, &secret(), "1000002", "zhangsan", &text("two"))
        .await
        .unwrap();
    let fake = s.fake.lock().unwrap();
    assert_eq!(fake.token_fetches, 1);
    assert_eq!(fake.sent.len(), 2);
    assert_eq!(
        fake.sent[0].1,
        json!({"msgtype": "text", "text": {"content": "one"}, "touser": "zhangsan", "agentid": 1_000_002})
    );

    // The cache holds the token sealed, under a key that does not contain the secret.
    let key = token_cache_key(CORP, &secret());
    assert!(key.starts_with("wecom:app:ww1234567890abcdef:") && !key.contains(SECRET));
    let cached = s.tokens.0.lock().unwrap().get(&key).cloned().unwrap();
    assert!(!cached.token.as_stored().contains("TOKEN-1"));
    let now = Timestamp::now();
    assert!(cached.expires_at > now.plus(Duration::from_secs(7100)));
    assert!(cached.expires_at <= now.plus(Duration::from_secs(7200)));
}

#[tokio::test]
async fn an_expired_token_is_refreshed_and_the_send_retried_once() {
    let s = setup().await;
    s.client
        .send(CORP, &secret(), "1000002", "u1", &text("warm up"))
        .await
        .unwrap();
    s.fake.lock().unwrap().expire_next = 1;
    s.client
        .send(CORP, &secret(), "1000002", "u1", &text("after expiry"))
        .await
        .unwrap();
    {
        let fake = s.fake.lock().unwrap();
        assert_eq!(fake.token_fetches, 2);
        assert_eq!(fake.sent.last().unwrap().0, "TOKEN-2");
    }

    // A token rejected twice is not retried a second time.
    s.fake.lock().unwrap().expire_next = 2;
    let err = s
        .client
        .send(CORP, &secret(), "1000002", "u1", &text("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 42001, .. }), "{err:?}");
    assert_eq!(s.fake.lock().unwrap().token_fetches, 3);
}

#[tokio::test]
async fn a_token_near_expiry_or_unreadable_is_refetched() {
    let s = setup().await;
    let key = token_cache_key(CORP, &secret());
    // Valid for 30 more seconds: inside the 60 s refresh margin.
    let sealed = s.keyring.seal(b"OLD", &key).await.unwrap();
    let expiring = CachedToken {
        token: sealed,
        expires_at: Timestamp::now().plus(Duration::from_secs(30)),
    };
    s.tokens.put_token(&key, &expiring).await.unwrap();
    s.client
        .send(CORP, &secret(), "1000002", "u1", &text("x"))
        .await
        .unwrap();
    assert_eq!(s.fake.lock().unwrap().token_fetches, 1);

    // Sealed under another context (e.g. copied from another key): cannot be opened.
    let foreign = CachedToken {
        token: s.keyring.seal(b"TOKEN-1", "other-context").await.unwrap(),
        expires_at: Timestamp::now().plus(Duration::from_secs(3600)),
    };
    s.tokens.put_token(&key, &foreign).await.unwrap();
    // This process still holds TOKEN-1 in memory; another one finds the store's unreadable.
    let token = s.client.access_token(CORP, &secret()).await.unwrap();
    assert_eq!(token.expose(), "TOKEN-1");
    let token = s.another_process().access_token(CORP, &secret()).await.unwrap();
    assert_eq!(token.expose(), "TOKEN-2");
    assert_eq!(s.fake.lock().unwrap().token_fetches, 2);
}

#[tokio::test]
async fn gettoken_errors_and_bad_messages_are_reported() {
    let s = setup().await;
    let err = s
        .client
        .send(CORP, &Secret::new("wrong"), "1000002", "u1", &text("x"))
        .await
        .unwrap_err();
    assert!(matches!(&err, ReplyError::Platform { code: 40001, message } if message == "invalid credential"));
    assert!(!err.to_string().contains("wrong"));
    let err = s
        .client
        .send(CORP, &secret(), "1000002", "u1", &json!("text"))
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Unsupported(_)));
    assert_eq!(s.fake.lock().unwrap().token_fetches, 0);
}

#[tokio::test]
async fn unreachable_api_is_a_transport_error_without_the_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = AppClient::new(
        reqwest::Client::new(),
        format!("http://{addr}"),
        Arc::new(MemoryTokens::default()),
        Arc::new(LocalKeyring::new(LocalKeyring::generate_key())),
    );
    let err = client.send(CORP, &secret(), "1", "u1", &text("x")).await.unwrap_err();
    assert!(matches!(&err, ReplyError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[tokio::test]
async fn response_url_outcomes() {
    let (base, fake) = start().await;
    let http = reqwest::Client::new();
    let body = json!({"msgtype": "markdown", "markdown": {"content": "**done**"}});

    ResponseUrl::send(
        &http,
        &format!("{base}/cgi-bin/aibot/response?response_code=RC1"),
        &body,
    )
    .await
    .unwrap();
    assert_eq!(fake.lock().unwrap().response_posts, vec![body.clone()]);
    ResponseUrl::send(&http, &format!("{base}/empty"), &body).await.unwrap();

    let err = ResponseUrl::send(&http, &format!("{base}/used?response_code=RC1"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 93000, .. }), "{err:?}");

    let err = ResponseUrl::send(&http, &format!("{base}/busy"), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplyError::RateLimited { retry_after } if retry_after == Duration::from_secs(7)),
        "{err:?}"
    );

    let err = ResponseUrl::send(&http, &format!("{base}/broken"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Transport(_)), "{err:?}");

    let err = ResponseUrl::send(&http, &format!("{base}/missing"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 404, .. }), "{err:?}");

    let err = ResponseUrl::send(&http, "not a url", &body).await.unwrap_err();
    assert!(matches!(err, ReplyError::Unsupported(_)), "{err:?}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = ResponseUrl::send(&http, &format!("http://{addr}/r?response_code=SECRET_CODE"), &body)
        .await
        .unwrap_err();
    assert!(matches!(&err, ReplyError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains("SECRET_CODE"), "{err}");
}
