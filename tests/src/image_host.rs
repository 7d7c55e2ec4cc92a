//! A small image host on 127.0.0.1, port 0: the PNG an agent's answer points to
//! (`![chart](<url>)`), counted as it is fetched, and a page that is not an image.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::routing::get;
use tokio::net::TcpListener;

/// A valid 1×1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0B, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7A, 0x5E, 0xAB, 0x3F, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// The host; clones share it.
#[derive(Clone)]
pub struct ImageHost {
    fetched: Arc<AtomicUsize>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl ImageHost {
    /// Starts the host.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind image host");
        let base = format!("http://{}", listener.local_addr().expect("image host address"));
        let host = Self {
            fetched: Arc::default(),
            base,
        };
        let app = Router::new()
            .route(
                "/chart.png",
                get(|State(host): State<ImageHost>| async move {
                    host.fetched.fetch_add(1, Ordering::SeqCst);
                    ([(header::CONTENT_TYPE, "image/png")], PNG)
                }),
            )
            .route(
                "/page.png",
                get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html>not an image</html>") }),
            )
            .with_state(host.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        host
    }

    /// The URL of the PNG.
    pub fn png_url(&self) -> String {
        format!("{}/chart.png", self.base)
    }

    /// The URL of a page that is not an image.
    pub fn page_url(&self) -> String {
        format!("{}/page.png", self.base)
    }

    /// How many times the PNG was fetched.
    pub fn fetched(&self) -> usize {
        self.fetched.load(Ordering::SeqCst)
    }
}

/// Whether `url` serves an image, as a platform that downloads it finds out.
pub async fn serves_image(url: &str) -> bool {
    match reqwest::get(url).await {
        Ok(response) if response.status().is_success() => response
            .bytes()
            .await
            .is_ok_and(|bytes| bytes.starts_with(&PNG[..8]) || bytes.starts_with(&[0xFF, 0xD8, 0xFF])),
        _ => false,
    }
}
