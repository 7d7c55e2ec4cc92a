//! Lambda's SQS event source, played in-process: it long-polls a queue as the event source
//! mapping does, hands each batch to the dispatcher function's own handler
//! ([`imgate_dispatcher_fn::handle`]) as the SQS event Lambda would deliver, and deletes the
//! records the partial batch response does not name. Tests and benches thereby run the
//! dispatcher function's exact code path on moto, and count what the mapping itself asks of SQS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use imgate_core::dispatch::Dispatcher;
use imgate_dispatcher_fn::SqsEvent;
use serde_json::{Value, json};
use tokio::sync::watch;

/// The region moto's resources are made in.
const REGION: &str = "us-east-1";

/// The event Lambda's SQS event source would deliver for `messages` of the queue `queue_arn`.
///
/// # Errors
/// When the records do not make an [`SqsEvent`] (they always should).
pub fn sqs_event(queue_arn: &str, messages: &[Message]) -> serde_json::Result<SqsEvent> {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<&str, &str> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
}

/// The dispatcher function's invocations so far: how long each took (Lambda bills by it).
#[derive(Clone, Default)]
pub struct Invocations(Arc<Mutex<Vec<Duration>>>);

impl Invocations {
    /// Every invocation's duration, in order.
    pub fn durations(&self) -> Vec<Duration> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn push(&self, took: Duration) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(took);
    }
}

/// One queue's event source mapping, running until dropped.
pub struct EventSource {
    /// The dispatcher function's invocations.
    pub invocations: Invocations,
    stop: watch::Sender<bool>,
}

impl Drop for EventSource {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The mapping's settings, as infra/template.yaml sets them.
const BATCH_SIZE: i32 = 10;
/// Long polling, as the event source mapping does it.
const WAIT_SECONDS: i32 = 20;

impl EventSource {
    /// Starts polling `queue_url` (ARN `queue_arn`) through `sqs`, invoking `dispatcher`: one
    /// poller, one batch at a time.
    pub fn start(sqs: aws_sdk_sqs::Client, queue_url: String, queue_arn: String, dispatcher: Dispatcher) -> Self {
        Self::start_pollers(sqs, queue_url, queue_arn, dispatcher, 1)
    }

    /// As [`EventSource::start`] with `pollers` pollers, each invoking its own batches, as
    /// Lambda's mapping scales out under load (it starts with five concurrent batches).
    pub fn start_pollers(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        queue_arn: String,
        dispatcher: Dispatcher,
        pollers: usize,
    ) -> Self {
        let invocations = Invocations::default();
        let (stop, stopped) = watch::channel(false);
        for _ in 0..pollers.max(1) {
            Self::poll(
                sqs.clone(),
                queue_url.clone(),
                queue_arn.clone(),
                dispatcher.clone(),
                invocations.clone(),
                stopped.clone(),
            );
        }
        Self { invocations, stop }
    }

    fn poll(
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        queue_arn: String,
        dispatcher: Dispatcher,
        recorded: Invocations,
        mut stopped: watch::Receiver<bool>,
    ) {
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stopped.changed() => return,
                    received = sqs
                        .receive_message()
                        .queue_url(&queue_url)
                        .max_number_of_messages(BATCH_SIZE)
                        .wait_time_seconds(WAIT_SECONDS)
                        .message_system_attribute_names(MessageSystemAttributeName::All)
                        .send() => received,
                };
                let messages = match received {
                    Ok(output) => output.messages.unwrap_or_default(),
                    Err(error) => {
                        tracing::warn!(%error, "event source: receive failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if messages.is_empty() {
                    continue;
                }
                invoke(&sqs, &queue_url, &queue_arn, &dispatcher, &messages, &recorded).await;
            }
        });
    }
}

/// One invocation, then the mapping's part: delete what succeeded in one batch call; the failed
/// records come back when their visibility ends.
async fn invoke(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    queue_arn: &str,
    dispatcher: &Dispatcher,
    messages: &[Message],
    invocations: &Invocations,
) {
    let Ok(event) = sqs_event(queue_arn, messages) else {
        tracing::warn!("event source: records do not make an SQS event");
        return;
    };
    let started = Instant::now();
    let failed: Vec<String> = match imgate_dispatcher_fn::handle(dispatcher, event).await {
        Ok(response) => response
            .batch_item_failures
            .into_iter()
            .map(|failure| failure.item_identifier)
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "event source: the whole batch failed");
            messages.iter().filter_map(|m| m.message_id.clone()).collect()
        }
    };
    invocations.push(started.elapsed());
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id().is_some_and(|id| failed.iter().any(|f| f == id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    if let Err(error) = sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        tracing::warn!(%error, "event source: delete failed");
    }
}
