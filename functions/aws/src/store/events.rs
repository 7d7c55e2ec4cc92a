//! The per-integration event log: partition `EVENTS#<integration>`, sort key
//! `<13-digit millis>#<suffix>` so a backward query is "newest first".
//!
//! Lines written together (a callback's `received` and `enqueued`) are one item: a write request
//! is billed per item, so a step's lines cost one write whatever their number. A single line is
//! stored flat (`kind`, `event_id`, `detail`); several are stored as JSON text in `lines`,
//! oldest first. The suffix is a tie breaker, so entries at the same instant are all kept, or
//! for a keyed set `k<digest of the key>`, so the set can be found again by its key and time
//! (listings order lines by their own times, since a set sorts at its key's time).
//! Entries expire via TTL; queries also filter on the exact expiry.

use std::time::Duration;

use async_trait::async_trait;
use imgate_core::IntegrationId;
use imgate_core::ports::{EventLog, EventLogEntry, StoreError, StoreResult};
use imgate_core::time::Timestamp;
use sha2::{Digest, Sha256};

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder, json_text};
use crate::schema::{self, Key};

const EVENT: &str = "event";
/// The attribute holding several lines.
const LINES: &str = "lines";

/// The entries of one item, oldest first.
fn from_item(item: &Item) -> StoreResult<Vec<EventLogEntry>> {
    let f = Fields::new(item, EVENT);
    if let Some(lines) = f.opt_json::<Vec<EventLogEntry>>(LINES)? {
        return Ok(lines);
    }
    Ok(vec![EventLogEntry {
        at: f.time("at")?,
        kind: f.string("kind")?,
        event_id: f.opt_string("event_id")?,
        detail: f.string("detail")?,
    }])
}

/// One item for `entries` (at least one) under `key`.
fn to_item(integration: &IntegrationId, key: &Key, entries: &[EventLogEntry], ttl: Duration) -> StoreResult<Item> {
    let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
        return Err(StoreError::Backend("an event-log item needs a line".into()));
    };
    let builder = ItemBuilder::new(key, EVENT)
        .s("integration_id", integration.as_str())
        .time("at", first.at)
        .expires(last.at.max(first.at).plus(ttl));
    Ok(match entries {
        [only] => builder
            .s("kind", only.kind.as_str())
            .opt_s("event_id", only.event_id.as_deref())
            .s("detail", only.detail.as_str()),
        _ => builder.s(LINES, json_text(&entries)?),
    }
    .build())
}

/// The sort-key suffix of a keyed set: `k` and 128 bits of SHA-256 of the key.
fn keyed_suffix(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = hex::encode(&digest[..16]);
    format!("k{hex}")
}

#[async_trait]
impl EventLog for DynamoStore {
    async fn record_event(&self, integration: &IntegrationId, entry: &EventLogEntry, ttl: Duration) -> StoreResult<()> {
        self.record_events(integration, std::slice::from_ref(entry), ttl).await
    }

    /// One item, so one write, for all of them.
    async fn record_events(
        &self,
        integration: &IntegrationId,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let key = Key::event(integration, first.at, &schema::tie_breaker());
        self.put(to_item(integration, &key, entries, ttl)?).await
    }

    async fn record_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        entries: &[EventLogEntry],
        ttl: Duration,
    ) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // Placed at `at` in the log; the lines keep their own times.
        let item_key = Key::event(integration, at, &keyed_suffix(key));
        self.put(to_item(integration, &item_key, entries, ttl)?).await
    }

    async fn has_keyed_events(
        &self,
        integration: &IntegrationId,
        key: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        match self.get(&Key::event(integration, at, &keyed_suffix(key))).await? {
            Some(item) => Ok(Fields::new(&item, EVENT).expires()? > now),
            None => Ok(false),
        }
    }

    async fn recent_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<EventLogEntry>> {
        // Each item holds at least one line, so `limit` items hold enough. A keyed set sorts
        // at its key's time, before its own lines' times: order the lines by their times.
        let items = self.recent(schema::events_pk(integration), limit, now, EVENT).await?;
        let mut entries = Vec::with_capacity(limit);
        for item in &items {
            entries.extend(from_item(item)?.into_iter().rev());
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.at));
        entries.truncate(limit);
        Ok(entries)
    }
}
