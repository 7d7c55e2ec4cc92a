#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body as AxumBody;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get as route_get;
use futures_util::StreamExt;
use imgate_core::event::MediaKind;

use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-rest-of-a-png";

/// A server with a few downloads; counts the chunks it handed out of the endless stream.
async fn server() -> (String, Arc<AtomicUsize>) {
    let streamed = Arc::new(AtomicUsize::new(0));
    let counter = streamed.clone();
    let app = Router::new()
        .route(
            "/png",
            route_get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route(
            "/octet",
            route_get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "application/octet-stream"),
                        (
                            header::CONTENT_DISPOSITION,
                            "attachment; filename*=UTF-8''%E5%9B%BE.png",
                        ),
                    ],
                    PNG,
                )
            }),
        )
        .route("/plain", route_get(|| async { AxumBody::from(PNG.to_vec()) }))
        .route("/big", route_get(|| async { vec![0u8; 4096] }))
        .route(
            "/endless",
            route_get(move || {
                let counter = counter.clone();
                async move {
                    let chunks = futures_util::stream::iter(0..10_000).map(move |_| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(vec![7u8; 1024])
                    });
                    AxumBody::from_stream(chunks)
                }
            }),
        )
        .route(
            "/missing",
            route_get(|| async { (StatusCode::NOT_FOUND, r#"{"code":404,"msg":"no such file"}"#) }),
        )
        .route(
            "/busy",
            route_get(|| async { StatusCode::SERVICE_UNAVAILABLE.into_response() }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, streamed)
}

fn image() -> MediaRef {
    MediaRef {
        kind: MediaKind::Image,
        url: None,
        key: None,
        name: None,
        mime: None,
        size: None,
        aes_key: None,
    }
}

#[tokio::test]
async fn a_download_keeps_its_type_and_name() {
    let (base, _) = server().await;
    let http = reqwest::Client::new();
    let body = get(&http, &format!("{base}/png"), 1024).await.unwrap();
    assert_eq!(body.bytes, PNG);
    assert_eq!(body.content_type.as_deref(), Some("image/png"));
    let download = body.into_download(&image());
    assert_eq!(download.mime.as_deref(), Some("image/png"));

    let body = get(&http, &format!("{base}/octet"), 1024).await.unwrap();
    assert_eq!(body.file_name.as_deref(), Some("图.png"));
    let download = body.into_download(&image());
    assert_eq!(
        download.mime.as_deref(),
        Some("image/png"),
        "sniffed past a generic type"
    );
    assert_eq!(download.name.as_deref(), Some("图.png"));

    let body = get(&http, &format!("{base}/plain"), 1024).await.unwrap();
    assert_eq!(body.content_type, None);
    assert_eq!(body.into_download(&image()).mime.as_deref(), Some("image/png"));
}

#[tokio::test]
async fn a_stated_length_above_the_cap_is_refused_before_the_body() {
    let (base, _) = server().await;
    let error = get(&reqwest::Client::new(), &format!("{base}/big"), 1000)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        MediaError::TooLarge {
            size: Some(4096),
            limit: 1000
        }
    );
}

#[tokio::test]
async fn a_body_past_the_cap_is_dropped_as_it_passes() {
    let (base, streamed) = server().await;
    let error = get(&reqwest::Client::new(), &format!("{base}/endless"), 10 * 1024)
        .await
        .unwrap_err();
    assert_eq!(
        error,
        MediaError::TooLarge {
            size: None,
            limit: 10 * 1024
        }
    );
    // The stream is dropped with the connection: far fewer than its 10,000 chunks went out.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(streamed.load(Ordering::SeqCst) < 5_000, "stopped reading");
}

#[tokio::test]
async fn refusals_are_worded_by_the_platform_or_the_status() {
    let (base, _) = server().await;
    let http = reqwest::Client::new();
    let response = http.get(format!("{base}/missing")).send().await.unwrap();
    let words = |body: &[u8]| {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        Some(format!("{} {}", value["code"], value["msg"].as_str()?))
    };
    assert_eq!(
        read(response, 1024, words).await.unwrap_err(),
        MediaError::Platform("404 no such file".into())
    );
    assert_eq!(
        get(&http, &format!("{base}/missing"), 1024).await.unwrap_err(),
        MediaError::Platform("HTTP 404".into())
    );
    assert_eq!(
        get(&http, &format!("{base}/busy"), 1024).await.unwrap_err(),
        MediaError::Transport("HTTP 503".into())
    );
}

#[tokio::test]
async fn errors_never_carry_the_url() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{address}/file/bot123:secret-token/photo.jpg?sig=secret-signature");
    let error = get(&reqwest::Client::new(), &url, 1024).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, MediaError::Transport(_)), "{error:?}");
    assert!(!text.contains("secret") && !text.contains("127.0.0.1"), "{text}");
    let error = get(&reqwest::Client::new(), "ftp://host/secret", 1024)
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("secret"));
}

