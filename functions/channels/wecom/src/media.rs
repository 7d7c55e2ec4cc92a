//! What users send, downloaded. Which download a [`MediaRef`] takes is decided by what the
//! normalizer filled in:
//!
//! - **Self-built app** (`key` = `MediaId`): `GET /cgi-bin/media/get` with the app's access
//!   token ([`AppClient::media`]); the integration needs its corp id and app Secret. An image
//!   without them falls back to its `PicUrl` (`url`), which is served in clear.
//! - **Smart bot** (`url` only, valid 5 minutes, §2.8 and §3.6): the file is AES-256-CBC
//!   encrypted, IV = the key's first 16 bytes, PKCS#7 padded to 32 bytes, no prefix. The key is
//!   the per-URL `aeskey` of the long connection ([`MediaRef::aes_key`]) when given, else the
//!   bot's EncodingAESKey (callback mode). The cap is applied to the ciphertext with room for
//!   the padding, then to the plaintext.
//!
//! Smart-bot voice messages arrive as WeCom's transcript only (the normalizer made it the
//! text); self-built app voice notes are AMR files, their `Recognition` text (when the app has
//! it turned on) already in the message's text.

use async_trait::async_trait;
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

use crate::api::AppClient;
use crate::verify;

/// The most padding an encrypted media file carries (PKCS#7 to 32 bytes).
const PADDING: u64 = 32;

/// Downloads WeCom media.
#[derive(Debug, Clone)]
pub struct Fetcher {
    app: AppClient,
    http: reqwest::Client,
}

impl Fetcher {
    /// Downloads app media through `app` and smart-bot media with `http`.
    pub fn new(app: AppClient, http: reqwest::Client) -> Self {
        Self { app, http }
    }

    /// A smart-bot file: downloaded, then decrypted with `key`.
    async fn encrypted(&self, url: &str, key: &str, media: &MediaRef, limit: u64) -> Result<Download, MediaError> {
        let body = fetch::get(&self.http, url, limit.saturating_add(PADDING)).await?;
        let plain = verify::decrypt_media(key, &body.bytes).map_err(|_| MediaError::Decrypt)?;
        fetch::stated(Some(plain.len() as u64), limit)?;
        Ok(body.with_bytes(plain).into_download(media))
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
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let (url, media_id, aes_key) = (non_empty(&media.url), non_empty(&media.key), non_empty(&media.aes_key));
        fetch::stated(media.size, limit)?;
        match credentials {
            Credentials::WecomLongConnection(_) => {
                let url = url.ok_or_else(|| MediaError::Unsupported("the message has no media URL".into()))?;
                let key =
                    aes_key.ok_or_else(|| MediaError::Unsupported("the message has no aeskey for its media".into()))?;
                self.encrypted(&url, &key, media, limit).await
            }
            Credentials::WecomWebhook(hook) => match (media_id, url) {
                (Some(media_id), url) => {
                    let app = hook.corp_id.as_deref().zip(hook.corp_secret.as_ref());
                    match (app, url) {
                        (Some((corp_id, secret)), _) => {
                            let body = self.app.media(corp_id, secret, &media_id, limit).await?;
                            Ok(body.into_download(media))
                        }
                        (None, Some(pic_url)) => {
                            Ok(fetch::get(&self.http, &pic_url, limit).await?.into_download(media))
                        }
                        (None, None) => Err(MediaError::Unsupported(
                            "downloading a self-built app's media needs its corp id and Secret in the credentials"
                                .into(),
                        )),
                    }
                }
                (None, Some(url)) => {
                    let key = aes_key.unwrap_or_else(|| hook.encoding_aes_key.expose().to_owned());
                    self.encrypted(&url, &key, media, limit).await
                }
                (None, None) => Err(MediaError::Unsupported("the message names no WeCom media".into())),
            },
            _ => Err(fetch::mismatch("WeCom")),
        }
    }
}
