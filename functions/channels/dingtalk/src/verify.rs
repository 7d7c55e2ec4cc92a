//! HTTP-mode request verification (§3).
//!
//! In HTTP mode DingTalk POSTs robot messages with two headers: `timestamp` (Unix milliseconds)
//! and `sign` = Base64(HMAC-SHA256(key = AppSecret, message = `timestamp + "\n" + AppSecret`)).
//! A request is genuine only if the signature matches and the timestamp is within one hour of
//! the receiver's clock (the official page: a difference of more than one hour is illegal).
//!
//! The same formula signs outbound sends of *custom* group robots (with a `SEC…` secret, passed
//! URL-encoded in the query); [`sign`] produces the raw Base64 form for both.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use imgate_core::Timestamp;
use sha2::Sha256;

/// The largest accepted difference between the `timestamp` header and the receiver's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(3600);

/// Why a request could not be verified. Messages never contain the secret, the expected
/// signature or header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The `timestamp` header is missing or not an integer number of milliseconds.
    #[error("the timestamp header is missing or not Unix milliseconds")]
    MalformedTimestamp,
    /// The timestamp is more than [`MAX_SKEW`] in the past (a replay or a badly skewed clock).
    #[error("the request timestamp is too old")]
    Stale,
    /// The timestamp is more than [`MAX_SKEW`] in the future.
    #[error("the request timestamp is in the future")]
    Future,
    /// The `sign` header is missing, not Base64 of 32 bytes, or does not match.
    #[error("signature mismatch")]
    BadSignature,
}

/// The `sign` value for `timestamp` (the header text, verbatim) under `app_secret`.
pub fn sign(timestamp: &str, app_secret: &str) -> String {
    STANDARD.encode(digest(timestamp, app_secret))
}

/// Verifies the `timestamp` and `sign` headers of an HTTP-mode request at `now`.
///
/// The timestamp window is checked first (cheap, and a stale request is refused however it is
/// signed), then the signature in constant time. Surrounding whitespace in either header is
/// ignored; `sign` must be standard Base64 (padding optional), not URL-encoded.
///
/// # Errors
/// [`SignError::MalformedTimestamp`], [`SignError::Stale`], [`SignError::Future`] or
/// [`SignError::BadSignature`].
pub fn verify(timestamp: &str, sign: &str, app_secret: &str, now: Timestamp) -> Result<(), SignError> {
    let timestamp = timestamp.trim();
    let millis: i64 = timestamp.parse().map_err(|_| SignError::MalformedTimestamp)?;
    let skew = i64::try_from(MAX_SKEW.as_millis()).unwrap_or(i64::MAX);
    let diff = now.as_millis().saturating_sub(millis);
    if diff > skew {
        return Err(SignError::Stale);
    }
    if diff < -skew {
        return Err(SignError::Future);
    }
    let given = decode_sign(sign.trim()).ok_or(SignError::BadSignature)?;
    let mut mac = new_mac(app_secret).ok_or(SignError::BadSignature)?;
    mac.update(string_to_sign(timestamp, app_secret).as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| SignError::BadSignature)
}

fn digest(timestamp: &str, app_secret: &str) -> Vec<u8> {
    match new_mac(app_secret) {
        Some(mut mac) => {
            mac.update(string_to_sign(timestamp, app_secret).as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        None => Vec::new(),
    }
}

/// HMAC accepts keys of any length, so this is `None` only in theory.
fn new_mac(app_secret: &str) -> Option<Hmac<Sha256>> {
    Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).ok()
}

fn string_to_sign(timestamp: &str, app_secret: &str) -> String {
    format!("{timestamp}\n{app_secret}")
}

/// Standard Base64 with or without padding; `None` for anything else.
fn decode_sign(sign: &str) -> Option<Vec<u8>> {
    if sign.is_empty() {
        return None;
    }
    let unpadded = sign.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "gw-test-appSecret_0123456789ABCDEFabcdef";
    const TS: &str = "1717171717000";
    const SIGN: &str = "V9Jynnmaz7ftRBOcAawE84if3itsFp/8yvyfgDQ3+ro=";
    const TS2: &str = "1690362102194";
    const SIGN2: &str = "06bgqt5/2S8tJXc8oXIIpN1GUPf4CDCC8BWdbMdwM30=";

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millis(millis)
    }

    #[test]
    fn protocol_vectors() {
        assert_eq!(sign(TS, SECRET), SIGN);
        assert_eq!(sign(TS2, SECRET), SIGN2);
        assert_eq!(verify(TS, SIGN, SECRET, at(1_717_171_717_000)), Ok(()));
        assert_eq!(verify(TS2, SIGN2, SECRET, at(1_690_362_102_194 + 5_000)), Ok(()));
        // Whitespace around headers and missing padding are tolerated.
        assert_eq!(
            verify(
                " 1717171717000 ",
                SIGN.trim_end_matches('='),
                SECRET,
                at(1_717_171_717_000)
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_secret_or_signature_is_refused() {
        let now = at(1_717_171_717_000);
        assert_eq!(verify(TS, SIGN, "another-secret", now), Err(SignError::BadSignature));
        assert_eq!(verify(TS, SIGN2, SECRET, now), Err(SignError::BadSignature));
        // The signature of another timestamp does not carry over.
        assert_eq!(verify("1717171717001", SIGN, SECRET, now), Err(SignError::BadSignature));
        // URL-encoded (custom-robot query form) is not the header form.
        let encoded = "V9Jynnmaz7ftRBOcAawE84if3itsFp%2F8yvyfgDQ3%2Bro%3D";
        assert_eq!(verify(TS, encoded, SECRET, now), Err(SignError::BadSignature));
        assert_eq!(verify(TS, "", SECRET, now), Err(SignError::BadSignature));
        assert_eq!(verify(TS, "not base64!", SECRET, now), Err(SignError::BadSignature));
        // Valid Base64 of the wrong length.
        assert_eq!(verify(TS, "AAAA", SECRET, now), Err(SignError::BadSignature));
    }

    #[test]
    fn the_window_is_one_hour_either_way() {
        let t = 1_717_171_717_000;
        let hour = 3_600_000;
        assert_eq!(verify(TS, SIGN, SECRET, at(t + hour)), Ok(()));
        assert_eq!(verify(TS, SIGN, SECRET, at(t - hour)), Ok(()));
        assert_eq!(verify(TS, SIGN, SECRET, at(t + hour + 1)), Err(SignError::Stale));
        assert_eq!(verify(TS, SIGN, SECRET, at(t - hour - 1)), Err(SignError::Future));
        // The window is checked before the signature.
        assert_eq!(verify(TS, "bad", SECRET, at(t + 2 * hour)), Err(SignError::Stale));
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        let now = at(1_717_171_717_000);
        for ts in ["", "abc", "1717171717000.5", "1e12", "99999999999999999999999"] {
            assert_eq!(
                verify(ts, SIGN, SECRET, now),
                Err(SignError::MalformedTimestamp),
                "{ts}"
            );
        }
        // Seconds instead of milliseconds read as a time in 1970: stale.
        assert_eq!(verify("1717171717", SIGN, SECRET, now), Err(SignError::Stale));
    }

    #[test]
    fn errors_do_not_leak_values() {
        for e in [
            SignError::MalformedTimestamp,
            SignError::Stale,
            SignError::Future,
            SignError::BadSignature,
        ] {
            let text = e.to_string();
            assert!(
                !text.contains(SECRET) && !text.contains(SIGN) && !text.contains(TS),
                "{text}"
            );
        }
    }
}
