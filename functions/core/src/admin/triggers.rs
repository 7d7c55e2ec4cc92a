//! Triggers: publish and unpublish the binding `integration -> agent`.

use super::{Admin, AdminError, AdminResult, AgentRef, Principal, PublishTrigger, TriggerView, org_of};
use crate::ids::AgentId;
use crate::ports::StoreError;
use crate::time::Timestamp;
use crate::trigger::{
    Access, DEFAULT_SESSION_TIMEOUT_SECONDS, SESSION_TIMEOUT_RANGE, SUMMARY_WINDOW_RANGE, SWITCHABLE_AGENTS_MAX,
    Trigger,
};

impl Admin {
    /// Publishes (creates or replaces) the trigger of an integration.
    ///
    /// An enabled trigger that binds the integration to another agent is only replaced when the
    /// request says `takeover`; otherwise the answer is 409 naming the current agent. Settings
    /// the request leaves out keep their current value (or the default for a new trigger).
    ///
    /// # Errors
    /// 404 for an unknown integration or agent, 422 for out-of-range settings, 409 as above.
    pub async fn publish_trigger(
        &self,
        principal: &Principal,
        integration_id: &str,
        input: PublishTrigger,
    ) -> AdminResult<TriggerView> {
        let org_id = org_of(principal)?.clone();
        let integration = self.owned_integration(principal, integration_id).await?;
        let agent = self.owned_agent(principal, &input.agent_id).await?;
        let current = self.deps.store.get_trigger(&integration.id).await?;
        if let Some(current) = &current
            && current.enabled
            && current.agent_id != agent.id
            && !input.takeover
        {
            let owner = self.agent_ref(&current.agent_id).await?;
            return Err(AdminError::Conflict {
                message: format!(
                    "integration {} is bound to agent `{}` ({}); publish with \"takeover\": true to replace that binding",
                    integration.id, owner.name, owner.id
                ),
                current_agent: Some(owner),
            });
        }
        let session_timeout_seconds = input
            .session_timeout_seconds
            .or(current.as_ref().map(|t| t.session_timeout_seconds))
            .unwrap_or(DEFAULT_SESSION_TIMEOUT_SECONDS);
        if !SESSION_TIMEOUT_RANGE.contains(&session_timeout_seconds) {
            return Err(AdminError::Invalid(
                "sessionTimeoutSeconds must be between 60 and 604800".into(),
            ));
        }
        let summary_window_seconds = input
            .summary_window_seconds
            .or(current.as_ref().map(|t| t.summary_window_seconds))
            .unwrap_or(0);
        if !SUMMARY_WINDOW_RANGE.contains(&summary_window_seconds) {
            return Err(AdminError::Invalid(
                "summaryWindowSeconds must be between 0 and 900".into(),
            ));
        }
        let current_access = current.as_ref().map(|t| t.access.clone()).unwrap_or_default();
        let access = Access {
            allowed_users: input.allowed_users.unwrap_or(current_access.allowed_users),
            allowed_chats: input.allowed_chats.unwrap_or(current_access.allowed_chats),
            refusal: input.refusal.unwrap_or(current_access.refusal),
        }
        .cleaned()
        .map_err(AdminError::Invalid)?;
        let agents = match input.agents {
            Some(ids) => self.switchable_agents(principal, &agent.id, &ids).await?,
            None => current.as_ref().map(|t| t.agents.clone()).unwrap_or_default(),
        };
        let now = Timestamp::now();
        let trigger = Trigger {
            integration_id: integration.id.clone(),
            org_id,
            agent_id: agent.id.clone(),
            enabled: input.enabled.unwrap_or(true),
            session_timeout_seconds,
            summary_window_seconds,
            group_policy: input
                .group_policy
                .or(current.as_ref().map(|t| t.group_policy))
                .unwrap_or_default(),
            access,
            agents,
            busy: input
                .busy_policy
                .or(current.as_ref().map(|t| t.busy))
                .unwrap_or_default(),
            created_at: current.as_ref().map_or(now, |t| t.created_at),
            updated_at: now,
            version: current.as_ref().map_or(1, |t| t.version + 1),
        };
        match self.deps.store.put_trigger(&trigger).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(AdminError::Conflict {
                    message: "the trigger changed concurrently; read it again and retry".into(),
                    current_agent: None,
                });
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(previous) = current.filter(|c| c.agent_id != trigger.agent_id) {
            tracing::warn!(
                integration_id = %trigger.integration_id,
                previous_agent_id = %previous.agent_id,
                agent_id = %trigger.agent_id,
                "trigger taken over from another agent"
            );
        }
        tracing::info!(integration_id = %trigger.integration_id, agent_id = %trigger.agent_id, enabled = trigger.enabled, "trigger published");
        self.sync_registration(&integration).await;
        self.trigger_view(&trigger).await
    }

