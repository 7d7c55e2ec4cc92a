//! Reassembly of split data frames (§3.7): fragments share a `message_id`, `sum` says how many
//! there are and `seq` which one this is; the message is complete when every slot is filled.
//!
//! Partial messages expire [`Limits::ttl`] after their last fragment (the SDKs' 5 s cache).
//! Memory is bounded: at most [`Limits::max_messages`] partial messages, [`Limits::max_bytes`]
//! buffered in all and [`Limits::max_parts`] fragments per message. A fragment past a bound is
//! refused and its message never completes here; it is never ACKed either, so Lark pushes it
//! again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a partial message waits for its next fragment.
    pub ttl: Duration,
    /// Partial messages held at once.
    pub max_messages: usize,
    /// Payload bytes held at once, over all partial messages.
    pub max_bytes: usize,
    /// Fragments one message may have.
    pub max_parts: usize,
}

impl Default for Limits {
    /// 5 s, 64 messages, 16 MiB, 256 fragments.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            max_messages: 64,
            max_bytes: 16 * 1024 * 1024,
            max_parts: 256,
        }
    }
}

/// What a fragment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fragment {
    /// It completed the message: the fragments' payloads in `seq` order.
    Complete(Vec<u8>),
    /// It was stored; more are missing.
    Pending,
    /// It was dropped, for the reason given.
    Refused(&'static str),
}

/// One message's fragments so far.
struct Partial {
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
    touched: Instant,
}

