//! Property-style tests of [`split`] over generated Markdown, plus fixed cases.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Checks the invariants and returns the rendered parts.
fn check(text: &str, max: usize) -> Vec<String> {
    let plan = plan(text, max, Measure::Bytes);
    let rendered = split(text, max);
    assert_eq!(plan.len(), rendered.len());
    let mut joined = String::new();
    for (part, out) in plan.iter().zip(&rendered) {
        assert!(
            out.len() <= max.max(MIN_MAX_BYTES),
            "part of {} bytes > {max}: {out:?}",
            out.len()
        );
        let reopen = part.reopen.as_deref().unwrap_or_default();
        let close = part.close.as_deref().unwrap_or_default();
        let body = out
            .strip_prefix(reopen)
            .and_then(|b| b.strip_suffix(close))
            .expect("added fence lines frame the part");
        if let Some(reopen) = &part.reopen {
            assert!(reopen.starts_with("```") && reopen.ends_with('\n'));
        }
        if let Some(close) = &part.close {
            assert!(close.trim_start_matches('\n').bytes().all(|b| b == b'`'));
        }
        joined.push_str(body);
    }
    assert_eq!(joined, text);
    assert!(!rendered.is_empty());
    rendered
}

/// True when every fence opened in `part` is closed again.
fn balanced(part: &str) -> bool {
    let mut open: Option<usize> = None;
    for line in part.split('\n') {
        match open {
            Some(t) if fence_close(line, t) => open = None,
            Some(_) => {}
            None => open = fence_open(line).map(|(t, _)| t),
        }
    }
    open.is_none()
}

fn random_markdown(rng: &mut StdRng) -> String {
    const WORDS: &[&str] = &[
        "hello",
        "world",
        "数据",
        "企业微信",
        "🙂",
        "naïve",
        "x",
        "long_identifier_name",
        "# Heading",
        "- item",
        "> quote",
    ];
    let mut out = String::new();
    for _ in 0..rng.random_range(1..60) {
        match rng.random_range(0..10) {
            0 => {
                let info = ["", "rust", "python", "json"][rng.random_range(0..4)];
                out.push_str(&format!("```{info}\n"));
                for _ in 0..rng.random_range(0..12) {
                    let n = rng.random_range(0..80);
                    let line: String = (0..n)
                        .map(|_| ['a', '字', ' ', '{', '}', ';'][rng.random_range(0..6)])
                        .collect();
                    out.push_str(&line);
                    out.push('\n');
                }
                out.push_str("```\n");
            }
            1 => out.push('\n'),
            2 => out.push_str(&"长".repeat(rng.random_range(1..200))),
            _ => {
                for _ in 0..rng.random_range(1..20) {
                    out.push_str(WORDS[rng.random_range(0..WORDS.len())]);
                    out.push(if rng.random_bool(0.2) { '\n' } else { ' ' });
                }
            }
        }
    }
    out
}

#[test]
fn generated_markdown_keeps_every_invariant() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    for round in 0..400 {
        let text = random_markdown(&mut rng);
        let max = [4, 7, 16, 33, 64, 200, 1000, 20480][round % 8];
        let parts = check(&text, max);
        if max >= 64 && balanced(&text) {
            for part in &parts {
                assert!(balanced(part), "unbalanced part at max {max}: {part:?}");
            }
        }
    }
}

#[test]
fn short_text_is_one_part() {
    assert_eq!(split("", 10), vec![String::new()]);
    assert_eq!(split("hello", 10), vec!["hello".to_owned()]);
    assert_eq!(split("hello", 5), vec!["hello".to_owned()]);
}

#[test]
fn prefers_paragraphs_then_lines() {
    let text = "first paragraph here\n\nsecond one\nthird line";
    assert_eq!(
        check(text, 36),
        vec!["first paragraph here\n\n", "second one\nthird line"]
    );
    let text = "line one is here\nline two\nline three";
    assert_eq!(check(text, 30), vec!["line one is here\nline two\n", "line three"]);
}

