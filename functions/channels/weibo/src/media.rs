//! What users send on Weibo cannot be downloaded later: attachments arrive inline, base64 in
//! the message frame itself (§5.1), and Weibo has no download API (§7). The normalizer keeps
//! only their name, type and size, since a queue message carries references, never files, so
//! the fetcher answers why and the agent is told what was attached.

use async_trait::async_trait;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

/// Why no Weibo attachment is downloaded.
pub const UNSUPPORTED: &str = "Weibo sends attachments inside the message and has no download API; \
imgate passes on what was attached, not the file";

/// Answers every download with [`UNSUPPORTED`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Fetcher;

#[async_trait]
impl MediaFetcher for Fetcher {
    async fn fetch(
        &self,
        _integration: &IntegrationRecord,
        _credentials: &Credentials,
        _media: &MediaRef,
        _limit: u64,
    ) -> Result<Download, MediaError> {
        Err(MediaError::Unsupported(UNSUPPORTED.into()))
    }
}
