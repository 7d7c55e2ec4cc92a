use super::*;

#[test]
fn text_is_escaped() {
    assert_eq!(
        to_html("a < b && c > d \"q\""),
        "a &lt; b &amp;&amp; c &gt; d &quot;q&quot;"
    );
}

#[test]
fn emphasis_code_and_links() {
    assert_eq!(
        to_html("**bold** and *it* and _it2_ ~~gone~~"),
        "<b>bold</b> and <i>it</i> and <i>it2</i> <s>gone</s>"
    );
    assert_eq!(
        to_html("use `a<b && **x**` here"),
        "use <code>a&lt;b &amp;&amp; **x**</code> here"
    );
    assert_eq!(
        to_html("see [the docs](https://x.y/?a=1&b=2) now"),
        "see <a href=\"https://x.y/?a=1&amp;b=2\">the docs</a> now"
    );
    assert_eq!(to_html("**bold _and italic_**"), "<b>bold <i>and italic</i></b>");
}

#[test]
fn unpaired_markers_and_words_stay_literal() {
    assert_eq!(to_html("2 * 3 = 6 and a ** b"), "2 * 3 = 6 and a ** b");
    assert_eq!(
        to_html("snake_case_name and __init__"),
        "snake_case_name and <b>init</b>"
    );
    assert_eq!(to_html("an *unclosed emphasis"), "an *unclosed emphasis");
    assert_eq!(to_html("a `dangling tick"), "a `dangling tick");
    assert_eq!(
        to_html("[not a link](javascript:alert(1))"),
        "[not a link](javascript:alert(1))"
    );
}

#[test]
fn blocks() {
    assert_eq!(
        to_html("# Title\n```rust\nfn main() { a < b }\n```\n> quoted *bit*\n> more\n- item\n---"),
        "<b>Title</b>\n<pre><code class=\"language-rust\">fn main() { a &lt; b }</code></pre>\n<blockquote>quoted <i>bit</i>\nmore</blockquote>\n• item\n——————"
    );
    assert_eq!(
        to_html("```\nopen fence <x>"),
        "<pre><code>open fence &lt;x&gt;</code></pre>"
    );
}

/// Checks that `html` is text and the writer's tags, properly nested.
fn well_formed(html: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find(['<', '>', '&']) {
        let tail = &rest[open..];
        if tail.starts_with('>') {
            return Err(format!("bare > in {html:?}"));
        }
        if tail.starts_with('&') {
            let entity = ["&lt;", "&gt;", "&amp;", "&quot;"]
                .iter()
                .find(|e| tail.starts_with(**e));
            let Some(entity) = entity else {
                return Err(format!("bare & in {html:?}"));
            };
            rest = &tail[entity.len()..];
            continue;
        }
        let end = tail.find('>').ok_or_else(|| format!("unterminated tag in {html:?}"))?;
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name) {
                return Err(format!("misnested </{name}> in {html:?}"));
            }
        } else {
            let name = tag.split(' ').next().unwrap_or_default();
            if !["b", "i", "s", "a", "code", "pre", "blockquote"].contains(&name) {
                return Err(format!("unexpected tag <{tag}> in {html:?}"));
            }
            stack.push(name.to_owned());
        }
        rest = &tail[end + 1..];
    }
    stack
        .is_empty()
        .then_some(())
        .ok_or_else(|| format!("unclosed {stack:?} in {html:?}"))
}

#[test]
fn the_checker_refuses_broken_html() {
    for broken in ["<b>x", "x</b>", "<b><i>x</b></i>", "a & b", "a > b", "<script>", "<b"] {
        assert!(well_formed(broken).is_err(), "{broken}");
    }
    assert_eq!(well_formed("<b>a &amp; <i>b</i></b>"), Ok(()));
}

#[test]
fn any_input_gives_well_formed_html() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let pieces = [
        "*",
        "**",
        "_",
        "__",
        "~~",
        "`",
        "```",
        "```py",
        "\n",
        " ",
        "a",
        "word",
        "<",
        ">",
        "&",
        "\"",
        "[",
        "]",
        "(",
        ")",
        "](",
        "https://x.y",
        "# ",
        "> ",
        "- ",
        "é",
        "😀",
        "snake_case",
    ];
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..5_000 {
        let len = rng.random_range(0..24);
        let input: String = (0..len).map(|_| pieces[rng.random_range(0..pieces.len())]).collect();
        if let Err(problem) = well_formed(&to_html(&input)) {
            panic!("input {input:?}: {problem}");
        }
    }
}
