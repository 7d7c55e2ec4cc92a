//! The local secret key file: 32 random bytes as 64 hex digits, readable by its owner only.
//!
//! Secrets in the database are sealed under this key, so it lives in its own file (not in the
//! database) and a copy of the database alone reveals nothing. A missing file is created with
//! a fresh key; it appears complete or not at all (written to a private temporary file, then
//! hard-linked into place, which never overwrites an existing file). The key is never logged
//! and never appears in an error.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use imgate_core::keyring::{KEY_LEN, LocalKeyring};

/// Loading or creating the key file failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing the file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file can be read by other users; the key must be treated as leaked.
    #[error(
        "key file {path} has mode {mode:o}: it must be readable by its owner only \
         (chmod 600 after checking it was not exposed)"
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold a key.
    #[error("key file {path} is malformed: {reason}")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the content).
        reason: &'static str,
    },
}

/// The hex text of a key file holds 64 digits plus at most a line ending.
const MAX_FILE_LEN: u64 = (KEY_LEN as u64) * 2 + 2;

/// Reads the key at `path`, or creates the file with a fresh random key if it does not exist.
///
/// # Errors
/// [`KeyFileError::TooOpen`] if group or others have any access to the file,
/// [`KeyFileError::Malformed`] if it does not hold exactly 64 hex digits (and an optional
/// newline), [`KeyFileError::Io`] if it cannot be read or created.
pub fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    match read_key(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            match create_key(path) {
                Ok(key) => {
                    tracing::info!(path = %path.display(), "created a new secret key file");
                    Ok(key)
                }
                // Someone else created it meanwhile: use theirs.
                Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => read_key(path),
                Err(e) => Err(e),
            }
        }
        other => other,
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    let malformed = |reason| KeyFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(malformed("not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => malformed("not text"),
            _ => io_err(path)(e),
        })?;
    let digits = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    decode_hex(digits).ok_or_else(|| malformed("expected 64 hex digits"))
}

fn create_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    let key = LocalKeyring::generate_key();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".into());
    let tmp = dir.join(format!(".{file_name}.{:016x}.tmp", rand::random::<u64>()));
    let written = write_new_file(&tmp, &hex::encode(key)).and_then(|()| fs::hard_link(&tmp, path));
    // The temporary name goes either way; the key lives on under `path` if the link was made.
    if let Err(e) = fs::remove_file(&tmp) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %tmp.display(), error = %e, "could not remove temporary key file");
        }
    }
    written.map_err(io_err(path))?;
    // Make the new directory entry durable too (best effort: not every filesystem allows it).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(key)
}

/// Creates `path` (never an existing file) with owner-only permissions and `text`, synced.
fn write_new_file(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The mode above is filtered by the umask; make sure it is exactly 0600.
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

fn decode_hex(text: &str) -> Option<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    hex::decode_to_slice(text, &mut key).ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects() {
        let key = LocalKeyring::generate_key();
        assert_eq!(decode_hex(&hex::encode(key)), Some(key));
        assert_eq!(decode_hex(&"0".repeat(63)), None);
        assert_eq!(decode_hex(&"g".repeat(64)), None);
        assert_eq!(decode_hex(&"+1".repeat(32)), None);
        assert_eq!(decode_hex(&"é".repeat(32)), None);
    }

    #[test]
    fn errors_never_show_the_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        fs::write(&path, "supersecretnothex\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("set permissions");
        let err = load_or_create_key(&path).expect_err("malformed").to_string();
        assert!(!err.contains("supersecret"), "{err}");
    }
}
