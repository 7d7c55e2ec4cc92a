//! The DingTalk HTTP clients against a small fake DingTalk API on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use imgate_channel_kit::tokens::MemoryTokens;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use imgate_core::Timestamp;
use imgate_core::credentials::Dingtalk;
use imgate_core::keyring::Keyring;
use imgate_core::keyring::LocalKeyring;
use imgate_core::ports::{CachedToken, ReplyError, TokenCache};
use imgate_core::secret::Secret;
use imgate_dingtalk::api::{RobotApi, SessionWebhook, token_cache_key};
use imgate_dingtalk::reply::payload::{self, Sample};
use serde_json::{Value, json};

const CLIENT_ID: &str = "dingclient123";
const SECRET: &str = "client-s3cret-value";
const ROBOT: &str = "dingrobot456";

#[derive(Default)]
struct Fake {
    token_fetches: usize,
    /// The token the token endpoint handed out last.
    current: String,
    /// How many sends to answer with `InvalidAuthentication` regardless of the token.
    expire_next: usize,
    /// How many sends to answer with a 403 QpsLimit.
    qps_next: usize,
    /// Users batchSend reports as flow-controlled / invalid.
    flow_controlled: Vec<String>,
    invalid: Vec<String>,
    /// Accepted sends: (path, token, body).
    sent: Vec<(String, String, Value)>,
    webhook_posts: Vec<Value>,
}

type Shared = Arc<Mutex<Fake>>;

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"requestid": "R-1", "code": code, "message": message})),
    )
        .into_response()
}

