//! [`UserDirectory`] and [`HistoryStore`]: who a platform sender is, and what a session said.
//!
//! An identity's user is written once and never changed, so every caller that resolves it
//! agrees. History turns are appended rows that expire on their own (see
//! [`SqliteStore::purge_expired`]).

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::Timestamp;
use imgate_core::ids::{SessionId, UserId};
use imgate_core::ports::{HistoryEntry, HistoryStore, StoreError, StoreResult, UserDirectory};

use super::{SqliteStore, col, col_ts, enum_parse, enum_text, parse, query_all};
use crate::db::{CachedExecute, store_err, write_tx};

fn decode_entry(row: &Row<'_>) -> StoreResult<HistoryEntry> {
    Ok(HistoryEntry {
        role: enum_parse(col(row, 0)?, "history role")?,
        content: col(row, 1)?,
        at: col_ts(row, 2)?,
    })
}

#[async_trait]
impl UserDirectory for SqliteStore {
    async fn resolve_user(&self, identity: &str, candidate: &UserId, now: Timestamp) -> StoreResult<UserId> {
        let (identity, candidate) = (identity.to_owned(), candidate.clone());
        let (user, created) = self
            .db
            .write(move |conn| {
                // Insert-if-absent and the read back in one write transaction: whoever inserts
                // first wins, and every caller reads that winner.
                let tx = write_tx(conn).map_err(store_err)?;
                let created = tx
                    .exec(
                        "INSERT INTO users (identity, user_id, created_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (identity) DO NOTHING",
                        params![identity, candidate.as_str(), now.as_millis()],
                    )
                    .map_err(store_err)?
                    == 1;
                let stored: String = tx
                    .query_row("SELECT user_id FROM users WHERE identity = ?1", [&identity], |row| {
                        row.get(0)
                    })
                    .map_err(store_err)?;
                tx.commit().map_err(store_err)?;
                Ok::<_, StoreError>((parse::<UserId>(&stored, "user id")?, created))
            })
            .await?;
        if created {
            tracing::debug!(user_id = %user, "user created for a new identity");
        }
        Ok(user)
    }
}

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn append_history(&self, session: &SessionId, entry: &HistoryEntry, ttl: Duration) -> StoreResult<()> {
        let (session, e) = (session.clone(), entry.clone());
        let role = enum_text(&e.role)?;
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO history (session_id, role, content, at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        session.as_str(),
                        role,
                        e.content,
                        e.at.as_millis(),
                        e.at.plus(ttl).as_millis()
                    ],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn recent_history(
        &self,
        session: &SessionId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<HistoryEntry>> {
        let session = session.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut newest_first = self
            .db
            .read(move |conn| {
                query_all(
                    conn,
                    "SELECT role, content, at FROM history \
                     WHERE session_id = ?1 AND expires_at > ?2 \
                     ORDER BY at DESC, seq DESC LIMIT ?3",
                    params![session.as_str(), now.as_millis(), limit],
                    decode_entry,
                )
            })
            .await?;
        newest_first.reverse();
        Ok(newest_first)
    }
}
