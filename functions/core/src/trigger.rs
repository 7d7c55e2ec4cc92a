//! Triggers: the binding `integration -> agent` and its conversation settings.

use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, IntegrationId, OrgId};
use crate::time::Timestamp;

/// Default idle time after which a conversation starts a new session.
pub const DEFAULT_SESSION_TIMEOUT_SECONDS: u32 = 3600;
/// Allowed session timeouts.
pub const SESSION_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 60..=604_800;
/// Allowed aggregation windows (0 = off).
pub const SUMMARY_WINDOW_RANGE: std::ops::RangeInclusive<u32> = 0..=900;

/// Which group messages reach the agent. Direct chats always do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupPolicy {
    /// Only messages that mention the bot.
    #[default]
    MentionOnly,
    /// Every message the platform delivers.
    AllMessages,
}

/// A published binding. There is at most one trigger per integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// The bound integration (the trigger's key).
    pub integration_id: IntegrationId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The agent messages go to.
    pub agent_id: AgentId,
    /// Disabled triggers route nothing.
    pub enabled: bool,
    /// Idle seconds before a new session starts.
    pub session_timeout_seconds: u32,
    /// Seconds of messages merged into one agent input (0 = off).
    pub summary_window_seconds: u32,
    /// Group message policy.
    pub group_policy: GroupPolicy,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, starting at 1.
    pub version: u64,
}

impl Trigger {
    /// True when this trigger routes messages to its agent.
    pub fn is_active(&self) -> bool {
        self.enabled
    }
}
