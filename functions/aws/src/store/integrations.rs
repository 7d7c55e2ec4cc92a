//! Integrations (`INTEGRATION#<id>` / `INTEGRATION`, listed on `ORG#<org>#INTEGRATIONS`, and on
//! the sparse `gsi2` partition `LONG_CONNECTIONS` while in long-connection mode; versioned) and
//! their runtime status (`INTEGRATION#<id>` / `STATUS`, last writer wins; many are read with
//! batched reads).

use async_trait::async_trait;
use imgate_core::integration::{IntegrationRecord, IntegrationStatus};
use imgate_core::keyring::SealedSecret;
use imgate_core::ports::{IntegrationStore, StoreResult};
use imgate_core::{ConnectionMode, IntegrationId, OrgId};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Condition, DynamoStore, Order};
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{GSI2, GSI2_PK, Key, LONG_CONNECTIONS, Listing, VERSION};

const INTEGRATION: &str = "integration";
const STATUS: &str = "integration_status";

fn to_item(record: &IntegrationRecord) -> StoreResult<Item> {
    Ok(ItemBuilder::new(&Key::integration(&record.id), INTEGRATION)
        .listed(
            Listing::Integrations(&record.org_id),
            record.created_at,
            record.id.as_str(),
        )
        // Creates and updates put the whole item, so leaving long-connection mode removes the
        // gsi2 attributes.
        .long_connection(
            record.mode == ConnectionMode::LongConnection,
            record.created_at,
            record.id.as_str(),
        )
        .s("id", record.id.as_str())
        .s("org_id", record.org_id.as_str())
        .s("name", record.name.as_str())
        .enumeration("platform", &record.platform)?
        .enumeration("mode", &record.mode)?
        .bool("enabled", record.enabled)
        .s("credentials", record.credentials.as_stored())
        .time("created_at", record.created_at)
        .time("updated_at", record.updated_at)
        .n(VERSION, record.version)
        .opt_s("account", record.account.as_deref())
        .build())
}

fn from_item(item: &Item) -> StoreResult<IntegrationRecord> {
    let f = Fields::new(item, INTEGRATION);
    Ok(IntegrationRecord {
        id: f.parse("id")?,
        org_id: f.parse("org_id")?,
        name: f.string("name")?,
        platform: f.enumeration("platform")?,
        mode: f.enumeration("mode")?,
        enabled: f.bool("enabled")?,
        credentials: SealedSecret::from_stored(f.string("credentials")?),
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        version: f.number(VERSION)?,
        account: f.opt_string("account")?,
    })
}

fn status_item(status: &IntegrationStatus) -> StoreResult<Item> {
    Ok(ItemBuilder::new(&Key::status(&status.integration_id), STATUS)
        .s("integration_id", status.integration_id.as_str())
        .enumeration("state", &status.state)?
        .opt_enumeration("reason", status.reason.as_ref())?
        .opt_time("connected_since", status.connected_since)
        .opt_time("last_event_at", status.last_event_at)
        .opt_s("last_error", status.last_error.as_deref())
        .n("reconnect_attempts", status.reconnect_attempts)
        .opt_s("owner", status.owner.as_deref())
        .time("updated_at", status.updated_at)
        .build())
}

fn status_from(item: &Item) -> StoreResult<IntegrationStatus> {
    let f = Fields::new(item, STATUS);
    Ok(IntegrationStatus {
        integration_id: f.parse("integration_id")?,
        state: f.enumeration("state")?,
        reason: f.opt_enumeration("reason")?,
        connected_since: f.opt_time("connected_since")?,
        last_event_at: f.opt_time("last_event_at")?,
        last_error: f.opt_string("last_error")?,
        reconnect_attempts: f.number("reconnect_attempts")?,
        owner: f.opt_string("owner")?,
        updated_at: f.time("updated_at")?,
    })
}

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn create_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        self.put_new(to_item(record)?, "integration").await
    }

    async fn get_integration(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationRecord>> {
        self.get(&Key::integration(id))
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    async fn list_integrations(&self, org: &OrgId) -> StoreResult<Vec<IntegrationRecord>> {
        self.list(Listing::Integrations(org))
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn update_integration(&self, record: &IntegrationRecord) -> StoreResult<()> {
        let key = Key::integration(&record.id);
        self.put_versioned(to_item(record)?, &key, record.version, "integration")
            .await
    }

    async fn set_account(&self, id: &IntegrationId, account: Option<&str>) -> StoreResult<bool> {
        let exists = Condition::new("attribute_exists(pk)");
        match account {
            Some(account) => {
                let condition = exists.value(":account", AttributeValue::S(account.to_owned()));
                self.update_if(&Key::integration(id), "SET account = :account", condition)
                    .await
            }
            None => self.update_if(&Key::integration(id), "REMOVE account", exists).await,
        }
    }

    async fn delete_integration(&self, id: &IntegrationId) -> StoreResult<bool> {
        // Status first: if the second delete fails, a retry still reports whether the
        // integration existed.
        self.delete(&Key::status(id)).await?;
        self.delete(&Key::integration(id)).await
    }

    async fn list_long_connection_integrations(&self) -> StoreResult<Vec<IntegrationRecord>> {
        self.query_index(GSI2, GSI2_PK, LONG_CONNECTIONS.to_owned(), Order::OldestFirst)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn put_status(&self, status: &IntegrationStatus) -> StoreResult<()> {
        self.put(status_item(status)?).await
    }

    async fn get_status(&self, id: &IntegrationId) -> StoreResult<Option<IntegrationStatus>> {
        self.get(&Key::status(id)).await?.as_ref().map(status_from).transpose()
    }

    /// `BatchGetItem`, 100 statuses per call.
    async fn get_statuses(&self, ids: &[IntegrationId]) -> StoreResult<Vec<IntegrationStatus>> {
        let keys: Vec<Key> = ids.iter().map(Key::status).collect();
        self.batch_get(&keys).await?.iter().map(status_from).collect()
    }
}
