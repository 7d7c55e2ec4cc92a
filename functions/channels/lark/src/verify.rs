//! The Encrypt Key scheme of Lark / Feishu event subscriptions: body decryption and the
//! `X-Lark-Signature` header (`protocols/lark.md` §2.4, §2.5).
//!
//! - `encrypt` = Base64(IV(16) || AES-256-CBC(key = SHA-256(Encrypt Key), IV, PKCS#7(json))).
//!   Padding is checked strictly, as the newest Python SDK does (§2.4).
//! - signature = lowercase hex SHA-256 of `timestamp || nonce || encrypt_key || raw body` — a
//!   plain digest with the key inside the preimage, not an HMAC (§2.5).
//!
//! [`EventCipher`] precomputes the AES key schedule, so one instance per integration serves
//! every callback. No error message ever contains key material, signatures or plaintext.

use std::time::Duration;

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use imgate_core::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// AES block size: the IV length and the ciphertext granularity.
const AES_BLOCK: usize = 16;

/// Why a callback could not be decrypted or verified. Messages never contain key material,
/// signatures or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The `encrypt` value is not standard Base64.
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The ciphertext is too short, not whole AES blocks, or its PKCS#7 padding is wrong.
    #[error("ciphertext could not be decrypted: {0}")]
    Decrypt(&'static str),
    /// The decrypted body is not UTF-8.
    #[error("decrypted body is not UTF-8")]
    Utf8,
    /// `X-Lark-Signature` is missing or does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// `X-Lark-Request-Timestamp` is not a number of Unix seconds.
    #[error("request timestamp is not a number of seconds")]
    BadTimestamp,
    /// `X-Lark-Request-Timestamp` is outside the accepted window around now.
    #[error("request timestamp is outside the accepted window")]
    StaleTimestamp,
}

/// One integration's body cipher, built from its Encrypt Key.
#[derive(Clone)]
pub struct EventCipher {
    cipher: Aes256,
}

impl std::fmt::Debug for EventCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCipher").finish_non_exhaustive()
    }
}

impl EventCipher {
    /// Derives the AES-256 key as SHA-256 of the Encrypt Key's UTF-8 bytes (§2.4 step 2); any
    /// string is a valid Encrypt Key, so this cannot fail.
    pub fn new(encrypt_key: &str) -> Self {
        let key = Sha256::digest(encrypt_key.as_bytes());
        Self {
            cipher: Aes256::new(&key),
        }
    }

    /// Decrypts an `encrypt` value to the body bytes (§2.4).
    ///
    /// # Errors
    /// [`CryptoError::Base64`] or [`CryptoError::Decrypt`].
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let raw = STANDARD
            .decode(encrypt_b64.trim().as_bytes())
            .map_err(|_| CryptoError::Base64)?;
        if raw.len() < 2 * AES_BLOCK {
            return Err(CryptoError::Decrypt("shorter than an IV and one block"));
        }
        let (iv, ciphertext) = raw.split_at(AES_BLOCK);
        if ciphertext.len() % AES_BLOCK != 0 {
            return Err(CryptoError::Decrypt("length is not a whole number of AES blocks"));
        }
        cbc::Decryptor::<Aes256>::inner_iv_init(self.cipher.clone(), iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|_| CryptoError::Decrypt("bad padding"))
    }

    /// [`EventCipher::decrypt`], as UTF-8 text.
    ///
    /// # Errors
    /// As [`EventCipher::decrypt`], plus [`CryptoError::Utf8`].
    pub fn decrypt_text(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(encrypt_b64)?).map_err(|_| CryptoError::Utf8)
    }

    /// Encrypts `plaintext` with a fresh random IV, as the platform would.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.encrypt_with_iv(plaintext, &rand::random())
    }

    /// Encrypts with a given IV: deterministic, for test vectors and fixtures only.
    pub fn encrypt_with_iv(&self, plaintext: &[u8], iv: &[u8; AES_BLOCK]) -> String {
        let ciphertext = cbc::Encryptor::<Aes256>::inner_iv_init(self.cipher.clone(), iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let mut raw = Vec::with_capacity(AES_BLOCK + ciphertext.len());
        raw.extend_from_slice(iv);
        raw.extend_from_slice(&ciphertext);
        STANDARD.encode(raw)
    }
}

/// The `X-Lark-Signature` of a request: lowercase hex SHA-256 of
/// `timestamp || nonce || encrypt_key || body`, with `body` the raw bytes as received (§2.5).
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut sha = Sha256::new();
    sha.update(timestamp.as_bytes());
    sha.update(nonce.as_bytes());
    sha.update(encrypt_key.as_bytes());
    sha.update(body);
    format!("{:x}", sha.finalize())
}

/// Checks `X-Lark-Signature` in constant time (hex case and surrounding whitespace ignored).
///
/// # Errors
/// [`CryptoError::BadSignature`] when it is empty or does not match.
pub fn verify_signature(
    given: &str,
    timestamp: &str,
    nonce: &str,
    encrypt_key: &str,
    body: &[u8],
) -> Result<(), CryptoError> {
    let expected = signature(timestamp, nonce, encrypt_key, body);
    let given = given.trim().to_ascii_lowercase();
    if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(CryptoError::BadSignature)
    }
}

/// Checks that `X-Lark-Request-Timestamp` (Unix seconds) lies within `window` of `now`, either
/// way.
///
/// Neither official SDK enforces freshness and the seconds unit is only observed, not specified
/// (§2.5), so this is an optional local hardening step; note that whether platform retries
/// (up to 7 h later, §2.10) carry a fresh timestamp is unknown, so a short window may refuse
/// them.
///
/// # Errors
/// [`CryptoError::BadTimestamp`] for a non-numeric value, [`CryptoError::StaleTimestamp`]
/// outside the window.
pub fn check_timestamp(timestamp: &str, now: Timestamp, window: Duration) -> Result<(), CryptoError> {
    let secs: i64 = timestamp.trim().parse().map_err(|_| CryptoError::BadTimestamp)?;
    let sent = Timestamp::from_millis(secs.checked_mul(1000).ok_or(CryptoError::BadTimestamp)?);
    let skew = if sent > now { sent.since(now) } else { now.since(sent) };
    if skew <= window {
        Ok(())
    } else {
        Err(CryptoError::StaleTimestamp)
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
pub(crate) mod tests;
