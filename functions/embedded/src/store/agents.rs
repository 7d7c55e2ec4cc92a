//! [`AgentStore`]: agents (their config stays sealed).

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::agent::AgentRecord;
use imgate_core::ids::{AgentId, OrgId};
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{AgentStore, StoreResult};

use super::{
    SqliteStore, col, col_ts, enum_parse, parse, previous_version, query_all, query_opt, version_col, version_sql,
    versioned_update,
};
use crate::db::{CachedExecute, store_err};

const COLUMNS: &str = "id, org_id, name, kind, config, created_at, updated_at, version";

fn decode(row: &Row<'_>) -> StoreResult<AgentRecord> {
    Ok(AgentRecord {
        id: parse(&col::<String>(row, 0)?, "agent id")?,
        org_id: parse(&col::<String>(row, 1)?, "organization id")?,
        name: col(row, 2)?,
        kind: enum_parse(col(row, 3)?, "agent kind")?,
        config: SealedSecret::from_stored(col::<String>(row, 4)?),
        created_at: col_ts(row, 5)?,
        updated_at: col_ts(row, 6)?,
        version: version_col(row, 7)?,
    })
}

/// The record's columns in [`COLUMNS`] order, ready to bind.
struct Bound {
    id: String,
    org_id: String,
    name: String,
    kind: &'static str,
    config: String,
    created_at: i64,
    updated_at: i64,
    version: i64,
}

impl Bound {
    fn new(r: &AgentRecord) -> StoreResult<Self> {
        Ok(Self {
            id: r.id.as_str().to_owned(),
            org_id: r.org_id.as_str().to_owned(),
            name: r.name.clone(),
            kind: r.kind.as_str(),
            config: r.config.as_stored().to_owned(),
            created_at: r.created_at.as_millis(),
            updated_at: r.updated_at.as_millis(),
            version: version_sql(r.version)?,
        })
    }
}

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        let b = Bound::new(record)?;
        self.db
            .write(move |conn| {
                conn.exec(
                    &format!("INSERT INTO agents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![
                        b.id,
                        b.org_id,
                        b.name,
                        b.kind,
                        b.config,
                        b.created_at,
                        b.updated_at,
                        b.version
                    ],
                )
                .map_err(store_err)
            })
            .await?;
        tracing::debug!(agent_id = %record.id, org_id = %record.org_id, "agent created");
        Ok(())
    }

    async fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!("SELECT {COLUMNS} FROM agents WHERE id = ?1"),
                    [id.as_str()],
                    decode,
                )
            })
            .await
    }

    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<AgentRecord>> {
        let org = org.clone();
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!("SELECT {COLUMNS} FROM agents WHERE org_id = ?1 ORDER BY created_at, id"),
                    [org.as_str()],
                    decode,
                )
            })
            .await
    }

    async fn update_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        let b = Bound::new(record)?;
        let expected = previous_version(record.version);
        self.db
            .write(move |conn| {
                versioned_update(
                    conn,
                    "UPDATE agents SET org_id = ?2, name = ?3, kind = ?4, config = ?5, \
                     created_at = ?6, updated_at = ?7, version = ?8 \
                     WHERE id = ?1 AND version = ?9",
                    params![
                        b.id,
                        b.org_id,
                        b.name,
                        b.kind,
                        b.config,
                        b.created_at,
                        b.updated_at,
                        b.version,
                        expected
                    ],
                    "SELECT 1 FROM agents WHERE id = ?1",
                    &b.id,
                )
            })
            .await?;
        tracing::debug!(agent_id = %record.id, version = record.version, "agent updated");
        Ok(())
    }

    async fn delete_agent(&self, id: &AgentId) -> StoreResult<bool> {
        let key = id.clone();
        let deleted = self
            .db
            .write(move |conn| {
                conn.exec("DELETE FROM agents WHERE id = ?1", [key.as_str()])
                    .map(|n| n > 0)
                    .map_err(store_err)
            })
            .await?;
        tracing::debug!(agent_id = %id, deleted, "agent delete");
        Ok(deleted)
    }
}
