//! Ports for the conversation pipeline: users, history, aggregation buffers, stream buffers and
//! cached platform tokens. Implemented by every backend and held to the contracts in `imgate_core::testing` (feature `testing`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreResult;
use crate::event::InboundEvent;
use crate::ids::{IntegrationId, SessionId, UserId};
use crate::keyring::SealedSecret;
use crate::time::Timestamp;

/// Maps IM identities to stable imgate users.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The user for `identity` (e.g. `org:platform:sender`), creating `candidate` for it if it
    /// has none yet. Concurrent calls for one identity all get the same user.
    async fn resolve_user(&self, identity: &str, candidate: &UserId, now: Timestamp) -> StoreResult<UserId>;
}

/// Who said something in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The person.
    User,
    /// The agent.
    Assistant,
}

/// One turn of a session's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Who.
    pub role: Role,
    /// What.
    pub content: String,
    /// When.
    pub at: Timestamp,
}

/// Per-session message history (for agents that are sent the conversation so far).
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Appends a turn that expires at `entry.at + ttl`.
    async fn append_history(&self, session: &SessionId, entry: &HistoryEntry, ttl: Duration) -> StoreResult<()>;
    /// The last `limit` unexpired turns at `now`, oldest first.
    async fn recent_history(&self, session: &SessionId, limit: usize, now: Timestamp)
    -> StoreResult<Vec<HistoryEntry>>;
}

/// Messages of one conversation collected during an aggregation window.
#[async_trait]
pub trait AggregationStore: Send + Sync {
    /// Adds `event` to the buffer under `key` and returns the buffer's new version (1 for a new
    /// buffer). The buffer expires `ttl` after its last append.
    async fn append_pending(&self, key: &str, event: &InboundEvent, now: Timestamp, ttl: Duration) -> StoreResult<u64>;
    /// Removes and returns the buffer if its version is still `version`; `None` if more messages
    /// arrived since (a later flush will take them) or it is gone.
    async fn take_pending(&self, key: &str, version: u64) -> StoreResult<Option<Vec<InboundEvent>>>;
}

/// A streamed answer that the platform pulls (WeCom smart bots in callback mode ask for it on
/// every refresh callback, possibly on another instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamState {
    /// The integration it belongs to.
    pub integration_id: IntegrationId,
    /// The platform stream id.
    pub id: String,
    /// The whole answer so far (platforms replace the bubble on each refresh).
    pub content: String,
    /// True once the answer is complete.
    pub finished: bool,
    /// A card to show with the final answer (e.g. "start a new conversation" after a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<serde_json::Value>,
    /// Monotonic: a write with a lower or equal version than the stored one is ignored.
    pub version: u64,
    /// Created.
    pub created_at: Timestamp,
    /// When the store may forget it.
    pub expires_at: Timestamp,
}

/// Stream buffers.
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Stores a new stream; false (and no change) if one with that id exists.
    async fn create_stream(&self, stream: &StreamState) -> StoreResult<bool>;
    /// Reads a stream; one expired at `now` reads as absent.
    async fn get_stream(
        &self,
        integration: &IntegrationId,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<StreamState>>;
    /// Replaces the stream if `stream.version` is greater than the stored version; returns
    /// whether it was written (false for stale writes and missing streams).
    async fn update_stream(&self, stream: &StreamState) -> StoreResult<bool>;
}

/// A cached platform access token, sealed at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The token, sealed with the cache key as context.
    pub token: SealedSecret,
    /// When the platform stops accepting it.
    pub expires_at: Timestamp,
}

/// Platform access tokens shared by every instance.
#[async_trait]
pub trait TokenCache: Send + Sync {
    /// The token under `key` if it is still valid at `now`.
    async fn get_token(&self, key: &str, now: Timestamp) -> StoreResult<Option<CachedToken>>;
    /// Stores (replaces) the token under `key`.
    async fn put_token(&self, key: &str, token: &CachedToken) -> StoreResult<()>;
    /// Forgets the token (the platform rejected it); idempotent.
    async fn invalidate_token(&self, key: &str) -> StoreResult<()>;
}
