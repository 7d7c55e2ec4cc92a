//! The integrations page's table: one row per integration with what an operator needs at a
//! glance (status chip, account, binding, last message, last error, owner relay), read with
//! one listing per kind instead of one read per integration.

use std::collections::HashMap;

use serde::Serialize;

use super::{Admin, AdminResult, AgentRef, Principal, Readiness, org_of};
use crate::event_log::EventKind;
use crate::integration::{ConnectionState, IntegrationRecord, IntegrationStatus, StatusReason};
use crate::platform::{ConnectionMode, Platform};
use crate::time::Timestamp;
use crate::trigger::Trigger;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// The status chip of an integration: the one word an operator reads first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Chip {
    /// A long connection is up.
    Connected,
    /// A long connection is being opened.
    Connecting,
    /// A long connection failed and is being retried.
    Retrying,
    /// Failed in a way retrying does not fix (see `reason` and `lastError`).
    Error,
    /// Deliberately not running.
    Stopped,
    /// The integration is disabled.
    Disabled,
    /// No enabled trigger binds it to an agent.
    NotBound,
    /// A webhook integration that is enabled and bound: waiting for the platform's callbacks.
    Ready,
}

/// One row of the integrations page.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IntegrationSummary {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Platform.
    pub platform: Platform,
    /// Connection mode.
    pub mode: ConnectionMode,
    /// How the bot was connected: `credentials`, or `qr_login` (WeChat).
    pub connection_method: &'static str,
    /// Enabled.
    pub enabled: bool,
    /// The bot's name on the platform, learned when its credentials were tested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The status chip.
    pub chip: Chip,
    /// Why, for the chips that have a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<StatusReason>,
    /// Whether messages reach an agent.
    pub readiness: Readiness,
    /// The agent its trigger binds, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    /// Since when the connection is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub connected_since: Option<Timestamp>,
    /// When the last platform event arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_message_at: Option<Timestamp>,
    /// The last error, without secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The relay instance holding the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Admin {
    /// Every integration of the organization as a row of the integrations page: three
    /// listings (integrations, triggers, agents) and one batched read of the statuses.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn integration_overview(&self, principal: &Principal) -> AdminResult<Vec<IntegrationSummary>> {
        let org_id = org_of(principal)?;
        let store = &self.deps.store;
        let records = store.list_integrations(org_id).await?;
        let triggers: HashMap<_, _> = store
            .list_triggers(org_id)
            .await?
            .into_iter()
            .map(|t| (t.integration_id.clone(), t))
            .collect();
        let agents: HashMap<_, _> = store
            .list_agents(org_id)
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a.name))
            .collect();
        let ids: Vec<_> = records.iter().map(|r| r.id.clone()).collect();
        let statuses: HashMap<_, _> = store
            .get_statuses(&ids)
            .await?
            .into_iter()
            .map(|s| (s.integration_id.clone(), s))
            .collect();
        let last_received = self.last_received(&records, &statuses).await?;
        Ok(records
            .iter()
            .map(|record| {
                let trigger = triggers.get(&record.id);
                let agent = trigger.map(|t| AgentRef {
                    id: t.agent_id.to_string(),
                    name: agents.get(&t.agent_id).cloned().unwrap_or_default(),
                });
                let mut row = summary(record, trigger, statuses.get(&record.id), agent);
                row.last_message_at = row.last_message_at.or(last_received.get(&record.id).copied());
                row
            })
            .collect())
    }

    /// When the last message arrived at each webhook integration: nothing writes a status on
    /// that path (a write per message would cost more than this read per console refresh), so
    /// it comes from the newest `received` line of the event log, a few reads at a time.
    async fn last_received(
        &self,
        records: &[IntegrationRecord],
        statuses: &HashMap<crate::ids::IntegrationId, IntegrationStatus>,
    ) -> AdminResult<HashMap<crate::ids::IntegrationId, Timestamp>> {
        let now = Timestamp::now();
        let store = &self.deps.store;
        let wanted: Vec<&IntegrationRecord> = records
            .iter()
            .filter(|r| {
                r.mode == ConnectionMode::Webhook && statuses.get(&r.id).and_then(|s| s.last_event_at).is_none()
            })
            .collect();
        let mut found = Vec::with_capacity(wanted.len());
        for batch in wanted.chunks(LAST_MESSAGE_READS) {
            let reads = batch
                .iter()
                .map(|r| store.recent_events(&r.id, LAST_MESSAGE_LINES, now));
            for (record, lines) in batch.iter().zip(futures_util::future::try_join_all(reads).await?) {
                let at = lines
                    .iter()
                    .find(|l| l.kind == EventKind::Received.as_str())
                    .map(|l| l.at);
                found.push(at.map(|at| (record.id.clone(), at)));
            }
        }
        Ok(found.into_iter().flatten().collect())
    }
}

