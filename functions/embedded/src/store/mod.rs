//! [`SqliteStore`]: every store port of `imgate_core::ports` on one SQLite database.
//!
//! Records are kept as plain columns (timestamps as Unix milliseconds, enums as their JSON
//! names) so the file stays readable with the `sqlite3` shell. Conditional writes (create if
//! absent, versioned replace, claims, leases) are single statements or `BEGIN IMMEDIATE`
//! transactions, so two writers never both win.

mod agents;
mod aggregation;
mod conversation;
mod dead_letters;
mod ephemeral;
mod integrations;
mod orgs;
mod streams;
mod triggers;

use std::path::Path;
use std::str::FromStr;

use rusqlite::types::FromSql;
use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use imgate_core::Timestamp;
use imgate_core::ports::{StoreError, StoreResult};

use crate::db::{CachedExecute, Db, OpenError, store_err};

/// The SQLite store. Cheap to share behind an `Arc`; writes run on the database's writer thread.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    db: Db,
}

/// What [`SqliteStore::purge_expired`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Expired dedupe claims.
    pub dedupe_claims: usize,
    /// Expired sessions.
    pub sessions: usize,
    /// Expired leases.
    pub leases: usize,
    /// Expired event log entries.
    pub events: usize,
    /// Expired history turns.
    pub history: usize,
    /// Expired aggregation buffers (each with all its events).
    pub aggregation_buffers: usize,
    /// Expired stream buffers.
    pub streams: usize,
    /// Expired cached tokens.
    pub tokens: usize,
    /// Expired dead letters.
    pub dead_letters: usize,
}

impl PurgeReport {
    /// Items deleted in total (an aggregation buffer counts once, whatever its events).
    pub fn total(&self) -> usize {
        self.dedupe_claims
            + self.sessions
            + self.leases
            + self.events
            + self.history
            + self.aggregation_buffers
            + self.streams
            + self.tokens
            + self.dead_letters
    }
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database file at `path`.
    ///
    /// # Errors
    /// [`OpenError`] if the file cannot be opened or has a newer schema.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Ok(Self {
            db: Db::open(path).await?,
        })
    }

    /// A store on `db` (shared with the queue by [`crate::LocalBackend`]).
    pub(crate) fn on(db: Db) -> Self {
        Self { db }
    }

    /// A store on a private in-memory database, for tests.
    ///
    /// # Errors
    /// [`OpenError`] if SQLite cannot create the database.
    pub fn open_in_memory() -> Result<Self, OpenError> {
        Ok(Self {
            db: Db::open_in_memory()?,
        })
    }

    /// Deletes dedupe claims, sessions, leases, event log entries, history turns, aggregation
    /// buffers (with their events), stream buffers, cached tokens and dead letters that expired at or before
    /// `now`. Reads already hide them; this only reclaims space, so the server calls it now and
    /// then. An expired aggregation buffer is one nobody flushed: its events are dropped.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if SQLite fails.
    pub async fn purge_expired(&self, now: Timestamp) -> StoreResult<PurgeReport> {
        let now = now.as_millis();
        let report = self
            .db
            .write(move |conn| {
                let tx = crate::db::write_tx(conn).map_err(store_err)?;
                let delete = |table: &str| {
                    tx.exec(&format!("DELETE FROM {table} WHERE expires_at <= ?1"), params![now])
                        .map_err(store_err)
                };
                // A buffer's events go with it; they carry no expiry of their own.
                tx.exec(
                    "DELETE FROM aggregation_events WHERE key IN \
                     (SELECT key FROM aggregation_buffers WHERE expires_at <= ?1)",
                    params![now],
                )
                .map_err(store_err)?;
                let report = PurgeReport {
                    dedupe_claims: delete("dedupe")?,
                    sessions: delete("sessions")?,
                    leases: delete("leases")?,
                    events: delete("event_log")?,
                    history: delete("history")?,
                    aggregation_buffers: delete("aggregation_buffers")?,
                    streams: delete("streams")?,
                    tokens: delete("tokens")?,
                    dead_letters: delete("dead_letters")?,
                };
                tx.commit().map_err(store_err)?;
                Ok::<_, StoreError>(report)
            })
            .await?;
        tracing::debug!(
            dedupe_claims = report.dedupe_claims,
            sessions = report.sessions,
            leases = report.leases,
            events = report.events,
            history = report.history,
            aggregation_buffers = report.aggregation_buffers,
            streams = report.streams,
            tokens = report.tokens,
            dead_letters = report.dead_letters,
            "purged expired items"
        );
        Ok(report)
    }

    /// Reads a server setting.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if SQLite fails.
    pub async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.db
            .read(move |conn| {
                conn.query_row("SELECT value FROM meta WHERE key = ?1", [&key], |row| row.get(0))
                    .optional()
                    .map_err(store_err)
            })
            .await
    }

    /// Stores a server setting unless it is set already; true if this call stored it.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if SQLite fails.
    pub async fn set_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    params![key, value],
                )
                .map(|n| n == 1)
                .map_err(store_err)
            })
            .await
    }
}

