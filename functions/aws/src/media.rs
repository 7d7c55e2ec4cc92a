//! The media users send, kept for agents in an S3 bucket: `PutObject` with the file's content
//! type under `media/<name>`, and a presigned `GetObject` URL that works for the link's time.
//!
//! The bucket's lifecycle rule (infra/template.yaml) removes the objects a day or two later, so
//! nothing here deletes. A redelivered message puts its files again under the same names,
//! replacing them. Errors name the operation and the service's error code, never the bucket,
//! the key or the URL.
//!
//! A presigned URL stops working when the credentials that signed it expire, even before its
//! own expiry: Lambda's role credentials last hours, so a link handed out late in their life
//! may end early. Agents read their links right away; the 24-hour default is the upper bound.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use imgate_core::Timestamp;
use imgate_core::ports::{MediaError, MediaStore, StoredMedia};

use crate::config::ConfigError;
use crate::error::SetupError;

/// Environment variable naming the media bucket (the dispatcher's, and the relay's when it
/// runs the dispatcher). Unset: media are described to agents, not kept.
pub const MEDIA_BUCKET_VAR: &str = "IMGATE_MEDIA_BUCKET";
/// The longest a presigned URL can work (SigV4 allows 7 days).
pub const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Where in the bucket files are kept (the template's lifecycle rule and IAM grants name it).
pub const MEDIA_PREFIX: &str = "media/";

/// Files kept for agents in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3MediaStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3MediaStore {
    /// The store over `bucket` through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// The store over `bucket` with `config`'s region and credentials. With a custom endpoint
    /// (`AWS_ENDPOINT_URL`: moto, LocalStack, MinIO) buckets are addressed by path, as such
    /// servers expect; on AWS itself by host name.
    pub fn from_config(config: &SdkConfig, bucket: impl Into<String>) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self::new(aws_sdk_s3::Client::from_conf(s3), bucket)
    }

    /// Creates the bucket (for tests and local set-up; the SAM template creates it on AWS).
    ///
    /// # Errors
    /// [`SetupError`] when S3 refuses.
    pub async fn create_bucket(&self) -> Result<(), SetupError> {
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| SetupError::aws("CreateBucket", e))?;
        Ok(())
    }

    /// The store named by [`MEDIA_BUCKET_VAR`] with `config`, or `None` when the variable is
    /// unset or blank.
    pub fn from_env(config: &SdkConfig) -> Option<Self> {
        bucket_from_lookup(|name| std::env::var(name).ok()).map(|bucket| Self::from_config(config, bucket))
    }
}

/// The bucket [`MEDIA_BUCKET_VAR`] names through `lookup`, if any.
pub fn bucket_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup(MEDIA_BUCKET_VAR)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Loads the SDK configuration from the environment and builds the store [`MEDIA_BUCKET_VAR`]
/// names, if it names one (what the dispatcher function and the relay keep media in).
///
/// # Errors
/// None today; [`ConfigError`] keeps the signature of the other `*_from_env` functions.
pub async fn media_store_from_env() -> Result<Option<Arc<dyn MediaStore>>, ConfigError> {
    if bucket_from_lookup(|name| std::env::var(name).ok()).is_none() {
        return Ok(None);
    }
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::config::http_client())
        .load()
        .await;
    Ok(S3MediaStore::from_env(&config).map(|store| Arc::new(store) as Arc<dyn MediaStore>))
}

/// A storage failure worded without the bucket, key or URL.
fn failed<E: ProvideErrorMetadata>(operation: &str, error: &E) -> MediaError {
    let code = error.code().unwrap_or("no error code");
    tracing::warn!(operation, code, "S3 call for media failed");
    MediaError::Storage(format!("S3 {operation} failed ({code})"))
}

#[async_trait]
impl MediaStore for S3MediaStore {
    async fn put(&self, key: &str, bytes: &[u8], mime: &str, ttl: Duration) -> Result<StoredMedia, MediaError> {
        let key = format!("{MEDIA_PREFIX}{key}");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(mime)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map_err(|e| failed("PutObject", &e))?;
        let ttl = ttl.min(MAX_LINK_TTL);
        let signed_at = SystemTime::now();
        let presigning = PresigningConfig::builder()
            .start_time(signed_at)
            .expires_in(ttl)
            .build()
            .map_err(|_| MediaError::Storage("the link's lifetime is out of range".to_owned()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| failed("GetObject presign", &e))?;
        let signed_ms = signed_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Ok(StoredMedia {
            url: request.uri().to_owned(),
            expires_at: Timestamp::from_millis(signed_ms).plus(ttl),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_comes_from_its_variable() {
        let named = |value: &'static str| move |name: &str| (name == MEDIA_BUCKET_VAR).then(|| value.to_owned());
        assert_eq!(
            bucket_from_lookup(named(" imgate-media ")),
            Some("imgate-media".to_owned())
        );
        assert_eq!(bucket_from_lookup(named("  ")), None);
        assert_eq!(bucket_from_lookup(|_| None), None);
    }
}
