//! The webhook check (§2.2): Telegram echoes the `secret_token` given to `setWebhook` in the
//! `X-Telegram-Bot-Api-Secret-Token` header of every request. There is no body signature, so the
//! header is the only proof, compared in constant time.

use imgate_core::secret::Secret;
use subtle::ConstantTimeEq;

/// The header Telegram sends the secret token in.
pub const SECRET_TOKEN_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The longest secret token `setWebhook` accepts.
pub const MAX_SECRET_TOKEN_LEN: usize = 256;

/// Why a webhook request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header is absent.
    #[error("the X-Telegram-Bot-Api-Secret-Token header is missing")]
    Missing,
    /// The header does not match the integration's secret token.
    #[error("the secret token does not match")]
    Mismatch,
}

/// Checks the header value against the integration's secret token, in constant time.
///
/// # Errors
/// [`VerifyError::Missing`] without a header, [`VerifyError::Mismatch`] for another value.
pub fn check_secret_token(header: Option<&str>, secret: &Secret) -> Result<(), VerifyError> {
    let header = header.ok_or(VerifyError::Missing)?;
    let expected = secret.expose().as_bytes();
    if bool::from(header.as_bytes().ct_eq(expected)) && !expected.is_empty() {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Whether `token` is a secret token `setWebhook` accepts: 1–256 characters of `A-Z a-z 0-9 _ -`.
pub fn is_valid_secret_token(token: &str) -> bool {
    (1..=MAX_SECRET_TOKEN_LEN).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_passes() {
        let secret = Secret::new("s3cr3t_TOKEN-1".to_owned());
        assert_eq!(check_secret_token(Some("s3cr3t_TOKEN-1"), &secret), Ok(()));
        assert_eq!(check_secret_token(None, &secret), Err(VerifyError::Missing));
        for wrong in ["", "s3cr3t_TOKEN-", "s3cr3t_TOKEN-12", "S3CR3T_TOKEN-1"] {
            assert_eq!(
                check_secret_token(Some(wrong), &secret),
                Err(VerifyError::Mismatch),
                "{wrong:?}"
            );
        }
        let empty = Secret::new(String::new());
        assert_eq!(check_secret_token(Some(""), &empty), Err(VerifyError::Mismatch));
    }

    #[test]
    fn secret_tokens_follow_telegrams_alphabet() {
        assert!(is_valid_secret_token("abc_DEF-123"));
        assert!(is_valid_secret_token(&"a".repeat(256)));
        assert!(!is_valid_secret_token(""));
        assert!(!is_valid_secret_token(&"a".repeat(257)));
        assert!(!is_valid_secret_token("with space"));
        assert!(!is_valid_secret_token("ümlaut"));
    }
}
