//! `GET /media/{token}` over a real media directory: a valid link serves the file with its
//! type and a sandbox, an expired one is 404, a forged one 403, all with a clear JSON error.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use imgate_core::ports::MediaStore;
use imgate_embedded::MediaDir;
use serde_json::Value;
use tower::ServiceExt;

const BASE: &str = "https://gw.example.com";

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn get(app: &Router, url: &str) -> Answer {
    let path = url.strip_prefix(BASE).unwrap();
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

fn error_code(answer: &Answer) -> String {
    let body: Value = serde_json::from_slice(&answer.body).unwrap();
    body["error"]["code"].as_str().unwrap().to_owned()
}

fn setup() -> (Router, MediaDir, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let media = MediaDir::beside(&dir.path().join("imgate.db"), &[9; 32], BASE).unwrap();
    let app = imgate_http::with_layers(imgate_http::media::router(Arc::new(media.clone())));
    (app, media, dir)
}

#[tokio::test]
async fn a_valid_link_serves_the_file_sandboxed() {
    let (app, media, _dir) = setup();
    let stored = media
        .put("abc-0.png", b"\x89PNG...", "image/png", Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(stored.url.starts_with(&format!("{BASE}/media/")));
    let answer = get(&app, &stored.url).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, b"\x89PNG...");
    assert_eq!(answer.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(answer.headers[header::CONTENT_DISPOSITION], "inline");
    assert!(
        answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");

    // A page a user sent is never shown on the gateway's origin.
    let page = media
        .put(
            "abc-1.html",
            b"<script>alert(1)</script>",
            "text/html",
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
    let answer = get(&app, &page.url).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_DISPOSITION], "attachment");
}

#[tokio::test]
async fn an_expired_link_is_404() {
    let (app, media, _dir) = setup();
    let stored = media
        .put("abc-0.png", b"x", "image/png", Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let answer = get(&app, &stored.url).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&answer), "expired");
    assert!(String::from_utf8_lossy(&answer.body).contains("this media link has expired"));
}

#[tokio::test]
async fn a_forged_link_is_403() {
    let (app, media, _dir) = setup();
    let stored = media
        .put("abc-0.png", b"x", "image/png", Duration::from_secs(3600))
        .await
        .unwrap();
    let (payload, _) = stored.url.rsplit_once('.').unwrap();
    for url in [
        format!("{payload}.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        format!("{BASE}/media/not-a-token"),
    ] {
        let answer = get(&app, &url).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{url}");
        assert_eq!(error_code(&answer), "forbidden");
        assert!(String::from_utf8_lossy(&answer.body).contains("this media link is not valid"));
    }
}

#[tokio::test]
async fn a_link_whose_file_is_gone_is_404() {
    let (app, media, _dir) = setup();
    let stored = media
        .put("abc-0.png", b"x", "image/png", Duration::from_secs(3600))
        .await
        .unwrap();
    std::fs::remove_file(media.path().join("abc-0.png")).unwrap();
    let answer = get(&app, &stored.url).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&answer), "not_found");
}

#[test]
fn logs_never_show_a_token() {
    assert_eq!(imgate_http::loggable_path("/media/eyJ2MSJ9.c2ln"), "/media/{token}");
    assert_eq!(
        imgate_http::loggable_path("/api/admin/v1/agents"),
        "/api/admin/v1/agents"
    );
}
