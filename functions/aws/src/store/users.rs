//! The user directory: `IDENTITY#<identity>` / `IDENTITY`, holding the user the IM identity
//! maps to.
//!
//! Resolving reads the mapping first; a new identity takes one put conditioned on `attribute_not_exists(pk)`: the first writer's candidate
//! wins, and a losing writer gets the winner's user from the item DynamoDB returns with the
//! failed condition (`ReturnValuesOnConditionCheckFailure=ALL_OLD`), or from a consistent read.
//! Mappings never expire.

use async_trait::async_trait;
use imgate_core::UserId;
use imgate_core::ports::{StoreError, StoreResult, UserDirectory};
use imgate_core::time::Timestamp;

use super::{Condition, Conditional, DynamoStore};
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::Key;

const IDENTITY: &str = "identity";
const USER_ID: &str = "user_id";

fn user_of(item: &Item) -> StoreResult<UserId> {
    Fields::new(item, IDENTITY).parse(USER_ID)
}

#[async_trait]
impl UserDirectory for DynamoStore {
    async fn resolve_user(&self, identity: &str, candidate: &UserId, now: Timestamp) -> StoreResult<UserId> {
        let key = Key::identity(identity);
        // Mappings never change once written: a read (an eighth of a write's price) finds a
        // known identity without a conditional write that would be billed even when it fails.
        if let Some(known) = self.get(&key).await? {
            return user_of(&known);
        }
        let item = ItemBuilder::new(&key, IDENTITY)
            .s(IDENTITY, identity)
            .s(USER_ID, candidate.as_str())
            .time("created_at", now)
            .build();
        match self.put_if(item, Condition::absent()).await? {
            Conditional::Written => {
                tracing::debug!(user_id = %candidate, "new user for identity");
                Ok(candidate.clone())
            }
            Conditional::Failed(Some(old)) => user_of(&old),
            // Mappings are never deleted, so the item that beat us is there to read.
            Conditional::Failed(None) => match self.get(&key).await? {
                Some(old) => user_of(&old),
                None => Err(StoreError::Conflict(
                    "the identity's user vanished while resolving it".into(),
                )),
            },
        }
    }
}
