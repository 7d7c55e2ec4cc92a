//! Rate-limiting the event-log rows of refused callbacks.
//!
//! Anyone can POST to a webhook URL, so refused callbacks (bad signature, stale timestamp,
//! unreadable body) are unauthenticated: writing one event-log row for each would let a fuzzer
//! or a misconfigured sender flood the integration's status view and the store. Each process
//! writes at most one row per integration and reason per [`WINDOW`]; the next row after a quiet
//! spell says how many were left out. The process log still has every refusal.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ids::IntegrationId;

/// At most one row per integration and reason in this long.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Integration-and-reason pairs remembered at most; older windows are dropped past it, so a
/// flood of distinct integration ids cannot grow the map.
const MAX_TRACKED: usize = 4096;

struct Slot {
    opened: Instant,
    suppressed: u64,
}

/// Decides which refusals get an event-log row.
#[derive(Default)]
pub struct Rejections(Mutex<HashMap<(IntegrationId, String), Slot>>);

impl Rejections {
    /// The row to write for this refusal at `now`, or `None` when one was written for the same
    /// integration and reason within the window.
    pub fn admit(&self, integration: &IntegrationId, detail: &str, now: Instant) -> Option<String> {
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (integration.clone(), detail.to_owned());
        if let Some(slot) = slots.get_mut(&key) {
            if now.duration_since(slot.opened) < WINDOW {
                slot.suppressed += 1;
                return None;
            }
            let suppressed = std::mem::take(&mut slot.suppressed);
            slot.opened = now;
            return Some(match suppressed {
                0 => detail.to_owned(),
                n => format!("{detail} (and {n} more like it before, not logged one by one)"),
            });
        }
        if slots.len() >= MAX_TRACKED {
            slots.retain(|_, slot| now.duration_since(slot.opened) < WINDOW);
            if slots.len() >= MAX_TRACKED {
                return None;
            }
        }
        slots.insert(
            key,
            Slot {
                opened: now,
                suppressed: 0,
            },
        );
        Some(detail.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_reason_and_window_then_a_count() {
        let limits = Rejections::default();
        let a = IntegrationId::generate();
        let b = IntegrationId::generate();
        let t0 = Instant::now();
        assert_eq!(limits.admit(&a, "bad signature", t0).as_deref(), Some("bad signature"));
        for i in 1..=5 {
            assert_eq!(limits.admit(&a, "bad signature", t0 + Duration::from_secs(i)), None);
        }
        assert!(limits.admit(&a, "stale timestamp", t0).is_some(), "another reason");
        assert!(limits.admit(&b, "bad signature", t0).is_some(), "another integration");
        let later = limits.admit(&a, "bad signature", t0 + WINDOW).expect("a new window");
        assert!(later.contains("and 5 more"), "{later}");
        assert_eq!(
            limits.admit(&a, "bad signature", t0 + WINDOW * 2).as_deref(),
            Some("bad signature")
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let limits = Rejections::default();
        let t0 = Instant::now();
        for _ in 0..MAX_TRACKED {
            assert!(limits.admit(&IntegrationId::generate(), "x", t0).is_some());
        }
        assert!(
            limits.admit(&IntegrationId::generate(), "x", t0).is_none(),
            "full within the window"
        );
        assert!(
            limits.admit(&IntegrationId::generate(), "x", t0 + WINDOW).is_some(),
            "old windows make room"
        );
    }
}
