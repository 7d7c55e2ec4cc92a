//! The media ports: downloading what a user sent from the platform ([`MediaFetcher`], one per
//! platform) and keeping it for a limited time where the agent can read it ([`MediaStore`]: a
//! directory next to the database in `imgate serve`, an S3 bucket with a lifecycle rule on AWS).

use std::time::Duration;

use async_trait::async_trait;

use crate::credentials::Credentials;
use crate::event::MediaRef;
use crate::integration::IntegrationRecord;
use crate::time::Timestamp;

/// A downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The file's bytes (decrypted where the platform encrypts them).
    pub bytes: Vec<u8>,
    /// Its MIME type, as the platform or the bytes say; `None` when neither does.
    pub mime: Option<String>,
    /// Its file name, where the platform gives one.
    pub name: Option<String>,
}

/// Fetching or keeping media failed. The text is shown to the agent and in the event log, so
/// it never carries a URL, a key or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The file is larger than the configured cap; nothing (or nothing more) was downloaded.
    #[error("larger than the {limit}-byte limit")]
    TooLarge {
        /// Its size, when the platform said it or the download passed the cap.
        size: Option<u64>,
        /// The cap.
        limit: u64,
    },
    /// The platform or the storage could not be reached, or the download took too long.
    #[error("could not be downloaded: {0}")]
    Transport(String),
    /// The platform answered with an error.
    #[error("the platform refused the download: {0}")]
    Platform(String),
    /// The downloaded bytes could not be decrypted with the key the platform gave.
    #[error("could not be decrypted")]
    Decrypt,
    /// The reference names nothing this platform can download (no key or URL), or the platform
    /// has no download API; the text says which.
    #[error("{0}")]
    Unsupported(String),
    /// The storage refused the file.
    #[error("could not be stored: {0}")]
    Storage(String),
}

/// Downloads the media a user sent on one platform.
#[async_trait]
pub trait MediaFetcher: Send + Sync {
    /// Downloads `media`, received through `integration`, reading at most `limit` bytes: a
    /// larger file is [`MediaError::TooLarge`], found out from the platform's stated size
    /// before the download where it states one.
    async fn fetch(
        &self,
        integration: &IntegrationRecord,
        credentials: &Credentials,
        media: &MediaRef,
        limit: u64,
    ) -> Result<Download, MediaError>;
}

/// A stored file, and the address an agent reads it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    /// A URL that serves the file until `expires_at`, without other credentials.
    pub url: String,
    /// When the URL stops working (the file itself is removed at most a day later).
    pub expires_at: Timestamp,
}

/// Keeps downloaded media for a limited time.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores `bytes` under `key` (a path-safe name unique to the file) with content type
    /// `mime`; returns a URL readable for `ttl`.
    async fn put(&self, key: &str, bytes: &[u8], mime: &str, ttl: Duration) -> Result<StoredMedia, MediaError>;
}

/// A kept file, read back for the link that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The content type it was stored with.
    pub mime: String,
}

/// A media link was refused. The texts are shown to whoever holds the link, so they say what
/// is wrong with it and nothing about the file or the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaLinkError {
    /// The link was not made by this gateway (or was changed): its signature does not match.
    #[error("this media link is not valid")]
    Forged,
    /// The link was made by this gateway but its time is up.
    #[error("this media link has expired")]
    Expired,
    /// The link is valid but the file is no longer kept.
    #[error("this file is no longer kept")]
    Gone,
    /// The file is there but could not be read.
    #[error("the file could not be read")]
    Unreadable,
}

/// Serves the files a [`MediaStore`] keeps on this machine, for the links it handed out
/// (`imgate serve`'s media directory, served at `GET /media/{token}`; on AWS the bucket serves
/// its own presigned URLs and nothing implements this).
#[async_trait]
pub trait MediaFiles: Send + Sync {
    /// The file `token` (the last segment of a link) names, if the link is genuine and its
    /// time is not up at `now`.
    async fn open(&self, token: &str, now: Timestamp) -> Result<MediaFile, MediaLinkError>;
}
