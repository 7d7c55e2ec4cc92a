//! What users send, downloaded: a message attachment's `url` (Discord's CDN, signed and valid
//! for about a day) needs no token, so it is a plain GET. The attachment's `size` refuses a file
//! above the cap before the download; the URL's signature never reaches an error.

use async_trait::async_trait;
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

/// Downloads Discord attachments.
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
}

impl Fetcher {
    /// Downloads with `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

#[async_trait]
impl MediaFetcher for Fetcher {
    async fn fetch(
        &self,
        _integration: &IntegrationRecord,
        credentials: &Credentials,
        media: &MediaRef,
        limit: u64,
    ) -> Result<Download, MediaError> {
        if !matches!(credentials, Credentials::Discord(_)) {
            return Err(fetch::mismatch("Discord"));
        }
        let url = fetch::needed(&media.url, "the attachment has no URL")?;
        fetch::stated(media.size, limit)?;
        let body = fetch::get(&self.http, url, limit).await?;
        Ok(body.into_download(media))
    }
}
