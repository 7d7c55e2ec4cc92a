//! Typed settings from the environment and the wiring of the three adapters into [`Deps`].
//!
//! The AWS SDK configuration comes from `aws_config::defaults`, which honours the usual
//! variables (region, credentials, `AWS_ENDPOINT_URL` for moto or LocalStack), so there is no
//! "local mode" switch here.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use imgate_core::ports::Deps;

use crate::keyring::KmsKeyring;
use crate::queue::SqsQueue;
use crate::store::DynamoStore;

/// Environment variable naming the DynamoDB table.
pub const TABLE_VAR: &str = "IMGATE_TABLE";
/// Environment variable with the inbound FIFO queue URL.
pub const QUEUE_URL_VAR: &str = "IMGATE_QUEUE_URL";
/// Environment variable with the dead-letter queue URL.
pub const DLQ_URL_VAR: &str = "IMGATE_DLQ_URL";
/// Environment variable with the standard delay queue URL (timer messages).
pub const DELAY_QUEUE_URL_VAR: &str = "IMGATE_DELAY_QUEUE_URL";
/// Optional environment variable with the delay queue's dead-letter queue URL; when set,
/// `receive_dead_letters` reads it too.
pub const DELAY_DLQ_URL_VAR: &str = "IMGATE_DELAY_DLQ_URL";
/// Environment variable with the KMS key id, ARN or alias.
pub const KMS_KEY_ID_VAR: &str = "IMGATE_KMS_KEY_ID";

/// A required setting is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The variable is unset or empty.
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
}

/// Where the AWS resources are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    /// DynamoDB table ([`TABLE_VAR`]).
    pub table: String,
    /// SQS FIFO queue URL ([`QUEUE_URL_VAR`]).
    pub queue_url: String,
    /// SQS FIFO dead-letter queue URL ([`DLQ_URL_VAR`]).
    pub dead_letter_queue_url: String,
    /// SQS standard delay queue URL ([`DELAY_QUEUE_URL_VAR`]).
    pub delay_queue_url: String,
    /// The delay queue's dead-letter queue URL ([`DELAY_DLQ_URL_VAR`], optional).
    pub delay_dead_letter_queue_url: Option<String>,
    /// KMS key for secrets at rest ([`KMS_KEY_ID_VAR`]).
    pub kms_key_id: String,
}

impl AwsSettings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let optional = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let get = |name: &'static str| optional(name).ok_or(ConfigError::Missing(name));
        Ok(Self {
            table: get(TABLE_VAR)?,
            queue_url: get(QUEUE_URL_VAR)?,
            dead_letter_queue_url: get(DLQ_URL_VAR)?,
            delay_queue_url: get(DELAY_QUEUE_URL_VAR)?,
            delay_dead_letter_queue_url: optional(DELAY_DLQ_URL_VAR),
            kms_key_id: get(KMS_KEY_ID_VAR)?,
        })
    }
}

/// Loads the SDK configuration and the settings from the environment and builds the adapters.
pub async fn deps_from_env() -> Result<Deps, ConfigError> {
    deps_from_env_polling(Duration::ZERO).await
}

/// As [`deps_from_env`], for a process that polls the queues itself (the relay running the
/// dispatcher): each FIFO receive long-polls for up to `wait`, so an idle process makes a pair
/// of receives (FIFO, then delay queue) per `wait` instead of per poll. A due timer message
/// (an aggregation flush) can then wait up to `wait` while the FIFO queue is empty.
///
/// # Errors
/// [`ConfigError`] naming the variable that is missing or unusable.
pub async fn deps_from_env_polling(wait: Duration) -> Result<Deps, ConfigError> {
    let settings = AwsSettings::from_env()?;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await;
    Ok(deps_polling(&config, &settings, wait))
}

fn sqs_queue(config: &SdkConfig, settings: &AwsSettings) -> SqsQueue {
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::new(config),
        &settings.queue_url,
        &settings.dead_letter_queue_url,
        &settings.delay_queue_url,
    );
    match &settings.delay_dead_letter_queue_url {
        Some(url) => queue.with_delay_dead_letter_queue(url),
        None => queue,
    }
}

/// The HTTP(S) client the AWS clients use: rustls with ring and the system's root
/// certificates, sharing the TLS stack the rest of imgate uses.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Builds the DynamoDB store, SQS queue and KMS keyring for `settings`. Nothing is called yet
/// (the KMS data key is generated on first use); `async` so wiring can grow lookups later
/// without changing callers.
pub async fn deps_with(config: &SdkConfig, settings: &AwsSettings) -> Deps {
    deps_polling(config, settings, Duration::ZERO)
}

/// The adapters for `settings`, the queue's receives long-polling for up to `wait` (none for
/// zero).
fn deps_polling(config: &SdkConfig, settings: &AwsSettings, wait: Duration) -> Deps {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(config), &settings.table);
    let queue = sqs_queue(config, settings).with_wait_time(wait);
    let keyring = KmsKeyring::new(aws_sdk_kms::Client::new(config), &settings.kms_key_id);
    Deps {
        store: Arc::new(store),
        queue: Arc::new(queue),
        keyring: Arc::new(keyring),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_every_setting() {
        let settings = AwsSettings::from_lookup(vars(&[
            (TABLE_VAR, "imgate"),
            (QUEUE_URL_VAR, "https://sqs/q.fifo"),
            (DLQ_URL_VAR, "https://sqs/dlq.fifo"),
            (DELAY_QUEUE_URL_VAR, "https://sqs/delay"),
            (DELAY_DLQ_URL_VAR, "https://sqs/delay-dlq"),
            (KMS_KEY_ID_VAR, "alias/imgate"),
        ]))
        .expect("settings");
        assert_eq!(settings.table, "imgate");
        assert_eq!(settings.dead_letter_queue_url, "https://sqs/dlq.fifo");
        assert_eq!(settings.delay_queue_url, "https://sqs/delay");
        assert_eq!(
            settings.delay_dead_letter_queue_url.as_deref(),
            Some("https://sqs/delay-dlq")
        );
        assert_eq!(settings.kms_key_id, "alias/imgate");
    }

    #[test]
    fn delay_queue_is_required_and_its_dlq_optional() {
        let base = [
            (TABLE_VAR, "imgate"),
            (QUEUE_URL_VAR, "https://sqs/q.fifo"),
            (DLQ_URL_VAR, "https://sqs/dlq.fifo"),
            (KMS_KEY_ID_VAR, "alias/imgate"),
        ];
        assert_eq!(
            AwsSettings::from_lookup(vars(&base)).expect_err("no delay queue"),
            ConfigError::Missing(DELAY_QUEUE_URL_VAR)
        );
        let mut with_delay = base.to_vec();
        with_delay.push((DELAY_QUEUE_URL_VAR, "https://sqs/delay"));
        let settings = AwsSettings::from_lookup(vars(&with_delay)).expect("settings");
        assert_eq!(settings.delay_dead_letter_queue_url, None);
    }

    #[test]
    fn names_the_missing_variable() {
        let err = AwsSettings::from_lookup(vars(&[
            (TABLE_VAR, "imgate"),
            (QUEUE_URL_VAR, "https://sqs/q.fifo"),
            (DLQ_URL_VAR, " "),
        ]))
        .expect_err("missing");
        assert_eq!(err, ConfigError::Missing(DLQ_URL_VAR));
        assert!(err.to_string().contains("IMGATE_DLQ_URL"));
    }
}
