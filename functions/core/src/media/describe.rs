//! How media are worded for the agent and the event log: sizes, kinds, and the sentence that
//! stands in for a file that was not fetched.

use crate::event::MediaKind;

/// A size for people: `900 bytes`, `512 KB`, `1.5 MB`, `40 MB` (binary units, one decimal
/// below 10).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return if bytes == 1 {
            "1 byte".to_owned()
        } else {
            format!("{bytes} bytes")
        };
    }
    // Lossless below 2^53 bytes (8 PB); display only.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let number = if value < 10.0 && value.fract() >= 0.05 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    format!("{number} {}", UNITS[unit])
}

/// The noun for a kind of media.
pub fn noun(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Voice => "voice message",
        MediaKind::Video => "video",
        MediaKind::File => "file",
        MediaKind::Sticker => "sticker",
    }
}

/// "a" or "an" before `phrase`, by how it is spoken: `an image`, `an 8 MB file`, `an 11 MB
/// video`, `a 40 MB video`.
fn article(phrase: &str) -> &'static str {
    let first_word = phrase.split_whitespace().next().unwrap_or_default();
    let digits: String = first_word.chars().take_while(char::is_ascii_digit).collect();
    let vowel = if digits.is_empty() {
        first_word.starts_with(['a', 'e', 'i', 'o', 'u'])
    } else {
        // Sizes are below 1024 in their unit: eight…, eighty…, eight hundred…, eleven, eighteen.
        digits.starts_with('8') || digits == "11" || digits == "18"
    };
    if vowel { "an" } else { "a" }
}

/// A duration for people: `60 s`, `500 ms`.
pub fn duration(duration: std::time::Duration) -> String {
    if duration.as_secs() == 0 {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", duration.as_secs())
    }
}

/// What the user sent, for the agent: `an image`, `a 40 MB video “clip.mp4”`, `a 900-byte file`.
pub fn sent(kind: MediaKind, size_bytes: Option<u64>, name: Option<&str>) -> String {
    let mut phrase = String::new();
    match size_bytes {
        Some(bytes) if bytes < 1024 => phrase.push_str(&format!("{bytes}-byte ")),
        Some(bytes) => {
            phrase.push_str(&size(bytes));
            phrase.push(' ');
        }
        None => {}
    }
    phrase.push_str(noun(kind));
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        phrase.push_str(&format!(" “{name}”"));
    }
    format!("{} {phrase}", article(&phrase))
}

/// The line the agent reads in place of a file that was not fetched: `(the user sent a 40 MB
/// video that was not fetched: larger than the 20 MB limit)`.
pub fn not_fetched(kind: MediaKind, size_bytes: Option<u64>, name: Option<&str>, reason: &str) -> String {
    format!(
        "(the user sent {} that was not fetched: {reason})",
        sent(kind, size_bytes, name)
    )
}

/// Why a file over the cap was not fetched.
pub fn too_large(limit: u64) -> String {
    format!("larger than the {} limit", size(limit))
}

/// `text` made safe for the event log and the agent: at most 200 characters on one line, with
/// anything that looks like a URL replaced (a fetcher's error must not leak one).
pub fn scrub(text: &str) -> String {
    let words: Vec<&str> = text
        .split_whitespace()
        .map(|word| if word.contains("://") { "<url>" } else { word })
        .collect();
    let line = words.join(" ");
    if line.chars().count() > 200 {
        let cut: String = line.chars().take(199).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// A file name fit to show: control characters dropped, at most 120 characters; `None` when
/// nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(120).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(900), "900 bytes");
        assert_eq!(size(512 * 1024), "512 KB");
        assert_eq!(size(1536 * 1024), "1.5 MB");
        assert_eq!(size(20 * 1024 * 1024), "20 MB");
        assert_eq!(size(40 * 1024 * 1024 + 5), "40 MB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3 GB");
    }

    #[test]
    fn the_article_follows_the_sound() {
        assert_eq!(sent(MediaKind::Image, None, None), "an image");
        assert_eq!(sent(MediaKind::Video, Some(40 * 1024 * 1024), None), "a 40 MB video");
        assert_eq!(sent(MediaKind::File, Some(8 * 1024 * 1024), None), "an 8 MB file");
        assert_eq!(sent(MediaKind::File, Some(11 * 1024), None), "an 11 KB file");
        assert_eq!(
            sent(MediaKind::File, Some(85 * 1024), Some("a.pdf")),
            "an 85 KB file “a.pdf”"
        );
        assert_eq!(sent(MediaKind::Voice, None, None), "a voice message");
        assert_eq!(sent(MediaKind::Image, Some(28), None), "a 28-byte image");
        assert_eq!(sent(MediaKind::Image, Some(800), None), "an 800-byte image");
    }

    #[test]
    fn the_not_fetched_line() {
        assert_eq!(
            not_fetched(
                MediaKind::Video,
                Some(40 * 1024 * 1024),
                None,
                &too_large(20 * 1024 * 1024)
            ),
            "(the user sent a 40 MB video that was not fetched: larger than the 20 MB limit)"
        );
    }

    #[test]
    fn scrub_removes_urls_and_bounds_the_length() {
        assert_eq!(
            scrub("error sending request for url (https://api.example/file?token=abc)"),
            "error sending request for url <url>"
        );
        assert_eq!(scrub("two\nlines"), "two lines");
        assert_eq!(scrub(&"x".repeat(500)).chars().count(), 200);
    }
}
