//! Serving a router on a TCP listener so that slow or idle clients cannot take the server down:
//! what `imgate serve` and the relay's health endpoint run (on Lambda, API Gateway stands in
//! front and none of this applies).
//!
//! - **Header read timeout.** A connection that has not sent a whole request head within
//!   [`Limits::header_read`] is closed. hyper starts that clock whenever it waits for a request
//!   head, so it also ends keep-alive connections that sit idle between requests.
//! - **Request deadline (body read timeout).** A request whose body has not arrived and that has
//!   not been answered within [`Limits::request`] gets `408` with `Connection: close`: a client
//!   that sends its body a byte at a time cannot hold a connection for longer.
//! - **Write stall.** A connection whose client stops reading the answer is closed after
//!   [`Limits::write_stall`] without progress.
//! - **Connection cap.** At most [`Limits::max_connections`] connections are served at once; a
//!   connection past the cap gets a `503` (`{"error":{"code":"overloaded",…}}`) as soon as its
//!   request head has arrived (at most 250 ms) and is closed, instead of waiting in the kernel's queue or exhausting the process's file
//!   descriptors. The cap is lowered to half the process's open-file limit when it is above it.
//!   Failed accepts (out of descriptors) are logged and retried after a pause.
//! - **Small heads, HTTP/1.1 only.** A request head is at most [`MAX_HEADER_BYTES`]; HTTP/2 is not
//!   spoken (hyper has no header or idle timeout for it, and no platform needs it here).
//! - **Graceful shutdown.** When `shutdown` resolves, no new connection is accepted and the
//!   requests in progress get up to [`Limits::drain`] to finish.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use crate::error::ApiError;

/// The limits of one server. [`Limits::default`] is what `imgate serve` uses unless told
/// otherwise; every number is explained on its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once: 1,024. Far above what platform callbacks and operators need
    /// on one machine (a callback is answered in milliseconds, so even a busy gateway holds a
    /// few dozen), and far below the usual descriptor limits, which the process also needs for
    /// its database, long connections and outbound requests. Lowered at start to half the
    /// open-file limit when that is smaller.
    pub max_connections: usize,
    /// How long a client may take to send a whole request head, and how long a keep-alive
    /// connection may stay idle between requests: 10 s. A platform or browser on a working link
    /// sends its head in well under a second; a connection that has sent nothing for 10 s is
    /// most likely dead or hostile.
    pub header_read: Duration,
    /// How long a request may take, body included, before it is answered `408` and its
    /// connection closed: 30 s. Bodies are at most 64 KiB and platforms want their answer within
    /// 1–5 s, so a body still arriving after 30 s is not going to be useful.
    pub request: Duration,
    /// How long writing an answer may make no progress (the client stopped reading) before the
    /// connection is closed: 30 s.
    pub write_stall: Duration,
    /// How long requests in progress may take to finish at shutdown: 10 s, a third of
    /// [`Limits::request`] and within the usual 30 s a supervisor waits after SIGTERM.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            write_stall: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// The largest request head (request line and headers) accepted: 16 KiB. imgate's requests
/// carry a few short headers; a larger head gets `431` and does not grow the connection's buffer.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The largest buffer of one connection: 64 KiB, so the connections held at the cap use at most
/// 64 MiB however their clients behave.
const MAX_BUFFER_BYTES: usize = 64 * 1024;
// A whole head fits in a connection's buffer (hyper answers 431 before the buffer is full).
const _: () = assert!(MAX_HEADER_BYTES < MAX_BUFFER_BYTES);
/// Connections past the cap that are being answered `503` at once, at most; past this even the
/// answer is skipped and the connection is closed straight away (a client that does not take
/// its answer holds a descriptor for [`REFUSE_LINGER`]).
const MAX_REFUSING: usize = 256;
/// How long a refused connection is given, in all, to send its request head and take its `503`.
const REFUSE_LINGER: Duration = Duration::from_secs(1);
/// How long the `503` waits for a refused connection's request head: a client on a working
/// link has sent it within milliseconds, one that sends nothing gets its answer after this.
const REFUSE_HEAD_WAIT: Duration = Duration::from_millis(250);
/// The pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The least time between two log lines about refused connections, so a flood does not flood
/// the log too.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

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
) -> io::Result<()> {
    let address = listener.local_addr()?;
    let open_file_limit = descriptor_limit();
    let budget = Budget::within(&limits, open_file_limit);
    if budget.connections < limits.max_connections {
        tracing::warn!(
            %address,
            configured = limits.max_connections,
            serving = budget.connections,
            open_file_limit,
            "the connection cap is above half the open-file limit (ulimit -n); serving fewer connections at once"
        );
    }
    let router = router.layer(middleware::from_fn_with_state(limits.request, deadline));
    let service = TowerToHyperService::new(router);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_header_size(MAX_HEADER_BYTES)
        .max_buf_size(MAX_BUFFER_BYTES);
    let connections = Arc::new(Semaphore::new(budget.connections));
    let refusing = Arc::new(Semaphore::new(budget.refusing));
    let mut refusals = RefusalLog::default();
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // The client gave up before it was accepted: nothing is wrong with the listener.
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%address, %error, "accepting a connection failed; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            refusals.count(address, budget.connections);
            if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(WriteStall::new(stream, limits.write_stall));
        let connection = graceful.watch(builder.serve_connection(io, service.clone()));
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

/// What a server may hold at once, from its [`Limits`] and the process's open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// Connections served at once.
    connections: usize,
    /// Connections past the cap being answered `503` at once.
    refusing: usize,
}

