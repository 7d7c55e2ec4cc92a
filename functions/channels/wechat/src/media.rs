//! What users send, downloaded from WeChat's media CDN (§5.2): `media.full_url` when the item
//! has one ([`MediaRef::url`]), else `<cdn>/download?encrypted_query_param=<handle>` with the
//! item's `encrypt_query_param` ([`MediaRef::key`]); a GET without credentials. The file is
//! AES-128-ECB encrypted with PKCS#7 padding; its key ([`MediaRef::aes_key`]) comes in one of
//! the encodings of §5.3 ([`key`]). An item without a key is served in clear.
//!
//! A file's `len` (its plaintext size) refuses it up front; otherwise the cap is applied to the
//! ciphertext with room for the padding, then to the plaintext. Voice notes also carry WeChat's
//! own transcript, which the normalizer already made the message's text.

use aes::Aes128;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use imgate_channel_kit::fetch;
use imgate_core::credentials::Credentials;
use imgate_core::event::MediaRef;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{Download, MediaError, MediaFetcher};

pub use crate::api::DEFAULT_CDN_URL;

/// The AES block, and the most padding a file carries.
const BLOCK: usize = 16;

/// Base64 with or without its `=` padding (§5.3: keys arrive both ways).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Downloads WeChat media.
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    cdn: String,
}

impl Fetcher {
    /// Downloads with `http` from the CDN at `cdn` (normally [`DEFAULT_CDN_URL`]).
    pub fn new(http: reqwest::Client, cdn: &str) -> Self {
        Self {
            http,
            cdn: cdn.trim_end_matches('/').to_owned(),
        }
    }

    /// The download URL of `media`: its `full_url`, else the CDN's download of its handle.
    ///
    /// # Errors
    /// [`MediaError::Unsupported`] when the item has neither.
    pub fn url(&self, media: &MediaRef) -> Result<String, MediaError> {
        if let Ok(url) = fetch::needed(&media.url, "") {
            return Ok(url.to_owned());
        }
        let handle = fetch::needed(&media.key, "the message names no WeChat media")?;
        let mut url = reqwest::Url::parse(&format!("{}/download", self.cdn))
            .map_err(|_| MediaError::Unsupported("the WeChat CDN address is not a URL".into()))?;
        url.query_pairs_mut().append_pair("encrypted_query_param", handle);
        Ok(url.into())
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
        if !matches!(credentials, Credentials::Wechat(_)) {
            return Err(fetch::mismatch("WeChat"));
        }
        fetch::stated(media.size, limit)?;
        let url = self.url(media)?;
        let key = match media.aes_key.as_deref().filter(|k| !k.is_empty()) {
            Some(encoded) => Some(key(encoded).ok_or(MediaError::Decrypt)?),
            None => None,
        };
        let Some(key) = key else {
            return Ok(fetch::get(&self.http, &url, limit).await?.into_download(media));
        };
        let body = fetch::get(&self.http, &url, limit.saturating_add(BLOCK as u64)).await?;
        let plain = open(&key, &body.bytes).ok_or(MediaError::Decrypt)?;
        fetch::stated(Some(plain.len() as u64), limit)?;
        Ok(body.with_bytes(plain).into_download(media))
    }
}

/// The 16-byte key of an item (§5.3): 32 hex characters (`image_item.aeskey`), or base64 of
/// either the 16 raw bytes or those 32 hex characters (`media.aes_key`). `None` for anything
/// else.
pub fn key(encoded: &str) -> Option<[u8; BLOCK]> {
    let encoded = encoded.trim();
    let from_hex = |text: &[u8]| -> Option<[u8; BLOCK]> {
        let mut key = [0u8; BLOCK];
        hex::decode_to_slice(text, &mut key).ok()?;
        Some(key)
    };
    if encoded.len() == 2 * BLOCK && encoded.bytes().all(|b| b.is_ascii_hexdigit()) {
        return from_hex(encoded.as_bytes());
    }
    let bytes = LENIENT.decode(encoded).ok()?;
    match bytes.len() {
        BLOCK => bytes.try_into().ok(),
        32 if bytes.iter().all(u8::is_ascii_hexdigit) => from_hex(&bytes),
        _ => None,
    }
}

/// AES-128-ECB decryption with PKCS#7 unpadding; `None` for a length that is not whole blocks
/// or bad padding.
pub fn open(key: &[u8; BLOCK], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || data.len() % BLOCK != 0 {
        return None;
    }
    let cipher = Aes128::new(key.into());
    let mut plain = data.to_vec();
    for block in plain.chunks_exact_mut(BLOCK) {
        cipher.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(*plain.last()?);
    let body = plain.len().checked_sub(pad).filter(|_| (1..=BLOCK).contains(&pad))?;
    if plain[body..].iter().any(|&b| usize::from(b) != pad) {
        return None;
    }
    plain.truncate(body);
    Some(plain)
}

/// AES-128-ECB encryption with PKCS#7 padding, as the CDN stores files (§5.1 step 4): the
/// inverse of [`open`].
pub fn seal(key: &[u8; BLOCK], plain: &[u8]) -> Vec<u8> {
    let cipher = Aes128::new(key.into());
    let pad = BLOCK - plain.len() % BLOCK;
    let mut data = plain.to_vec();
    // `pad` is 1..=16, so it fits a byte.
    data.resize(plain.len() + pad, pad as u8);
    for block in data.chunks_exact_mut(BLOCK) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    data
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
