//! Keeping received messages hidden while they are handled, and no longer.
//!
//! A received message is hidden for a short [`VISIBILITY`]. While its handler is alive, a
//! heartbeat extends that every [`HEARTBEAT_EVERY`]; when the handler dies (a crash, `kill -9`,
//! a Lambda that timed out), the heartbeat dies with it and the message is visible again within
//! [`VISIBILITY`], so its conversation (a FIFO group, blocked while the message is in flight)
//! waits seconds, not the length of the longest agent call.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::ports::Queue;
use crate::task::AbortOnDrop;

/// How long a received message stays hidden without a heartbeat: a dead handler's messages are
/// back this long after its last heartbeat at most.
pub const VISIBILITY: Duration = Duration::from_secs(30);

/// Beats per visibility period: a third, so two beats in a row may fail (a slow or throttled
/// queue) before a live handler's message shows again.
const BEATS_PER_VISIBILITY: u32 = 3;

/// How often a live handler extends its messages' visibility with the default [`VISIBILITY`].
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

/// Extends the visibility of the receipts still held, until dropped.
pub(crate) struct Heartbeat {
    held: Arc<Mutex<Vec<String>>>,
    _beat: AbortOnDrop<()>,
}

impl Heartbeat {
    /// Starts beating for `receipts` every third of `visibility`.
    pub(crate) fn start(queue: Arc<dyn Queue>, receipts: Vec<String>, visibility: Duration) -> Self {
        let held = Arc::new(Mutex::new(receipts));
        let every = visibility / BEATS_PER_VISIBILITY;
        let beat = {
            let held = held.clone();
            AbortOnDrop::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let receipts = held.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    if receipts.is_empty() {
                        continue;
                    }
                    if let Err(error) = queue.extend_visibility(&receipts, visibility).await {
                        tracing::warn!(%error, held = receipts.len(), "extending the visibility of messages being handled failed");
                    }
                }
            })
        };
        Self { held, _beat: beat }
    }

    /// Starts beating for more receipts too (newly received messages).
    pub(crate) fn hold(&self, receipts: impl IntoIterator<Item = String>) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(receipts);
    }

    /// Stops beating for `receipt` (it was acknowledged or given back to the queue).
    pub(crate) fn done(&self, receipt: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|r| r != receipt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_beat_fits_the_visibility() {
        assert_eq!(VISIBILITY / BEATS_PER_VISIBILITY, HEARTBEAT_EVERY);
    }
}
