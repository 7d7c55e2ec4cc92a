//! Secrets at rest: the [`Keyring`] port, its errors, AES-256-GCM sealing and the local keyring.
//!
//! This module depends on no other part of the crate: records ([`crate::agent`],
//! [`crate::integration`]) and the ports ([`crate::ports::Deps`]) use it, never the reverse.
//!
//! A [`SealedSecret`] is opaque text a store keeps beside the record it protects. The record's
//! id is bound in as associated data, so a sealed blob copied onto another record does not open.
//! [`LocalKeyring`] holds a 32-byte key from a file that is not stored beside the database; the
//! AWS backend wraps per-process data keys with KMS and uses the same [`seal_with`] / [`open_with`].

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// Length of an AES-256 key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const LOCAL_PREFIX: &str = "v1.local.";

/// Sealed (encrypted and authenticated) secret material, as stored text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps stored text.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text to store.
    pub fn as_stored(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

/// Seals and opens secrets at rest under a key that is not stored beside them.
#[async_trait]
pub trait Keyring: Send + Sync {
    /// Encrypts `plaintext`, bound to `context` (the owning record's id).
    async fn seal(&self, plaintext: &[u8], context: &str) -> Result<SealedSecret, KeyringError>;
    /// Decrypts what [`Keyring::seal`] produced with the same `context`.
    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<Vec<u8>, KeyringError>;
}

/// Sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// The sealed text is not of a form this keyring reads.
    #[error("sealed secret has an unknown format")]
    Format,
    /// Authentication failed: wrong key, wrong record, or tampered data.
    #[error("sealed secret could not be opened with this key")]
    Open,
    /// The key service (KMS) failed.
    #[error("key service failed: {0}")]
    KeyService(String),
}

/// Encrypts `plaintext` under `key`, binding `aad`; returns `nonce || ciphertext+tag`.
pub fn seal_with(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyringError> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let nonce = Nonce::from_slice(&nonce_bytes);
    let ciphertext = cipher
        .encrypt(nonce, Payload { msg: plaintext, aad })
        .map_err(|_| KeyringError::Open)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reverses [`seal_with`].
pub fn open_with(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyringError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(KeyringError::Format);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| KeyringError::Open)
}

/// Base64 without padding, the encoding sealed parts use.
pub fn encode_part(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes a part written by [`encode_part`].
pub fn decode_part(text: &str) -> Result<Vec<u8>, KeyringError> {
    B64.decode(text).map_err(|_| KeyringError::Format)
}

/// A keyring over one AES-256 key held in memory (loaded from a key file by `imgate serve`).
pub struct LocalKeyring {
    key: [u8; KEY_LEN],
}

impl LocalKeyring {
    /// A keyring using `key`.
    pub fn new(key: [u8; KEY_LEN]) -> Self {
        Self { key }
    }

    /// A fresh random key.
    pub fn generate_key() -> [u8; KEY_LEN] {
        rand::random()
    }
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKeyring(<redacted>)")
    }
}

#[async_trait]
impl Keyring for LocalKeyring {
    async fn seal(&self, plaintext: &[u8], context: &str) -> Result<SealedSecret, KeyringError> {
        let sealed = seal_with(&self.key, context.as_bytes(), plaintext)?;
        Ok(SealedSecret(format!("{LOCAL_PREFIX}{}", encode_part(&sealed))))
    }

    async fn open(&self, sealed: &SealedSecret, context: &str) -> Result<Vec<u8>, KeyringError> {
        let body = sealed.0.strip_prefix(LOCAL_PREFIX).ok_or(KeyringError::Format)?;
        open_with(&self.key, context.as_bytes(), &decode_part(body)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn seals_and_opens_bound_to_context() {
        let ring = LocalKeyring::new(LocalKeyring::generate_key());
        let sealed = ring.seal(b"app-secret", "int_a").await.unwrap();
        assert!(!sealed.as_stored().contains("app-secret"));
        assert_eq!(ring.open(&sealed, "int_a").await.unwrap(), b"app-secret");
        assert!(matches!(ring.open(&sealed, "int_b").await, Err(KeyringError::Open)));
        let other = LocalKeyring::new(LocalKeyring::generate_key());
        assert!(matches!(other.open(&sealed, "int_a").await, Err(KeyringError::Open)));
        let garbage = SealedSecret::from_stored("v1.local.!!!");
        assert!(matches!(ring.open(&garbage, "int_a").await, Err(KeyringError::Format)));
        assert!(matches!(
            ring.open(&SealedSecret::from_stored("x"), "int_a").await,
            Err(KeyringError::Format)
        ));
    }

    #[test]
    fn nonces_differ_per_seal() {
        let key = LocalKeyring::generate_key();
        assert_ne!(seal_with(&key, b"", b"x").unwrap(), seal_with(&key, b"", b"x").unwrap());
    }
}
