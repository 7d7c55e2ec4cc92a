//! The single-table design: attribute names, item keys and table creation.
//!
//! Every item type lives in one table keyed by `pk` (partition) and `sk` (sort). Per-organization
//! listings use the global secondary index `gsi1` (`gsi1pk` = the listing, `gsi1sk` = zero-padded
//! creation millis + id, so a forward query is "oldest first"); the sparse index `gsi2` lists
//! only long-connection integrations, across organizations; the sparse, keys-only index `gsi3`
//! lists each integration's sessions by start time. Items that expire carry the TTL
//! attribute `expires_at` in epoch seconds (rounded up, so DynamoDB never removes an item before
//! it expired) and the exact expiry in `expires_ms`; TTL deletion is lazy, so reads compare
//! `expires_ms` with the caller's `now`. docs/dynamodb.md describes the whole layout.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use imgate_core::session::SessionKey;
use imgate_core::time::Timestamp;
use imgate_core::{AgentId, ApiKeyId, IntegrationId, OrgId, SessionId};
use sha2::{Digest, Sha256};

use crate::error::SetupError;

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The global secondary index for per-organization listings.
pub const GSI1: &str = "gsi1";
/// Partition key of [`GSI1`]: which listing the item belongs to.
pub const GSI1_PK: &str = "gsi1pk";
/// Sort key of [`GSI1`]: `<13-digit created millis>#<id>`.
pub const GSI1_SK: &str = "gsi1sk";
/// The sparse global secondary index listing long-connection integrations: only items that
/// carry its key attributes appear in it.
pub const GSI2: &str = "gsi2";
/// Partition key of [`GSI2`]: always [`LONG_CONNECTIONS`].
pub const GSI2_PK: &str = "gsi2pk";
/// Sort key of [`GSI2`]: `<13-digit created millis>#<id>`.
pub const GSI2_SK: &str = "gsi2sk";
/// The one [`GSI2`] partition: integrations in long-connection mode.
pub const LONG_CONNECTIONS: &str = "LONG_CONNECTIONS";
/// The sparse, keys-only global secondary index listing each integration's sessions. Its keys
/// never change over a session's life, so rewriting a session (once per answer) does not write
/// the index; only a new conversation does.
pub const GSI3: &str = "gsi3";
/// Partition key of [`GSI3`]: `INTEGRATION#<id>#SESSIONS`.
pub const GSI3_PK: &str = "gsi3pk";
/// Sort key of [`GSI3`]: `<13-digit started millis>#<session key digest>`.
pub const GSI3_SK: &str = "gsi3sk";
/// The TTL attribute (epoch seconds), enabled on the table.
pub const TTL: &str = "expires_at";
/// The exact expiry (epoch millis) that reads compare with `now`.
pub const EXPIRES_MS: &str = "expires_ms";
/// Optimistic-concurrency version of versioned items.
pub const VERSION: &str = "version";
/// Item type name, for people reading the table.
pub const ENTITY: &str = "entity";

/// Longest caller-chosen key (dedupe key, identity, aggregation key, stream id, token key) kept
/// verbatim in a partition key; longer ones are hashed (DynamoDB allows 2048 bytes per partition
/// key).
const MAX_VERBATIM_KEY: usize = 1024;
/// Longest caller-chosen id (dead letter id) kept verbatim in a sort key; longer ones are hashed
/// (DynamoDB allows 1024 bytes per sort key, and the id follows a prefix).
const MAX_VERBATIM_SORT_KEY: usize = 1000;

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) pk: String,
    pub(crate) sk: String,
}

impl Key {
    fn new(pk: String, sk: &str) -> Self {
        Self { pk, sk: sk.to_owned() }
    }

    pub(crate) fn org(id: &OrgId) -> Self {
        Self::new(format!("ORG#{id}"), "ORG")
    }

    pub(crate) fn api_key(id: &ApiKeyId) -> Self {
        Self::new(format!("APIKEY#{id}"), "APIKEY")
    }

    pub(crate) fn integration(id: &IntegrationId) -> Self {
        Self::new(format!("INTEGRATION#{id}"), "INTEGRATION")
    }

    pub(crate) fn status(id: &IntegrationId) -> Self {
        Self::new(format!("INTEGRATION#{id}"), "STATUS")
    }

