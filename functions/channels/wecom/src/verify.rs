//! WXBizMsgCrypt: the signature and AES scheme WeCom uses for callbacks and passive replies.
//!
//! Both smart bots (JSON bodies, receive id `""`) and self-built apps (XML bodies, receive id =
//! CorpID) use it; see `protocols/wecom.md` §1. The scheme in short:
//!
//! - signature = lowercase hex SHA-1 of the four strings `token, timestamp, nonce, encrypt`
//!   sorted and concatenated;
//! - `encrypt` = Base64(AES-256-CBC(key, iv = key[..16], pad32(random16 || len_be32 || msg || receive_id)))
//!   where `pad32` is PKCS#7 to a 32-byte block (so stock 16-byte unpadders reject valid data).
//!
//! [`Crypto`] precomputes the AES key schedule once, so one instance per integration can be
//! reused for every callback. No error message ever contains key material or plaintext.

use aes::Aes256;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use serde::Serialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// The PKCS#7 block size of the WeCom scheme (twice the AES block size).
const PAD_BLOCK: usize = 32;
/// AES block size; ciphertexts are a whole number of these.
const AES_BLOCK: usize = 16;
/// Random prefix + length field.
const HEADER: usize = 20;

/// Base64 for keys: tolerant of non-zero trailing bits (a random 43-char EncodingAESKey nearly
/// always has them, and Python/Node ignore them) and of missing `=` padding.
const LENIENT_KEY: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a callback could not be verified, decrypted or a key loaded. Messages never contain key
/// material, tokens or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey (or media `aeskey`) is not Base64 of exactly 32 bytes.
    #[error("the AES key is not base64 of 32 bytes")]
    BadKey,
    /// The signature does not match.
    #[error("signature mismatch")]
    BadSignature,
    /// The ciphertext is not valid Base64.
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The ciphertext has a bad length, bad padding or an out-of-bounds length field.
    #[error("ciphertext could not be decrypted: {0}")]
    Decrypt(&'static str),
    /// The trailing receive id (CorpID for self-built apps) is not the configured one.
    #[error("receive id mismatch")]
    ReceiveIdMismatch,
    /// The decrypted message is not UTF-8 where text was expected.
    #[error("decrypted message is not UTF-8")]
    Utf8,
}

/// One integration's callback crypto: token, AES key schedule and receive id.
#[derive(Clone)]
pub struct Crypto {
    token: String,
    cipher: Aes256,
    iv: [u8; AES_BLOCK],
    receive_id: String,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypto")
            .field("receive_id", &self.receive_id)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Loads the callback settings. `receive_id` is `""` for smart bots (trailing bytes are then
    /// ignored on decrypt) and the CorpID for self-built apps (then checked exactly).
    ///
    /// # Errors
    /// [`CryptoError::BadKey`] when `encoding_aes_key` does not decode to 32 bytes.
    pub fn new(token: &str, encoding_aes_key: &str, receive_id: &str) -> Result<Self, CryptoError> {
        let key = decode_key(encoding_aes_key.trim())?;
        let mut iv = [0u8; AES_BLOCK];
        iv.copy_from_slice(&key[..AES_BLOCK]);
        Ok(Self {
            token: token.to_owned(),
            cipher: Aes256::new(&key.into()),
            iv,
            receive_id: receive_id.to_owned(),
        })
    }

    /// The `msg_signature` of `encrypt` (or of `echostr` for URL verification).
    pub fn signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        let mut parts = [self.token.as_str(), timestamp, nonce, encrypt];
        parts.sort_unstable();
        let mut sha = Sha1::new();
        for part in parts {
            sha.update(part.as_bytes());
        }
        hex(&sha.finalize())
    }

