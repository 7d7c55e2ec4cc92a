//! A long poll's cursor kept in the stream store, so a relay that takes over the lease goes on
//! from where the last one confirmed: neither skipping nor repeating what was already queued.

use std::sync::Arc;
use std::time::Duration;

use imgate_core::IntegrationId;
use imgate_core::Timestamp;
use imgate_core::ports::{Store, StoreError, StreamState};

/// One integration's stored cursor under one record id.
pub struct Cursor {
    store: Arc<dyn Store>,
    integration_id: IntegrationId,
    id: String,
    ttl: Duration,
}

impl Cursor {
    /// The cursor `id` of `integration_id`, kept `ttl` after its last write.
    pub fn new(store: Arc<dyn Store>, integration_id: IntegrationId, id: String, ttl: Duration) -> Self {
        Self {
            store,
            integration_id,
            id,
            ttl,
        }
    }

    /// The stored cursor, `None` before the first write.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn read(&self) -> Result<Option<String>, StoreError> {
        let state = self
            .store
            .get_stream(&self.integration_id, &self.id, Timestamp::now())
            .await?;
        Ok(state.map(|s| s.content))
    }

    /// Stores `value` as the cursor.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn write(&self, value: &str) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let existing = self.store.get_stream(&self.integration_id, &self.id, now).await?;
        let mut state = existing.unwrap_or_else(|| StreamState {
            integration_id: self.integration_id.clone(),
            id: self.id.clone(),
            content: String::new(),
            finished: false,
            card: None,
            version: 0,
            created_at: now,
            expires_at: now,
        });
        value.clone_into(&mut state.content);
        state.version += 1;
        state.expires_at = now.plus(self.ttl);
        if state.version == 1 {
            if !self.store.create_stream(&state).await? {
                // Another writer created it first: update over it.
                state.version = 2;
                self.store.update_stream(&state).await?;
            }
        } else {
            self.store.update_stream(&state).await?;
        }
        Ok(())
    }
}
