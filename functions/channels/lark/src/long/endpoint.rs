//! Endpoint discovery (§3.2): `POST {base}/callback/ws/endpoint` with the app id and secret
//! returns a fresh WebSocket URL (never reused) and the server's client config.
//!
//! Classification follows the SDKs: HTTP other than 200, body code `1` (system busy) and
//! `1000040343` (internal error) are worth retrying; any other code means the app id or secret
//! was refused and retrying cannot help.

use std::time::Duration;

use imgate_core::secret::Secret;
use serde::Deserialize;

use super::config::ConfigUpdate;

/// The discovery path under the Feishu or Lark base URL.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";

/// How long discovery may take (the Node SDK's timeout).
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// Body code: system busy.
const SYSTEM_BUSY: i64 = 1;
/// Body code: internal error.
const INTERNAL_ERROR: i64 = 1_000_040_343;
/// The SDKs' local code for an empty app id or secret.
pub const NO_CREDENTIAL: i64 = 1_000_040_344;

/// Longest platform message kept in an error.
const MAX_MSG_CHARS: usize = 200;

/// What discovery returned.
pub struct Endpoint {
    /// The WebSocket URL. Its query carries connection credentials: never log it.
    pub url: Secret,
    /// The `service_id` of the URL's query (0 when absent or not a number, as the Go SDK does),
    /// put in every frame the client sends.
    pub service_id: i32,
    /// The `device_id` of the URL's query: Lark's connection id, for logs.
    pub device_id: String,
    /// The server's client config, when it sent one.
    pub config: Option<ConfigUpdate>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("service_id", &self.service_id)
            .field("device_id", &self.device_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Discovery failed. Messages carry Lark's code and message, never the secret or the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The app id or secret is empty (the SDKs' local code 1000040344).
    #[error("the app id or app secret is empty (code 1000040344)")]
    NoCredentials,
    /// Lark refused the app (any code other than 0, 1 and 1000040343): bad app id or secret,
    /// long connection not enabled, …
    #[error("Lark refused the long connection (code {code}: {msg})")]
    Refused {
        /// Lark's code.
        code: i64,
        /// Lark's message, shortened.
        msg: String,
    },
    /// Lark is busy or failed internally (code 1 or 1000040343).
    #[error("Lark is busy (code {code}: {msg})")]
    Busy {
        /// Lark's code.
        code: i64,
        /// Lark's message, shortened.
        msg: String,
    },
    /// An HTTP status other than 200.
    #[error("endpoint discovery answered HTTP {status}")]
    Status {
        /// The status.
        status: u16,
    },
    /// The request did not get an answer.
    #[error("endpoint discovery failed: {0}")]
    Transport(String),
    /// A 200 answer without a usable URL.
    #[error("unexpected endpoint answer: {0}")]
    BadResponse(&'static str),
}

impl EndpointError {
    /// Whether another attempt may succeed; false means the credentials must change first.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::NoCredentials | Self::Refused { .. })
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    data: Option<AnswerData>,
}

#[derive(Deserialize)]
struct AnswerData {
    #[serde(default, rename = "URL")]
    url: String,
    #[serde(default, rename = "ClientConfig")]
    client_config: Option<ConfigUpdate>,
}

/// Asks `base` (normally [`crate::Endpoints::base`] of the app's domain) for a
/// connection URL.
///
/// # Errors
/// See [`EndpointError`]; [`EndpointError::is_retryable`] tells what to do.
pub async fn discover(
    http: &reqwest::Client,
    base: &str,
    app_id: &str,
    app_secret: &Secret,
) -> Result<Endpoint, EndpointError> {
    if app_id.is_empty() || app_secret.is_empty() {
        return Err(EndpointError::NoCredentials);
    }
    let body = serde_json::json!({"AppID": app_id, "AppSecret": app_secret.expose()});
    let response = http
        .post(format!("{}{ENDPOINT_PATH}", base.trim_end_matches('/')))
        .header("locale", "zh")
        .timeout(TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| EndpointError::Transport(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| EndpointError::Transport(e.without_url().to_string()))?;
    classify(status, &bytes)
}

/// Reads a discovery answer (status and body).
///
/// # Errors
/// As [`discover`].
pub fn classify(status: u16, body: &[u8]) -> Result<Endpoint, EndpointError> {
    if status != 200 {
        return Err(EndpointError::Status { status });
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|_| EndpointError::BadResponse("not JSON"))?;
    let code = answer.code.ok_or(EndpointError::BadResponse("no code"))?;
    let msg = || answer.msg.chars().take(MAX_MSG_CHARS).collect::<String>();
    match code {
        0 => {}
        SYSTEM_BUSY | INTERNAL_ERROR => return Err(EndpointError::Busy { code, msg: msg() }),
        _ => return Err(EndpointError::Refused { code, msg: msg() }),
    }
    let data = answer.data.ok_or(EndpointError::BadResponse("no data"))?;
    let url = reqwest::Url::parse(&data.url).map_err(|_| EndpointError::BadResponse("no usable URL"))?;
    if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none() {
        return Err(EndpointError::BadResponse("the URL is not a WebSocket URL"));
    }
    let query = |name: &str| {
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    Ok(Endpoint {
        service_id: query("service_id").and_then(|s| s.parse().ok()).unwrap_or(0),
        device_id: query("device_id").unwrap_or_default(),
        config: data.client_config,
        url: Secret::new(data.url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Result<Endpoint, EndpointError> {
        classify(200, json.as_bytes())
    }

    #[test]
    fn a_good_answer() {
        let endpoint = answer(
            r#"{"code":0,"msg":"ok","data":{"URL":"wss://msg.example/ws/v2?fpid=1&device_id=d1&access_key=k&service_id=3501&ticket=t",
                "ClientConfig":{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":90}}}"#,
        )
        .unwrap();
        assert_eq!(endpoint.service_id, 3501);
        assert_eq!(endpoint.device_id, "d1");
        assert!(endpoint.url.expose().ends_with("ticket=t"));
        let mut config = crate::long::ClientConfig::default();
        config.apply(endpoint.config.as_ref().unwrap());
        assert_eq!(config.ping_interval, Duration::from_secs(90));
        let debug = format!("{endpoint:?}");
        assert!(!debug.contains("ticket") && !debug.contains("access_key"), "{debug}");
    }

    #[test]
    fn service_id_is_optional_and_config_too() {
        let endpoint = answer(r#"{"code":0,"data":{"URL":"ws://127.0.0.1:9/ws?service_id=s1"}}"#).unwrap();
        assert_eq!((endpoint.service_id, endpoint.device_id.as_str()), (0, ""));
        assert!(endpoint.config.is_none());
    }

    #[test]
    fn what_is_retried_and_what_stops() {
        let busy = answer(r#"{"code":1,"msg":"system busy"}"#).unwrap_err();
        assert!(busy.is_retryable());
        let internal = answer(r#"{"code":1000040343,"msg":"internal"}"#).unwrap_err();
        assert_eq!(
            internal,
            EndpointError::Busy {
                code: 1_000_040_343,
                msg: "internal".into()
            }
        );
        let refused = answer(r#"{"code":10003,"msg":"invalid app_secret"}"#).unwrap_err();
        assert!(!refused.is_retryable());
        assert_eq!(
            refused.to_string(),
            "Lark refused the long connection (code 10003: invalid app_secret)"
        );
        let long = answer(&format!(r#"{{"code":99,"msg":"{}"}}"#, "x".repeat(500))).unwrap_err();
        assert!(long.to_string().len() < 300);
        for status in [500, 502, 429, 404, 401] {
            let err = classify(status, br#"{"code":10003}"#).unwrap_err();
            assert!(err.is_retryable(), "HTTP {status}");
        }
        for bad in [
            "nope",
            r#"{"msg":"no code"}"#,
            r#"{"code":0}"#,
            r#"{"code":0,"data":{"URL":""}}"#,
            r#"{"code":0,"data":{"URL":"https://x/ws"}}"#,
        ] {
            let err = answer(bad).unwrap_err();
            assert!(matches!(err, EndpointError::BadResponse(_)), "{bad}: {err}");
            assert!(err.is_retryable());
        }
        assert!(!EndpointError::NoCredentials.is_retryable());
    }

    /// The request as the SDKs send it: path, `locale: zh`, JSON body with PascalCase keys.
    #[tokio::test]
    async fn request_shape() {
        use std::sync::{Arc, Mutex};

        use axum::http::HeaderMap;
        use axum::routing::post;
        use serde_json::Value;

        type Seen = Arc<Mutex<Option<(String, Option<String>, Value)>>>;

        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route(
                ENDPOINT_PATH,
                post(
                    |axum::extract::State(seen): axum::extract::State<Seen>, headers: HeaderMap, body: String| async move {
                        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                        let body: Value = serde_json::from_str(&body).unwrap();
                        *seen.lock().unwrap() = Some((header("locale").unwrap_or_default(), header("content-type"), body));
                        r#"{"code":0,"data":{"URL":"ws://127.0.0.1:1/ws?device_id=d9&service_id=77"}}"#
                    },
                ),
            )
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let endpoint = discover(&reqwest::Client::new(), &base, "cli_a1", &Secret::new("s3cret"))
            .await
            .unwrap();
        assert_eq!((endpoint.service_id, endpoint.device_id.as_str()), (77, "d9"));
        let (locale, content_type, body) = seen.lock().unwrap().take().unwrap();
        assert_eq!(locale, "zh");
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(body, serde_json::json!({"AppID": "cli_a1", "AppSecret": "s3cret"}));

        let down = discover(
            &reqwest::Client::new(),
            "http://127.0.0.1:1",
            "cli_a1",
            &Secret::new("s3cret"),
        )
        .await
        .unwrap_err();
        assert!(down.is_retryable());
        assert!(!down.to_string().contains("s3cret"), "{down}");
    }

    #[tokio::test]
    async fn empty_credentials_are_refused_locally() {
        let http = reqwest::Client::new();
        let err = discover(&http, "http://127.0.0.1:9", "", &Secret::new("s"))
            .await
            .unwrap_err();
        assert_eq!(err, EndpointError::NoCredentials);
        let err = discover(&http, "http://127.0.0.1:9", "cli_1", &Secret::new(""))
            .await
            .unwrap_err();
        assert_eq!(err, EndpointError::NoCredentials);
    }
}
