//! Downloading an answer's images for the platforms that need the bytes (an upload, or the
//! image inline in a message): `http(s)` only, a size cap checked against `Content-Length` and
//! again while reading, a timeout for the whole download, and the bytes must be an image
//! (PNG, JPEG, GIF or WebP by their first bytes, whatever the server calls them). An image that
//! cannot be had stays a link in the answer; the error says why without the URL (it may carry
//! a signature or a token).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use imgate_core::ports::MediaError;
use md5::{Digest, Md5};

use crate::fetch;

/// The largest image downloaded by default (WeCom, Lark and Telegram uploads stop at 10 MB).
pub const DEFAULT_LIMIT: u64 = 10 * 1024 * 1024;

/// How long one image may take by default, from the request to the last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// An image format, known by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
}

impl ImageKind {
    /// The format of `bytes`, if they start like an image of a known format.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match imgate_core::media::sniff_image(bytes)? {
            "image/png" => Some(Self::Png),
            "image/jpeg" => Some(Self::Jpeg),
            "image/gif" => Some(Self::Gif),
            "image/webp" => Some(Self::Webp),
            _ => None,
        }
    }

    /// Its MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    /// Its usual file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
        }
    }
}

/// A downloaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its format.
    pub kind: ImageKind,
}

impl Downloaded {
    /// A file name for uploads: `image-<n>.<extension>`.
    pub fn file_name(&self, n: usize) -> String {
        format!("image-{}.{}", n + 1, self.kind.extension())
    }

    /// The lowercase hex MD5 of the bytes (WeCom and WeChat name a file by it).
    pub fn md5_hex(&self) -> String {
        hex::encode(Md5::digest(&self.bytes))
    }
}

/// Downloads images with a size cap and a timeout.
#[derive(Debug, Clone)]
pub struct Downloader {
    http: reqwest::Client,
    limit: u64,
    timeout: Duration,
}

impl Downloader {
    /// A downloader over `http` with [`DEFAULT_LIMIT`] and [`DEFAULT_TIMEOUT`].
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            limit: DEFAULT_LIMIT,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same downloader with another size cap.
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = limit;
        self
    }

    /// The same downloader with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The size cap.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Downloads the image at `url`.
    ///
    /// # Errors
    /// [`MediaError::Unsupported`] for a URL that is not `http(s)` or bytes that are not an
    /// image, [`MediaError::TooLarge`] past the cap, [`MediaError::Transport`] when the host
    /// cannot be reached, answers with an error status or takes longer than the timeout.
    pub async fn image(&self, url: &str) -> Result<Downloaded, MediaError> {
        let parsed = url::Url::parse(url).map_err(|_| MediaError::Unsupported("not a valid URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(MediaError::Unsupported("only http(s) images are downloaded".into()));
        }
        tokio::time::timeout(self.timeout, async {
            refuse_link_local(&parsed).await?;
            self.read(parsed).await
        })
        .await
        .map_err(|_| MediaError::Transport(format!("took longer than {} s", self.timeout.as_secs())))?
    }

    async fn read(&self, url: url::Url) -> Result<Downloaded, MediaError> {
        let transport = |error: reqwest::Error| MediaError::Transport(error.without_url().to_string());
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(MediaError::Transport(format!("the image host answered {status}")));
        }
        fetch::stated(response.content_length(), self.limit)?;
        let declared = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        if let Some(declared) = &declared
            && !(declared.starts_with("image/")
                || declared.starts_with("application/octet-stream")
                || declared.starts_with("binary/octet-stream"))
        {
            return Err(MediaError::Unsupported(format!(
                "the host says it is {}, not an image",
                declared.split(';').next().unwrap_or_default()
            )));
        }
        let bytes = fetch::capped(response, self.limit).await?;
        let kind = ImageKind::sniff(&bytes)
            .ok_or_else(|| MediaError::Unsupported("the bytes are not a PNG, JPEG, GIF or WebP image".into()))?;
        Ok(Downloaded { bytes, kind })
    }
}

/// Refuses a URL whose host is, or resolves to, a link-local or unspecified address: where
/// clouds serve instance metadata and credentials (`169.254.169.254`, `fd00:ec2::254`), which
/// an answer must never make the gateway request. (Whatever such a host answered would not be
/// passed on anyway unless it were an image.)
async fn refuse_link_local(url: &url::Url) -> Result<(), MediaError> {
    let refused = || MediaError::Unsupported("images are not fetched from link-local addresses".into());
    let port = url.port_or_known_default().unwrap_or(80);
    let addresses: Vec<IpAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(url::Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(url::Host::Domain(name)) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| MediaError::Transport("the image host's name did not resolve".into()))?
            .map(|address| address.ip())
            .collect(),
        None => return Err(refused()),
    };
    if addresses.into_iter().any(is_link_local) {
        return Err(refused());
    }
    Ok(())
}

/// Link-local (IPv4 `169.254/16`, IPv6 `fe80::/10`, and IPv4 in IPv6), unspecified, and AWS's
/// IPv6 metadata address.
fn is_link_local(ip: IpAddr) -> bool {
    const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    match ip {
        IpAddr::V4(v4) => v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == AWS_METADATA_V6
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_link_local() || v4.is_unspecified())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_their_first_bytes() {
        assert_eq!(ImageKind::sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageKind::Jpeg));
        assert_eq!(ImageKind::sniff(b"GIF89a.."), Some(ImageKind::Gif));
        assert_eq!(ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(ImageKind::sniff(b"{\"json\": true}"), None);
        assert_eq!(ImageKind::sniff(b""), None);
    }

    #[test]
    fn md5_is_lowercase_hex() {
        let image = Downloaded {
            bytes: b"hello".to_vec(),
            kind: ImageKind::Png,
        };
        assert_eq!(image.md5_hex(), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(image.file_name(0), "image-1.png");
    }

    #[tokio::test]
    async fn instance_metadata_is_never_requested() {
        let downloader = Downloader::new(reqwest::Client::new());
        for url in [
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "http://[fd00:ec2::254]/latest/meta-data/",
            "http://[fe80::1]/x.png",
            "http://[::ffff:169.254.169.254]/x.png",
            "http://0.0.0.0/x.png",
        ] {
            assert!(
                matches!(downloader.image(url).await, Err(MediaError::Unsupported(_))),
                "{url}"
            );
        }
        assert!(!is_link_local("127.0.0.1".parse().unwrap()));
        assert!(!is_link_local("93.184.216.34".parse().unwrap()));
    }

    #[tokio::test]
    async fn only_web_urls_are_fetched() {
        let downloader = Downloader::new(reqwest::Client::new());
        for url in ["file:///etc/passwd", "not a url", "ftp://x/y.png"] {
            assert!(matches!(downloader.image(url).await, Err(MediaError::Unsupported(_))));
        }
    }
}
