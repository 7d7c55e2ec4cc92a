//! Downloading what users send, the same way on every platform: a size cap enforced twice
//! (refused up front when the platform or the response states a larger size, and stopped as
//! soon as the body passes it), one timeout for the whole transfer, the MIME type from the
//! response or the bytes, the file name from `Content-Disposition`, and errors that never carry
//! a URL, a token or a key (reqwest's errors quote the URL, and platform download URLs carry
//! tokens and signatures).

use std::time::Duration;

use imgate_core::event::MediaRef;
use imgate_core::media::sniff_image;
use imgate_core::ports::{Download, MediaError, ReplyError};
use percent_encoding::percent_decode_str;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap};

/// How long one download may take, from connecting to the body's last byte.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// How many bytes of a refusal's body are read for the platform's own words.
const ERROR_BODY_BYTES: u64 = 4096;

/// Longest file name or platform error text kept.
const MAX_TEXT_CHARS: usize = 200;

/// The most memory reserved up front for a body (it grows past this as bytes arrive).
const MAX_RESERVE: u64 = 1 << 20;

/// A downloaded body with what its response said about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// The bytes, as sent (still encrypted where the platform encrypts them).
    pub bytes: Vec<u8>,
    /// The `Content-Type`, without parameters, lowercased.
    pub content_type: Option<String>,
    /// The file name from `Content-Disposition`.
    pub file_name: Option<String>,
}

impl Body {
    /// The [`Download`] of `media`: the name the platform gave in the event, else the
    /// response's; the MIME type as [`mime`] decides with the event's as a hint.
    pub fn into_download(self, media: &MediaRef) -> Download {
        let mime = mime(self.content_type.as_deref(), media.mime.as_deref(), &self.bytes);
        Download {
            name: media.name.clone().or(self.file_name),
            mime,
            bytes: self.bytes,
        }
    }

    /// The same response with `bytes` in place of its body (the decrypted bytes of an
    /// encrypted download).
    #[must_use]
    pub fn with_bytes(self, bytes: Vec<u8>) -> Self {
        Self { bytes, ..self }
    }
}

/// Refuses a file whose stated `size` is above `limit`, before anything is downloaded.
///
/// # Errors
/// [`MediaError::TooLarge`] with the stated size.
pub fn stated(size: Option<u64>, limit: u64) -> Result<(), MediaError> {
    match size {
        Some(size) if size > limit => Err(MediaError::TooLarge {
            size: Some(size),
            limit,
        }),
        _ => Ok(()),
    }
}

/// A field of the reference the download needs: its value when not empty, else
/// [`MediaError::Unsupported`] saying `missing` (e.g. "the message names no Telegram file").
///
/// # Errors
/// As above.
pub fn needed<'a>(field: &'a Option<String>, missing: &str) -> Result<&'a str, MediaError> {
    field
        .as_deref()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| MediaError::Unsupported(missing.to_owned()))
}

/// The answer to credentials that are not `platform`'s (a record and its credentials disagree).
pub fn mismatch(platform: &str) -> MediaError {
    MediaError::Unsupported(format!("these are not {platform} credentials"))
}

/// GETs `url`, which needs no credentials (a CDN or a signed temporary URL), and reads its body
/// as [`read`] does.
///
/// # Errors
/// As [`read`]; [`MediaError::Unsupported`] when `url` is not an http(s) URL.
pub async fn get(http: &reqwest::Client, url: &str, limit: u64) -> Result<Body, MediaError> {
    let url = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| MediaError::Unsupported("the platform gave a download address that is not a web URL".into()))?;
    let response = http.get(url).timeout(TIMEOUT).send().await.map_err(transport)?;
    read(response, limit, |_| None).await
}

/// Reads a download's response: a success is its body, at most `limit` bytes ([`capped`]); any
/// other status is an error worded by `words` from the first bytes of the body (the platform's
/// own error fields; `None` for just the status). 429 and 5xx are
/// [`MediaError::Transport`] (worth trying again later), other refusals
/// [`MediaError::Platform`].
///
/// # Errors
/// As above, and [`capped`]'s.
pub async fn read(
    response: reqwest::Response,
    limit: u64,
    words: impl FnOnce(&[u8]) -> Option<String>,
) -> Result<Body, MediaError> {
    let status = response.status();
    if !status.is_success() {
        let body = capped(response, ERROR_BODY_BYTES).await.unwrap_or_default();
        let said = words(&body).map_or_else(|| format!("HTTP {}", status.as_u16()), |w| clip(&w));
        return Err(
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                MediaError::Transport(said)
            } else {
                MediaError::Platform(said)
            },
        );
    }
    let (content_type, file_name) = described(response.headers());
    let bytes = capped(response, limit).await?;
    Ok(Body {
        bytes,
        content_type,
        file_name,
    })
}

