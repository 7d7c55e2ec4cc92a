//! Stream buffers: `STREAM#<integration>#<stream id>` / `STREAM`, one partition per stream so a
//! busy integration's streams spread out.
//!
//! Create is a put conditioned on `attribute_not_exists(pk) OR expires_ms <= :created_at` (a
//! stream that expired but is still stored counts as absent, as reads hide it). Update is a put
//! conditioned on `attribute_exists(pk) AND version < :version`: it never creates, and a stale
//! or repeated write loses. Reads hide streams whose expiry is at or before `now`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use imgate_core::IntegrationId;
use imgate_core::ports::{StoreResult, StreamState, StreamStore};
use imgate_core::time::Timestamp;

use super::{Condition, Conditional, DynamoStore};
use crate::item::{Fields, Item, ItemBuilder, json_text};
use crate::schema::{EXPIRES_MS, Key, PK, VERSION};

const STREAM: &str = "stream";

fn to_item(s: &StreamState) -> StoreResult<Item> {
    let card = s.card.as_ref().map(json_text).transpose()?;
    Ok(ItemBuilder::new(&Key::stream(&s.integration_id, &s.id), STREAM)
        .s("integration_id", s.integration_id.as_str())
        .s("id", s.id.as_str())
        .s("content", s.content.as_str())
        .bool("finished", s.finished)
        .opt_s("card", card)
        .n(VERSION, s.version)
        .time("created_at", s.created_at)
        .expires(s.expires_at)
        .build())
}

fn from_item(item: &Item) -> StoreResult<StreamState> {
    let f = Fields::new(item, STREAM);
    Ok(StreamState {
        integration_id: f.parse("integration_id")?,
        id: f.string("id")?,
        content: f.string("content")?,
        finished: f.bool("finished")?,
        card: f.opt_json("card")?,
        version: f.number(VERSION)?,
        created_at: f.time("created_at")?,
        expires_at: f.expires()?,
    })
}

#[async_trait]
impl StreamStore for DynamoStore {
    async fn create_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        let condition = Condition::new("attribute_not_exists(#pk) OR #exp <= :created")
            .name("#pk", PK)
            .name("#exp", EXPIRES_MS)
            .value(":created", AttributeValue::N(stream.created_at.as_millis().to_string()));
        Ok(matches!(
            self.put_if(to_item(stream)?, condition).await?,
            Conditional::Written
        ))
    }

    async fn get_stream(
        &self,
        integration: &IntegrationId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<StreamState>> {
        let Some(item) = self.get(&Key::stream(integration, id)).await? else {
            return Ok(None);
        };
        let stream = from_item(&item)?;
        // Long ids are hashed in the key; the stored parts must match too.
        let same = stream.integration_id == *integration && stream.id == id;
        Ok((same && stream.expires_at > now).then_some(stream))
    }

    async fn update_stream(&self, stream: &StreamState) -> StoreResult<bool> {
        let condition = Condition::new("attribute_exists(#pk) AND #version < :version")
            .name("#pk", PK)
            .name("#version", VERSION)
            .value(":version", AttributeValue::N(stream.version.to_string()));
        Ok(matches!(
            self.put_if(to_item(stream)?, condition).await?,
            Conditional::Written
        ))
    }
}
