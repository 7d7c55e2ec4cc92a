//! Waiting out a platform's rate limit for what must arrive: the final text of an answer, a
//! card that carries it. Intermediate updates are skipped instead (the next one carries more).

use std::future::Future;
use std::time::Duration;

use imgate_core::ports::ReplyError;

/// How many times a call that carries the answer is tried while the platform says "slow down".
pub const PATIENT_ATTEMPTS: usize = 4;

/// The longest single wait: a platform asking for more is not waited out inside one queue
/// delivery (the error goes back to the dispatcher, which retries through the queue).
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(5);

/// Runs `call`, waiting out [`ReplyError::RateLimited`] answers (each at most
/// [`MAX_RATE_WAIT`]) up to [`PATIENT_ATTEMPTS`] tries in all.
///
/// # Errors
/// The last error, or any other error at once.
pub async fn patiently<T, F, Fut>(mut call: F) -> Result<T, ReplyError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ReplyError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Err(ReplyError::RateLimited { retry_after }) if attempt < PATIENT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(retry_after.min(MAX_RATE_WAIT)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rate_limits_are_waited_out_a_few_times_then_returned() {
        let tries = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), _> = patiently(|| {
            tries.fetch_add(1, Ordering::SeqCst);
            async {
                Err(ReplyError::RateLimited {
                    retry_after: Duration::from_secs(60),
                })
            }
        })
        .await;
        assert!(matches!(result, Err(ReplyError::RateLimited { .. })));
        assert_eq!(tries.load(Ordering::SeqCst), PATIENT_ATTEMPTS);
        assert_eq!(started.elapsed(), MAX_RATE_WAIT * 3, "each wait capped");

        let tries = AtomicUsize::new(0);
        let result = patiently(|| {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move {
                match n {
                    0 => Err(ReplyError::RateLimited {
                        retry_after: Duration::from_millis(10),
                    }),
                    _ => Ok("sent"),
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), "sent");

        let other: Result<(), _> = patiently(|| async { Err(ReplyError::Expired) }).await;
        assert!(matches!(other, Err(ReplyError::Expired)));
    }
}
