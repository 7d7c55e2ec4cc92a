//! [`KmsKeyring`]: envelope encryption of secrets at rest under a KMS key.
//!
//! Each process asks KMS for one AES-256 data key (`GenerateDataKey`) on first use and seals with
//! it locally ([`imgate_core::keyring::seal_with`], the record id as associated data). The sealed
//! text carries the KMS-wrapped data key, so any process with `kms:Decrypt` on the key can open
//! it: `v1.kms.<base64 wrapped data key>.<base64 nonce || ciphertext+tag>`. Unwrapped keys are
//! cached by their wrapped blob, so KMS is called once per data key, not once per secret.
//! Key material never leaves memory and is never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::error::{DisplayErrorContext, SdkError};
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use imgate_core::keyring::Keyring;
use imgate_core::keyring::{KEY_LEN, KeyringError, SealedSecret, decode_part, encode_part, open_with, seal_with};
use tokio::sync::OnceCell;

/// Prefix of text sealed by this keyring.
const PREFIX: &str = "v1.kms.";
/// KMS encryption context bound to every data key (visible in CloudTrail, checked on Decrypt).
const KMS_CONTEXT: (&str, &str) = ("purpose", "imgate-secrets");
/// Unwrapped data keys kept in memory before the cache is reset.
const CACHE_LIMIT: usize = 256;

/// This process's data key: the plaintext for sealing and its KMS-wrapped form for the text.
struct DataKey {
    key: [u8; KEY_LEN],
    wrapped: Vec<u8>,
    wrapped_text: String,
}

/// Seals secrets with a per-process data key wrapped by the KMS key `key_id`.
pub struct KmsKeyring {
    client: Client,
    key_id: String,
    data_key: OnceCell<DataKey>,
    unwrapped: Mutex<HashMap<Vec<u8>, [u8; KEY_LEN]>>,
}

impl std::fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKeyring")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl KmsKeyring {
    /// A keyring over the KMS key `key_id` (key id, ARN or `alias/...`).
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
            data_key: OnceCell::new(),
            unwrapped: Mutex::new(HashMap::new()),
        }
    }

    async fn data_key(&self) -> Result<&DataKey, KeyringError> {
        self.data_key
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .generate_data_key()
                    .key_id(&self.key_id)
                    .key_spec(DataKeySpec::Aes256)
                    .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
                    .send()
                    .await
                    .map_err(|e| key_service("GenerateDataKey", &e))?;
                let key = to_key(out.plaintext.as_ref().map(Blob::as_ref))?;
                let wrapped = out
                    .ciphertext_blob
                    .map(Blob::into_inner)
                    .filter(|w| !w.is_empty())
                    .ok_or_else(|| KeyringError::KeyService("GenerateDataKey returned no wrapped key".into()))?;
                tracing::info!(key_id = %self.key_id, "generated a data key");
                Ok(DataKey {
                    key,
                    wrapped_text: encode_part(&wrapped),
                    wrapped,
                })
            })
            .await
    }

    /// The plaintext of a wrapped data key: this process's own, a cached one, or via KMS.
    async fn unwrap_key(&self, wrapped: &[u8]) -> Result<[u8; KEY_LEN], KeyringError> {
        if let Some(own) = self.data_key.get().filter(|k| k.wrapped == wrapped) {
            return Ok(own.key);
        }
        if let Some(key) = self.cache().get(wrapped) {
            return Ok(*key);
        }
        let result = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(KMS_CONTEXT.0, KMS_CONTEXT.1)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                return Err(match err.as_service_error() {
                    Some(DecryptError::InvalidCiphertextException(_) | DecryptError::IncorrectKeyException(_)) => {
                        KeyringError::Open
                    }
                    _ => key_service("Decrypt", &err),
                });
            }
        };
        let key = to_key(out.plaintext.as_ref().map(Blob::as_ref))?;
        let mut cache = self.cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(wrapped.to_vec(), key);
        Ok(key)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, [u8; KEY_LEN]>> {
        // A poisoned cache only means another thread panicked mid-insert; the map is still valid.
        self.unwrapped.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Keyring for KmsKeyring {
    async fn seal(&self, plaintext: &[u8], context: &str) -> Result<SealedSecret, KeyringError> {
        let data_key = self.data_key().await?;
        let sealed = seal_with(&data_key.key, context.as_bytes(), plaintext)?;
        Ok(SealedSecret::from_stored(format!(
            "{PREFIX}{}.{}",
            data_key.wrapped_text,
            encode_part(&sealed)
        )))
    }

    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<Vec<u8>, KeyringError> {
        let (wrapped, body) = parse(sealed.as_stored())?;
        let key = self.unwrap_key(&wrapped).await?;
        open_with(&key, context.as_bytes(), &body)
    }
}

/// Splits `v1.kms.<wrapped>.<body>` into the decoded wrapped key and sealed body.
fn parse(stored: &str) -> Result<(Vec<u8>, Vec<u8>), KeyringError> {
    let rest = stored.strip_prefix(PREFIX).ok_or(KeyringError::Format)?;
    let (wrapped, body) = rest.split_once('.').ok_or(KeyringError::Format)?;
    if wrapped.is_empty() || body.is_empty() {
        return Err(KeyringError::Format);
    }
    Ok((decode_part(wrapped)?, decode_part(body)?))
}

fn to_key(plaintext: Option<&[u8]>) -> Result<[u8; KEY_LEN], KeyringError> {
    plaintext
        .and_then(|p| <[u8; KEY_LEN]>::try_from(p).ok())
        .ok_or_else(|| KeyringError::KeyService("KMS returned a data key of the wrong size".into()))
}

fn key_service<E, R>(operation: &'static str, err: &SdkError<E, R>) -> KeyringError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(err).to_string();
    tracing::warn!(operation, error = %detail, "kms call failed");
    KeyringError::KeyService(format!("{operation}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sealed_text() {
        let text = format!("v1.kms.{}.{}", encode_part(b"wrapped"), encode_part(b"body"));
        let (wrapped, body) = parse(&text).expect("parse");
        assert_eq!(wrapped, b"wrapped");
        assert_eq!(body, b"body");
    }

    #[test]
    fn rejects_other_formats() {
        for text in [
            "v1.local.YWJj",
            "v1.kms.",
            "v1.kms.YWJj",
            "v1.kms..YWJj",
            "v1.kms.YWJj.",
            "v1.kms.!!.YWJj",
            "v1.kms.YWJj.YWJj.YWJj",
        ] {
            assert!(
                matches!(parse(text), Err(KeyringError::Format)),
                "{text} must be rejected"
            );
        }
    }

    #[test]
    fn data_keys_must_be_32_bytes() {
        assert!(to_key(Some(&[7u8; 32])).is_ok());
        assert!(to_key(Some(&[7u8; 16])).is_err());
        assert!(to_key(None).is_err());
    }
}
