//! The SQS event Lambda delivers, to the dispatcher's batch records, and the dispatcher's failed
//! ids back to the partial batch response (`ReportBatchItemFailures`).
//!
//! Records of the FIFO queue carry their `MessageGroupId`; records of the standard delay queue
//! (timer messages) carry none and become group `""`, which the dispatcher handles one by one.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use imgate_core::dispatch::BatchRecord;

/// System attribute with the FIFO message group.
const GROUP_ATTRIBUTE: &str = "MessageGroupId";
/// System attribute with the receives so far, this one included.
const RECEIVE_COUNT_ATTRIBUTE: &str = "ApproximateReceiveCount";

/// The event cannot be turned into batch records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A record without a message id cannot be reported as failed on its own, so the whole
    /// batch is failed instead (Lambda then retries every record; nothing is lost).
    #[error("SQS record {index} has no messageId")]
    MissingMessageId {
        /// Position of the record in the event.
        index: usize,
    },
}

/// Converts every record of `event`, in order.
///
/// A record without a body becomes an empty body (the dispatcher then fails it as unreadable
/// and SQS dead-letters it); a missing or unreadable receive count is taken as the first.
///
/// # Errors
/// [`EventError::MissingMessageId`] when a record has no message id.
pub fn records(event: SqsEvent) -> Result<Vec<BatchRecord>, EventError> {
    event
        .records
        .into_iter()
        .enumerate()
        .map(|(index, message)| record(index, message))
        .collect()
}

fn record(index: usize, message: SqsMessage) -> Result<BatchRecord, EventError> {
    let id = message
        .message_id
        .filter(|id| !id.is_empty())
        .ok_or(EventError::MissingMessageId { index })?;
    let group = message.attributes.get(GROUP_ATTRIBUTE).cloned().unwrap_or_default();
    let receive_count = message
        .attributes
        .get(RECEIVE_COUNT_ATTRIBUTE)
        .and_then(|count| count.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let receipt = message
        .receipt_handle
        .filter(|handle| !handle.is_empty())
        .map(|handle| imgate_aws::SqsQueue::event_source_receipt(&handle, !group.is_empty()));
    Ok(BatchRecord {
        id,
        receipt,
        group,
        body: message.body.unwrap_or_default(),
        receive_count,
    })
}

/// The partial batch response reporting `failed` message ids (empty: the whole batch succeeded).
pub fn response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.set_failures(failed);
    response
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// What Lambda delivers from the FIFO queue (one record) and the standard delay queue (one
    /// record), shaped like a real event.
    const EVENT: &str = include_str!("../tests/fixtures/sqs-event.json");

    fn event() -> SqsEvent {
        serde_json::from_str(EVENT).expect("fixture is an SQS event")
    }

    #[test]
    fn fifo_and_standard_records() {
        let records = records(event()).expect("records");
        assert_eq!(
            records,
            vec![
                BatchRecord {
                    id: "059f36b4-87a3-44ab-83d2-661975830a7d".into(),
                    receipt: Some(
                        "fifo:AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a+Zn2hCw7Xg6FJ4p0Y0d7H2dRk1Qx2bX9e3Ue3c9l5vT8Zb2w=="
                            .into()
                    ),
                    group: "int_0b7c1e2f3a4d5e6f708192a3b4c5d6e7:wecom:conv-1:zhangsan".into(),
                    body: r#"{"v":1,"payload":"fifo"}"#.into(),
                    receive_count: 2,
                },
                BatchRecord {
                    id: "2e1424d4-f796-459a-8184-9c92662be6da".into(),
                    receipt: Some(
                        "delay:AQEBzWwaftRI0KuVm4tP+/7q1rGgNqicHq9iPSo4ZdtI1t6nw+Z4kX1yA9iB2cD3eF4gH5iJ6kL7mN8oP9=="
                            .into()
                    ),
                    group: String::new(),
                    body: r#"{"v":1,"payload":"timer"}"#.into(),
                    receive_count: 1,
                },
            ]
        );
    }

    #[test]
    fn missing_or_odd_attributes_take_safe_defaults() {
        let event: SqsEvent = serde_json::from_value(json!({"Records": [
            {"messageId": "a", "attributes": {"ApproximateReceiveCount": "0"}},
            {"messageId": "b", "body": "x", "attributes": {"ApproximateReceiveCount": "many"}},
            {"messageId": "c", "body": "y", "attributes": null},
        ]}))
        .expect("event");
        let records = records(event).expect("records");
        assert!(records.iter().all(|r| r.receive_count == 1 && r.group.is_empty()));
        assert_eq!(records[0].body, "");
    }

    #[test]
    fn a_record_without_id_fails_the_batch() {
        let event: SqsEvent =
            serde_json::from_value(json!({"Records": [{"messageId": "a", "body": "x"}, {"body": "y"}]}))
                .expect("event");
        assert_eq!(records(event), Err(EventError::MissingMessageId { index: 1 }));
        let event: SqsEvent =
            serde_json::from_value(json!({"Records": [{"messageId": "", "body": "y"}]})).expect("event");
        assert_eq!(records(event), Err(EventError::MissingMessageId { index: 0 }));
    }

    #[test]
    fn no_records_no_work() {
        let event: SqsEvent = serde_json::from_value(json!({"Records": []})).expect("event");
        assert_eq!(records(event), Ok(Vec::new()));
    }

    #[test]
    fn response_shape_is_what_lambda_reads() {
        let json = serde_json::to_value(response(vec!["id-2".into(), "id-4".into()])).expect("json");
        assert_eq!(
            json,
            json!({"batchItemFailures": [{"itemIdentifier": "id-2"}, {"itemIdentifier": "id-4"}]})
        );
        let empty: Value = serde_json::to_value(response(Vec::new())).expect("json");
        assert_eq!(empty, json!({"batchItemFailures": []}));
    }
}
