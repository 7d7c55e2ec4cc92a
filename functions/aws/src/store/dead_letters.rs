//! Dead letters: `ORG#<org>#DEADLETTERS` / `DL#<id>`, one partition per organization, expiring
//! via TTL. The organization is in the key, so another organization's id is simply absent.
//!
//! Puts replace (the same id is the same letter). Listing reads the organization's partition
//! (strongly consistent, expired items filtered out) and orders it by `failed_at`: the sort key
//! is the id, so get and delete need no index. Ids too long for a sort key are hashed in the
//! key; the id is stored in the item and checked on read.

use std::time::Duration;

use async_trait::async_trait;
use imgate_core::OrgId;
use imgate_core::ports::{DeadLetter, DeadLetterStore, StoreResult};
use imgate_core::time::Timestamp;

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{Key, dead_letters_pk};

const DEAD_LETTER: &str = "dead_letter";

fn to_item(l: &DeadLetter, ttl: Duration) -> Item {
    ItemBuilder::new(&Key::dead_letter(&l.org_id, &l.id), DEAD_LETTER)
        .s("id", l.id.as_str())
        .s("org_id", l.org_id.as_str())
        .s("integration_id", l.integration_id.as_str())
        .opt_s("event_id", l.event_id.as_deref())
        .s("group", l.group.as_str())
        .s("body", l.body.as_str())
        .s("reason", l.reason.as_str())
        .time("failed_at", l.failed_at)
        .n("receive_count", l.receive_count)
        .expires(l.failed_at.plus(ttl))
        .build()
}

/// The letter and its expiry.
fn from_item(item: &Item) -> StoreResult<(DeadLetter, Timestamp)> {
    let f = Fields::new(item, DEAD_LETTER);
    let letter = DeadLetter {
        id: f.string("id")?,
        org_id: f.parse("org_id")?,
        integration_id: f.parse("integration_id")?,
        event_id: f.opt_string("event_id")?,
        group: f.string("group")?,
        body: f.string("body")?,
        reason: f.string("reason")?,
        failed_at: f.time("failed_at")?,
        receive_count: f.number("receive_count")?,
    };
    Ok((letter, f.expires()?))
}

#[async_trait]
impl DeadLetterStore for DynamoStore {
    async fn put_dead_letter(&self, letter: &DeadLetter, ttl: Duration) -> StoreResult<()> {
        self.put(to_item(letter, ttl)).await
    }

    async fn list_dead_letters(&self, org: &OrgId, now: Timestamp, limit: usize) -> StoreResult<Vec<DeadLetter>> {
        // Every unexpired item of the partition: it is ordered by id, not by time.
        let mut letters = self
            .recent(dead_letters_pk(org), usize::MAX, now, DEAD_LETTER)
            .await?
            .iter()
            .map(|item| from_item(item).map(|(letter, _)| letter))
            .collect::<StoreResult<Vec<_>>>()?;
        letters.sort_by(|a, b| b.failed_at.cmp(&a.failed_at).then_with(|| a.id.cmp(&b.id)));
        letters.truncate(limit);
        Ok(letters)
    }

    async fn get_dead_letter(&self, org: &OrgId, id: &str, now: Timestamp) -> StoreResult<Option<DeadLetter>> {
        let Some(item) = self.get(&Key::dead_letter(org, id)).await? else {
            return Ok(None);
        };
        let (letter, expires) = from_item(&item)?;
        // Long ids are hashed in the key; the stored id must match too.
        Ok((letter.id == id && letter.org_id == *org && expires > now).then_some(letter))
    }

    async fn delete_dead_letter(&self, org: &OrgId, id: &str) -> StoreResult<bool> {
        self.delete(&Key::dead_letter(org, id)).await
    }
}
