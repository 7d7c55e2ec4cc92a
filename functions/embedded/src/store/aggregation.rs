//! [`AggregationStore`]: the events of one conversation collected during an aggregation window.
//!
//! A buffer is a row of `aggregation_buffers` (its version and expiry) plus one row of
//! `aggregation_events` per append, holding the [`InboundEvent`] as JSON under the version the
//! append produced, so the events read back in append order without rewriting earlier ones.
//! Appends and takes are `BEGIN IMMEDIATE` transactions: a flush takes exactly the buffer whose
//! version it was scheduled for, or nothing.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use imgate_core::Timestamp;
use imgate_core::event::InboundEvent;
use imgate_core::ports::{AggregationStore, StoreError, StoreResult};

use super::{SqliteStore, version_sql};
use crate::db::{CachedExecute, store_err, write_tx};

/// Adds `event` (as JSON) to the buffer under `key`, starting a new buffer at version 1 if there
/// is none or it expired at `now`; returns the buffer's new version.
fn append_blocking(conn: &mut Connection, key: &str, event: &str, now: Timestamp, ttl: Duration) -> StoreResult<u64> {
    let tx = write_tx(conn).map_err(store_err)?;
    let live: Option<i64> = tx
        .query_row(
            "SELECT version FROM aggregation_buffers WHERE key = ?1 AND expires_at > ?2",
            params![key, now.as_millis()],
            |row| row.get(0),
        )
        .optional()
        .map_err(store_err)?;
    let version = match live {
        Some(v) => v
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt(format!("aggregation buffer {key} version overflows")))?,
        None => {
            // An expired buffer nobody took is dropped, not continued.
            tx.exec("DELETE FROM aggregation_events WHERE key = ?1", [key])
                .map_err(store_err)?;
            1
        }
    };
    tx.exec(
        "INSERT INTO aggregation_buffers (key, version, expires_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at",
        params![key, version, now.plus(ttl).as_millis()],
    )
    .map_err(store_err)?;
    tx.exec(
        "INSERT INTO aggregation_events (key, version, event) VALUES (?1, ?2, ?3)",
        params![key, version, event],
    )
    .map_err(store_err)?;
    tx.commit().map_err(store_err)?;
    u64::try_from(version).map_err(|_| StoreError::Corrupt(format!("aggregation buffer {key} has a negative version")))
}

/// Removes the buffer under `key` and returns its events in append order, if its version is
/// `version`; `None` (and no change) otherwise. An event that does not parse is
/// [`StoreError::Corrupt`] and rolls the take back, so nothing is lost unreported.
fn take_blocking(conn: &mut Connection, key: &str, version: i64) -> StoreResult<Option<Vec<InboundEvent>>> {
    let tx = write_tx(conn).map_err(store_err)?;
    let removed = tx
        .exec(
            "DELETE FROM aggregation_buffers WHERE key = ?1 AND version = ?2",
            params![key, version],
        )
        .map_err(store_err)?;
    if removed == 0 {
        return Ok(None);
    }
    let events: Vec<String> = {
        let mut stmt = tx
            .prepare_cached("SELECT event FROM aggregation_events WHERE key = ?1 ORDER BY version")
            .map_err(store_err)?;
        stmt.query_map([key], |row| row.get(0))
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(store_err)?
    };
    let events = events
        .iter()
        .map(|json| {
            serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("aggregation event under {key}: {e}")))
        })
        .collect::<StoreResult<Vec<InboundEvent>>>()?;
    tx.exec("DELETE FROM aggregation_events WHERE key = ?1", [key])
        .map_err(store_err)?;
    tx.commit().map_err(store_err)?;
    Ok(Some(events))
}

#[async_trait]
impl AggregationStore for SqliteStore {
    async fn append_pending(&self, key: &str, event: &InboundEvent, now: Timestamp, ttl: Duration) -> StoreResult<u64> {
        let json = serde_json::to_string(event).map_err(|e| StoreError::Backend(Box::new(e)))?;
        let key_owned = key.to_owned();
        let version = self
            .db
            .write(move |conn| append_blocking(conn, &key_owned, &json, now, ttl))
            .await?;
        tracing::debug!(key, version, "aggregation buffer appended");
        Ok(version)
    }

    /// Takes the buffer whatever its expiry (the port gives no `now`): a flush scheduled for a
    /// version still gets its events if the purge has not deleted them yet.
    async fn take_pending(&self, key: &str, version: u64) -> StoreResult<Option<Vec<InboundEvent>>> {
        // A version beyond SQLite's integers was never stored: nothing to take.
        let Ok(version) = version_sql(version) else {
            return Ok(None);
        };
        let key_owned = key.to_owned();
        let taken = self
            .db
            .write(move |conn| take_blocking(conn, &key_owned, version))
            .await?;
        match &taken {
            Some(events) => tracing::debug!(key, version, events = events.len(), "aggregation buffer taken"),
            None => tracing::debug!(key, version, "aggregation buffer moved on or gone; nothing taken"),
        }
        Ok(taken)
    }
}