/// How many event-log lines are read per webhook integration to find its last message.
const LAST_MESSAGE_LINES: usize = 10;
/// How many of those reads run at once.
const LAST_MESSAGE_READS: usize = 16;

/// Whether messages of `record` reach an agent, and the sentence that says so.
pub(super) fn readiness(record: &IntegrationRecord, trigger: Option<&Trigger>) -> (Readiness, &'static str) {
    match trigger {
        _ if !record.enabled => (
            Readiness::Disabled,
            "the integration is disabled; enable it to receive messages",
        ),
        None => (
            Readiness::Unbound,
            "no trigger binds this integration to an agent; publish one",
        ),
        Some(t) if !t.enabled => (
            Readiness::TriggerDisabled,
            "the trigger is disabled; messages are not routed",
        ),
        Some(_) => (Readiness::Ready, "enabled and bound; messages are routed to the agent"),
    }
}

fn summary(
    record: &IntegrationRecord,
    trigger: Option<&Trigger>,
    status: Option<&IntegrationStatus>,
    agent: Option<AgentRef>,
) -> IntegrationSummary {
    let (readiness, _) = readiness(record, trigger);
    let chip = chip(record, readiness, status);
    IntegrationSummary {
        id: record.id.to_string(),
        name: record.name.clone(),
        platform: record.platform,
        mode: record.mode,
        connection_method: if record.platform == Platform::Wechat {
            "qr_login"
        } else {
            "credentials"
        },
        enabled: record.enabled,
        account: record.account.clone(),
        chip,
        reason: status.and_then(|s| s.reason),
        readiness,
        agent,
        connected_since: status
            .filter(|s| s.state == ConnectionState::Connected)
            .and_then(|s| s.connected_since),
        last_message_at: status.and_then(|s| s.last_event_at),
        last_error: status.and_then(|s| s.last_error.clone()),
        owner: status
            .filter(|_| record.mode == ConnectionMode::LongConnection)
            .and_then(|s| s.owner.clone()),
    }
}

/// The chip: configuration first (disabled, not bound), then what the connection reports.
fn chip(record: &IntegrationRecord, readiness: Readiness, status: Option<&IntegrationStatus>) -> Chip {
    match readiness {
        Readiness::Disabled => return Chip::Disabled,
        Readiness::Unbound | Readiness::TriggerDisabled => return Chip::NotBound,
        Readiness::Ready => {}
    }
    let state = status.map(|s| s.state);
    match (record.mode, state) {
        (_, Some(ConnectionState::Error)) => Chip::Error,
        (ConnectionMode::Webhook, _) => Chip::Ready,
        (ConnectionMode::LongConnection, Some(ConnectionState::Connected)) => Chip::Connected,
        (ConnectionMode::LongConnection, Some(ConnectionState::Retrying)) => Chip::Retrying,
        (ConnectionMode::LongConnection, Some(ConnectionState::Stopped)) => Chip::Stopped,
        (ConnectionMode::LongConnection, Some(ConnectionState::Connecting) | None) => Chip::Connecting,
    }
}
