//! The slash commands (`/ask`, `/new`, `/cancel`, `/switch`, `/status`, `/help`), registered as the application's
//! global commands when a Discord integration's trigger is published and when a gateway session
//! starts. Discord has no API to set the interactions endpoint URL: the operator pastes the
//! integration's `callbackUrl` into the Developer Portal.

use async_trait::async_trait;
use imgate_core::credentials::{Credentials, Discord};
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::{ReplyError, WebhookRegistrar};
use serde_json::{Value, json};

use crate::api::RestApi;

/// The global commands, as `PUT /applications/{id}/commands` takes them.
pub fn commands() -> Value {
    json!([
        {"name": "ask", "type": 1, "description": "Ask the agent",
            "options": [{"type": 3, "name": "text", "description": "Your question", "required": true}]},
        {"name": "new", "type": 1, "description": "Start a new conversation"},
        {"name": "cancel", "type": 1, "description": "Stop the answer in progress"},
        {"name": "switch", "type": 1, "description": "Choose another agent, where the bot offers several",
            "options": [{"type": 3, "name": "agent", "description": "Its name or number (empty: the list)", "required": false}]},
        {"name": "status", "type": 1, "description": "Show the current conversation"},
        {"name": "help", "type": 1, "description": "Show what the bot understands"}
    ])
}

/// Registers the commands of `app`.
///
/// # Errors
/// [`ReplyError`].
pub async fn register_commands(api: &RestApi, app: &Discord) -> Result<(), ReplyError> {
    api.set_commands(&app.bot_token, &app.application_id, &commands()).await
}

/// Registers Discord applications' commands on publish.
#[derive(Debug, Clone)]
pub struct Registrar {
    api: RestApi,
}

impl Registrar {
    /// A registrar calling `api`.
    pub fn new(api: RestApi) -> Self {
        Self { api }
    }
}

#[async_trait]
impl WebhookRegistrar for Registrar {
    async fn register(&self, _: &IntegrationRecord, credentials: &Credentials, _: &str) -> Result<(), String> {
        let Credentials::Discord(app) = credentials else {
            return Err("not Discord credentials".into());
        };
        register_commands(&self.api, app).await.map_err(|e| e.to_string())
    }

    /// The commands stay: the application may serve other integrations.
    async fn unregister(&self, _: &IntegrationRecord, _: &Credentials) -> Result<(), String> {
        Ok(())
    }
}