    /// Checks `signature` in constant time (hex case is ignored).
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] when it does not match.
    pub fn verify(&self, signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Result<(), CryptoError> {
        let expected = self.signature(timestamp, nonce, encrypt);
        let given = signature.trim().to_ascii_lowercase();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// Verifies the signature, then decrypts: what a POST callback handler does.
    ///
    /// # Errors
    /// Any [`CryptoError`]; the signature is checked before any decryption.
    pub fn open(&self, signature: &str, timestamp: &str, nonce: &str, encrypt: &str) -> Result<Vec<u8>, CryptoError> {
        self.verify(signature, timestamp, nonce, encrypt)?;
        self.decrypt(encrypt)
    }

    /// URL verification (GET): verifies the signature over `echostr` and returns the plaintext to
    /// answer with. `echostr` must already be URL-decoded.
    ///
    /// # Errors
    /// Any [`CryptoError`].
    pub fn verify_url(
        &self,
        signature: &str,
        timestamp: &str,
        nonce: &str,
        echostr: &str,
    ) -> Result<String, CryptoError> {
        let bytes = self.open(signature, timestamp, nonce, echostr)?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Utf8)
    }

    /// Decrypts a Base64 `encrypt` value to the message bytes (without prefix and receive id).
    ///
    /// # Errors
    /// [`CryptoError::Base64`], [`CryptoError::Decrypt`] or [`CryptoError::ReceiveIdMismatch`].
    pub fn decrypt(&self, encrypt_b64: &str) -> Result<Vec<u8>, CryptoError> {
        let mut buf = STANDARD
            .decode(encrypt_b64.trim().as_bytes())
            .map_err(|_| CryptoError::Base64)?;
        let plain = self.decrypt_unpad(&mut buf)?;
        if plain.len() < HEADER {
            return Err(CryptoError::Decrypt("message shorter than its header"));
        }
        let mut len_be = [0u8; 4];
        len_be.copy_from_slice(&plain[16..HEADER]);
        let msg_len = usize::try_from(u32::from_be_bytes(len_be)).map_err(|_| CryptoError::Decrypt("length field"))?;
        let msg_end = HEADER
            .checked_add(msg_len)
            .filter(|end| *end <= plain.len())
            .ok_or(CryptoError::Decrypt("length field exceeds the message"))?;
        let receive_id = &plain[msg_end..];
        if !self.receive_id.is_empty() && receive_id != self.receive_id.as_bytes() {
            return Err(CryptoError::ReceiveIdMismatch);
        }
        Ok(plain[HEADER..msg_end].to_vec())
    }

    /// [`Crypto::decrypt`], as UTF-8 text.
    ///
    /// # Errors
    /// As [`Crypto::decrypt`], plus [`CryptoError::Utf8`].
    pub fn decrypt_text(&self, encrypt_b64: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.decrypt(encrypt_b64)?).map_err(|_| CryptoError::Utf8)
    }

    /// Encrypts `plaintext` with a fresh random 16-byte prefix.
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.encrypt_with_prefix(plaintext, &rand::random())
    }

    /// Encrypts with a given prefix: deterministic, for test vectors and fixtures only.
    ///
    /// Messages longer than `u32::MAX` bytes (impossible for any WeCom payload) are truncated to
    /// what the 4-byte length field can describe.
    pub fn encrypt_with_prefix(&self, plaintext: &[u8], prefix: &[u8; 16]) -> String {
        let plaintext = &plaintext[..plaintext.len().min(u32::MAX as usize)];
        let msg_len = u32::try_from(plaintext.len()).unwrap_or(u32::MAX);
        let mut buf = Vec::with_capacity(HEADER + plaintext.len() + self.receive_id.len() + PAD_BLOCK);
        buf.extend_from_slice(prefix);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(plaintext);
        buf.extend_from_slice(self.receive_id.as_bytes());
        pad32(&mut buf);
        let encryptor = cbc::Encryptor::<Aes256>::inner_iv_init(self.cipher.clone(), (&self.iv).into());
        STANDARD.encode(encryptor.encrypt_padded_vec_mut::<NoPadding>(&buf))
    }

    /// The encrypted smart-bot passive reply body (§1.5):
    /// `{"encrypt":…,"msgsignature":…,"timestamp":<number>,"nonce":…}`. `timestamp` and `nonce`
    /// must be the callback's own (WeCom requires its nonce back). A timestamp that is not a
    /// decimal number is sent as a string. Serve it with `Content-Type: text/plain; charset=utf-8`
    /// as the official reference implementation does.
    pub fn passive_reply(&self, plaintext_json: &str, timestamp: &str, nonce: &str) -> String {
        self.passive_reply_from(self.encrypt(plaintext_json.as_bytes()), timestamp, nonce)
    }

    fn passive_reply_from(&self, encrypt: String, timestamp: &str, nonce: &str) -> String {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Ts<'a> {
            Number(u64),
            Text(&'a str),
        }
        #[derive(Serialize)]
        struct Reply<'a> {
            encrypt: &'a str,
            msgsignature: String,
            timestamp: Ts<'a>,
            nonce: &'a str,
        }
        let reply = Reply {
            msgsignature: self.signature(timestamp, nonce, &encrypt),
            encrypt: &encrypt,
            timestamp: timestamp.parse().map_or(Ts::Text(timestamp), Ts::Number),
            nonce,
        };
        // Serializing strings and integers cannot fail.
        serde_json::to_string(&reply).unwrap_or_default()
    }

    /// The encrypted self-built app passive reply:
    /// `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>`.
    pub fn app_passive_reply_xml(&self, plaintext_xml: &str, timestamp: &str, nonce: &str) -> String {
        self.app_passive_reply_from(self.encrypt(plaintext_xml.as_bytes()), timestamp, nonce)
    }

    fn app_passive_reply_from(&self, encrypt: String, timestamp: &str, nonce: &str) -> String {
        let signature = self.signature(timestamp, nonce, &encrypt);
        format!(
            "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{}</TimeStamp><Nonce>{}</Nonce></xml>",
            cdata(&encrypt),
            cdata(&signature),
            quick_xml::escape::escape(timestamp),
            cdata(nonce),
        )
    }

    /// Decrypts media downloaded from a smart-bot callback URL in callback mode (§2.8): AES with
    /// the bot's own key, IV = first 16 key bytes, PKCS#7 to 32, no prefix or length field.
    ///
    /// # Errors
    /// [`CryptoError::Decrypt`] for a bad length or padding.
    pub fn decrypt_bot_media(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut buf = data.to_vec();
        let len = self.decrypt_unpad(&mut buf)?.len();
        buf.truncate(len);
        Ok(buf)
    }

    /// AES-CBC-decrypts `buf` in place and returns the unpadded plaintext.
    fn decrypt_unpad<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], CryptoError> {
        let decryptor = cbc::Decryptor::<Aes256>::inner_iv_init(self.cipher.clone(), (&self.iv).into());
        decrypt_unpad_with(decryptor, buf)
    }
}

