//! The registration port: platforms whose webhook URL is set through their API (Telegram's
//! `setWebhook`) are told when one of their webhook integrations starts or stops receiving.

use async_trait::async_trait;

use crate::credentials::Credentials;
use crate::integration::IntegrationRecord;

/// Registers and unregisters webhook URLs with the platforms that need it.
#[async_trait]
pub trait WebhookRegistrar: Send + Sync {
    /// The integration is bound, enabled and in webhook mode: make the platform call
    /// `callback_url`. Idempotent.
    ///
    /// # Errors
    /// The platform's refusal, worded for the operator without secrets.
    async fn register(
        &self,
        record: &IntegrationRecord,
        credentials: &Credentials,
        callback_url: &str,
    ) -> Result<(), String>;

    /// The integration stopped receiving (unbound, disabled, deleted, switched mode): make the
    /// platform stop calling. Idempotent.
    ///
    /// # Errors
    /// As [`WebhookRegistrar::register`].
    async fn unregister(&self, record: &IntegrationRecord, credentials: &Credentials) -> Result<(), String>;
}
