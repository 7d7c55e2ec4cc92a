//! Accepting a verified platform event: dedupe, durable enqueue, event log.
//!
//! Webhook handlers and relay connections call [`Ingress::accept`] after they verified and
//! normalized an event, and answer (or ack) the platform only once it returned `Ok`: that is
//! what makes "ack after durable enqueue" hold everywhere.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::cancel::{CANCEL_TTL, busy_key, cancel_key, interrupt_key};
use crate::crash;
use crate::envelope::Envelope;
use crate::event::{ConversationKind, InboundEvent, InboundKind};
use crate::event_log::{EventKind, EventLines, record};
use crate::ids::IntegrationId;
use crate::ports::{OutgoingMessage, Queue, QueueError, Store, StoreError};
use crate::time::Timestamp;

pub mod rejections;
use rejections::Rejections;

/// How long event ids are remembered: longer than any platform retries (Lark: about 7 hours).
pub const DEDUPE_TTL: Duration = Duration::from_secs(8 * 3600);

/// What happened to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Stored on the queue.
    Enqueued,
    /// Seen before (a platform retry or a redelivery after reconnect): nothing done.
    Duplicate,
}

/// The event could not be accepted; the platform should retry.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    /// The dedupe store failed.
    #[error("dedupe store unavailable")]
    Store(#[from] StoreError),
    /// The queue refused or failed.
    #[error("queue unavailable")]
    Queue(#[from] QueueError),
}

/// The accept path.
#[derive(Clone)]
pub struct Ingress {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    rejections: Arc<Rejections>,
}

impl Ingress {
    /// An ingress over a store and a queue.
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Self {
        Self {
            store,
            queue,
            rejections: Arc::default(),
        }
    }

    /// Dedupes the event on its platform id, then enqueues it durably, then records the dedupe
    /// claim. The outcome (`enqueued`, `duplicate` or `error`) goes to the event log.
    ///
    /// The claim is written only after the enqueue succeeded, so no crash or failure can leave
    /// a claim without its queue message (which would make the platform's retry look like a
    /// duplicate and lose the event). A retry that finds no claim enqueues again: the queue
    /// drops a second copy with the same dedupe id for 5 minutes (SQS FIFO's interval, and the
    /// embedded queue's), and a copy that arrives later than that finds the answer the
    /// dispatcher recorded for the event, which is delivered instead of asking the agent
    /// again. Two copies of one event delivered at once are enqueued as one the same way.
    ///
    /// # Errors
    /// [`IngressError`] when the store or queue failed before the event was enqueued; the
    /// platform should retry.
    pub async fn accept(&self, event: InboundEvent) -> Result<Accepted, IngressError> {
        self.accept_logged(event, None).await
    }

    /// [`Ingress::accept`] for a callback that has not been logged yet: the event log gets a
    /// `received` line with `detail` before the outcome, both in one write.
    ///
    /// # Errors
    /// As [`Ingress::accept`].
    pub async fn receive(&self, event: InboundEvent, detail: &str) -> Result<Accepted, IngressError> {
        self.accept_logged(event, Some(detail)).await
    }

    async fn accept_logged(&self, event: InboundEvent, received: Option<&str>) -> Result<Accepted, IngressError> {
        let now = Timestamp::now();
        let key = event.dedupe_key();
        let integration = event.integration_id.clone();
        let event_id = event.event_id.clone();
        let mut log = EventLines::default();
        if let Some(detail) = received {
            log.push(&integration, EventKind::Received, Some(&event_id), detail);
        }
        crash::point("ingress.before_claim").await;
        match self.store.is_claimed(&key, now).await {
            Ok(true) => {
                tracing::info!(integration_id = %integration, event_id = %event_id, "duplicate event ignored");
                log.push(
                    &integration,
                    EventKind::Duplicate,
                    Some(&event_id),
                    "already received; ignored",
                );
                log.write(self.store.as_ref(), &integration).await;
                return Ok(Accepted::Duplicate);
            }
            Ok(false) => {}
            Err(error) => {
                log.write(self.store.as_ref(), &integration).await;
                return Err(error.into());
            }
        }
        crash::point("ingress.claimed").await;
        let group = event.session_key().queue_group();
        let is_cancel = matches!(&event.kind, InboundKind::Message(m)
            if m.command.as_ref().is_some_and(|c| c.name == crate::cancel::COMMAND));
        // A message addressed to the agent (not a command, and in a group only when it
        // mentions the bot) may interrupt the conversation's running answer.
        let addresses_agent = matches!(&event.kind, InboundKind::Message(m)
            if m.command.is_none() && (m.mentions_bot || event.conversation.kind == ConversationKind::Direct));
        let message = OutgoingMessage {
            group: group.clone(),
            dedupe_id: dedupe_id(&key),
            body: Envelope::inbound(event, now).to_body(),
        };
        if let Err(error) = self.queue.enqueue(&message).await {
            tracing::error!(integration_id = %integration, event_id = %event_id, %error, "enqueue failed");
            log.push(
                &integration,
                EventKind::Error,
                Some(&event_id),
                "queue unavailable; the platform will retry",
            );
            log.write(self.store.as_ref(), &integration).await;
            return Err(error.into());
        }
        crash::point("ingress.enqueued").await;
        // The event is safe on the queue: a claim that cannot be written only means that a
        // retry more than 5 minutes later is caught by the dispatcher instead of here.
        if let Err(error) = self.store.claim(&key, now, DEDUPE_TTL).await {
            tracing::warn!(integration_id = %integration, event_id = %event_id, %error, "recording the dedupe claim failed");
        }
        if is_cancel {
            // Stops the conversation's answer in progress (see crate::cancel); the command
            // itself is answered in its turn whether or not this mark could be written.
            if let Err(error) = self.store.claim(&cancel_key(&group), now, CANCEL_TTL).await {
                tracing::warn!(integration_id = %integration, event_id = %event_id, %error, "recording /cancel failed");
            }
        }
        if addresses_agent {
            self.interrupt_if_busy(&group, &integration, &event_id, now).await;
        }
        tracing::info!(integration_id = %integration, event_id = %event_id, "event enqueued");
        log.push(
            &integration,
            EventKind::Enqueued,
            Some(&event_id),
            "queued for the agent",
        );
        log.write(self.store.as_ref(), &integration).await;
        Ok(Accepted::Enqueued)
    }

    /// A newer message of a conversation whose answer runs under the `interrupt` busy policy
    /// (the answer holds [`busy_key`]) asks that answer to stop: the interrupt mark first, so
    /// the answer finds it when it sees the cancel mark. Failures are logged: the message is
    /// queued already and is answered after the running answer instead.
    async fn interrupt_if_busy(&self, group: &str, integration: &IntegrationId, event_id: &str, now: Timestamp) {
        let marked = async {
            if self.store.is_claimed(&busy_key(group), now).await? {
                self.store.claim(&interrupt_key(group), now, CANCEL_TTL).await?;
                self.store.claim(&cancel_key(group), now, CANCEL_TTL).await?;
                return Ok(true);
            }
            Ok::<_, StoreError>(false)
        };
        match marked.await {
            Ok(true) => {
                tracing::info!(integration_id = %integration, event_id = %event_id, "the running answer is interrupted")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(integration_id = %integration, event_id = %event_id, %error, "interrupting the running answer failed");
            }
        }
    }

    /// Records that a callback for `integration` was refused before it could be authenticated
    /// (`detail` says why, without secrets): a `rejected` line in its event log, at most one
    /// per reason and minute from this process (see [`rejections`]).
    pub async fn reject(&self, integration: &IntegrationId, detail: &str) {
        if let Some(line) = self.rejections.admit(integration, detail, std::time::Instant::now()) {
            self.log(integration, EventKind::Rejected, None, &line).await;
        }
    }

    /// Records a line in the integration's event log; failures are logged, never raised.
    pub async fn log(&self, integration: &IntegrationId, kind: EventKind, event_id: Option<&str>, detail: &str) {
        record(self.store.as_ref(), integration, kind, event_id, detail).await;
    }
}

/// A queue dedupe id: SQS allows 128 characters of a limited alphabet, so ids are hashed.
fn dedupe_id(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Why a platform callback was refused. Each maps to one HTTP status, so the platform (and the
/// operator reading the access log) can tell a misconfiguration from an outage.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No integration with that id (or not a webhook integration of this platform): 404.
    #[error("unknown integration")]
    UnknownIntegration,
    /// The integration is disabled: 403.
    #[error("the integration is disabled")]
    Disabled,
    /// The signature does not match the integration's credentials: 401.
    #[error("signature mismatch")]
    BadSignature,
    /// The timestamp is outside the accepted window (a replay, or a badly wrong clock): 401.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The request could not be read (missing parameter, broken JSON/XML/base64, wrong key): 400.
    #[error("malformed callback: {0}")]
    Malformed(String),
    /// The store or queue failed; the platform should retry: 503.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl From<IngressError> for WebhookError {
    fn from(_: IngressError) -> Self {
        Self::Unavailable
    }
}

impl From<StoreError> for WebhookError {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "store failed during a webhook");
        Self::Unavailable
    }
}

impl From<crate::integration::OpenRecordError> for WebhookError {
    fn from(error: crate::integration::OpenRecordError) -> Self {
        tracing::error!(%error, "credentials could not be opened during a webhook");
        Self::Unavailable
    }
}

/// A webhook answer, framework-free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl WebhookResponse {
    /// 200 with a text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    /// 200 with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.into(),
        }
    }

    /// 200 with an empty body.
    pub fn empty() -> Self {
        Self::text("")
    }
}