impl Budget {
    /// At most half the open-file limit for served connections and an eighth for refusals, so
    /// at least three eighths stay for the database, long connections and outbound requests.
    fn within(limits: &Limits, open_file_limit: Option<u64>) -> Self {
        let share = |divisor: u64| {
            open_file_limit.map_or(usize::MAX, |limit| {
                usize::try_from(limit / divisor).unwrap_or(usize::MAX).max(1)
            })
        };
        Self {
            connections: limits.max_connections.min(share(2)).max(1),
            refusing: MAX_REFUSING.min(share(8)),
        }
    }
}

/// The process's soft limit of open files (`ulimit -n`), where the system tells it
/// (`/proc/self/limits` on Linux).
fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&limits)
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text; `None` when unlimited or absent.
fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Accept errors that concern one connection only (it was gone before it was accepted).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Counts refused connections and logs them at most once per [`REFUSAL_LOG_INTERVAL`].
#[derive(Default)]
struct RefusalLog {
    since_last_line: u64,
    last_line: Option<Instant>,
}

impl RefusalLog {
    fn count(&mut self, address: std::net::SocketAddr, cap: usize) {
        self.since_last_line += 1;
        if self.last_line.is_none_or(|last| last.elapsed() >= REFUSAL_LOG_INTERVAL) {
            tracing::warn!(
                %address,
                max_connections = cap,
                refused = self.since_last_line,
                "connection limit reached; answering 503 overloaded"
            );
            self.since_last_line = 0;
            self.last_line = Some(Instant::now());
        }
    }
}

/// Answers `408` with `Connection: close` to a request not received and answered within its
/// deadline.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let path = crate::app::loggable_path(request.uri().path()).to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::info!(%path, limit_ms = limit.as_millis() as u64, "request not received and answered in time; answered 408");
            let mut response = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request was not received and answered in time",
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
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

/// Answers `503` and closes. The answer waits for the request head (for at most
/// [`REFUSE_HEAD_WAIT`]): HTTP clients that write their request before reading, as most do,
/// take an answer that comes first for a broken connection. Then the write side is closed
/// and whatever else the client sends is read and dropped for a moment, so the client reads
/// the answer instead of a reset.
async fn refuse(mut stream: TcpStream) {
    let work = async {
        if let Ok(Err(_)) = tokio::time::timeout(REFUSE_HEAD_WAIT, read_head(&mut stream)).await {
            return Ok(());
        }
        stream.write_all(&overloaded()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, work).await;
}

/// Reads until the end of a request head (an empty line), [`MAX_HEADER_BYTES`] or the end of
/// the stream, whichever comes first; what was read is dropped.
async fn read_head(stream: &mut TcpStream) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while head.len() < MAX_HEADER_BYTES {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|window| window == b"\r\n\r\n") {
            break;
        }
    }
    Ok(())
}

/// A stream whose writes fail with `TimedOut` once they have made no progress for a while, so
/// a client that stops reading its answer cannot hold the connection.
struct WriteStall<T> {
    inner: T,
    limit: Duration,
    /// Set while a write is waiting; cleared by any progress.
    stalled_since: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteStall<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            stalled_since: None,
        }
    }

    /// Passes a ready result through (and forgets the stall); turns a wait that has lasted
    /// [`Limits::write_stall`] into an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled_since = None;
            return poll;
        }
        let limit = self.limit;
        let timer = self
            .stalled_since
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has not read its answer in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteStall<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteStall<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_stay_below_the_descriptor_limits_and_above_platform_windows() {
        let limits = Limits::default();
        assert_eq!(limits.max_connections, 1024);
        // Connections, refusals and a reserve fit in the common 4,096-descriptor limit.
        assert!(limits.max_connections + MAX_REFUSING <= 4096 / 2);
        // Platforms want answers within 1–5 s: every timeout leaves them room.
        assert!(limits.header_read >= Duration::from_secs(5));
        assert!(limits.request > limits.header_read);
        assert!(limits.drain < limits.request);
        // The buffers of a full server stay small.
        assert!(limits.max_connections * MAX_BUFFER_BYTES <= 64 * 1024 * 1024);
    }

    #[test]
    fn the_cap_stays_within_the_open_file_limit() {
        let limits = Limits::default();
        assert_eq!(
            Budget::within(&limits, Some(20_000)),
            Budget {
                connections: 1024,
                refusing: 256
            }
        );
        // The common default soft limit: half for connections, an eighth for refusals.
        assert_eq!(
            Budget::within(&limits, Some(1024)),
            Budget {
                connections: 512,
                refusing: 128
            }
        );
        assert_eq!(Budget::within(&limits, None).connections, 1024);
        let one = Limits {
            max_connections: 0,
            ..limits
        };
        assert_eq!(Budget::within(&one, Some(1)).connections, 1);
    }

    #[test]
    fn reads_the_soft_open_file_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63432                63432                processes \n\
                    Max open files            20000                40000                files     \n";
        assert_eq!(parse_open_file_limit(text), Some(20_000));
        let unlimited = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_file_limit(unlimited), None);
        assert_eq!(parse_open_file_limit(""), None);
    }

    #[test]
    fn the_overload_answer_is_a_complete_response() {
        let text = String::from_utf8(overloaded()).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"]["code"], "overloaded");
        assert!(json["error"]["message"].is_string());
    }
}
