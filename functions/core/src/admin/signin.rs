//! Console sign-in: an API key (or the bootstrap key) exchanged for a session token that the
//! browser keeps in an HttpOnly cookie, so the key itself never sits in browser storage.
//!
//! The token is stateless, so it works on Lambda (no process memory) without a store write:
//!
//! ```text
//! v1.<key id | "bootstrap">.<expires ms>.<nonce>.<mac>
//! ```
//!
//! `mac` is HMAC-SHA-256, keyed with the signing key's stored secret hash (an organization key's
//! `secret_hash`, or the configured bootstrap key hash), over everything before it. Checking a
//! token reads the key record (as a bearer request does), so revoking the key ends every session
//! opened with it at once. The CSRF token of a session is derived from it the same way, so it
//! needs no storage either; the console sends it back in a header on every change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Admin, AdminError, AdminResult, Principal};
use crate::apikey;
use crate::ids::ApiKeyId;
use crate::secret::Secret;
use crate::time::Timestamp;

/// How long a console session lasts.
pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

const VERSION: &str = "v1";
const BOOTSTRAP: &str = "bootstrap";

/// A signed-in console session.
#[derive(Debug)]
pub struct ConsoleSession {
    /// Who signed in.
    pub principal: Principal,
    /// The cookie value. Never shown to scripts (HttpOnly) nor logged.
    pub token: Secret,
    /// The value the console must send in `X-CSRF-Token` on every change.
    pub csrf_token: String,
    /// When the session ends.
    pub expires_at: Timestamp,
}

impl Admin {
    /// Signs in with an API key or the bootstrap key.
    ///
    /// # Errors
    /// [`AdminError::Unauthorized`] for anything but a known key.
    pub async fn sign_in(&self, key: &str, now: Timestamp) -> AdminResult<ConsoleSession> {
        let principal = self.authenticate(Some(key)).await?;
        let expires_at = now.plus(SESSION_LIFETIME);
        // The signing key is the stored hash of the key just checked: derived from the key
        // itself, not read again.
        let (signer, signing_key) = match &principal {
            Principal::Bootstrap => (BOOTSTRAP.to_owned(), apikey::hash(key.trim())),
            Principal::Org { key_id, .. } => {
                let secret = apikey::split(key.trim())
                    .map(|(_, secret)| secret)
                    .ok_or(AdminError::Unauthorized)?;
                (key_id.to_string(), apikey::hash(secret))
            }
        };
        let nonce: [u8; 16] = rand::random();
        let body = format!(
            "{VERSION}.{signer}.{}.{}",
            expires_at.as_millis(),
            URL_SAFE_NO_PAD.encode(nonce)
        );
        let token = format!("{body}.{}", mac(&signing_key, "session", &body));
        let csrf_token = mac(&signing_key, "csrf", &token);
        Ok(ConsoleSession {
            principal,
            token: Secret::new(token),
            csrf_token,
            expires_at,
        })
    }

    /// Checks a session token from the cookie.
    ///
    /// # Errors
    /// [`AdminError::Unauthorized`] for a malformed, forged or expired token, or one whose key
    /// was revoked.
    pub async fn open_session(&self, token: &str, now: Timestamp) -> AdminResult<ConsoleSession> {
        let (body, presented_mac) = token.rsplit_once('.').ok_or(AdminError::Unauthorized)?;
        let mut parts = body.split('.');
        let (Some(VERSION), Some(signer), Some(expires), Some(_nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AdminError::Unauthorized);
        };
        let expires_at = Timestamp::from_millis(expires.parse().map_err(|_| AdminError::Unauthorized)?);
        if expires_at <= now {
            return Err(AdminError::Unauthorized);
        }
        let (signing_key, principal) = self.signer(signer).await?;
        let expected = mac(&signing_key, "session", body);
        if !bool::from(expected.as_bytes().ct_eq(presented_mac.as_bytes())) {
            return Err(AdminError::Unauthorized);
        }
        Ok(ConsoleSession {
            principal,
            csrf_token: mac(&signing_key, "csrf", token),
            token: Secret::new(token),
            expires_at,
        })
    }

    /// The secret a session of `signer` is signed with (the key's stored hash), and who that
    /// key is: one read of the key record.
    async fn signer(&self, signer: &str) -> AdminResult<(String, Principal)> {
        if signer == BOOTSTRAP {
            let hash = self
                .settings
                .bootstrap_key_hash
                .clone()
                .ok_or(AdminError::Unauthorized)?;
            return Ok((hash, Principal::Bootstrap));
        }
        let id: ApiKeyId = signer.parse().map_err(|_| AdminError::Unauthorized)?;
        let record = self
            .deps
            .store
            .get_api_key(&id)
            .await?
            .ok_or(AdminError::Unauthorized)?;
        let principal = Principal::Org {
            org_id: record.org_id,
            key_id: record.id,
        };
        Ok((record.secret_hash, principal))
    }
}

/// True when `presented` is the session's CSRF token (constant time).
pub fn csrf_matches(session: &ConsoleSession, presented: &str) -> bool {
    session.csrf_token.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// HMAC-SHA-256 of `purpose` and `data` under `key`, base64url.
fn mac(key: &str, purpose: &str, data: &str) -> String {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(purpose.as_bytes());
    mac.update(b"|");
    mac.update(data.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}
