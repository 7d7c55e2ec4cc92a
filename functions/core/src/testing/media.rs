//! Stand-ins for the media ports: a platform that serves files by key ([`FakeMediaFetcher`])
//! and a store that keeps them in memory ([`MemoryMediaStore`]), for the pipeline's own tests
//! and the end-to-end tests (the platforms' real fetchers are tested with their fakes).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::credentials::Credentials;
use crate::event::{MediaKind, MediaRef};
use crate::integration::IntegrationRecord;
use crate::ports::{Download, MediaError, MediaFetcher, MediaStore, StoredMedia};
use crate::time::Timestamp;

/// The smallest valid PNG (a 1×1 transparent pixel), for tests that send a picture.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A reference to the platform file `key` of `kind`, of `size` bytes if stated.
pub fn media_ref(kind: MediaKind, key: &str, size: Option<u64>) -> MediaRef {
    MediaRef {
        kind,
        url: None,
        key: Some(key.to_owned()),
        name: None,
        mime: None,
        size,
        aes_key: None,
    }
}

/// Serves the files it was given by the key of the reference that asks (a Telegram `file_id`,
/// a Lark `file_key`, …), whatever the platform: an unknown key is the platform's refusal, a
/// key set to fail answers its error, a hanging key never answers.
#[derive(Clone, Default)]
pub struct FakeMediaFetcher {
    files: Arc<Mutex<HashMap<String, Result<Download, MediaError>>>>,
    hanging: Arc<Mutex<HashSet<String>>>,
    fetched: Arc<Mutex<Vec<String>>>,
}

impl FakeMediaFetcher {
    /// Serves `bytes` (of type `mime`, if given) for `key`.
    #[must_use]
    pub fn with(self, key: &str, bytes: &[u8], mime: Option<&str>) -> Self {
        let download = Download {
            bytes: bytes.to_vec(),
            mime: mime.map(str::to_owned),
            name: None,
        };
        self.answer(key, Ok(download))
    }

    /// Answers `error` for `key`.
    #[must_use]
    pub fn failing(self, key: &str, error: MediaError) -> Self {
        self.answer(key, Err(error))
    }

    /// Never answers for `key`.
    #[must_use]
    pub fn hanging(self, key: &str) -> Self {
        if let Ok(mut hanging) = self.hanging.lock() {
            hanging.insert(key.to_owned());
        }
        self
    }

    fn answer(self, key: &str, answer: Result<Download, MediaError>) -> Self {
        if let Ok(mut files) = self.files.lock() {
            files.insert(key.to_owned(), answer);
        }
        self
    }

    /// The keys asked for so far, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.fetched.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl MediaFetcher for FakeMediaFetcher {
    async fn fetch(
        &self,
        _integration: &IntegrationRecord,
        _credentials: &Credentials,
        media: &MediaRef,
        limit: u64,
    ) -> Result<Download, MediaError> {
        let key = media.key.clone().unwrap_or_default();
        if let Ok(mut fetched) = self.fetched.lock() {
            fetched.push(key.clone());
        }
        if self.hanging.lock().is_ok_and(|h| h.contains(&key)) {
            std::future::pending::<()>().await;
        }
        let answer = self.files.lock().ok().and_then(|files| files.get(&key).cloned());
        let download = answer.unwrap_or_else(|| Err(MediaError::Platform("file not found".to_owned())))?;
        let size = u64::try_from(download.bytes.len()).unwrap_or(u64::MAX);
        if size > limit {
            return Err(MediaError::TooLarge { size: None, limit });
        }
        Ok(download)
    }
}

/// What a [`MemoryMediaStore`] keeps: key → (bytes, content type).
pub type KeptFiles = HashMap<String, (Vec<u8>, String)>;

/// Keeps files in memory, counting every put; its links (`memory://<key>`) point nowhere. A
/// refusing store fails every put.
#[derive(Clone, Default)]
pub struct MemoryMediaStore {
    files: Arc<Mutex<KeptFiles>>,
    puts: Arc<Mutex<usize>>,
    refusing: bool,
}

impl MemoryMediaStore {
    /// A store that refuses every file.
    pub fn refusing() -> Self {
        Self {
            refusing: true,
            ..Self::default()
        }
    }

    /// The files kept.
    pub fn files(&self) -> KeptFiles {
        self.files.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// How many times a file was stored (a redelivery stores again under the same key).
    pub fn puts(&self) -> usize {
        self.puts.lock().map(|p| *p).unwrap_or_default()
    }
}

#[async_trait]
impl MediaStore for MemoryMediaStore {
    async fn put(&self, key: &str, bytes: &[u8], mime: &str, ttl: Duration) -> Result<StoredMedia, MediaError> {
        if self.refusing {
            return Err(MediaError::Storage("disk full".to_owned()));
        }
        if let (Ok(mut files), Ok(mut puts)) = (self.files.lock(), self.puts.lock()) {
            files.insert(key.to_owned(), (bytes.to_vec(), mime.to_owned()));
            *puts += 1;
        }
        Ok(StoredMedia {
            url: format!("memory://{key}"),
            expires_at: Timestamp::now().plus(ttl),
        })
    }
}
