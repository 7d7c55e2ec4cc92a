//! [`StreamStore`] and [`TokenCache`]: short-lived state shared by every instance that serves a
//! platform: streamed answers the platform pulls, and platform access tokens (kept sealed).
//!
//! Both are single statements: a stream is created if absent and replaced only by a higher
//! version, so an instance that falls behind never overwrites a newer answer.

use async_trait::async_trait;
use rusqlite::{Row, params};

use imgate_core::Timestamp;
use imgate_core::ids::IntegrationId;
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{CachedToken, StoreError, StoreResult, StreamState, StreamStore, TokenCache};

use super::{SqliteStore, col, col_ts, parse, query_opt, version_col, version_sql};
use crate::db::{CachedExecute, store_err};

const STREAM_COLUMNS: &str = "integration_id, id, content, finished, card, version, created_at, expires_at";

fn decode_stream(row: &Row<'_>) -> StoreResult<StreamState> {
    let card = col::<Option<String>>(row, 4)?
        .map(|json| serde_json::from_str(&json))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("stream card: {e}")))?;
    Ok(StreamState {
        integration_id: parse(&col::<String>(row, 0)?, "integration id")?,
        id: col(row, 1)?,
        content: col(row, 2)?,
        finished: col(row, 3)?,
        card,
        version: version_col(row, 5)?,
        created_at: col_ts(row, 6)?,
        expires_at: col_ts(row, 7)?,
    })
}

fn decode_token(row: &Row<'_>) -> StoreResult<CachedToken> {
    Ok(CachedToken {
        token: SealedSecret::from_stored(col::<String>(row, 0)?),
        expires_at: col_ts(row, 1)?,
    })
}

/// A stream's columns in [`STREAM_COLUMNS`] order, ready to bind.
struct BoundStream {
    integration_id: String,
    id: String,
    content: String,
    finished: bool,
    card: Option<String>,
    version: i64,
    created_at: i64,
    expires_at: i64,
}

impl BoundStream {
    fn new(s: &StreamState) -> StoreResult<Self> {
        let card = s
            .card
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Self {
            integration_id: s.integration_id.as_str().to_owned(),
            id: s.id.clone(),
            content: s.content.clone(),
            finished: s.finished,
            card,
            version: version_sql(s.version)?,
            created_at: s.created_at.as_millis(),
            expires_at: s.expires_at.as_millis(),
        })
    }
}

#[async_trait]
impl StreamStore for SqliteStore {
    /// Put-if-absent. A stored stream already expired at the new one's `created_at` counts as
    /// absent (reads hide it, and it only waits for the purge), so its id can be used again.
    async fn create_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        let b = BoundStream::new(stream)?;
        let created = self
            .db
            .write(move |conn| {
                conn.exec(
                    &format!(
                        "INSERT INTO streams ({STREAM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                         ON CONFLICT (integration_id, id) DO UPDATE SET content = excluded.content, \
                         finished = excluded.finished, card = excluded.card, version = excluded.version, \
                         created_at = excluded.created_at, expires_at = excluded.expires_at \
                         WHERE streams.expires_at <= excluded.created_at"
                    ),
                    params![
                        b.integration_id,
                        b.id,
                        b.content,
                        b.finished,
                        b.card,
                        b.version,
                        b.created_at,
                        b.expires_at
                    ],
                )
                .map(|n| n == 1)
                .map_err(store_err)
            })
            .await?;
        tracing::debug!(
            integration_id = %stream.integration_id,
            stream_id = %stream.id,
            created,
            "stream create"
        );
        Ok(created)
    }

    async fn get_stream(
        &self,
        integration: &IntegrationId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<StreamState>> {
        let (integration, id) = (integration.clone(), id.to_owned());
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    &format!(
                        "SELECT {STREAM_COLUMNS} FROM streams \
                         WHERE integration_id = ?1 AND id = ?2 AND expires_at > ?3"
                    ),
                    params![integration.as_str(), id, now.as_millis()],
                    decode_stream,
                )
            })
            .await
    }

    async fn update_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        let b = BoundStream::new(stream)?;
        let written = self
            .db
            .write(move |conn| {
                conn.exec(
                    "UPDATE streams SET content = ?3, finished = ?4, card = ?5, version = ?6, \
                     created_at = ?7, expires_at = ?8 \
                     WHERE integration_id = ?1 AND id = ?2 AND version < ?6",
                    params![
                        b.integration_id,
                        b.id,
                        b.content,
                        b.finished,
                        b.card,
                        b.version,
                        b.created_at,
                        b.expires_at
                    ],
                )
                .map(|n| n == 1)
                .map_err(store_err)
            })
            .await?;
        if !written {
            tracing::debug!(
                integration_id = %stream.integration_id,
                stream_id = %stream.id,
                version = stream.version,
                "stream update skipped: stale or missing"
            );
        }
        Ok(written)
    }
}

#[async_trait]
impl TokenCache for SqliteStore {
    async fn get_token(&self, key: &str, now: Timestamp) -> StoreResult<Option<CachedToken>> {
        let key = key.to_owned();
        self.db
            .read(move |conn| {
                query_opt(
                    conn,
                    "SELECT token, expires_at FROM tokens WHERE key = ?1 AND expires_at > ?2",
                    params![key, now.as_millis()],
                    decode_token,
                )
            })
            .await
    }

    async fn put_token(&self, key: &str, token: &CachedToken) -> StoreResult<()> {
        let key = key.to_owned();
        let (sealed, expires_at) = (token.token.as_stored().to_owned(), token.expires_at.as_millis());
        self.db
            .write(move |conn| {
                conn.exec(
                    "INSERT OR REPLACE INTO tokens (key, token, expires_at) VALUES (?1, ?2, ?3)",
                    params![key, sealed, expires_at],
                )
                .map(drop)
                .map_err(store_err)
            })
            .await
    }

    async fn invalidate_token(&self, key: &str) -> StoreResult<()> {
        let key_owned = key.to_owned();
        self.db
            .write(move |conn| {
                conn.exec("DELETE FROM tokens WHERE key = ?1", [key_owned])
                    .map(drop)
                    .map_err(store_err)
            })
            .await?;
        tracing::debug!(key, "token invalidated");
        Ok(())
    }
}
