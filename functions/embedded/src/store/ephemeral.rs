//! The expiring items: sessions, dedupe claims, relay leases and the per-integration event log.
//!
//! An item whose `expires_at` is at or before the caller's `now` is treated as gone by every read
//! and conditional write; [`SqliteStore::purge_expired`] deletes such rows later.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use imgate_core::Timestamp;
use imgate_core::ids::IntegrationId;
use imgate_core::ports::{
    Claim, DedupeStore, EventLog, EventLogEntry, Lease, LeaseOutcome, LeaseStore, SessionStore, StoreError, StoreResult,
};
use imgate_core::session::{RecordedAnswer, Session, SessionKey};

use super::{SqliteStore, col, col_ts, parse, query_all, query_opt};
use crate::db::{CachedExecute, store_err, write_tx};

const SESSION_COLUMNS: &str = "integration_id, conversation, sender, id, agent_id, user_id, \
                               started_at, last_active_at, expires_at, idle_until, answer_event, \
                               answer, answer_at";

fn decode_session(row: &Row<'_>) -> StoreResult<Session> {
    let answer = match col::<Option<String>>(row, 10)? {
        Some(event_key) => Some(RecordedAnswer {
            event_key,
            text: col::<Option<String>>(row, 11)?.unwrap_or_default(),
            at: Timestamp::from_millis(col::<Option<i64>>(row, 12)?.unwrap_or_default()),
        }),
        None => None,
    };
    Ok(Session {
        key: SessionKey {
            integration_id: parse(&col::<String>(row, 0)?, "integration id")?,
            conversation: col(row, 1)?,
            sender: col(row, 2)?,
        },
        id: parse(&col::<String>(row, 3)?, "session id")?,
        agent_id: parse(&col::<String>(row, 4)?, "agent id")?,
        user_id: parse(&col::<String>(row, 5)?, "user id")?,
        started_at: col_ts(row, 6)?,
        last_active_at: col_ts(row, 7)?,
        // Rows from before `idle_until` existed end with their conversation.
        expires_at: match col::<Option<i64>>(row, 9)? {
            Some(until) => Timestamp::from_millis(until),
            None => col_ts(row, 8)?,
        },
        answer,
    })
}

/// Claims `key` until `expires_at` in one statement: inserts it, or takes over a claim that
/// expired at or before `now`; else changes nothing. True when claimed.
fn claim_blocking(conn: &Connection, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
    let changed = conn
        .exec(
            "INSERT INTO dedupe (key, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE dedupe.expires_at <= ?3",
            params![key, expires_at, now],
        )
        .map_err(store_err)?;
    Ok(changed == 1)
}

