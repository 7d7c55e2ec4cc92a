//! The webhook endpoint (§2.2): `POST /api/telegram/webhook/{integrationId}` with one `Update`
//! as JSON and the integration's secret token in `X-Telegram-Bot-Api-Secret-Token`.
//!
//! Order of checks: integration (a Telegram webhook integration, enabled) → secret token,
//! constant time (401) → body (400) → normalize → dedupe on `update_id` + durable enqueue (503
//! when that fails, so Telegram retries). Only then is 200 answered, with an empty JSON object.
//! Updates imgate does not answer (edits, channel posts, other kinds) are acknowledged and
//! logged. Telegram signs no timestamp, so a replay inside its retry window is a duplicate and
//! meets the dedupe claim.

use imgate_core::event_log::EventKind;
use std::sync::Arc;

use imgate_channel_kit::webhook::{Method, WebhookDeps, WebhookEndpoint, WebhookRequest};
use imgate_core::credentials::{Credentials, Telegram};
use imgate_core::ingress::{WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::api::Identities;
use crate::normalize;
use crate::verify::{SECRET_TOKEN_HEADER, VerifyError, check_secret_token};
use crate::wire::{ChatType, parse_update};

/// What the endpoint needs.
#[derive(Clone)]
pub struct Context {
    /// Store, keyring and ingress.
    pub deps: WebhookDeps,
    /// The bots' own identities.
    pub identities: Arc<Identities>,
}

/// `POST`: one update.
///
/// # Errors
/// [`WebhookError`]; nothing is enqueued when one is returned.
pub async fn receive(
    ctx: &Context,
    integration_id: &str,
    secret_token: Option<&str>,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let (record, bot) = load(ctx, integration_id).await?;
    let Some(expected) = bot.secret_token.as_ref() else {
        return Err(reject(
            ctx,
            &record.id,
            "the integration has no secret_token",
            WebhookError::BadSignature,
        )
        .await);
    };
    if let Err(error) = check_secret_token(secret_token, expected) {
        let refusal = match error {
            VerifyError::Missing => "callback refused: the secret token header is missing",
            VerifyError::Mismatch => "callback refused: the secret token does not match",
        };
        return Err(reject(ctx, &record.id, refusal, WebhookError::BadSignature).await);
    }
    let update = match parse_update(body) {
        Ok(update) => update,
        Err(error) => {
            let text = format!("callback refused: {error}");
            return Err(reject(ctx, &record.id, &text, WebhookError::Malformed(error.to_string())).await);
        }
    };
    let in_group = update
        .message
        .as_ref()
        .is_some_and(|m| m.chat.kind != ChatType::Private);
    let identity = if in_group {
        ctx.identities.bot(&bot.bot_token).await
    } else {
        None
    };
    let update_id = update.update_id.to_string();
    let Some(event) = normalize::normalize(&update, &record.id, identity.as_ref(), Timestamp::now()) else {
        ctx.deps
            .ingress
            .log(
                &record.id,
                EventKind::Ignored,
                Some(&update_id),
                "update acknowledged; nothing to answer",
            )
            .await;
        return Ok(WebhookResponse::json("{}"));
    };
    ctx.deps.ingress.receive(event, "webhook update").await?;
    Ok(WebhookResponse::json("{}"))
}

/// Writes a refusal to the event log (rate-limited) and returns `error`.
async fn reject(ctx: &Context, id: &IntegrationId, detail: &str, error: WebhookError) -> WebhookError {
    ctx.deps.ingress.reject(id, detail).await;
    error
}

/// Loads a Telegram webhook integration and opens its credentials.
async fn load(ctx: &Context, integration_id: &str) -> Result<(IntegrationRecord, Telegram), WebhookError> {
    ctx.deps
        .integration(integration_id, Platform::Telegram, |credentials| match credentials {
            Credentials::Telegram(bot) => Some(bot),
            _ => None,
        })
        .await
}

#[async_trait::async_trait]
impl WebhookEndpoint for Context {
    fn methods(&self) -> &'static [Method] {
        &[Method::Post]
    }

    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        receive(
            self,
            request.integration_id,
            request.header(SECRET_TOKEN_HEADER),
            request.body,
        )
        .await
    }
}
