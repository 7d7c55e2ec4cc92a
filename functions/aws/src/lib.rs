#![doc = r#"DynamoDB, SQS, KMS and S3 implementations of the imgate ports.

- [`DynamoStore`]: every store port (organizations, integrations, agents, triggers, sessions,
  dedupe, leases, event log, user directory, history, aggregation buffers, stream buffers,
  token cache) on one DynamoDB table; the key design is in [`schema`] and `docs/dynamodb.md`.
- [`SqsQueue`]: the inbound queue on an SQS FIFO queue (group = conversation, deduplication id =
  platform message id) with a FIFO dead-letter queue, plus a standard delay queue (with its own
  dead-letter queue) for timer messages.
- [`KmsKeyring`]: secrets at rest sealed with a per-process data key wrapped by KMS.
- [`S3MediaStore`]: the files users send, kept for agents in an S3 bucket behind presigned
  URLs ([`media_store_from_env`] builds it from `IMGATE_MEDIA_BUCKET`).
- [`deps_from_env`] builds all three from `IMGATE_TABLE`, `IMGATE_QUEUE_URL`, `IMGATE_DLQ_URL`,
  `IMGATE_DELAY_QUEUE_URL`, `IMGATE_KMS_KEY_ID` (and the optional `IMGATE_DELAY_DLQ_URL`) and the
  standard AWS SDK environment.

[`schema::create_table`], [`create_fifo_queue_with_dlq`] and [`create_delay_queue_with_dlq`]
create the resources for tests and local bootstrap."#]

mod config;
mod error;
mod item;
mod keyring;
mod media;
mod queue;
pub mod schema;
mod store;

pub use config::{
    AwsSettings, ConfigError, DELAY_DLQ_URL_VAR, DELAY_QUEUE_URL_VAR, DLQ_URL_VAR, KMS_KEY_ID_VAR, QUEUE_URL_VAR,
    TABLE_VAR, deps_from_env, deps_from_env_polling, deps_with, http_client,
};
pub use error::SetupError;
pub use keyring::KmsKeyring;
pub use media::{MAX_LINK_TTL, MEDIA_BUCKET_VAR, MEDIA_PREFIX, S3MediaStore, bucket_from_lookup, media_store_from_env};
pub use queue::{SqsQueue, create_delay_queue_with_dlq, create_fifo_queue_with_dlq};
pub use schema::create_table;
pub use store::DynamoStore;
