//! The image downloader against a local server: what it takes and what it refuses.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use imgate_channel_kit::download::{Downloader, ImageKind};
use imgate_core::ports::MediaError;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/ok.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route(
            "/untyped",
            get(|| async { ([(header::CONTENT_TYPE, "application/octet-stream")], PNG) }),
        )
        .route(
            "/page.png",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>secret</html>") }),
        )
        .route(
            "/liar.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], "{\"not\": \"an image\"}") }),
        )
        .route(
            "/big.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 4096]) }),
        )
        .route(
            "/slow.png",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                PNG.into_response()
            }),
        )
        .route("/missing.png", get(|| async { axum::http::StatusCode::NOT_FOUND }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn images_are_downloaded_and_everything_else_refused_without_the_url() {
    let base = serve().await;
    let downloader = Downloader::new(reqwest::Client::new())
        .with_limit(1024)
        .with_timeout(Duration::from_millis(500));
    let image = downloader.image(&format!("{base}/ok.png?token=s3cret")).await.unwrap();
    assert_eq!((image.bytes.as_slice(), image.kind), (PNG, ImageKind::Png));
    assert_eq!(
        downloader.image(&format!("{base}/untyped")).await.unwrap().kind,
        ImageKind::Png
    );

    for (path, expected) in [
        ("/page.png", "Unsupported"),
        ("/liar.png", "Unsupported"),
        ("/big.png", "TooLarge"),
        ("/slow.png", "Transport"),
        ("/missing.png", "Transport"),
    ] {
        let error = downloader
            .image(&format!("{base}{path}?token=s3cret"))
            .await
            .unwrap_err();
        let kind = match &error {
            MediaError::Unsupported(_) => "Unsupported",
            MediaError::TooLarge { .. } => "TooLarge",
            MediaError::Transport(_) => "Transport",
            _ => "other",
        };
        assert_eq!(kind, expected, "{path}: {error}");
        let text = error.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("127.0.0.1"),
            "{path}: {text}"
        );
    }
    let unreachable = downloader
        .image("http://127.0.0.1:9/x.png?token=s3cret")
        .await
        .unwrap_err();
    assert!(!unreachable.to_string().contains("s3cret"), "{unreachable}");
}
