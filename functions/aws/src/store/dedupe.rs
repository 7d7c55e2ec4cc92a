//! Dedupe claims: `DEDUPE#<key>` / `DEDUPE`, one conditional put per claim.
//!
//! The put succeeds only if no claim exists or the stored one has expired
//! (`attribute_not_exists(pk) OR expires_ms <= :now`), so two racing receivers of the same
//! platform event cannot both win. TTL removes old claims eventually; the condition does not
//! depend on it.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use imgate_core::ports::{Claim, DedupeStore, StoreResult};
use imgate_core::time::Timestamp;

use super::{Condition, Conditional, DynamoStore};
use crate::item::{Fields, ItemBuilder};
use crate::schema::{EXPIRES_MS, Key, PK};

const DEDUPE: &str = "dedupe";

#[async_trait]
impl DedupeStore for DynamoStore {
    async fn claim(&self, key: &str, now: Timestamp, ttl: Duration) -> StoreResult<Claim> {
        let item = ItemBuilder::new(&Key::dedupe(key), DEDUPE)
            .time("claimed_at", now)
            .expires(now.plus(ttl))
            .build();
        let condition = Condition::new("attribute_not_exists(#pk) OR #exp <= :now")
            .name("#pk", PK)
            .name("#exp", EXPIRES_MS)
            .value(":now", AttributeValue::N(now.as_millis().to_string()));
        Ok(match self.put_if(item, condition).await? {
            Conditional::Written => Claim::Claimed,
            Conditional::Failed(_) => Claim::Duplicate,
        })
    }

    async fn release(&self, key: &str) -> StoreResult<()> {
        self.delete(&Key::dedupe(key)).await.map(|_| ())
    }

    async fn is_claimed(&self, key: &str, now: Timestamp) -> StoreResult<bool> {
        match self.get(&Key::dedupe(key)).await? {
            Some(item) => Ok(Fields::new(&item, DEDUPE).expires()? > now),
            None => Ok(false),
        }
    }
}
