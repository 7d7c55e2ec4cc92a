//! A reader for the YAML subset the CloudFormation templates in infra/ are written in: block
//! mappings and sequences (including `- key: value` items), plain and quoted scalars, folded and
//! literal block scalars, flow sequences and mappings, and CloudFormation's short-form tags
//! (`!Ref X`, `!Sub "..."`, `!If` followed by a block), kept as [`Node::Tagged`].
//!
//! Anything outside that subset is an error naming the line, so a template written differently
//! fails the test instead of being misread.

use std::fmt;

/// One YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A scalar, unquoted; every scalar stays text (`true`, `5` included).
    Scalar(String),
    /// A mapping, in document order.
    Map(Vec<(String, Node)>),
    /// A sequence.
    List(Vec<Node>),
    /// A short-form tag (`!Ref`, `!Sub`, `!If`, …) and its operand.
    Tagged(String, Box<Node>),
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    line: usize,
    what: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for Error {}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value at a path of mapping keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The text of a scalar.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a sequence (none for anything else).
    pub fn items(&self) -> &[Node] {
        match self {
            Self::List(items) => items,
            _ => &[],
        }
    }

    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[(String, Node)] {
        match self {
            Self::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The operand of a short-form tag `tag` (e.g. `"!Ref"`).
    pub fn tagged(&self, tag: &str) -> Option<&Node> {
        match self {
            Self::Tagged(t, operand) if t == tag => Some(operand),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
struct Line {
    number: usize,
    indent: usize,
    text: String,
}

/// Parses a whole document.
pub fn parse(source: &str) -> Result<Node, Error> {
    let mut lines = Vec::new();
    let mut raw = source.lines().enumerate().peekable();
    while let Some((index, line)) = raw.next() {
        let number = index + 1;
        let text = strip_comment(line).trim_end();
        if text.trim().is_empty() {
            continue;
        }
        if line.contains('\t') {
            return Err(Error {
                line: number,
                what: "tab character".into(),
            });
        }
        let indent = text.len() - text.trim_start().len();
        let mut text = text.trim_start().to_owned();
        // A block scalar (`key: >-`, `key: |`) takes every following line indented deeper.
        if let Some(style) = block_scalar_style(&text) {
            let mut parts: Vec<String> = Vec::new();
            while let Some((_, next)) = raw.peek() {
                let deeper = next.trim().is_empty() || next.len() - next.trim_start().len() > indent;
                if !deeper {
                    break;
                }
                parts.push(next.trim().to_owned());
                raw.next();
            }
            let joined = parts.join(if style == '|' { "\n" } else { " " });
            let key_end = text.len() - text.trim_end_matches(['>', '|', '-', '+']).len();
            text.truncate(text.len() - key_end);
            text = format!("{} {}", text.trim_end(), quote(joined.trim()));
        }
        lines.push(Line { number, indent, text });
    }
    let mut parser = Parser { lines, at: 0 };
    let node = parser.block(0)?;
    match parser.lines.get(parser.at) {
        Some(line) => Err(Error {
            line: line.number,
            what: "unexpected indentation".into(),
        }),
        None => Ok(node),
    }
}

struct Parser {
    lines: Vec<Line>,
    at: usize,
}

impl Parser {
    /// The block that starts at the current line, indented exactly `indent`.
    fn block(&mut self, indent: usize) -> Result<Node, Error> {
        let Some(first) = self.lines.get(self.at) else {
            return Ok(Node::Scalar(String::new()));
        };
        if first.indent != indent {
            return Err(Error {
                line: first.number,
                what: format!("expected indentation {indent}"),
            });
        }
        if is_item(&first.text) {
            self.list(indent)
        } else {
            self.map(indent)
        }
    }

    fn map(&mut self, indent: usize) -> Result<Node, Error> {
        let mut entries = Vec::new();
        while let Some(line) = self.lines.get(self.at).cloned() {
            if line.indent != indent || is_item(&line.text) {
                break;
            }
            let (key, rest) = split_key(&line.text).ok_or_else(|| Error {
                line: line.number,
                what: format!("expected `key: value`, found `{}`", line.text),
            })?;
            self.at += 1;
            let value = self.value_after(&line, indent, rest)?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }

    fn list(&mut self, indent: usize) -> Result<Node, Error> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at).cloned() {
            if line.indent != indent || !is_item(&line.text) {
                break;
            }
            let content = line.text[1..].trim_start();
            if split_key(content).is_some() {
                // `- key: value` opens a mapping whose keys line up with `key`.
                let column = indent + (line.text.len() - content.len());
                self.lines[self.at] = Line {
                    number: line.number,
                    indent: column,
                    text: content.to_owned(),
                };
                items.push(self.map(column)?);
            } else {
                self.at += 1;
                items.push(self.value_after(&line, indent, content)?);
            }
        }
        Ok(Node::List(items))
    }

    /// The value of a key or item whose inline part is `rest`: inline, or the block below it.
    fn value_after(&mut self, line: &Line, indent: usize, rest: &str) -> Result<Node, Error> {
        let tag_only = rest.starts_with('!') && !rest.contains(' ');
        if !rest.is_empty() && !tag_only {
            return inline(rest).map_err(|what| Error {
                line: line.number,
                what,
            });
        }
        let child = match self.lines.get(self.at) {
            Some(next) if next.indent > indent => self.block(next.indent)?,
            // A sequence may sit at its key's own indentation.
            Some(next) if next.indent == indent && is_item(&next.text) && !is_item(&line.text) => self.block(indent)?,
            _ => Node::Scalar(String::new()),
        };
        Ok(if tag_only {
            Node::Tagged(rest.to_owned(), Box::new(child))
        } else {
            child
        })
    }
}

fn is_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Splits `key: rest` (or `key:`) at the first colon outside quotes that ends the key.
fn split_key(text: &str) -> Option<(String, &str)> {
    if text.starts_with(['[', '{', '!']) {
        return None;
    }
    let mut quote_char = None;
    for (i, c) in text.char_indices() {
        match (quote_char, c) {
            (Some(q), c) if c == q => quote_char = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if i == 0 => quote_char = Some(c),
            (None, ':') => {
                let after = &text[i + 1..];
                if after.is_empty() || after.starts_with(' ') {
                    return Some((unquote(text[..i].trim()), after.trim()));
                }
            }
            _ => {}
        }
    }
    None
}

/// An inline value: flow sequence or mapping, tagged value, quoted or plain scalar.
fn inline(text: &str) -> Result<Node, String> {
    let text = text.trim();
    if let Some(body) = text.strip_prefix('[') {
        let body = body.strip_suffix(']').ok_or("unclosed `[`")?;
        return split_flow(body)?
            .iter()
            .map(|part| inline(part))
            .collect::<Result<_, _>>()
            .map(Node::List);
    }
    if let Some(body) = text.strip_prefix('{') {
        let body = body.strip_suffix('}').ok_or("unclosed `{`")?;
        let mut entries = Vec::new();
        for part in split_flow(body)? {
            let (key, value) = split_key(&part).ok_or_else(|| format!("expected `key: value` in `{part}`"))?;
            entries.push((key, inline(value)?));
        }
        return Ok(Node::Map(entries));
    }
    if text.starts_with('!') {
        let (tag, operand) = text.split_once(' ').ok_or("a tag without an operand")?;
        return Ok(Node::Tagged(tag.to_owned(), Box::new(inline(operand)?)));
    }
    Ok(Node::Scalar(unquote(text)))
}

/// Splits the inside of a flow collection at top-level commas.
fn split_flow(body: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let (mut depth, mut quote_char, mut current) = (0i32, None, String::new());
    for c in body.chars() {
        match (quote_char, c) {
            (Some(q), c) if c == q => quote_char = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote_char = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if depth != 0 || quote_char.is_some() {
        return Err(format!("unbalanced flow collection `{body}`"));
    }
    if !current.trim().is_empty() {
        parts.push(current.trim().to_owned());
    }
    Ok(parts)
}

/// A scalar without its quotes (`"…"` with `\"` and `\\` escapes, or `'…'` with `''`).
fn unquote(text: &str) -> String {
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        text.to_owned()
    }
}

/// `text` as a double-quoted scalar.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `'>'` or `'|'` when the line ends in a block scalar indicator (`>`, `>-`, `|`, `|-`, …).
fn block_scalar_style(text: &str) -> Option<char> {
    let (_, rest) = split_key(text).or_else(|| text.strip_prefix("- ").map(|r| (String::new(), r)))?;
    let style = rest.chars().next().filter(|c| matches!(c, '>' | '|'))?;
    rest[1..].chars().all(|c| matches!(c, '-' | '+')).then_some(style)
}

/// The line without a trailing ` # comment` (a `#` outside quotes, at the start or after a
/// space).
fn strip_comment(line: &str) -> &str {
    let mut quote_char = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote_char, c) {
            (Some(q), c) if c == q => quote_char = None,
            (Some(_), _) => {}
            (None, '"' | '\'') if previous == ' ' || previous == '[' || previous == '{' => quote_char = Some(c),
            (None, '#') if previous == ' ' => return &line[..i],
            _ => {}
        }
        previous = c;
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subset() {
        let doc = parse(
            "# comment\nA:\n  B: !Ref C   # trailing\n  D: [x, \"y\"]\n  E:\n    - F: 1\n      G: '2'\n    - !GetAtt H.Arn\n  I: >-\n    one\n    two\n  J: !If\n    - K\n    - {\"Fn::X\": !Sub \"${L}-m\"}\n  N:\n  - o\n",
        )
        .expect("parse");
        let a = doc.get("A").expect("A");
        assert_eq!(
            a.at(&["B"]).and_then(|b| b.tagged("!Ref")).and_then(Node::text),
            Some("C")
        );
        assert_eq!(
            a.get("D"),
            Some(&Node::List(vec![Node::Scalar("x".into()), Node::Scalar("y".into())]))
        );
        let e = a.get("E").expect("E").items();
        assert_eq!(e[0].get("G").and_then(Node::text), Some("2"));
        assert_eq!(e[1].tagged("!GetAtt").and_then(Node::text), Some("H.Arn"));
        assert_eq!(a.get("I").and_then(Node::text), Some("one two"));
        let j = a.get("J").and_then(|j| j.tagged("!If")).expect("J").items();
        let sub = j[1].get("Fn::X").and_then(|x| x.tagged("!Sub")).and_then(Node::text);
        assert_eq!(sub, Some("${L}-m"));
        assert_eq!(a.get("N").map(Node::items).map(<[Node]>::len), Some(1));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(parse("A:\n  B: 1\n C: 2\n").is_err());
        assert!(parse("A: [1, 2\n").is_err());
        assert!(parse("just text\n").is_err());
    }
}
