//! Temporary media over the long connection (§3.8) and image messages (§3.7):
//! `aibot_upload_media_init` (`type`, `filename`, `total_size`, `total_chunks` 1–100, `md5`)
//! answers an `upload_id`; `aibot_upload_media_chunk` takes chunk `chunk_index` (from 0, as the
//! official SDK sends them; at most 512 KB before base64); `aibot_upload_media_finish` checks
//! that every chunk came, the size and the MD5, and answers a `media_id`; an `aibot_send_msg`
//! `image` message must name such a `media_id`. Error codes are the fake's choice where the
//! notes give none (40007 invalid media_id, 40009 bad upload, 40058 bad parameter).

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use serde_json::{Value, json};

use super::{FakeWecom, State, ack};

/// Largest chunk, before base64.
const CHUNK_LIMIT: usize = 512 * 1024;

/// An image message the bot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentImage {
    /// Where it went.
    pub chatid: String,
    /// The media it named.
    pub media_id: String,
    /// The uploaded file's size.
    pub size: usize,
}

struct Upload {
    total_size: usize,
    total_chunks: usize,
    md5: Option<String>,
    chunks: BTreeMap<usize, Vec<u8>>,
}

/// Uploads under way, finished media and sent images.
#[derive(Default)]
pub(super) struct Media {
    uploads: HashMap<String, Upload>,
    media: HashMap<String, usize>,
    sent: Vec<SentImage>,
    next: u64,
}

fn answer(req_id: &str, body: Value) -> String {
    json!({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok", "body": body}).to_string()
}

/// Answers an `aibot_upload_media_*` frame.
pub(super) fn upload(state: &mut State, cmd: &str, req_id: &str, body: &Value) -> String {
    let media = &mut state.media;
    let upload_id = body["upload_id"].as_str().unwrap_or_default().to_owned();
    match cmd {
        "aibot_upload_media_init" => {
            let total_chunks = body["total_chunks"].as_u64().unwrap_or(0) as usize;
            let kind_ok = matches!(body["type"].as_str(), Some("file" | "image" | "voice" | "video"));
            if !kind_ok || !(1..=100).contains(&total_chunks) || body["filename"].as_str().is_none_or(str::is_empty) {
                return ack(req_id, 40_058, "invalid upload parameters");
            }
            media.next += 1;
            let id = format!("upload-{}", media.next);
            media.uploads.insert(
                id.clone(),
                Upload {
                    total_size: body["total_size"].as_u64().unwrap_or(0) as usize,
                    total_chunks,
                    md5: body["md5"].as_str().map(str::to_owned),
                    chunks: BTreeMap::new(),
                },
            );
            answer(req_id, json!({"upload_id": id}))
        }
        "aibot_upload_media_chunk" => {
            let Some(upload) = media.uploads.get_mut(&upload_id) else {
                return ack(req_id, 40_009, "unknown upload_id");
            };
            let index = body["chunk_index"].as_u64().unwrap_or(u64::MAX) as usize;
            let data = body["base64_data"].as_str().and_then(|d| STANDARD.decode(d).ok());
            match data {
                Some(data) if index < upload.total_chunks && data.len() <= CHUNK_LIMIT => {
                    upload.chunks.entry(index).or_insert(data);
                    ack(req_id, 0, "ok")
                }
                _ => ack(req_id, 40_009, "invalid chunk"),
            }
        }
        "aibot_upload_media_finish" => {
            let Some(upload) = media.uploads.remove(&upload_id) else {
                return ack(req_id, 40_009, "unknown upload_id");
            };
            let bytes: Vec<u8> = upload.chunks.values().flatten().copied().collect();
            let digest: String = Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            if upload.chunks.len() != upload.total_chunks
                || bytes.len() != upload.total_size
                || upload.md5.is_some_and(|md5| md5 != digest)
            {
                return ack(req_id, 40_009, "upload incomplete or corrupt");
            }
            media.next += 1;
            let media_id = format!("media-{}", media.next);
            media.media.insert(media_id.clone(), bytes.len());
            answer(
                req_id,
                json!({"type": "image", "media_id": media_id, "created_at": 1_795_244_400}),
            )
        }
        _ => ack(req_id, 40_058, "unknown cmd"),
    }
}

/// Answers an `aibot_send_msg` `image` message.
pub(super) fn send_image(state: &mut State, req_id: &str, body: &Value) -> String {
    let media_id = body["image"]["media_id"].as_str().unwrap_or_default();
    let Some(size) = state.media.media.get(media_id).copied() else {
        return ack(req_id, 40_007, "invalid media_id");
    };
    state.media.sent.push(SentImage {
        chatid: body["chatid"].as_str().unwrap_or_default().to_owned(),
        media_id: media_id.to_owned(),
        size,
    });
    ack(req_id, 0, "ok")
}

impl FakeWecom {
    /// The image messages the bot sent to `chatid`, in order.
    pub fn images_to(&self, chatid: &str) -> Vec<SentImage> {
        self.state()
            .media
            .sent
            .iter()
            .filter(|image| image.chatid == chatid)
            .cloned()
            .collect()
    }
}
