//! Media links: a kept file's name, content type and expiry, signed with HMAC-SHA-256 so that a
//! link cannot be guessed, altered or extended.
//!
//! A token is `<payload>.<signature>`, both base64url without padding; the payload is
//! `v1\n<expiry, Unix ms>\n<content type>\n<file name>`. The signing key is derived from the
//! gateway's secret key file (its own HMAC of a fixed label), so it changes with that key and
//! never equals it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use imgate_core::Timestamp;
use imgate_core::keyring::KEY_LEN;
use imgate_core::ports::MediaLinkError;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The label the signing key is derived under.
const KEY_LABEL: &[u8] = b"imgate media links v1";
/// The payload's version line.
const VERSION: &str = "v1";
/// The longest token read (a name, a type and a signature fit in far less).
const MAX_TOKEN_CHARS: usize = 1024;

/// What a link names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The file's name in the media directory.
    pub name: String,
    /// Its content type.
    pub mime: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// The key media links are signed with, derived from the secret key file's key.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    /// Derives the signing key from `secret` (the key of the gateway's key file).
    pub fn derive(secret: &[u8; KEY_LEN]) -> Self {
        Self(mac(secret).chain_update(KEY_LABEL).finalize().into_bytes().into())
    }

    /// The token of `link`.
    pub fn sign(&self, link: &Link) -> String {
        let payload = format!(
            "{VERSION}\n{}\n{}\n{}",
            link.expires_at.as_millis(),
            link.mime,
            link.name
        );
        let signature = mac(&self.0).chain_update(payload.as_bytes()).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The link `token` names, if this key signed it and it has not expired at `now`.
    ///
    /// # Errors
    /// [`MediaLinkError::Forged`] for anything this key did not sign (checked in constant
    /// time), [`MediaLinkError::Expired`] once its time is up.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Link, MediaLinkError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(MediaLinkError::Forged);
        }
        let (payload, signature) = token.split_once('.').ok_or(MediaLinkError::Forged)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| MediaLinkError::Forged)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| MediaLinkError::Forged)?;
        mac(&self.0)
            .chain_update(&payload)
            .verify_slice(&signature)
            .map_err(|_| MediaLinkError::Forged)?;
        let payload = String::from_utf8(payload).map_err(|_| MediaLinkError::Forged)?;
        let mut fields = payload.splitn(4, '\n');
        let (Some(VERSION), Some(expires), Some(mime), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(MediaLinkError::Forged);
        };
        let expires_at = Timestamp::from_millis(expires.parse().map_err(|_| MediaLinkError::Forged)?);
        if now >= expires_at {
            return Err(MediaLinkError::Expired);
        }
        Ok(Link {
            name: name.to_owned(),
            mime: mime.to_owned(),
            expires_at,
        })
    }
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            name: "0123abcd-0.png".to_owned(),
            mime: "image/png".to_owned(),
            expires_at: Timestamp::from_millis(10_000),
        }
    }

    #[test]
    fn a_signed_link_reads_back_until_it_expires() {
        let key = LinkKey::derive(&[7; KEY_LEN]);
        let token = key.sign(&link());
        assert_eq!(key.verify(&token, Timestamp::from_millis(9_999)), Ok(link()));
        assert_eq!(
            key.verify(&token, Timestamp::from_millis(10_000)),
            Err(MediaLinkError::Expired)
        );
    }

    #[test]
    fn anything_else_is_forged() {
        let key = LinkKey::derive(&[7; KEY_LEN]);
        let now = Timestamp::from_millis(0);
        let token = key.sign(&link());
        let other_key = LinkKey::derive(&[8; KEY_LEN]);
        assert_eq!(other_key.verify(&token, now), Err(MediaLinkError::Forged));
        // A longer life, signature kept.
        let (_, signature) = token.split_once('.').unwrap_or_default();
        let extended = format!(
            "{}.{signature}",
            URL_SAFE_NO_PAD.encode("v1\n99999999\nimage/png\n0123abcd-0.png")
        );
        assert_eq!(key.verify(&extended, now), Err(MediaLinkError::Forged));
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert_eq!(key.verify(junk, now), Err(MediaLinkError::Forged), "{junk}");
        }
    }
}
