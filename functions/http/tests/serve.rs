//! `imgate_http::serve` against misbehaving clients, in process with short limits: each limit is
//! seen to act, and to act no sooner than it should.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use imgate_http::serve::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Short limits, so that each test takes about a second.
fn short() -> Limits {
    Limits {
        max_connections: 16,
        header_read: Duration::from_millis(400),
        request: Duration::from_millis(600),
        write_stall: Duration::from_millis(400),
        drain: Duration::from_secs(2),
    }
}

fn router() -> Router {
    imgate_http::health_router()
        .route("/echo", post(|body: String| async move { body }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
}

/// The size of `/big`'s answer: far more than the kernel buffers of both ends hold.
const BIG: usize = 32 * 1024 * 1024;

struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router(), limits, async move {
        let _ = stopped.await;
    }));
    Server {
        address,
        stop: Some(stop),
        task,
    }
}

/// Reads until the server closes the connection (a reset counts as closed), for at most `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

/// Reads one whole answer (head and `content-length` bytes of body).
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the answer was complete");
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_head_not_sent_in_time_closes_the_connection() {
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let opened = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Ag")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(3))
        .await
        .expect("closed by the server");
    let after = opened.elapsed();
    assert!(after >= Duration::from_millis(350), "closed after {after:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    for _ in 0..2 {
        // Requests in time keep the connection; the clock restarts after each answer.
        tokio::time::sleep(Duration::from_millis(250)).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    }
    let idle = Instant::now();
    let rest = read_until_closed(&mut stream, Duration::from_secs(3))
        .await
        .expect("closed by the server");
    assert!(rest.is_empty(), "{rest}");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(350) && after < Duration::from_secs(2),
        "idle connection closed after {after:?}"
    );
}

#[tokio::test]
async fn a_body_not_sent_in_time_gets_408_and_the_connection_closes() {
    let server = start(short()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    let sent = Instant::now();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"encrypt\":")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(3))
        .await
        .expect("closed by the server");
    let after = sent.elapsed();
    assert!(after >= Duration::from_millis(550), "answered after {after:?}");
    assert!(answer.starts_with("HTTP/1.1 408 Request Timeout"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    let body: serde_json::Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");

    // A body that arrives in time is served.
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(b"llo").await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("hello"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_connection_past_the_cap_gets_503_at_once_and_a_freed_place_is_used_again() {
    let server = start(Limits {
        max_connections: 2,
        ..short()
    })
    .await;
    // Two served connections, kept alive.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200 OK"));
        held.push(stream);
    }
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        let asked = Instant::now();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(2))
            .await
            .expect("refused and closed");
        assert!(asked.elapsed() < Duration::from_millis(300), "{:?}", asked.elapsed());
        assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable"), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
        let body: serde_json::Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
    }
    // A client that sends nothing gets the same answer once the wait for its head is over.
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    let connected = Instant::now();
    let answer = read_until_closed(&mut silent, Duration::from_secs(2))
        .await
        .expect("refused and closed");
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable"), "{answer}");
    assert!(
        connected.elapsed() < Duration::from_secs(1),
        "{:?}",
        connected.elapsed()
    );

    // A client leaves: its place is given to the next connection.
    drop(held.pop());
    let mut answer = String::new();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        answer = read_until_closed(&mut stream, Duration::from_secs(2)).await.unwrap();
        if answer.starts_with("HTTP/1.1 200 OK") {
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_cut_off() {
    let server = start(short()).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.address).await.unwrap();
    stream.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // Not reading for longer than the stall limit…
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // …leaves only what the kernel buffers held, then the end of the connection.
    let mut received = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("closed by the server");
    assert!(received < BIG, "received the whole answer ({received} bytes)");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish_and_accepts_nothing_new() {
    let mut server = start(short()).await;
    let mut stream = TcpStream::connect(server.address).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = server.stop.take().unwrap().send(());
    let answer = read_answer(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("done"),
        "{answer}"
    );
    tokio::time::timeout(Duration::from_secs(3), &mut server.task)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(server.address).await.is_err());
}
