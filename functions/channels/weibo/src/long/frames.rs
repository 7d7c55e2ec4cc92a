//! The frames of one streamed answer (§6), without I/O: what to send next given what the user
//! has been shown and what the answer is now.
//!
//! - One reply is one `messageId` with `chunkId` 0, 1, 2, … — no gaps, no repeats.
//! - Every frame carries a **delta**: the text past what was sent, never the text so far.
//!   A delta longer than [`MAX_FRAME_CHARS`] goes out in several frames.
//! - The last frame carries `done:true`; when nothing is left, an empty-text done marker.
//! - The first frame of a reply is never empty (§6.4): an answer with nothing yet waits.
//! - What was sent cannot be taken back (§10.6). When the answer no longer starts with the
//!   text shown (a retried queue message whose agent answered differently, or an error after a
//!   partial answer), the open reply is closed with a done marker and the answer goes out whole
//!   as a new reply.
//! - After a reconnect the open reply's `messageId` is not continued on the new socket
//!   (whether Weibo allows that is unverified, §9.4): it gets only its closing done marker
//!   there (with the next `chunkId`; an `error` answer from Weibo costs nothing), and the rest
//!   goes out as a new reply.
//!
//! Each planned frame carries the progress as it stands once that frame is written, so a
//! socket that fails midway leaves exactly what was written recorded.

use crate::wire::SendMessage;

/// The most characters one frame carries (§8: Wegent splits at 1,800).
pub const MAX_FRAME_CHARS: usize = 1800;

/// How far one answer has been sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// The reply being written, if one is open on this socket.
    pub message_id: Option<String>,
    /// The next `chunkId` of that reply.
    pub next_chunk: u64,
    /// The answer's text the user has been sent (a prefix of the answer, unless it changed).
    pub sent: String,
    /// The answer is complete and closed: nothing more goes out.
    pub done: bool,
    /// A reply left open by an ended socket, and its next `chunkId`: closed first.
    pub dangling: Option<(String, u64)>,
}

impl Progress {
    /// The progress on a new socket: the text stays sent, the open reply is only closed.
    #[must_use]
    pub fn on_new_socket(mut self) -> Self {
        if let Some(id) = self.message_id.take() {
            self.dangling = Some((id, self.next_chunk));
        }
        self.next_chunk = 0;
        self
    }
}

/// The frames of one step, each with the progress once it is written, and the progress
/// once all are (which may say `done` with no frame: a finished answer that never had text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The frames, in order.
    pub frames: Vec<(SendMessage, Progress)>,
    /// The progress after the last frame.
    pub after: Progress,
}

/// The frames that bring the user from `progress` to `content` (`finished`: the answer is
/// complete). `new_id` makes a fresh `messageId`.
pub fn plan(
    progress: &Progress,
    to_user_id: &str,
    content: &str,
    finished: bool,
    mut new_id: impl FnMut() -> String,
) -> Plan {
    let mut frames = Vec::new();
    let mut state = progress.clone();
    if state.done {
        return Plan { frames, after: state };
    }
    let frame = |state: &mut Progress, text: String, done: bool, id: String| {
        let message = SendMessage {
            to_user_id: to_user_id.to_owned(),
            text,
            message_id: id,
            chunk_id: state.next_chunk,
            done,
        };
        state.next_chunk += 1;
        message
    };
    if let Some((id, chunk_id)) = state.dangling.take() {
        let closing = SendMessage {
            to_user_id: to_user_id.to_owned(),
            text: String::new(),
            message_id: id,
            chunk_id,
            done: true,
        };
        frames.push((closing, state.clone()));
    }
    if !content.starts_with(&state.sent) {
        // The answer changed under what was shown: close the open reply, send it anew.
        if let Some(id) = state.message_id.take() {
            let closing = frame(&mut state, String::new(), true, id);
            state.next_chunk = 0;
            frames.push((closing, state.clone()));
        }
        state.sent.clear();
        state.next_chunk = 0;
    }
    let delta = &content[state.sent.len()..];
    let pieces = split_chars(delta, MAX_FRAME_CHARS);
    let last = pieces.len();
    for (n, piece) in pieces.into_iter().enumerate() {
        let done = finished && n + 1 == last;
        let id = state.message_id.get_or_insert_with(&mut new_id).clone();
        state.sent.push_str(piece);
        let message = frame(&mut state, piece.to_owned(), done, id);
        if done {
            state.done = true;
            state.message_id = None;
        }
        frames.push((message, state.clone()));
    }
    if finished && !state.done {
        // Nothing left to say: close the open reply with an empty done marker. An answer that
        // never had text on this socket has no reply to close.
        if let Some(id) = state.message_id.take() {
            let closing = frame(&mut state, String::new(), true, id);
            state.done = true;
            frames.push((closing, state.clone()));
        }
        state.done = true;
    }
    Plan { frames, after: state }
}

/// `text` in pieces of at most `max` characters, never splitting a character.
pub fn split_chars(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let (head, tail) = rest.split_at(cut);
        pieces.push(head);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
