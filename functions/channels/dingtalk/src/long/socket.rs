//! The Stream WebSocket (§1.2): tokio-tungstenite, with handshake errors described without the
//! URL (its query holds the single-use ticket).

use imgate_channel_kit::dial;
pub(super) use imgate_channel_kit::dial::describe;
use imgate_core::secret::Secret;

/// Read buffer per connection. tungstenite allocates its read buffer up front (128 KiB by
/// default), which would dominate the memory of a relay holding thousands of mostly idle
/// connections; DingTalk frames are a few KiB and a larger one still fits (the buffer grows).
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Largest frame or message accepted: robot messages are far smaller, and the cap bounds what a
/// misbehaving peer can make the relay buffer.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// One Stream connection.
pub(super) type Socket = dial::Socket;

/// Opens the WebSocket at `url` (`wss://` with the webpki roots, `ws://` for local fakes).
///
/// # Errors
/// A short description of the failure, without the URL or ticket.
pub(super) async fn connect(url: &Secret) -> Result<Socket, String> {
    let limits = dial::Limits {
        read_buffer_bytes: READ_BUFFER_BYTES,
        max_message_bytes: MAX_MESSAGE_BYTES,
        ..dial::Limits::default()
    };
    dial::dial(url.expose(), limits).await.map_err(|e| e.to_string())
}
