//! The production socket: tokio-tungstenite, adapted to the text-frame `Sink`/`Stream` the
//! driver takes.

use std::future::ready;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// The error of tungstenite sockets.
pub use tokio_tungstenite::tungstenite::Error as WsError;

/// The public WeCom long-connection endpoint (§3.1); private deployments show their own in
/// the admin console.
pub const DEFAULT_URL: &str = "wss://openws.work.weixin.qq.com";

/// A text-frame WebSocket as [`super::run`] takes it.
pub trait TextSocket: Sink<String, Error = WsError> + Stream<Item = Result<String, WsError>> + Unpin + Send {}

impl<T> TextSocket for T where T: Sink<String, Error = WsError> + Stream<Item = Result<String, WsError>> + Unpin + Send {}

/// The WebSocket handshake failed. The message names the failure, never credentials (the URL
/// carries none).
#[derive(Debug, thiserror::Error)]
#[error("WebSocket connect failed: {0}")]
pub struct ConnectError(String);

/// Opens a WebSocket to `url` (`wss://` with the webpki roots, or `ws://` for tests) and
/// returns it as a text-frame socket for [`super::run`].
///
/// # Errors
/// [`ConnectError`] when the TCP, TLS or WebSocket handshake fails.
pub async fn connect(url: &str) -> Result<impl TextSocket + use<>, ConnectError> {
    ensure_crypto_provider();
    let (ws, _response) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| ConnectError(e.to_string()))?;
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

/// rustls needs a process-wide crypto provider when more than one is compiled in (the AWS SDK
/// brings aws-lc-rs, reqwest brings ring), and tokio-tungstenite's default TLS config uses it.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
