//! Agent Markdown → Telegram's HTML parse mode (§5.2).
//!
//! HTML is the parse mode whose escaping is easiest to get right: every `<`, `>` and `&` of the
//! text becomes an entity, and only the supported tags are written. Fenced code becomes
//! `<pre><code class="language-…">`, inline code `<code>`, `**bold**` / `__bold__` `<b>`,
//! `*italic*` / `_italic_` `<i>`, `~~strike~~` `<s>`, `[text](https://…)` `<a href>`, headings
//! bold lines, `>` quote lines `<blockquote>`, `- ` list items `• `. A marker without its partner
//! on the same line stays as literal text, and `_` inside a word (`snake_case`) is not a marker,
//! so the output is always well formed: an agent's stray `<`, `&` or unbalanced Markdown never
//! makes Telegram refuse the message. (If Telegram refuses it anyway, the replier sends the same
//! text without a parse mode.)

/// `markdown` as Telegram HTML.
pub fn to_html(markdown: &str) -> String {
    let text = markdown.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut lines = text.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        if !first {
            out.push('\n');
        }
        first = false;
        if let Some(language) = fence_open(line) {
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if is_fence_close(inner) {
                    break;
                }
                code.push(inner);
            }
            out.push_str("<pre>");
            match language {
                Some(language) => out.push_str(&format!("<code class=\"language-{}\">", escape(language))),
                None => out.push_str("<code>"),
            }
            out.push_str(&escape(&code.join("\n")));
            out.push_str("</code></pre>");
            continue;
        }
        if line.starts_with('>') {
            let mut quoted = vec![line.trim_start_matches('>').trim_start()];
            while let Some(next) = lines.next_if(|next| next.starts_with('>')) {
                quoted.push(next.trim_start_matches('>').trim_start());
            }
            let inner: Vec<String> = quoted.iter().map(|q| inline(q)).collect();
            out.push_str(&format!("<blockquote>{}</blockquote>", inner.join("\n")));
            continue;
        }
        out.push_str(&block_line(line));
    }
    out
}

/// One line outside fences and quotes: headings, list items, inline markup.
fn block_line(line: &str) -> String {
    let hashes = line.len() - line.trim_start_matches('#').len();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
        return format!("<b>{}</b>", inline(line[hashes..].trim()));
    }
    let indent = line.len() - line.trim_start().len();
    let rest = &line[indent..];
    if let Some(item) = rest.strip_prefix("- ").or_else(|| rest.strip_prefix("* ")) {
        return format!("{}• {}", &line[..indent], inline(item));
    }
    if is_rule(line) {
        return "——————".to_owned();
    }
    inline(line)
}

/// `language` of a fence opener (` ``` ` or ` ```rust `), `None` for a bare one.
fn fence_open(line: &str) -> Option<Option<&str>> {
    let rest = line.trim_start().strip_prefix("```")?;
    let language = rest.trim();
    if language.contains('`') {
        return None;
    }
    Some((!language.is_empty()).then_some(language))
}

fn is_fence_close(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && t.bytes().all(|b| b == b'`')
}

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 3 && (t.bytes().all(|b| b == b'-') || t.bytes().all(|b| b == b'*'))
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline markup of one line: code spans first (their content is literal), then the rest.
fn inline(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else {
            break;
        };
        if close == 0 {
            // An empty span (` `` `) is literal.
            out.push_str(&styled(&rest[..open + 2]));
            rest = &after[1..];
            continue;
        }
        out.push_str(&styled(&rest[..open]));
        out.push_str(&format!("<code>{}</code>", escape(&after[..close])));
        rest = &after[close + 1..];
    }
    out.push_str(&styled(rest));
    out
}

/// The markers, longest first so `**` wins over `*`.
const MARKERS: [(&str, &str); 5] = [("**", "b"), ("__", "b"), ("~~", "s"), ("*", "i"), ("_", "i")];

/// Links and emphasis in a stretch without code spans.
fn styled(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for (at, c) in rest.char_indices() {
            if c == '[' {
                if let Some((html, used)) = link(&rest[at..]) {
                    out.push_str(&escape(&rest[..at]));
                    out.push_str(&html);
                    rest = &rest[at + used..];
                    continue 'scan;
                }
            }
            for (marker, tag) in MARKERS {
                if !rest[at..].starts_with(marker) || !opens(rest, at, marker) {
                    continue;
                }
                let inner_start = at + marker.len();
                if let Some(close) = closing(rest, inner_start, marker) {
                    out.push_str(&escape(&rest[..at]));
                    out.push_str(&format!("<{tag}>{}</{tag}>", styled(&rest[inner_start..close])));
                    rest = &rest[close + marker.len()..];
                    continue 'scan;
                }
            }
        }
        out.push_str(&escape(rest));
        break;
    }
    out
}

/// Whether `marker` at `at` can open emphasis: followed by a non-space, and for `_` not inside
/// a word.
fn opens(text: &str, at: usize, marker: &str) -> bool {
    let next = text[at + marker.len()..].chars().next();
    let previous = text[..at].chars().next_back();
    next.is_some_and(|c| !c.is_whitespace() && !marker.starts_with(c))
        && !(marker.starts_with('_') && previous.is_some_and(char::is_alphanumeric))
}

/// Where the partner of `marker` opened before `from` is: preceded by a non-space, and for `_`
/// not inside a word.
fn closing(text: &str, from: usize, marker: &str) -> Option<usize> {
    let mut search = from;
    while let Some(found) = text[search..].find(marker) {
        let at = search + found;
        let previous = text[..at].chars().next_back();
        let next = text[at + marker.len()..].chars().next();
        let word_inside = marker.starts_with('_') && next.is_some_and(char::is_alphanumeric);
        let doubled = marker.len() == 1 && next.is_some_and(|c| marker.starts_with(c));
        if at > from && previous.is_some_and(|c| !c.is_whitespace()) && !word_inside && !doubled {
            return Some(at);
        }
        search = at + marker.len().max(if doubled { 2 } else { 1 });
    }
    None
}

/// `[text](url)` at the start of `text` with an http(s) or tg URL: the link's HTML and the bytes
/// it used.
fn link(text: &str) -> Option<(String, usize)> {
    let close_label = text.find("](")?;
    let label = &text[1..close_label];
    if label.is_empty() || label.contains('[') || label.contains(']') {
        return None;
    }
    let url_start = close_label + 2;
    let url_len = text[url_start..].find(')')?;
    let url = &text[url_start..url_start + url_len];
    let usable = ["https://", "http://", "tg://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
        && !url.contains(char::is_whitespace);
    usable.then(|| {
        (
            format!("<a href=\"{}\">{}</a>", escape(url), styled(label)),
            url_start + url_len + 1,
        )
    })
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
