//! Keeping platforms' webhook registrations in step with the admin state: an integration
//! receives when it is enabled, in webhook mode and bound by an enabled trigger. After every
//! change that can flip that, the platform is told (Telegram's `setWebhook` /
//! `deleteWebhook`). A refusal does not undo the change: it is written to the integration's
//! event log, where the status shows it, and the operation can simply be repeated.

use super::Admin;
use crate::ConnectionMode;
use crate::integration::{IntegrationRecord, callback_url};

impl Admin {
    /// Registers or unregisters `record`'s webhook as its state asks.
    pub(super) async fn sync_registration(&self, record: &IntegrationRecord) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        let bound = match self.deps.store.get_trigger(&record.id).await {
            Ok(trigger) => trigger.is_some_and(|t| t.enabled),
            Err(error) => {
                tracing::warn!(integration_id = %record.id, %error, "webhook registration skipped: the trigger could not be read");
                return;
            }
        };
        let receiving = bound && record.enabled && record.mode == ConnectionMode::Webhook;
        let credentials = match self.open_credentials(record).await {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::warn!(integration_id = %record.id, %error, "webhook registration skipped: credentials unreadable");
                return;
            }
        };
        let result = if receiving {
            let url = callback_url(&self.settings.public_base_url, record.platform, &record.id);
            registrar.register(record, &credentials, &url).await
        } else {
            registrar.unregister(record, &credentials).await
        };
        let detail = match &result {
            Ok(()) => return,
            Err(refusal) if receiving => format!("the platform refused the webhook registration: {refusal}"),
            Err(refusal) => format!("the platform refused to remove the webhook: {refusal}"),
        };
        tracing::warn!(integration_id = %record.id, detail, "webhook registration failed");
        crate::event_log::record(
            self.deps.store.as_ref(),
            &record.id,
            crate::event_log::EventKind::Error,
            None,
            &detail,
        )
        .await;
    }
}
