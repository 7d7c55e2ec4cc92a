//! Crash points: named places on the message path where a test can stop the process cold.
//!
//! A crash test starts `imgate serve` with `IMGATE_CRASH_AT=<point>[:<n>]`. When the task that
//! carries a message reaches `<point>` for the `n`-th time (default: the first), the process
//! prints `imgate crash point reached: <point>` on stderr and that task never goes on; the test
//! then kills the process with SIGKILL, so the crash lands exactly between two durable steps
//! while the rest of the process is still busy with other messages. Without the variable every
//! point is one relaxed atomic load.
//!
//! The points, in the order a message passes them:
//!
//! | point | where |
//! |---|---|
//! | `ingress.before_claim` | a callback was verified and read, before its dedupe check |
//! | `ingress.claimed` | the dedupe check passed, before the enqueue |
//! | `ingress.enqueued` | the event is on the queue, before its dedupe claim is recorded |
//! | `dispatch.agent_streaming` | the agent sent its first words; the answer is streaming |
//! | `dispatch.answered` | the agent's whole answer is recorded, before it is shown |
//! | `queue.before_ack` | the answer was shown and marked done, before the queue message is deleted |

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms one crash point.
pub const CRASH_AT_VAR: &str = "IMGATE_CRASH_AT";

/// The armed point and the hit that triggers it.
struct Armed {
    point: String,
    nth: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(CRASH_AT_VAR).ok().as_deref().and_then(parse))
        .as_ref()
}

/// `point` or `point:n` (n ≥ 1).
fn parse(value: &str) -> Option<Armed> {
    let value = value.trim();
    let (point, nth) = match value.rsplit_once(':') {
        Some((point, n)) => (point, n.parse::<u64>().ok().filter(|n| *n >= 1)?),
        None => (value, 1),
    };
    (!point.is_empty()).then(|| Armed {
        point: point.to_owned(),
        nth,
        hits: AtomicU64::new(0),
    })
}

/// Passes `point`; when it is the armed point's triggering hit, announces it and never returns,
/// holding this task where it is until the process is killed.
pub async fn point(point: &'static str) {
    let Some(armed) = armed() else { return };
    if armed.point != point || armed.hits.fetch_add(1, Ordering::SeqCst) + 1 != armed.nth {
        return;
    }
    eprintln!("imgate crash point reached: {point}");
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_point_and_hit() {
        let armed = parse("ingress.claimed:3").expect("armed");
        assert_eq!((armed.point.as_str(), armed.nth), ("ingress.claimed", 3));
        let armed = parse(" dispatch.answered ").expect("armed");
        assert_eq!((armed.point.as_str(), armed.nth), ("dispatch.answered", 1));
        assert!(parse("").is_none());
        assert!(parse("x:0").is_none());
        assert!(parse("x:many").is_none());
        assert!(parse(":2").is_none());
    }

    #[tokio::test]
    async fn unarmed_points_pass() {
        // The test process does not set the variable.
        point("ingress.claimed").await;
    }
}
