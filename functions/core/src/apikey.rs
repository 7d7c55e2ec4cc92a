//! Admin API keys: `<key id>.<secret>`, stored as the SHA-256 of the secret.
//!
//! Keys carry 256 bits of randomness, so a plain SHA-256 is a sound verifier (no password
//! stretching needed); the check is constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{ApiKeyId, OrgId};
use crate::secret::Secret;
use crate::time::Timestamp;

/// An API key as stored (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public key id (the part before the dot).
    pub id: ApiKeyId,
    /// The organization the key acts for.
    pub org_id: OrgId,
    /// A label.
    pub name: String,
    /// Hex SHA-256 of the secret part.
    pub secret_hash: String,
    /// Created.
    pub created_at: Timestamp,
}

/// A freshly issued key: the record to store and the full key text, shown once.
#[derive(Debug)]
pub struct IssuedKey {
    /// What the store keeps.
    pub record: ApiKeyRecord,
    /// `<id>.<secret>`: give it to the caller once, never store it.
    pub token: Secret,
}

/// Issues a new key for `org_id`.
pub fn issue(org_id: OrgId, name: String, now: Timestamp) -> IssuedKey {
    let id = ApiKeyId::generate();
    let secret_bytes: [u8; 32] = rand::random();
    let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
    let token = Secret::new(format!("{id}.{secret}"));
    IssuedKey {
        record: ApiKeyRecord {
            id,
            org_id,
            name,
            secret_hash: hash(&secret),
            created_at: now,
        },
        token,
    }
}

/// Splits a presented key into its id and secret; `None` if it is not of key form.
pub fn split(token: &str) -> Option<(ApiKeyId, &str)> {
    let (id, secret) = token.split_once('.')?;
    Some((id.parse().ok()?, secret))
}

/// Hex SHA-256 of a key secret (or of a whole bootstrap key).
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time check of `secret` against a stored hash.
pub fn verify(secret: &str, stored_hash: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_verify_and_others_do_not() {
        let issued = issue(OrgId::generate(), "ci".into(), Timestamp::now());
        let (id, secret) = split(issued.token.expose()).unwrap();
        assert_eq!(id, issued.record.id);
        assert!(verify(secret, &issued.record.secret_hash));
        assert!(!verify("wrong", &issued.record.secret_hash));
        assert!(split("garbage").is_none());
        assert!(split("key_123.abc").is_none());
    }
}
