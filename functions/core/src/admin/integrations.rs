//! Integrations: create, read, update (write-only secrets), enable/disable, delete, status, restart.

use super::{
    Admin, AdminError, AdminResult, CreateIntegration, IntegrationView, Principal, RestartView, StatusView,
    UpdateIntegration, clean_name, org_of, parse_id,
};
use crate::credentials::Credentials;
use crate::ids::IntegrationId;
use crate::integration::{IntegrationRecord, callback_url};
use crate::platform::ConnectionMode;
use crate::ports::StoreError;
use crate::time::Timestamp;

/// How many event log lines the status view shows.
const STATUS_EVENTS: usize = 20;

impl Admin {
    /// Creates an integration; credentials are validated and sealed.
    ///
    /// # Errors
    /// 422 for invalid names or credentials.
    pub async fn create_integration(
        &self,
        principal: &Principal,
        input: CreateIntegration,
    ) -> AdminResult<IntegrationView> {
        let org_id = org_of(principal)?;
        let name = clean_name(&input.name)?;
        // Webhook unless the platform has none (WeChat polls).
        let mode = input.mode.unwrap_or_else(|| {
            if crate::credentials::supports(input.platform, ConnectionMode::Webhook) {
                ConnectionMode::Webhook
            } else {
                ConnectionMode::LongConnection
            }
        });
        let credentials = Credentials::parse(input.platform, mode, &input.credentials)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let id = IntegrationId::generate();
        let now = Timestamp::now();
        let record = IntegrationRecord {
            credentials: self
                .deps
                .keyring
                .seal(&credentials.to_sealable_json(), id.as_str())
                .await?,
            id,
            org_id: org_id.clone(),
            name,
            platform: input.platform,
            mode,
            enabled: input.enabled.unwrap_or(true),
            created_at: now,
            updated_at: now,
            version: 1,
            account: None,
        };
        self.deps.store.create_integration(&record).await?;
        tracing::info!(org_id = %record.org_id, integration_id = %record.id, platform = %record.platform, "integration created");
        Ok(self.integration_view(&record, &credentials))
    }

    /// The organization's integrations.
    ///
    /// # Errors
    /// Storage or keyring failures.
    pub async fn list_integrations(&self, principal: &Principal) -> AdminResult<Vec<IntegrationView>> {
        let org_id = org_of(principal)?;
        let mut views = Vec::new();
        for record in self.deps.store.list_integrations(org_id).await? {
            let credentials = self.open_credentials(&record).await?;
            views.push(self.integration_view(&record, &credentials));
        }
        Ok(views)
    }

    /// One integration.
    ///
    /// # Errors
    /// 404 when absent or in another organization.
    pub async fn get_integration(&self, principal: &Principal, id: &str) -> AdminResult<IntegrationView> {
        let record = self.owned_integration(principal, id).await?;
        let credentials = self.open_credentials(&record).await?;
        Ok(self.integration_view(&record, &credentials))
    }

    /// Applies a partial update.
    ///
    /// # Errors
    /// 404 when absent, 422 for invalid values, 409 on a concurrent change.
    pub async fn update_integration(
        &self,
        principal: &Principal,
        id: &str,
        input: UpdateIntegration,
    ) -> AdminResult<IntegrationView> {
        let mut record = self.owned_integration(principal, id).await?;
        let mut credentials = self.open_credentials(&record).await?;
        let mode = input.mode.unwrap_or(record.mode);
        if input.credentials.is_some() || mode != record.mode {
            let update = input.credentials.unwrap_or_else(|| serde_json::json!({}));
            credentials = credentials
                .merge(record.platform, mode, &update)
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            record.credentials = self
                .deps
                .keyring
                .seal(&credentials.to_sealable_json(), record.id.as_str())
                .await?;
        }
        if let Some(name) = input.name {
            record.name = clean_name(&name)?;
        }
        record.mode = mode;
        if let Some(enabled) = input.enabled {
            record.enabled = enabled;
        }
        self.save_integration(&mut record).await?;
        self.sync_registration(&record).await;
        Ok(self.integration_view(&record, &credentials))
    }

    /// Enables or disables an integration.
    ///
    /// # Errors
    /// 404 when absent, 409 on a concurrent change.
    pub async fn set_integration_enabled(
        &self,
        principal: &Principal,
        id: &str,
        enabled: bool,
    ) -> AdminResult<IntegrationView> {
        let update = UpdateIntegration {
            enabled: Some(enabled),
            ..UpdateIntegration::default()
        };
        self.update_integration(principal, id, update).await
    }

