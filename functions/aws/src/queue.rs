//! [`SqsQueue`]: the [`Queue`] port on an SQS FIFO queue with a FIFO dead-letter queue.
//!
//! The message group is the conversation key (order per conversation, parallel across them), the
//! deduplication id is the platform message id (hashed when SQS would refuse it), and SQS moves a
//! message to the dead-letter queue once it has been received `maxReceiveCount` times.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use imgate_core::ports::{Delivery, OutgoingMessage, Queue, QueueError};
use sha2::{Digest, Sha256};

use crate::error::SetupError;

/// Most messages one `ReceiveMessage` call returns.
const MAX_BATCH: usize = 10;
/// Longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// Longest message group / deduplication id SQS accepts.
const MAX_ID_LEN: usize = 128;
/// Largest message body SQS accepts (256 KiB).
const MAX_BODY_BYTES: usize = 262_144;

/// A FIFO queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: String,
    wait_time_seconds: i32,
}

impl SqsQueue {
    /// The queue at `queue_url`, whose redrive policy points at `dead_letter_queue_url`.
    ///
    /// Receives short-poll by default: `receive` returns what is visible now, like the other
    /// backends. A long poll would also return a message that becomes visible while the call
    /// waits, which callers checking "still hidden" do not expect; pollers that want fewer empty
    /// calls can opt in with [`SqsQueue::with_wait_time`].
    pub fn new(client: Client, queue_url: impl Into<String>, dead_letter_queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url: dead_letter_queue_url.into(),
            wait_time_seconds: 0,
        }
    }

    /// Long-polls each receive for up to `wait` (at most 20 s).
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.wait_time_seconds = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        self
    }

    /// The main queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The dead-letter queue's URL.
    pub fn dead_letter_queue_url(&self) -> &str {
        &self.dead_letter_queue_url
    }

    async fn receive_from(&self, url: &str, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(clamp_i32(max.min(MAX_BATCH) as u64))
            .visibility_timeout(clamp_i32(whole_seconds(visibility).min(MAX_VISIBILITY_SECS)))
            .wait_time_seconds(self.wait_time_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .send()
            .await
            .map_err(|e| backend("ReceiveMessage", e))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.unwrap_or_default();
                let receipt = m
                    .receipt_handle
                    .ok_or_else(|| malformed("message without a receipt handle"))?;
                let group = attrs
                    .get(&MessageSystemAttributeName::MessageGroupId)
                    .cloned()
                    .ok_or_else(|| malformed("message without a group id"))?;
                let receive_count = attrs
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|count| count.parse().ok())
                    .ok_or_else(|| malformed("message without a receive count"))?;
                Ok(Delivery {
                    receipt,
                    group,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        if !is_valid_fifo_id(&message.group) {
            return Err(QueueError::Rejected(
                "message group must be 1 to 128 printable ASCII characters".into(),
            ));
        }
        if message.body.len() > MAX_BODY_BYTES {
            return Err(QueueError::Rejected(format!(
                "message body is {} bytes, more than SQS's {MAX_BODY_BYTES}",
                message.body.len()
            )));
        }
        let result = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(&message.group)
            .message_deduplication_id(deduplication_id(&message.dedupe_id))
            .message_body(&message.body)
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::debug!(
                    group = %message.group,
                    message_id = out.message_id().unwrap_or_default(),
                    "enqueued"
                );
                Ok(())
            }
            Err(err) => match err.as_service_error() {
                Some(SendMessageError::InvalidMessageContents(_)) => Err(QueueError::Rejected(
                    "message body has characters SQS does not allow".into(),
                )),
                Some(e) if is_invalid_parameter(e.code()) => Err(QueueError::Rejected(
                    e.message().unwrap_or("invalid parameter").to_owned(),
                )),
                _ => Err(backend("SendMessage", err)),
            },
        }
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_from(&self.queue_url, max, visibility).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let result = self
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(DeleteMessageError::ReceiptHandleIsInvalid(_)) => Err(QueueError::UnknownReceipt),
                _ => Err(backend("DeleteMessage", err)),
            },
        }
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let result = self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(clamp_i32(whole_seconds(delay).min(MAX_VISIBILITY_SECS)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => match err.as_service_error() {
                Some(
                    ChangeMessageVisibilityError::ReceiptHandleIsInvalid(_)
                    | ChangeMessageVisibilityError::MessageNotInflight(_),
                ) => Err(QueueError::UnknownReceipt),
                _ => Err(backend("ChangeMessageVisibility", err)),
            },
        }
    }

    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_from(&self.dead_letter_queue_url, max, visibility).await
    }
}

