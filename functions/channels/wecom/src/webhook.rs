//! The WeCom callback endpoint: `GET` URL verification and `POST` callbacks of smart bots
//! (encrypted JSON) and self-built apps (encrypted XML).
//!
//! Order of checks: integration → timestamp window → signature (constant time) → decrypt →
//! parse. A message is deduped and durably enqueued before the answer; the answer is the first
//! frame of a stream whose later content the dispatcher writes into the shared stream buffer,
//! so any instance can answer WeCom's refresh callbacks.

use std::collections::HashMap;
use std::time::Duration;

use imgate_channel_kit::webhook::{Method, WebhookDeps, WebhookEndpoint, WebhookRequest};
use imgate_core::credentials::{Credentials, WecomWebhook};
use imgate_core::event_log::EventKind;
use imgate_core::ingress::{Accepted, WebhookError, WebhookResponse};
use imgate_core::integration::IntegrationRecord;
use imgate_core::ports::StreamState;
use imgate_core::{IntegrationId, Platform, Timestamp};

use crate::reply::{images, payload};
use crate::wire::{
    BotCallback, BotEventKind, parse_app_envelope, parse_app_message, parse_bot_callback, parse_bot_envelope,
};
use crate::{Crypto, CryptoError, normalize};

/// Callbacks whose timestamp is further than this from our clock are refused (replays).
pub const TIMESTAMP_WINDOW: Duration = Duration::from_secs(300);
/// What the stream shows until the agent's first words arrive.
pub const THINKING: &str = "思考中… Thinking…";
/// The passive answer to `enter_chat`.
pub const WELCOME: &str = "你好！直接发消息即可与智能助手对话，/help 查看命令。\nHi! Send a message to talk to the assistant; /help lists commands.";
/// How long stream buffers are kept (WeCom stops asking after 6 minutes).
const STREAM_TTL: Duration = Duration::from_secs(3600);

/// A new stream buffer showing [`THINKING`] for `stream_id`, as both the callback webhook and
/// the long connection create it before the message is queued.
pub(crate) fn thinking_stream(integration_id: &IntegrationId, stream_id: &str, now: Timestamp) -> StreamState {
    StreamState {
        integration_id: integration_id.clone(),
        id: stream_id.to_owned(),
        content: THINKING.to_owned(),
        finished: false,
        card: None,
        version: 1,
        created_at: now,
        expires_at: now.plus(STREAM_TTL),
    }
}

/// What the endpoint needs.
#[derive(Clone)]
pub struct Context {
    /// Store, keyring and ingress.
    pub deps: WebhookDeps,
}

/// `GET`: answers WeCom's URL verification with the bare decrypted `echostr`.
///
/// # Errors
/// [`WebhookError`] for unknown integrations, bad signatures, stale timestamps, broken input.
pub async fn verify_url(
    ctx: &Context,
    integration_id: &str,
    query: &HashMap<String, String>,
) -> Result<WebhookResponse, WebhookError> {
    let (record, credentials) = load(ctx, integration_id).await?;
    let params = Params::from_query(query)?;
    let echostr = param(query, &["echostr"])?;
    params.check_time()?;
    // The echostr of a smart bot carries no receiveid and that of an app its corp id; the
    // signature already proves the sender, so trailing bytes are not compared here.
    let crypto = crypto(&credentials, "")?;
    match crypto.verify_url(&params.signature, &params.timestamp, &params.nonce, echostr) {
        Ok(plain) => {
            ctx.deps
                .ingress
                .log(&record.id, EventKind::Verified, None, "callback URL verified")
                .await;
            Ok(WebhookResponse::text(plain))
        }
        Err(error) => Err(reject(ctx, &record.id, error).await),
    }
}

