//! A fresh AWS backend (table, FIFO queue + DLQ, delay queue + DLQ, KMS key) on the shared moto
//! server.

use anyhow::{Context, Result};
use imgate_aws::{AwsSettings, create_delay_queue_with_dlq, create_fifo_queue_with_dlq, create_table, deps_with};
use imgate_core::ports::Deps;

use crate::moto::{MotoServer, unique_name};

/// Creates every resource the AWS backend needs and returns the wired ports.
pub async fn fresh_deps(max_receives: u32) -> Result<Deps> {
    let config = MotoServer::shared().sdk_config();
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
    let settings = AwsSettings {
        table,
        queue_url,
        dead_letter_queue_url,
        delay_queue_url,
        delay_dead_letter_queue_url: Some(delay_dead_letter_queue_url),
        kms_key_id,
    };
    Ok(deps_with(&config, &settings).await)
}
