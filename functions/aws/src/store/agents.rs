//! Agents: `AGENT#<id>` / `AGENT`, listed on `ORG#<org>#AGENTS`, versioned.

use async_trait::async_trait;
use imgate_core::agent::AgentRecord;
use imgate_core::ports::{AgentStore, StoreResult};
use imgate_core::{AgentId, OrgId};

use super::DynamoStore;
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{Key, Listing, VERSION};

const AGENT: &str = "agent";

fn to_item(agent: &AgentRecord) -> StoreResult<Item> {
    Ok(ItemBuilder::new(&Key::agent(&agent.id), AGENT)
        .listed(Listing::Agents(&agent.org_id), agent.created_at, agent.id.as_str())
        .s("id", agent.id.as_str())
        .s("org_id", agent.org_id.as_str())
        .s("name", agent.name.as_str())
        .enumeration("kind", &agent.kind)?
        .s("config", agent.config.as_stored())
        .time("created_at", agent.created_at)
        .time("updated_at", agent.updated_at)
        .n(VERSION, agent.version)
        .build())
}

fn from_item(item: &Item) -> StoreResult<AgentRecord> {
    let f = Fields::new(item, AGENT);
    Ok(AgentRecord {
        id: f.parse("id")?,
        org_id: f.parse("org_id")?,
        name: f.string("name")?,
        kind: f.enumeration("kind")?,
        config: imgate_core::keyring::SealedSecret::from_stored(f.string("config")?),
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        version: f.number(VERSION)?,
    })
}

#[async_trait]
impl AgentStore for DynamoStore {
    async fn create_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        self.put_new(to_item(record)?, "agent").await
    }

    async fn get_agent(&self, id: &AgentId) -> StoreResult<Option<AgentRecord>> {
        self.get(&Key::agent(id)).await?.as_ref().map(from_item).transpose()
    }

    async fn list_agents(&self, org: &OrgId) -> StoreResult<Vec<AgentRecord>> {
        self.list(Listing::Agents(org)).await?.iter().map(from_item).collect()
    }

    async fn update_agent(&self, record: &AgentRecord) -> StoreResult<()> {
        let key = Key::agent(&record.id);
        self.put_versioned(to_item(record)?, &key, record.version, "agent")
            .await
    }

    async fn delete_agent(&self, id: &AgentId) -> StoreResult<bool> {
        self.delete(&Key::agent(id)).await
    }
}
