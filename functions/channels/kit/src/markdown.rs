//! Markdown pieces every platform's formatting uses: fences, tables, images, newlines and
//! byte-bounded prefixes.
//!
//! Images in an answer: [`split_images`] takes the `![alt](https://…)` images out of a finished
//! answer (platforms send them as image messages), [`streaming_images`] shows them as links
//! while the answer is still being written, and [`Image::link`] is what an image that cannot be
//! sent becomes in the text.

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// CRLF and lone CR → LF.
pub fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A fence opener (up to 3 spaces, ≥ 3 backticks, an info string without backticks):
/// `(backtick count, info string)`.
pub fn fence_open(line: &str) -> Option<(usize, &str)> {
    let rest = line.trim_start_matches(' ');
    if line.len() - rest.len() > 3 {
        return None;
    }
    let ticks = rest.len() - rest.trim_start_matches('`').len();
    let info = rest[ticks..].trim();
    (ticks >= 3 && !info.contains('`')).then_some((ticks, info))
}

/// A fence closer for an opener of `ticks` backticks.
pub fn fence_close(line: &str, ticks: usize) -> bool {
    let t = line.trim_end_matches(['\n', '\r']).trim();
    t.len() >= ticks && t.bytes().all(|b| b == b'`')
}

pub fn is_table_row(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 2 && t.starts_with('|') && t.ends_with('|')
}

/// `![alt](url)` → `[alt](url)` (or `[image](url)` without alt text). Also used for Lark cards.
pub fn images_to_links(line: &str) -> String {
    map_images(line, |alt, _, destination| {
        let label = if alt.trim().is_empty() { "image" } else { alt };
        Some(format!("[{label}]{destination}"))
    })
}

/// `text` without its images (`![alt](url)`, whatever the source), for platforms that show no
/// image syntax at all.
pub fn remove_images(text: &str) -> String {
    map_images(text, |_, _, _| Some(String::new()))
}

