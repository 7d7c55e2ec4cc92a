//! A fresh AWS backend (table, FIFO queue + DLQ, delay queue + DLQ, KMS key, media bucket) on
//! the shared moto server.

use anyhow::{Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use imgate_aws::{AwsSettings, create_delay_queue_with_dlq, create_fifo_queue_with_dlq, create_table, deps_with};
use imgate_core::ports::Deps;

use crate::moto::{MotoServer, unique_name};

/// Creates every resource the AWS backend needs and returns the wired ports.
pub async fn fresh_deps(max_receives: u32) -> Result<Deps> {
    fresh_deps_with(&MotoServer::shared().sdk_config(), max_receives).await
}

/// As [`fresh_deps`], through `config` (e.g. the shared server's, pointed at a counting proxy).
pub async fn fresh_deps_with(config: &aws_config::SdkConfig, max_receives: u32) -> Result<Deps> {
    Ok(fresh_backend_with(config, max_receives).await?.deps)
}

/// A fresh media bucket on the shared moto server, as the store the dispatcher keeps media in.
pub async fn fresh_media_store() -> Result<imgate_aws::S3MediaStore> {
    let store = imgate_aws::S3MediaStore::from_config(&MotoServer::shared().sdk_config(), unique_name("imgate-media"));
    store.create_bucket().await.context("create media bucket")?;
    Ok(store)
}

/// A fresh AWS backend with the names of its resources, for code that plays an AWS service
/// itself (e.g. Lambda's SQS event source in [`crate::event_source`]).
pub struct AwsBackend {
    /// The wired ports.
    pub deps: Deps,
    /// The resources' names.
    pub settings: AwsSettings,
    /// The inbound FIFO queue's ARN.
    pub queue_arn: String,
    /// An SQS client on the same configuration.
    pub sqs: aws_sdk_sqs::Client,
}

/// Creates every resource the AWS backend needs through `config`.
pub async fn fresh_backend_with(config: &aws_config::SdkConfig, max_receives: u32) -> Result<AwsBackend> {
    let config = config.clone();
    let table = unique_name("imgate");
    create_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .context("create table")?;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_name = unique_name("imgate");
    let (queue_url, dead_letter_queue_url) = create_fifo_queue_with_dlq(&sqs, &queue_name, max_receives)
        .await
        .context("create queues")?;
    let (delay_queue_url, delay_dead_letter_queue_url) = create_delay_queue_with_dlq(&sqs, &queue_name, max_receives)
        .await
        .context("create delay queues")?;
    let key = aws_sdk_kms::Client::new(&config)
        .create_key()
        .send()
        .await
        .context("create KMS key")?;
    let kms_key_id = key
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .context("KMS key id")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("queue attributes")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("queue ARN")?;
    let settings = AwsSettings {
        table,
        queue_url,
        dead_letter_queue_url,
        delay_queue_url,
        delay_dead_letter_queue_url: Some(delay_dead_letter_queue_url),
        kms_key_id,
    };
    Ok(AwsBackend {
        deps: deps_with(&config, &settings).await,
        settings,
        queue_arn,
        sqs,
    })
}
