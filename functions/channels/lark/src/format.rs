//! Agent Markdown → the Markdown of Lark card `markdown` components (card JSON 2.0).
//!
//! Lark renders CommonMark-style emphasis, links, lists, quotes, code and (a few) tables, and
//! also gives meaning to tags such as `<at id=all>`, `<font>` and `<text_tag>`. So, outside code
//! spans and fenced blocks:
//! - tags are neutralised (`<` of a tag-like `<name` / `</name` becomes `&lt;`), so an answer
//!   cannot @-mention everyone or restyle the card;
//! - images (`![alt](url)`) become links: a card image needs an uploaded `img_key`, and an
//!   unknown image source fails the whole card;
//! - tables after the [`MAX_TABLES`]th are shown as code blocks (more fail the card with
//!   `230099` / `11310`, §4.6).

use imgate_channel_kit::markdown::{images_to_links, is_table_row};

/// Tables one card renders as tables.
pub const MAX_TABLES: usize = 3;

/// Converts agent Markdown for a card's markdown component.
pub fn to_card_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_fence = false;
    let mut tables = 0;
    let mut in_table = false;
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            out.push_str(line);
        } else if in_fence {
            out.push_str(line);
        } else if is_table_row(line) {
            if !in_table {
                in_table = true;
                tables += 1;
                if tables > MAX_TABLES {
                    out.push_str("```\n");
                }
            }
            if tables > MAX_TABLES {
                out.push_str(line);
            } else {
                out.push_str(&inline(line));
            }
            if !lines.peek().is_some_and(|next| is_table_row(next)) {
                in_table = false;
                if tables > MAX_TABLES {
                    out.push_str("\n```");
                }
            }
        } else {
            out.push_str(&inline(line));
        }
        if lines.peek().is_some() {
            out.push('\n');
        }
    }
    out
}

/// One line outside fences: code spans kept, tags neutralised, images made links.
fn inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for (i, part) in line.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts are inside a code span.
        if i % 2 == 1 {
            out.push_str(part);
        } else {
            out.push_str(&images_to_links(&neutralise_tags(part)));
        }
    }
    out
}

fn neutralise_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '<' && chars.peek().is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') {
            out.push_str("&lt;");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_markdown_is_kept() {
        let text = "# Title\n\n**bold** _it_ ~~s~~ [link](https://x.y)\n- a\n- b\n> quote";
        assert_eq!(to_card_markdown(text), text);
    }

    #[test]
    fn tags_are_neutralised_outside_code() {
        assert_eq!(
            to_card_markdown("hi <at id=all></at> and `<at id=all>` 1 < 2"),
            "hi &lt;at id=all>&lt;/at> and `<at id=all>` 1 < 2"
        );
        assert_eq!(
            to_card_markdown("```\n<font color=red>x</font>\n```"),
            "```\n<font color=red>x</font>\n```"
        );
    }

    #[test]
    fn images_become_links() {
        assert_eq!(
            to_card_markdown("see ![chart](https://x/c.png) and ![](https://x/d.png)"),
            "see [chart](https://x/c.png) and [image](https://x/d.png)"
        );
        assert_eq!(to_card_markdown("a ![broken"), "a ![broken");
    }

    #[test]
    fn tables_after_the_third_become_code() {
        let table = "| a | b |\n|---|---|\n| 1 | 2 |";
        let text = [table; 4].join("\n\n");
        let out = to_card_markdown(&text);
        assert_eq!(out.matches("```").count(), 2, "{out}");
        assert!(out.ends_with(&format!("```\n{table}\n```")), "{out}");
        assert!(out.starts_with(&format!("{table}\n\n{table}")), "{out}");
    }
}
