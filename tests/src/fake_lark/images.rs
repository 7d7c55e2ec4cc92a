//! Images for messages: `POST /open-apis/im/v1/images` (multipart: `image_type` `message` or
//! `avatar`, `image` the file; at most 10 MB and not empty, JPG, PNG, WEBP, GIF, BMP, ICO, TIFF
//! or HEIC, per the Open Platform's "upload image" page) answers `{"image_key":"img_v2_<n>"}`, and
//! a message of `msg_type` `image` must name a key uploaded for messages. Error codes are the
//! fake's choice where the notes give none: 234001 bad request, 234006 too large, 234011 not an
//! image, 230001 an unknown key.

use std::collections::HashSet;

use axum::extract::{Multipart, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::FakeLark;
use super::open_api::{Answer, SentMessage};

/// Largest image, in bytes.
const IMAGE_LIMIT: usize = 10 * 1024 * 1024;

/// Uploaded image keys.
#[derive(Default)]
pub(super) struct Images {
    keys: HashSet<String>,
    uploads: usize,
}

/// Whether `bytes` start like an image Lark takes.
fn is_image(bytes: &[u8]) -> bool {
    [
        &b"\x89PNG"[..],
        &[0xFF, 0xD8, 0xFF][..],
        &b"GIF8"[..],
        &b"RIFF"[..],
        &b"BM"[..],
        &[0, 0, 1, 0][..],
        &b"II*\0"[..],
        &b"MM\0*"[..],
    ]
    .iter()
    .any(|magic| bytes.starts_with(magic))
}

/// `POST /open-apis/im/v1/images`.
pub(super) async fn upload(State(fake): State<FakeLark>, headers: HeaderMap, mut form: Multipart) -> Response {
    let (mut image_type, mut image) = (None, None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("image_type") => image_type = field.text().await.ok(),
            Some("image") => image = field.bytes().await.ok(),
            _ => {}
        }
    }
    let mut state = fake.state();
    if !state.authorized(&headers) {
        return Answer::rejected(99991663, "Invalid access token for authorization.").into_response();
    }
    let answer = match (image_type.as_deref(), image) {
        (Some("message" | "avatar"), Some(bytes)) if bytes.is_empty() => Answer::rejected(234001, "empty image"),
        (Some("message" | "avatar"), Some(bytes)) if bytes.len() > IMAGE_LIMIT => {
            Answer::rejected(234006, "The image size exceeds the limit.")
        }
        (Some("message" | "avatar"), Some(bytes)) if !is_image(&bytes) => {
            Answer::rejected(234011, "Can't recognize image format.")
        }
        (Some(kind), Some(_)) if kind == "message" || kind == "avatar" => {
            let key = format!("img_v2_{}", state.next_id());
            if kind == "message" {
                state.images.keys.insert(key.clone());
            }
            state.images.uploads += 1;
            Answer::data(json!({"image_key": key}))
        }
        _ => Answer::rejected(234001, "Invalid request param: image_type and image are required."),
    };
    drop(state);
    answer.into_response()
}

/// Checks the `content` of an `image` message: a key uploaded for messages.
pub(super) fn validate(fake_images: &Images, content: &Value) -> Result<(), String> {
    match content["image_key"].as_str() {
        Some(key) if fake_images.keys.contains(key) => Ok(()),
        _ => Err("image_key is not an image uploaded for messages".to_owned()),
    }
}

impl FakeLark {
    /// The image messages sent as replies to `message_id`: their image keys, in order.
    pub fn images_replying_to(&self, message_id: &str) -> Vec<String> {
        self.sent()
            .iter()
            .filter(|m: &&SentMessage| m.msg_type == "image" && m.reply_to.as_deref() == Some(message_id))
            .filter_map(|m| m.content["image_key"].as_str().map(str::to_owned))
            .collect()
    }

    /// How many images were uploaded.
    pub fn image_uploads(&self) -> usize {
        self.state().images.uploads
    }
}
