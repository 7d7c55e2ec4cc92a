//! What users send, downloaded (Bot API "getFile"): `getFile` with the `file_id` the normalizer
//! put in [`MediaRef::key`] gives a `file_path`, and the file server serves it at
//! `<api>/file/bot<token>/<file_path>`.
//!
//! Bots may download files of up to 20 MB ([`MAX_DOWNLOAD`]), so the cap is the smaller of that
//! and the gateway's; the update's `file_size`, then `getFile`'s, refuse a larger file before
//! any byte of it is read. The token is in both URLs; no error carries either.

use async_trait::async_trait;
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

use crate::api::{ApiError, BotApi};

/// The largest file the Bot API lets a bot download: 20 MB.
pub const MAX_DOWNLOAD: u64 = 20 * 1024 * 1024;

/// Downloads Telegram files.
#[derive(Debug, Clone)]
pub struct Fetcher {
    api: BotApi,
}

impl Fetcher {
    /// Downloads through `api`'s Bot API and file server.
    pub fn new(api: BotApi) -> Self {
        Self { api }
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
        let Credentials::Telegram(bot) = credentials else {
            return Err(fetch::mismatch("Telegram"));
        };
        let file_id = fetch::needed(&media.key, "the message names no Telegram file")?;
        let cap = limit.min(MAX_DOWNLOAD);
        fetch::stated(media.size, cap)?;
        let file = self
            .api
            .get_file(&bot.bot_token, file_id)
            .await
            .map_err(|error| refused(error, media.size, cap))?;
        fetch::stated(file.file_size, cap)?;
        let path = file
            .file_path
            .filter(|p| !p.is_empty())
            .ok_or_else(|| MediaError::Platform("getFile gave no file path".into()))?;
        let response = self.api.download(&bot.bot_token, &path).await?;
        let body = fetch::read(response, cap, description).await?;
        Ok(body.into_download(media))
    }
}

/// A `getFile` error: "file is too big" is the 20 MB limit.
fn refused(error: ApiError, size: Option<u64>, cap: u64) -> MediaError {
    if error.description().contains("file is too big") {
        return MediaError::TooLarge { size, limit: cap };
    }
    match error {
        ApiError::Refused { code, .. } if code == 429 || code >= 500 => MediaError::Transport(error.to_string()),
        ApiError::Refused { .. } => MediaError::Platform(error.to_string()),
        ApiError::Transport { .. } => MediaError::Transport(error.to_string()),
    }
}

/// The file server's error description, from its Bot API envelope when it sends one.
fn description(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value["description"].as_str().map(str::to_owned)
}
