//! The SQLite database behind the store and the queue: opening, pragmas, schema migration, and
//! running queries off the async runtime.
//!
//! One [`Db`] serves the store and the queue of one file, so they never contend for SQLite's
//! single write lock:
//!
//! - **Writes** go to one writer thread that owns the only write connection. It takes every write
//!   waiting in its channel, runs them in one `BEGIN IMMEDIATE … COMMIT` (each in its own
//!   savepoint, so a failed write changes nothing and does not affect the others) and answers
//!   them only after the commit. With `synchronous=FULL` a commit costs one fsync, so under load
//!   many writes share it (group commit) while every caller still learns of its write only once
//!   it is durable.
//! - **Reads** run on the caller's thread on a small pool of read-only connections: in WAL mode
//!   they see the last commit and never wait for the writer, and a point lookup takes
//!   microseconds, less than a hop to another thread would.
//!
//! - **Checkpoints** (copying the WAL back into the database file, with its own fsync) run on a
//!   background thread every [`CHECKPOINT_EVERY`], so the writer rarely stalls on them. Those are
//!   `PASSIVE`: they never wait, and so under steady load they never let the WAL start over (see
//!   [`WalLimit`]). When the WAL passes [`WAL_RESTART_BYTES`] the writer itself runs a `RESTART`
//!   checkpoint between two batches, which bounds the `-wal` file.
//!
//! An in-memory database (tests) has one connection, so its reads go through the writer too.
//!
//! A database file this module creates is readable by its owner only (it holds sessions,
//! conversation history and the event log; SQLite gives its `-wal` and `-shm` files the same
//! permissions).

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use tokio::sync::oneshot;

use imgate_core::ports::{QueueError, StoreError};

/// How long a writer waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema version this build writes ([`PRAGMA user_version`]).
pub(crate) const SCHEMA_VERSION: i64 = 7;

