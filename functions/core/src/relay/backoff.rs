//! Jittered exponential backoff between reconnects.
//!
//! Jitter keeps many bots that lost their connections at the same moment (a network blip, a
//! platform restart) from reconnecting in lockstep.

use std::time::Duration;

use rand::Rng;

/// Reconnect delays: `base * 2^(attempt - 1)`, capped at `max`, then scaled by a random factor in
/// `[0.5, 1.0]` ("equal jitter": the delay still grows, but relays spread out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first reconnect (before jitter).
    pub base: Duration,
    /// The longest delay (before jitter).
    pub max: Duration,
}

impl Backoff {
    /// A backoff from `base` growing to `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The delay before reconnect `attempt` (1 for the first), without jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }

    /// The jittered delay before reconnect `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor: f64 = rand::rng().random_range(0.5..=1.0);
        self.ceiling(attempt).mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_and_caps() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff.ceiling(0), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(1), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(2), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(8));
        assert_eq!(backoff.ceiling(7), Duration::from_secs(60));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_between_half_and_the_ceiling() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        for attempt in 1..12 {
            let ceiling = backoff.ceiling(attempt);
            for _ in 0..50 {
                let delay = backoff.delay(attempt);
                assert!(
                    delay <= ceiling && delay >= ceiling / 2,
                    "{attempt}: {delay:?} vs {ceiling:?}"
                );
            }
        }
    }
}
