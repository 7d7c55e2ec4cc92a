//! The per-integration event log: partition `EVENTS#<integration>`, sort key
//! `<13-digit millis>#<random>` so a backward query is "newest first" and entries at the same
//! instant are all kept. Entries expire via TTL; queries also filter on the exact expiry.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use imgate_core::IntegrationId;
use imgate_core::ports::{EventLog, EventLogEntry, StoreResult};
use imgate_core::time::Timestamp;

use super::DynamoStore;
use crate::error::store_backend;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{self, EXPIRES_MS, Key, PK};

const EVENT: &str = "event";
/// Items read per query page; pages continue until `limit` live entries are found.
const MAX_PAGE: usize = 100;

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
        let suffix = format!("{:016x}", rand::random::<u64>());
        let item = ItemBuilder::new(&Key::event(integration, entry.at, &suffix), EVENT)
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
        let mut entries = Vec::new();
        let mut start = None;
        while entries.len() < limit {
            let page = i32::try_from((limit - entries.len()).min(MAX_PAGE)).unwrap_or(1);
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("#pk = :pk")
                .filter_expression("#exp > :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#exp", EXPIRES_MS)
                .expression_attribute_values(":pk", AttributeValue::S(schema::events_pk(integration)))
                .expression_attribute_values(":now", AttributeValue::N(now.as_millis().to_string()))
                .scan_index_forward(false)
                .limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_backend("Query", e))?;
            for item in out.items.unwrap_or_default() {
                // The filter already hid expired entries; check again against the exact value.
                if Fields::new(&item, EVENT).expires()? > now && entries.len() < limit {
                    entries.push(from_item(&item)?);
                }
            }
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(entries)
    }
}
