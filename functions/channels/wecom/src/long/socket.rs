//! The production socket: tokio-tungstenite, adapted to the text-frame `Sink`/`Stream` the
//! driver takes.

use std::future::ready;
use std::pin::Pin;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use imgate_channel_kit::dial;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The error of tungstenite sockets.
pub use tokio_tungstenite::tungstenite::Error as WsError;

/// The public WeCom long-connection endpoint (§3.1); private deployments show their own in
/// the admin console.
pub const DEFAULT_URL: &str = "wss://openws.work.weixin.qq.com";

/// Read buffer per connection. tungstenite fills its whole read buffer on every read (128 KiB by
/// default), which would dominate the memory of a relay holding thousands of mostly idle
/// connections; acks and most callbacks are well under 2 KiB, and a larger frame still fits
/// (the buffer grows for it).
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Largest message accepted: callbacks are far smaller (a stream reply holds at most 20,480
/// bytes), and the cap bounds what a misbehaving peer can make the relay buffer.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// A text-frame WebSocket as [`super::run`] takes it.
pub trait TextSocket: Sink<String, Error = WsError> + Stream<Item = Result<String, WsError>> + Unpin + Send {}

impl<T> TextSocket for T where T: Sink<String, Error = WsError> + Stream<Item = Result<String, WsError>> + Unpin + Send {}

/// The WebSocket handshake failed. The message names the failure, never credentials (the URL
/// carries none).
#[derive(Debug, thiserror::Error)]
#[error("WebSocket connect failed: {0}")]
pub struct ConnectError(String);

/// Opens a WebSocket to `url` (`wss://` with the webpki roots, or `ws://` for tests; see
/// [`imgate_channel_kit::dial`]) and returns it as a text-frame socket for [`super::run`].
///
/// # Errors
/// [`ConnectError`] when the TCP, TLS or WebSocket handshake fails.
pub async fn connect(url: &str) -> Result<impl TextSocket + use<>, ConnectError> {
    let limits = dial::Limits {
        read_buffer_bytes: READ_BUFFER_BYTES,
        max_message_bytes: MAX_MESSAGE_BYTES,
        ..dial::Limits::default()
    };
    let ws = dial::dial(url, limits).await.map_err(|e| ConnectError(e.to_string()))?;
    Ok(text_socket(ws))
}

/// A tungstenite WebSocket as text frames: binary frames that are UTF-8 count as text,
/// protocol pings are answered by tungstenite itself, close frames end the stream.
pub fn text_socket<T>(ws: WebSocketStream<T>) -> impl TextSocket
where
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    ws.with(|text: String| ready(Ok::<_, WsError>(Message::text(text))))
        .filter_map(|message| {
            ready(match message {
                Ok(Message::Text(text)) => Some(Ok(text.as_str().to_owned())),
                Ok(Message::Binary(bytes)) => String::from_utf8(bytes.to_vec()).ok().map(Ok),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_)) => None,
                Err(e) => Some(Err(e)),
            })
        })
}

/// The server side of one long-connection WebSocket, for local stand-ins of WeCom (the fake
/// servers of the end-to-end tests and the relay benchmark): text frames in and out, with
/// inherent methods so its users need no stream traits.
pub struct Peer {
    socket: Pin<Box<dyn TextSocket>>,
}

impl Peer {
    /// Completes the server handshake on an accepted connection.
    ///
    /// # Errors
    /// [`ConnectError`] when the WebSocket handshake fails.
    pub async fn accept<T>(io: T) -> Result<Self, ConnectError>
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ws = tokio_tungstenite::accept_async(io)
            .await
            .map_err(|e| ConnectError(e.to_string()))?;
        Ok(Self {
            socket: Box::pin(text_socket(ws)),
        })
    }

    /// The next text frame; `None` once the client closed the connection. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<String, WsError>> {
        self.socket.next().await
    }

    /// Sends one text frame.
    ///
    /// # Errors
    /// [`WsError`] when the connection is gone.
    pub async fn send(&mut self, text: String) -> Result<(), WsError> {
        self.socket.send(text).await
    }

    /// Closes with a close frame (dropping the peer instead resets the connection).
    pub async fn close(mut self) {
        let _ = self.socket.close().await;
    }
}
