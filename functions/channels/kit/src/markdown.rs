//! Markdown pieces every platform's formatting uses: fences, tables, images, newlines and
//! byte-bounded prefixes.

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
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("![") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("](") {
            Some(j) if after[j + 2..].contains(')') => {
                let alt = &after[..j];
                out.push('[');
                out.push_str(if alt.trim().is_empty() { "image" } else { alt });
                rest = &after[j..];
            }
            _ => {
                out.push_str("![");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
