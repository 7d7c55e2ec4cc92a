//! The media directory of `imgate serve`: the files users sent, kept for the agents next to the
//! database (`<database's directory>/media/`) and served by the gateway itself at
//! `GET /media/{token}` (see [`link`] for the tokens).
//!
//! - **Writes are atomic**: a file is written to a temporary name (owner-only, synced) and
//!   renamed over its final name, so a reader sees the whole file or none, and a redelivered
//!   message that stores its files again replaces them.
//! - **Expiry**: a file's modification time is set to its link's expiry; a sweep (at most every
//!   [`SWEEP_EVERY`] on a put, and whenever `imgate serve` purges its database) removes the
//!   files whose time is up, and temporary files a crash left behind.
//! - **Privacy**: the directory is `0700` and every file `0600`, like the database; the links
//!   are unguessable and expire; nothing here logs a token or a file's name.

pub mod link;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use imgate_core::Timestamp;
use imgate_core::keyring::KEY_LEN;
use imgate_core::ports::{MediaError, MediaFile, MediaFiles, MediaLinkError, MediaStore, StoredMedia};

use link::{Link, LinkKey};

/// The longest a link made here works, whatever the caller asks.
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The least time between two sweeps started by puts.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);
/// How old a temporary file must be before a sweep takes it for a crash's leftover.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);
/// The prefix of temporary files (never a kept file's name: those start with a letter or digit).
const TEMPORARY: &str = ".tmp-";

/// Opening the media directory failed.
#[derive(Debug, thiserror::Error)]
#[error("media directory {path}: {source}")]
pub struct MediaDirError {
    /// The directory.
    pub path: PathBuf,
    /// What went wrong.
    #[source]
    pub source: io::Error,
}

/// Files kept for agents in a local directory, linked under a base URL.
#[derive(Clone)]
pub struct MediaDir {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    key: LinkKey,
    base_url: String,
    last_sweep: Mutex<Option<Instant>>,
}

impl MediaDir {
    /// The media directory beside the database at `db_path` (`<its directory>/media`), created
    /// `0700` if needed; links start with `base_url` (the gateway's public base URL) and are
    /// signed with a key derived from `secret` (the gateway's key file).
    ///
    /// # Errors
    /// [`MediaDirError`] when the directory cannot be created.
    pub fn beside(db_path: &Path, secret: &[u8; KEY_LEN], base_url: &str) -> Result<Self, MediaDirError> {
        let parent = match db_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Self::open(&parent.join("media"), secret, base_url)
    }

    /// The media directory at `dir`, created `0700` if needed.
    ///
    /// # Errors
    /// [`MediaDirError`] when the directory cannot be created.
    pub fn open(dir: &Path, secret: &[u8; KEY_LEN], base_url: &str) -> Result<Self, MediaDirError> {
        let failed = |source| MediaDirError {
            path: dir.to_path_buf(),
            source,
        };
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(failed)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(failed)?;
        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                key: LinkKey::derive(secret),
                base_url: base_url.trim_end_matches('/').to_owned(),
                last_sweep: Mutex::new(None),
            }),
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    /// Removes the files whose links expired by `now` and stale temporary files; returns how
    /// many were removed.
    ///
    /// # Errors
    /// When the directory cannot be listed; a file that cannot be removed is skipped.
    pub async fn sweep(&self, now: Timestamp) -> io::Result<usize> {
        let dir = self.inner.dir.clone();
        tokio::task::spawn_blocking(move || sweep(&dir, now))
            .await
            .map_err(io::Error::other)?
    }

    /// True (and the clock restarted) when a put should sweep.
    fn sweep_due(&self) -> bool {
        let Ok(mut last) = self.inner.last_sweep.lock() else {
            return false;
        };
        if last.is_some_and(|at| at.elapsed() < SWEEP_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// True for the names this directory keeps: letters, digits, `-`, `_` and `.`, not starting
/// with a dot, at most 200 characters (so never a path, never a temporary file).
fn is_kept_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Writes `bytes` to `dir/name` atomically, owner-only, with `expires` as its modification time.
fn write(dir: &Path, name: &str, bytes: &[u8], expires: SystemTime) -> io::Result<()> {
    let temporary = dir.join(format!(
        "{TEMPORARY}{}-{:016x}",
        Timestamp::now().as_millis(),
        rand::random::<u64>()
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.set_modified(expires)?;
        file.sync_all()?;
        fs::rename(&temporary, dir.join(name))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written?;
    // Make the new entry durable too (best effort: not every filesystem allows it).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn sweep(dir: &Path, now: Timestamp) -> io::Result<usize> {
    let now_ms = now.as_millis();
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let expired = if let Some(rest) = name.strip_prefix(TEMPORARY) {
            let created: i64 = rest.split('-').next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
            let stale_ms = i64::try_from(STALE_TEMPORARY.as_millis()).unwrap_or(i64::MAX);
            now_ms.saturating_sub(created) > stale_ms
        } else if is_kept_name(&name) {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .map(|modified| millis(modified) <= now_ms)
                .unwrap_or(false)
        } else {
            false
        };
        if expired && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl MediaStore for MediaDir {
    async fn put(&self, key: &str, bytes: &[u8], mime: &str, ttl: Duration) -> Result<StoredMedia, MediaError> {
        if !is_kept_name(key) {
            return Err(MediaError::Storage(
                "the file name is not one this directory keeps".to_owned(),
            ));
        }
        let expires_at = Timestamp::now().plus(ttl.min(MAX_TTL));
        let expires = UNIX_EPOCH + Duration::from_millis(u64::try_from(expires_at.as_millis()).unwrap_or(0));
        let (dir, name, bytes) = (self.inner.dir.clone(), key.to_owned(), bytes.to_vec());
        let sweep_due = self.sweep_due();
        let written = tokio::task::spawn_blocking(move || {
            let written = write(&dir, &name, &bytes, expires);
            if sweep_due && let Err(error) = sweep(&dir, Timestamp::now()) {
                tracing::warn!(%error, "sweeping expired media failed");
            }
            written
        })
        .await
        .map_err(|_| MediaError::Storage("the write was interrupted".to_owned()))?;
        if let Err(error) = written {
            tracing::warn!(kind = ?error.kind(), "keeping a media file failed");
            return Err(MediaError::Storage(format!(
                "the media directory refused it ({})",
                error.kind()
            )));
        }
        let token = self.inner.key.sign(&Link {
            name: key.to_owned(),
            mime: mime.to_owned(),
            expires_at,
        });
        Ok(StoredMedia {
            url: format!("{}/media/{token}", self.inner.base_url),
            expires_at,
        })
    }
}

#[async_trait]
impl MediaFiles for MediaDir {
    async fn open(&self, token: &str, now: Timestamp) -> Result<MediaFile, MediaLinkError> {
        let link = self.inner.key.verify(token, now)?;
        if !is_kept_name(&link.name) {
            return Err(MediaLinkError::Forged);
        }
        let path = self.inner.dir.join(&link.name);
        let read = tokio::task::spawn_blocking(move || fs::read(path))
            .await
            .map_err(|_| MediaLinkError::Unreadable)?;
        match read {
            Ok(bytes) => Ok(MediaFile { bytes, mime: link.mime }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Err(MediaLinkError::Gone),
            Err(error) => {
                tracing::warn!(kind = ?error.kind(), "reading a media file failed");
                Err(MediaLinkError::Unreadable)
            }
        }
    }
}

#[cfg(test)]
mod tests;
