//! "Try it": send one message to an agent from the console and watch the answer stream in,
//! without any platform: the agent is called exactly as the dispatcher calls it.

use serde::Deserialize;
use tokio::sync::mpsc;

use super::{Admin, AdminError, AdminResult, Principal};
use crate::ids::{SessionId, UserId};
use crate::platform::Platform;
use crate::ports::{AgentError, AgentRequest};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The longest message "try it" sends.
pub const TRY_TEXT_MAX_CHARS: usize = 4_000;

/// `POST /agents/{id}/try`
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TryAgent {
    /// The message, 1 to 4,000 characters.
    pub text: String,
    /// The platform the agent is told the message comes from (default `wecom`).
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// A checked "try it" call, ready to run.
pub struct PreparedTry {
    request: AgentRequest,
    agents: std::sync::Arc<dyn crate::ports::AgentClient>,
}

impl PreparedTry {
    /// Calls the agent, sending text deltas on `deltas` as they arrive; the whole answer at
    /// the end.
    ///
    /// # Errors
    /// The agent's failure.
    pub async fn run(self, deltas: &mpsc::Sender<String>) -> Result<String, AgentError> {
        self.agents.run(&self.request, deltas).await
    }
}

impl Admin {
    /// Checks a "try it" request and opens the agent's config; [`PreparedTry::run`] calls it.
    /// Split in two so that a bad request is answered with its status before any answer
    /// streams.
    ///
    /// # Errors
    /// 404 for an unknown agent, 422 for an empty or too long text or when this server cannot
    /// call agents.
    pub async fn prepare_try(&self, principal: &Principal, id: &str, input: TryAgent) -> AdminResult<PreparedTry> {
        let record = self.owned_agent(principal, id).await?;
        let text = input.text.trim();
        if text.is_empty() || text.chars().count() > TRY_TEXT_MAX_CHARS {
            return Err(AdminError::Invalid("text must be 1 to 4000 characters".into()));
        }
        let Some(agents) = self.agents.clone() else {
            return Err(AdminError::Invalid("this server cannot call agents".into()));
        };
        let config = self.open_agent_config(&record).await?;
        tracing::info!(agent_id = %record.id, "agent tried from the console");
        Ok(PreparedTry {
            request: AgentRequest {
                config,
                session_id: SessionId::generate(),
                user_id: UserId::generate(),
                text: text.to_owned(),
                attachments: Vec::new(),
                platform: input.platform.unwrap_or(Platform::Wecom),
                conversation_id: "console".to_owned(),
                sender_name: Some("console".to_owned()),
                history: Vec::new(),
            },
            agents,
        })
    }
}