    /// Removes the integration's trigger: messages stop being routed and its connection stops.
    ///
    /// # Errors
    /// 404 when the integration or its trigger does not exist.
    pub async fn unpublish_trigger(&self, principal: &Principal, integration_id: &str) -> AdminResult<()> {
        let integration = self.owned_integration(principal, integration_id).await?;
        if !self.deps.store.delete_trigger(&integration.id).await? {
            return Err(AdminError::not_found("trigger of integration", integration.id.as_str()));
        }
        tracing::info!(integration_id = %integration.id, "trigger unpublished");
        self.sync_registration(&integration).await;
        Ok(())
    }

    /// The integration's trigger.
    ///
    /// # Errors
    /// 404 when the integration or its trigger does not exist.
    pub async fn get_trigger(&self, principal: &Principal, integration_id: &str) -> AdminResult<TriggerView> {
        let integration = self.owned_integration(principal, integration_id).await?;
        let trigger = self
            .deps
            .store
            .get_trigger(&integration.id)
            .await?
            .ok_or_else(|| AdminError::not_found("trigger of integration", integration.id.as_str()))?;
        self.trigger_view(&trigger).await
    }

    /// The organization's triggers.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_triggers(&self, principal: &Principal) -> AdminResult<Vec<TriggerView>> {
        let org_id = org_of(principal)?;
        let mut views = Vec::new();
        for trigger in self.deps.store.list_triggers(org_id).await? {
            views.push(self.trigger_view(&trigger).await?);
        }
        Ok(views)
    }

    pub(super) async fn trigger_view(&self, trigger: &Trigger) -> AdminResult<TriggerView> {
        let mut agents = Vec::with_capacity(trigger.agents.len());
        for id in &trigger.agents {
            agents.push(self.agent_ref(id).await?);
        }
        Ok(TriggerView {
            agent: self.agent_ref(&trigger.agent_id).await?,
            agents,
            ..trigger_view_parts(trigger)
        })
    }

    async fn agent_ref(&self, id: &AgentId) -> AdminResult<AgentRef> {
        let name = self
            .deps
            .store
            .get_agent(id)
            .await?
            .map_or_else(|| "(deleted)".to_owned(), |a| a.name);
        Ok(AgentRef {
            id: id.to_string(),
            name,
        })
    }

    /// The agents a publish names for `/switch`: the organization's own, without the default
    /// agent or repeats, at most [`SWITCHABLE_AGENTS_MAX`].
    async fn switchable_agents(
        &self,
        principal: &Principal,
        default: &AgentId,
        ids: &[String],
    ) -> AdminResult<Vec<AgentId>> {
        let mut agents: Vec<AgentId> = Vec::new();
        for id in ids {
            let agent = self.owned_agent(principal, id).await?;
            if agent.id != *default && !agents.contains(&agent.id) {
                agents.push(agent.id);
            }
        }
        if agents.len() > SWITCHABLE_AGENTS_MAX {
            return Err(AdminError::Invalid(format!(
                "agents may name at most {SWITCHABLE_AGENTS_MAX} agents to switch to"
            )));
        }
        Ok(agents)
    }
}

fn trigger_view_parts(trigger: &Trigger) -> TriggerView {
    TriggerView {
        integration_id: trigger.integration_id.to_string(),
        agent: AgentRef {
            id: trigger.agent_id.to_string(),
            name: String::new(),
        },
        enabled: trigger.enabled,
        session_timeout_seconds: trigger.session_timeout_seconds,
        summary_window_seconds: trigger.summary_window_seconds,
        group_policy: trigger.group_policy,
        access: trigger.access.clone(),
        agents: Vec::new(),
        busy_policy: trigger.busy,
        created_at: trigger.created_at,
        updated_at: trigger.updated_at,
    }
}
