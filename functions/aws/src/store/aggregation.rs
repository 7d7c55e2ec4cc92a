//! Aggregation buffers: `PENDING#<key>` / `PENDING`, holding `events` (a list of
//! [`InboundEvent`] JSON strings, oldest first), `version` and the expiry.
//!
//! An append is one `UpdateItem`: `list_append` adds the event, `ADD version :one` counts (an
//! absent item starts at 1), and `ReturnValues=UPDATED_NEW` hands back the new version. Its
//! condition `attribute_not_exists(pk) OR expires_ms > :now` keeps appends off a buffer that
//! expired but is still stored (TTL deletion is lazy); such a buffer is replaced by a new one at
//! version 1 with a put conditioned on it still being expired. A take is one `DeleteItem`
//! conditioned on `version = :v` with `ReturnValues=ALL_OLD`, so of two flushes only the one
//! holding the current version gets the events, exactly once.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use imgate_core::event::InboundEvent;
use imgate_core::ports::{AggregationStore, StoreError, StoreResult};
use imgate_core::time::Timestamp;

use super::{Condition, Conditional, DynamoStore};
use crate::error::store_backend;
use crate::item::{Fields, ItemBuilder, json_text, key_item};
use crate::schema::{self, ENTITY, EXPIRES_MS, Key, PK, TTL, VERSION};

const PENDING: &str = "pending";
const EVENTS: &str = "events";
const KEY: &str = "key";
/// Rounds of "append, or replace the expired buffer" before giving up on a key that keeps
/// changing under us.
const APPEND_ATTEMPTS: usize = 3;

fn millis(t: Timestamp) -> AttributeValue {
    AttributeValue::N(t.as_millis().to_string())
}

#[async_trait]
impl AggregationStore for DynamoStore {
    async fn append_pending(&self, key: &str, event: &InboundEvent, now: Timestamp, ttl: Duration) -> StoreResult<u64> {
        let item_key = Key::pending(key);
        let event = json_text(event)?;
        let expires = now.plus(ttl);
        for _ in 0..APPEND_ATTEMPTS {
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key_item(&item_key)))
                .update_expression(
                    "SET #events = list_append(if_not_exists(#events, :empty), :event), #entity = :entity, \
                     #key = :key, #exp = :exp, #ttl = :ttl ADD #version :one",
                )
                .condition_expression("attribute_not_exists(#pk) OR #exp > :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#events", EVENTS)
                .expression_attribute_names("#entity", ENTITY)
                .expression_attribute_names("#key", KEY)
                .expression_attribute_names("#exp", EXPIRES_MS)
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_names("#version", VERSION)
                .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":event", AttributeValue::L(vec![AttributeValue::S(event.clone())]))
                .expression_attribute_values(":entity", AttributeValue::S(PENDING.to_owned()))
                .expression_attribute_values(":key", AttributeValue::S(key.to_owned()))
                .expression_attribute_values(":exp", millis(expires))
                .expression_attribute_values(":ttl", AttributeValue::N(schema::ttl_seconds(expires).to_string()))
                .expression_attribute_values(":now", millis(now))
                .expression_attribute_values(":one", AttributeValue::N("1".to_owned()))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let updated = out.attributes.unwrap_or_default();
                    return Fields::new(&updated, PENDING).number(VERSION);
                }
                Err(err) => match err.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(_)) => {}
                    _ => return Err(store_backend("UpdateItem", err)),
                },
            }
            // The stored buffer expired: start a new one in its place, unless it changed since.
            let fresh = ItemBuilder::new(&item_key, PENDING)
                .s(KEY, key)
                .strings(EVENTS, [event.clone()])
                .n(VERSION, 1)
                .expires(expires)
                .build();
            let still_expired = Condition::new("#exp <= :now")
                .name("#exp", EXPIRES_MS)
                .value(":now", millis(now));
            if let Conditional::Written = self.put_if(fresh, still_expired).await? {
                return Ok(1);
            }
        }
        Err(StoreError::Conflict(
            "the aggregation buffer kept changing while appending to it".into(),
        ))
    }

    async fn take_pending(&self, key: &str, version: u64) -> StoreResult<Option<Vec<InboundEvent>>> {
        let result = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_item(&Key::pending(key))))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(err) => {
                return match err.as_service_error() {
                    Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(None),
                    _ => Err(store_backend("DeleteItem", err)),
                };
            }
        };
        let fields = Fields::new(&old, PENDING);
        let events = fields
            .strings(EVENTS)?
            .into_iter()
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|_| StoreError::Corrupt(format!("{PENDING} item: an entry of `{EVENTS}` is not an event")))
            })
            .collect::<StoreResult<Vec<InboundEvent>>>()?;
        Ok(Some(events))
    }
}
