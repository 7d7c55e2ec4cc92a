use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use super::*;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn the_scheme_picks_the_proxy_variable() {
    let vars = env(&[
        ("HTTPS_PROXY", "http://tls-proxy:3128"),
        ("http_proxy", "plain-proxy:8080"),
    ]);
    let tls = proxy_for("wss://open.example.com/ws", &vars).unwrap().unwrap();
    assert_eq!(tls.address, "tls-proxy:3128");
    let plain = proxy_for("ws://open.example.com/ws", &vars).unwrap().unwrap();
    assert_eq!(plain.address, "plain-proxy:8080");
    assert_eq!(proxy_for("wss://x.example/", &env(&[])).unwrap(), None);
    let all = env(&[("ALL_PROXY", "http://all:1")]);
    assert_eq!(proxy_for("wss://x.example/", &all).unwrap().unwrap().address, "all:1");
}

#[test]
fn no_proxy_exempts_hosts_and_domains() {
    let vars = env(&[
        ("HTTPS_PROXY", "http://p:1"),
        ("NO_PROXY", "localhost, .corp.example,*.internal"),
    ]);
    assert_eq!(proxy_for("wss://localhost:9/", &vars).unwrap(), None);
    assert_eq!(proxy_for("wss://ws.corp.example/", &vars).unwrap(), None);
    assert_eq!(proxy_for("wss://corp.example/", &vars).unwrap(), None);
    assert_eq!(proxy_for("wss://a.internal/", &vars).unwrap(), None);
    assert!(proxy_for("wss://notcorp.example/", &vars).unwrap().is_some());
    let all = env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]);
    assert_eq!(proxy_for("wss://anything/", &all).unwrap(), None);
}

#[test]
fn proxy_urls_are_read_and_bad_ones_refused() {
    let proxy = parse_proxy("http://us%40er:p%3Ass@proxy.example:3128/").unwrap();
    assert_eq!(proxy.address, "proxy.example:3128");
    let expected = base64::engine::general_purpose::STANDARD.encode("us@er:p:ss");
    assert_eq!(proxy.authorization, Some(format!("Basic {expected}")));
    assert_eq!(parse_proxy("proxy.example").unwrap().address, "proxy.example:80");
    assert!(matches!(parse_proxy("socks5://p:1080"), Err(DialError::Config(_))));
    assert!(matches!(parse_proxy("http://"), Err(DialError::Config(_))));
    assert!(matches!(
        proxy_for("https://not-a-socket/", &env(&[])),
        Err(DialError::Config(_))
    ));
}

/// A WebSocket echo server on 127.0.0.1.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() && ws.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("ws://{address}/socket")
}

/// A `CONNECT` proxy that records the request heads it was sent; `refuse` answers 407.
async fn connect_proxy(refuse: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    head.push(client.read_u8().await.unwrap());
                }
                let head = String::from_utf8(head).unwrap();
                log.lock().unwrap().push(head.clone());
                if refuse {
                    let _ = client
                        .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                        .await;
                    return;
                }
                let target = head.split_whitespace().nth(1).unwrap().to_owned();
                let mut upstream = TcpStream::connect(target).await.unwrap();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (address, seen)
}

#[tokio::test]
async fn a_socket_is_opened_directly_and_through_a_proxy() {
    let url = echo_server().await;
    let mut direct = dial_with_env(&url, Limits::default(), &env(&[])).await.unwrap();
    direct.send(Message::text("direct")).await.unwrap();
    assert_eq!(direct.next().await.unwrap().unwrap().to_text().unwrap(), "direct");

    let (proxy, seen) = connect_proxy(false).await;
    let vars = env(&[("HTTP_PROXY", &format!("http://user:pw@{proxy}"))]);
    let mut tunnelled = dial_with_env(&url, Limits::default(), &vars).await.unwrap();
    tunnelled.send(Message::text("via proxy")).await.unwrap();
    assert_eq!(tunnelled.next().await.unwrap().unwrap().to_text().unwrap(), "via proxy");
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 1);
    let host = url.trim_start_matches("ws://").trim_end_matches("/socket");
    assert!(
        heads[0].starts_with(&format!("CONNECT {host} HTTP/1.1\r\n")),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("Proxy-Authorization: Basic dXNlcjpwdw=="),
        "{}",
        heads[0]
    );
    assert!(!heads[0].contains("/socket"), "the path stays inside the tunnel");
}

#[tokio::test]
async fn refusals_and_silence_are_errors_without_the_url() {
    let url = echo_server().await;
    let (proxy, _) = connect_proxy(true).await;
    let vars = env(&[("HTTP_PROXY", proxy.as_str())]);
    let error = dial_with_env(&format!("{url}?ticket=SECRET"), Limits::default(), &vars)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "proxy: CONNECT was refused (HTTP 407)");

    // A server that accepts TCP and never answers the WebSocket handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("ws://{}/?ticket=SECRET", silent.local_addr().unwrap());
    let limits = Limits {
        handshake_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let error = dial_with_env(&silent_url, limits, &env(&[])).await.unwrap_err();
    assert!(matches!(error, DialError::TimedOut(_)), "{error}");
    assert!(!error.to_string().contains("SECRET"));
    drop(silent);

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("ws://{}/?ticket=SECRET", closed.local_addr().unwrap());
    drop(closed);
    let error = dial_with_env(&closed_url, Limits::default(), &env(&[]))
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "network error: connection refused");
}
