//! The pure decisions of a reconcile pass: should this integration have a connection, and if
//! not, why; and is it held back after a failure retrying will not fix.

use crate::integration::{ConnectionState, IntegrationRecord, IntegrationStatus, StatusReason};
use crate::platform::ConnectionMode;
use crate::trigger::Trigger;

/// Whether an integration should have a running connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Enabled, bound by an enabled trigger, and this relay has a connector for its platform.
    Run,
    /// Should not run, for this reason.
    Idle(Idle),
}

/// Why an integration should not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Idle {
    /// The integration is disabled.
    Disabled,
    /// No trigger, or a disabled one.
    Unbound,
    /// This relay has no connector for the platform (another relay may).
    NoConnector,
}

/// Why a running worker is told to stop. Decides the final status and whether the lease is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    /// No enabled trigger binds the integration any more.
    Unbound,
    /// The integration was disabled.
    Disabled,
    /// The integration switched to webhook mode.
    ModeChanged,
    /// The integration was deleted (no status is written: it would outlive the integration).
    Deleted,
    /// The connection is restarted at once (changed integration, admin action); the lease is kept.
    Restart,
    /// The relay is shutting down.
    Shutdown,
}

impl StopCause {
    /// The status reason written when stopping for this cause.
    pub(super) const fn reason(self) -> Option<StatusReason> {
        match self {
            Self::Unbound => Some(StatusReason::Unbound),
            Self::Disabled => Some(StatusReason::Disabled),
            Self::ModeChanged | Self::Deleted | Self::Restart | Self::Shutdown => None,
        }
    }

    /// An event-log description.
    pub(super) const fn detail(self) -> &'static str {
        match self {
            Self::Unbound => "connection stopped: no enabled trigger binds this integration",
            Self::Disabled => "connection stopped: the integration is disabled",
            Self::ModeChanged => "connection stopped: the integration switched to webhook mode",
            Self::Deleted => "connection stopped: the integration was deleted",
            Self::Restart => "connection restarting",
            Self::Shutdown => "connection stopped: the relay is shutting down",
        }
    }
}

impl From<Idle> for StopCause {
    fn from(idle: Idle) -> Self {
        match idle {
            Idle::Disabled => Self::Disabled,
            Idle::Unbound | Idle::NoConnector => Self::Unbound,
        }
    }
}

/// Decides whether `record` should have a connection. `trigger` is the integration's trigger, if
/// any; `has_connector` says whether this relay can connect to the record's platform.
pub(super) fn verdict(record: &IntegrationRecord, trigger: Option<&Trigger>, has_connector: bool) -> Verdict {
    if record.mode != ConnectionMode::LongConnection {
        // The store's list only holds long connections; a stale entry is treated as unbound.
        return Verdict::Idle(Idle::Unbound);
    }
    if !record.enabled {
        return Verdict::Idle(Idle::Disabled);
    }
    if !trigger.is_some_and(Trigger::is_active) {
        return Verdict::Idle(Idle::Unbound);
    }
    if !has_connector {
        return Verdict::Idle(Idle::NoConnector);
    }
    Verdict::Run
}

