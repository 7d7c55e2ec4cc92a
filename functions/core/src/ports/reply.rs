//! The reply port: how the dispatcher answers on a platform, streaming where it can.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use crate::credentials::Credentials;
use crate::event::InboundEvent;
use crate::integration::IntegrationRecord;

/// What a reply answers.
#[derive(Debug, Clone)]
pub struct ReplyTarget {
    /// The integration the event came through.
    pub integration: IntegrationRecord,
    /// Its opened credentials.
    pub credentials: Credentials,
    /// The event being answered.
    pub event: InboundEvent,
}

/// Answering failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The platform asked to slow down.
    #[error("rate limited by the platform; retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The platform no longer accepts a reply to this event (window or single-use URL spent).
    #[error("the reply window has closed")]
    Expired,
    /// The platform refused the reply.
    #[error("the platform refused the reply: {code} {message}")]
    Platform {
        /// Platform error code.
        code: i64,
        /// Platform message.
        message: String,
    },
    /// The request did not reach the platform.
    #[error("the platform could not be reached: {0}")]
    Transport(String),
    /// This platform / mode cannot reply here.
    #[error("replies are not supported for {0}")]
    Unsupported(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens replies on a platform.
#[async_trait]
pub trait Replier: Send + Sync {
    /// Starts the answer to `target.event`. Opening twice for one event (a retried queue message)
    /// must not make the platform show the answer twice.
    async fn open(&self, target: ReplyTarget) -> Result<Box<dyn ReplyStream>, ReplyError>;
}

/// One answer being written.
#[async_trait]
pub trait ReplyStream: Send {
    /// The agent was asked and its answer is coming: show a "thinking" state where the platform
    /// has one that is not already shown on opening. Called once, before any update, and only
    /// for answers from an agent (fixed texts are just finished).
    async fn start(&mut self) -> Result<(), ReplyError> {
        Ok(())
    }
    /// The answer so far (cumulative). Implementations decide how often the platform sees it.
    async fn update(&mut self, text: &str) -> Result<(), ReplyError>;
    /// The complete answer.
    async fn finish(&mut self, text: &str) -> Result<(), ReplyError>;
    /// The agent failed: show `message` honestly, with a way to start a new conversation.
    async fn fail(&mut self, message: &str) -> Result<(), ReplyError>;
}