    /// Deletes an integration and its trigger.
    ///
    /// # Errors
    /// 404 when absent.
    pub async fn delete_integration(&self, principal: &Principal, id: &str) -> AdminResult<()> {
        let record = self.owned_integration(principal, id).await?;
        self.deps.store.delete_trigger(&record.id).await?;
        self.sync_registration(&record).await;
        self.deps.store.delete_integration(&record.id).await?;
        tracing::info!(org_id = %record.org_id, integration_id = %record.id, "integration deleted");
        Ok(())
    }

    /// Readiness, binding, connection status and recent events of one integration.
    ///
    /// # Errors
    /// 404 when absent.
    pub async fn integration_status(&self, principal: &Principal, id: &str) -> AdminResult<StatusView> {
        let record = self.owned_integration(principal, id).await?;
        let store = &self.deps.store;
        let trigger = store.get_trigger(&record.id).await?;
        let trigger_view = match &trigger {
            Some(t) => Some(self.trigger_view(t).await?),
            None => None,
        };
        let (readiness, summary) = super::overview::readiness(&record, trigger.as_ref());
        Ok(StatusView {
            integration_id: record.id.to_string(),
            platform: record.platform,
            mode: record.mode,
            readiness,
            summary: summary.to_owned(),
            trigger: trigger_view,
            runtime: store.get_status(&record.id).await?,
            recent_events: store.recent_events(&record.id, STATUS_EVENTS, Timestamp::now()).await?,
        })
    }

    /// Asks for the integration's long connection to be closed and opened again, also after it
    /// was held back (credentials rejected, taken over by another connection).
    ///
    /// The admin API cannot reach the relay holding the connection (another machine, on AWS), so
    /// the request is a store write every relay notices: the integration's version moves on
    /// (nothing else changes), and the relay supervisor treats a changed integration as one to
    /// reconnect on its next pass (within seconds). `imgate serve` takes the same path.
    ///
    /// # Errors
    /// 404 when absent, 409 for a webhook integration (it has no connection) or on a
    /// concurrent change.
    pub async fn restart_integration(&self, principal: &Principal, id: &str) -> AdminResult<RestartView> {
        let mut record = self.owned_integration(principal, id).await?;
        if record.mode != ConnectionMode::LongConnection {
            return Err(AdminError::Conflict {
                message: "only long-connection integrations have a connection to restart".into(),
                current_agent: None,
            });
        }
        self.save_integration(&mut record).await?;
        tracing::info!(org_id = %record.org_id, integration_id = %record.id, "connection restart requested");
        let summary = if record.enabled {
            "restart requested; the relay reconnects within seconds if a trigger binds the integration"
        } else {
            "restart requested; the integration is disabled, so it stays disconnected until enabled"
        };
        Ok(RestartView {
            integration_id: record.id.to_string(),
            requested_at: record.updated_at,
            summary: summary.to_owned(),
        })
    }

    /// Reads an integration of the caller's organization.
    pub(super) async fn owned_integration(&self, principal: &Principal, id: &str) -> AdminResult<IntegrationRecord> {
        let org_id = org_of(principal)?;
        let id: IntegrationId = parse_id("integration", id)?;
        match self.deps.store.get_integration(&id).await? {
            Some(record) if record.org_id == *org_id => Ok(record),
            _ => Err(AdminError::not_found("integration", id.as_str())),
        }
    }

    /// Opens an integration's sealed credentials.
    ///
    /// # Errors
    /// Keyring failures, or stored credentials that no longer parse.
    pub async fn open_credentials(&self, record: &IntegrationRecord) -> AdminResult<Credentials> {
        Ok(record.open_credentials(self.deps.keyring.as_ref()).await?)
    }

    pub(super) async fn save_integration(&self, record: &mut IntegrationRecord) -> AdminResult<()> {
        record.version += 1;
        record.updated_at = Timestamp::now();
        match self.deps.store.update_integration(record).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(AdminError::not_found("integration", record.id.as_str())),
            Err(StoreError::Conflict(_)) => Err(AdminError::Conflict {
                message: "the integration changed concurrently; read it again and retry".into(),
                current_agent: None,
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn integration_view(&self, record: &IntegrationRecord, credentials: &Credentials) -> IntegrationView {
        IntegrationView {
            id: record.id.to_string(),
            org_id: record.org_id.to_string(),
            name: record.name.clone(),
            platform: record.platform,
            mode: record.mode,
            enabled: record.enabled,
            credentials: credentials.masked(),
            callback_url: (record.mode == ConnectionMode::Webhook)
                .then(|| callback_url(&self.settings.public_base_url, record.platform, &record.id)),
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}