/// True when the stored status says the connection was held back (credentials rejected, or
/// another connection took over the bot) *after* the integration last changed: no relay should
/// reconnect until it changes again. This is what keeps a second relay from retrying what the
/// first one gave up on. It compares the relay's clock with the admin API's, so a change made
/// within clock skew of the failure may go unnoticed until the next change or a restart.
pub(super) fn held_back(status: &IntegrationStatus, record: &IntegrationRecord) -> bool {
    let gave_up = matches!(
        (status.state, status.reason),
        (
            ConnectionState::Error,
            Some(StatusReason::AuthFailed | StatusReason::LoginExpired)
        ) | (ConnectionState::Stopped, Some(StatusReason::KickedByOtherConnection))
    );
    gave_up && status.updated_at >= record.updated_at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AgentId, IntegrationId, OrgId};
    use crate::keyring::SealedSecret;
    use crate::platform::Platform;
    use crate::time::Timestamp;
    use crate::trigger::{BusyPolicy, GroupPolicy};

    fn record() -> IntegrationRecord {
        IntegrationRecord {
            id: IntegrationId::generate(),
            org_id: OrgId::generate(),
            name: "bot".into(),
            platform: Platform::Wecom,
            mode: ConnectionMode::LongConnection,
            enabled: true,
            credentials: SealedSecret::from_stored("sealed"),
            created_at: Timestamp::from_millis(1_000),
            updated_at: Timestamp::from_millis(2_000),
            version: 1,
            account: None,
        }
    }

    fn trigger(record: &IntegrationRecord, enabled: bool) -> Trigger {
        Trigger {
            integration_id: record.id.clone(),
            org_id: record.org_id.clone(),
            agent_id: AgentId::generate(),
            enabled,
            session_timeout_seconds: 3600,
            summary_window_seconds: 0,
            group_policy: GroupPolicy::MentionOnly,
            access: crate::trigger::Access::default(),
            agents: Vec::new(),
            busy: BusyPolicy::Queue,
            created_at: Timestamp::from_millis(1_000),
            updated_at: Timestamp::from_millis(1_000),
            version: 1,
        }
    }

    fn status(
        record: &IntegrationRecord,
        state: ConnectionState,
        reason: Option<StatusReason>,
        at: i64,
    ) -> IntegrationStatus {
        IntegrationStatus {
            integration_id: record.id.clone(),
            state,
            reason,
            connected_since: None,
            last_event_at: None,
            last_error: None,
            reconnect_attempts: 0,
            owner: Some("a".into()),
            updated_at: Timestamp::from_millis(at),
        }
    }

    #[test]
    fn runs_only_when_enabled_bound_and_connectable() {
        let r = record();
        assert_eq!(verdict(&r, Some(&trigger(&r, true)), true), Verdict::Run);
        assert_eq!(verdict(&r, None, true), Verdict::Idle(Idle::Unbound));
        assert_eq!(
            verdict(&r, Some(&trigger(&r, false)), true),
            Verdict::Idle(Idle::Unbound)
        );
        assert_eq!(
            verdict(&r, Some(&trigger(&r, true)), false),
            Verdict::Idle(Idle::NoConnector)
        );
        let disabled = IntegrationRecord {
            enabled: false,
            ..r.clone()
        };
        assert_eq!(
            verdict(&disabled, Some(&trigger(&r, true)), true),
            Verdict::Idle(Idle::Disabled)
        );
        let webhook = IntegrationRecord {
            mode: ConnectionMode::Webhook,
            ..r.clone()
        };
        assert_eq!(
            verdict(&webhook, Some(&trigger(&r, true)), true),
            Verdict::Idle(Idle::Unbound)
        );
    }

    #[test]
    fn stop_causes_map_to_reasons() {
        assert_eq!(StopCause::from(Idle::Disabled).reason(), Some(StatusReason::Disabled));
        assert_eq!(StopCause::from(Idle::Unbound).reason(), Some(StatusReason::Unbound));
        assert_eq!(StopCause::Shutdown.reason(), None);
        assert_eq!(StopCause::Deleted.reason(), None);
    }

    #[test]
    fn held_back_until_the_integration_changes() {
        let r = record();
        let auth = status(&r, ConnectionState::Error, Some(StatusReason::AuthFailed), 3_000);
        let kicked = status(
            &r,
            ConnectionState::Stopped,
            Some(StatusReason::KickedByOtherConnection),
            3_000,
        );
        assert!(held_back(&auth, &r));
        assert!(held_back(&kicked, &r));
        let changed = IntegrationRecord {
            updated_at: Timestamp::from_millis(4_000),
            version: 2,
            ..r.clone()
        };
        assert!(!held_back(&auth, &changed));
        let retrying = status(&r, ConnectionState::Retrying, Some(StatusReason::Network), 3_000);
        let unbound = status(&r, ConnectionState::Stopped, Some(StatusReason::Unbound), 3_000);
        assert!(!held_back(&retrying, &r));
        assert!(!held_back(&unbound, &r));
    }
}
