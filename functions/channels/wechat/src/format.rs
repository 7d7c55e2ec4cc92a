//! Agent Markdown → what one WeChat answer sends (§4.2, §7, §8).
//!
//! - Markdown images are removed (the WeChat client cannot show them; the plugin strips them
//!   too, §10.17); the rest of the Markdown passes as it is, since WeChat renders part of it.
//! - An answer is sent as whole blocks, never edited (there is no edit): cut at paragraph,
//!   line or word breaks ([`imgate_channel_kit::text::split_utf16`]) into blocks of at most
//!   [`BLOCK_CHARS`] characters, the safe end of the notes' 2,000–4,000 range (§7).
//! - The blocks of one answer never take more than the sends left: when they would, the rest
//!   is merged into the last block allowed, which may then be longer than [`BLOCK_CHARS`]
//!   (better one long message than a lost end).

use imgate_channel_kit::text::split_utf16;

/// The most characters of one block (§7: `≤ 2000` is what every source accepts).
pub const BLOCK_CHARS: usize = 2000;

/// `text` without Markdown images (`![alt](url)`), keeping everything else.
pub fn strip_images(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("![") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let image_end = after
            .find("](")
            .filter(|close| !after[..*close].contains('\n'))
            .and_then(|close| {
                let url = &after[close + 2..];
                url.find(')')
                    .filter(|end| !url[..*end].contains(char::is_whitespace) || url[..*end].contains('"'))
                    .map(|end| close + 2 + end + 1)
            });
        match image_end {
            Some(end) => rest = &after[end..],
            None => {
                out.push_str("![");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The blocks `text` is sent in: at most `max_blocks` (at least one), each within
/// [`BLOCK_CHARS`] except a last block that takes what would not fit in the budget.
pub fn blocks(text: &str, max_blocks: usize) -> Vec<String> {
    let clean = strip_images(text);
    let mut parts = split_utf16(clean.trim(), BLOCK_CHARS);
    parts.retain(|p| !p.trim().is_empty());
    let max_blocks = max_blocks.max(1);
    if parts.len() > max_blocks {
        let rest = parts.split_off(max_blocks - 1).concat();
        parts.push(rest);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_removed_and_links_kept() {
        assert_eq!(strip_images("a ![cat](https://x/c.png) b"), "a  b");
        assert_eq!(strip_images("![](u)"), "");
        assert_eq!(strip_images("see [doc](https://d) ok"), "see [doc](https://d) ok");
        assert_eq!(strip_images("not ![an image"), "not ![an image");
        assert_eq!(strip_images("x ![a](u \"t\") y"), "x  y");
    }

    #[test]
    fn long_answers_come_in_whole_blocks_within_the_limit() {
        let paragraph = "字".repeat(900);
        let text = [paragraph.as_str(); 5].join("\n\n");
        let cut = blocks(&text, 9);
        assert!(cut.len() >= 3);
        assert!(cut.iter().all(|b| b.chars().count() <= BLOCK_CHARS));
        assert_eq!(cut.concat().replace("\n\n", ""), "字".repeat(4500), "nothing lost");
    }

    #[test]
    fn blocks_past_the_budget_merge_into_the_last() {
        let paragraph = "word ".repeat(380);
        let text = [paragraph.trim(); 6].join("\n\n");
        let cut = blocks(&text, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[0].chars().count() <= BLOCK_CHARS);
        assert_eq!(cut.concat(), text);
        assert_eq!(blocks("short", 0), ["short"]);
        assert!(blocks("  ", 3).is_empty());
    }
}
