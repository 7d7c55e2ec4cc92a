//! What users send, downloaded (§2): the `downloadCode` the normalizer put in
//! [`MediaRef::key`] is exchanged, with the app's `robotCode` and access token, for a
//! temporary `downloadUrl` (`POST /v1.0/robot/messageFiles/download`), which is then fetched
//! without credentials. DingTalk states no size in the message, so the cap is enforced on the
//! download's `Content-Length` and while its body streams. Voice notes also carry DingTalk's own
//! transcript (`recognition`), which the normalizer already made the message's text.

use async_trait::async_trait;
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

use crate::api::RobotApi;

/// Downloads DingTalk message files.
#[derive(Debug, Clone)]
pub struct Fetcher {
    api: RobotApi,
    http: reqwest::Client,
}

impl Fetcher {
    /// Exchanges download codes through `api` and downloads with `http`.
    pub fn new(api: RobotApi, http: reqwest::Client) -> Self {
        Self { api, http }
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
        let Credentials::Dingtalk(app) = credentials else {
            return Err(fetch::mismatch("DingTalk"));
        };
        let code = fetch::needed(&media.key, "the message has no DingTalk downloadCode")?;
        fetch::stated(media.size, limit)?;
        let url = self.api.download_url(app, code).await.map_err(fetch::from_reply)?;
        let body = fetch::get(&self.http, &url, limit).await?;
        Ok(body.into_download(media))
    }
}
