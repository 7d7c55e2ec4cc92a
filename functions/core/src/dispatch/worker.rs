//! A queue worker: what the dispatcher Lambda does on AWS (SQS batches), as a polling loop over
//! any [`Queue`] — `imgate serve` runs it on the embedded queue.
//!
//! The worker keeps up to [`MAX_IN_FLIGHT`] messages in flight and receives more as soon as any
//! finish, so one slow agent never holds up other conversations. Each received group is handled
//! in order on its own task (the queue hands out a group's next message only after the previous
//! one is acknowledged or released); a failed message is retried with backoff and, after the
//! queue's max receives, dead-lettered by the queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::heartbeat::Heartbeat;
use super::{BatchRecord, Dispatcher, group_in_order};
use crate::crash;
use crate::ports::{Delivery, Queue};

/// Messages taken per receive, at most.
const BATCH: usize = 16;
/// Messages handled at once, at most (each may be waiting for an agent).
pub const MAX_IN_FLIGHT: usize = 256;
/// Wait between polls of an empty queue.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Runs until `shutdown` turns true; messages being handled then are finished first.
pub async fn run(queue: Arc<dyn Queue>, dispatcher: Dispatcher, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // One heartbeat for every message in hand: one queue call per beat, however many there are.
    let heartbeat = Arc::new(Heartbeat::start(
        queue.clone(),
        Vec::new(),
        dispatcher.settings.visibility,
    ));
    // Signalled whenever a group's task ends: its group (and its next message) is free again.
    let group_done = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    loop {
        // Reap finished groups so the set does not grow.
        while tasks.try_join_next().is_some() {}
        if *shutdown.borrow() {
            break;
        }
        // Wait for a free slot, then take as many more as are free, up to a batch.
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            changed = shutdown.changed() => {
                // A dropped sender means nobody can stop us any more: stop now.
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        let Ok(first) = first else { break };
        let mut wanted = 1;
        first.forget();
        while wanted < BATCH && slots.try_acquire().map(|p| p.forget()).is_ok() {
            wanted += 1;
        }
        match queue.receive(wanted, dispatcher.settings.visibility).await {
            Ok(deliveries) => {
                slots.add_permits(wanted - deliveries.len().min(wanted));
                if deliveries.is_empty() {
                    // Nothing deliverable: wait for new messages, or for a group in flight here
                    // to finish, which may make its next message deliverable at once.
                    tokio::select! {
                        () = queue.wait_for_messages(IDLE_POLL) => {}
                        () = group_done.notified() => {}
                        changed = shutdown.changed() => {
                            if changed.is_err() {
                                break;
                            }
                        }
                    }
                    continue;
                }
                heartbeat.hold(deliveries.iter().map(|d| d.receipt.clone()));
                for group in group_in_order(records(deliveries)) {
                    let slot = Slots {
                        semaphore: slots.clone(),
                        count: group.len(),
                        done: group_done.clone(),
                    };
                    let (queue, dispatcher, heartbeat) = (queue.clone(), dispatcher.clone(), heartbeat.clone());
                    tasks.spawn(async move {
                        handle_group(queue.as_ref(), &dispatcher, &heartbeat, group).await;
                        drop(slot);
                    });
                }
            }
            Err(error) => {
                slots.add_permits(wanted);
                tracing::error!(%error, "receiving from the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("queue worker stopped");
}

/// In-flight slots held by one group's task, given back when it ends (even by a panic).
struct Slots {
    semaphore: Arc<Semaphore>,
    count: usize,
    done: Arc<Notify>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.semaphore.add_permits(self.count);
        self.done.notify_one();
    }
}

fn records(deliveries: Vec<Delivery>) -> Vec<BatchRecord> {
    deliveries
        .into_iter()
        .map(|d| BatchRecord {
            receipt: Some(d.receipt.clone()),
            id: d.receipt,
            group: d.group,
            body: d.body,
            receive_count: d.receive_count,
        })
        .collect()
}

/// Handles one group's records in order. They are hidden for a short visibility that the
/// worker's heartbeat extends until each is acknowledged or given back: if the process dies,
/// the group is free again within one visibility period.
async fn handle_group(queue: &dyn Queue, dispatcher: &Dispatcher, heartbeat: &Heartbeat, group: Vec<BatchRecord>) {
    let mut records = group.into_iter();
    for record in records.by_ref() {
        match dispatcher.handle(&record.body, record.receive_count).await {
            Ok(()) => {
                crash::point("queue.before_ack").await;
                heartbeat.done(&record.id);
                if let Err(error) = queue.ack(&record.id).await {
                    tracing::error!(%error, "acknowledging a handled message failed; it may be handled again");
                }
            }
            Err(error) => {
                let delay = backoff(record.receive_count);
                tracing::warn!(attempt = record.receive_count, retry_in_s = delay.as_secs(), %error, "message failed");
                heartbeat.done(&record.id);
                if let Err(error) = queue.retry_later(&record.id, delay).await {
                    tracing::error!(%error, "scheduling a retry failed; the visibility timeout will bring it back");
                }
                break;
            }
        }
    }
    // The rest of a failed group goes back at once; the group stays blocked behind the failed one.
    for record in records {
        heartbeat.done(&record.id);
        if let Err(error) = queue.retry_later(&record.id, Duration::ZERO).await {
            tracing::error!(%error, "releasing a message failed");
        }
    }
}

/// 2, 4, 8, … seconds, at most a minute.
pub(super) fn backoff(receive_count: u32) -> Duration {
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
