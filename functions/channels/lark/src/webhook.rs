//! The webhook endpoint (§2): `POST /api/lark/webhook/{integrationId}` with the event (plain or
//! `{"encrypt": …}`) as the body and Lark's `X-Lark-*` signature headers.
//!
//! Order of checks: integration (a Lark webhook integration, enabled) → body opened by
//! [`Verifier::open`] (decryption, Verification Token, signature when an Encrypt Key is set) →
//! url_verification answered at once with the challenge (§2.3: within 1 s; no I/O after the
//! integration is loaded) → for signed events, the request timestamp within
//! [`TIMESTAMP_WINDOW`] → normalize → dedupe + durable enqueue → 200 `{"msg":"success"}` (a
//! toast for "new conversation" clicks). Any refusal enqueues nothing and is written to the
//! integration's event log; the reason never includes body content or secrets.
//!
//! Why the timestamp window is 7.5 hours: Lark retries a failed push for about 7.1 hours
//! (§2.10) and does not document whether a retry is signed afresh, so a short window could
//! refuse the retries that recover a message. Replays are still refused: within the window the
//! dedupe record (kept [`imgate_core::ingress::DEDUPE_TTL`], longer than the window) answers
//! them as duplicates, after it the timestamp check does; and without the Encrypt Key nobody
//! can sign a new body.
//!
//! Group messages need the bot's own open_id to tell whether they @-mention the bot; it comes
//! from [`BotIdentity`] (cached), and only group messages wait for it.

use imgate_core::event_log::EventKind;
use std::sync::Arc;
use std::time::Duration;

use imgate_channel_kit::webhook::{Method, WebhookDeps, WebhookEndpoint, WebhookRequest};
use imgate_core::credentials::{Credentials, Lark};
use imgate_core::dispatch::NEW_SESSION_ACTION;
use imgate_core::event::InboundKind;
use imgate_core::ingress::{WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::{IntegrationId, Platform, Timestamp};
use serde_json::json;

use crate::verify::{CryptoError, check_timestamp};
use crate::wire::{Callback, ChatType, Event, EventError, SignatureHeaders, Verifier, challenge_response};
use crate::{BotIdentity, normalize};

/// How far a signed request's timestamp may be from now (see the module docs).
pub const TIMESTAMP_WINDOW: Duration = Duration::from_secs(7 * 3600 + 30 * 60);

/// What the endpoint needs.
#[derive(Clone)]
pub struct Context {
    /// Store, keyring and ingress.
    pub deps: WebhookDeps,
    /// The bots' own open_ids.
    pub identity: Arc<dyn BotIdentity>,
}

/// `POST`: one event callback.
///
/// # Errors
/// [`WebhookError`]; nothing is enqueued when one is returned.
pub async fn receive(
    ctx: &Context,
    integration_id: &str,
    headers: SignatureHeaders<'_>,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let (record, app) = load(ctx, integration_id).await?;
    let verifier = Verifier::from_credentials(&app);
    let envelope = match verifier.open(body, headers) {
        Ok(Callback::Challenge { challenge }) => {
            return Ok(WebhookResponse::json(challenge_response(&challenge)));
        }
        Ok(Callback::Event(envelope)) => envelope,
        Err(error) => return Err(reject(ctx, &record.id, &error).await),
    };
    if verifier.checks_signatures()
        && let Err(error) = check_timestamp(headers.timestamp, Timestamp::now(), TIMESTAMP_WINDOW)
    {
        return Err(reject(ctx, &record.id, &EventError::Crypto(error)).await);
    }
    let is_group_message =
        matches!(&envelope.event, Event::MessageReceive(m) if m.message.chat_type == ChatType::Group);
    let bot_open_id = if is_group_message {
        ctx.identity.bot_open_id(&app).await
    } else {
        None
    };
    let event_type = envelope.header.event_type.clone();
    let Some(event) = normalize::envelope(&record.id, &envelope, bot_open_id.as_deref(), Timestamp::now()) else {
        let detail = format!("{event_type} event acknowledged; nothing to answer");
        ctx.deps
            .ingress
            .log(&record.id, EventKind::Ignored, Some(&envelope.header.event_id), &detail)
            .await;
        return Ok(success());
    };
    let new_session = matches!(&event.kind, InboundKind::CardAction { action, .. } if action == NEW_SESSION_ACTION);
    ctx.deps
        .ingress
        .receive(event, &format!("{event_type} callback"))
        .await?;
    if new_session {
        let toast = json!({"toast": {"type": "info", "content": crate::reply::card::NEW_SESSION_TOAST}});
        return Ok(WebhookResponse::json(toast.to_string()));
    }
    Ok(success())
}

/// The acknowledgement Lark's SDKs answer (§2.7).
fn success() -> WebhookResponse {
    WebhookResponse::json(r#"{"msg":"success"}"#)
}

/// Loads a Lark webhook integration and opens its credentials.
async fn load(ctx: &Context, integration_id: &str) -> Result<(IntegrationRecord, Lark), WebhookError> {
    ctx.deps
        .integration(integration_id, Platform::Lark, |credentials| match credentials {
            Credentials::Lark(app) => Some(app),
            _ => None,
        })
        .await
}

/// Logs why a request was refused and maps the reason to the answer.
async fn reject(ctx: &Context, integration: &IntegrationId, error: &EventError) -> WebhookError {
    let (answer, detail) = match error {
        EventError::Crypto(CryptoError::BadSignature) => (
            WebhookError::BadSignature,
            "signature mismatch: check the Encrypt Key".to_owned(),
        ),
        EventError::Crypto(CryptoError::StaleTimestamp) => (
            WebhookError::StaleTimestamp,
            "request timestamp outside the accepted window: a replay or a wrong clock".to_owned(),
        ),
        EventError::BadToken => (
            WebhookError::BadSignature,
            "verification token mismatch: check the Verification Token".to_owned(),
        ),
        EventError::NoEncryptKey => (
            WebhookError::Malformed(error.to_string()),
            "the body is encrypted but no Encrypt Key is configured".to_owned(),
        ),
        EventError::Crypto(
            CryptoError::Base64 | CryptoError::Decrypt(_) | CryptoError::Utf8 | CryptoError::BadTimestamp,
        )
        | EventError::Json(_)
        | EventError::MissingField(_) => (
            WebhookError::Malformed(error.to_string()),
            format!("unreadable callback: {error}"),
        ),
    };
    tracing::warn!(platform = "lark", integration_id = %integration, reason = %detail, "Lark callback rejected");
    ctx.deps.ingress.reject(integration, &detail).await;
    answer
}

#[async_trait::async_trait]
impl WebhookEndpoint for Context {
    fn methods(&self) -> &'static [Method] {
        &[Method::Post]
    }

    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        let signed = SignatureHeaders {
            timestamp: request.header("x-lark-request-timestamp").unwrap_or_default(),
            nonce: request.header("x-lark-request-nonce").unwrap_or_default(),
            signature: request.header("x-lark-signature").unwrap_or_default(),
        };
        receive(self, request.integration_id, signed, request.body).await
    }
}