/// Decrypts a long-connection media file with its own per-URL `aeskey` (§3.6, vector V5).
/// The key may lack its `=` padding.
///
/// # Errors
/// [`CryptoError::BadKey`] or [`CryptoError::Decrypt`].
pub fn decrypt_media(aeskey_b64: &str, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = decode_key(aeskey_b64.trim())?;
    let mut iv = [0u8; AES_BLOCK];
    iv.copy_from_slice(&key[..AES_BLOCK]);
    let decryptor = cbc::Decryptor::<Aes256>::inner_iv_init(Aes256::new(&key.into()), (&iv).into());
    let mut buf = data.to_vec();
    let len = decrypt_unpad_with(decryptor, &mut buf)?.len();
    buf.truncate(len);
    Ok(buf)
}

/// Encrypts a media file as WeCom serves it under `aeskey_b64` (a per-URL `aeskey` or the
/// bot's EncodingAESKey): the inverse of [`decrypt_media`], for the simulator and test fakes.
///
/// # Errors
/// [`CryptoError::BadKey`].
pub fn encrypt_media(aeskey_b64: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = decode_key(aeskey_b64.trim())?;
    let mut iv = [0u8; AES_BLOCK];
    iv.copy_from_slice(&key[..AES_BLOCK]);
    let mut buf = plaintext.to_vec();
    pad32(&mut buf);
    let encryptor = cbc::Encryptor::<Aes256>::inner_iv_init(Aes256::new(&key.into()), (&iv).into());
    Ok(encryptor.encrypt_padded_vec_mut::<NoPadding>(&buf))
}

fn decode_key(text: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = LENIENT_KEY.decode(text.as_bytes()).map_err(|_| CryptoError::BadKey)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey)
}

fn decrypt_unpad_with(decryptor: cbc::Decryptor<Aes256>, buf: &mut [u8]) -> Result<&[u8], CryptoError> {
    if buf.is_empty() || buf.len() % AES_BLOCK != 0 {
        return Err(CryptoError::Decrypt("length is not a whole number of AES blocks"));
    }
    let plain = decryptor
        .decrypt_padded_mut::<NoPadding>(buf)
        .map_err(|_| CryptoError::Decrypt("length is not a whole number of AES blocks"))?;
    let pad = usize::from(plain[plain.len() - 1]);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::Decrypt("bad padding"));
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|b| usize::from(*b) != pad) {
        return Err(CryptoError::Decrypt("bad padding"));
    }
    Ok(body)
}

/// PKCS#7 to a 32-byte block: always adds 1..=32 bytes.
fn pad32(buf: &mut Vec<u8>) {
    let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
    // `pad` is 1..=32, so it fits a byte.
    buf.resize(buf.len() + pad, pad as u8);
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A CDATA section that stays well-formed whatever the text holds.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
