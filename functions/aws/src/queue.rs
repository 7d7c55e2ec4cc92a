//! [`SqsQueue`]: the [`Queue`] port on an SQS FIFO queue with a FIFO dead-letter queue, plus a
//! standard "delay queue" (with its own standard dead-letter queue) for timer messages.
//!
//! The message group is the conversation key (order per conversation, parallel across them), the
//! deduplication id is the platform message id (hashed when SQS would refuse it), and SQS moves a
//! message to the dead-letter queue once it has been received `maxReceiveCount` times.
//!
//! FIFO queues only know per-queue delays, so [`Queue::enqueue_delayed`] sends to the delay queue
//! with `DelaySeconds`. [`Queue::receive`] takes from the FIFO queue first and fills the rest of
//! the batch from the delay queue; every receipt starts with the queue it came from
//! (`fifo:`, `delay:`, `fifo-dlq:`, `delay-dlq:`), so `ack` and `retry_later` reach the right one.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityError;
use aws_sdk_sqs::operation::delete_message::DeleteMessageError;
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName};
use imgate_core::ports::{Delivery, MAX_QUEUE_DELAY, OutgoingMessage, Queue, QueueError};
use sha2::{Digest, Sha256};

/// Most messages one `ReceiveMessage` call returns.
const MAX_BATCH: usize = 10;
/// Longest visibility timeout SQS accepts (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// Longest message group / deduplication id SQS accepts.
const MAX_ID_LEN: usize = 128;
/// Largest message body SQS accepts (256 KiB).
const MAX_BODY_BYTES: usize = 262_144;

/// Which queue a message (and so its receipt) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The inbound FIFO queue.
    Inbound,
    /// The standard delay queue (timer messages).
    Delay,
    /// The FIFO dead-letter queue.
    InboundDead,
    /// The delay queue's standard dead-letter queue.
    DelayDead,
}

impl Source {
    const ALL: [Self; 4] = [Self::Inbound, Self::Delay, Self::InboundDead, Self::DelayDead];

    /// The receipt prefix naming this queue.
    fn prefix(self) -> &'static str {
        match self {
            Self::Inbound => "fifo:",
            Self::Delay => "delay:",
            Self::InboundDead => "fifo-dlq:",
            Self::DelayDead => "delay-dlq:",
        }
    }

    /// FIFO queues carry message groups; standard ones deliver with an empty group.
    fn is_fifo(self) -> bool {
        matches!(self, Self::Inbound | Self::InboundDead)
    }

    /// Splits a receipt into its queue and SQS's receipt handle.
    fn parse(receipt: &str) -> Option<(Self, &str)> {
        Self::ALL.into_iter().find_map(|source| {
            receipt
                .strip_prefix(source.prefix())
                .filter(|handle| !handle.is_empty())
                .map(|handle| (source, handle))
        })
    }
}

