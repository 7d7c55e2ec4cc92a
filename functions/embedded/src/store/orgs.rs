//! [`OrgStore`]: organizations and their API keys (only the key's hash is stored).

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::apikey::ApiKeyRecord;
use imgate_core::ids::{ApiKeyId, OrgId};
use imgate_core::org::Organization;
use imgate_core::ports::{OrgStore, StoreResult};

use super::{SqliteStore, col, col_ts, parse, query_all, query_opt};
use crate::db::{CachedExecute, store_err};

const ORG_COLUMNS: &str = "id, name, created_at";
const KEY_COLUMNS: &str = "id, org_id, name, secret_hash, created_at";

fn decode_org(row: &Row<'_>) -> StoreResult<Organization> {
    Ok(Organization {
        id: parse(&col::<String>(row, 0)?, "organization id")?,
        name: col(row, 1)?,
        created_at: col_ts(row, 2)?,
    })
}

fn decode_key(row: &Row<'_>) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: parse(&col::<String>(row, 0)?, "API key id")?,
        org_id: parse(&col::<String>(row, 1)?, "organization id")?,
        name: col(row, 2)?,
        secret_hash: col(row, 3)?,
        created_at: col_ts(row, 4)?,
    })
}

#[async_trait]
impl OrgStore for SqliteStore {
    async fn create_org(&self, org: &Organization) -> StoreResult<()> {
        let org_id = org.id.clone();
        let org = org.clone();
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO orgs (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![org.id.as_str(), org.name, org.created_at.as_millis()],
                )
                .map_err(store_err)
            })
            .await?;
        tracing::debug!(org_id = %org_id, "organization created");
        Ok(())
    }

    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?1"),
                    [id.as_str()],
                    decode_org,
                )
            })
            .await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY created_at, id"),
                    [],
                    decode_org,
                )
            })
            .await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        let key = key.clone();
        let (key_id, org_id) = (key.id.clone(), key.org_id.clone());
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT INTO api_keys (id, org_id, name, secret_hash, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.id.as_str(),
                        key.org_id.as_str(),
                        key.name,
                        key.secret_hash,
                        key.created_at.as_millis()
                    ],
                )
                .map_err(store_err)
            })
            .await?;
        tracing::debug!(key_id = %key_id, org_id = %org_id, "API key created");
        Ok(())
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        let id = id.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
                    [id.as_str()],
                    decode_key,
                )
            })
            .await
    }

    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        let org = org.clone();
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1 \
                         ORDER BY created_at, id"
                    ),
                    [org.as_str()],
                    decode_key,
                )
            })
            .await
    }

    async fn delete_api_key(&self, id: &ApiKeyId) -> StoreResult<bool> {
        let key_id = id.clone();
        let deleted = self
            .db
            .write(move |conn| {
                conn.exec("DELETE FROM api_keys WHERE id = ?1", [key_id.as_str()])
                    .map(|n| n > 0)
                    .map_err(store_err)
            })
            .await?;
        tracing::debug!(key_id = %id, deleted, "API key delete");
        Ok(deleted)
    }
}