/// Appends `entries` to `integration`'s event log, each expiring `ttl` after its `at`.
fn insert_events(
    conn: &Connection,
    integration: &IntegrationId,
    entries: &[EventLogEntry],
    ttl: Duration,
) -> StoreResult<()> {
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO event_log \
             (integration_id, at, kind, event_id, detail, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(store_err)?;
    for e in entries {
        insert
            .execute(params![
                integration.as_str(),
                e.at.as_millis(),
                e.kind,
                e.event_id,
                e.detail,
                e.at.plus(ttl).as_millis()
            ])
            .map_err(store_err)?;
    }
    Ok(())
}

/// The dedupe key that says a keyed event-log set was recorded.
fn keyed_set_claim(integration: &IntegrationId, key: &str, at: Timestamp) -> String {
    format!("event-set:{integration}:{}:{key}", at.as_millis())
}

fn decode_lease(row: &Row<'_>) -> StoreResult<Lease> {
    Ok(Lease {
        integration_id: parse(&col::<String>(row, 0)?, "integration id")?,
        owner: col(row, 1)?,
        expires_at: col_ts(row, 2)?,
    })
}

fn decode_event(row: &Row<'_>) -> StoreResult<EventLogEntry> {
    Ok(EventLogEntry {
        at: col_ts(row, 0)?,
        kind: col(row, 1)?,
        event_id: col(row, 2)?,
        detail: col(row, 3)?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn get_session(&self, key: &SessionKey, now: Timestamp) -> StoreResult<Option<Session>> {
        let digest = key.digest();
        let found = self
            .db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions \
                         WHERE digest = ?1 AND expires_at > ?2"
                    ),
                    params![digest, now.as_millis()],
                    decode_session,
                )
            })
            .await?;
        // The digest is 128 bits of SHA-256; still, never hand out another conversation's session.
        Ok(found.filter(|s| s.key == *key))
    }

    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        let s = session.clone();
        self.db
            .write(move |conn| {
                conn.exec(
                    &format!(
                        "INSERT OR REPLACE INTO sessions (digest, {SESSION_COLUMNS}) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                    ),
                    params![
                        s.key.digest(),
                        s.key.integration_id.as_str(),
                        s.key.conversation,
                        s.key.sender,
                        s.id.as_str(),
                        s.agent_id.as_str(),
                        s.user_id.as_str(),
                        s.started_at.as_millis(),
                        s.last_active_at.as_millis(),
                        // The row lives as long as the store keeps the session.
                        s.keep_until().as_millis(),
                        s.expires_at.as_millis(),
                        s.answer.as_ref().map(|a| a.event_key.as_str()),
                        s.answer.as_ref().map(|a| a.text.as_str()),
                        s.answer.as_ref().map(|a| a.at.as_millis())
                    ],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn delete_session(&self, key: &SessionKey) -> StoreResult<()> {
        let digest = key.digest();
        self.db
            .write(move |conn| {
                conn.exec("DELETE FROM sessions WHERE digest = ?1", [digest])
                    .map(drop)
                    .map_err(store_err)
            })
            .await
    }

    /// Walks `sessions_by_integration` backward; the conversation's end is `idle_until`, or
    /// `expires_at` in rows from before it existed.
    async fn list_sessions(
        &self,
        integration: &IntegrationId,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        let integration = integration.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    &format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions \
                         WHERE integration_id = ?1 AND COALESCE(idle_until, expires_at) > ?2 \
                         ORDER BY last_active_at DESC, digest LIMIT ?3"
                    ),
                    params![integration.as_str(), now.as_millis(), limit],
                    decode_session,
                )
            })
            .await
    }
}

#[async_trait]
impl DedupeStore for SqliteStore {
    async fn claim(&self, key: &str, now: Timestamp, ttl: Duration) -> StoreResult<Claim> {
        let key = key.to_owned();
        let expires_at = now.plus(ttl).as_millis();
        let now = now.as_millis();
        self.db
            .write(move |conn| {
                Ok(if claim_blocking(conn, &key, expires_at, now)? {
                    Claim::Claimed
                } else {
                    Claim::Duplicate
                })
            })
            .await
    }

    async fn release(&self, key: &str) -> StoreResult<()> {
        let key = key.to_owned();
        self.db
            .write(move |conn| {
                conn.exec("DELETE FROM dedupe WHERE key = ?1", [key])
                    .map(drop)
                    .map_err(store_err)
            })
            .await
    }

