//! The per-integration event log: partition `EVENTS#<integration>`, sort key
//! `<13-digit millis>#<tie breaker>` so a backward query is "newest first" and entries at the same
//! instant are all kept. Entries expire via TTL; queries also filter on the exact expiry.

use std::time::Duration;

use async_trait::async_trait;
use imgate_core::IntegrationId;
use imgate_core::ports::{EventLog, EventLogEntry, StoreResult};
use imgate_core::time::Timestamp;

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{self, Key};

const EVENT: &str = "event";

fn from_item(item: &Item) -> StoreResult<EventLogEntry> {
    let f = Fields::new(item, EVENT);
    Ok(EventLogEntry {
        at: f.time("at")?,
        kind: f.string("kind")?,
        event_id: f.opt_string("event_id")?,
        detail: f.string("detail")?,
    })
}

#[async_trait]
impl EventLog for DynamoStore {
    async fn record_event(&self, integration: &IntegrationId, entry: &EventLogEntry, ttl: Duration) -> StoreResult<()> {
        let item = ItemBuilder::new(&Key::event(integration, entry.at, &schema::tie_breaker()), EVENT)
            .s("integration_id", integration.as_str())
            .time("at", entry.at)
            .s("kind", entry.kind.as_str())
            .opt_s("event_id", entry.event_id.as_deref())
            .s("detail", entry.detail.as_str())
            .expires(entry.at.plus(ttl))
            .build();
        self.put(item).await
    }

    async fn recent_events(
        &self,
        integration: &IntegrationId,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<EventLogEntry>> {
        self.recent(schema::events_pk(integration), limit, now, EVENT)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }
}