/// Schema migrations: entry `i` takes the database from version `i` to `i + 1`. Released
/// entries never change (a file at version `i` has run exactly entries `0..i`); a new schema is
/// a new entry.
const MIGRATIONS: [&str; 7] = [
    include_str!("schema_v1.sql"),
    include_str!("schema_v2.sql"),
    include_str!("schema_v3.sql"),
    include_str!("schema_v4.sql"),
    include_str!("schema_v5.sql"),
    include_str!("schema_v6.sql"),
    include_str!("schema_v7.sql"),
];

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
    /// The database file did not exist and could not be created.
    #[error("cannot create database file {path}")]
    Create {
        /// The database file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The key file could not be loaded or created.
    #[error(transparent)]
    Key(#[from] crate::keyfile::KeyFileError),
    /// The blocking task opening the database did not finish.
    #[error("opening the database was interrupted")]
    Interrupted(#[source] tokio::task::JoinError),
    /// The database's writer thread could not be started.
    #[error("cannot start the writer thread of database {path}")]
    Thread {
        /// The database file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Running a query failed outside SQLite's answer to the query itself.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// The writer thread is gone (it stops only when the last handle is dropped, or after a
    /// panic outside any query).
    #[error("the database writer has stopped")]
    WriterGone,
    /// The query panicked; its changes were rolled back.
    #[error("a database query panicked")]
    Panicked,
    /// The batch the write ran in could not begin or commit, so the write did not happen.
    #[error("database commit failed: {0}")]
    Commit(String),
    /// No read connection could be opened.
    #[error("cannot open a read connection")]
    ReadConnection(#[source] rusqlite::Error),
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

/// Starts an all-or-nothing unit of work inside a write: a savepoint that rolls back when
/// dropped without [`rusqlite::Savepoint::commit`]. (Writes already run inside the writer's
/// batch transaction, which holds the write lock.)
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Savepoint<'_>> {
    conn.savepoint()
}

/// `execute` through the connection's statement cache: the hot statements run thousands of
/// times a second, and parsing SQL anew each time would cost more than running it.
pub(crate) trait CachedExecute {
    /// Prepares `sql` once per connection (then reuses it) and executes it with `params`.
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl CachedExecute for Connection {
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// Statements each connection keeps prepared (every distinct statement of the store and queue
/// fits).
const STATEMENT_CACHE: usize = 256;

/// Most writes one batch transaction takes; more wait for the next commit.
const MAX_BATCH: usize = 256;
/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 8;
/// How often the background thread checkpoints the WAL (`PASSIVE`). When writes pause, one such
/// checkpoint copies the whole WAL, and the next write starts the WAL over from its beginning.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// Past this size of the `-wal` file the writer restarts the WAL (see [`WalLimit`]).
///
/// Under steady load the WAL grows by about 20 MB/s at 150 messages/s (some 33 frames of a
/// 4 KiB page each per message, as small batches share few pages) and 40 MB/s at 600 messages/s
/// (bench `wal_growth`), so 32 MiB means a restart about every 2 s or 0.9 s. Each one costs the
/// writer the copy of what the background checkpoint has not copied yet plus one fsync of the
/// database file: 2–15 ms (median 7) at 150 messages/s and 5–54 ms (median 15) at 600 on the
/// benchmark machine, while the writes that arrive meanwhile wait and then share one commit. A
/// smaller bound means more of those pauses; a larger one buys nothing but disk, a larger `-shm`
/// index (32 KiB per 4,096 frames) for readers to search, and a longer recovery after a crash
/// (SQLite reads the whole WAL when it opens the file).
const WAL_RESTART_BYTES: u64 = 32 * 1024 * 1024;
/// `journal_size_limit`: when a reset WAL is written again, SQLite truncates the file to this
/// size, so a WAL that once outgrew [`WAL_RESTART_BYTES`] (a restart that had to be retried, a
/// burst while the writer was in a checkpoint) shrinks back to the bound instead of keeping the
/// larger file.
const WAL_SIZE_LIMIT_BYTES: i64 = WAL_RESTART_BYTES as i64;
/// How long the writer's `RESTART` checkpoint waits for readers still using the WAL. Readers are
/// point lookups of microseconds; a reader holding its snapshot this long is stuck, or belongs to
/// another process.
const RESTART_WAIT: Duration = Duration::from_millis(500);
/// After a restart that a reader kept from completing, the writer tries again no sooner than this,
/// so a stuck reader costs at most [`RESTART_WAIT`] of writer time in every `RESTART_BACKOFF`
/// (a tenth) while the WAL grows past its bound; each such miss is logged.
const RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// A shared handle to one database: the writer thread's channel and the read connections.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<Inner>,
}

struct Inner {
    writer: mpsc::Sender<Box<dyn Job>>,
    /// Dropped with the last handle, which tells the checkpoint thread to finish.
    _checkpoints: Option<mpsc::Sender<()>>,
    /// `None` for an in-memory database, whose only connection is the writer's.
    readers: Option<Readers>,
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
        let conn = prepare(conn, &path, false)?;
        Self::start(conn, &path, None, None)
    }

    fn open_blocking(path: &Path) -> Result<Self, OpenError> {
        create_private(path)?;
        let conn = Connection::open(path).map_err(|source| OpenError::Database {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = prepare(conn, path, true)?;
        let readers = Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        };
        // Open one reader now, so a file that cannot be read fails here and not on first use.
        let first = readers.connect().map_err(|source| OpenError::Database {
            path: path.to_path_buf(),
            source,
        })?;
        readers.put_back(first);
        let checkpointing = Arc::new(Mutex::new(()));
        let checkpoints = start_checkpoints(path, checkpointing.clone())?;
        let limit = WalLimit::new(path, checkpointing);
        Self::start(conn, path, Some(readers), Some((checkpoints, limit)))
    }

    /// Starts the writer thread on `conn`; `wal` holds the background checkpoints' stop handle
    /// and the writer's WAL bound, for a file database.
    fn start(
        conn: Connection,
        path: &Path,
        readers: Option<Readers>,
        wal: Option<(mpsc::Sender<()>, WalLimit)>,
    ) -> Result<Self, OpenError> {
        let (checkpoints, limit) = wal.unzip();
        let (writer, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("imgate-db-writer".into())
            .spawn(move || write_loop(conn, &jobs, limit))
            .map_err(|e| OpenError::Thread {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                _checkpoints: checkpoints,
                readers,
            }),
        })
    }

    /// Runs `f` as a write: on the writer thread, inside a batch transaction, in its own
    /// savepoint (rolled back if `f` fails). Answers once the batch has committed durably; if
    /// the commit fails, the write did not happen and the answer is an error.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Task {
            work: Some(f),
            result: None,
            reply,
        };
        if self.inner.writer.send(Box::new(task)).is_err() {
            return Err(E::from(DbError::WriterGone));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(DbError::WriterGone)))
    }

    /// Runs `f` as a read on a read-only connection, on the calling thread; it sees every write
    /// that has answered. `f` must not write (the connection refuses).
    pub(crate) async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let Some(readers) = &self.inner.readers else {
            return self.write(f).await;
        };
        let mut conn = readers.take().map_err(|e| E::from(DbError::ReadConnection(e)))?;
        let result = f(&mut conn);
        readers.put_back(conn);
        result
    }
}

