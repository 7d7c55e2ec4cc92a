//! Cached platform tokens: `TOKEN#<key>` / `TOKEN`, holding the sealed token and its expiry
//! (the platform's, which is also the item's TTL). Puts replace, invalidation deletes, reads
//! hide a token whose expiry is at or before `now`.

use async_trait::async_trait;
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{CachedToken, StoreResult, TokenCache};
use imgate_core::time::Timestamp;

use super::DynamoStore;
use crate::item::{Fields, ItemBuilder};
use crate::schema::Key;

const TOKEN: &str = "token";
const CACHE_KEY: &str = "cache_key";

#[async_trait]
impl TokenCache for DynamoStore {
    async fn get_token(&self, key: &str, now: Timestamp) -> StoreResult<Option<CachedToken>> {
        let Some(item) = self.get(&Key::token(key)).await? else {
            return Ok(None);
        };
        let f = Fields::new(&item, TOKEN);
        if f.s(CACHE_KEY)? != key {
            // Long keys are hashed in the item key; this one belongs to another cache key.
            return Ok(None);
        }
        let token = CachedToken {
            token: SealedSecret::from_stored(f.string(TOKEN)?),
            expires_at: f.expires()?,
        };
        Ok((token.expires_at > now).then_some(token))
    }

    async fn put_token(&self, key: &str, token: &CachedToken) -> StoreResult<()> {
        let item = ItemBuilder::new(&Key::token(key), TOKEN)
            .s(CACHE_KEY, key)
            .s(TOKEN, token.token.as_stored())
            .expires(token.expires_at)
            .build();
        self.put(item).await
    }

    async fn invalidate_token(&self, key: &str) -> StoreResult<()> {
        self.delete(&Key::token(key)).await.map(|_| ())
    }
}
