//! The interactions endpoint (§2): `POST /api/discord/interactions/{integrationId}` with an
//! interaction as JSON, signed with the application's Ed25519 key.
//!
//! Order of checks: integration (a Discord integration in either mode, enabled: slash commands
//! come here also for bots on the gateway) → signature over the
//! raw body (401; Discord probes endpoints with bad signatures and drops those that accept
//! them) → timestamp within [`TIMESTAMP_WINDOW`] (401) → body (400). A PING is answered with
//! PONG. A slash command or the "new conversation" button is queued (dedupe on the interaction
//! id) and answered with a deferred response (`{"type":5}`: the user sees "thinking…"), well
//! within Discord's 3 s; the dispatcher then edits that answer as the agent writes. Other
//! interactions get a short ephemeral note.

use imgate_channel_kit::webhook::{Method, WebhookDeps, WebhookEndpoint, WebhookRequest};
use imgate_core::credentials::{Credentials, Discord};
use imgate_core::event_log::EventKind;
use imgate_core::ingress::{WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::{ConnectionMode, IntegrationId, Platform, Timestamp};
use serde_json::json;

use crate::normalize;
use crate::verify::{PublicKey, SIGNATURE_HEADER, TIMESTAMP_HEADER, VerifyError};
use crate::wire::{interaction_type, parse_interaction};

/// How far a request's timestamp may be from now: Discord does not retry interactions, so a
/// request older than this is a replay.
pub const TIMESTAMP_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// What the endpoint needs.
#[derive(Clone)]
pub struct Context {
    /// Store, keyring and ingress.
    pub deps: WebhookDeps,
}

/// `POST`: one interaction.
///
/// # Errors
/// [`WebhookError`]; nothing is enqueued when one is returned.
pub async fn receive(
    ctx: &Context,
    integration_id: &str,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let (record, app) = load(ctx, integration_id).await?;
    let key = match PublicKey::from_hex(&app.public_key) {
        Ok(key) => key,
        Err(error) => {
            return Err(reject(
                ctx,
                &record.id,
                &format!("callback refused: {error}"),
                WebhookError::BadSignature,
            )
            .await);
        }
    };
    if let Err(error) = key.verify(signature, timestamp, body) {
        let detail = match error {
            VerifyError::Missing => "callback refused: the signature headers are missing",
            _ => "callback refused: the signature does not match",
        };
        return Err(reject(ctx, &record.id, detail, WebhookError::BadSignature).await);
    }
    let sent_at = timestamp.and_then(|t| t.trim().parse::<i64>().ok()).unwrap_or(0);
    if Timestamp::now().as_secs().abs_diff(sent_at) > TIMESTAMP_WINDOW.as_secs() {
        return Err(reject(
            ctx,
            &record.id,
            "callback refused: the timestamp is stale",
            WebhookError::StaleTimestamp,
        )
        .await);
    }
    let interaction = match parse_interaction(body) {
        Ok(interaction) => interaction,
        Err(error) => {
            let text = format!("callback refused: {error}");
            return Err(reject(ctx, &record.id, &text, WebhookError::Malformed(error.to_string())).await);
        }
    };
    if interaction.kind == interaction_type::PING {
        ctx.deps
            .ingress
            .log(
                &record.id,
                EventKind::Verified,
                None,
                "interactions endpoint verified (PING)",
            )
            .await;
        return Ok(WebhookResponse::json(r#"{"type":1}"#));
    }
    let Some(event) = normalize::interaction(&interaction, &record.id, Timestamp::now()) else {
        ctx.deps
            .ingress
            .log(
                &record.id,
                EventKind::Ignored,
                Some(&interaction.id),
                "interaction acknowledged; nothing to answer",
            )
            .await;
        let note = json!({"type": 4, "data": {"content": "This interaction is not supported.", "flags": 64}});
        return Ok(WebhookResponse::json(note.to_string()));
    };
    ctx.deps.ingress.receive(event, "interaction").await?;
    Ok(WebhookResponse::json(r#"{"type":5}"#))
}

/// Writes a refusal to the event log (rate-limited) and returns `error`.
async fn reject(ctx: &Context, id: &IntegrationId, detail: &str, error: WebhookError) -> WebhookError {
    ctx.deps.ingress.reject(id, detail).await;
    error
}

/// Loads a Discord integration (slash commands reach a gateway bot here too) and opens its
/// credentials.
async fn load(ctx: &Context, integration_id: &str) -> Result<(IntegrationRecord, Discord), WebhookError> {
    let modes = [ConnectionMode::Webhook, ConnectionMode::LongConnection];
    ctx.deps
        .integration_in(
            integration_id,
            Platform::Discord,
            &modes,
            |credentials| match credentials {
                Credentials::Discord(app) => Some(app),
                _ => None,
            },
        )
        .await
}

#[async_trait::async_trait]
impl WebhookEndpoint for Context {
    fn methods(&self) -> &'static [Method] {
        &[Method::Post]
    }

    fn route(&self) -> &'static str {
        "interactions"
    }

    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        receive(
            self,
            request.integration_id,
            request.header(SIGNATURE_HEADER),
            request.header(TIMESTAMP_HEADER),
            request.body,
        )
        .await
    }
}