/// Sets the pragmas of the write connection and migrates the schema.
fn prepare(mut conn: Connection, path: &Path, wal: bool) -> Result<Connection, OpenError> {
    let db_err = |source| OpenError::Database {
        path: path.to_path_buf(),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    tune(&conn).map_err(db_err)?;
    if wal {
        // `journal_mode` answers with the mode now in effect; WAL persists in the file.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), journal_mode = %mode, "WAL mode not available");
        }
        // Checkpoints belong to the background thread, not to the writer's commits.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(db_err)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
            .map_err(db_err)?;
    }
    // FULL: a committed enqueue survives power loss, because platforms are acked after it.
    conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
    // Records refer to each other by id without foreign keys: deletes never cascade.
    conn.pragma_update(None, "foreign_keys", false).map_err(db_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Connection settings for speed that do not touch durability: a page cache large enough for
/// the hot tables and indexes, and savepoint journals in memory instead of temporary files.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.pragma_update(None, "temp_store", "MEMORY")
}

/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 16 * 1024;

/// Creates the database file at `path`, empty and readable by its owner only (0600), when it does
/// not exist yet, so that SQLite opens a private file and gives its `-wal` and `-shm` files the
/// same mode (left to SQLite, the file would get 0644 under the usual umask). An existing file is
/// left as it is, with a warning if group or others may access it.
fn create_private(path: &Path) -> Result<(), OpenError> {
    let create_err = |source| OpenError::Create {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        // The mode above is filtered by the umask; make sure it is exactly 0600. SQLite treats an
        // empty file as an empty database.
        Ok(file) => file
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(create_err),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if let Ok(meta) = fs::metadata(path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = %format!("{mode:o}"),
                        "the database file is open to group or others (it holds conversations and \
                         sessions): chmod 600 it and its -wal and -shm files"
                    );
                }
            }
            Ok(())
        }
        Err(e) => Err(create_err(e)),
    }
}

/// Starts the thread that checkpoints the WAL of the file at `path` every [`CHECKPOINT_EVERY`]
/// until the returned sender is dropped (then once more, and it ends). It holds `checkpointing`
/// while it checkpoints, so the writer's restart waits for it instead of failing on SQLite's
/// checkpoint lock.
fn start_checkpoints(path: &Path, checkpointing: Arc<Mutex<()>>) -> Result<mpsc::Sender<()>, OpenError> {
    let conn = Connection::open(path).map_err(|source| OpenError::Database {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|source| OpenError::Database {
        path: path.to_path_buf(),
        source,
    })?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("imgate-db-checkpoint".into())
        .spawn(move || {
            loop {
                let last = !matches!(
                    stopped.recv_timeout(CHECKPOINT_EVERY),
                    Err(mpsc::RecvTimeoutError::Timeout)
                );
                // PASSIVE copies what no reader still needs and never blocks the writer.
                let copied = {
                    let _checkpointing = checkpointing.lock().unwrap_or_else(PoisonError::into_inner);
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                };
                if let Err(e) = copied {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
                if last {
                    break;
                }
            }
        })
        .map_err(|e| OpenError::Thread {
            path: path.to_path_buf(),
            source: e,
        })?;
    Ok(stop)
}

/// The read connections of a database file.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn connect(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        tune(&conn)?;
        // Reads only: a write through this connection would bypass the writer's batches.
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.connect(),
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// One write waiting for the writer thread, type-erased.
trait Job: Send {
    /// Runs the write; true if it succeeded (and its savepoint is kept).
    fn run(&mut self, conn: &mut Connection) -> bool;
    /// Answers the caller once the batch's fate is known: committed, or failed with SQLite's
    /// message.
    fn finish(self: Box<Self>, batch: Result<(), &str>);
}

struct Task<F, T, E> {
    work: Option<F>,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Task<F, T, E>
where
    F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    fn run(&mut self, conn: &mut Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch: Result<(), &str>) {
        let answer = match (self.result, batch) {
            // A failed write changed nothing, whatever became of the batch.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(message)) => Err(E::from(DbError::Commit(message.to_owned()))),
            (None, Ok(())) => Err(E::from(DbError::Panicked)),
        };
        // The caller may have given up waiting; the write stands either way.
        let _ = self.reply.send(answer);
    }
}

/// The writer thread: batches every waiting write into one transaction until the last handle
/// is dropped, and keeps the WAL within its bound between batches (file databases).
fn write_loop(mut conn: Connection, jobs: &mpsc::Receiver<Box<dyn Job>>, mut limit: Option<WalLimit>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch);
        if let Some(limit) = &mut limit {
            limit.after_batch(&conn);
        }
    }
}

