//! What a downloaded file is (its MIME type, from the platform or its first bytes) and the
//! name it is kept under.

use sha2::{Digest, Sha256};

use crate::event::{InboundEvent, MediaKind};

/// The type of a file nothing says more about.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Image types vision models read inline (what OpenAI's and most compatible APIs accept).
const INLINE_IMAGES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A MIME type as declared by a platform, normalized: lower case, parameters dropped; `None`
/// when it is not a `type/subtype` of token characters, or says nothing (octet-stream).
fn declared(mime: &str) -> Option<String> {
    let essence = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    (token(kind) && token(subtype) && essence != OCTET_STREAM).then_some(essence)
}

/// The image type `bytes` start with: PNG, JPEG, GIF or WebP, the formats vision models read
/// inline and chat platforms show. The one image sniffer of the gateway: what users send, and
/// the images of answers, are told apart by it.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The type the first bytes show, for the formats that matter to agents.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if let Some(image) = sniff_image(bytes) {
        Some(image)
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"OggS") {
        Some("audio/ogg")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some("video/mp4")
    } else {
        None
    }
}

/// The file's MIME type: what the download says, else what the platform's reference said,
/// else what its bytes show, else [`OCTET_STREAM`].
pub fn mime(downloaded: Option<&str>, referenced: Option<&str>, bytes: &[u8]) -> String {
    downloaded
        .and_then(declared)
        .or_else(|| referenced.and_then(declared))
        .or_else(|| sniff(bytes).map(str::to_owned))
        .unwrap_or_else(|| OCTET_STREAM.to_owned())
}

/// True when a file of `kind` and `mime` is handed to agents inline: pictures in a format
/// vision models read.
pub fn is_inline_image(kind: MediaKind, mime: &str) -> bool {
    matches!(kind, MediaKind::Image | MediaKind::Sticker) && INLINE_IMAGES.contains(&mime)
}

/// The name the `index`-th file of `event` is kept under: unique to the event and the
/// position, the same on every delivery of it (a redelivery overwrites the file it stored
/// before instead of keeping a second copy), path-safe (lower-case letters, digits, `-` and `.`), and telling
/// nothing about the event.
pub fn key(event: &InboundEvent, index: usize, mime: &str) -> String {
    let digest = Sha256::digest(event.dedupe_key().as_bytes());
    let hex: String = hex::encode(&digest[..16]);
    format!("{hex}-{index}.{}", extension(mime))
}

/// A short extension for `mime` (its subtype when short and plain, else `bin`), so a kept
/// file's name says what it is.
fn extension(mime: &str) -> &str {
    match mime {
        "image/jpeg" => "jpg",
        "audio/mpeg" => "mp3",
        "text/plain" => "txt",
        _ => mime
            .split_once('/')
            .map(|(_, subtype)| subtype)
            .filter(|s| s.len() <= 8 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            .unwrap_or("bin"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_declared_type_wins_then_the_bytes_speak() {
        let png = b"\x89PNG\r\n\x1a\n....";
        assert_eq!(mime(Some("image/png; q=1"), None, b""), "image/png");
        assert_eq!(mime(None, Some("Image/JPEG"), png), "image/jpeg");
        assert_eq!(mime(Some(OCTET_STREAM), None, png), "image/png");
        assert_eq!(mime(Some("not a type"), None, b"%PDF-1.7"), "application/pdf");
        assert_eq!(mime(None, None, b"hello"), OCTET_STREAM);
        assert_eq!(mime(None, None, b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
    }

    #[test]
    fn only_pictures_vision_models_read_are_inline() {
        assert!(is_inline_image(MediaKind::Image, "image/png"));
        assert!(is_inline_image(MediaKind::Sticker, "image/webp"));
        assert!(!is_inline_image(MediaKind::Image, "image/heic"));
        assert!(!is_inline_image(MediaKind::File, "image/png"));
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("image/jpeg"), "jpg");
        assert_eq!(extension("image/png"), "png");
        assert_eq!(extension("application/pdf"), "pdf");
        assert_eq!(
            extension("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            "bin"
        );
        assert_eq!(extension(OCTET_STREAM), "bin");
    }
}
