//! The HTTP-mode endpoint (§3): `POST /api/dingtalk/webhook/{integrationId}` with DingTalk's
//! `timestamp` and `sign` headers and a robot message as the JSON body.
//!
//! Order of checks: integration (a DingTalk webhook integration, enabled) → headers present →
//! timestamp within one hour → signature (HMAC-SHA256 with the app secret, constant time) →
//! body → normalize → dedupe + durable enqueue. Only then is 200 answered, with an empty body:
//! the answer is sent later through the session webhook or the OpenAPI. (A JSON robot message
//! in the response body would be posted by DingTalk as a reply; an empty body cannot be taken
//! for one. Which of the two DingTalk prefers for "no reply now" is UNVERIFIED.) Any refusal
//! enqueues nothing and is written to the integration's event log.

use imgate_channel_kit::webhook::{Method, WebhookDeps, WebhookEndpoint, WebhookRequest};
use imgate_core::credentials::{Credentials, Dingtalk};
use imgate_core::event_log::EventKind;
use imgate_core::ingress::{WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::verify::SignError;
use crate::{normalize, parse_robot_message};

/// What the endpoint needs.
#[derive(Clone)]
pub struct Context {
    /// Store, keyring and ingress.
    pub deps: WebhookDeps,
}

/// The signature headers of a request, as sent (absent ones `None`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `timestamp`: Unix milliseconds.
    pub timestamp: Option<&'a str>,
    /// `sign`: Base64 HMAC-SHA256.
    pub sign: Option<&'a str>,
}

/// `POST`: one robot message.
///
/// # Errors
/// [`WebhookError`]; nothing is enqueued when one is returned.
pub async fn receive(
    ctx: &Context,
    integration_id: &str,
    headers: Headers<'_>,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let (record, app) = load(ctx, integration_id).await?;
    let timestamp = header(headers.timestamp, "timestamp")?;
    let signature = header(headers.sign, "sign")?;
    if let Err(error) = crate::verify::verify(timestamp, signature, app.client_secret.expose(), Timestamp::now()) {
        return Err(reject(ctx, &record.id, error).await);
    }
    let message = parse_robot_message(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let event = normalize::robot_message(&record.id, &message, Timestamp::now());
    ctx.deps
        .ingress
        .log(
            &record.id,
            EventKind::Received,
            Some(&message.msg_id),
            "robot message callback",
        )
        .await;
    ctx.deps.ingress.accept(event).await?;
    Ok(WebhookResponse::empty())
}

/// Loads a Dingtalk webhook integration and opens its credentials.
async fn load(ctx: &Context, integration_id: &str) -> Result<(IntegrationRecord, Dingtalk), WebhookError> {
    ctx.deps
        .integration(integration_id, Platform::Dingtalk, |credentials| match credentials {
            Credentials::Dingtalk(app) => Some(app),
            _ => None,
        })
        .await
}

fn header<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, WebhookError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("missing header `{name}`")))
}

/// Logs why a request was refused and maps the reason to the answer.
async fn reject(ctx: &Context, integration: &IntegrationId, error: SignError) -> WebhookError {
    let (answer, detail) = match error {
        SignError::MalformedTimestamp => (
            WebhookError::Malformed("the timestamp header is not Unix milliseconds".into()),
            "malformed timestamp header",
        ),
        SignError::Stale | SignError::Future => (
            WebhookError::StaleTimestamp,
            "timestamp more than an hour off: a replay or a wrong clock",
        ),
        SignError::BadSignature => (
            WebhookError::BadSignature,
            "signature mismatch: check the client secret",
        ),
    };
    tracing::warn!(platform = "dingtalk", integration_id = %integration, reason = detail, "DingTalk callback rejected");
    ctx.deps.ingress.reject(integration, detail).await;
    answer
}

#[async_trait::async_trait]
impl WebhookEndpoint for Context {
    fn methods(&self) -> &'static [Method] {
        &[Method::Post]
    }

    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        let signed = Headers {
            timestamp: request.header("timestamp"),
            sign: request.header("sign"),
        };
        receive(self, request.integration_id, signed, request.body).await
    }
}
