//! Counting a fake's calls in progress (long polls, sessions) and the most at once, so a test
//! can hold a bot to one connection.

use std::sync::{Arc, Mutex, PoisonError};

/// Calls in progress and the most at once; clones share the count.
#[derive(Clone, Default)]
pub struct InProgress(Arc<Mutex<(usize, usize)>>);

/// One call in progress; it ends when dropped.
pub struct Call(InProgress);

impl InProgress {
    /// A call starts.
    pub fn enter(&self) -> Call {
        let mut count = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        count.0 += 1;
        count.1 = count.1.max(count.0);
        Call(self.clone())
    }

    /// `(calls in progress, the most in progress at once)`.
    pub fn get(&self) -> (usize, usize) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner).0 -= 1;
    }
}
