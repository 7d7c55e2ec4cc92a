//! SQS batches: groups in parallel, each group in order, and the rest of a failed group
//! reported failed so the queue keeps its order.

use futures_util::future::join_all;

use super::Dispatcher;

/// One record of a queue batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// The queue's message id (reported back on failure).
    pub id: String,
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
    pub async fn handle_batch(&self, records: Vec<BatchRecord>) -> Vec<String> {
        let groups = group_in_order(records);
        let results = join_all(groups.into_iter().map(|group| self.handle_group(group))).await;
        results.into_iter().flatten().collect()
    }

    async fn handle_group(&self, group: Vec<BatchRecord>) -> Vec<String> {
        let mut failed = Vec::new();
        let mut records = group.into_iter();
        for record in records.by_ref() {
            if let Err(error) = self.handle(&record.body, record.receive_count).await {
                tracing::warn!(message_id = %record.id, attempt = record.receive_count, %error, "message failed; will retry");
                failed.push(record.id);
                break;
            }
        }
        failed.extend(records.map(|r| r.id));
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, group: &str) -> BatchRecord {
        BatchRecord {
            id: id.into(),
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
