//! Images in a smart bot's finished stream (§2.4): the frame with `finish:true` may carry up to
//! ten `msg_item` images, each base64 with the hex MD5 of its bytes, JPG or PNG, at most 10 MB.
//!
//! The dispatcher downloads the images when the answer is finished; the webhook answers WeCom's
//! refresh callbacks, on any instance. So the images travel through the store: each image's
//! base64 is kept in stream records of at most [`CHUNK_BYTES`] bytes (under DynamoDB's 400 KB
//! item limit), named by the stream and the image's MD5, and the finished stream's `card` field
//! holds the list of them ([`MANIFEST`]). The webhook reads them back into the finishing frame
//! ([`frame`]). An answer's images together stay within [`TOTAL_BYTES`], so the encrypted frame
//! (base64 of base64, about 1.8 times the images) fits a Lambda response (6 MB); an image past
//! it, one that cannot be downloaded, or one that is not JPG or PNG stays a link in the text.
//!
//! On the long connection the same stored images are uploaded over the socket by the relay's
//! pusher and sent as `image` messages ([`crate::long::uploads`]).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use imgate_channel_kit::download::{Downloaded, Downloader, ImageKind};
use imgate_channel_kit::markdown::Image;
use imgate_core::ports::{Store, StoreError, StreamState};
use imgate_core::{IntegrationId, Timestamp};
use serde_json::{Value, json};

use super::payload;

/// The key of a finished stream's `card` field that lists its images.
pub const MANIFEST: &str = "msg_item_images";

/// The most bytes of images one answer carries in its stream (see the module docs).
pub const TOTAL_BYTES: u64 = 3 * 1024 * 1024;

/// Image bytes per stored record (a multiple of 3, so the records' base64 joins into the whole
/// image's).
pub const CHUNK_BYTES: usize = 240 * 1024;

/// How long the stored images are kept (WeCom stops asking 6 minutes after the message).
const TTL: Duration = Duration::from_secs(3600);

/// An image kept for the finishing frame: an entry of the stream's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The hex MD5 of its bytes (its records are named by it).
    pub md5: String,
    /// How many records hold it.
    pub chunks: usize,
    /// Its size in bytes.
    pub size: usize,
    /// Its file name (`image-<n>.png`).
    pub name: String,
    /// The image in the answer, for its link should it not be sent.
    pub link: String,
}

impl Kept {
    fn to_json(&self) -> Value {
        json!({"md5": self.md5, "chunks": self.chunks, "size": self.size, "name": self.name, "link": self.link})
    }

    fn from_json(entry: &Value) -> Option<Self> {
        Some(Self {
            md5: entry["md5"].as_str()?.to_owned(),
            chunks: usize::try_from(entry["chunks"].as_u64()?).ok()?,
            size: usize::try_from(entry["size"].as_u64().unwrap_or_default()).unwrap_or_default(),
            name: entry["name"].as_str().unwrap_or("image.png").to_owned(),
            link: entry["link"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// The images a finished stream's `card` field lists.
pub fn manifest(state: &StreamState) -> Vec<Kept> {
    state
        .card
        .as_ref()
        .and_then(|card| card.get(MANIFEST))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Kept::from_json)
        .collect()
}

/// Record `n` of an image kept for `stream_id`: base64 of its bytes from `n * CHUNK_BYTES`;
/// `None` when it expired.
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn chunk(
    store: &dyn Store,
    integration_id: &IntegrationId,
    stream_id: &str,
    md5: &str,
    n: usize,
) -> Result<Option<String>, StoreError> {
    Ok(store
        .get_stream(integration_id, &chunk_id(stream_id, md5, n), Timestamp::now())
        .await?
        .map(|record| record.content))
}

/// The images of an answer, downloaded and kept in the store for the finishing frame: the
/// manifest for the stream's `card` field (`None` when no image could be kept) and the images
/// that stay links.
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn keep(
    store: &Arc<dyn Store>,
    downloader: &Downloader,
    integration_id: &IntegrationId,
    stream_id: &str,
    images: Vec<Image>,
) -> Result<(Option<Value>, Vec<Image>), StoreError> {
    let mut kept = Vec::new();
    let mut links = Vec::new();
    let mut budget = TOTAL_BYTES;
    for image in images {
        let downloaded = match downloader
            .clone()
            .with_limit(budget.min(downloader.limit()))
            .image(&image.url)
            .await
        {
            Ok(downloaded) if matches!(downloaded.kind, ImageKind::Png | ImageKind::Jpeg) => downloaded,
            Ok(downloaded) => {
                tracing::info!(platform = "wecom", kind = ?downloaded.kind, "WeCom shows JPG and PNG only; the image stays a link");
                links.push(image);
                continue;
            }
            Err(error) => {
                tracing::warn!(platform = "wecom", %error, "an image of the answer could not be downloaded; it stays a link");
                links.push(image);
                continue;
            }
        };
        budget -= downloaded.bytes.len() as u64;
        let name = downloaded.file_name(kept.len());
        kept.push(store_image(store, integration_id, stream_id, &downloaded, name, image.link()).await?);
    }
    if kept.is_empty() {
        return Ok((None, links));
    }
    let list: Vec<Value> = kept.iter().map(Kept::to_json).collect();
    Ok((Some(json!({ MANIFEST: list })), links))
}

pub(crate) fn chunk_id(stream_id: &str, md5: &str, n: usize) -> String {
    format!("{stream_id}#image-{md5}-{n}")
}

async fn store_image(
    store: &Arc<dyn Store>,
    integration_id: &IntegrationId,
    stream_id: &str,
    image: &Downloaded,
    name: String,
    link: String,
) -> Result<Kept, StoreError> {
    let md5 = image.md5_hex();
    let now = Timestamp::now();
    let chunks: Vec<&[u8]> = image.bytes.chunks(CHUNK_BYTES).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        // Named by content: a retry that downloads the same image finds its records written.
        store
            .create_stream(&StreamState {
                integration_id: integration_id.clone(),
                id: chunk_id(stream_id, &md5, n),
                content: STANDARD.encode(chunk),
                finished: true,
                card: None,
                version: 1,
                created_at: now,
                expires_at: now.plus(TTL),
            })
            .await?;
    }
    Ok(Kept {
        md5,
        chunks: chunks.len(),
        size: image.bytes.len(),
        name,
        link,
    })
}

/// The stream frame WeCom is answered with for `state`: its images (read back from the store)
/// as `msg_item` when it is finished with a manifest, else as [`payload::stream`] makes it. An
/// image whose records expired is left out.
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn frame(store: &dyn Store, state: &StreamState, now: Timestamp) -> Result<Value, StoreError> {
    let manifest = manifest(state);
    if manifest.is_empty() || !state.finished {
        return Ok(payload::stream(
            &state.id,
            &state.content,
            state.finished,
            state.card.as_ref(),
        ));
    }
    let mut items = Vec::new();
    'images: for kept in manifest {
        let mut base64 = String::new();
        for n in 0..kept.chunks {
            match store
                .get_stream(&state.integration_id, &chunk_id(&state.id, &kept.md5, n), now)
                .await?
            {
                Some(record) => base64.push_str(&record.content),
                None => continue 'images,
            }
        }
        items.push(json!({"msgtype": "image", "image": {"base64": base64, "md5": kept.md5}}));
    }
    let mut frame = payload::stream(&state.id, &state.content, true, None);
    if !items.is_empty() {
        frame["stream"]["msg_item"] = Value::Array(items);
    }
    Ok(frame)
}
