//! [`IntegrationStore`]: integrations (credentials stay sealed) and their runtime status.

use std::collections::BTreeSet;

use async_trait::async_trait;
use rusqlite::{Row, params, params_from_iter};

use imgate_core::ids::{IntegrationId, OrgId};
use imgate_core::integration::{IntegrationRecord, IntegrationStatus};
use imgate_core::keyring::SealedSecret;
use imgate_core::platform::ConnectionMode;
use imgate_core::ports::{IntegrationStore, StoreError, StoreResult};

use super::{
    SqliteStore, col, col_ts, enum_parse, enum_text, parse, previous_version, query_all, query_opt, version_col,
    version_sql, versioned_update,
};
use crate::db::{CachedExecute, store_err, write_tx};

const COLUMNS: &str =
    "id, org_id, name, platform, mode, enabled, credentials, created_at, updated_at, version, account";

fn decode(row: &Row<'_>) -> StoreResult<IntegrationRecord> {
    Ok(IntegrationRecord {
        id: parse(&col::<String>(row, 0)?, "integration id")?,
        org_id: parse(&col::<String>(row, 1)?, "organization id")?,
        name: col(row, 2)?,
        platform: parse(&col::<String>(row, 3)?, "platform")?,
        mode: enum_parse(col(row, 4)?, "connection mode")?,
        enabled: col(row, 5)?,
        credentials: SealedSecret::from_stored(col::<String>(row, 6)?),
        created_at: col_ts(row, 7)?,
        updated_at: col_ts(row, 8)?,
        version: version_col(row, 9)?,
        account: col(row, 10)?,
    })
}

/// The record's columns in [`COLUMNS`] order, ready to bind.
struct Bound {
    id: String,
    org_id: String,
    name: String,
    platform: &'static str,
    mode: String,
    enabled: bool,
    credentials: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
    account: Option<String>,
}

impl Bound {
    fn new(r: &IntegrationRecord) -> StoreResult<Self> {
        Ok(Self {
            id: r.id.as_str().to_owned(),
            org_id: r.org_id.as_str().to_owned(),
            name: r.name.clone(),
            platform: r.platform.as_str(),
            mode: enum_text(&r.mode)?,
            enabled: r.enabled,
            credentials: r.credentials.as_stored().to_owned(),
            created_at: r.created_at.as_millis(),
            updated_at: r.updated_at.as_millis(),
            version: version_sql(r.version)?,
            account: r.account.clone(),
        })
    }
}

/// Ids per `IN (…)` list of [`IntegrationStore::get_statuses`] (well below SQLite's limit on
/// bound parameters).
const STATUS_CHUNK: usize = 500;