async fn access_token(State(fake): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut fake = fake.lock().unwrap();
    if body["appKey"] != CLIENT_ID || body["appSecret"] != SECRET {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    fake.token_fetches += 1;
    fake.current = format!("TOKEN-{}", fake.token_fetches);
    Json(json!({"accessToken": fake.current, "expireIn": 7200})).into_response()
}

/// The token of an accepted call, or the (status, code, message) of the refusal.
fn check(fake: &mut Fake, headers: &HeaderMap) -> Result<String, (StatusCode, &'static str, &'static str)> {
    if fake.expire_next > 0 {
        fake.expire_next -= 1;
        return Err((StatusCode::BAD_REQUEST, "InvalidAuthentication", "不合法的access_token"));
    }
    if fake.qps_next > 0 {
        fake.qps_next -= 1;
        return Err((
            StatusCode::FORBIDDEN,
            "Forbidden.AccessDenied.QpsLimitForApi",
            "qps limit",
        ));
    }
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if token != fake.current {
        return Err((
            StatusCode::UNAUTHORIZED,
            "InvalidAuthentication",
            "不合法的access_token",
        ));
    }
    Ok(token)
}

async fn batch_send(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut fake = fake.lock().unwrap();
    let token = match check(&mut fake, &headers) {
        Ok(token) => token,
        Err((status, code, message)) => return error(status, code, message),
    };
    let flow = fake.flow_controlled.clone();
    let invalid = fake.invalid.clone();
    fake.sent.push(("batchSend".into(), token, body));
    Json(json!({"processQueryKey": "PQK-1", "flowControlledStaffIdList": flow, "invalidStaffIdList": invalid}))
        .into_response()
}

async fn group_send(State(fake): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut fake = fake.lock().unwrap();
    let token = match check(&mut fake, &headers) {
        Ok(token) => token,
        Err((status, code, message)) => return error(status, code, message),
    };
    fake.sent.push(("groupSend".into(), token, body));
    Json(json!({"processQueryKey": "PQK-G"})).into_response()
}

async fn send_by_session(
    State(fake): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let answer = match q.get("session").map(String::as_str) {
        Some("ok") => {
            fake.lock().unwrap().webhook_posts.push(body);
            json!({"errcode": 0, "errmsg": "ok"})
        }
        Some("gone") => json!({"errcode": 300_001, "errmsg": "session 不存在"}),
        Some("fast") => json!({"errcode": 130_101, "errmsg": "send too fast, exceed 20 times per minute"}),
        _ => json!({"errcode": 460_101, "errmsg": "message too long, exceed 20000 bytes"}),
    };
    Json(answer)
}

async fn busy() -> Response {
    (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")], "slow down").into_response()
}

async fn broken() -> StatusCode {
    StatusCode::BAD_GATEWAY
}

async fn empty() -> StatusCode {
    StatusCode::OK
}

async fn start() -> (String, Shared) {
    let fake: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1.0/oauth2/accessToken", post(access_token))
        .route("/v1.0/robot/oToMessages/batchSend", post(batch_send))
        .route("/v1.0/robot/groupMessages/send", post(group_send))
        .route("/robot/sendBySession", post(send_by_session))
        .route("/busy", post(busy))
        .route("/broken", post(broken))
        .route("/empty", post(empty))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

struct Setup {
    api: RobotApi,
    fake: Shared,
    tokens: Arc<MemoryTokens>,
    keyring: Arc<LocalKeyring>,
    base: String,
}

impl Setup {
    /// The API as another process sees it: the same store, nothing in memory.
    fn another_process(&self) -> RobotApi {
        RobotApi::new(
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
    let api = RobotApi::new(
        reqwest::Client::new(),
        format!("{base}/"),
        tokens.clone(),
        keyring.clone(),
    );
    Setup {
        api,
        fake,
        tokens,
        keyring,
        base,
    }
}

fn app(secret: &str) -> Dingtalk {
    Dingtalk {
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(secret),
        robot_code: ROBOT.into(),
        card_template_id: None,
    }
}

#[tokio::test]
async fn sends_to_users_and_groups_with_a_cached_token() {
    let s = setup().await;
    let key = s
        .api
        .send_to_user(&app(SECRET), "042297", &Sample::markdown("T", "**hi**"))
        .await
        .unwrap();
    assert_eq!(key, "PQK-1");
    let key = s
        .api
        .send_to_group(&app(SECRET), "cidGroup==", &Sample::text("hello"))
        .await
        .unwrap();
    assert_eq!(key, "PQK-G");
    let fake = s.fake.lock().unwrap();
    assert_eq!(fake.token_fetches, 1);
    let (_, token, body) = &fake.sent[0];
    assert_eq!(token, "TOKEN-1");
    assert_eq!(body["robotCode"], ROBOT);
    assert_eq!(body["userIds"], json!(["042297"]));
    assert_eq!(body["msgKey"], "sampleMarkdown");
    // msgParam is a JSON string.
    let param: Value = serde_json::from_str(body["msgParam"].as_str().unwrap()).unwrap();
    assert_eq!(param, json!({"title": "T", "text": "**hi**"}));
    let (_, _, group) = &fake.sent[1];
    assert_eq!(group["openConversationId"], "cidGroup==");
    assert_eq!(group["msgKey"], "sampleText");
    assert_eq!(group["robotCode"], ROBOT);

    // The cache holds the token sealed, under a key that does not contain the secret.
    let key = token_cache_key(CLIENT_ID, &Secret::new(SECRET));
    assert!(key.starts_with("dingtalk:app:dingclient123:") && !key.contains(SECRET));
    let cached = s.tokens.0.lock().unwrap().get(&key).cloned().unwrap();
    assert!(!cached.token.as_stored().contains("TOKEN-1"));
    let now = Timestamp::now();
    assert!(cached.expires_at > now.plus(Duration::from_secs(7100)));
    assert!(cached.expires_at <= now.plus(Duration::from_secs(7200)));
}

#[tokio::test]
async fn an_invalid_token_is_refreshed_and_the_send_retried_once() {
    let s = setup().await;
    let msg = Sample::text("x");
    s.api.send_to_user(&app(SECRET), "u1", &msg).await.unwrap();
    s.fake.lock().unwrap().expire_next = 1;
    s.api.send_to_user(&app(SECRET), "u1", &msg).await.unwrap();
    {
        let fake = s.fake.lock().unwrap();
        assert_eq!(fake.token_fetches, 2);
        assert_eq!(fake.sent.last().unwrap().1, "TOKEN-2");
    }
    // Rejected twice: reported, not retried again.
    s.fake.lock().unwrap().expire_next = 2;
    let err = s.api.send_to_group(&app(SECRET), "cid", &msg).await.unwrap_err();
    assert!(
        matches!(&err, ReplyError::Platform { code: 400, message } if message.starts_with("InvalidAuthentication")),
        "{err:?}"
    );
    assert_eq!(s.fake.lock().unwrap().token_fetches, 3);
}

#[tokio::test]
async fn a_token_near_expiry_or_unreadable_is_refetched() {
    let s = setup().await;
    let key = token_cache_key(CLIENT_ID, &Secret::new(SECRET));
    // Valid for 4 more minutes: inside the 5-minute refresh margin.
    let expiring = CachedToken {
        token: s.keyring.seal(b"OLD", &key).await.unwrap(),
        expires_at: Timestamp::now().plus(Duration::from_secs(240)),
    };
    s.tokens.put_token(&key, &expiring).await.unwrap();
    assert_eq!(s.api.access_token(&app(SECRET)).await.unwrap().expose(), "TOKEN-1");
    // Sealed under another context: cannot be opened, so refetched.
    let foreign = CachedToken {
        token: s.keyring.seal(b"TOKEN-1", "other-context").await.unwrap(),
        expires_at: Timestamp::now().plus(Duration::from_secs(3600)),
    };
    s.tokens.put_token(&key, &foreign).await.unwrap();
    // This process still holds TOKEN-1 in memory; another one finds the store's unreadable.
    assert_eq!(s.api.access_token(&app(SECRET)).await.unwrap().expose(), "TOKEN-1");
    let other = s.another_process();
    assert_eq!(other.access_token(&app(SECRET)).await.unwrap().expose(), "TOKEN-2");
    // A valid cached token is used as is.
    assert_eq!(other.access_token(&app(SECRET)).await.unwrap().expose(), "TOKEN-2");
    assert_eq!(
        s.another_process().access_token(&app(SECRET)).await.unwrap().expose(),
        "TOKEN-2"
    );
    assert_eq!(s.fake.lock().unwrap().token_fetches, 2);
}

#[tokio::test]
async fn rate_limits_and_refusals() {
    let s = setup().await;
    let msg = Sample::text("x");
    s.fake.lock().unwrap().qps_next = 1;
    let err = s.api.send_to_group(&app(SECRET), "cid", &msg).await.unwrap_err();
    assert!(
        matches!(err, ReplyError::RateLimited { retry_after } if retry_after == Duration::from_secs(2)),
        "{err:?}"
    );
    s.fake.lock().unwrap().flow_controlled = vec!["u1".into()];
    let err = s.api.send_to_user(&app(SECRET), "u1", &msg).await.unwrap_err();
    assert!(matches!(err, ReplyError::RateLimited { .. }), "{err:?}");
    s.fake.lock().unwrap().flow_controlled.clear();
    s.fake.lock().unwrap().invalid = vec!["ghost".into()];
    let err = s.api.send_to_user(&app(SECRET), "ghost", &msg).await.unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 400, .. }), "{err:?}");
    // Other users in the list do not fail this send.
    s.api.send_to_user(&app(SECRET), "u2", &msg).await.unwrap();
}

#[tokio::test]
async fn bad_credentials_and_unreachable_api_do_not_leak_the_secret() {
    let s = setup().await;
    let err = s
        .api
        .send_to_user(&app("wrong-secret"), "u1", &Sample::text("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReplyError::Platform { code: 400, message } if message.starts_with("invalidClientIdOrSecret")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-secret"));
    assert_eq!(s.fake.lock().unwrap().token_fetches, 0);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = RobotApi::new(
        reqwest::Client::new(),
        format!("http://{addr}"),
        Arc::new(MemoryTokens::default()),
        Arc::new(LocalKeyring::new(LocalKeyring::generate_key())),
    );
    let err = api
        .send_to_user(&app(SECRET), "u1", &Sample::text("x"))
        .await
        .unwrap_err();
    assert!(matches!(&err, ReplyError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains(SECRET), "{err}");
}

#[tokio::test]
async fn session_webhook_outcomes() {
    let (base, fake) = start().await;
    let http = reqwest::Client::new();
    let body = payload::mention(payload::markdown("Done", "**done**"), &["042297"]);

    SessionWebhook::send(&http, &format!("{base}/robot/sendBySession?session=ok"), &body)
        .await
        .unwrap();
    assert_eq!(fake.lock().unwrap().webhook_posts, vec![body.clone()]);
    SessionWebhook::send(&http, &format!("{base}/empty"), &body)
        .await
        .unwrap();

    let err = SessionWebhook::send(&http, &format!("{base}/robot/sendBySession?session=gone"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Expired), "{err:?}");

    let err = SessionWebhook::send(&http, &format!("{base}/robot/sendBySession?session=fast"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::RateLimited { .. }), "{err:?}");

    let err = SessionWebhook::send(&http, &format!("{base}/robot/sendBySession?session=long"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 460_101, .. }), "{err:?}");

    let err = SessionWebhook::send(&http, &format!("{base}/busy"), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplyError::RateLimited { retry_after } if retry_after == Duration::from_secs(7)),
        "{err:?}"
    );
    let err = SessionWebhook::send(&http, &format!("{base}/broken"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Transport(_)), "{err:?}");
    let err = SessionWebhook::send(&http, &format!("{base}/missing"), &body)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplyError::Platform { code: 404, .. }), "{err:?}");
    for bad in ["not a url", "ftp://example.com/x"] {
        let err = SessionWebhook::send(&http, bad, &body).await.unwrap_err();
        assert!(matches!(err, ReplyError::Unsupported(_)), "{err:?}");
    }

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = SessionWebhook::send(
        &http,
        &format!("http://{addr}/robot/sendBySession?session=SESSION_SECRET"),
        &body,
    )
    .await
    .unwrap_err();
    assert!(matches!(&err, ReplyError::Transport(_)), "{err:?}");
    assert!(!err.to_string().contains("SESSION_SECRET"), "{err}");
}