/// `text` with each image replaced by what `f` makes of `(alt, url, "(…)" as written)`;
/// `None` keeps the image as it is.
fn map_images(text: &str, mut f: impl FnMut(&str, &str, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("![") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let replaced =
            image_after(after).and_then(|(alt, url, len)| Some((f(alt, url, &after[alt.len() + 1..len])?, len)));
        match replaced {
            Some((replacement, len)) => {
                out.push_str(&replacement);
                rest = &after[len..];
            }
            None => {
                out.push_str("![");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The most images one answer sends as images (WeCom's limit for one message; more would flood
/// a chat): those past it stay links in the text.
pub const MAX_IMAGES: usize = 10;

/// An image of an answer: `![alt](url)` with an `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The alt text (may be empty).
    pub alt: String,
    /// The image's URL.
    pub url: String,
}

impl Image {
    /// The alt text, or `image` when there is none.
    pub fn label(&self) -> &str {
        if self.alt.trim().is_empty() {
            "image"
        } else {
            self.alt.trim()
        }
    }

    /// The image as a Markdown link, `[alt](url)`: what an image that cannot be sent as one
    /// becomes.
    pub fn link(&self) -> String {
        format!("[{}]({})", self.label(), self.url)
    }
}

/// The image starting right after a `![` at the start of `after`: `(alt, destination, length
/// of what follows the `![`)`. The alt text stays on one line; the destination is the URL,
/// optionally in `<…>`, optionally followed by a quoted title.
fn image_after(after: &str) -> Option<(&str, &str, usize)> {
    let close = after.find("](")?;
    let alt = &after[..close];
    if alt.contains('\n') || alt.contains('[') {
        return None;
    }
    let rest = &after[close + 2..];
    let end = rest.find(')')?;
    let inside = rest[..end].trim();
    if inside.contains('\n') {
        return None;
    }
    let destination = match inside.split_once(char::is_whitespace) {
        Some((url, title)) if title.trim_start().starts_with(['"', '\'']) => url,
        Some(_) => return None,
        None => inside,
    };
    let destination = destination
        .strip_prefix('<')
        .and_then(|d| d.strip_suffix('>'))
        .unwrap_or(destination);
    Some((alt, destination, close + 2 + end + 1))
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && !url.contains(char::is_whitespace)
}

/// The `http(s)` images of `line` (outside inline code) and the line without them; other
/// image syntax (a relative or `data:` source) is left as it is.
fn line_images(line: &str, images: &mut Vec<Image>) -> String {
    let mut out = String::with_capacity(line.len());
    // Inline code spans alternate with text between backticks.
    for (n, segment) in line.split('`').enumerate() {
        if n > 0 {
            out.push('`');
        }
        if n % 2 == 1 {
            out.push_str(segment);
            continue;
        }
        out.push_str(&map_images(segment, |alt, url, _| {
            is_web_url(url).then(|| {
                images.push(Image {
                    alt: alt.trim().to_owned(),
                    url: url.to_owned(),
                });
                String::new()
            })
        }));
    }
    out
}

/// The images of a finished answer (`![alt](https://…)` outside code), in order, and the
/// answer without them: a line that only held images is dropped, and blank lines left behind
/// are collapsed, so the text reads as written around them.
pub fn split_images(text: &str) -> (String, Vec<Image>) {
    let mut images = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    let mut fence: Option<usize> = None;
    for line in text.split('\n') {
        if let Some(ticks) = fence {
            if fence_close(line, ticks) {
                fence = None;
            }
            lines.push(line.to_owned());
            continue;
        }
        if let Some((ticks, _)) = fence_open(line) {
            fence = Some(ticks);
            lines.push(line.to_owned());
            continue;
        }
        let before = images.len();
        let cleaned = line_images(line, &mut images);
        if images.len() > before && cleaned.trim().is_empty() {
            continue;
        }
        lines.push(if images.len() > before {
            cleaned.trim_end().to_owned()
        } else {
            cleaned
        });
    }
    if images.is_empty() {
        return (text.to_owned(), images);
    }
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in lines {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    (out.trim().to_owned(), images)
}

/// The images of a finished answer to send, at most `max` (those past it stay in the text as
/// links), and the text without them.
pub fn images_to_send(text: &str, max: usize) -> (String, Vec<Image>) {
    let (body, mut images) = split_images(text);
    if images.len() <= max {
        return (body, images);
    }
    let rest = images.split_off(max);
    (with_links(&body, &rest), images)
}

/// What the text of an answer that is only images says: their labels, one a line.
pub fn labels(images: &[Image]) -> String {
    images.iter().map(Image::label).collect::<Vec<_>>().join("\n")
}

/// An answer still being written, with its images shown as links (`[alt](url)`, the form they
/// keep until the answer is finished and they are sent) and an image still arriving at its end
/// (`![alt](https://exa`, or a last `!`) left out, so no broken image syntax flashes by. What
/// is shown only grows as the answer does (a platform that streams deltas relies on that).
pub fn streaming_images(text: &str) -> String {
    let mut shown = text.strip_suffix('!').unwrap_or(text);
    if let Some(at) = shown.rfind("![") {
        let after = &shown[at + 2..];
        if image_after(after).is_none() && !after.contains('\n') {
            shown = &shown[..at];
        }
    }
    images_to_links(shown)
}

/// `text` followed by the links of `images`, each on its own line: the answer as it reads when
/// its images cannot be sent as images.
pub fn with_links(text: &str, images: &[Image]) -> String {
    if images.is_empty() {
        return text.to_owned();
    }
    let links: Vec<String> = images.iter().map(Image::link).collect();
    if text.trim().is_empty() {
        return links.join("\n");
    }
    format!("{}\n\n{}", text.trim_end(), links.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(alt: &str, url: &str) -> Image {
        Image {
            alt: alt.into(),
            url: url.into(),
        }
    }

    #[test]
    fn images_are_taken_out_of_the_text() {
        let (text, images) = split_images("Here:\n\n![chart](https://x/c.png)\n\nSee above.");
        assert_eq!(text, "Here:\n\nSee above.");
        assert_eq!(images, [image("chart", "https://x/c.png")]);
        let (text, images) = split_images("a ![](http://x/1.jpg \"title\") b ![two](<https://x/2.png>)");
        assert_eq!(text, "a  b");
        assert_eq!(images, [image("", "http://x/1.jpg"), image("two", "https://x/2.png")]);
        assert_eq!(images[0].link(), "[image](http://x/1.jpg)");
    }

    #[test]
    fn code_links_and_other_sources_stay() {
        let text = "```\n![in](https://x/fence.png)\n```\n`![code](https://x/c.png)` [link](https://x/f.pdf) \
                    ![rel](img/a.png) ![data](data:image/png;base64,AA) ![broken";
        let (out, images) = split_images(text);
        assert!(images.is_empty());
        assert_eq!(out, text);
    }

    #[test]
    fn streaming_shows_links_and_hides_an_image_still_arriving() {
        assert_eq!(
            streaming_images("a ![c](https://x/c.png) b ![d](https://x/d"),
            "a [c](https://x/c.png) b "
        );
        assert_eq!(streaming_images("a ![c"), "a ");
        assert_eq!(streaming_images("plain"), "plain");
        // Each step extends the last one.
        let answer = "Look! ![c](https://x/c.png) done";
        let mut last = String::new();
        for end in 1..=answer.len() {
            let shown = streaming_images(&answer[..end]);
            assert!(shown.starts_with(&last), "{last:?} then {shown:?}");
            last = shown;
        }
        assert_eq!(last, images_to_links(answer));
    }

    #[test]
    fn images_past_the_cap_stay_links() {
        let (text, images) = images_to_send("![a](https://x/a.png) ![b](https://x/b.png) ![c](https://x/c.png)", 2);
        assert_eq!(images, [image("a", "https://x/a.png"), image("b", "https://x/b.png")]);
        assert_eq!(text, "[c](https://x/c.png)");
        assert_eq!(labels(&images), "a\nb");
    }

    #[test]
    fn links_follow_the_text() {
        let images = [image("a", "https://x/a.png")];
        assert_eq!(with_links("text", &images), "text\n\n[a](https://x/a.png)");
        assert_eq!(with_links("", &images), "[a](https://x/a.png)");
        assert_eq!(with_links("text", &[]), "text");
    }

    #[test]
    fn prefixes_end_on_character_boundaries() {
        assert_eq!(truncate_bytes("a字", 2), "a");
        assert_eq!(truncate_bytes("a字", 4), "a字");
    }

    #[test]
    fn fences_are_recognized() {
        assert_eq!(fence_open("```rust"), Some((3, "rust")));
        assert_eq!(fence_open("   ````"), Some((4, "")));
        assert_eq!(fence_open("    ```"), None);
        assert_eq!(fence_open("``` a`b"), None);
        assert!(fence_close("````", 3));
        assert!(!fence_close("``", 3));
    }
}