fn decode_status(row: &Row<'_>) -> StoreResult<IntegrationStatus> {
    serde_json::from_str(&col::<String>(row, 0)?)
        .map_err(|_| StoreError::Corrupt("stored integration status is not valid".into()))
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn create_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        let b = Bound::new(record)?;
        self.db
            .write(move |conn| {
                conn.exec(
                    &format!(
                        "INSERT INTO integrations ({COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                    ),
                    params![
                        b.id,
                        b.org_id,
                        b.name,
                        b.platform,
                        b.mode,
                        b.enabled,
                        b.credentials,
                        b.created_at,
                        b.updated_at,
                        b.version,
                        b.account
                    ],
                )
                .map_err(store_err)
            })
            .await?;
        tracing::debug!(integration_id = %record.id, org_id = %record.org_id, "integration created");
        Ok(())
    }

    async fn get_integration(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationRecord>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!("SELECT {COLUMNS} FROM integrations WHERE id = ?1"),
                    [id.as_str()],
                    decode,
                )
            })
            .await
    }

    async fn list_integrations(&self, org: &OrgId) -> StoreResult<Vec<IntegrationRecord>> {
        let org = org.clone();
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM integrations WHERE org_id = ?1 \
                         ORDER BY created_at, id"
                    ),
                    [org.as_str()],
                    decode,
                )
            })
            .await
    }

    async fn update_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        let b = Bound::new(record)?;
        let expected = previous_version(record.version);
        self.db
            .write(move |conn| {
                versioned_update(
                    conn,
                    "UPDATE integrations SET org_id = ?2, name = ?3, platform = ?4, mode = ?5, \
                     enabled = ?6, credentials = ?7, created_at = ?8, updated_at = ?9, \
                     version = ?10, account = ?12 WHERE id = ?1 AND version = ?11",
                    params![
                        b.id,
                        b.org_id,
                        b.name,
                        b.platform,
                        b.mode,
                        b.enabled,
                        b.credentials,
                        b.created_at,
                        b.updated_at,
                        b.version,
                        expected,
                        b.account
                    ],
                    "SELECT 1 FROM integrations WHERE id = ?1",
                    &b.id,
                )
            })
            .await?;
        tracing::debug!(integration_id = %record.id, version = record.version, "integration updated");
        Ok(())
    }

    async fn set_account(&self, id: &IntegrationId, account: Option<&str>) -> StoreResult<bool> {
        let id = id.as_str().to_owned();
        let account = account.map(str::to_owned);
        self.db
            .write(move |conn| {
                conn.execute(
                    "UPDATE integrations SET account = ?2 WHERE id = ?1",
                    params![id, account],
                )
                .map(|n| n > 0)
                .map_err(store_err)
            })
            .await
    }

    async fn delete_integration(&self, id: &IntegrationId) -> StoreResult<bool> {
        let key = id.clone();
        let deleted = self
            .db
            .write(move |conn| {
                let tx = write_tx(conn).map_err(store_err)?;
                let n = tx
                    .exec("DELETE FROM integrations WHERE id = ?1", [key.as_str()])
                    .map_err(store_err)?;
                tx.exec(
                    "DELETE FROM integration_status WHERE integration_id = ?1",
                    [key.as_str()],
                )
                .map_err(store_err)?;
                tx.commit().map_err(store_err)?;
                Ok::<_, StoreError>(n > 0)
            })
            .await?;
        tracing::debug!(integration_id = %id, deleted, "integration delete");
        Ok(deleted)
    }

    async fn list_long_connection_integrations(&self) -> StoreResult<Vec<IntegrationRecord>> {
        let mode = enum_text(&ConnectionMode::LongConnection)?;
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM integrations WHERE mode = ?1 \
                         ORDER BY created_at, id"
                    ),
                    [mode],
                    decode,
                )
            })
            .await
    }

    async fn put_status(&self, status: &IntegrationStatus) -> StoreResult<()> {
        let id = status.integration_id.as_str().to_owned();
        let data = serde_json::to_string(status).map_err(|e| StoreError::Backend(Box::new(e)))?;
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO integration_status (integration_id, data) VALUES (?1, ?2) \
                     ON CONFLICT (integration_id) DO UPDATE SET data = excluded.data",
                    params![id, data],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn get_status(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationStatus>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    "SELECT data FROM integration_status WHERE integration_id = ?1",
                    [id.as_str()],
                    decode_status,
                )
            })
            .await
    }

    /// One query per [`STATUS_CHUNK`] distinct ids.
    async fn get_statuses(&self, ids: &[IntegrationId]) -> StoreResult<Vec<IntegrationStatus>> {
        let ids: Vec<String> = ids
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.db
            .read(move |conn| {
                let mut statuses = Vec::new();
                for chunk in ids.chunks(STATUS_CHUNK) {
                    let placeholders = vec!["?"; chunk.len()].join(", ");
                    // Chunk lengths vary, so the statement is not worth caching.
                    let mut stmt = conn
                        .prepare(&format!(
                            "SELECT data FROM integration_status WHERE integration_id IN ({placeholders})"
                        ))
                        .map_err(store_err)?;
                    let mut rows = stmt.query(params_from_iter(chunk)).map_err(store_err)?;
                    while let Some(row) = rows.next().map_err(store_err)? {
                        statuses.push(decode_status(row)?);
                    }
                }
                Ok(statuses)
            })
            .await
    }
}
