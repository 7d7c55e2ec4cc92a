//! Splitting long Markdown into parts that each fit a limit, counted in bytes ([`split`]) or in
//! UTF-16 code units ([`split_utf16`], how Discord and Telegram count characters; never more than
//! the characters a person sees).
//!
//! Cuts prefer a paragraph break, then a line break, then whitespace, each only if it keeps at
//! least half of the available room; otherwise the cut falls at the last character boundary
//! that fits. A cut inside a ``` fence closes the fence at the end of that part and reopens it,
//! with the same info string, at the start of the next, so every part renders as code. Apart
//! from those added fence lines, the parts concatenate to the input exactly.

use crate::markdown::{fence_close, fence_open};

/// Smallest limit honoured: every part must hold at least one (up to 4-byte) character.
const MIN_MAX_BYTES: usize = 4;

/// Splits `text` into parts of at most `max_bytes` bytes (see the module docs). Empty text gives
/// one empty part. Limits below 4 bytes are raised to 4; limits too small to also carry the
/// fence lines split code blocks without repairing them.
pub fn split(text: &str, max_bytes: usize) -> Vec<String> {
    plan(text, max_bytes, Measure::Bytes)
        .iter()
        .map(|part| part.render(text))
        .collect()
}

/// Splits `text` into parts of at most `max_units` UTF-16 code units, as [`split`] does bytes.
pub fn split_utf16(text: &str, max_units: usize) -> Vec<String> {
    plan(text, max_units, Measure::Utf16)
        .iter()
        .map(|part| part.render(text))
        .collect()
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// UTF-8 bytes.
    Bytes,
    /// UTF-16 code units.
    Utf16,
}

impl Measure {
    fn len(self, text: &str) -> usize {
        match self {
            Self::Bytes => text.len(),
            Self::Utf16 => text.encode_utf16().count(),
        }
    }

    /// The byte index in `text` that `budget` units after `pos` reach (a character boundary for
    /// UTF-16; possibly inside a character for bytes, which the cut then moves back from).
    fn advance(self, text: &str, pos: usize, budget: usize) -> usize {
        match self {
            Self::Bytes => pos + budget,
            Self::Utf16 => {
                let mut units = 0;
                for (at, c) in text[pos..].char_indices() {
                    units += c.len_utf16();
                    if units > budget {
                        return pos + at;
                    }
                }
                text.len()
            }
        }
    }
}

/// The first part of `text` when parts are counted in characters: at most `max_chars`
/// characters, ending after a paragraph break, line break or whitespace in its second half when
/// there is one (as [`split`] chooses), else at the limit. The whole text when it fits. For
/// surfaces that stream one growing answer and roll over to a new message at a character
/// budget (the rest is sent as the next part's text, so fences are not repaired here).
pub fn head_chars(text: &str, max_chars: usize) -> &str {
    let Some((limit, _)) = text.char_indices().nth(max_chars.max(1)) else {
        return text;
    };
    &text[..choose_cut(text, 0, limit)]
}

/// One part: a range of the input plus the fence lines added around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) start: usize,
    pub(super) end: usize,
    /// Opening fence line (with its newline) reopening a block cut by the previous part.
    pub(super) reopen: Option<String>,
    /// Closing fence (with a leading newline when needed) for a block this part cuts.
    pub(super) close: Option<String>,
}

impl Part {
    fn render(&self, text: &str) -> String {
        let mut out = String::new();
        out.push_str(self.reopen.as_deref().unwrap_or_default());
        out.push_str(&text[self.start..self.end]);
        out.push_str(self.close.as_deref().unwrap_or_default());
        out
    }
}

/// A fenced block: its content lies in `content_start..content_end` (the closing line, if any,
/// starts at `content_end`).
struct Fence {
    content_start: usize,
    content_end: usize,
    ticks: usize,
    info: String,
}

pub(super) fn plan(text: &str, max_bytes: usize, measure: Measure) -> Vec<Part> {
    let max = max_bytes.max(MIN_MAX_BYTES);
    let fences = fences(text);
    let reserve = fences.iter().map(|f| f.ticks + 1).max().unwrap_or(0);
    let mut parts = Vec::new();
    let mut pos = 0;
    loop {
        let reopen = fence_at(&fences, pos)
            .filter(|_| pos > 0)
            .map(|f| format!("{}{}\n", "`".repeat(f.ticks), f.info));
        let room = max.saturating_sub(reopen.as_ref().map_or(0, String::len));
        if measure.len(&text[pos..]) <= room {
            parts.push(Part {
                start: pos,
                end: text.len(),
                reopen,
                close: None,
            });
            return parts;
        }
        let repair = room.saturating_sub(reserve) >= MIN_MAX_BYTES;
        let (reopen, budget) = if repair { (reopen, room - reserve) } else { (None, max) };
        let cut = choose_cut(text, pos, measure.advance(text, pos, budget));
        let close = fence_at(&fences, cut).filter(|_| repair).map(|f| {
            let newline = if text[..cut].ends_with('\n') { "" } else { "\n" };
            format!("{newline}{}", "`".repeat(f.ticks))
        });
        parts.push(Part {
            start: pos,
            end: cut,
            reopen,
            close,
        });
        pos = cut;
    }
}

/// Where to end a part that starts at `pos` and may extend to `limit` (< `text.len()`).
fn choose_cut(text: &str, pos: usize, limit: usize) -> usize {
    let mut end = limit;
    while end > pos && !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == pos {
        // Not even one character fits; take one anyway so the split always progresses.
        return text[pos..].chars().next().map_or(text.len(), |c| pos + c.len_utf8());
    }
    let window = &text[pos..end];
    let half = window.len() / 2;
    let good = |cut: usize| (cut > half).then_some(pos + cut);
    let cut = window
        .rfind("\n\n")
        .and_then(|i| good(i + 2))
        .or_else(|| window.rfind('\n').and_then(|i| good(i + 1)))
        .or_else(|| {
            window
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .and_then(|(i, c)| good(i + c.len_utf8()))
        })
        .unwrap_or(end);
    avoid_fence_at_line_start(text, pos, cut)
}

/// Moves a mid-line cut back so the next part does not start with a backtick run that would
/// render as a fence opener (e.g. `text ```x` cut before the backticks).
fn avoid_fence_at_line_start(text: &str, pos: usize, mut cut: usize) -> usize {
    while !text[..cut].ends_with('\n') && text[cut..].trim_start_matches(' ').starts_with("```") {
        match text[pos..cut].char_indices().next_back() {
            Some((i, _)) if i > 0 => cut = pos + i,
            _ => break,
        }
    }
    cut
}

fn fences(text: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut open: Option<(usize, usize, String)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        match &open {
            Some((start, ticks, info)) if fence_close(body, *ticks) => {
                fences.push(Fence {
                    content_start: *start,
                    content_end: offset,
                    ticks: *ticks,
                    info: info.clone(),
                });
                open = None;
            }
            Some(_) => {}
            None => {
                if let Some((ticks, info)) = fence_open(body) {
                    open = Some((offset + line.len(), ticks, info.to_owned()));
                }
            }
        }
        offset += line.len();
    }
    if let Some((start, ticks, info)) = open {
        fences.push(Fence {
            content_start: start,
            content_end: text.len(),
            ticks,
            info,
        });
    }
    fences
}

fn fence_at(fences: &[Fence], at: usize) -> Option<&Fence> {
    fences.iter().find(|f| f.content_start <= at && at <= f.content_end)
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