/// Keeps the `-wal` file near [`WAL_RESTART_BYTES`] under steady load.
///
/// SQLite writes the WAL from its beginning again only when a write transaction starts while
/// every frame has been copied into the database and no reader still reads from the WAL. The
/// background `PASSIVE` checkpoints never get there under steady load: by the time one has copied
/// the frames it saw, the writer has committed new ones (it commits every few milliseconds at
/// 150 messages/s), so the WAL, and with it the file, only grows: 2.3–3.7 GB after three minutes
/// at 150 messages/s, against a database of 39–47 MB, until a write after the load has stopped
/// finds the WAL fully copied and starts it over.
///
/// So after each batch the writer, which alone appends to the WAL, looks at the file's size; past
/// [`WAL_RESTART_BYTES`] it runs `PRAGMA wal_checkpoint(RESTART)` before taking the next batch.
/// With no write in progress that checkpoint copies every frame (after waiting for a background
/// checkpoint in progress, which has done most of the copying), waits up to [`RESTART_WAIT`] for
/// readers still on the WAL to finish (new readers then read the database file and do not hold
/// it up), and resets the WAL, so the next commit writes at its start and SQLite truncates the
/// file to `journal_size_limit` ([`WAL_SIZE_LIMIT_BYTES`]). The file thus never holds more than
/// the bound plus the frames of the one batch that crossed it, unless a reader keeps a restart
/// waiting past [`RESTART_WAIT`] (then see [`RESTART_BACKOFF`]). Commits are unchanged: every write
/// is still answered only after its own durable commit, and the checkpoint syncs the database
/// file before the WAL is reused.
struct WalLimit {
    /// The `-wal` file next to the database.
    wal: PathBuf,
    /// Held by whoever checkpoints (the background thread, the writer's restart).
    checkpointing: Arc<Mutex<()>>,
    /// After a restart a reader kept from completing: no new try before this.
    retry_at: Option<Instant>,
}

impl WalLimit {
    fn new(db: &Path, checkpointing: Arc<Mutex<()>>) -> Self {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            wal: PathBuf::from(wal),
            checkpointing,
            retry_at: None,
        }
    }

    /// Restarts the WAL if its file has passed the bound (called with no transaction open).
    fn after_batch(&mut self, conn: &Connection) {
        // One stat per batch: a microsecond against a commit's fsync.
        let Ok(meta) = fs::metadata(&self.wal) else {
            return;
        };
        let bytes = meta.len();
        if bytes <= WAL_RESTART_BYTES || self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let started = Instant::now();
        match self.restart(conn) {
            Ok(true) => {
                self.retry_at = None;
                tracing::debug!(wal_bytes = bytes, took = ?started.elapsed(), "WAL restarted");
            }
            Ok(false) => {
                self.retry_at = Some(Instant::now() + RESTART_BACKOFF);
                tracing::warn!(
                    wal_bytes = bytes,
                    "the WAL could not be restarted: a reader kept reading it (or another process \
                     checkpointed it) for over {RESTART_WAIT:?}; next try in {RESTART_BACKOFF:?}"
                );
            }
            Err(e) => {
                self.retry_at = Some(Instant::now() + RESTART_BACKOFF);
                tracing::warn!(error = %e, wal_bytes = bytes, "WAL restart checkpoint failed");
            }
        }
    }

    /// Runs the `RESTART` checkpoint; true if the WAL was reset.
    fn restart(&self, conn: &Connection) -> rusqlite::Result<bool> {
        let _checkpointing = self.checkpointing.lock().unwrap_or_else(PoisonError::into_inner);
        // The busy handler is what waits for readers here; the writer's usual timeout is for locks.
        conn.busy_timeout(RESTART_WAIT)?;
        // One row: busy (1 if readers, or another process's checkpoint, kept it from
        // completing), frames in the WAL, frames copied.
        let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get::<_, i64>(0));
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(busy? == 0)
    }
}

