//! The WebSocket (§3.3): a plain upgrade to the discovered URL, and what a refused handshake
//! means. Lark explains a refusal in the `Handshake-Status`, `Handshake-Msg` and
//! `Handshake-Autherrcode` response headers: 403 (forbidden) and 514 with auth error 1000040350
//! (more than 50 connections for the app) need an operator; anything else is retried.

use imgate_channel_kit::dial;
pub(super) use imgate_channel_kit::dial::describe;
use imgate_core::secret::Secret;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::http::HeaderMap;

/// Read buffer per connection: tungstenite allocates it up front (128 KiB by default), which
/// would dominate a relay holding many idle connections; it grows for a larger frame.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Largest frame or message accepted. Lark splits large events into fragments; the bound caps
/// what a misbehaving peer can make the relay buffer.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// `Handshake-Status` of a banned app.
const FORBIDDEN: i64 = 403;
/// `Handshake-Status` of an authentication failure.
const AUTH_FAILED: i64 = 514;
/// `Handshake-Autherrcode`: the app has too many connections.
const EXCEED_CONN_LIMIT: i64 = 1_000_040_350;
/// Longest `Handshake-Msg` kept.
const MAX_MSG_CHARS: usize = 200;

/// One long connection.
pub(super) type Socket = dial::Socket;

/// Why the connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialError {
    /// Lark refused the handshake in a way retrying will not fix; the text says why.
    Stop(String),
    /// Anything else; the text says what happened (never the URL).
    Retry(String),
}

/// Opens the WebSocket at `url` (`wss://` with the webpki roots, `ws://` for local fakes).
///
/// # Errors
/// [`DialError`], classified as in the module docs.
pub(super) async fn connect(url: &Secret) -> Result<Socket, DialError> {
    let limits = dial::Limits {
        read_buffer_bytes: READ_BUFFER_BYTES,
        max_message_bytes: MAX_MESSAGE_BYTES,
        ..dial::Limits::default()
    };
    dial::dial(url.expose(), limits).await.map_err(|error| match &error {
        dial::DialError::Socket(socket) if let WsError::Http(response) = &**socket => {
            refusal(response.status().as_u16(), response.headers())
        }
        _ => DialError::Retry(error.to_string()),
    })
}

/// Classifies a refused handshake from its headers (the HTTP status is only reported).
pub fn refusal(http_status: u16, headers: &HeaderMap) -> DialError {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let number = |name: &str| header(name).and_then(|v| v.parse::<i64>().ok());
    let status = number("Handshake-Status");
    let auth_code = number("Handshake-Autherrcode");
    let msg: String = header("Handshake-Msg")
        .unwrap_or_default()
        .chars()
        .take(MAX_MSG_CHARS)
        .collect();
    let mut text = format!("Lark refused the WebSocket handshake (HTTP {http_status}");
    if let Some(status) = status {
        text.push_str(&format!(", status {status}"));
    }
    if let Some(code) = auth_code {
        text.push_str(&format!(", auth error {code}"));
    }
    if !msg.is_empty() {
        text.push_str(&format!(": {msg}"));
    }
    text.push(')');
    match (status, auth_code) {
        (Some(FORBIDDEN), _) => DialError::Stop(format!("{text}; the app is forbidden from connecting")),
        (Some(AUTH_FAILED), Some(EXCEED_CONN_LIMIT)) => DialError::Stop(format!(
            "{text}; the app already has the most connections Lark allows (50)"
        )),
        _ => DialError::Retry(text),
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn stop_cases() {
        let forbidden = refusal(
            403,
            &headers(&[("Handshake-Status", "403"), ("Handshake-Msg", "banned")]),
        );
        assert_eq!(
            forbidden,
            DialError::Stop(
                "Lark refused the WebSocket handshake (HTTP 403, status 403: banned); the app is forbidden from connecting"
                    .into()
            )
        );
        let limit = refusal(
            400,
            &headers(&[
                ("Handshake-Status", "514"),
                ("Handshake-Autherrcode", "1000040350"),
                ("Handshake-Msg", "exceed conn limit"),
            ]),
        );
        let DialError::Stop(text) = limit else {
            panic!("{limit:?}")
        };
        assert!(
            text.contains("auth error 1000040350") && text.contains("(50)"),
            "{text}"
        );
    }

    #[test]
    fn retry_cases() {
        for pairs in [
            &[("Handshake-Status", "514"), ("Handshake-Autherrcode", "1000040343")][..],
            &[("Handshake-Status", "514")][..],
            &[("Handshake-Status", "500")][..],
            &[("Handshake-Status", "junk"), ("Handshake-Autherrcode", "1000040350")][..],
            &[][..],
        ] {
            assert!(
                matches!(refusal(403, &headers(pairs)), DialError::Retry(_)),
                "{pairs:?}"
            );
        }
        let DialError::Retry(text) = refusal(502, &headers(&[])) else {
            panic!()
        };
        assert_eq!(text, "Lark refused the WebSocket handshake (HTTP 502)");
    }

    #[tokio::test]
    async fn unreachable_is_retried_without_the_url() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = Secret::new(format!("ws://127.0.0.1:{port}/ws?ticket=secret-ticket"));
        let Err(DialError::Retry(text)) = connect(&url).await else {
            panic!("expected a retry")
        };
        assert!(!text.contains("secret-ticket") && !text.contains("127.0.0.1"), "{text}");
    }
}