/// Creates the FIFO queue `name` (`.fifo` is appended when missing) with explicit deduplication
/// ids (`ContentBasedDeduplication=false`) and a redrive policy to the FIFO dead-letter queue
/// `<name>-dlq.fifo` after `max_receive_count` receives. Returns `(queue_url, dlq_url)`. Used by
/// tests and local bootstrap; production queues come from the SAM template.
pub async fn create_fifo_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receive_count: u32,
) -> Result<(String, String), SetupError> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{base}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .map_err(|e| SetupError::aws("CreateQueue", e))?
        .queue_url
        .ok_or(SetupError::MissingField {
            operation: "CreateQueue",
            field: "QueueUrl",
        })?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| SetupError::aws("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or(SetupError::MissingField {
            operation: "GetQueueAttributes",
            field: "QueueArn",
        })?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    let queue_url = client
        .create_queue()
        .queue_name(format!("{base}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "false")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| SetupError::aws("CreateQueue", e))?
        .queue_url
        .ok_or(SetupError::MissingField {
            operation: "CreateQueue",
            field: "QueueUrl",
        })?;
    tracing::info!(queue = base, max_receive_count, "created sqs fifo queue with dlq");
    Ok((queue_url, dlq_url))
}

/// SQS accepts group and deduplication ids of 1–128 characters from `[!-~]` (printable ASCII
/// without space).
fn is_valid_fifo_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The deduplication id sent to SQS: the id itself when SQS accepts it, else its SHA-256 in hex.
fn deduplication_id(id: &str) -> String {
    if is_valid_fifo_id(id) {
        id.to_owned()
    } else {
        Sha256::digest(id.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Whole seconds, rounding a partial second up (a visibility is never shorter than asked).
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn clamp_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn is_invalid_parameter(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("InvalidParameterValue" | "MissingParameter" | "InvalidParameterValueException")
    )
}

fn backend<E, R>(operation: &'static str, err: SdkError<E, R>) -> QueueError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    tracing::debug!(operation, error = %DisplayErrorContext(&err), "sqs call failed");
    QueueError::Backend(Box::new(err))
}

/// SQS answered with a message the adapter cannot use.
#[derive(Debug, thiserror::Error)]
#[error("malformed SQS response: {0}")]
struct Malformed(&'static str);

fn malformed(what: &'static str) -> QueueError {
    QueueError::Backend(Box::new(Malformed(what)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_pass_through() {
        assert_eq!(deduplication_id("wecom:msg-1"), "wecom:msg-1");
        let max = "a".repeat(128);
        assert_eq!(deduplication_id(&max), max);
    }

    #[test]
    fn long_or_odd_ids_are_hashed() {
        for id in ["a".repeat(129), "has space".into(), "消息".into(), String::new()] {
            let sent = deduplication_id(&id);
            assert_eq!(sent.len(), 64, "{id:?}");
            assert!(sent.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(is_valid_fifo_id(&sent));
        }
        assert_ne!(deduplication_id("a b"), deduplication_id("a  b"));
    }

    #[test]
    fn groups_are_checked() {
        assert!(is_valid_fifo_id("int_0123:abcdef"));
        assert!(!is_valid_fifo_id(""));
        assert!(!is_valid_fifo_id("a\nb"));
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }
}
