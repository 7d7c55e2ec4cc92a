//! Request and response bodies of the admin API (camelCase JSON; credentials and agent config
//! keep their platform field names).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::AgentKind;
use crate::integration::IntegrationStatus;
use crate::platform::{ConnectionMode, Platform};
use crate::ports::EventLogEntry;
use crate::time::Timestamp;
use crate::trigger::{Access, BusyPolicy, GroupPolicy, Refusal};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /organizations`
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrganization {
    /// Display name.
    pub name: String,
}

/// A new organization with its first API key.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OrganizationCreated {
    /// The organization.
    pub organization: crate::org::Organization,
    /// Its first API key; the `key` text is shown only here.
    pub api_key: IssuedApiKeyView,
}

/// `POST /organizations/{orgId}/api-keys`
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateApiKey {
    /// A label for the key.
    pub name: String,
}

/// An API key (never its secret).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// Key id (the part before the dot).
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Label.
    pub name: String,
    /// Created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
}

/// A freshly issued API key, with the key text shown once.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IssuedApiKeyView {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `Authorization: Bearer <this>`. Store it now: it cannot be shown again.
    pub token: String,
}

/// `POST /integrations`
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIntegration {
    /// Display name.
    pub name: String,
    /// Platform.
    pub platform: Platform,
    /// Connection mode (default `webhook`).
    #[serde(default)]
    pub mode: Option<ConnectionMode>,
    /// Platform credentials (field names per platform and mode).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credentials: Value,
    /// Start enabled (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// `PATCH /integrations/{id}`: absent fields keep their value; secrets sent as `""` or `"***"`
/// keep the stored value.
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateIntegration {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New connection mode.
    #[serde(default)]
    pub mode: Option<ConnectionMode>,
    /// Credential fields to change.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub credentials: Option<Value>,
    /// Enable or disable.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An integration as the API shows it: secrets masked.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    /// Id.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Platform.
    pub platform: Platform,
    /// Connection mode.
    pub mode: ConnectionMode,
    /// Enabled.
    pub enabled: bool,
    /// Credentials with every secret shown as `"***"`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credentials: Value,
    /// The URL to paste into the platform console (webhook mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// `POST /agents`
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAgent {
    /// Display name.
    pub name: String,
    /// Endpoint kind.
    pub kind: AgentKind,
    /// Kind-specific config (default `{}`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub config: Option<Value>,
}

/// `PATCH /agents/{id}`
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateAgent {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Config fields to change (secrets as `""`/`"***"` keep their value).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub config: Option<Value>,
}

/// An agent as the API shows it: secrets masked.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    /// Id.
    pub id: String,
    /// Organization.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Endpoint kind.
    pub kind: AgentKind,
    /// Config with secrets shown as `"***"`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: Value,
    /// Created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// An agent named in a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AgentRef {
    /// Agent id.
    pub id: String,
    /// Agent name.
    pub name: String,
}

/// `PUT /triggers/{integrationId}`: publish (create or replace) the integration's binding.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublishTrigger {
    /// The agent to bind.
    pub agent_id: String,
    /// Route messages (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Idle seconds before a new session, 60..=604800 (default 3600).
    #[serde(default)]
    pub session_timeout_seconds: Option<u32>,
    /// Aggregation window in seconds, 0..=900 (default 0 = off).
    #[serde(default)]
    pub summary_window_seconds: Option<u32>,
    /// Group message policy (default `mention_only`).
    #[serde(default)]
    pub group_policy: Option<GroupPolicy>,
    /// Platform user ids allowed to use the agent (empty: everyone). Absent keeps the list.
    #[serde(default)]
    pub allowed_users: Option<Vec<String>>,
    /// Group chat ids in which the agent answers (empty: every group). Absent keeps the list.
    #[serde(default)]
    pub allowed_chats: Option<Vec<String>>,
    /// What a refused sender is told: `reply_once` (default: one polite refusal per
    /// conversation per day) or `silent`.
    #[serde(default)]
    pub refusal: Option<Refusal>,
    /// Other agents a conversation may move to with `/switch` (agent ids, at most 20).
    /// Absent keeps the list; `[]` clears it.
    #[serde(default)]
    pub agents: Option<Vec<String>>,
    /// What a message that arrives while an answer runs does: `queue` (default: it waits its
    /// turn), `interrupt` (the running answer stops; both are answered together) or `collect`
    /// (the messages that arrived meanwhile are answered together afterwards). Absent keeps it.
    #[serde(default)]
    pub busy_policy: Option<BusyPolicy>,
    /// Replace an enabled binding to another agent instead of answering 409.
    #[serde(default)]
    pub takeover: bool,
}

/// A trigger as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TriggerView {
    /// The bound integration.
    pub integration_id: String,
    /// The bound agent.
    pub agent: AgentRef,
    /// Routing messages.
    pub enabled: bool,
    /// Idle seconds before a new session.
    pub session_timeout_seconds: u32,
    /// Aggregation window seconds.
    pub summary_window_seconds: u32,
    /// Group message policy.
    pub group_policy: GroupPolicy,
    /// Who may use the agent.
    pub access: Access,
    /// Other agents a conversation may move to with `/switch`.
    pub agents: Vec<AgentRef>,
    /// What a message that arrives while an answer runs does.
    pub busy_policy: BusyPolicy,
    /// Created.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Last changed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// Why an integration does or does not answer, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Enabled and bound to an agent by an enabled trigger.
    Ready,
    /// The integration is disabled.
    Disabled,
    /// No trigger binds it.
    Unbound,
    /// Its trigger is disabled.
    TriggerDisabled,
}

/// `POST /integrations/{id}/login`: a new QR code, or (with `verifyCode`) the number the phone
/// shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// The number the phone shows when the login asks for one (`need_verifycode`).
    #[serde(default)]
    pub verify_code: Option<String>,
}

/// `POST` / `GET /integrations/{id}/login`: where a QR login stands. Never shows credentials.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoginView {
    /// The integration.
    pub integration_id: String,
    /// `wait`, `scanned`, `need_verifycode`, `verify_code_blocked`, `expired`, `confirmed`,
    /// `already_bound` or `failed`.
    pub status: crate::ports::LoginStatus,
    /// A sentence for humans.
    pub message: String,
    /// The code to scan, as an SVG image, while it is good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qrcode_svg: Option<String>,
    /// What the code encodes (a link the phone opens), while it is good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qrcode_url: Option<String>,
    /// When the code stops being good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
}

/// `POST /integrations/{id}/restart`: the restart was requested.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RestartView {
    /// The integration.
    pub integration_id: String,
    /// When the restart was requested (the integration's new `updatedAt`).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub requested_at: Timestamp,
    /// A sentence for humans.
    pub summary: String,
}

/// `GET /integrations/{id}/status`: everything that explains a silent bot.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// The integration.
    pub integration_id: String,
    /// Platform.
    pub platform: Platform,
    /// Connection mode.
    pub mode: ConnectionMode,
    /// Whether messages can reach an agent, and if not, why.
    pub readiness: Readiness,
    /// A sentence for humans.
    pub summary: String,
    /// The binding, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerView>,
    /// Connection status written by the relay or the webhook path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<IntegrationStatus>,
    /// The recent event log, newest first.
    pub recent_events: Vec<EventLogEntry>,
}
