//! Outbound images (§5.1, §4.2): `getuploadurl` answers an `upload_param` for the file it is
//! told of; `POST /c2c/upload?encrypted_query_param=…&filekey=…` takes the AES-128-ECB
//! ciphertext, which must decrypt with the announced key to bytes of the announced size and
//! MD5, and answers the download handle in `x-encrypted-param` (400 with `x-error-message`
//! otherwise); an image item of `sendmessage` must name such a handle, its key as base64 of the
//! hex text and the ciphertext size as `mid_size`. Sent images are [`FakeWechat::images`].

use std::collections::HashMap;

use aes::Aes128;
use aes::cipher::{BlockDecrypt, KeyInit, generic_array::GenericArray};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::{FakeWechat, Inner, answer, checked};

/// An announced upload.
#[derive(Clone)]
pub(super) struct Pending {
    filekey: String,
    aes_key_hex: String,
    rawsize: usize,
    rawfilemd5: String,
    filesize: usize,
}

/// An image the bot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentImage {
    /// The recipient.
    pub to: String,
    /// The context token it carried.
    pub context_token: String,
    /// The CDN handle it named.
    pub handle: String,
    /// The decrypted image's size.
    pub size: usize,
}

/// Uploads and handles.
#[derive(Default)]
pub(super) struct Cdn {
    pending: HashMap<String, Pending>,
    /// Handle → (hex key, ciphertext size, plaintext size).
    stored: HashMap<String, (String, usize, usize)>,
    sent: Vec<SentImage>,
    next: usize,
}

fn decrypt(key_hex: &str, cipher: &[u8]) -> Option<Vec<u8>> {
    let key = hex::decode(key_hex).ok()?;
    if key.len() != 16 || cipher.is_empty() || cipher.len() % 16 != 0 {
        return None;
    }
    let aes = Aes128::new(GenericArray::from_slice(&key));
    let mut plain = cipher.to_vec();
    for block in plain.chunks_exact_mut(16) {
        aes.decrypt_block(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(*plain.last()?);
    if !(1..=16).contains(&pad) || plain[plain.len() - pad..].iter().any(|b| usize::from(*b) != pad) {
        return None;
    }
    plain.truncate(plain.len() - pad);
    Some(plain)
}

/// `POST /ilink/bot/getuploadurl`.
pub(super) async fn get_upload_url(State(fake): State<FakeWechat>, headers: HeaderMap, body: String) -> Response {
    let body = match checked(&fake, &headers, "getuploadurl", &body, true) {
        Ok(body) => body,
        Err(refused) => return refused.into_response(),
    };
    let pending = Pending {
        filekey: body["filekey"].as_str().unwrap_or_default().to_owned(),
        aes_key_hex: body["aeskey"].as_str().unwrap_or_default().to_owned(),
        rawsize: body["rawsize"].as_u64().unwrap_or_default() as usize,
        rawfilemd5: body["rawfilemd5"].as_str().unwrap_or_default().to_owned(),
        filesize: body["filesize"].as_u64().unwrap_or_default() as usize,
    };
    if body["media_type"] != 1 || pending.filekey.len() != 32 || pending.aes_key_hex.len() != 32 {
        return answer(json!({"ret": -1, "errmsg": "media_type, filekey and aeskey are required"}));
    }
    let mut state = fake.state();
    state.cdn.next += 1;
    let param = format!("up+{}/=", state.cdn.next);
    state.cdn.pending.insert(param.clone(), pending);
    answer(json!({"ret": 0, "upload_param": param, "thumb_upload_param": ""}))
}

fn refuse(why: &str) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        [("x-error-message", why.to_owned())],
        "",
    )
        .into_response()
}

/// `POST /c2c/upload`.
pub(super) async fn upload(
    State(fake): State<FakeWechat>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let param = query.get("encrypted_query_param").cloned().unwrap_or_default();
    let mut state = fake.state();
    let Some(pending) = state.cdn.pending.get(&param).cloned() else {
        return refuse("unknown upload param");
    };
    if query.get("filekey") != Some(&pending.filekey) {
        return refuse("filekey mismatch");
    }
    if body.len() != pending.filesize {
        return refuse("filesize mismatch");
    }
    let Some(plain) = decrypt(&pending.aes_key_hex, &body) else {
        return refuse("cannot decrypt");
    };
    let md5: String = Md5::digest(&plain).iter().map(|b| format!("{b:02x}")).collect();
    if plain.len() != pending.rawsize || md5 != pending.rawfilemd5 {
        return refuse("rawsize or rawfilemd5 mismatch");
    }
    state.cdn.pending.remove(&param);
    state.cdn.next += 1;
    let handle = format!("dl-{}", state.cdn.next);
    state
        .cdn
        .stored
        .insert(handle.clone(), (pending.aes_key_hex, body.len(), plain.len()));
    ([("x-encrypted-param", handle)], "").into_response()
}

/// Checks the image item of a `sendmessage`; `Err` is the `errmsg` of a refusal.
pub(super) fn check_item(state: &Inner, item: &Value) -> Result<(), &'static str> {
    let media = &item["image_item"]["media"];
    let handle = media["encrypt_query_param"].as_str().unwrap_or_default();
    let Some((key_hex, cipher_size, _)) = state.cdn.stored.get(handle) else {
        return Err("unknown image handle");
    };
    let key = media["aes_key"]
        .as_str()
        .and_then(|k| STANDARD.decode(k).ok())
        .and_then(|k| String::from_utf8(k).ok());
    if key.as_deref() != Some(key_hex.as_str()) || media["encrypt_type"] != 1 {
        return Err("aes_key must be base64 of the hex key, encrypt_type 1");
    }
    if item["image_item"]["mid_size"].as_u64() != Some(*cipher_size as u64) {
        return Err("mid_size must be the ciphertext size");
    }
    Ok(())
}

/// Records a sent image item.
pub(super) fn record(state: &mut Inner, to: &str, context_token: &str, item: &Value) {
    let handle = item["image_item"]["media"]["encrypt_query_param"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let size = state.cdn.stored.get(&handle).map_or(0, |(_, _, size)| *size);
    state.cdn.sent.push(SentImage {
        to: to.to_owned(),
        context_token: context_token.to_owned(),
        handle,
        size,
    });
}

impl FakeWechat {
    /// Images the bot sent, in order.
    pub fn images(&self) -> Vec<SentImage> {
        self.state().cdn.sent.clone()
    }

    /// The images the bot sent with the context token of message `message_id`.
    pub fn images_answering(&self, message_id: u64) -> Vec<SentImage> {
        let context = format!("ctx-{message_id}");
        self.images()
            .into_iter()
            .filter(|i| i.context_token == context)
            .collect()
    }
}
