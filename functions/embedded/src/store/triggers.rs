//! [`TriggerStore`]: one trigger per integration, created if absent, replaced by version.

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::ids::{IntegrationId, OrgId};
use imgate_core::ports::{StoreError, StoreResult, TriggerStore};
use imgate_core::trigger::{Access, BusyPolicy, Trigger};

use super::{
    SqliteStore, col, col_ts, enum_parse, enum_text, parse, previous_version, query_all, query_opt, version_col,
    version_sql,
};
use crate::db::{CachedExecute, store_err};

const COLUMNS: &str = "integration_id, org_id, agent_id, enabled, session_timeout_seconds, \
                       summary_window_seconds, group_policy, created_at, updated_at, version, access, agents, busy";

fn decode(row: &Row<'_>) -> StoreResult<Trigger> {
    Ok(Trigger {
        integration_id: parse(&col::<String>(row, 0)?, "integration id")?,
        org_id: parse(&col::<String>(row, 1)?, "organization id")?,
        agent_id: parse(&col::<String>(row, 2)?, "agent id")?,
        enabled: col(row, 3)?,
        session_timeout_seconds: col(row, 4)?,
        summary_window_seconds: col(row, 5)?,
        group_policy: enum_parse(col(row, 6)?, "group policy")?,
        created_at: col_ts(row, 7)?,
        updated_at: col_ts(row, 8)?,
        version: version_col(row, 9)?,
        access: Access::from_stored(col::<Option<String>>(row, 10)?.as_deref())
            .map_err(|_| StoreError::Corrupt("trigger access lists are not valid JSON".into()))?,
        agents: Trigger::agents_from_stored(col::<Option<String>>(row, 11)?.as_deref())
            .map_err(|_| StoreError::Corrupt("trigger agents are not a JSON list of ids".into()))?,
        busy: BusyPolicy::from_stored(col::<Option<String>>(row, 12)?.as_deref())
            .map_err(|value| StoreError::Corrupt(format!("trigger busy policy {value} is not known")))?,
    })
}

#[async_trait]
impl TriggerStore for SqliteStore {
    async fn get_trigger(&self, integration: &IntegrationId) -> StoreResult<Option<Trigger>> {
        let id = integration.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!("SELECT {COLUMNS} FROM triggers WHERE integration_id = ?1"),
                    [id.as_str()],
                    decode,
                )
            })
            .await
    }

    async fn put_trigger(&self, trigger: &Trigger) -> StoreResult<()> {
        let t = trigger.clone();
        let policy = enum_text(&t.group_policy)?;
        let access = t.access.to_stored();
        let agents = t.agents_to_stored();
        let busy = t.busy.to_stored();
        let version = version_sql(t.version)?;
        let expected = previous_version(t.version);
        self.db
            .write(move |conn| {
                let values = params![
                    t.integration_id.as_str(),
                    t.org_id.as_str(),
                    t.agent_id.as_str(),
                    t.enabled,
                    t.session_timeout_seconds,
                    t.summary_window_seconds,
                    policy,
                    t.created_at.as_millis(),
                    t.updated_at.as_millis(),
                    version,
                    expected,
                    access,
                    agents,
                    busy
                ];
                // Version 1 creates (the primary key refuses a second one); later versions
                // replace only the version right before them.
                let sql = if t.version == 1 {
                    format!(
                        "INSERT INTO triggers ({COLUMNS}) \
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12, ?13, ?14 WHERE ?11 = 0"
                    )
                } else {
                    "UPDATE triggers SET org_id = ?2, agent_id = ?3, enabled = ?4, \
                     session_timeout_seconds = ?5, summary_window_seconds = ?6, \
                     group_policy = ?7, created_at = ?8, updated_at = ?9, version = ?10, access = ?12, agents = ?13, busy = ?14 \
                     WHERE integration_id = ?1 AND version = ?11"
                        .to_owned()
                };
                match conn.exec(&sql, values).map_err(store_err)? {
                    0 => Err(StoreError::Conflict(format!(
                        "trigger of {} is not at version {}",
                        t.integration_id, expected
                    ))),
                    _ => Ok(()),
                }
            })
            .await?;
        tracing::debug!(
            integration_id = %trigger.integration_id,
            agent_id = %trigger.agent_id,
            version = trigger.version,
            enabled = trigger.enabled,
            "trigger written"
        );
        Ok(())
    }

    async fn delete_trigger(&self, integration: &IntegrationId) -> StoreResult<bool> {
        let id = integration.clone();
        let deleted = self
            .db
            .write(move |conn| {
                conn.exec("DELETE FROM triggers WHERE integration_id = ?1", [id.as_str()])
                    .map(|n| n > 0)
                    .map_err(store_err)
            })
            .await?;
        tracing::debug!(integration_id = %integration, deleted, "trigger delete");
        Ok(deleted)
    }

    async fn list_triggers(&self, org: &OrgId) -> StoreResult<Vec<Trigger>> {
        let org = org.clone();
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {COLUMNS} FROM triggers WHERE org_id = ?1 \
                         ORDER BY created_at, integration_id"
                    ),
                    [org.as_str()],
                    decode,
                )
            })
            .await
    }
}
