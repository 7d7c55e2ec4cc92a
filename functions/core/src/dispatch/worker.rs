//! A queue worker: what the dispatcher Lambda does on AWS (SQS batches), as a polling loop over
//! any [`Queue`] — `imgate serve` runs it on the embedded queue. Groups are handled in parallel, each in order; a failed message is
//! retried with backoff and, after the queue's max receives, dead-lettered by the queue.

use std::sync::Arc;
use std::time::Duration;

use super::{BatchRecord, Dispatcher, group_in_order};
use crate::ports::{Delivery, Queue};
use futures_util::future::join_all;
use tokio::sync::watch;

/// Messages taken per poll.
const BATCH: usize = 10;
/// Hidden while being handled: longer than the longest agent timeout (900 s).
const VISIBILITY: Duration = Duration::from_secs(960);
/// Wait between polls of an empty queue.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Runs until `shutdown` turns true; messages being handled then are finished first.
pub async fn run(queue: Arc<dyn Queue>, dispatcher: Dispatcher, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            break;
        }
        match queue.receive(BATCH, VISIBILITY).await {
            Ok(deliveries) if deliveries.is_empty() => {
                tokio::select! {
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Ok(deliveries) => handle(queue.as_ref(), &dispatcher, deliveries).await,
            Err(error) => {
                tracing::error!(%error, "receiving from the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    tracing::info!("queue worker stopped");
}

async fn handle(queue: &dyn Queue, dispatcher: &Dispatcher, deliveries: Vec<Delivery>) {
    let records = deliveries
        .into_iter()
        .map(|d| BatchRecord {
            id: d.receipt,
            group: d.group,
            body: d.body,
            receive_count: d.receive_count,
        })
        .collect();
    join_all(
        group_in_order(records)
            .into_iter()
            .map(|group| handle_group(queue, dispatcher, group)),
    )
    .await;
}

async fn handle_group(queue: &dyn Queue, dispatcher: &Dispatcher, group: Vec<BatchRecord>) {
    let mut records = group.into_iter();
    for record in records.by_ref() {
        match dispatcher.handle(&record.body, record.receive_count).await {
            Ok(()) => {
                if let Err(error) = queue.ack(&record.id).await {
                    tracing::error!(%error, "acknowledging a handled message failed; it may be handled again");
                }
            }
            Err(error) => {
                let delay = backoff(record.receive_count);
                tracing::warn!(attempt = record.receive_count, retry_in_s = delay.as_secs(), %error, "message failed");
                if let Err(error) = queue.retry_later(&record.id, delay).await {
                    tracing::error!(%error, "scheduling a retry failed; the visibility timeout will bring it back");
                }
                break;
            }
        }
    }
    // The rest of a failed group goes back at once; the group stays blocked behind the failed one.
    for record in records {
        if let Err(error) = queue.retry_later(&record.id, Duration::ZERO).await {
            tracing::error!(%error, "releasing a message failed");
        }
    }
}

/// 2, 4, 8, … seconds, at most a minute.
fn backoff(receive_count: u32) -> Duration {
    Duration::from_secs(1u64 << receive_count.clamp(1, 6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }
}
