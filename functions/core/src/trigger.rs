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

/// What happens to a message that arrives while the conversation's answer is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BusyPolicy {
    /// It waits its turn and is answered on its own after the running answer.
    #[default]
    Queue,
    /// The running answer is stopped (finished with a "stopped" mark) and the new message is
    /// answered together with the interrupted one.
    Interrupt,
    /// The running answer ends normally; the messages that arrived meanwhile are answered
    /// together, in one agent call.
    Collect,
}

impl BusyPolicy {
    /// The stored form: `None` for the default (stored as nothing, like a trigger from before
    /// busy policies).
    pub fn to_stored(self) -> Option<&'static str> {
        match self {
            Self::Queue => None,
            Self::Interrupt => Some("interrupt"),
            Self::Collect => Some("collect"),
        }
    }

    /// Reads [`BusyPolicy::to_stored`] back.
    ///
    /// # Errors
    /// The text when it names no policy.
    pub fn from_stored(text: Option<&str>) -> Result<Self, String> {
        match text {
            None | Some("queue") => Ok(Self::Queue),
            Some("interrupt") => Ok(Self::Interrupt),
            Some("collect") => Ok(Self::Collect),
            Some(other) => Err(other.to_owned()),
        }
    }
}

/// The most entries one allowlist holds.
pub const ALLOWLIST_MAX: usize = 1000;

/// What someone who may not use the agent is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// One polite refusal per conversation per day; later messages are dropped silently.
    #[default]
    ReplyOnce,
    /// Nothing: messages are dropped silently (the event log still says who was refused).
    Silent,
}

/// Who may use the agent through this trigger. Empty lists allow everyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Access {
    /// Platform user ids allowed to use the agent, in any chat (empty: everyone).
    #[serde(default)]
    pub allowed_users: Vec<String>,
    /// Group chat ids in which the agent answers (empty: every group). Direct chats are not
    /// limited by this list, only by `allowedUsers`.
    #[serde(default)]
    pub allowed_chats: Vec<String>,
    /// What a refused sender is told.
    #[serde(default)]
    pub refusal: Refusal,
}

impl Access {
    /// Why `sender` writing in `chat` (a group when `in_group`) may not use the agent, or
    /// `None` when they may.
    pub fn refuses(&self, sender: &str, chat: &str, in_group: bool) -> Option<&'static str> {
        if !self.allowed_users.is_empty() && !self.allowed_users.iter().any(|u| u == sender) {
            return Some("the sender is not on the trigger's user allowlist");
        }
        if in_group && !self.allowed_chats.is_empty() && !self.allowed_chats.iter().any(|c| c == chat) {
            return Some("the group chat is not on the trigger's chat allowlist");
        }
        None
    }

    /// The stored form: JSON text, or `None` for the default (everyone may), which stores as
    /// nothing.
    pub fn to_stored(&self) -> Option<String> {
        (*self != Self::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads the stored form back (`None`: the default).
    ///
    /// # Errors
    /// When the text is not the JSON [`Access::to_stored`] writes.
    pub fn from_stored(text: Option<&str>) -> Result<Self, serde_json::Error> {
        text.map_or_else(|| Ok(Self::default()), serde_json::from_str)
    }

    /// The lists trimmed, without empty or repeated entries.
    ///
    /// # Errors
    /// A sentence naming the list that is too long or holds an entry over 256 characters.
    pub fn cleaned(self) -> Result<Self, String> {
        fn clean(list: Vec<String>, name: &str) -> Result<Vec<String>, String> {
            let mut out: Vec<String> = Vec::new();
            for entry in list {
                let entry = entry.trim();
                if entry.chars().count() > 256 {
                    return Err(format!("{name} entries must be at most 256 characters"));
                }
                if !entry.is_empty() && !out.iter().any(|e| e == entry) {
                    out.push(entry.to_owned());
                }
            }
            if out.len() > ALLOWLIST_MAX {
                return Err(format!("{name} may hold at most {ALLOWLIST_MAX} entries"));
            }
            Ok(out)
        }
        Ok(Self {
            allowed_users: clean(self.allowed_users, "allowedUsers")?,
            allowed_chats: clean(self.allowed_chats, "allowedChats")?,
            refusal: self.refusal,
        })
    }
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
    /// Who may use the agent.
    #[serde(default)]
    pub access: Access,
    /// Other agents a conversation may move to with `/switch` (the default agent is
    /// `agent_id`; empty: no switching).
    #[serde(default)]
    pub agents: Vec<AgentId>,
    /// What a message that arrives while an answer runs does.
    #[serde(default)]
    pub busy: BusyPolicy,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, starting at 1.
    pub version: u64,
}

/// The most agents a conversation may switch between.
pub const SWITCHABLE_AGENTS_MAX: usize = 20;

impl Trigger {
    /// True when this trigger routes messages to its agent.
    pub fn is_active(&self) -> bool {
        self.enabled
    }

    /// True when a conversation may talk to `agent`: the default one or one of the others.
    pub fn allows_agent(&self, agent: &AgentId) -> bool {
        self.agent_id == *agent || self.agents.contains(agent)
    }

    /// The stored form of [`Trigger::agents`]: a JSON list of ids, or `None` when there are
    /// none (stored as nothing).
    pub fn agents_to_stored(&self) -> Option<String> {
        (!self.agents.is_empty()).then(|| serde_json::to_string(&self.agents).unwrap_or_default())
    }

    /// Reads [`Trigger::agents_to_stored`] back (`None`: no other agents).
    ///
    /// # Errors
    /// When the text is not a JSON list of agent ids.
    pub fn agents_from_stored(text: Option<&str>) -> Result<Vec<AgentId>, serde_json::Error> {
        text.map_or_else(|| Ok(Vec::new()), serde_json::from_str)
    }

    /// Every agent a conversation may talk to, the default first.
    pub fn all_agents(&self) -> Vec<AgentId> {
        std::iter::once(self.agent_id.clone())
            .chain(self.agents.iter().filter(|a| **a != self.agent_id).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlists_limit_users_everywhere_and_chats_in_groups() {
        let open = Access::default();
        assert_eq!(open.refuses("anyone", "any-chat", true), None);
        let users = Access {
            allowed_users: vec!["alice".into()],
            ..Access::default()
        };
        assert_eq!(users.refuses("alice", "dm", false), None);
        assert!(users.refuses("bob", "dm", false).is_some());
        assert!(users.refuses("bob", "ops", true).is_some());
        let chats = Access {
            allowed_chats: vec!["ops".into()],
            ..Access::default()
        };
        assert_eq!(chats.refuses("bob", "ops", true), None);
        assert!(chats.refuses("bob", "sales", true).is_some());
        assert_eq!(
            chats.refuses("bob", "dm-bob", false),
            None,
            "direct chats follow the user list only"
        );
    }

    #[test]
    fn cleaning_trims_drops_repeats_and_bounds_the_lists() {
        let cleaned = Access {
            allowed_users: vec![" alice ".into(), "alice".into(), String::new(), "bob".into()],
            ..Access::default()
        }
        .cleaned()
        .unwrap_or_default();
        assert_eq!(cleaned.allowed_users, ["alice", "bob"]);
        let long = Access {
            allowed_chats: vec!["x".repeat(257)],
            ..Access::default()
        };
        assert!(long.cleaned().is_err());
        let many = Access {
            allowed_users: (0..=ALLOWLIST_MAX).map(|i| i.to_string()).collect(),
            ..Access::default()
        };
        assert!(many.cleaned().is_err());
    }
}