/// The `Content-Type` (without parameters) and the `Content-Disposition` file name of a
/// response.
pub fn described(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header(CONTENT_TYPE)
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    (content_type, header(CONTENT_DISPOSITION).and_then(file_name))
}

/// The body of `response`, reading at most `limit` bytes: a `Content-Length` above the limit is
/// refused before the body is read, and a body that passes it (no length, or a wrong one) is
/// dropped as soon as it does.
///
/// # Errors
/// [`MediaError::TooLarge`] (with the stated size, or `None` when the body passed the cap),
/// [`MediaError::Transport`] when the body could not be read in time.
pub async fn capped(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, MediaError> {
    let length = response.content_length();
    stated(length, limit)?;
    let reserve = length.unwrap_or(0).min(limit).min(MAX_RESERVE);
    let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(MediaError::TooLarge { size: None, limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The MIME type of downloaded `bytes`: a specific `content_type` from the response wins; a
/// generic one (`application/octet-stream`) or none gives way to the image type the bytes start
/// with ([`sniff_image`]), then to the platform's own `hint`.
pub fn mime(content_type: Option<&str>, hint: Option<&str>, bytes: &[u8]) -> Option<String> {
    let generic = |t: &str| {
        matches!(
            t,
            "application/octet-stream" | "binary/octet-stream" | "application/unknown"
        )
    };
    let specific = content_type.filter(|t| !generic(t));
    specific
        .or_else(|| sniff_image(bytes))
        .or_else(|| hint.filter(|t| !t.is_empty()))
        .or(content_type)
        .map(str::to_owned)
}

/// The file name of a `Content-Disposition` value: RFC 5987's `filename*=UTF-8''…` when given,
/// else `filename=` (quoted or not); only its last path segment, at most 200 characters.
pub fn file_name(disposition: &str) -> Option<String> {
    let params = disposition.split(';').skip(1).filter_map(|p| p.split_once('='));
    let mut plain = None;
    let mut extended = None;
    for (name, value) in params {
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "filename*" => {
                let (charset, rest) = value.split_once('\'')?;
                let (_language, encoded) = rest.split_once('\'')?;
                if charset.eq_ignore_ascii_case("utf-8") {
                    extended = percent_decode_str(encoded).decode_utf8().ok().map(|s| s.into_owned());
                }
            }
            "filename" => plain = Some(value.trim_matches('"').to_owned()),
            _ => {}
        }
    }
    let name = extended.or(plain)?;
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!last.is_empty()).then(|| last.chars().take(MAX_TEXT_CHARS).collect())
}

/// A request error without its URL; a timeout says so plainly.
pub fn transport(error: reqwest::Error) -> MediaError {
    if error.is_timeout() {
        MediaError::Transport(format!("timed out after {} s", TIMEOUT.as_secs()))
    } else {
        MediaError::Transport(error.without_url().to_string())
    }
}

/// A platform API call's [`ReplyError`] (token fetches, the calls that name the file) as a
/// [`MediaError`].
pub fn from_reply(error: ReplyError) -> MediaError {
    match error {
        ReplyError::Platform { code, message } => MediaError::Platform(clip(&format!("{code} {message}"))),
        ReplyError::RateLimited { retry_after } => MediaError::Transport(format!(
            "rate limited by the platform; retry after {} s",
            retry_after.as_secs().max(1)
        )),
        ReplyError::Transport(detail) => MediaError::Transport(detail),
        ReplyError::Expired => MediaError::Platform("the platform no longer serves this file".into()),
        ReplyError::Unsupported(what) => MediaError::Unsupported(what),
        ReplyError::Store(error) => MediaError::Transport(format!("the token cache could not be read: {error}")),
    }
}

/// A failed download call made with an access token, for
/// [`SealedTokens::with_token`](crate::tokens::SealedTokens::with_token): the error, and
/// whether the platform said the token was the problem (the token is then fetched again once).
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: MediaError,
    /// The platform refused the access token.
    pub token_rejected: bool,
}

impl From<ReplyError> for Failure {
    fn from(error: ReplyError) -> Self {
        from_reply(error).into()
    }
}

impl From<MediaError> for Failure {
    fn from(error: MediaError) -> Self {
        Self {
            error,
            token_rejected: false,
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
