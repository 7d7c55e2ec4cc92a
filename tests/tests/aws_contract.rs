//! The port contracts of `imgate_core::testing`, run against the AWS adapters on moto's server.
//!
//! Each store test gets its own table and each queue test its own FIFO queue + dead-letter queue,
//! so the tests run in parallel on the one shared server.

use std::time::Duration;

use anyhow::{Context, Result};
use imgate_aws::{DynamoStore, KmsKeyring, SqsQueue, create_fifo_queue_with_dlq, create_table};
use imgate_core::crypto::{KeyringError, SealedSecret};
use imgate_core::ports::Keyring;
use imgate_core::testing;
use imgate_tests::moto::{MotoServer, unique_name};

/// Receives before SQS moves a message to the dead-letter queue.
const MAX_RECEIVES: u32 = 3;

async fn fresh_store() -> Result<DynamoStore> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = unique_name("imgate-contract");
    create_table(&client, &table)
        .await
        .with_context(|| format!("create table {table}"))?;
    Ok(DynamoStore::new(client, table))
}

async fn fresh_queue() -> Result<SqsQueue> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_sqs::Client::new(&config);
    let name = unique_name("imgate-contract");
    let (queue_url, dlq_url) = create_fifo_queue_with_dlq(&client, &name, MAX_RECEIVES)
        .await
        .with_context(|| format!("create queue {name}"))?;
    Ok(SqsQueue::new(client, queue_url, dlq_url))
}

#[tokio::test]
async fn orgs_and_api_keys() -> Result<()> {
    testing::orgs_and_api_keys(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn integrations() -> Result<()> {
    testing::integrations(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn agents() -> Result<()> {
    testing::agents(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn triggers() -> Result<()> {
    testing::triggers(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn sessions() -> Result<()> {
    testing::sessions(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn dedupe() -> Result<()> {
    testing::dedupe(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn leases() -> Result<()> {
    testing::leases(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn event_log() -> Result<()> {
    testing::event_log(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn whole_store_contract_on_one_table() -> Result<()> {
    // The contracts generate their own ids, so they also pass side by side on one table.
    testing::store_contract(&fresh_store().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_fifo_per_group() -> Result<()> {
    testing::queue_fifo_per_group(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_dedupe_id() -> Result<()> {
    testing::queue_dedupe_id(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_visibility_and_retry() -> Result<()> {
    testing::queue_visibility_and_retry(&fresh_queue().await?).await;
    Ok(())
}

#[tokio::test]
async fn queue_dead_letters() -> Result<()> {
    testing::queue_dead_letters(&fresh_queue().await?, MAX_RECEIVES).await;
    Ok(())
}

#[tokio::test]
async fn unknown_receipts_are_reported() -> Result<()> {
    use imgate_core::ports::{Queue, QueueError};
    let queue = fresh_queue().await?;
    let err = queue.ack("not-a-receipt").await.expect_err("bogus receipt");
    assert!(
        matches!(err, QueueError::UnknownReceipt),
        "ack of a bogus receipt: {err:?}"
    );
    let err = queue
        .retry_later("not-a-receipt", Duration::ZERO)
        .await
        .expect_err("bogus receipt");
    assert!(
        matches!(err, QueueError::UnknownReceipt),
        "retry of a bogus receipt: {err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn kms_keyring_seals_and_opens() -> Result<()> {
    let config = MotoServer::shared().sdk_config();
    let client = aws_sdk_kms::Client::new(&config);
    let key_id = client
        .create_key()
        .description("imgate contract test")
        .send()
        .await
        .context("create KMS key")?
        .key_metadata
        .map(|m| m.key_id)
        .context("CreateKey returned no key metadata")?;

    let ring = KmsKeyring::new(client.clone(), &key_id);
    let sealed = ring.seal(b"app-secret", "int_a").await?;
    let stored = sealed.as_stored();
    assert!(stored.starts_with("v1.kms."), "sealed format");
    assert!(!stored.contains("app-secret"));
    assert_eq!(ring.open(&sealed, "int_a").await?, b"app-secret");
    assert!(
        matches!(ring.open(&sealed, "int_b").await, Err(KeyringError::Open)),
        "a different context must not open"
    );
    let again = ring.seal(b"app-secret", "int_a").await?;
    assert_ne!(again.as_stored(), stored, "fresh nonce per seal");

    // Another process (an empty cache) opens it through KMS.
    let other = KmsKeyring::new(client.clone(), &key_id);
    assert_eq!(other.open(&sealed, "int_a").await?, b"app-secret");
    assert!(matches!(other.open(&sealed, "int_b").await, Err(KeyringError::Open)));

    // A wrapped key KMS cannot decrypt does not open; text of another format is rejected.
    let (_, body) = stored
        .strip_prefix("v1.kms.")
        .and_then(|rest| rest.split_once('.'))
        .context("split sealed text")?;
    let forged = SealedSecret::from_stored(format!("v1.kms.Zm9yZ2Vka2V5.{body}"));
    assert!(
        matches!(
            KmsKeyring::new(client.clone(), &key_id).open(&forged, "int_a").await,
            Err(KeyringError::Open)
        ),
        "a forged wrapped key must not open"
    );
    assert!(matches!(
        ring.open(&SealedSecret::from_stored("v1.local.YWJj"), "int_a").await,
        Err(KeyringError::Format)
    ));
    Ok(())
}