/// `POST`: a smart-bot JSON or self-built-app XML callback.
///
/// # Errors
/// [`WebhookError`]; nothing is enqueued when one is returned.
pub async fn receive(
    ctx: &Context,
    integration_id: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let (record, credentials) = load(ctx, integration_id).await?;
    let params = Params::from_query(query)?;
    params
        .check_time()
        .inspect_err(|_| tracing::warn!(integration_id = %record.id, "stale WeCom timestamp"))?;
    let is_xml = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    if is_xml {
        receive_app(ctx, &record, &credentials, &params, body).await
    } else {
        receive_bot(ctx, &record, &credentials, &params, body).await
    }
}

async fn receive_bot(
    ctx: &Context,
    record: &IntegrationRecord,
    credentials: &WecomWebhook,
    params: &Params,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let encrypt = parse_bot_envelope(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let crypto = crypto(credentials, "")?;
    let plain = match crypto.open(&params.signature, &params.timestamp, &params.nonce, &encrypt) {
        Ok(plain) => plain,
        Err(error) => return Err(reject(ctx, &record.id, error).await),
    };
    let callback = parse_bot_callback(&plain).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let now = Timestamp::now();
    let answer = match callback {
        BotCallback::StreamRefresh { stream_id, .. } => {
            let frame = match ctx.deps.store.get_stream(&record.id, &stream_id, now).await? {
                Some(s) => images::frame(ctx.deps.store.as_ref(), &s, now).await?,
                // Unknown or expired: finish it so WeCom stops asking.
                None => payload::stream(&stream_id, "", true, None),
            };
            Some(frame)
        }
        BotCallback::Message(message) => {
            let stream_id = normalize::stream_id_for(&record.id, &message.msgid);
            let event = normalize::bot_message(&record.id, &message, &stream_id, now);
            let placeholder = thinking_stream(&record.id, &stream_id, now);
            ctx.deps.store.create_stream(&placeholder).await?;
            let current = match ctx.deps.ingress.receive(event, "message callback").await? {
                Accepted::Enqueued => placeholder,
                // A retried callback gets the stream as it is now.
                Accepted::Duplicate => ctx
                    .deps
                    .store
                    .get_stream(&record.id, &stream_id, now)
                    .await?
                    .unwrap_or(placeholder),
            };
            Some(images::frame(ctx.deps.store.as_ref(), &current, now).await?)
        }
        BotCallback::Event(event) => {
            ctx.deps
                .ingress
                .log(&record.id, EventKind::Received, Some(&event.msgid), "event callback")
                .await;
            match &event.kind {
                BotEventKind::EnterChat => Some(payload::welcome_text(WELCOME)),
                BotEventKind::TemplateCard(card) => {
                    if let Some(normalized) = normalize::bot_event(&record.id, &event, now) {
                        ctx.deps.ingress.accept(normalized).await?;
                    }
                    (card.event_key == payload::NEW_SESSION_KEY)
                        .then(|| payload::update_card_done(&card.task_id, Some(event.from.userid.as_str())))
                }
                BotEventKind::Feedback(_) => {
                    if let Some(normalized) = normalize::bot_event(&record.id, &event, now) {
                        ctx.deps.ingress.accept(normalized).await?;
                    }
                    None
                }
                BotEventKind::Disconnected | BotEventKind::Unknown { .. } => None,
            }
        }
    };
    Ok(match answer {
        Some(plaintext) => WebhookResponse {
            content_type: "text/plain; charset=utf-8",
            ..WebhookResponse::text(crypto.passive_reply(&plaintext.to_string(), &params.timestamp, &params.nonce))
        },
        None => WebhookResponse::empty(),
    })
}

async fn receive_app(
    ctx: &Context,
    record: &IntegrationRecord,
    credentials: &WecomWebhook,
    params: &Params,
    body: &[u8],
) -> Result<WebhookResponse, WebhookError> {
    let corp_id = credentials
        .corp_id
        .as_deref()
        .ok_or_else(|| WebhookError::Malformed("self-built app callbacks need corp_id in the credentials".into()))?;
    let envelope = parse_app_envelope(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let crypto = crypto(credentials, corp_id)?;
    let plain = match crypto.open(&params.signature, &params.timestamp, &params.nonce, &envelope.encrypt) {
        Ok(plain) => plain,
        Err(error) => return Err(reject(ctx, &record.id, error).await),
    };
    let message = parse_app_message(&plain).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let event = normalize::app_message(&record.id, &message, Timestamp::now());
    ctx.deps.ingress.receive(event, "app callback").await?;
    // The answer goes out through message/send; an empty body acknowledges the callback.
    Ok(WebhookResponse::empty())
}

/// Loads a Wecom webhook integration and opens its credentials.
async fn load(ctx: &Context, integration_id: &str) -> Result<(IntegrationRecord, WecomWebhook), WebhookError> {
    ctx.deps
        .integration(integration_id, Platform::Wecom, |credentials| match credentials {
            Credentials::WecomWebhook(app) => Some(app),
            _ => None,
        })
        .await
}

fn crypto(credentials: &WecomWebhook, receive_id: &str) -> Result<Crypto, WebhookError> {
    Crypto::new(
        credentials.token.expose(),
        credentials.encoding_aes_key.expose(),
        receive_id,
    )
    .map_err(|_| WebhookError::Malformed("the integration's EncodingAESKey is not valid".into()))
}

/// Logs why a verified-looking callback was refused, and maps the reason to the answer.
async fn reject(ctx: &Context, integration: &IntegrationId, error: CryptoError) -> WebhookError {
    let (answer, detail) = match error {
        CryptoError::BadSignature => (WebhookError::BadSignature, "signature mismatch: check the Token"),
        CryptoError::ReceiveIdMismatch => (
            WebhookError::Malformed("receiveid mismatch".into()),
            "receiveid mismatch: check corp_id",
        ),
        _ => (
            WebhookError::Malformed("the callback could not be decrypted".into()),
            "decryption failed: check the EncodingAESKey",
        ),
    };
    tracing::warn!(integration_id = %integration, reason = detail, "WeCom callback rejected");
    ctx.deps.ingress.reject(integration, detail).await;
    answer
}

/// The signature parameters of a callback URL.
struct Params {
    signature: String,
    timestamp: String,
    nonce: String,
}

impl Params {
    fn from_query(query: &HashMap<String, String>) -> Result<Self, WebhookError> {
        Ok(Self {
            signature: param(query, &["msg_signature", "msgsignature", "signature"])?.to_owned(),
            timestamp: param(query, &["timestamp"])?.to_owned(),
            nonce: param(query, &["nonce"])?.to_owned(),
        })
    }

    fn check_time(&self) -> Result<(), WebhookError> {
        let sent: i64 = self
            .timestamp
            .parse()
            .map_err(|_| WebhookError::Malformed("timestamp is not a number".into()))?;
        // `abs_diff` cannot overflow, whatever number a caller signs.
        if Timestamp::now().as_secs().abs_diff(sent) > TIMESTAMP_WINDOW.as_secs() {
            return Err(WebhookError::StaleTimestamp);
        }
        Ok(())
    }
}

fn param<'a>(query: &'a HashMap<String, String>, names: &[&str]) -> Result<&'a str, WebhookError> {
    names
        .iter()
        .find_map(|n| query.get(*n))
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WebhookError::Malformed(format!("missing query parameter `{}`", names[0])))
}

#[async_trait::async_trait]
impl WebhookEndpoint for Context {
    fn methods(&self) -> &'static [Method] {
        &[Method::Get, Method::Post]
    }

    async fn handle(&self, request: WebhookRequest<'_>) -> Result<WebhookResponse, WebhookError> {
        match request.method {
            Method::Get => verify_url(self, request.integration_id, request.query).await,
            Method::Post => receive(self, request.integration_id, request.query, request.body).await,
        }
    }
}
