//! The files the platform fakes serve when a user sends one: a [`Library`] of files by key,
//! each with the size the platform states and the way it is served, counting every download;
//! and a [`Cdn`] for the platforms whose files are fetched from a plain URL (Discord's
//! attachment URLs, WeCom smart-bot media, WeChat's CDN).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use imgate_core::testing::media::PNG;
use tokio::net::TcpListener;

/// How much an endless file serves before it gives up (far past any test's cap).
const ENDLESS_BYTES: usize = 256 * 1024 * 1024;
/// One chunk of an endless file.
const CHUNK: usize = 64 * 1024;

/// A size above every cap the tests use (the gateway's default is 20 MB).
pub const OVERSIZED: u64 = 64 * 1024 * 1024;

/// One file a fake serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The bytes served (encrypted already where the platform encrypts them).
    pub bytes: Vec<u8>,
    /// The `Content-Type` served, if any.
    pub content_type: Option<String>,
    /// The file name served in `Content-Disposition`, if any.
    pub name: Option<String>,
    /// The size the platform states in the message or its API.
    pub stated: Option<u64>,
    /// Served without a length, as an endless stream of bytes (to test the cap while
    /// streaming).
    pub endless: bool,
}

impl File {
    /// `bytes`, served with `content_type` and no stated size.
    pub fn new(bytes: &[u8], content_type: Option<&str>) -> Self {
        Self {
            bytes: bytes.to_vec(),
            content_type: content_type.map(str::to_owned),
            name: None,
            stated: None,
            endless: false,
        }
    }

    /// The test picture ([`PNG`]), with its type and size stated.
    pub fn png() -> Self {
        Self {
            stated: Some(PNG.len() as u64),
            ..Self::new(PNG, Some("image/png"))
        }
    }

    /// A file the platform says is [`OVERSIZED`] (endless, should anyone download it).
    pub fn oversized() -> Self {
        Self {
            stated: Some(OVERSIZED),
            ..Self::endless()
        }
    }

    /// A file of unstated size that never ends.
    pub fn endless() -> Self {
        Self {
            endless: true,
            ..Self::new(&[], Some("application/octet-stream"))
        }
    }

    /// The same file served as `bytes` (its encrypted form).
    #[must_use]
    pub fn serving(self, bytes: Vec<u8>) -> Self {
        Self { bytes, ..self }
    }

    /// The same file with a `Content-Disposition` name.
    #[must_use]
    pub fn named(self, name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..self
        }
    }

    /// The HTTP answer that serves it.
    pub fn response(&self) -> Response {
        let mut response = if self.endless {
            let chunks = futures_util::stream::iter(
                (0..ENDLESS_BYTES / CHUNK).map(|_| Ok::<_, std::io::Error>(vec![0x42u8; CHUNK])),
            );
            Body::from_stream(chunks).into_response()
        } else {
            self.bytes.clone().into_response()
        };
        let headers = response.headers_mut();
        headers.remove(header::CONTENT_TYPE);
        if let Some(value) = self.content_type.as_deref().and_then(|t| t.parse().ok()) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(value) = self
            .name
            .as_deref()
            .and_then(|n| format!("attachment; filename=\"{n}\"").parse().ok())
        {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        response
    }
}

#[derive(Default)]
struct Shelves {
    files: HashMap<String, File>,
    downloads: HashMap<String, usize>,
}

/// Files by key, with a count of downloads per key; clones share it.
#[derive(Clone, Default)]
pub struct Library(Arc<Mutex<Shelves>>);

impl Library {
    fn shelves(&self) -> MutexGuard<'_, Shelves> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `file` as `key` from now on.
    pub fn add(&self, key: &str, file: File) {
        self.shelves().files.insert(key.to_owned(), file);
    }

    /// The file `key`, if there is one (not counted as a download).
    pub fn get(&self, key: &str) -> Option<File> {
        self.shelves().files.get(key).cloned()
    }

    /// The download of `key`: its file, counted; 404 for an unknown key.
    pub fn download(&self, key: &str) -> Response {
        let mut shelves = self.shelves();
        *shelves.downloads.entry(key.to_owned()).or_default() += 1;
        match shelves.files.get(key) {
            Some(file) => file.response(),
            None => (StatusCode::NOT_FOUND, "no such file").into_response(),
        }
    }

    /// How many times `key` was downloaded (asked for, known or not).
    pub fn downloads(&self, key: &str) -> usize {
        self.shelves().downloads.get(key).copied().unwrap_or_default()
    }

    /// Downloads of every key.
    pub fn all_downloads(&self) -> usize {
        self.shelves().downloads.values().sum()
    }
}

/// A CDN serving a [`Library`] at `GET /files/{key}` and, as WeChat's does,
/// `GET /download?encrypted_query_param={key}`; no credentials.
#[derive(Clone)]
pub struct Cdn {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What it serves.
    pub library: Library,
}

impl Cdn {
    /// Starts the CDN.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake CDN");
        let cdn = Self {
            base: format!("http://{}", listener.local_addr().expect("fake CDN address")),
            library: Library::default(),
        };
        let app = Router::new()
            .route(
                "/files/{key}",
                get(|State(library): State<Library>, Path(key): Path<String>| async move { library.download(&key) }),
            )
            .route(
                "/download",
                get(
                    |State(library): State<Library>, Query(query): Query<HashMap<String, String>>| async move {
                        library.download(query.get("encrypted_query_param").map_or("", String::as_str))
                    },
                ),
            )
            .with_state(cdn.library.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        cdn
    }

    /// The URL of `key`, which need not be known yet (a signature in the query is ignored).
    pub fn url(&self, key: &str) -> String {
        format!("{}/files/{key}?ex=68a1&hm=signature-of-the-cdn", self.base)
    }

    /// Serves `file` as `key`; returns its URL.
    pub fn add(&self, key: &str, file: File) -> String {
        self.library.add(key, file);
        self.url(key)
    }
}