    pub(crate) fn trigger(id: &IntegrationId) -> Self {
        Self::new(format!("INTEGRATION#{id}"), "TRIGGER")
    }

    pub(crate) fn agent(id: &AgentId) -> Self {
        Self::new(format!("AGENT#{id}"), "AGENT")
    }

    pub(crate) fn session(key: &SessionKey) -> Self {
        Self::new(format!("SESSION#{}", key.digest()), "SESSION")
    }

    pub(crate) fn dedupe(key: &str) -> Self {
        Self::new(format!("DEDUPE#{}", key_part(key)), "DEDUPE")
    }

    /// The user an IM identity (`org:platform:sender`) maps to.
    pub(crate) fn identity(identity: &str) -> Self {
        Self::new(format!("IDENTITY#{}", key_part(identity)), "IDENTITY")
    }

    /// One history turn: oldest-first order comes from the sort key; the suffix keeps turns at
    /// the same instant apart (see [`tie_breaker`]).
    pub(crate) fn history(session: &SessionId, at: Timestamp, suffix: &str) -> Self {
        Self {
            pk: history_pk(session),
            sk: format!("{}#{suffix}", sortable_millis(at)),
        }
    }

    /// An aggregation buffer.
    pub(crate) fn pending(key: &str) -> Self {
        Self::new(format!("PENDING#{}", key_part(key)), "PENDING")
    }

    /// A stream buffer. Integration ids never contain `#`, so the two parts cannot run together.
    pub(crate) fn stream(integration: &IntegrationId, id: &str) -> Self {
        Self::new(format!("STREAM#{integration}#{}", key_part(id)), "STREAM")
    }

    /// A cached platform token.
    pub(crate) fn token(key: &str) -> Self {
        Self::new(format!("TOKEN#{}", key_part(key)), "TOKEN")
    }

    /// An organization's dead letter; the caller's id is kept verbatim when it fits a sort key.
    pub(crate) fn dead_letter(org: &OrgId, id: &str) -> Self {
        Self {
            pk: dead_letters_pk(org),
            sk: format!("DL#{}", hashed_if_over(id, MAX_VERBATIM_SORT_KEY)),
        }
    }

    pub(crate) fn lease(id: &IntegrationId) -> Self {
        Self::new(format!("LEASE#{id}"), "LEASE")
    }

    /// One event-log entry: newest-first order comes from the sort key, the suffix (see
    /// [`tie_breaker`]) keeps entries at the same instant apart.
    pub(crate) fn event(id: &IntegrationId, at: Timestamp, suffix: &str) -> Self {
        Self {
            pk: events_pk(id),
            sk: format!("{}#{suffix}", sortable_millis(at)),
        }
    }
}

/// The partition holding an integration's event log.
pub(crate) fn events_pk(id: &IntegrationId) -> String {
    format!("EVENTS#{id}")
}

/// The [`GSI3`] partition listing an integration's sessions.
pub(crate) fn sessions_partition(integration: &IntegrationId) -> String {
    format!("INTEGRATION#{integration}#SESSIONS")
}

/// The [`GSI3`] sort key of a session: when it started, then its key's digest (which also
/// keeps sessions started in the same millisecond apart).
pub(crate) fn session_sort(key: &SessionKey, started: Timestamp) -> String {
    format!("{}#{}", sortable_millis(started), key.digest())
}

/// The partition holding a session's history.
pub(crate) fn history_pk(session: &SessionId) -> String {
    format!("HISTORY#{session}")
}

/// The partition holding an organization's dead letters.
pub(crate) fn dead_letters_pk(org: &OrgId) -> String {
    format!("ORG#{org}#DEADLETTERS")
}

/// A sort-key suffix for items that share a millisecond: the writer's wall clock in nanoseconds
/// (16 hex digits, so text order is time order and turns written one after another keep their
/// order) and 32 random bits (so concurrent writers never overwrite each other). Only a
/// tie-breaker: no decision depends on this clock.
pub(crate) fn tie_breaker() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    format!("{nanos:016x}{:08x}", rand::random::<u32>())
}

