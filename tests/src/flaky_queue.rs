//! A queue wrapper whose enqueues can be switched off, to play a queue outage in end-to-end
//! tests; everything else goes to the wrapped queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use imgate_core::ports::{Delivery, OutgoingMessage, Queue, QueueError};

/// Fails every enqueue while its switch is on.
pub struct FlakyQueue {
    inner: Arc<dyn Queue>,
    down: Arc<AtomicBool>,
}

impl FlakyQueue {
    /// Wraps `inner`; enqueues fail while `down` is true. Several wrappers may share one switch.
    pub fn new(inner: Arc<dyn Queue>, down: Arc<AtomicBool>) -> Self {
        Self { inner, down }
    }

    /// Takes the queue down (`true`) or brings it back (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Backend("queue outage (test)".into()));
        }
        self.inner.enqueue(message).await
    }
    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive(max, visibility).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        self.inner.ack(receipt).await
    }
    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.retry_later(receipt, delay).await
    }
    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError> {
        self.inner.extend_visibility(receipts, visibility).await
    }
    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        self.inner.enqueue_delayed(body, delay).await
    }
    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.inner.receive_dead_letters(max, visibility).await
    }
    async fn wait_for_messages(&self, timeout: Duration) {
        self.inner.wait_for_messages(timeout).await;
    }
}
