//! SQS batches: groups in parallel, each group in order, and the rest of a failed group
//! reported failed so the queue keeps its order.

use futures_util::future::join_all;

use super::Dispatcher;
use super::heartbeat::Heartbeat;
use super::worker::backoff;
use crate::crash;

/// One record of a queue batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// The queue's message id (reported back on failure).
    pub id: String,
    /// The [`Queue`] receipt that keeps the message hidden while it is handled, when the
    /// dispatcher may manage its visibility (Lambda's SQS records carry one).
    pub receipt: Option<String>,
    /// The FIFO group ("" for timer messages, each of which stands alone).
    pub group: String,
    /// The body.
    pub body: String,
    /// Receives so far, this one included.
    pub receive_count: u32,
}

/// Splits records into groups, keeping the batch order inside each group.
pub fn group_in_order(records: Vec<BatchRecord>) -> Vec<Vec<BatchRecord>> {
    let mut groups: Vec<Vec<BatchRecord>> = Vec::new();
    for record in records {
        let slot = if record.group.is_empty() {
            None
        } else {
            groups.iter().position(|g| g[0].group == record.group)
        };
        match slot {
            Some(i) => groups[i].push(record),
            None => groups.push(vec![record]),
        }
    }
    groups
}

impl Dispatcher {
    /// Handles a batch; returns the ids of the records to report as failed.
    ///
    /// Records that carry a receipt are first hidden for the dispatcher's short visibility
    /// (instead of the queue's long default) and kept hidden by a heartbeat while the batch is
    /// handled, so a function that dies mid-answer frees its conversations within that
    /// visibility; a failed record is shown again after the worker's backoff.
    pub async fn handle_batch(&self, records: Vec<BatchRecord>) -> Vec<String> {
        let receipts: Vec<String> = records.iter().filter_map(|r| r.receipt.clone()).collect();
        if !receipts.is_empty()
            && let Err(error) = self.queue.extend_visibility(&receipts, self.settings.visibility).await
        {
            tracing::warn!(%error, "shortening the visibility of a batch failed; its messages keep the queue's");
        }
        let heartbeat = Heartbeat::start(self.queue.clone(), receipts, self.settings.visibility);
        let groups = group_in_order(records);
        let results = join_all(groups.into_iter().map(|group| self.handle_group(group, &heartbeat))).await;
        results.into_iter().flatten().collect()
    }

    async fn handle_group(&self, group: Vec<BatchRecord>, heartbeat: &Heartbeat) -> Vec<String> {
        let mut failed = Vec::new();
        let mut records = group.into_iter();
        for record in records.by_ref() {
            match self.handle(&record.body, record.receive_count).await {
                Ok(()) => {
                    crash::point("queue.before_ack").await;
                    if let Some(receipt) = &record.receipt {
                        heartbeat.done(receipt);
                    }
                }
                Err(error) => {
                    tracing::warn!(message_id = %record.id, attempt = record.receive_count, %error, "message failed; will retry");
                    if let Some(receipt) = &record.receipt {
                        heartbeat.done(receipt);
                        let delay = backoff(record.receive_count);
                        if let Err(error) = self.queue.retry_later(receipt, delay).await {
                            tracing::warn!(%error, "scheduling a retry failed; the visibility brings it back");
                        }
                    }
                    failed.push(record.id);
                    break;
                }
            }
        }
        for record in records {
            if let Some(receipt) = &record.receipt {
                heartbeat.done(receipt);
            }
            failed.push(record.id);
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, group: &str) -> BatchRecord {
        BatchRecord {
            id: id.into(),
            receipt: None,
            group: group.into(),
            body: String::new(),
            receive_count: 1,
        }
    }

    #[test]
    fn groups_keep_order_and_timers_stand_alone() {
        let groups = group_in_order(vec![
            rec("1", "a"),
            rec("2", "b"),
            rec("3", "a"),
            rec("4", ""),
            rec("5", ""),
        ]);
        let ids: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.iter().map(|r| r.id.as_str()).collect())
            .collect();
        assert_eq!(ids, vec![vec!["1", "3"], vec!["2"], vec!["4"], vec!["5"]]);
    }
}
