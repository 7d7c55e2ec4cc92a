//! [`DeadLetterStore`]: messages that failed every delivery attempt, kept per organization
//! until they expire. A put replaces the letter with the same organization and id; reads hide
//! expired letters and [`SqliteStore::purge_expired`] deletes them later.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::Timestamp;
use imgate_core::ids::OrgId;
use imgate_core::ports::{DeadLetter, DeadLetterStore, StoreError, StoreResult};

use super::{SqliteStore, col, col_ts, parse, query_all, query_opt};
use crate::db::{CachedExecute, store_err};

const COLUMNS: &str = "org_id, id, integration_id, event_id, group_id, body, reason, failed_at, receive_count";

fn decode(row: &Row<'_>) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        org_id: parse(&col::<String>(row, 0)?, "organization id")?,
        id: col(row, 1)?,
        integration_id: parse(&col::<String>(row, 2)?, "integration id")?,
        event_id: col(row, 3)?,
        group: col(row, 4)?,
        body: col(row, 5)?,
        reason: col(row, 6)?,
        failed_at: col_ts(row, 7)?,
        receive_count: col(row, 8)?,
    })
}

#[async_trait]
impl DeadLetterStore for SqliteStore {
    async fn put_dead_letter(&self, letter: &DeadLetter, ttl: Duration) -> StoreResult<()> {
        let l = letter.clone();
        self.db
            .write(move |conn| {
                conn.exec(
                    &format!(
                        "INSERT OR REPLACE INTO dead_letters ({COLUMNS}, expires_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                    ),
                    params![
                        l.org_id.as_str(),
                        l.id,
                        l.integration_id.as_str(),
                        l.event_id,
                        l.group,
                        l.body,
                        l.reason,
                        l.failed_at.as_millis(),
                        l.receive_count,
                        l.failed_at.plus(ttl).as_millis()
                    ],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn list_dead_letters(&self, org: &OrgId, now: Timestamp, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        let org = org.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM dead_letters WHERE org_id = ?1 AND expires_at > ?2 \
                         ORDER BY failed_at DESC, id LIMIT ?3"
                    ),
                    params![org.as_str(), now.as_millis(), limit],
                    decode,
                )
            })
            .await
    }

    async fn get_dead_letter(&self, org: &OrgId, id: &str, now: Timestamp) -> StoreResult<Option<DeadLetter>> {
        let (org, id) = (org.clone(), id.to_owned());
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM dead_letters \
                         WHERE org_id = ?1 AND id = ?2 AND expires_at > ?3"
                    ),
                    params![org.as_str(), id, now.as_millis()],
                    decode,
                )
            })
            .await
    }

    async fn delete_dead_letter(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        let (org, id) = (org.clone(), id.to_owned());
        self.db
            .write(move |conn| {
                let deleted = conn
                    .exec(
                        "DELETE FROM dead_letters WHERE org_id = ?1 AND id = ?2",
                        params![org.as_str(), id],
                    )
                    .map_err(store_err)?;
                Ok::<_, StoreError>(deleted > 0)
            })
            .await
    }
}
