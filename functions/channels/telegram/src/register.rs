//! Setting and removing the bot's webhook (§2.1) when its integration starts or stops
//! receiving, and its command menu (`setMyCommands`).

use async_trait::async_trait;
use imgate_core::credentials::Credentials;
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::WebhookRegistrar;

use crate::api::BotApi;
use crate::verify::is_valid_secret_token;

/// The command menu Telegram shows in chats with the bot.
pub const COMMANDS: [(&str, &str); 5] = [
    ("new", "Start a new conversation"),
    ("cancel", "Stop the answer in progress"),
    ("switch", "Choose another agent, where the bot offers several"),
    ("status", "Show the current conversation"),
    ("help", "Show what the bot understands"),
];

/// Registers Telegram bots' webhooks through the Bot API.
#[derive(Debug, Clone)]
pub struct Registrar {
    api: BotApi,
}

impl Registrar {
    /// A registrar calling `api`.
    pub fn new(api: BotApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl WebhookRegistrar for Registrar {
    async fn register(
        &self,
        _: &IntegrationRecord,
        credentials: &Credentials,
        callback_url: &str,
    ) -> Result<(), String> {
        let Credentials::Telegram(bot) = credentials else {
            return Err("not Telegram credentials".into());
        };
        let Some(secret) = bot.secret_token.as_ref().filter(|s| is_valid_secret_token(s.expose())) else {
            return Err("secret_token must be 1-256 characters of A-Z, a-z, 0-9, _ and -".into());
        };
        self.api
            .set_webhook(&bot.bot_token, callback_url, secret)
            .await
            .map_err(|e| e.to_string())?;
        if let Err(error) = self.api.set_my_commands(&bot.bot_token, &COMMANDS).await {
            tracing::warn!(%error, "the command menu was not set");
        }
        Ok(())
    }

    async fn unregister(&self, _: &IntegrationRecord, credentials: &Credentials) -> Result<(), String> {
        let Credentials::Telegram(bot) = credentials else {
            return Err("not Telegram credentials".into());
        };
        self.api.delete_webhook(&bot.bot_token).await.map_err(|e| e.to_string())
    }
}
