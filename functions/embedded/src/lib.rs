#![doc = r#"
SQLite implementation of the imgate ports, with a durable queue, for one machine.

`imgate serve` runs the whole gateway in one process on this backend:

- [`SqliteStore`] implements every store port (organizations, integrations, agents, triggers,
  sessions, dedupe claims, relay leases, the event log, users, history, aggregation buffers,
  stream buffers, cached tokens) plus a little server metadata.
- [`SqliteQueue`] implements the inbound [`Queue`](imgate_core::ports::Queue) with SQS FIFO
  semantics: per-group order, 5-minute dedupe ids, visibility timeouts, a dead-letter table,
  and delayed timer messages outside any group.
- [`load_or_create_key`] reads (or creates, mode 0600) the key file that seals secrets, kept
  apart from the database so the database alone reveals nothing.
- [`MediaDir`] keeps the files users send for the agents, beside the database, behind signed
  links that expire (a [`MediaStore`](imgate_core::ports::MediaStore) and the
  [`MediaFiles`](imgate_core::ports::MediaFiles) `imgate serve` serves them from).

Store and queue share one database file and its single writer thread, which commits every write
waiting at the time in one transaction (group commit); reads use read-only connections on the
caller's thread.

```no_run
# async fn demo() -> Result<(), imgate_embedded::OpenError> {
use std::path::Path;
let (deps, store) = imgate_embedded::open(
    Path::new("imgate.db"),
    Path::new("imgate.key"),
    imgate_embedded::QueueOptions::default(),
)
.await?;
# let _ = (deps, store);
# Ok(()) }
```
"#]

mod db;
mod keyfile;
pub mod media;
mod queue;
mod store;

use std::path::Path;
use std::sync::Arc;

use imgate_core::keyring::LocalKeyring;
use imgate_core::ports::Deps;

pub use db::OpenError;
pub use keyfile::{KeyFileError, load_or_create_key};
pub use media::{MediaDir, MediaDirError};
pub use queue::{DEDUPE_WINDOW, MAX_BODY_BYTES, MAX_ID_CHARS, QueueOptions, SqliteQueue};
pub use store::{PurgeReport, SqliteStore};

/// The store and queue of one machine.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    /// The store.
    pub store: Arc<SqliteStore>,
    /// The inbound queue.
    pub queue: Arc<SqliteQueue>,
}

impl LocalBackend {
    /// Opens store and queue on the database file at `db_path` (created and migrated if needed).
    ///
    /// # Errors
    /// [`OpenError`] if the database cannot be opened or has a newer schema.
    pub async fn open(db_path: &Path, options: QueueOptions) -> Result<Self, OpenError> {
        Ok(Self::on(db::Db::open(db_path).await?, options))
    }

    /// Store and queue on a private in-memory database, for tests. Nothing survives a drop.
    ///
    /// # Errors
    /// [`OpenError`] if SQLite cannot create the databases.
    pub fn open_in_memory(options: QueueOptions) -> Result<Self, OpenError> {
        Ok(Self::on(db::Db::open_in_memory()?, options))
    }

    /// Store and queue sharing `db`, and so its writer: their writes share commits and never
    /// wait for each other's locks.
    fn on(db: db::Db, options: QueueOptions) -> Self {
        Self {
            store: Arc::new(SqliteStore::on(db.clone())),
            queue: Arc::new(SqliteQueue::on(db, options)),
        }
    }

    /// The ports as [`Deps`], with a [`LocalKeyring`] over `key`.
    pub fn deps(&self, key: [u8; imgate_core::keyring::KEY_LEN]) -> Deps {
        Deps {
            store: self.store.clone(),
            queue: self.queue.clone(),
            keyring: Arc::new(LocalKeyring::new(key)),
        }
    }
}

/// Opens everything `imgate serve` needs: the database at `db_path` (store and queue) and the
/// key file at `key_path` (created with a fresh key if absent). Returns the ports and the
/// concrete store, for [`SqliteStore::purge_expired`] and the metadata calls.
///
/// # Errors
/// [`OpenError::Key`] if the key file is unreadable, malformed or readable by others;
/// another [`OpenError`] if the database cannot be opened.
pub async fn open(
    db_path: &Path,
    key_path: &Path,
    options: QueueOptions,
) -> Result<(Deps, Arc<SqliteStore>), OpenError> {
    let (deps, backend) = open_backend(db_path, key_path, options).await?;
    Ok((deps, backend.store))
}

/// [`open`], answering the whole [`LocalBackend`] (for [`SqliteQueue::release_in_flight`]).
///
/// # Errors
/// As [`open`].
pub async fn open_backend(
    db_path: &Path,
    key_path: &Path,
    options: QueueOptions,
) -> Result<(Deps, LocalBackend), OpenError> {
    let key_path = key_path.to_path_buf();
    let key = tokio::task::spawn_blocking(move || load_or_create_key(&key_path))
        .await
        .map_err(OpenError::Interrupted)??;
    let backend = LocalBackend::open(db_path, options).await?;
    tracing::info!(
        db = %db_path.display(),
        max_receives = options.max_receives,
        "embedded backend opened"
    );
    Ok((backend.deps(key), backend))
}