#[test]
fn stated_sizes_are_checked_against_the_cap() {
    assert_eq!(stated(None, 10), Ok(()));
    assert_eq!(stated(Some(10), 10), Ok(()));
    assert_eq!(
        stated(Some(11), 10),
        Err(MediaError::TooLarge {
            size: Some(11),
            limit: 10
        })
    );
}

#[test]
fn images_are_sniffed() {
    assert_eq!(sniff_image(PNG), Some("image/png"));
    assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some("image/jpeg"));
    assert_eq!(sniff_image(b"GIF89a\x01\x00"), Some("image/gif"));
    assert_eq!(sniff_image(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
    assert_eq!(sniff_image(b"RIFF\x24\0\0\0WAVEfmt "), None);
    assert_eq!(sniff_image(b"%PDF-1.4"), None);
    assert_eq!(sniff_image(b""), None);
}

#[test]
fn the_mime_type_prefers_what_is_specific() {
    assert_eq!(mime(Some("image/jpeg"), None, PNG).as_deref(), Some("image/jpeg"));
    assert_eq!(
        mime(Some("application/octet-stream"), None, PNG).as_deref(),
        Some("image/png")
    );
    assert_eq!(
        mime(Some("application/octet-stream"), Some("application/pdf"), b"%PDF").as_deref(),
        Some("application/pdf")
    );
    assert_eq!(
        mime(Some("application/octet-stream"), None, b"%PDF").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(mime(None, None, b"%PDF"), None);
}

#[test]
fn file_names_come_from_either_form_and_lose_their_path() {
    assert_eq!(
        file_name("attachment; filename=\"a b.pdf\"").as_deref(),
        Some("a b.pdf")
    );
    assert_eq!(
        file_name("attachment; filename=report.pdf").as_deref(),
        Some("report.pdf")
    );
    assert_eq!(
        file_name("attachment; filename=\"x.pdf\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf").as_deref(),
        Some("报告.pdf")
    );
    assert_eq!(
        file_name("attachment; filename=\"../../etc/passwd\"").as_deref(),
        Some("passwd")
    );
    assert_eq!(
        file_name("attachment; filename=\"dir\\\\evil.exe\"").as_deref(),
        Some("evil.exe")
    );
    assert_eq!(file_name("inline"), None);
    assert_eq!(file_name("attachment; filename=\"\""), None);
}

#[test]
fn reply_errors_keep_their_meaning() {
    assert_eq!(
        from_reply(ReplyError::Platform {
            code: 40007,
            message: "invalid media_id".into()
        }),
        MediaError::Platform("40007 invalid media_id".into())
    );
    assert!(matches!(
        from_reply(ReplyError::RateLimited {
            retry_after: Duration::from_secs(3)
        }),
        MediaError::Transport(_)
    ));
    let failure = Failure::from(ReplyError::Transport("down".into()));
    assert_eq!(failure.error, MediaError::Transport("down".into()));
    assert!(!failure.token_rejected);
}
