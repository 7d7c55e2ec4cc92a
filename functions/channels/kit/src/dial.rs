//! Opening a platform's WebSocket: rustls with the webpki roots (`wss://`) or plain `ws://` for
//! local fakes, a deadline on the whole handshake, bounded buffers, and the proxy named by the
//! standard environment (`HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, `ALL_PROXY` for
//! both, lower-case spellings too, `NO_PROXY` exceptions), reached with HTTP `CONNECT`.
//!
//! Errors describe what failed, never the URL: several platforms put a single-use ticket in it.

use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// One platform connection.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The longest a proxy's answer to `CONNECT` may be.
const MAX_PROXY_ANSWER_BYTES: usize = 8 * 1024;

/// A platform's socket limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Read buffer per connection. tungstenite allocates it up front (128 KiB by default),
    /// which would dominate a relay holding thousands of mostly idle connections; it grows for
    /// a larger frame.
    pub read_buffer_bytes: usize,
    /// Largest frame or message accepted: bounds what a misbehaving peer can make the relay
    /// buffer.
    pub max_message_bytes: usize,
    /// The deadline for TCP, proxy, TLS and WebSocket handshakes together.
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            read_buffer_bytes: 8 * 1024,
            max_message_bytes: 1024 * 1024,
            handshake_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The handshakes did not finish in time.
    #[error("the WebSocket handshake did not finish within {0:?}")]
    TimedOut(Duration),
    /// The URL or the proxy setting is unusable.
    #[error("{0}")]
    Config(String),
    /// The proxy refused or broke the tunnel.
    #[error("proxy: {0}")]
    Proxy(String),
    /// The TCP, TLS or WebSocket handshake failed ([`describe`] words it).
    #[error("{}", describe(.0))]
    Socket(Box<WsError>),
}

/// Installs ring as rustls's process-wide crypto provider unless one is set: several providers
/// are compiled in (the AWS SDK brings aws-lc-rs, reqwest brings ring), so rustls needs one
/// chosen, and tokio-tungstenite's default TLS config uses it.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Opens the WebSocket at `url` within `limits`. Frames are written as they are sent (acks must
/// not wait for more data).
///
/// # Errors
/// [`DialError`], never quoting the URL.
pub async fn dial(url: &str, limits: Limits) -> Result<Socket, DialError> {
    dial_with_env(url, limits, &|name| std::env::var(name).ok()).await
}

/// [`dial`] with the proxy settings read from `env`.
async fn dial_with_env(
    url: &str,
    limits: Limits,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Socket, DialError> {
    ensure_crypto_provider();
    let config = WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(0)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes));
    let proxy = proxy_for(url, env)?;
    let handshake = async {
        match proxy {
            None => tokio_tungstenite::connect_async_with_config(url, Some(config), true)
                .await
                .map(|(socket, _)| socket)
                .map_err(|e| DialError::Socket(Box::new(e))),
            Some(proxy) => {
                let tunnel = tunnel(&proxy, url).await?;
                tokio_tungstenite::client_async_tls_with_config(url, tunnel, Some(config), None)
                    .await
                    .map(|(socket, _)| socket)
                    .map_err(|e| DialError::Socket(Box::new(e)))
            }
        }
    };
    tokio::time::timeout(limits.handshake_timeout, handshake)
        .await
        .map_err(|_| DialError::TimedOut(limits.handshake_timeout))?
}

/// A socket error for logs and the integration status: its kind, never URLs or frame data.
pub fn describe(error: &WsError) -> String {
    match error {
        WsError::Http(response) => format!(
            "the WebSocket handshake was refused (HTTP {})",
            response.status().as_u16()
        ),
        WsError::Io(e) => format!("network error: {}", e.kind()),
        WsError::Tls(_) => "TLS error".to_owned(),
        WsError::Url(_) => "the endpoint is not a usable WebSocket URL".to_owned(),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "the connection is closed".to_owned(),
        WsError::Protocol(e) => format!("WebSocket protocol error: {e}"),
        WsError::Capacity(e) => format!("frame too large: {e}"),
        WsError::Utf8(_) => "WebSocket error: invalid UTF-8".to_owned(),
        WsError::WriteBufferFull(_) => "WebSocket error: write buffer full".to_owned(),
        WsError::AttackAttempt => "WebSocket error: attack attempt".to_owned(),
        WsError::HttpFormat(_) => "WebSocket error: malformed HTTP".to_owned(),
    }
}

