//! Agents: create, read, update (write-only secrets), delete.

use super::{
    Admin, AdminError, AdminResult, AgentRef, AgentView, CreateAgent, Principal, UpdateAgent, clean_name, org_of,
    parse_id,
};
use crate::agent::{AgentConfig, AgentRecord};
use crate::ids::AgentId;
use crate::ports::StoreError;
use crate::time::Timestamp;

impl Admin {
    /// Creates an agent; its config is validated and sealed.
    ///
    /// # Errors
    /// 422 for an invalid name or config.
    pub async fn create_agent(&self, principal: &Principal, input: CreateAgent) -> AdminResult<AgentView> {
        let org_id = org_of(principal)?;
        let name = clean_name(&input.name)?;
        let raw = input.config.unwrap_or_else(|| serde_json::json!({}));
        let config = AgentConfig::parse(input.kind, &raw).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let id = AgentId::generate();
        let now = Timestamp::now();
        let record = AgentRecord {
            config: self.deps.keyring.seal(&config.to_sealable_json(), id.as_str()).await?,
            id,
            org_id: org_id.clone(),
            name,
            kind: input.kind,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.deps.store.create_agent(&record).await?;
        tracing::info!(org_id = %record.org_id, agent_id = %record.id, kind = record.kind.as_str(), "agent created");
        Ok(agent_view(&record, &config))
    }

    /// The organization's agents.
    ///
    /// # Errors
    /// Storage or keyring failures.
    pub async fn list_agents(&self, principal: &Principal) -> AdminResult<Vec<AgentView>> {
        let org_id = org_of(principal)?;
        let mut views = Vec::new();
        for record in self.deps.store.list_agents(org_id).await? {
            let config = self.open_agent_config(&record).await?;
            views.push(agent_view(&record, &config));
        }
        Ok(views)
    }

    /// One agent.
    ///
    /// # Errors
    /// 404 when absent or in another organization.
    pub async fn get_agent(&self, principal: &Principal, id: &str) -> AdminResult<AgentView> {
        let record = self.owned_agent(principal, id).await?;
        let config = self.open_agent_config(&record).await?;
        Ok(agent_view(&record, &config))
    }

    /// Applies a partial update.
    ///
    /// # Errors
    /// 404 when absent, 422 for invalid values, 409 on a concurrent change.
    pub async fn update_agent(&self, principal: &Principal, id: &str, input: UpdateAgent) -> AdminResult<AgentView> {
        let mut record = self.owned_agent(principal, id).await?;
        let mut config = self.open_agent_config(&record).await?;
        if let Some(update) = input.config {
            config = config.merge(&update).map_err(|e| AdminError::Invalid(e.to_string()))?;
            record.config = self
                .deps
                .keyring
                .seal(&config.to_sealable_json(), record.id.as_str())
                .await?;
        }
        if let Some(name) = input.name {
            record.name = clean_name(&name)?;
        }
        record.version += 1;
        record.updated_at = Timestamp::now();
        match self.deps.store.update_agent(&record).await {
            Ok(()) => Ok(agent_view(&record, &config)),
            Err(StoreError::NotFound) => Err(AdminError::not_found("agent", record.id.as_str())),
            Err(StoreError::Conflict(_)) => Err(AdminError::Conflict {
                message: "the agent changed concurrently; read it again and retry".into(),
                current_agent: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an agent that no trigger binds.
    ///
    /// # Errors
    /// 404 when absent, 409 naming the integrations still bound to it.
    pub async fn delete_agent(&self, principal: &Principal, id: &str) -> AdminResult<()> {
        let record = self.owned_agent(principal, id).await?;
        let bound: Vec<String> = self
            .deps
            .store
            .list_triggers(&record.org_id)
            .await?
            .into_iter()
            .filter(|t| t.agent_id == record.id)
            .map(|t| t.integration_id.to_string())
            .collect();
        if !bound.is_empty() {
            return Err(AdminError::Conflict {
                message: format!(
                    "agent is bound by the triggers of integrations {}; unpublish them first",
                    bound.join(", ")
                ),
                current_agent: Some(AgentRef {
                    id: record.id.to_string(),
                    name: record.name,
                }),
            });
        }
        self.deps.store.delete_agent(&record.id).await?;
        tracing::info!(org_id = %record.org_id, agent_id = %record.id, "agent deleted");
        Ok(())
    }

    /// Reads an agent of the caller's organization.
    pub(super) async fn owned_agent(&self, principal: &Principal, id: &str) -> AdminResult<AgentRecord> {
        let org_id = org_of(principal)?;
        let id: AgentId = parse_id("agent", id)?;
        match self.deps.store.get_agent(&id).await? {
            Some(record) if record.org_id == *org_id => Ok(record),
            _ => Err(AdminError::not_found("agent", id.as_str())),
        }
    }

    /// Opens an agent's sealed config.
    ///
    /// # Errors
    /// Keyring failures, or a stored config that no longer parses.
    pub async fn open_agent_config(&self, record: &AgentRecord) -> AdminResult<AgentConfig> {
        Ok(record.open_config(self.deps.keyring.as_ref()).await?)
    }
}

fn agent_view(record: &AgentRecord, config: &AgentConfig) -> AgentView {
    AgentView {
        id: record.id.to_string(),
        org_id: record.org_id.to_string(),
        name: record.name.clone(),
        kind: record.kind,
        config: config.masked(),
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}
