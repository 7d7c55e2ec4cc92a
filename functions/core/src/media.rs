//! The media pipeline: what the dispatcher does with the files a user sent before it calls the
//! agent.
//!
//! Each [`MediaRef`] of the message is checked against the size cap (a file whose stated size
//! is over it is described, not downloaded), downloaded with the platform's [`MediaFetcher`]
//! (within a timeout), kept by the [`MediaStore`] under a name unique to the event and the
//! file's position (so a redelivery overwrites what the first delivery kept, never a second
//! copy) behind a time-limited URL, and handed to the agent as an [`Attachment`]. Images in a
//! format vision models read also travel as bytes, for agents that take them inline.
//!
//! Nothing here fails the conversation: a file that is too large, cannot be downloaded or
//! stored, or arrives where no media store is configured becomes a line in the agent's input
//! (`(the user sent a 40 MB video that was not fetched: larger than the 20 MB limit)`) and an
//! event-log line of kind `media`. A voice note whose platform sent its transcript as the
//! message text is not downloaded: the transcript is the input. Nothing is marked either: the
//! answer's own mark, written after it is shown, covers the message; a redelivery fetches and
//! stores again under the same names.
//!
//! Event-log and tracing lines name the kind, position, size and type of a file, never its URL,
//! key or name.

pub mod describe;
mod file;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::event::{MediaKind, MediaRef};
use crate::event_log::{EventKind, EventLines};
use crate::ports::{Attachment, MediaError, MediaFetcher, MediaStore, ReplyTarget};

pub use file::sniff_image;

/// The default size cap: 20 MiB, what Telegram lets bots download and OpenAI accepts per image.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// The largest cap accepted (1 GiB): a file is held in memory while it is passed on.
pub const MAX_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Environment variable of the size cap in bytes (`imgate serve`, the dispatcher function and
/// the relay running the dispatcher).
pub const MAX_BYTES_VAR: &str = "IMGATE_MEDIA_MAX_BYTES";
/// How long downloading one file, and then storing it, may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the agent's link to a kept file works.
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
/// Files fetched per message at most; the rest are described.
pub const DEFAULT_MAX_FILES: usize = 10;
/// Files of one message downloaded at once.
const PARALLEL_FETCHES: usize = 3;
/// The default budget of image bytes one agent call carries inline: 20 MiB. OpenAI takes 20 MB
/// per image and 50 MB per request, and base64 makes a third more of it; a dispatcher function
/// has 256 MB of memory, which ten 20 MB images held at once and encoded would overrun.
pub const DEFAULT_INLINE_BUDGET: u64 = 20 * 1024 * 1024;

/// Tunables of the media pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// The size cap in bytes ([`DEFAULT_MAX_BYTES`]).
    pub max_bytes: u64,
    /// The time one download, and then one store, may take ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// How long the agent's links work ([`DEFAULT_LINK_TTL`]).
    pub link_ttl: Duration,
    /// Files fetched per message at most ([`DEFAULT_MAX_FILES`]).
    pub max_files: usize,
    /// Image bytes handed over inline per message at most ([`DEFAULT_INLINE_BUDGET`]); the
    /// images past it, in the order the user sent them, are handed over by their links only.
    pub inline_budget: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
            link_ttl: DEFAULT_LINK_TTL,
            max_files: DEFAULT_MAX_FILES,
            inline_budget: DEFAULT_INLINE_BUDGET,
        }
    }
}

/// A size cap that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{MAX_BYTES_VAR} must be a whole number of bytes from 1 to {MAX_MAX_BYTES}")]
pub struct MaxBytesError;

/// Reads a size cap in bytes (the value of [`MAX_BYTES_VAR`]).
///
/// # Errors
/// [`MaxBytesError`] unless it is a whole number from 1 to [`MAX_MAX_BYTES`].
pub fn parse_max_bytes(text: &str) -> Result<u64, MaxBytesError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_MAX_BYTES).contains(n))
        .ok_or(MaxBytesError)
}

/// The dispatcher's way to fetch and keep media: the platforms' fetchers, a store and its
/// settings.
#[derive(Clone)]
pub struct MediaPipeline {
    fetcher: Arc<dyn MediaFetcher>,
    store: Arc<dyn MediaStore>,
    settings: MediaSettings,
}

/// What the agent is given for a message's media.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ForAgent {
    /// The files that were fetched and kept, in the order the user sent them.
    pub attachments: Vec<Attachment>,
    /// One line per file that was not, for the agent's input.
    pub notes: Vec<String>,
}

impl ForAgent {
    /// The user's `text` followed by the notes (after a blank line; the notes alone when there
    /// is no text).
    pub fn input(&self, text: &str) -> String {
        if self.notes.is_empty() {
            return text.to_owned();
        }
        let notes = self.notes.join("\n");
        if text.trim().is_empty() {
            notes
        } else {
            format!("{text}\n\n{notes}")
        }
    }
}

/// What became of one file.
enum Outcome {
    /// Kept, for the agent.
    Kept(Attachment),
    /// A voice note whose transcript is the message text: not downloaded.
    Transcribed,
    /// Not fetched, with its size where known and why.
    NotFetched { size: Option<u64>, reason: String },
}

impl MediaPipeline {
    /// A pipeline downloading with `fetcher` (one that dispatches by platform, like
    /// `imgate_channels::Channels::media`) and keeping files in `store`.
    pub fn new(fetcher: Arc<dyn MediaFetcher>, store: Arc<dyn MediaStore>, settings: MediaSettings) -> Self {
        Self {
            fetcher,
            store,
            settings,
        }
    }

