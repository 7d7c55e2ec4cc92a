//! Triggers: `INTEGRATION#<id>` / `TRIGGER` (beside the integration they bind), listed on
//! `ORG#<org>#TRIGGERS`. Version 1 is a create-if-absent, later versions replace version − 1.

use async_trait::async_trait;
use imgate_core::ports::{StoreError, StoreResult, TriggerStore};
use imgate_core::trigger::{Access, BusyPolicy, Trigger};
use imgate_core::{IntegrationId, OrgId};

use super::{Condition, Conditional, DynamoStore};
use crate::item::{Fields, Item, ItemBuilder};
use crate::schema::{Key, Listing, VERSION};

const TRIGGER: &str = "trigger";

fn to_item(t: &Trigger) -> StoreResult<Item> {
    Ok(ItemBuilder::new(&Key::trigger(&t.integration_id), TRIGGER)
        .listed(Listing::Triggers(&t.org_id), t.created_at, t.integration_id.as_str())
        .s("integration_id", t.integration_id.as_str())
        .s("org_id", t.org_id.as_str())
        .s("agent_id", t.agent_id.as_str())
        .bool("enabled", t.enabled)
        .n("session_timeout_seconds", t.session_timeout_seconds)
        .n("summary_window_seconds", t.summary_window_seconds)
        .enumeration("group_policy", &t.group_policy)?
        .opt_s("access", t.access.to_stored().as_deref())
        .opt_s("agents", t.agents_to_stored().as_deref())
        .opt_s("busy", t.busy.to_stored())
        .time("created_at", t.created_at)
        .time("updated_at", t.updated_at)
        .n(VERSION, t.version)
        .build())
}

fn from_item(item: &Item) -> StoreResult<Trigger> {
    let f = Fields::new(item, TRIGGER);
    Ok(Trigger {
        integration_id: f.parse("integration_id")?,
        org_id: f.parse("org_id")?,
        agent_id: f.parse("agent_id")?,
        enabled: f.bool("enabled")?,
        session_timeout_seconds: f.number("session_timeout_seconds")?,
        summary_window_seconds: f.number("summary_window_seconds")?,
        group_policy: f.enumeration("group_policy")?,
        access: Access::from_stored(f.opt_string("access")?.as_deref())
            .map_err(|_| StoreError::Corrupt("trigger attribute access is not valid JSON".into()))?,
        agents: Trigger::agents_from_stored(f.opt_string("agents")?.as_deref())
            .map_err(|_| StoreError::Corrupt("trigger attribute agents is not a JSON list of ids".into()))?,
        busy: BusyPolicy::from_stored(f.opt_string("busy")?.as_deref())
            .map_err(|value| StoreError::Corrupt(format!("trigger attribute busy names no policy: {value}")))?,
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        version: f.number(VERSION)?,
    })
}

#[async_trait]
impl TriggerStore for DynamoStore {
    async fn get_trigger(&self, integration: &IntegrationId) -> StoreResult<Option<Trigger>> {
        self.get(&Key::trigger(integration))
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    async fn put_trigger(&self, trigger: &Trigger) -> StoreResult<()> {
        let condition = if trigger.version <= 1 {
            Condition::absent()
        } else {
            Condition::version(trigger.version - 1)
        };
        match self.put_if(to_item(trigger)?, condition).await? {
            Conditional::Written => Ok(()),
            Conditional::Failed(_) if trigger.version <= 1 => {
                Err(StoreError::Conflict("the integration already has a trigger".into()))
            }
            Conditional::Failed(_) => Err(StoreError::Conflict(format!(
                "trigger is no longer at version {}",
                trigger.version - 1
            ))),
        }
    }

    async fn delete_trigger(&self, integration: &IntegrationId) -> StoreResult<bool> {
        self.delete(&Key::trigger(integration)).await
    }

    async fn list_triggers(&self, org: &OrgId) -> StoreResult<Vec<Trigger>> {
        self.list(Listing::Triggers(org)).await?.iter().map(from_item).collect()
    }
}
