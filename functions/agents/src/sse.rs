//! An incremental Server-Sent Events parser.
//!
//! Agents stream their answers as `text/event-stream`, and the network cuts that byte stream
//! wherever it likes: in the middle of a line, between the `\r` and `\n` of a CRLF, or inside a
//! multi-byte UTF-8 character. [`Parser`] keeps the unfinished line between calls, so the events
//! it yields do not depend on how the bytes were chunked. It follows the WHATWG
//! "event stream interpretation" rules (LF, CRLF or lone CR line ends; `:` comments; one optional
//! space after the colon; multi-line `data:` joined with `\n`; events without data dropped), with
//! one leniency: at the end of the stream a final event that lacks its blank line is still
//! delivered, because some agents close the stream right after their last `data:` line.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` name, `"message"` when the event had none.
    pub(crate) name: String,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
}

/// The stream broke a size limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// A line or an event's data grew past the limit (an endless line is a broken or hostile
    /// server, not an answer).
    #[error("an event-stream line or event is longer than {0} bytes")]
    TooLong(usize),
}

/// Default cap on one line and on one event's data.
pub(crate) const DEFAULT_MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

const BOM: char = '\u{feff}';

/// Parses an event stream fed in arbitrary chunks.
#[derive(Debug)]
pub(crate) struct Parser {
    /// Bytes of the line not yet ended.
    line: Vec<u8>,
    /// The previous byte was a `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    /// True until the first line was seen (a leading BOM is dropped there).
    first_line: bool,
    /// The data buffer, each line followed by `\n`.
    data: String,
    /// The event name buffer.
    name: Option<String>,
    max: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl Parser {
    /// A parser that refuses lines and events longer than `max` bytes.
    pub(crate) fn with_limit(max: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            data: String::new(),
            name: None,
            max,
        }
    }

    /// Feeds the next chunk and returns the events it completed.
    ///
    /// # Errors
    /// [`SseError::TooLong`] when a line or an event's data exceeds the limit.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut events = Vec::new();
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if let Some(tail) = rest.strip_prefix(b"\n") {
                    rest = tail;
                    continue;
                }
            }
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    let (part, tail) = rest.split_at(end);
                    self.extend_line(part)?;
                    self.after_cr = tail.first() == Some(&b'\r');
                    rest = tail.get(1..).unwrap_or_default();
                    self.end_line(&mut events)?;
                }
                None => {
                    self.extend_line(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(events)
    }

    /// Ends the stream: an unfinished last line is taken as a line, and pending data is
    /// dispatched even without its closing blank line.
    pub(crate) fn finish(&mut self) -> Option<Event> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            // A too-long final event is dropped rather than reported: the stream is over anyway.
            self.end_line(&mut events).ok()?;
        }
        self.dispatch(&mut events);
        events.pop()
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > self.max {
            return Err(SseError::TooLong(self.max));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<Event>) -> Result<(), SseError> {
        let bytes = std::mem::take(&mut self.line);
        let text = String::from_utf8_lossy(&bytes);
        let mut line: &str = &text;
        if self.first_line {
            self.first_line = false;
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.max {
                    return Err(SseError::TooLong(self.max));
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => self.name = Some(value.to_owned()),
            // `id` and `retry` matter for reconnecting, which an agent call never does.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        let name = self.name.take();
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        events.push(Event {
            name: name.filter(|n| !n.is_empty()).unwrap_or_else(|| "message".to_owned()),
            data,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: &str) -> Event {
        Event {
            name: name.to_owned(),
            data: data.to_owned(),
        }
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<Event> {
        let mut parser = Parser::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(parser.push(chunk).unwrap());
        }
        events.extend(parser.finish());
        events
    }

    /// Every way of cutting `input` in two and in single bytes gives the same events.
    fn assert_chunking_invariant(input: &[u8], expected: &[Event]) {
        assert_eq!(parse_chunks(&[input]), expected, "whole");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(parse_chunks(&[a, b]), expected, "cut at {cut}");
        }
        for cut in 0..input.len() {
            for second in cut..input.len() {
                let (a, rest) = input.split_at(cut);
                let (b, c) = rest.split_at(second - cut);
                assert_eq!(parse_chunks(&[a, b, c]), expected, "cuts at {cut},{second}");
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(parse_chunks(&bytes), expected, "byte by byte");
    }

    #[test]
    fn parses_openai_style_stream_under_any_chunking() {
        let input = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";
        assert_chunking_invariant(
            input,
            &[
                ev("message", "{\"a\":1}"),
                ev("message", "{\"b\":2}"),
                ev("message", "[DONE]"),
            ],
        );
    }

    #[test]
    fn handles_crlf_lone_cr_and_mixed_line_ends() {
        let input = b"event: a\r\ndata: one\r\n\r\nevent: b\rdata: two\r\rdata: three\n\r\n";
        assert_chunking_invariant(input, &[ev("a", "one"), ev("b", "two"), ev("message", "three")]);
    }

    #[test]
    fn joins_multi_line_data_and_skips_comments() {
        let input = b": keep-alive\n\ndata: first\n: a comment between\ndata:second\ndata\ndata:  two spaces\n\n";
        assert_chunking_invariant(input, &[ev("message", "first\nsecond\n\n two spaces")]);
    }

    #[test]
    fn event_names_reset_between_events_and_dataless_events_are_dropped() {
        let input = b"event: metadata\n\nevent: messages\ndata: [1]\nid: 7\nretry: 100\n\ndata: plain\n\n";
        assert_chunking_invariant(input, &[ev("messages", "[1]"), ev("message", "plain")]);
    }

    #[test]
    fn empty_data_line_is_an_event_with_empty_data() {
        assert_chunking_invariant(b"data:\n\n", &[ev("message", "")]);
    }

    #[test]
    fn keeps_multibyte_utf8_split_across_chunks() {
        let input = "data: 你好, wörld 👋\n\n".as_bytes();
        assert_chunking_invariant(input, &[ev("message", "你好, wörld 👋")]);
    }

    #[test]
    fn drops_leading_bom_only() {
        let input = "\u{feff}data: x\n\ndata: \u{feff}y\n\n".as_bytes();
        assert_chunking_invariant(input, &[ev("message", "x"), ev("message", "\u{feff}y")]);
    }

    #[test]
    fn delivers_final_event_without_blank_line() {
        assert_chunking_invariant(b"data: a\n\ndata: last", &[ev("message", "a"), ev("message", "last")]);
        assert_chunking_invariant(b"data: last\r\n", &[ev("message", "last")]);
    }

    #[test]
    fn unknown_fields_and_colonless_lines_are_ignored() {
        assert_chunking_invariant(b"foo: bar\nnonsense\ndata: ok\n\n", &[ev("message", "ok")]);
    }

    #[test]
    fn refuses_endless_lines_and_events() {
        let mut parser = Parser::with_limit(16);
        assert!(parser.push(b"data: 0123456789").is_ok());
        assert_eq!(parser.push(b"abcdef"), Err(SseError::TooLong(16)));

        let mut parser = Parser::with_limit(16);
        assert!(parser.push(b"data: 0123456\ndata: 0123456\n").is_ok());
        assert_eq!(parser.push(b"data: 0123456\n"), Err(SseError::TooLong(16)));
    }
}