/// A FIFO queue and its dead-letter queue, and the delay queue for timer messages.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: String,
    delay_queue_url: String,
    delay_dead_letter_queue_url: Option<String>,
    wait_time_seconds: i32,
    /// With long polling: when the second queue was last polled after a first queue that had
    /// messages (see [`SqsQueue::receive_both`]).
    second_polled: std::sync::Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl SqsQueue {
    /// The FIFO queue at `queue_url`, whose redrive policy points at `dead_letter_queue_url`, and
    /// the standard queue at `delay_queue_url` for [`Queue::enqueue_delayed`].
    ///
    /// Receives short-poll by default: `receive` returns what is visible now, like the other
    /// backends. A long poll would also return a message that becomes visible while the call
    /// waits, which callers checking "still hidden" do not expect; pollers that want fewer empty
    /// calls can opt in with [`SqsQueue::with_wait_time`].
    pub fn new(
        client: Client,
        queue_url: impl Into<String>,
        dead_letter_queue_url: impl Into<String>,
        delay_queue_url: impl Into<String>,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            dead_letter_queue_url: dead_letter_queue_url.into(),
            delay_queue_url: delay_queue_url.into(),
            delay_dead_letter_queue_url: None,
            wait_time_seconds: 0,
            second_polled: std::sync::Arc::default(),
        }
    }

    /// Also reads the delay queue's dead-letter queue in [`Queue::receive_dead_letters`].
    pub fn with_delay_dead_letter_queue(mut self, url: impl Into<String>) -> Self {
        self.delay_dead_letter_queue_url = Some(url.into());
        self
    }

    /// Long-polls each receive of the FIFO queue (and of the FIFO dead-letter queue) for up to
    /// `wait` (at most 20 s). The delay queue is always short-polled after it, so with long
    /// polling a due timer message can wait up to `wait` while the FIFO queue is empty.
    pub fn with_wait_time(mut self, wait: Duration) -> Self {
        self.wait_time_seconds = i32::try_from(wait.as_secs().min(20)).unwrap_or(20);
        self
    }

    /// The receipt of a message that Lambda's SQS event source received: `handle` is the
    /// record's `receiptHandle`, from the FIFO queue when the record has a message group and
    /// from the delay queue otherwise (the dispatcher function reads both).
    pub fn event_source_receipt(handle: &str, fifo: bool) -> String {
        let source = if fifo { Source::Inbound } else { Source::Delay };
        format!("{}{handle}", source.prefix())
    }

    /// The main queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The dead-letter queue's URL.
    pub fn dead_letter_queue_url(&self) -> &str {
        &self.dead_letter_queue_url
    }

    /// The delay queue's URL.
    pub fn delay_queue_url(&self) -> &str {
        &self.delay_queue_url
    }

    /// The delay queue's dead-letter queue URL, when set.
    pub fn delay_dead_letter_queue_url(&self) -> Option<&str> {
        self.delay_dead_letter_queue_url.as_deref()
    }

    fn url(&self, source: Source) -> Option<&str> {
        match source {
            Source::Inbound => Some(&self.queue_url),
            Source::Delay => Some(&self.delay_queue_url),
            Source::InboundDead => Some(&self.dead_letter_queue_url),
            Source::DelayDead => self.delay_dead_letter_queue_url.as_deref(),
        }
    }

    /// The queue URL and SQS receipt handle of one of our receipts.
    fn route<'r>(&self, receipt: &'r str) -> Result<(&str, &'r str), QueueError> {
        let (source, handle) = Source::parse(receipt).ok_or(QueueError::UnknownReceipt)?;
        let url = self.url(source).ok_or(QueueError::UnknownReceipt)?;
        Ok((url, handle))
    }

    async fn receive_from(
        &self,
        source: Source,
        max: usize,
        visibility: Duration,
        wait_time_seconds: i32,
    ) -> Result<Vec<Delivery>, QueueError> {
        let Some(url) = self.url(source) else {
            return Ok(Vec::new());
        };
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(clamp_i32(max.min(MAX_BATCH) as u64))
            .visibility_timeout(clamp_i32(whole_seconds(visibility).min(MAX_VISIBILITY_SECS)))
            .wait_time_seconds(wait_time_seconds)
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
                let handle = m
                    .receipt_handle
                    .ok_or_else(|| malformed("message without a receipt handle"))?;
                let group = if source.is_fifo() {
                    attrs
                        .get(&MessageSystemAttributeName::MessageGroupId)
                        .cloned()
                        .ok_or_else(|| malformed("message without a group id"))?
                } else {
                    String::new()
                };
                let receive_count = attrs
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .and_then(|count| count.parse().ok())
                    .ok_or_else(|| malformed("message without a receive count"))?;
                Ok(Delivery {
                    receipt: format!("{}{handle}", source.prefix()),
                    group,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect()
    }

    /// Receives from `first` (waiting as configured), then fills the rest of `max` from `then`
    /// (short poll). If only the second call fails, what the first returned is still handed out:
    /// those messages are already hidden, and failing would strand them until their visibility
    /// ends.
    ///
    /// With long polling (a process polling for itself), `then` is polled after a `first` that
    /// had messages only once per wait time: a busy queue then costs one receive per batch
    /// instead of two, and a due timer message is still at most one wait time late.
    async fn receive_both(
        &self,
        first: Source,
        then: Source,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut got = self
            .receive_from(first, max, visibility, self.wait_time_seconds)
            .await?;
        if got.len() < max && self.second_is_due(!got.is_empty()) {
            match self.receive_from(then, max - got.len(), visibility, 0).await {
                Ok(more) => got.extend(more),
                Err(err) if !got.is_empty() => {
                    tracing::warn!(error = %err, queue = then.prefix(), "receive failed; returning the other queue's messages");
                }
                Err(err) => return Err(err),
            }
        }
        Ok(got)
    }
}

impl SqsQueue {
    /// Whether to poll the second queue now: always after an empty first receive or without
    /// long polling, else once per wait time.
    fn second_is_due(&self, first_had_messages: bool) -> bool {
        if self.wait_time_seconds == 0 || !first_had_messages {
            return true;
        }
        let now = std::time::Instant::now();
        let wait = Duration::from_secs(u64::try_from(self.wait_time_seconds).unwrap_or(0));
        let mut last = self
            .second_polled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some(at) if now.duration_since(at) < wait => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

/// Maps a `SendMessage` failure: refused content and parameters are [`QueueError::Rejected`].
fn send_error<R>(err: SdkError<SendMessageError, R>) -> QueueError
where
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err.as_service_error() {
        Some(SendMessageError::InvalidMessageContents(_)) => {
            QueueError::Rejected("message body has characters SQS does not allow".into())
        }
        Some(e) if is_invalid_parameter(e.code()) => {
            QueueError::Rejected(e.message().unwrap_or("invalid parameter").to_owned())
        }
        _ => backend("SendMessage", err),
    }
}

fn check_body(body: &str) -> Result<(), QueueError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(QueueError::Rejected(format!(
            "message body is {} bytes, more than SQS's {MAX_BODY_BYTES}",
            body.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl Queue for SqsQueue {
    async fn enqueue(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        if !is_valid_fifo_id(&message.group) {
            return Err(QueueError::Rejected(
                "message group must be 1 to 128 printable ASCII characters".into(),
            ));
        }
        check_body(&message.body)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_group_id(&message.group)
            .message_deduplication_id(deduplication_id(&message.dedupe_id))
            .message_body(&message.body)
            .send()
            .await
            .map_err(send_error)?;
        tracing::debug!(
            group = %message.group,
            message_id = out.message_id().unwrap_or_default(),
            "enqueued"
        );
        Ok(())
    }

    async fn receive(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_both(Source::Inbound, Source::Delay, max, visibility).await
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let (url, handle) = self.route(receipt)?;
        let result = self
            .client
            .delete_message()
            .queue_url(url)
            .receipt_handle(handle)
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
        let (url, handle) = self.route(receipt)?;
        let result = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
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

    async fn extend_visibility(&self, receipts: &[String], visibility: Duration) -> Result<(), QueueError> {
        let timeout = clamp_i32(whole_seconds(visibility).min(MAX_VISIBILITY_SECS));
        // One batch call per queue and ten receipts (SQS's batch limit).
        let mut by_queue: Vec<(&str, Vec<&str>)> = Vec::new();
        for receipt in receipts {
            let Ok((url, handle)) = self.route(receipt) else {
                continue;
            };
            match by_queue.iter_mut().find(|(u, _)| *u == url) {
                Some((_, handles)) => handles.push(handle),
                None => by_queue.push((url, vec![handle])),
            }
        }
        for (url, handles) in by_queue {
            for chunk in handles.chunks(MAX_BATCH) {
                let entries = chunk
                    .iter()
                    .enumerate()
                    .map(|(i, handle)| {
                        ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(*handle)
                            .visibility_timeout(timeout)
                            .build()
                            .map_err(|_| malformed("visibility batch entry"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .change_message_visibility_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| backend("ChangeMessageVisibilityBatch", e))?;
                // Entries that failed (already deleted, received again) are skipped on purpose.
                if !out.failed.is_empty() {
                    tracing::debug!(failed = out.failed.len(), "some receipts no longer hold a message");
                }
            }
        }
        Ok(())
    }

    async fn enqueue_delayed(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        if delay > MAX_QUEUE_DELAY {
            return Err(QueueError::Rejected(format!(
                "delay of {} s is longer than SQS's {} s",
                delay.as_secs(),
                MAX_QUEUE_DELAY.as_secs()
            )));
        }
        check_body(body)?;
        let out = self
            .client
            .send_message()
            .queue_url(&self.delay_queue_url)
            .delay_seconds(clamp_i32(whole_seconds(delay)))
            .message_body(body)
            .send()
            .await
            .map_err(send_error)?;
        tracing::debug!(
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            message_id = out.message_id().unwrap_or_default(),
            "enqueued delayed"
        );
        Ok(())
    }

    async fn receive_dead_letters(&self, max: usize, visibility: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_both(Source::InboundDead, Source::DelayDead, max, visibility)
            .await
    }
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
        hex::encode(Sha256::digest(id.as_bytes()))
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

mod setup;

pub use setup::{create_delay_queue_with_dlq, create_fifo_queue_with_dlq};

#[cfg(test)]
mod tests;