    /// The pipeline's settings.
    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    /// Downloads, keeps and describes the `index`-th file of the message `target` answers.
    async fn one(&self, target: &ReplyTarget, index: usize, media: &MediaRef) -> Outcome {
        let limit = self.settings.max_bytes;
        let too_large = |size: Option<u64>| Outcome::NotFetched {
            size,
            reason: describe::too_large(limit),
        };
        if index >= self.settings.max_files {
            let reason = format!(
                "only the first {} files of a message are fetched",
                self.settings.max_files
            );
            return Outcome::NotFetched {
                size: media.size,
                reason,
            };
        }
        if let Some(size) = media.size.filter(|size| *size > limit) {
            return too_large(Some(size));
        }
        let within = describe::duration(self.settings.timeout);
        let fetched = self
            .fetcher
            .fetch(&target.integration, &target.credentials, media, limit);
        let download = match tokio::time::timeout(self.settings.timeout, fetched).await {
            Err(_) => {
                return Outcome::NotFetched {
                    size: media.size,
                    reason: format!("could not be downloaded within {within}"),
                };
            }
            Ok(Err(MediaError::TooLarge { size, .. })) => return too_large(size.or(media.size)),
            Ok(Err(error)) => {
                return Outcome::NotFetched {
                    size: media.size,
                    reason: describe::scrub(&error.to_string()),
                };
            }
            Ok(Ok(download)) => download,
        };
        let size = u64::try_from(download.bytes.len()).unwrap_or(u64::MAX);
        if size > limit {
            return too_large(Some(size));
        }
        let mime = file::mime(download.mime.as_deref(), media.mime.as_deref(), &download.bytes);
        let key = file::key(&target.event, index, &mime);
        let put = self.store.put(&key, &download.bytes, &mime, self.settings.link_ttl);
        let stored = match tokio::time::timeout(self.settings.timeout, put).await {
            Err(_) => {
                return Outcome::NotFetched {
                    size: Some(size),
                    reason: format!("could not be stored within {within}"),
                };
            }
            Ok(Err(error)) => {
                return Outcome::NotFetched {
                    size: Some(size),
                    reason: describe::scrub(&error.to_string()),
                };
            }
            Ok(Ok(stored)) => stored,
        };
        let inline = file::is_inline_image(media.kind, &mime);
        Outcome::Kept(Attachment {
            kind: media.kind,
            name: download
                .name
                .as_deref()
                .or(media.name.as_deref())
                .and_then(describe::clean_name),
            mime,
            size,
            url: stored.url,
            expires_at: stored.expires_at,
            bytes: inline.then_some(download.bytes),
        })
    }
}

/// Prepares the `media` of the message `target` answers, whose text is `text`, for the agent:
/// fetched and kept through `pipeline`, or, without one, described as not kept. Each file gets
/// an event-log line in `lines`.
pub async fn prepare<'a>(
    pipeline: Option<&'a MediaPipeline>,
    target: &'a ReplyTarget,
    media: &'a [MediaRef],
    text: &str,
    lines: &mut EventLines,
) -> ForAgent {
    let transcribed = !text.trim().is_empty();
    let one = |index: usize, file: &'a MediaRef| async move {
        if file.kind == MediaKind::Voice && transcribed {
            return Outcome::Transcribed;
        }
        match pipeline {
            Some(pipeline) => pipeline.one(target, index, file).await,
            None => Outcome::NotFetched {
                size: file.size,
                reason: "this gateway keeps no media".to_owned(),
            },
        }
    };
    let mut outcomes = Vec::with_capacity(media.len());
    // A few at a time, and only the images within the inline budget keep their bytes, so a
    // message of many large files does not hold them all in memory.
    let mut inline_left = pipeline.map_or(0, |p| p.settings.inline_budget);
    for (start, chunk) in (0..).step_by(PARALLEL_FETCHES).zip(media.chunks(PARALLEL_FETCHES)) {
        let batch = chunk.iter().enumerate().map(|(i, file)| one(start + i, file));
        for mut outcome in futures_util::future::join_all(batch).await {
            if let Outcome::Kept(attachment) = &mut outcome {
                let inline = attachment.bytes.as_ref().map_or(0, |b| b.len() as u64);
                if inline > inline_left {
                    attachment.bytes = None;
                } else {
                    inline_left -= inline;
                }
            }
            outcomes.push(outcome);
        }
    }
    let ttl_hours = pipeline.map_or(0, |p| p.settings.link_ttl.as_secs() / 3600);
    let event = &target.event;
    let mut prepared = ForAgent::default();
    for (index, (file, outcome)) in media.iter().zip(outcomes).enumerate() {
        let which = format!("{} {} of {}", describe::noun(file.kind), index + 1, media.len());
        let detail = match outcome {
            Outcome::Kept(attachment) => {
                let by_link = if attachment.bytes.is_none() && file::is_inline_image(attachment.kind, &attachment.mime)
                {
                    "; by its link only, past the message's inline budget"
                } else {
                    ""
                };
                let detail = format!(
                    "{which} kept for the agent ({}, {}; its link works {ttl_hours} h{by_link})",
                    describe::size(attachment.size),
                    attachment.mime
                );
                prepared.attachments.push(attachment);
                detail
            }
            Outcome::Transcribed => format!("{which}: the platform's transcript is the input"),
            Outcome::NotFetched { size, reason } => {
                let name = file.name.as_deref().and_then(describe::clean_name);
                prepared
                    .notes
                    .push(describe::not_fetched(file.kind, size, name.as_deref(), &reason));
                let size = size.map(|s| format!(" ({})", describe::size(s))).unwrap_or_default();
                format!("{which}{size} not fetched: {reason}")
            }
        };
        lines.push(&event.integration_id, EventKind::Media, Some(&event.event_id), &detail);
    }
    prepared
}