#[test]
fn cjk_and_long_single_lines_cut_on_char_boundaries() {
    let text = "企业微信".repeat(2000); // 24,000 bytes, no whitespace
    let parts = check(&text, MAX_CONTENT_BYTES_FOR_TEST);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].len(), 20478); // 6826 chars × 3 bytes
    let emoji = "🙂".repeat(10);
    let parts = check(&emoji, 10);
    assert!(parts.iter().all(|p| p.len() == 8 || p.len() == 4));
    let words = "word ".repeat(50);
    for part in check(&words, 23) {
        assert!(part.ends_with(' ') || part == words.trim_end().rsplit(' ').next().unwrap_or_default());
    }
}

/// A platform-sized limit (WeCom smart-bot content).
const MAX_CONTENT_BYTES_FOR_TEST: usize = 20_480;

#[test]
fn a_cut_inside_a_fence_closes_and_reopens_it() {
    let code: String = (0..30).map(|i| format!("let v{i} = {i};\n")).collect();
    let text = format!("Intro\n\n```rust\n{code}```\nOutro\n");
    let parts = check(&text, 120);
    assert!(parts.len() > 2);
    assert!(parts[0].starts_with("Intro"));
    assert!(parts[0].ends_with("\n```"), "{:?}", parts[0]);
    assert!(parts[1].starts_with("```rust\n"), "{:?}", parts[1]);
    for part in &parts {
        assert!(balanced(part), "{part:?}");
    }
    assert!(parts.last().is_some_and(|p| p.ends_with("Outro\n")));
}

#[test]
fn long_fence_markers_and_unclosed_fences() {
    let text = format!("````md\n{}````\n", "```inner```\n".repeat(20));
    for part in check(&text, 64) {
        assert!(balanced(&part), "{part:?}");
    }
    let unclosed = format!("```\n{}", "x\n".repeat(100));
    let parts = check(&unclosed, 50);
    assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with("```")));
}

#[test]
fn tiny_limits_still_progress() {
    for max in 0..8 {
        check("```\n字字字\n```\n", max);
        check("abc 字 🙂", max);
    }
}

#[test]
fn character_heads_prefer_breaks_in_the_second_half() {
    assert_eq!(head_chars("aaaaaaa\n\nbbbb cccc", 14), "aaaaaaa\n\n");
    assert_eq!(head_chars("aaaa\n\nbbbb cccc", 12), "aaaa\n\nbbbb ");
    assert_eq!(head_chars("a\nbbbbbbbbbbbb", 10), "a\nbbbbbbbb");
    assert_eq!(head_chars("short", 10), "short");
    assert_eq!(head_chars("字字字字字字", 4), "字字字字", "characters, not bytes");
    assert_eq!(head_chars("ab", 0), "a", "always at least one character");
}

#[test]
fn utf16_limits_count_what_people_see() {
    // 1,500 CJK characters are 4,500 bytes but 1,500 units: one Discord message of 2,000.
    let cjk = "字".repeat(1500);
    assert_eq!(split_utf16(&cjk, 2000), std::slice::from_ref(&cjk));
    assert_eq!(split(&cjk, 2000).len(), 3);
    // An emoji is two units.
    let emoji = "😀".repeat(1500);
    let parts = split_utf16(&emoji, 2000);
    assert!(
        parts.iter().all(|p| p.encode_utf16().count() <= 2000),
        "{:?}",
        parts.iter().map(String::len).collect::<Vec<_>>()
    );
    assert_eq!(parts.concat(), emoji);
    // Fences are repaired as for bytes.
    let code = format!("intro\n```rust\n{}```\nafter", "let x = 1; // ü\n".repeat(300));
    let parts = split_utf16(&code, 2000);
    assert!(parts.len() > 1);
    for part in &parts {
        assert!(part.encode_utf16().count() <= 2000);
        assert_eq!(part.matches("```").count() % 2, 0, "balanced fences in {part:?}");
    }
}