/// A per-organization (or global) listing on [`GSI1`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listing<'a> {
    Orgs,
    ApiKeys(&'a OrgId),
    Integrations(&'a OrgId),
    Agents(&'a OrgId),
    Triggers(&'a OrgId),
}

impl Listing<'_> {
    /// The `gsi1pk` value of the listing.
    pub(crate) fn partition(self) -> String {
        match self {
            Self::Orgs => "ORGS".to_owned(),
            Self::ApiKeys(org) => format!("ORG#{org}#APIKEYS"),
            Self::Integrations(org) => format!("ORG#{org}#INTEGRATIONS"),
            Self::Agents(org) => format!("ORG#{org}#AGENTS"),
            Self::Triggers(org) => format!("ORG#{org}#TRIGGERS"),
        }
    }
}

/// The `gsi1sk` value: creation time, then id, so equal instants still sort stably.
pub(crate) fn listing_sort(created: Timestamp, id: &str) -> String {
    format!("{}#{id}", sortable_millis(created))
}

/// Epoch millis as 13 zero-padded digits (clamped to 0..=9_999_999_999_999, i.e. up to 2286), so
/// string order is time order.
pub(crate) fn sortable_millis(t: Timestamp) -> String {
    format!("{:013}", t.as_millis().clamp(0, 9_999_999_999_999))
}

/// The TTL value for an item that expires at `t`: epoch seconds, rounded up.
pub(crate) fn ttl_seconds(t: Timestamp) -> i64 {
    t.as_millis().div_euclid(1000) + i64::from(t.as_millis().rem_euclid(1000) != 0)
}

/// A caller-chosen key as it appears in a partition key: verbatim when short, else
/// `sha256:<hex>`.
fn key_part(key: &str) -> String {
    hashed_if_over(key, MAX_VERBATIM_KEY)
}

/// `key` verbatim when it has at most `max` bytes, else `sha256:<hex>` of it.
fn hashed_if_over(key: &str, max: usize) -> String {
    if key.len() <= max {
        key.to_owned()
    } else {
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = hex::encode(digest);
        format!("sha256:{hex}")
    }
}

/// How long [`create_table`] waits for a new table to become active.
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// Creates the table with the schema above (on-demand billing, [`GSI1`] and [`GSI2`] projecting
/// all attributes, [`GSI3`] only the keys), waits until it is active and enables TTL on [`TTL`].
/// Used by tests and local bootstrap; production tables come from the SAM template with the same
/// schema.
pub async fn create_table(client: &Client, name: &str) -> Result<(), SetupError> {
    let string_attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, key_type: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    let build = |op: &'static str| {
        move |err: aws_sdk_dynamodb::error::BuildError| SetupError::Aws {
            operation: op,
            source: Box::new(err),
        }
    };
    let gsi = |index: &str, pk: &str, sk: &str, projection: ProjectionType| {
        GlobalSecondaryIndex::builder()
            .index_name(index)
            .key_schema(key(pk, KeyType::Hash).map_err(build("CreateTable"))?)
            .key_schema(key(sk, KeyType::Range).map_err(build("CreateTable"))?)
            .projection(Projection::builder().projection_type(projection).build())
            .build()
            .map_err(build("CreateTable"))
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash).map_err(build("CreateTable"))?)
        .key_schema(key(SK, KeyType::Range).map_err(build("CreateTable"))?)
        .global_secondary_indexes(gsi(GSI1, GSI1_PK, GSI1_SK, ProjectionType::All)?)
        .global_secondary_indexes(gsi(GSI2, GSI2_PK, GSI2_SK, ProjectionType::All)?)
        .global_secondary_indexes(gsi(GSI3, GSI3_PK, GSI3_SK, ProjectionType::KeysOnly)?);
    for attr in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK] {
        request = request.attribute_definitions(string_attr(attr).map_err(build("CreateTable"))?);
    }
    request.send().await.map_err(|e| SetupError::aws("CreateTable", e))?;

    wait_until_active(client, name).await?;

    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build()
                .map_err(build("UpdateTimeToLive"))?,
        )
        .send()
        .await
        .map_err(|e| SetupError::aws("UpdateTimeToLive", e))?;
    tracing::info!(table = name, "created dynamodb table");
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), SetupError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| SetupError::aws("DescribeTable", e))?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SetupError::NotActive {
                table: name.to_owned(),
                seconds: ACTIVE_TIMEOUT.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_sort_as_text() {
        assert_eq!(sortable_millis(Timestamp::from_millis(5)), "0000000000005");
        assert_eq!(sortable_millis(Timestamp::from_millis(-5)), "0000000000000");
        let a = sortable_millis(Timestamp::from_millis(999_999_999_999));
        let b = sortable_millis(Timestamp::from_millis(1_000_000_000_000));
        assert!(a < b);
        assert_eq!(a.len(), 13);
    }

    #[test]
    fn ttl_rounds_up() {
        assert_eq!(ttl_seconds(Timestamp::from_millis(10_000)), 10);
        assert_eq!(ttl_seconds(Timestamp::from_millis(10_001)), 11);
        assert_eq!(ttl_seconds(Timestamp::from_millis(10_999)), 11);
    }

    #[test]
    fn keys_have_type_prefixes() {
        let id = IntegrationId::generate();
        assert_eq!(Key::integration(&id).pk, format!("INTEGRATION#{id}"));
        assert_eq!(Key::status(&id).pk, Key::integration(&id).pk);
        assert_eq!(Key::status(&id).sk, "STATUS");
        assert_eq!(Key::lease(&id).pk, format!("LEASE#{id}"));
        let org = OrgId::generate();
        assert_eq!(
            Listing::Integrations(&org).partition(),
            format!("ORG#{org}#INTEGRATIONS")
        );
        assert_eq!(Listing::Orgs.partition(), "ORGS");
        assert_eq!(listing_sort(Timestamp::from_millis(42), "x"), "0000000000042#x");
    }

    #[test]
    fn dead_letter_keys() {
        let org = OrgId::generate();
        let key = Key::dead_letter(&org, "dl_ab12");
        assert_eq!(key.pk, format!("ORG#{org}#DEADLETTERS"));
        assert_eq!(key.sk, "DL#dl_ab12");
        let long = Key::dead_letter(&org, &"x".repeat(1001));
        assert!(long.sk.starts_with("DL#sha256:") && long.sk.len() <= 1024);
    }

    #[test]
    fn event_keys_sort_by_time() {
        let id = IntegrationId::generate();
        let early = Key::event(&id, Timestamp::from_millis(1_000), "ffff");
        let late = Key::event(&id, Timestamp::from_millis(2_000), "0000");
        assert_eq!(early.pk, late.pk);
        assert!(early.sk < late.sk);
    }

    #[test]
    fn long_dedupe_keys_are_hashed() {
        assert_eq!(Key::dedupe("wecom:1").pk, "DEDUPE#wecom:1");
        let long = "x".repeat(5000);
        let key = Key::dedupe(&long);
        assert!(key.pk.starts_with("DEDUPE#sha256:"));
        assert_eq!(key.pk.len(), "DEDUPE#sha256:".len() + 64);
        assert_ne!(key.pk, Key::dedupe(&"y".repeat(5000)).pk);
        assert!(Key::token(&long).pk.starts_with("TOKEN#sha256:"));
        assert!(Key::pending(&long).pk.starts_with("PENDING#sha256:"));
        assert!(Key::identity(&long).pk.starts_with("IDENTITY#sha256:"));
    }

    #[test]
    fn conversation_keys() {
        let id = IntegrationId::generate();
        assert_eq!(Key::stream(&id, "s-1").pk, format!("STREAM#{id}#s-1"));
        assert_eq!(Key::identity("org_1:wecom:u1").pk, "IDENTITY#org_1:wecom:u1");
        assert_eq!(Key::token("wecom:corp").sk, "TOKEN");
        let session = SessionId::generate();
        let early = Key::history(&session, Timestamp::from_millis(1_000), &tie_breaker());
        let same = Key::history(&session, Timestamp::from_millis(1_000), &tie_breaker());
        let late = Key::history(&session, Timestamp::from_millis(2_000), "0");
        assert_eq!(early.pk, format!("HISTORY#{session}"));
        assert!(early.sk < late.sk && same.sk < late.sk);
        assert_ne!(early.sk, same.sk);
        assert_eq!(tie_breaker().len(), 24);
    }

    #[test]
    fn session_index_keys() {
        let integration = IntegrationId::generate();
        assert_eq!(
            sessions_partition(&integration),
            format!("INTEGRATION#{integration}#SESSIONS")
        );
        let session = SessionKey {
            integration_id: integration,
            conversation: "c".into(),
            sender: "s".into(),
        };
        assert_eq!(
            session_sort(&session, Timestamp::from_millis(42)),
            format!("0000000000042#{}", session.digest())
        );
    }
}