/// Runs `batch` in one transaction and answers every write after the commit.
fn run_batch(conn: &mut Connection, mut batch: Vec<Box<dyn Job>>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let error = e.to_string();
        for job in batch {
            job.finish(Err(&error));
        }
        return;
    }
    for job in &mut batch {
        run_in_savepoint(conn, job.as_mut());
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            for job in batch {
                job.finish(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, writes = batch.len(), "database commit failed");
            // Leave no transaction open for the next batch.
            let _ = conn.execute_batch("ROLLBACK");
            let error = e.to_string();
            for job in batch {
                job.finish(Err(&error));
            }
        }
    }
}

/// Runs one write in a savepoint: kept if it succeeded, rolled back if it failed or panicked.
fn run_in_savepoint(conn: &mut Connection, job: &mut dyn Job) {
    if let Err(e) = conn.exec("SAVEPOINT batch_write", []) {
        // Without a savepoint the write cannot be undone on its own: do not run it. Its answer
        // (no result) reports it as not done.
        tracing::error!(error = %e, "cannot start a savepoint");
        return;
    }
    let ok = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(conn))).unwrap_or(false);
    let end = if ok {
        conn.exec("RELEASE batch_write", [])
    } else {
        conn.exec("ROLLBACK TO batch_write", [])
            .and_then(|_| conn.exec("RELEASE batch_write", []))
    };
    if let Err(e) = end {
        tracing::error!(error = %e, "cannot end a savepoint");
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction; a no-op when it is current.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OpenError> {
    let db_err = |source| OpenError::Database {
        path: path.to_path_buf(),
        source,
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
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
            .read(|c| {
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
        db.write(|c| {
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

    /// Opens a file database with one table `t (k TEXT PRIMARY KEY, v INTEGER)`.
    async fn table() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("db.sqlite")).await.expect("open");
        db.write(|c| {
            c.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")?;
            Ok::<_, TestError>(())
        })
        .await
        .expect("create table");
        (dir, db)
    }

    fn insert(db: &Db, k: String, v: i64) -> impl std::future::Future<Output = Result<(), TestError>> + use<> {
        let db = db.clone();
        async move {
            db.write(move |c| {
                c.execute("INSERT INTO t (k, v) VALUES (?1, ?2)", rusqlite::params![k, v])?;
                Ok::<_, TestError>(())
            })
            .await
        }
    }

    async fn count(db: &Db) -> i64 {
        db.read(|c| Ok::<_, TestError>(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?))
            .await
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_each_stand_or_fail_alone() {
        let (_dir, db) = table().await;
        // 200 writes at once share commits; 20 of them collide with an earlier key and fail.
        let writes = (0..200).map(|i| {
            let key = if i % 10 == 9 {
                format!("k{}", i - 1)
            } else {
                format!("k{i}")
            };
            tokio::spawn(insert(&db, key, i))
        });
        let mut failed = 0;
        // Spawned all at once, awaited afterwards.
        let writes: Vec<_> = writes.collect();
        for write in writes {
            if write.await.expect("task").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        // Every successful write is visible to a reader as soon as it has answered.
        assert_eq!(count(&db).await, 180);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_write_leaves_nothing_behind() {
        let (_dir, db) = table().await;
        // Two statements, the second fails: the first is rolled back with it.
        let half = db
            .write(|c| {
                c.execute("INSERT INTO t (k, v) VALUES ('a', 1)", [])?;
                c.execute("INSERT INTO t (k, v) VALUES ('a', 2)", [])?;
                Ok::<_, TestError>(())
            })
            .await;
        assert!(matches!(half, Err(TestError::Sql(_))));
        let panicked = db
            .write(|c| -> Result<(), TestError> {
                c.execute("INSERT INTO t (k, v) VALUES ('b', 1)", [])?;
                panic!("query bug");
            })
            .await;
        assert!(matches!(panicked, Err(TestError::Db(DbError::Panicked))));
        assert_eq!(count(&db).await, 0);
        // The writer carries on.
        insert(&db, "c".into(), 3).await.expect("insert after failures");
        assert_eq!(count(&db).await, 1);
    }

    #[tokio::test]
    async fn reads_cannot_write() {
        let (_dir, db) = table().await;
        let write_through_reader = db
            .read(|c| {
                c.execute("INSERT INTO t (k, v) VALUES ('x', 1)", [])?;
                Ok::<_, TestError>(())
            })
            .await;
        assert!(write_through_reader.is_err());
        assert_eq!(count(&db).await, 0);
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
