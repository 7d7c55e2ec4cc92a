//! The SQLite connection behind the store and the queue: opening, pragmas, schema migration, and
//! running queries off the async runtime.
//!
//! One [`Db`] owns one connection behind a mutex. Every query runs in
//! [`tokio::task::spawn_blocking`], so a slow disk never stalls the runtime's worker threads.
//! The store and the queue each open their own connection to the same file: SQLite in WAL mode
//! lets readers proceed beside the writer, and `busy_timeout` makes writers wait for each other
//! instead of failing. Write transactions start with `BEGIN IMMEDIATE` so they take the write
//! lock up front and never fail half-way with a snapshot conflict.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use imgate_core::ports::{QueueError, StoreError};

/// How long a writer waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this build writes ([`PRAGMA user_version`]).
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// Schema migrations: entry `i` takes the database from version `i` to `i + 1`. Released
/// entries never change (a file at version `i` has run exactly entries `0..i`); a new schema is
/// a new entry.
const MIGRATIONS: [&str; 2] = [include_str!("schema_v1.sql"), include_str!("schema_v2.sql")];

// One migration per version.
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// Opening a database failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// SQLite could not open, configure or migrate the database.
    #[error("cannot open database {path}")]
    Database {
        /// The database file (`:memory:` for an in-memory database).
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer imgate with a schema this build does not know.
    #[error("database {path} has schema version {found}, newer than this build's {supported}")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The key file could not be loaded or created.
    #[error(transparent)]
    Key(#[from] crate::keyfile::KeyFileError),
    /// The blocking task opening the database did not finish.
    #[error("opening the database was interrupted")]
    Interrupted(#[source] tokio::task::JoinError),
}

/// Running a query failed outside SQLite itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task did not complete")]
    Join(#[source] tokio::task::JoinError),
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Backend(Box::new(e))
    }
}

impl From<DbError> for QueueError {
    fn from(e: DbError) -> Self {
        QueueError::Backend(Box::new(e))
    }
}

/// Maps a SQLite error to a store error: constraint violations are lost conditional writes
/// ([`StoreError::Conflict`]), everything else is a backend failure with the source kept.
pub(crate) fn store_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// Maps a SQLite error to a queue error (always a backend failure).
pub(crate) fn queue_err(e: rusqlite::Error) -> QueueError {
    QueueError::Backend(Box::new(e))
}

/// Starts a write transaction that holds the write lock from its first statement.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// A shared handle to one SQLite connection.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db(..)")
    }
}

impl Db {
    /// Opens (creating if needed) the database file at `path`, in WAL mode, migrated to the
    /// current schema.
    pub(crate) async fn open(path: &Path) -> Result<Self, OpenError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path))
            .await
            .map_err(OpenError::Interrupted)?
    }

    /// Opens a private in-memory database (for tests; gone when the last handle drops).
    pub(crate) fn open_in_memory() -> Result<Self, OpenError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| OpenError::Database {
            path: path.clone(),
            source,
        })?;
        Self::prepare(conn, &path, false)
    }

    fn open_blocking(path: &Path) -> Result<Self, OpenError> {
        let conn = Connection::open(path).map_err(|source| OpenError::Database {
            path: path.to_path_buf(),
            source,
        })?;
        Self::prepare(conn, path, true)
    }

    /// Sets the pragmas and migrates the schema.
    fn prepare(mut conn: Connection, path: &Path, wal: bool) -> Result<Self, OpenError> {
        let db_err = |source| OpenError::Database {
            path: path.to_path_buf(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        if wal {
            // `journal_mode` answers with the mode now in effect; WAL persists in the file.
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
                .map_err(db_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), journal_mode = %mode, "WAL mode not available");
            }
        }
        // FULL: a committed enqueue survives power loss, because platforms are acked after it.
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
        // Records refer to each other by id without foreign keys: deletes never cascade.
        conn.pragma_update(None, "foreign_keys", false).map_err(db_err)?;
        migrate(&mut conn, path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection in a blocking task and returns its result.
    ///
    /// A panic in an earlier query poisons the mutex but not the connection (an open transaction
    /// rolls back when dropped during the unwind), so a poisoned lock is simply taken over.
    pub(crate) async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(DbError::Join(e)))?
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction; a no-op when it is current.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let db_err = |source| OpenError::Database {
        path: path.to_path_buf(),
        source,
    };
    let tx = write_tx(conn).map_err(db_err)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db_err)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let done = usize::try_from(found).unwrap_or(0);
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tracing::info!(path = %path.display(), from_version = from, "migrating database schema");
        tx.execute_batch(sql).map_err(db_err)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(db_err)?;
    tx.commit().map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn migrates_once_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.sqlite");
        let db = Db::open(&path).await.expect("open");
        let (version, mode) = db
            .call(|c| {
                let v: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
                let m: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                Ok::<_, TestError>((v, m))
            })
            .await
            .expect("read pragmas");
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(mode, "wal");
        drop(db);
        // Reopening an up-to-date file changes nothing.
        let db = Db::open(&path).await.expect("open");
        db.call(|c| {
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)?;
            Ok::<_, TestError>(())
        })
        .await
        .expect("set user_version");
        drop(db);
        assert!(matches!(
            Db::open(&path).await,
            Err(OpenError::NewerSchema { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }

    /// A test-only error that accepts both SQLite and task errors.
    #[derive(Debug)]
    enum TestError {
        Sql(#[allow(dead_code)] rusqlite::Error),
        Db(#[allow(dead_code)] DbError),
    }

    impl From<rusqlite::Error> for TestError {
        fn from(e: rusqlite::Error) -> Self {
            Self::Sql(e)
        }
    }

    impl From<DbError> for TestError {
        fn from(e: DbError) -> Self {
            Self::Db(e)
        }
    }
}
