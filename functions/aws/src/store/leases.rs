//! Relay leases: `LEASE#<integration>` / `LEASE`, holding `owner` and the expiry.
//!
//! Acquire is a put conditioned on "absent, expired, or already mine"; renew an update
//! conditioned on "mine and unexpired"; release a delete conditioned on "mine". The caller's
//! `now` decides expiry, TTL only cleans up.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use imgate_core::IntegrationId;
use imgate_core::ports::{Lease, LeaseOutcome, LeaseStore, StoreError, StoreResult};
use imgate_core::time::Timestamp;

use super::{Condition, Conditional, DynamoStore};
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{self, EXPIRES_MS, Key, PK, TTL};

const LEASE: &str = "lease";
const OWNER: &str = "owner";
/// Acquire attempts when the lease changes between the failed write and the follow-up read.
const ACQUIRE_ATTEMPTS: usize = 3;

fn from_item(item: &Item) -> StoreResult<Lease> {
    let f = Fields::new(item, LEASE);
    Ok(Lease {
        integration_id: f.parse("integration_id")?,
        owner: f.string(OWNER)?,
        expires_at: f.expires()?,
    })
}

fn millis(t: Timestamp) -> AttributeValue {
    AttributeValue::N(t.as_millis().to_string())
}

#[async_trait]
impl LeaseStore for DynamoStore {
    async fn acquire_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<LeaseOutcome> {
        let key = Key::lease(integration);
        let lease = Lease {
            integration_id: integration.clone(),
            owner: owner.to_owned(),
            expires_at: now.plus(ttl),
        };
        for _ in 0..ACQUIRE_ATTEMPTS {
            let item = ItemBuilder::new(&key, LEASE)
                .s("integration_id", integration.as_str())
                .s(OWNER, owner)
                .expires(lease.expires_at)
                .build();
            let condition = Condition::new("attribute_not_exists(#pk) OR #exp <= :now OR #owner = :owner")
                .name("#pk", PK)
                .name("#exp", EXPIRES_MS)
                .name("#owner", OWNER)
                .value(":now", millis(now))
                .value(":owner", AttributeValue::S(owner.to_owned()));
            let holder = match self.put_if(item, condition).await? {
                Conditional::Written => {
                    tracing::debug!(integration_id = %integration, owner, "lease acquired");
                    return Ok(LeaseOutcome::Acquired(lease));
                }
                Conditional::Failed(Some(old)) => Some(from_item(&old)?),
                Conditional::Failed(None) => self.get_lease(integration, now).await?,
            };
            if let Some(held) = holder.filter(|h| h.owner != owner && h.expires_at > now) {
                return Ok(LeaseOutcome::HeldBy(held));
            }
            // The holder released or expired between our write and read: try again.
        }
        Err(StoreError::Conflict(
            "the lease kept changing hands while acquiring it".into(),
        ))
    }

    async fn renew_lease(
        &self,
        integration: &IntegrationId,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let expires = now.plus(ttl);
        let condition = Condition::new("#owner = :owner AND #exp > :now")
            .name("#owner", OWNER)
            .name("#exp", EXPIRES_MS)
            .name("#ttl", TTL)
            .value(":owner", AttributeValue::S(owner.to_owned()))
            .value(":now", millis(now))
            .value(":exp", millis(expires))
            .value(":ttl", AttributeValue::N(schema::ttl_seconds(expires).to_string()));
        self.update_if(&Key::lease(integration), "SET #exp = :exp, #ttl = :ttl", condition)
            .await
    }

    async fn release_lease(&self, integration: &IntegrationId, owner: &str) -> StoreResult<()> {
        let condition = Condition::new("#owner = :owner")
            .name("#owner", OWNER)
            .value(":owner", AttributeValue::S(owner.to_owned()));
        let released = self.delete_if(&Key::lease(integration), condition).await?;
        tracing::debug!(integration_id = %integration, owner, released, "lease release");
        Ok(())
    }

    async fn get_lease(&self, integration: &IntegrationId, now: Timestamp) -> StoreResult<Option<Lease>> {
        let Some(item) = self.get(&Key::lease(integration)).await? else {
            return Ok(None);
        };
        let lease = from_item(&item)?;
        Ok((lease.expires_at > now).then_some(lease))
    }
}