    async fn is_claimed(&self, key: &str, now: Timestamp) -> StoreResult<bool> {
        let key = key.to_owned();
        let now = now.as_millis();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    "SELECT 1 FROM dedupe WHERE key = ?1 AND expires_at > ?2",
                    params![key, now],
                    |_| Ok(()),
                )
                .map(|found| found.is_some())
            })
            .await
    }
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<LeaseOutcome> {
        let wanted = Lease {
            integration_id: integration.clone(),
            owner: owner.to_owned(),
            expires_at: now.plus(ttl),
        };
        let outcome = self
            .db
            .write(move |conn| {
                let tx = write_tx(conn).map_err(store_err)?;
                let current = query_opt(
                    &tx,
                    "SELECT integration_id, owner, expires_at FROM leases \
                     WHERE integration_id = ?1 AND expires_at > ?2",
                    params![wanted.integration_id.as_str(), now.as_millis()],
                    decode_lease,
                )?;
                if let Some(held) = current.filter(|l| l.owner != wanted.owner) {
                    return Ok(LeaseOutcome::HeldBy(held));
                }
                tx.exec(
                    "INSERT OR REPLACE INTO leases (integration_id, owner, expires_at) \
                     VALUES (?1, ?2, ?3)",
                    params![
                        wanted.integration_id.as_str(),
                        wanted.owner,
                        wanted.expires_at.as_millis()
                    ],
                )
                .map_err(store_err)?;
                tx.commit().map_err(store_err)?;
                Ok::<_, StoreError>(LeaseOutcome::Acquired(wanted))
            })
            .await?;
        match &outcome {
            LeaseOutcome::Acquired(l) => {
                tracing::debug!(integration_id = %integration, owner = %l.owner, "lease acquired");
            }
            LeaseOutcome::HeldBy(l) => {
                tracing::debug!(integration_id = %integration, holder = %l.owner, "lease held elsewhere");
            }
        }
        Ok(outcome)
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let (id, owner) = (integration.clone(), owner.to_owned());
        let expires_at = now.plus(ttl).as_millis();
        self.db
            .write(move |conn| {
                conn.exec(
                    "UPDATE leases SET expires_at = ?3 \
                     WHERE integration_id = ?1 AND owner = ?2 AND expires_at > ?4",
                    params![id.as_str(), owner, expires_at, now.as_millis()],
                )
                .map(|n| n == 1)
                .map_err(store_err)
            })
            .await
    }

    async fn release_lease(&self, integration: &IntegrationId, owner: &str) -> StoreResult<()> {
        let (id, owner) = (integration.clone(), owner.to_owned());
        self.db
            .write(move |conn| {
                conn.exec(
                    "DELETE FROM leases WHERE integration_id = ?1 AND owner = ?2",
                    params![id.as_str(), owner],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn get_lease(&self, integration: &IntegrationId, now: Timestamp) -> StoreResult<Option<Lease>> {
        let id = integration.clone();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    "SELECT integration_id, owner, expires_at FROM leases \
                     WHERE integration_id = ?1 AND expires_at > ?2",
                    params![id.as_str(), now.as_millis()],
                    decode_lease,
                )
            })
            .await
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn record_event(&self, integration: &IntegrationId, entry: &EventLogEntry, ttl: Duration) -> StoreResult<()> {
        self.record_events(integration, std::slice::from_ref(entry), ttl).await
    }

    /// One write for all of them.
    async fn record_events(
        &self,
        integration: &IntegrationId,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        let (id, entries) = (integration.clone(), entries.to_vec());
        self.db.write(move |conn| insert_events(conn, &id, &entries, ttl)).await
    }

    /// The lines and a claim on the set's key in one transaction; a set already recorded
    /// (its claim unexpired) is not written again.
    async fn record_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        let (id, entries) = (integration.clone(), entries.to_vec());
        let claim = keyed_set_claim(integration, key, at);
        let expires_at = at.plus(ttl).as_millis();
        self.db
            .write(move |conn| {
                if !claim_blocking(conn, &claim, expires_at, at.as_millis())? {
                    return Ok(());
                }
                insert_events(conn, &id, &entries, ttl)
            })
            .await
    }

    async fn has_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.is_claimed(&keyed_set_claim(integration, key, at), now).await
    }

    async fn recent_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<EventLogEntry>> {
        let id = integration.clone();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .read(move |conn| {
                query_all(
                    conn,
                    "SELECT at, kind, event_id, detail FROM event_log \
                     WHERE integration_id = ?1 AND expires_at > ?2 \
                     ORDER BY at DESC, seq DESC LIMIT ?3",
                    params![id.as_str(), now.as_millis(), limit],
                    decode_event,
                )
            })
            .await
    }
}
