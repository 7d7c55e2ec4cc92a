//! Stream registration (§1.1, §1.2): `POST /v1.0/gateway/connections/open` for an endpoint and
//! a single-use ticket, and the WebSocket URL built from them.

use std::time::Duration;

use imgate_core::secret::Secret;
use serde::{Deserialize, Serialize};

use super::{StreamError, topics};

/// The registration path under the API base (`https://api.dingtalk.com`).
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";

/// How long the registration call may take (the SDKs use 5–10 s).
const TIMEOUT: Duration = Duration::from_secs(10);

/// The `ua` the gateway announces (`name-sdk-lang/version` in the SDKs).
const USER_AGENT: &str = concat!("imgate-gateway-rust/", env!("CARGO_PKG_VERSION"));

/// A subscription's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SubscriptionType {
    /// Event pushes.
    Event,
    /// Callbacks (robot messages, card actions).
    Callback,
    /// Connection management (the server sends `ping`/`disconnect` without it too).
    System,
}

/// One `{type, topic}` subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The type.
    #[serde(rename = "type")]
    pub kind: SubscriptionType,
    /// The topic (see [`topics`]).
    pub topic: String,
}

impl Subscription {
    /// Robot messages.
    pub fn bot_messages() -> Self {
        Self::callback(topics::BOT_MESSAGE)
    }

    /// Interactive-card actions.
    pub fn card_callbacks() -> Self {
        Self::callback(topics::CARD_CALLBACK)
    }

    /// Every event ticked in the developer console.
    pub fn all_events() -> Self {
        Self {
            kind: SubscriptionType::Event,
            topic: topics::ALL_EVENTS.to_owned(),
        }
    }

    fn callback(topic: &str) -> Self {
        Self {
            kind: SubscriptionType::Callback,
            topic: topic.to_owned(),
        }
    }
}

/// The registration request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenConnectionRequest<'a> {
    /// The app's ClientID (AppKey).
    pub client_id: &'a str,
    /// The app's ClientSecret.
    pub client_secret: &'a str,
    /// What to receive.
    pub subscriptions: &'a [Subscription],
    /// Client tag.
    pub ua: &'a str,
    /// Local IP(s) for DingTalk's troubleshooting, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_ip: Option<&'a str>,
}

impl std::fmt::Debug for OpenConnectionRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConnectionRequest")
            .field("client_id", &self.client_id)
            .field("subscriptions", &self.subscriptions)
            .finish_non_exhaustive()
    }
}

/// The registration answer: where to connect and the single-use ticket (valid 90 s).
#[derive(Deserialize, Default)]
pub struct OpenConnectionResponse {
    /// `wss://…/connect`; use it verbatim.
    #[serde(default)]
    pub endpoint: String,
    /// The ticket; a credential for one connection.
    #[serde(default)]
    pub ticket: String,
}

impl std::fmt::Debug for OpenConnectionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenConnectionResponse").finish_non_exhaustive()
    }
}

/// The new-style OpenAPI error body (`{"requestid","code","message"}`).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
}

/// Registers a connection for app `client_id` at `base_url` (normally
/// [`crate::api::DEFAULT_BASE_URL`]) and returns the endpoint and ticket.
///
/// # Errors
/// [`StreamError::BadCredentials`] on 401/403 (e.g. code `authFailed`), [`StreamError::Refused`]
/// on other 4xx, [`StreamError::Unavailable`] on 429/5xx, [`StreamError::Transport`] when
/// DingTalk cannot be reached, [`StreamError::BadResponse`] for a 2xx without endpoint and
/// ticket. None of them carry the secret or the ticket.
pub async fn open_connection(
    http: &reqwest::Client,
    base_url: &str,
    client_id: &str,
    client_secret: &Secret,
    subscriptions: &[Subscription],
) -> Result<(String, Secret), StreamError> {
    let body = OpenConnectionRequest {
        client_id,
        client_secret: client_secret.expose(),
        subscriptions,
        ua: USER_AGENT,
        local_ip: None,
    };
    tracing::debug!(platform = "dingtalk", client_id, "registering a stream connection");
    let response = http
        .post(format!("{}{OPEN_PATH}", base_url.trim_end_matches('/')))
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(TIMEOUT)
        .json(&body)
        .send()
        .await
        .map_err(|e| StreamError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| StreamError::Transport(e.without_url().to_string()))?;
    if !status.is_success() {
        let code = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.code.chars().take(100).collect())
            .unwrap_or_default();
        let status = status.as_u16();
        tracing::warn!(platform = "dingtalk", client_id, status, code = %code, "stream registration refused");
        return Err(match status {
            401 | 403 => StreamError::BadCredentials { status, code },
            429 | 500..=599 => StreamError::Unavailable { status },
            _ => StreamError::Refused { status, code },
        });
    }
    let parsed: OpenConnectionResponse =
        serde_json::from_slice(&bytes).map_err(|_| StreamError::BadResponse("not JSON"))?;
    if parsed.endpoint.is_empty() || parsed.ticket.is_empty() {
        return Err(StreamError::BadResponse("no endpoint or ticket"));
    }
    Ok((parsed.endpoint, Secret::new(parsed.ticket)))
}

/// The WebSocket URL: `endpoint?ticket=<ticket>`, the ticket form-URL-encoded (as the Python
/// SDK's `quote_plus`; UUID-like tickets are unchanged). The result contains the ticket, so it
/// is returned as a [`Secret`]: never log it.
///
/// # Errors
/// [`StreamError::BadEndpoint`] when `endpoint` is not a `ws://` or `wss://` URL.
pub fn connect_url(endpoint: &str, ticket: &Secret) -> Result<Secret, StreamError> {
    let mut url = reqwest::Url::parse(endpoint).map_err(|_| StreamError::BadEndpoint)?;
    if !matches!(url.scheme(), "ws" | "wss") || url.host_str().is_none() {
        return Err(StreamError::BadEndpoint);
    }
    url.query_pairs_mut().append_pair("ticket", ticket.expose());
    Ok(Secret::new(String::from(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_url_encodes_like_quote_plus() {
        let url = connect_url(
            "wss://wss-open-connection.dingtalk.com:443/connect",
            &Secret::new("tick+et/=1"),
        )
        .unwrap();
        // The default port is dropped by URL normalization; the path and query are what matter.
        assert_eq!(
            url.expose(),
            "wss://wss-open-connection.dingtalk.com/connect?ticket=tick%2Bet%2F%3D1"
        );
        let url = connect_url("ws://127.0.0.1:9/connect?x=1", &Secret::new("7724109a-aa")).unwrap();
        assert_eq!(url.expose(), "ws://127.0.0.1:9/connect?x=1&ticket=7724109a-aa");
        for bad in ["https://example.com/connect", "not a url", "wss://"] {
            assert_eq!(
                connect_url(bad, &Secret::new("t")),
                Err(StreamError::BadEndpoint),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_body_and_debug_hide_nothing_they_should_not() {
        let subs = [Subscription::all_events(), Subscription::bot_messages()];
        let body = OpenConnectionRequest {
            client_id: "dingabc",
            client_secret: "s3cret",
            subscriptions: &subs,
            ua: "ua",
            local_ip: None,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"clientId": "dingabc", "clientSecret": "s3cret", "ua": "ua",
                "subscriptions": [{"type": "EVENT", "topic": "*"},
                                  {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}]})
        );
        assert!(!format!("{body:?}").contains("s3cret"));
        let response = OpenConnectionResponse {
            endpoint: "wss://e".into(),
            ticket: "tick".into(),
        };
        assert!(!format!("{response:?}").contains("tick"));
    }
}
