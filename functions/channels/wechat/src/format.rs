//! Agent Markdown → what one WeChat answer sends (§4.2, §7, §8).
//!
//! - Markdown images are removed (the WeChat client cannot show them; the plugin strips them
//!   too, §10.17); the rest of the Markdown passes as it is, since WeChat renders part of it.
//! - An answer is sent as whole blocks, never edited (there is no edit): cut at paragraph,
//!   line or word breaks ([`imgate_channel_kit::text::split_utf16`]) into blocks of at most
//!   [`BLOCK_CHARS`] characters, the safe end of the notes' 2,000–4,000 range (§7).
//! - The blocks of one answer never take more than the sends left. When 2,000-character blocks
//!   would, the answer is cut again into blocks of at most [`LONG_BLOCK_CHARS`] (the limit of
//!   Tencent's own client, `textChunkLimit`, §7). An answer that does not fit even then ends its
//!   last block with [`CUT_NOTE`], so no message exceeds what WeChat is known to accept and the
//!   user is told the answer was cut (§8: "truncate with a note").

use imgate_channel_kit::text::split_utf16;

/// The most characters of one block (§7: `≤ 2000` is what every source accepts).
pub const BLOCK_CHARS: usize = 2000;

/// The most characters of one block when an answer needs more blocks of [`BLOCK_CHARS`] than
/// it may send: the limit Tencent's own client splits at (§7, `textChunkLimit` 4,000).
pub const LONG_BLOCK_CHARS: usize = 4000;

/// Ends the last block of an answer longer than one WeChat reply may carry.
pub const CUT_NOTE: &str =
    "\n\n(…回答过长，后面的部分没有发送 / the rest of this answer is longer than one WeChat reply may be)";

/// `text` without Markdown images (`![alt](url)`), keeping everything else.
pub use imgate_channel_kit::markdown::remove_images as strip_images;

/// The blocks `text` is sent in: at most `max_blocks` (at least one), each within
/// [`BLOCK_CHARS`] when that many suffice, else within [`LONG_BLOCK_CHARS`]; past that the last
/// block ends with [`CUT_NOTE`].
pub fn blocks(text: &str, max_blocks: usize) -> Vec<String> {
    let clean = strip_images(text);
    let max_blocks = max_blocks.max(1);
    let short = pieces(clean.trim(), BLOCK_CHARS);
    if short.len() <= max_blocks {
        return short;
    }
    let mut long = pieces(clean.trim(), LONG_BLOCK_CHARS);
    if long.len() > max_blocks {
        long.truncate(max_blocks);
        if let Some(last) = long.last_mut() {
            *last = with_cut_note(last);
        }
    }
    long
}

/// Whether `blocks` is an answer cut to fit (its last block ends with [`CUT_NOTE`]).
pub fn is_cut(blocks: &[String]) -> bool {
    blocks.last().is_some_and(|last| last.ends_with(CUT_NOTE))
}

/// One block carrying `rest`, for the single retry after a refused send: all of it when it
/// fits [`LONG_BLOCK_CHARS`], else its head and [`CUT_NOTE`].
pub fn merged(rest: &[String]) -> String {
    let all = rest.concat();
    if all.encode_utf16().count() <= LONG_BLOCK_CHARS {
        all
    } else {
        with_cut_note(&all)
    }
}

/// `text` cut into non-blank parts of at most `limit` characters.
fn pieces(text: &str, limit: usize) -> Vec<String> {
    let mut parts = split_utf16(text, limit);
    parts.retain(|p| !p.trim().is_empty());
    parts
}

/// The head of `text` that leaves room for [`CUT_NOTE`] within [`LONG_BLOCK_CHARS`], and the
/// note.
fn with_cut_note(text: &str) -> String {
    let room = LONG_BLOCK_CHARS - CUT_NOTE.encode_utf16().count();
    let head = split_utf16(text, room).into_iter().next().unwrap_or_default();
    format!("{}{CUT_NOTE}", head.trim_end())
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
    fn answers_past_the_budget_take_longer_blocks_then_a_noted_cut() {
        let paragraph = "word ".repeat(380);
        // Six paragraphs of 1,899 characters: six short blocks, or three long ones.
        let text = [paragraph.trim(); 6].join("\n\n");
        let cut = blocks(&text, 3);
        assert_eq!(cut.len(), 3);
        assert!(cut.iter().all(|b| b.encode_utf16().count() <= LONG_BLOCK_CHARS));
        assert_eq!(cut.concat(), text, "longer blocks, nothing lost");
        assert!(!is_cut(&cut));

        let cut = blocks(&text, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut.iter().all(|b| b.encode_utf16().count() <= LONG_BLOCK_CHARS));
        assert!(is_cut(&cut), "the note says the answer was cut");
        assert!(text.starts_with(cut[0].as_str()));
        assert_eq!(blocks("short", 0), ["short"]);
        assert!(blocks("  ", 3).is_empty());
    }

    #[test]
    fn a_merged_retry_stays_within_one_long_block() {
        let small = vec!["a\n\n".to_owned(), "b".to_owned()];
        assert_eq!(merged(&small), "a\n\nb");
        let big = vec!["x".repeat(3000), "y".repeat(3000)];
        let one = merged(&big);
        assert!(one.encode_utf16().count() <= LONG_BLOCK_CHARS);
        assert!(one.ends_with(CUT_NOTE));
    }
}
