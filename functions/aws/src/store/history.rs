//! Session history: partition `HISTORY#<session>`, sort key `<13-digit millis>#<tie breaker>`, so
//! "the last N turns" is one backward query with `Limit` (reversed to oldest first) and turns at
//! the same instant are all kept, in the order they were written. Turns expire via TTL; queries
//! also filter on the exact expiry.

use std::time::Duration;

use async_trait::async_trait;
use imgate_core::SessionId;
use imgate_core::ports::{HistoryEntry, HistoryStore, StoreResult};
use imgate_core::time::Timestamp;

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{self, Key};

const HISTORY: &str = "history";

fn from_item(item: &Item) -> StoreResult<HistoryEntry> {
    let f = Fields::new(item, HISTORY);
    Ok(HistoryEntry {
        role: f.enumeration("role")?,
        content: f.string("content")?,
        at: f.time("at")?,
    })
}

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn append_history(&self, session: &SessionId, entry: &HistoryEntry, ttl: Duration) -> StoreResult<()> {
        let item = ItemBuilder::new(&Key::history(session, entry.at, &schema::tie_breaker()), HISTORY)
            .s("session_id", session.as_str())
            .enumeration("role", &entry.role)?
            .s("content", entry.content.as_str())
            .time("at", entry.at)
            .expires(entry.at.plus(ttl))
            .build();
        self.put(item).await
    }

    async fn recent_history(
        &self,
        session: &SessionId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<HistoryEntry>> {
        let newest_first = self.recent(schema::history_pk(session), limit, now, HISTORY).await?;
        newest_first.iter().rev().map(from_item).collect()
    }
}
