//! Organizations (`ORG#<id>` / `ORG`, listed on `ORGS`) and API keys (`APIKEY#<id>` / `APIKEY`,
//! listed on `ORG#<org>#APIKEYS`).

use async_trait::async_trait;
use imgate_core::apikey::ApiKeyRecord;
use imgate_core::org::Organization;
use imgate_core::ports::{OrgStore, StoreResult};
use imgate_core::{ApiKeyId, OrgId};

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{Key, Listing};

const ORG: &str = "org";
const API_KEY: &str = "api_key";

fn org_item(org: &Organization) -> Item {
    ItemBuilder::new(&Key::org(&org.id), ORG)
        .listed(Listing::Orgs, org.created_at, org.id.as_str())
        .s("id", org.id.as_str())
        .s("name", org.name.as_str())
        .time("created_at", org.created_at)
        .build()
}

fn org_from(item: &Item) -> StoreResult<Organization> {
    let f = Fields::new(item, ORG);
    Ok(Organization {
        id: f.parse("id")?,
        name: f.string("name")?,
        created_at: f.time("created_at")?,
    })
}

fn key_item(key: &ApiKeyRecord) -> Item {
    ItemBuilder::new(&Key::api_key(&key.id), API_KEY)
        .listed(Listing::ApiKeys(&key.org_id), key.created_at, key.id.as_str())
        .s("id", key.id.as_str())
        .s("org_id", key.org_id.as_str())
        .s("name", key.name.as_str())
        .s("secret_hash", key.secret_hash.as_str())
        .time("created_at", key.created_at)
        .build()
}

fn key_from(item: &Item) -> StoreResult<ApiKeyRecord> {
    let f = Fields::new(item, API_KEY);
    Ok(ApiKeyRecord {
        id: f.parse("id")?,
        org_id: f.parse("org_id")?,
        name: f.string("name")?,
        secret_hash: f.string("secret_hash")?,
        created_at: f.time("created_at")?,
    })
}

#[async_trait]
impl OrgStore for DynamoStore {
    async fn create_org(&self, org: &Organization) -> StoreResult<()> {
        self.put_new(org_item(org), "organization").await
    }

    async fn get_org(&self, id: &OrgId) -> StoreResult<Option<Organization>> {
        self.get(&Key::org(id)).await?.as_ref().map(org_from).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organization>> {
        self.list(Listing::Orgs).await?.iter().map(org_from).collect()
    }

    async fn create_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.put_new(key_item(key), "API key").await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
        self.get(&Key::api_key(id)).await?.as_ref().map(key_from).transpose()
    }

    async fn list_api_keys(&self, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
        self.list(Listing::ApiKeys(org)).await?.iter().map(key_from).collect()
    }

    async fn delete_api_key(&self, id: &ApiKeyId) -> StoreResult<bool> {
        self.delete(&Key::api_key(id)).await
    }
}