/// Partial messages of one connection.
pub struct Reassembler {
    limits: Limits,
    partial: HashMap<String, Partial>,
    bytes: usize,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            partial: HashMap::new(),
            bytes: 0,
        }
    }

    /// Partial messages held.
    pub fn messages(&self) -> usize {
        self.partial.len()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds fragment `seq` of `sum` of `message_id`, received at `now`. A repeated fragment
    /// replaces the earlier copy. `sum` of 1 (or 0) is a whole message.
    pub fn add(&mut self, message_id: &str, sum: usize, seq: usize, payload: Vec<u8>, now: Instant) -> Fragment {
        self.expire(now);
        if sum <= 1 {
            return Fragment::Complete(payload);
        }
        if sum > self.limits.max_parts {
            return Fragment::Refused("too many fragments");
        }
        if seq >= sum {
            return Fragment::Refused("fragment index out of range");
        }
        let held = match self.partial.get(message_id) {
            Some(partial) if partial.parts.len() != sum => return Fragment::Refused("fragment count changed"),
            Some(partial) => partial.parts[seq].as_ref().map_or(0, Vec::len),
            None if self.partial.len() >= self.limits.max_messages => {
                return Fragment::Refused("too many partial messages");
            }
            None => 0,
        };
        if self.bytes - held + payload.len() > self.limits.max_bytes {
            return Fragment::Refused("partial messages over the memory bound");
        }
        let partial = self.partial.entry(message_id.to_owned()).or_insert_with(|| Partial {
            parts: vec![None; sum],
            bytes: 0,
            touched: now,
        });
        partial.bytes = partial.bytes - held + payload.len();
        self.bytes = self.bytes - held + payload.len();
        partial.parts[seq] = Some(payload);
        partial.touched = now;
        if partial.parts.iter().any(Option::is_none) {
            return Fragment::Pending;
        }
        let Some(done) = self.partial.remove(message_id) else {
            return Fragment::Pending;
        };
        self.bytes -= done.bytes;
        let mut whole = Vec::with_capacity(done.bytes);
        for part in done.parts.into_iter().flatten() {
            whole.extend_from_slice(&part);
        }
        Fragment::Complete(whole)
    }

    /// Drops partial messages whose last fragment is older than the TTL.
    fn expire(&mut self, now: Instant) {
        let ttl = self.limits.ttl;
        let mut freed = 0;
        self.partial.retain(|_, partial| {
            let alive = now.saturating_duration_since(partial.touched) < ttl;
            if !alive {
                freed += partial.bytes;
            }
            alive
        });
        self.bytes -= freed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            ttl: Duration::from_secs(5),
            max_messages: 2,
            max_bytes: 10,
            max_parts: 4,
        }
    }

    fn part(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn whole_messages_pass_through() {
        let mut r = Reassembler::new(limits());
        let now = Instant::now();
        assert_eq!(r.add("m", 1, 0, part("abc"), now), Fragment::Complete(part("abc")));
        assert_eq!(r.add("m", 0, 0, part("abc"), now), Fragment::Complete(part("abc")));
        assert_eq!((r.messages(), r.bytes()), (0, 0));
    }

    #[test]
    fn out_of_order_and_duplicate_fragments() {
        let mut r = Reassembler::new(limits());
        let now = Instant::now();
        assert_eq!(r.add("m", 3, 2, part("ef"), now), Fragment::Pending);
        assert_eq!(r.add("m", 3, 0, part("xx"), now), Fragment::Pending);
        assert_eq!(
            r.add("m", 3, 0, part("ab"), now),
            Fragment::Pending,
            "a repeat replaces"
        );
        assert_eq!((r.messages(), r.bytes()), (1, 4));
        assert_eq!(r.add("m", 3, 1, part("cd"), now), Fragment::Complete(part("abcdef")));
        assert_eq!((r.messages(), r.bytes()), (0, 0));
        // A late repeat after completion starts a new partial message, which then expires.
        assert_eq!(r.add("m", 3, 1, part("cd"), now), Fragment::Pending);
        assert_eq!(
            r.add("other", 1, 0, part("z"), now + Duration::from_secs(5)),
            Fragment::Complete(part("z"))
        );
        assert_eq!((r.messages(), r.bytes()), (0, 0));
    }

    #[test]
    fn expired_fragments_are_dropped_and_the_ttl_runs_from_the_last_one() {
        let mut r = Reassembler::new(limits());
        let t0 = Instant::now();
        assert_eq!(r.add("m", 3, 0, part("a"), t0), Fragment::Pending);
        assert_eq!(
            r.add("m", 3, 1, part("b"), t0 + Duration::from_secs(4)),
            Fragment::Pending
        );
        // 8 s after the first but 4 s after the last fragment: still alive.
        assert_eq!(
            r.add("m", 3, 2, part("c"), t0 + Duration::from_secs(8)),
            Fragment::Complete(part("abc"))
        );
        assert_eq!(r.add("n", 2, 0, part("a"), t0), Fragment::Pending);
        assert_eq!(
            r.add("n", 2, 1, part("b"), t0 + Duration::from_secs(5)),
            Fragment::Pending,
            "restarted"
        );
        assert_eq!((r.messages(), r.bytes()), (1, 1));
    }

    #[test]
    fn bounds_refuse_instead_of_growing() {
        let mut r = Reassembler::new(limits());
        let now = Instant::now();
        assert_eq!(
            r.add("m", 5, 0, part("a"), now),
            Fragment::Refused("too many fragments")
        );
        assert_eq!(
            r.add("m", 2, 2, part("a"), now),
            Fragment::Refused("fragment index out of range")
        );
        assert_eq!(r.add("a", 2, 0, part("aaaa"), now), Fragment::Pending);
        assert_eq!(
            r.add("a", 3, 1, part("a"), now),
            Fragment::Refused("fragment count changed")
        );
        assert_eq!(r.add("b", 2, 0, part("bbbb"), now), Fragment::Pending);
        assert_eq!(
            r.add("c", 2, 0, part("c"), now),
            Fragment::Refused("too many partial messages")
        );
        assert_eq!(
            r.add("a", 2, 1, part("aaa"), now),
            Fragment::Refused("partial messages over the memory bound")
        );
        // Replacing a held fragment counts only the difference.
        assert_eq!(r.add("b", 2, 0, part("bbbbbb"), now), Fragment::Pending);
        assert_eq!(r.bytes(), 10);
        assert_eq!(r.add("a", 2, 1, part(""), now), Fragment::Complete(part("aaaa")));
        assert_eq!((r.messages(), r.bytes()), (1, 6));
        assert_eq!(r.add("c", 2, 0, part("c"), now), Fragment::Pending, "room again");
    }
}
