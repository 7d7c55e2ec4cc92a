//! Serving a router on a TCP listener so that slow or idle clients cannot take the server down:
//! what `imgate serve` and the relay's health endpoint run (on Lambda, API Gateway stands in
//! front and none of this applies).
//!
//! - **Header read timeout.** A connection that has not sent a whole request head within
//!   [`Limits::header_read`] is closed. hyper starts that clock whenever it waits for a request
//!   head, so it also ends keep-alive connections that sit idle between requests.
//! - **Request deadline.** A request (body included) that has not been answered within
//!   [`Limits::request`] gets `408` and its connection is closed: a client that sends its body
//!   a byte at a time cannot hold a connection for longer.
//! - **Connection cap.** At most [`Limits::max_connections`] connections are served at once; a
//!   connection past the cap gets an immediate `503` (`{"error":{"code":"overloaded",…}}`) and is
//!   closed, instead of waiting in the kernel's queue or exhausting the process's file
//!   descriptors. Failed accepts (out of descriptors) are logged and retried after a pause.
//! - **Graceful shutdown.** When `shutdown` resolves, no new connection is accepted and the
//!   requests in progress get up to [`Limits::drain`] to finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once. The default, 1,024, is far above what platform callbacks
    /// and operators need on one machine and far below the usual descriptor limits (the
    /// process also holds the database, long connections and outbound requests).
    pub max_connections: usize,
    /// How long a client may take to send a request head, and how long a keep-alive connection
    /// may stay idle: 10 s, longer than any platform or browser needs on a working link.
    pub header_read: Duration,
    /// How long a request may take, body included, before it is answered `408`: 30 s. Platform
    /// callbacks are answered within their 1–5 s windows and admin calls in milliseconds.
    pub request: Duration,
    /// How long requests in progress may take to finish at shutdown.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// Connections past the cap that are being answered `503` at once, at most; past this even the
/// answer is skipped and the connection is closed straight away.
const MAX_REFUSING: usize = 256;
/// How long a refused connection is given to take its `503`.
const REFUSE_LINGER: Duration = Duration::from_secs(1);
/// The pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` within `limits` until `shutdown` resolves, then lets the
/// requests in progress finish (for at most [`Limits::drain`]).
///
/// # Errors
/// Only if the listener's address cannot be read; failed accepts are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let router = router.layer(middleware::from_fn_with_state(limits.request, deadline));
    let service = TowerToHyperService::new(router);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%address, %error, "accepting a connection failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::warn!(%address, max_connections = limits.max_connections, "connection limit reached; answering 503");
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service.clone())
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(%address, "requests still in progress at shutdown were cut off");
    }
    Ok(())
}

/// Answers `408` to a request not answered within its deadline.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request was not received and answered in time",
            )
            .into_response();
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// The whole answer a connection past the cap gets.
fn overloaded() -> Vec<u8> {
    let body = r#"{"error":{"code":"overloaded","message":"too many connections; try again shortly"}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes the `503` and closes: the write side first, then whatever the client sent is read
/// and dropped for a moment, so the client reads the answer instead of a reset.
async fn refuse(mut stream: TcpStream) {
    let work = async {
        stream.write_all(&overloaded()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, work).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stay_below_the_descriptor_limits_and_above_platform_windows() {
        let limits = Limits::default();
        assert!(limits.max_connections + MAX_REFUSING < 4096);
        assert!(limits.header_read >= Duration::from_secs(5));
        assert!(limits.request > limits.header_read);
    }

    #[test]
    fn the_overload_answer_is_a_complete_response() {
        let text = String::from_utf8(overloaded()).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "overloaded");
    }
}
