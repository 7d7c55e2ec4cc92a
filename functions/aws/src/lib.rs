#![doc = r#"DynamoDB, SQS and KMS implementations of the imgate ports.

- [`DynamoStore`]: every store port (organizations, integrations, agents, triggers, sessions,
  dedupe, leases, event log) on one DynamoDB table; the key design is in [`schema`] and
  `docs/dynamodb.md`.
- [`SqsQueue`]: the inbound queue on an SQS FIFO queue (group = conversation, deduplication id =
  platform message id) with a FIFO dead-letter queue.
- [`KmsKeyring`]: secrets at rest sealed with a per-process data key wrapped by KMS.
- [`deps_from_env`] builds all three from `IMGATE_TABLE`, `IMGATE_QUEUE_URL`, `IMGATE_DLQ_URL`,
  `IMGATE_KMS_KEY_ID` and the standard AWS SDK environment.

[`schema::create_table`] and [`create_fifo_queue_with_dlq`] create the resources for tests and
local bootstrap."#]

mod config;
mod error;
mod item;
mod keyring;
mod queue;
pub mod schema;
mod store;

pub use config::{
    AwsSettings, ConfigError, DLQ_URL_VAR, KMS_KEY_ID_VAR, QUEUE_URL_VAR, TABLE_VAR, deps_from_env, deps_with,
};
pub use error::SetupError;
pub use keyring::KmsKeyring;
pub use queue::{SqsQueue, create_fifo_queue_with_dlq};
pub use schema::create_table;
pub use store::DynamoStore;