/// Reads column `idx` of `row`; a value of the wrong type is a corrupt row.
fn col<T: FromSql>(row: &Row<'_>, idx: usize) -> StoreResult<T> {
    row.get(idx).map_err(|e| match e {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(format!("column {idx}: {e}")),
        other => store_err(other),
    })
}

/// Reads a timestamp column.
fn col_ts(row: &Row<'_>, idx: usize) -> StoreResult<Timestamp> {
    col::<i64>(row, idx).map(Timestamp::from_millis)
}

/// Parses stored text (an id) into its domain type.
fn parse<T: FromStr>(text: &str, what: &'static str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("stored {what} is not valid")))
}

/// The JSON name of a unit enum variant (`"long_connection"`), the form enums are stored in.
fn enum_text<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(_) => Err(StoreError::Corrupt("enum is not a plain name".into())),
        Err(e) => Err(StoreError::Backend(Box::new(e))),
    }
}

/// Reads an enum stored by [`enum_text`].
fn enum_parse<T: DeserializeOwned>(text: String, what: &'static str) -> StoreResult<T> {
    serde_json::from_value(serde_json::Value::String(text))
        .map_err(|_| StoreError::Corrupt(format!("stored {what} is not a known value")))
}

/// A record version as SQLite's signed integer.
fn version_sql(version: u64) -> StoreResult<i64> {
    i64::try_from(version).map_err(|_| StoreError::Conflict(format!("version {version} too large")))
}

/// A stored version back as the domain's unsigned integer.
fn version_col(row: &Row<'_>, idx: usize) -> StoreResult<u64> {
    u64::try_from(col::<i64>(row, idx)?).map_err(|_| StoreError::Corrupt("negative version".into()))
}

/// The version a versioned replace expects in the store: `version - 1`, or -1 (which matches
/// no stored record) when `version` has no predecessor, so the replace reports a conflict or
/// a missing record like any other stale write.
fn previous_version(version: u64) -> i64 {
    version
        .checked_sub(1)
        .and_then(|prev| i64::try_from(prev).ok())
        .unwrap_or(-1)
}

/// Runs a query and decodes every row with `decode`.
fn query_all<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_err)?;
    let mut rows = stmt.query(params).map_err(store_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(store_err)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a query expected to return at most one row and decodes it.
fn query_opt<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
    decode: fn(&Row<'_>) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(store_err)?;
    let mut rows = stmt.query(params).map_err(store_err)?;
    match rows.next().map_err(store_err)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

/// Runs a versioned `UPDATE` inside a write transaction and tells a lost race
/// ([`StoreError::Conflict`]) from a missing record ([`StoreError::NotFound`]).
fn versioned_update(
    conn: &mut rusqlite::Connection,
    update_sql: &str,
    params: impl rusqlite::Params,
    exists_sql: &str,
    id: &str,
) -> StoreResult<()> {
    let tx = crate::db::write_tx(conn).map_err(store_err)?;
    let changed = tx.exec(update_sql, params).map_err(store_err)?;
    if changed == 0 {
        let exists = tx
            .query_row(exists_sql, [id], |_| Ok(()))
            .optional()
            .map_err(store_err)?
            .is_some();
        return Err(if exists {
            StoreError::Conflict(format!("{id} was changed by someone else"))
        } else {
            StoreError::NotFound
        });
    }
    tx.commit().map_err(store_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meta_is_set_once() {
        let store = SqliteStore::open_in_memory().expect("open in memory");
        assert_eq!(store.get_meta("bootstrap").await.expect("get meta"), None);
        assert!(
            store
                .set_meta_if_absent("bootstrap", "h1")
                .await
                .expect("set meta if absent")
        );
        assert!(
            !store
                .set_meta_if_absent("bootstrap", "h2")
                .await
                .expect("set meta if absent")
        );
        assert_eq!(
            store.get_meta("bootstrap").await.expect("get meta").as_deref(),
            Some("h1")
        );
    }

    #[test]
    fn previous_version_of_first_matches_nothing() {
        assert_eq!(previous_version(0), -1);
        assert_eq!(previous_version(1), 0);
        assert_eq!(previous_version(2), 1);
    }
}
