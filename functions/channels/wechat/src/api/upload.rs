//! Uploading an image to the media CDN for a message (§5.1): `getuploadurl` with the file's
//! sizes, MD5 and a fresh AES-128 key, the bytes encrypted with AES-128-ECB and PKCS#7 and
//! `POST`ed to the CDN, whose `x-encrypted-param` answer header is the handle the message names
//! (§4.2). A 4xx from the CDN fails at once; a 5xx, another status or a network error is tried
//! again, three attempts in all.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imgate_channel_kit::download::Downloaded;
use serde_json::{Value, json};

use super::{Account, ApiError, Client, SEND_TIMEOUT, base_info, checked, transport};

/// The media CDN (§1, "Media CDN").
pub const DEFAULT_CDN_URL: &str = "https://novac2c.cdn.weixin.qq.com/c2c";

/// `media_type` of an image (§5.1).
const MEDIA_IMAGE: u8 = 1;

/// Attempts of one CDN upload (§5.1 step 6).
const CDN_ATTEMPTS: usize = 3;

/// An uploaded image, ready to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// The CDN's download handle (`x-encrypted-param`).
    pub handle: String,
    /// The AES key as 32 lowercase hex characters.
    pub aes_key_hex: String,
    /// The size of the ciphertext.
    pub cipher_size: usize,
}

impl Uploaded {
    /// The `item_list` entry of an image message (§4.2): `aes_key` is base64 of the hex text.
    pub fn item(&self) -> Value {
        json!({"type": 2, "image_item": {
            "media": {"encrypt_query_param": self.handle, "aes_key": STANDARD.encode(&self.aes_key_hex), "encrypt_type": 1},
            "mid_size": self.cipher_size,
        }})
    }
}

/// `bytes` encrypted with AES-128-ECB and PKCS#7 padding (always 1–16 bytes of it).
pub fn encrypt(key: &[u8; 16], bytes: &[u8]) -> Vec<u8> {
    let cipher = Aes128::new(GenericArray::from_slice(key));
    let pad = 16 - bytes.len() % 16;
    let mut out = Vec::with_capacity(bytes.len() + pad);
    out.extend_from_slice(bytes);
    out.extend(std::iter::repeat_n(u8::try_from(pad).unwrap_or(16), pad));
    for block in out.chunks_exact_mut(16) {
        cipher.encrypt_block(GenericArray::from_mut_slice(block));
    }
    out
}

impl Client {
    /// Uploads `image` for a message to `to_user` through the CDN at `cdn`.
    ///
    /// # Errors
    /// [`ApiError`]: `getuploadurl` refused or without a target, the CDN refusing the upload or
    /// answering without `x-encrypted-param`.
    pub async fn upload_image(
        &self,
        account: &Account,
        cdn: &str,
        to_user: &str,
        image: &Downloaded,
    ) -> Result<Uploaded, ApiError> {
        let key: [u8; 16] = rand::random();
        let aes_key_hex = hex::encode(key);
        let filekey = hex::encode(rand::random::<[u8; 16]>());
        let ciphertext = encrypt(&key, &image.bytes);
        let body = json!({
            "filekey": filekey,
            "media_type": MEDIA_IMAGE,
            "to_user_id": to_user,
            "rawsize": image.bytes.len(),
            "rawfilemd5": image.md5_hex(),
            "filesize": ciphertext.len(),
            "no_need_thumb": true,
            "aeskey": aes_key_hex,
            "base_info": base_info(),
        });
        let answer: Value = self.post(account, "getuploadurl", &body, SEND_TIMEOUT).await?;
        let target = match (answer["upload_full_url"].as_str(), answer["upload_param"].as_str()) {
            (Some(full), _) if !full.is_empty() => full.to_owned(),
            (_, Some(param)) if !param.is_empty() => {
                let mut url = url::Url::parse(&format!("{}/upload", cdn.trim_end_matches('/'))).map_err(|_| {
                    ApiError::Transport {
                        call: "cdn upload",
                        detail: "the CDN base is not a URL".into(),
                    }
                })?;
                url.query_pairs_mut()
                    .append_pair("encrypted_query_param", param)
                    .append_pair("filekey", &filekey);
                url.to_string()
            }
            _ => return Err(checked_or_missing(&answer)),
        };
        let cipher_size = ciphertext.len();
        let handle = self.post_to_cdn(&target, ciphertext).await?;
        Ok(Uploaded {
            handle,
            aes_key_hex,
            cipher_size,
        })
    }

    async fn post_to_cdn(&self, target: &str, ciphertext: Vec<u8>) -> Result<String, ApiError> {
        let mut last = None;
        for _ in 0..CDN_ATTEMPTS {
            let sent = self
                .http
                .post(target)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(ciphertext.clone())
                .timeout(SEND_TIMEOUT * 4)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(error) => {
                    last = Some(transport("cdn upload", error));
                    continue;
                }
            };
            let status = response.status();
            if status.is_client_error() {
                return Err(ApiError::Http {
                    call: "cdn upload",
                    status: status.as_u16(),
                });
            }
            let handle = response
                .headers()
                .get("x-encrypted-param")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            match (status.as_u16(), handle) {
                (200, Some(handle)) => return Ok(handle),
                (200, None) => {
                    last = Some(ApiError::Transport {
                        call: "cdn upload",
                        detail: "the CDN answered without x-encrypted-param".into(),
                    });
                }
                (status, _) => {
                    last = Some(ApiError::Http {
                        call: "cdn upload",
                        status,
                    });
                }
            }
        }
        Err(last.unwrap_or(ApiError::Transport {
            call: "cdn upload",
            detail: "not attempted".into(),
        }))
    }
}

/// The error of a `getuploadurl` answer without an upload target.
fn checked_or_missing(answer: &Value) -> ApiError {
    let status = serde_json::from_value(answer.clone()).unwrap_or_default();
    match checked("getuploadurl", &status) {
        Err(error) => error,
        Ok(()) => ApiError::Transport {
            call: "getuploadurl",
            detail: "the answer names no upload target".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §11's vector: key 00112233445566778899aabbccddeeff.
    #[test]
    fn encryption_matches_the_notes_vector() {
        let key: [u8; 16] = [
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
        ];
        let plain = "Hello, iLink CDN! 你好".as_bytes();
        assert_eq!(plain.len(), 24);
        let cipher = encrypt(&key, plain);
        assert_eq!(
            hex::encode(&cipher),
            "7ec4541cf966ff4161824871d156b9a41b013bc501ee22fa306230e6e15b1866"
        );
        assert_eq!(
            STANDARD.encode(hex::encode(key)),
            "MDAxMTIyMzM0NDU1NjY3Nzg4OTlhYWJiY2NkZGVlZmY="
        );
        assert_eq!(hex::encode(encrypt(&key, b"")), "00657ea140655a44782747705d422fad");
        assert_eq!(
            hex::encode(encrypt(&key, b"0123456789abcdef")),
            "aebdd39b144089d5e31cacd35b7a113a00657ea140655a44782747705d422fad",
            "a whole block of padding"
        );
    }
}
