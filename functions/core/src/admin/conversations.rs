//! An integration's open conversations (to reset one that went wrong) and what deleting the
//! integration would affect.

use serde::Serialize;

use super::{Admin, AdminError, AdminResult, AgentRef, Principal, TriggerView};
use crate::time::Timestamp;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The most conversations one listing returns.
pub const CONVERSATIONS_LISTED: usize = 200;

/// One open conversation.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ConversationView {
    /// The session id (what the agent sees).
    pub session_id: String,
    /// The platform's chat id.
    pub conversation: String,
    /// The platform's sender id.
    pub sender: String,
    /// The agent answering it.
    pub agent: AgentRef,
    /// When the session started.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// The last message in or out.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub last_active_at: Timestamp,
    /// When it ends for lack of messages.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub ends_at: Timestamp,
}

/// `GET /integrations/{id}/impact`: what deleting the integration affects.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ImpactView {
    /// The integration.
    pub integration_id: String,
    /// The trigger that is deleted with it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerView>,
    /// The agent that stops answering through it (the agent itself is kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    /// Open conversations that end.
    pub open_conversations: u32,
    /// True when there are more than were counted.
    pub more_conversations: bool,
}

impl Admin {
    /// The integration's open conversations, most recently active first.
    ///
    /// # Errors
    /// 404 when the integration is absent or another organization's.
    pub async fn list_conversations(&self, principal: &Principal, id: &str) -> AdminResult<Vec<ConversationView>> {
        let record = self.owned_integration(principal, id).await?;
        let sessions = self
            .deps
            .store
            .list_sessions(&record.id, Timestamp::now(), CONVERSATIONS_LISTED)
            .await?;
        let mut views = Vec::with_capacity(sessions.len());
        // The sessions of one integration share a few agents: each is read once.
        let mut agents: std::collections::HashMap<crate::ids::AgentId, AgentRef> = std::collections::HashMap::new();
        for session in sessions {
            if !agents.contains_key(&session.agent_id) {
                let name = self
                    .deps
                    .store
                    .get_agent(&session.agent_id)
                    .await?
                    .map(|agent| agent.name)
                    .unwrap_or_default();
                let agent = AgentRef {
                    id: session.agent_id.to_string(),
                    name,
                };
                agents.insert(session.agent_id.clone(), agent);
            }
            let agent = agents.get(&session.agent_id).cloned().unwrap_or_else(|| AgentRef {
                id: session.agent_id.to_string(),
                name: String::new(),
            });
            views.push(ConversationView {
                session_id: session.id.to_string(),
                conversation: session.key.conversation,
                sender: session.key.sender,
                agent,
                started_at: session.started_at,
                last_active_at: session.last_active_at,
                ends_at: session.expires_at,
            });
        }
        Ok(views)
    }

    /// Ends one conversation: its next message starts a new session (the agent forgets the
    /// earlier turns). The session's recorded answer is kept, so a redelivery of the message
    /// answered last is still not answered twice.
    ///
    /// # Errors
    /// 404 when the integration or the conversation is absent.
    pub async fn reset_conversation(&self, principal: &Principal, id: &str, session_id: &str) -> AdminResult<()> {
        let record = self.owned_integration(principal, id).await?;
        let now = Timestamp::now();
        let sessions = self.deps.store.list_sessions(&record.id, now, usize::MAX).await?;
        let mut session = sessions
            .into_iter()
            .find(|s| s.id.as_str() == session_id)
            .ok_or_else(|| AdminError::not_found("conversation", session_id))?;
        session.expires_at = now;
        self.deps.store.put_session(&session).await?;
        tracing::info!(integration_id = %record.id, session_id, "conversation reset");
        Ok(())
    }

    /// What deleting the integration affects: its trigger, the agent bound, open conversations.
    ///
    /// # Errors
    /// 404 when the integration is absent or another organization's.
    pub async fn integration_impact(&self, principal: &Principal, id: &str) -> AdminResult<ImpactView> {
        let record = self.owned_integration(principal, id).await?;
        let trigger = match self.deps.store.get_trigger(&record.id).await? {
            Some(t) => Some(self.trigger_view(&t).await?),
            None => None,
        };
        let open = self
            .deps
            .store
            .list_sessions(&record.id, Timestamp::now(), CONVERSATIONS_LISTED + 1)
            .await?
            .len();
        Ok(ImpactView {
            integration_id: record.id.to_string(),
            agent: trigger.as_ref().map(|t| t.agent.clone()),
            trigger,
            open_conversations: u32::try_from(open.min(CONVERSATIONS_LISTED)).unwrap_or(u32::MAX),
            more_conversations: open > CONVERSATIONS_LISTED,
        })
    }
}
