//! What users send, downloaded through the message-resource API
//! ([`LarkApi::message_resource`]), which needs both the message id and the file key: the
//! normalizer writes [`MediaRef::key`] as [`resource_key`] (`<message_id>/<file_key>`; neither
//! holds a `/`), and the fetcher splits it again. Images (of image and rich-text messages) are
//! asked for as `type=image`, files, audio and video as `type=file`; stickers cannot be
//! downloaded (Lark's documented limit), nor can resources over 100 MB, which Lark refuses.
//! Lark states no size in the event, so the cap is enforced on the response's length and while
//! its body streams.

use async_trait::async_trait;
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::{MediaKind, MediaRef};
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

use crate::api::LarkApi;

/// The [`MediaRef::key`] of resource `file_key` in message `message_id`.
pub fn resource_key(message_id: &str, file_key: &str) -> String {
    format!("{message_id}/{file_key}")
}

/// The message id and file key of a [`resource_key`].
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once('/')
        .filter(|(message, file)| !message.is_empty() && !file.is_empty())
}

/// Downloads Lark message resources.
#[derive(Debug, Clone)]
pub struct Fetcher {
    api: LarkApi,
}

impl Fetcher {
    /// Downloads through `api`.
    pub fn new(api: LarkApi) -> Self {
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
        let Credentials::Lark(app) = credentials else {
            return Err(fetch::mismatch("Lark"));
        };
        let kind = match media.kind {
            MediaKind::Image => "image",
            MediaKind::File | MediaKind::Voice | MediaKind::Video => "file",
            MediaKind::Sticker => {
                return Err(MediaError::Unsupported(
                    "Lark does not let bots download stickers".into(),
                ));
            }
        };
        let missing = "the message names no Lark resource";
        let (message_id, file_key) =
            split_key(fetch::needed(&media.key, missing)?).ok_or_else(|| MediaError::Unsupported(missing.into()))?;
        fetch::stated(media.size, limit)?;
        let body = self
            .api
            .message_resource(app, message_id, file_key, kind, limit)
            .await?;
        Ok(body.into_download(media))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_back_into_their_parts() {
        let key = resource_key("om_1", "img_v2_abc");
        assert_eq!(key, "om_1/img_v2_abc");
        assert_eq!(split_key(&key), Some(("om_1", "img_v2_abc")));
        assert_eq!(split_key("img_v2_abc"), None);
        assert_eq!(split_key("/img"), None);
        assert_eq!(split_key("om_1/"), None);
    }
}
