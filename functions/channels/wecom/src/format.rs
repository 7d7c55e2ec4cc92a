//! Agent Markdown → what each WeCom surface renders, and splitting long answers.
//!
//! Smart-bot bubbles (stream, `markdown`) render common Markdown (§2.5), so [`for_bot`] only
//! normalizes. Self-built app `markdown` messages render a small dialect (§4: headings, bold,
//! links, inline code, `>` quotes, `<font>`), so [`for_app`] rewrites what it lacks (fenced
//! code, tables, images, rules) into readable text. [`imgate_channel_kit::text::split`] cuts an answer into parts that
//! fit a byte limit without breaking characters or code blocks.

use imgate_channel_kit::markdown::{fence_close, fence_open, images_to_links, is_table_row, normalize_newlines};

/// Byte limit of smart-bot stream content and `markdown` messages.
pub const MAX_CONTENT_BYTES: usize = 20480;

/// Byte limit of self-built app `text` / `markdown` content.
pub const APP_MAX_CONTENT_BYTES: usize = 2048;

/// Markdown for smart-bot bubbles: `\n` line endings, headings no deeper than `###` (the
/// documented levels), fenced code kept as is.
pub fn for_bot(text: &str) -> String {
    let text = normalize_newlines(text);
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let (body, newline) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        match fence {
            Some(ticks) if fence_close(body, ticks) => fence = None,
            Some(_) => {}
            None => {
                if let Some((ticks, _)) = fence_open(body) {
                    fence = Some(ticks);
                } else if let Some(rest) = deep_heading(body) {
                    out.push_str("### ");
                    out.push_str(rest);
                    out.push_str(newline);
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    out
}

/// Markdown for self-built app messages: headings, bold, links, inline code and quotes are kept;
/// fenced code becomes one inline-code span per line, tables become ` | `-separated rows with a
/// bold header, images become links and rules a line of dashes.
pub fn for_app(text: &str) -> String {
    let text = normalize_newlines(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut fence: Option<usize> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if let Some(ticks) = fence {
            if fence_close(line, ticks) {
                fence = None;
            } else if line.trim().is_empty() || line.contains('`') {
                out.push(line.to_owned());
            } else {
                out.push(format!("`{line}`"));
            }
            continue;
        }
        if let Some((ticks, _)) = fence_open(line) {
            fence = Some(ticks);
            continue;
        }
        if is_table_row(line) {
            let header = lines.get(i).is_some_and(|next| is_table_separator(next));
            let cells: Vec<&str> = table_cells(line).collect();
            if header {
                i += 1;
                let bold: Vec<String> = cells
                    .iter()
                    .filter(|c| !c.is_empty())
                    .map(|c| format!("**{c}**"))
                    .collect();
                out.push(bold.join(" | "));
            } else {
                out.push(cells.join(" | "));
            }
            continue;
        }
        if is_rule(line) {
            out.push("——————".to_owned());
            continue;
        }
        out.push(images_to_links(line));
    }
    out.join("\n")
}

fn deep_heading(line: &str) -> Option<&str> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    let rest = &line[hashes..];
    (hashes > 3 && rest.starts_with([' ', '\t'])).then(|| rest.trim_start())
}

fn is_table_separator(line: &str) -> bool {
    let t = line.trim();
    is_table_row(t) && t.contains('-') && t.bytes().all(|b| matches!(b, b'|' | b'-' | b':' | b' ' | b'\t'))
}

fn table_cells(line: &str) -> impl Iterator<Item = &str> {
    let t = line.trim();
    t[1..t.len() - 1].split('|').map(str::trim)
}

fn is_rule(line: &str) -> bool {
    let mut marks = line.chars().filter(|c| !c.is_whitespace());
    let first = marks.next();
    matches!(first, Some('-' | '*' | '_')) && marks.clone().count() >= 2 && marks.all(|c| Some(c) == first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_markdown_is_normalized() {
        assert_eq!(for_bot("# a\r\n#### b\r\n###### c\rd"), "# a\n### b\n### c\nd");
        assert_eq!(
            for_bot("```md\n#### inside\n```\n#### out"),
            "```md\n#### inside\n```\n### out"
        );
        assert_eq!(for_bot("####no-space"), "####no-space");
    }

    #[test]
    fn app_markdown_keeps_the_dialect() {
        let kept = "# Title\n**bold** [link](https://x.y) `code`\n> quote";
        assert_eq!(for_app(kept), kept);
    }

    #[test]
    fn app_markdown_degrades_the_rest() {
        let input = "Result:\n```rust\nfn main() {}\n\nlet `x` = 1;\n```\n| a | b |\n|---|:-:|\n| 1 | 2 |\n---\n![chart](https://img/x.png) and ![](https://img/y.png)\n![broken";
        let expected = "Result:\n`fn main() {}`\n\nlet `x` = 1;\n**a** | **b**\n1 | 2\n——————\n[chart](https://img/x.png) and [image](https://img/y.png)\n![broken";
        assert_eq!(for_app(input), expected);
    }
}