/// An HTTP proxy to tunnel through.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Proxy {
    /// `host:port` of the proxy.
    address: String,
    /// `Proxy-Authorization` value, from the proxy URL's user and password.
    authorization: Option<String>,
}

/// The proxy the environment names for `url`, if any.
fn proxy_for(url: &str, env: &(dyn Fn(&str) -> Option<String> + Sync)) -> Result<Option<Proxy>, DialError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| DialError::Config("the endpoint is not a usable WebSocket URL".to_owned()))?;
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    let first = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
    let setting = match uri.scheme_str() {
        Some("wss") => first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
        Some("ws") => first(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]),
        _ => {
            return Err(DialError::Config(
                "the endpoint is not a ws:// or wss:// URL".to_owned(),
            ));
        }
    };
    let Some(setting) = setting else {
        return Ok(None);
    };
    if bypassed(&host, first(&["NO_PROXY", "no_proxy"]).as_deref().unwrap_or_default()) {
        return Ok(None);
    }
    parse_proxy(setting.trim()).map(Some)
}

/// Whether `NO_PROXY` (`*`, or a comma list of hosts and domain suffixes) exempts `host`.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.to_ascii_lowercase();
            let domain = entry.trim_start_matches("*.").trim_start_matches('.');
            entry == "*" || host == domain || host.ends_with(&format!(".{domain}"))
        })
}

/// `http://[user:password@]host[:port]` (a bare `host:port` too); the port defaults to 80.
fn parse_proxy(setting: &str) -> Result<Proxy, DialError> {
    let unusable = || DialError::Config("the proxy setting is not an http:// proxy URL".to_owned());
    let rest = match setting.split_once("://") {
        Some(("http" | "HTTP", rest)) => rest,
        Some(_) => return Err(unusable()),
        None => setting,
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (credentials, hostport) = match authority.rsplit_once('@') {
        Some((credentials, hostport)) => (Some(credentials), hostport),
        None => (None, authority),
    };
    if hostport.is_empty() {
        return Err(unusable());
    }
    let address = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        hostport.to_owned()
    } else {
        format!("{hostport}:80")
    };
    let authorization = credentials.map(|c| {
        let decoded = percent_decode(c);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded))
    });
    Ok(Proxy { address, authorization })
}

/// `%XX` escapes of a proxy URL's user info, decoded.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Opens a `CONNECT` tunnel through `proxy` to the host of `url`.
async fn tunnel(proxy: &Proxy, url: &str) -> Result<TcpStream, DialError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| DialError::Config("the endpoint is not a usable WebSocket URL".to_owned()))?;
    let host = uri.host().unwrap_or_default();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("wss") { 443 } else { 80 });
    let target = format!("{host}:{port}");
    let mut stream = TcpStream::connect(&proxy.address)
        .await
        .map_err(|e| DialError::Proxy(format!("cannot reach the proxy: {}", e.kind())))?;
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
    }
    request.push_str("\r\n");
    let lost = |e: std::io::Error| DialError::Proxy(format!("the tunnel broke: {}", e.kind()));
    stream.write_all(request.as_bytes()).await.map_err(lost)?;
    // Read the answer's head byte by byte so nothing of the tunnelled stream is consumed.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_ANSWER_BYTES {
            return Err(DialError::Proxy("the answer to CONNECT is too long".to_owned()));
        }
        let byte = stream.read_u8().await.map_err(lost)?;
        head.push(byte);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(DialError::Proxy(format!("CONNECT was refused (HTTP {status})")));
    }
    Ok(stream)
}

#[cfg(test)]
#[path = "dial_tests.rs"]
mod tests;
