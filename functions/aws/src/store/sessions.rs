//! Sessions: `SESSION#<SessionKey::digest()>` / `SESSION`, expiring via TTL.
//!
//! The item expires at [`Session::keep_until`]: the conversation's end (`idle_until`), or later
//! while it keeps the agent's recorded answer (`answer_event`, `answer`, `answer_at`).
//!
//! The digest keeps arbitrary platform ids out of the key; the parts are stored too and checked
//! on read. TTL deletion is lazy, so reads hide sessions whose expiry is at or before `now`.
//!
//! Each session is also on its integration's partition of the keys-only `gsi3` index
//! (`INTEGRATION#<id>#SESSIONS`, sorted by start time and digest). Those keys never change while
//! the session is rewritten, so an answer does not write the index; a new conversation does,
//! once. Listing queries the partition's keys and reads the items themselves.

use async_trait::async_trait;
use imgate_core::IntegrationId;
use imgate_core::ports::{SessionStore, StoreResult};
use imgate_core::session::{RecordedAnswer, Session, SessionKey};
use imgate_core::time::Timestamp;

use super::{DynamoStore, Order};
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{GSI3, GSI3_PK, Key, PK, SK, sessions_partition};

const SESSION: &str = "session";
/// When the conversation ends; the item's own expiry is later while it keeps a recorded answer.
const IDLE_UNTIL: &str = "idle_until";

fn to_item(s: &Session) -> Item {
    let mut item = ItemBuilder::new(&Key::session(&s.key), SESSION)
        .session_listed(&s.key, s.started_at)
        .s("integration_id", s.key.integration_id.as_str())
        .s("conversation", s.key.conversation.as_str())
        .s("sender", s.key.sender.as_str())
        .s("id", s.id.as_str())
        .s("agent_id", s.agent_id.as_str())
        .s("user_id", s.user_id.as_str())
        .time("started_at", s.started_at)
        .time("last_active_at", s.last_active_at)
        .time(IDLE_UNTIL, s.expires_at)
        .expires(s.keep_until());
    if let Some(answer) = &s.answer {
        item = item
            .s("answer_event", answer.event_key.as_str())
            .s("answer", answer.text.as_str())
            .time("answer_at", answer.at);
    }
    item.build()
}

fn from_item(item: &Item) -> StoreResult<Session> {
    let f = Fields::new(item, SESSION);
    let answer = match f.opt_string("answer_event")? {
        Some(event_key) => Some(RecordedAnswer {
            event_key,
            text: f.string("answer")?,
            at: f.time("answer_at")?,
        }),
        None => None,
    };
    Ok(Session {
        key: SessionKey {
            integration_id: f.parse("integration_id")?,
            conversation: f.string("conversation")?,
            sender: f.string("sender")?,
        },
        id: f.parse("id")?,
        agent_id: f.parse("agent_id")?,
        user_id: f.parse("user_id")?,
        started_at: f.time("started_at")?,
        last_active_at: f.time("last_active_at")?,
        // Items written before `idle_until` existed expire with their conversation.
        expires_at: match f.opt_time(IDLE_UNTIL)? {
            Some(until) => until,
            None => f.expires()?,
        },
        answer,
    })
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn get_session(&self, key: &SessionKey, now: Timestamp) -> StoreResult<Option<Session>> {
        let Some(item) = self.get(&Key::session(key)).await? else {
            return Ok(None);
        };
        let session = from_item(&item)?;
        if session.key != *key {
            tracing::warn!(
                integration_id = %key.integration_id,
                "session digest collision; treating the session as absent"
            );
            return Ok(None);
        }
        Ok((session.keep_until() > now).then_some(session))
    }

    async fn put_session(&self, session: &Session) -> StoreResult<()> {
        self.put(to_item(session)).await
    }

    async fn delete_session(&self, key: &SessionKey) -> StoreResult<()> {
        self.delete(&Key::session(key)).await.map(|_| ())
    }

    /// Every key on the integration's `gsi3` partition (newest started first), the items in
    /// consistent batched reads, then the live ones by activity. A session's start says nothing
    /// of its last activity, so the whole partition is read: one query page per few thousand
    /// sessions and one read per 100 (ended sessions stay on it while they keep an answer, and
    /// until TTL deletes them).
    async fn list_sessions(
        &self,
        integration: &IntegrationId,
        now: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Session>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self
            .query_index(GSI3, GSI3_PK, sessions_partition(integration), Order::NewestFirst)
            .await?
            .iter()
            .map(|entry| {
                let f = Fields::new(entry, SESSION);
                Ok(Key {
                    pk: f.string(PK)?,
                    sk: f.string(SK)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut live = Vec::new();
        for item in self.batch_get(&keys).await? {
            let session = from_item(&item)?;
            // Under a digest collision the item holds another conversation's session.
            if session.key.integration_id == *integration && session.is_live(now) {
                live.push(session);
            }
        }
        live.sort_by(|a, b| {
            b.last_active_at
                .cmp(&a.last_active_at)
                .then_with(|| a.key.digest().cmp(&b.key.digest()))
        });
        live.truncate(limit);
        Ok(live)
    }
}
