//! The Stream WebSocket (§1.2): tokio-tungstenite, with handshake errors described without the
//! URL (its query holds the single-use ticket).

use imgate_core::secret::Secret;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Read buffer per connection. tungstenite allocates its read buffer up front (128 KiB by
/// default), which would dominate the memory of a relay holding thousands of mostly idle
/// connections; DingTalk frames are a few KiB and a larger one still fits (the buffer grows).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Largest frame or message accepted: robot messages are far smaller, and the cap bounds what a
/// misbehaving peer can make the relay buffer.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// One Stream connection.
pub(super) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the WebSocket at `url` (`wss://` with the webpki roots, `ws://` for local fakes).
///
/// # Errors
/// A short description of the failure, without the URL or ticket.
pub(super) async fn connect(url: &Secret) -> Result<Socket, String> {
    imgate_channel_kit::dial::ensure_crypto_provider();
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Frames are written as they are sent (ACKs must not wait for more data).
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (socket, _response) = tokio_tungstenite::connect_async_with_config(url.expose(), Some(config), true)
        .await
        .map_err(|e| describe(&e))?;
    Ok(socket)
}

/// A socket error for logs and the integration status: its kind, never URLs or frame data.
pub(super) fn describe(error: &WsError) -> String {
    match error {
        WsError::Http(response) => format!(
            "the WebSocket handshake was refused (HTTP {})",
            response.status().as_u16()
        ),
        WsError::Io(e) => format!("network error: {}", e.kind()),
        WsError::Tls(_) => "TLS error".to_owned(),
        WsError::Url(_) => "the stream endpoint is not a usable WebSocket URL".to_owned(),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "the connection is closed".to_owned(),
        WsError::Protocol(e) => format!("WebSocket protocol error: {e}"),
        WsError::Capacity(e) => format!("frame too large: {e}"),
        other => format!("WebSocket error: {}", kind(other)),
    }
}

fn kind(error: &WsError) -> &'static str {
    match error {
        WsError::Utf8(_) => "invalid UTF-8",
        WsError::WriteBufferFull(_) => "write buffer full",
        WsError::AttackAttempt => "attack attempt",
        WsError::HttpFormat(_) => "malformed HTTP",
        _ => "other",
    }
}
