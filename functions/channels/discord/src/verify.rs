//! The interactions endpoint's check (§2.2): Discord signs `timestamp || body` with the
//! application's Ed25519 key and sends the signature (hex) in `X-Signature-Ed25519` and the
//! timestamp in `X-Signature-Timestamp`. The raw body bytes are verified, never a re-encoding.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is absent.
    #[error("the signature headers are missing")]
    Missing,
    /// The signature is not 64 bytes of hex.
    #[error("the signature is not hex-encoded Ed25519")]
    Malformed,
    /// The application's public key is not 32 bytes of hex (a configuration error).
    #[error("the application's public key is not a valid Ed25519 key")]
    BadKey,
    /// The signature does not verify.
    #[error("the signature does not match")]
    Mismatch,
}

/// An application's public key, read once.
#[derive(Debug, Clone)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads the "Public Key" from the Developer Portal (64 hex characters).
    ///
    /// # Errors
    /// [`VerifyError::BadKey`].
    pub fn from_hex(hex_key: &str) -> Result<Self, VerifyError> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::BadKey)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| VerifyError::BadKey)
    }

    /// Verifies a request's headers over its raw body.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub fn verify(&self, signature: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(VerifyError::Missing);
        };
        let bytes: [u8; 64] = hex::decode(signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Malformed)?;
        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);
        self.0
            .verify(&message, &Signature::from_bytes(&bytes))
            .map_err(|_| VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.6, generated with PyNaCl from RFC 8032 §7.1 TEST 1's key.
    const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const TIMESTAMP: &str = "1700000000";
    const BODY: &str = r#"{"application_id":"123456789012345678","id":"987654321098765432","token":"aW50ZXJhY3Rpb24tdG9rZW4","type":1,"version":1}"#;
    const SIGNATURE: &str = "21f2cd2edbc2d3b734378cd9b7784113a42b1c1282516dbb75c9ee51dbdfaa3c6600964bbd9f88464cf3a1c5da2f8ee67efc2df7d39c2466d7f15123a10e0e07";

    #[test]
    fn the_notes_vector_verifies_and_any_change_does_not() {
        let key = PublicKey::from_hex(PUBLIC_KEY).unwrap();
        assert_eq!(key.verify(Some(SIGNATURE), Some(TIMESTAMP), BODY.as_bytes()), Ok(()));
        let other_body = BODY.replace(r#""type":1"#, r#""type":2"#);
        assert_eq!(
            key.verify(Some(SIGNATURE), Some(TIMESTAMP), other_body.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            key.verify(Some(SIGNATURE), Some("1700000001"), BODY.as_bytes()),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            key.verify(None, Some(TIMESTAMP), BODY.as_bytes()),
            Err(VerifyError::Missing)
        );
        assert_eq!(
            key.verify(Some("zz"), Some(TIMESTAMP), BODY.as_bytes()),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            key.verify(Some(&SIGNATURE[..64]), Some(TIMESTAMP), BODY.as_bytes()),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(PublicKey::from_hex("abcd"), Err(VerifyError::BadKey)));
        assert!(matches!(PublicKey::from_hex(&"g".repeat(64)), Err(VerifyError::BadKey)));
    }
}
