//! Creating the queues the backend expects (tests and local bootstrap; on AWS the SAM template
//! creates them).

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::error::SetupError;

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
    let fifo = [(QueueAttributeName::FifoQueue, "true".to_owned())];
    let dlq_url = create_queue(client, &format!("{base}-dlq.fifo"), &fifo).await?;
    let redrive = redrive_policy(client, &dlq_url, max_receive_count).await?;
    let queue_url = create_queue(
        client,
        &format!("{base}.fifo"),
        &[
            (QueueAttributeName::FifoQueue, "true".to_owned()),
            (QueueAttributeName::ContentBasedDeduplication, "false".to_owned()),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await?;
    tracing::info!(queue = base, max_receive_count, "created sqs fifo queue with dlq");
    Ok((queue_url, dlq_url))
}

/// Creates the standard delay queue `<name>-delay` with a redrive policy to the standard
/// dead-letter queue `<name>-delay-dlq` after `max_receive_count` receives. Returns
/// `(delay_queue_url, delay_dlq_url)`. Used by tests and local bootstrap; production queues come
/// from the SAM template.
pub async fn create_delay_queue_with_dlq(
    client: &Client,
    name: &str,
    max_receive_count: u32,
) -> Result<(String, String), SetupError> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let dlq_url = create_queue(client, &format!("{base}-delay-dlq"), &[]).await?;
    let redrive = redrive_policy(client, &dlq_url, max_receive_count).await?;
    let queue_url = create_queue(
        client,
        &format!("{base}-delay"),
        &[(QueueAttributeName::RedrivePolicy, redrive)],
    )
    .await?;
    tracing::info!(queue = base, max_receive_count, "created sqs delay queue with dlq");
    Ok((queue_url, dlq_url))
}

async fn create_queue(
    client: &Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<String, SetupError> {
    let mut request = client.create_queue().queue_name(name);
    for (attribute, value) in attributes {
        request = request.attributes(attribute.clone(), value);
    }
    request
        .send()
        .await
        .map_err(|e| SetupError::aws("CreateQueue", e))?
        .queue_url
        .ok_or(SetupError::MissingField {
            operation: "CreateQueue",
            field: "QueueUrl",
        })
}

/// The `RedrivePolicy` attribute sending messages to the queue at `dlq_url`.
async fn redrive_policy(client: &Client, dlq_url: &str, max_receive_count: u32) -> Result<String, SetupError> {
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(dlq_url)
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
    Ok(serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    })
    .to_string())
}
