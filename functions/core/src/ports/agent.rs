//! The agent port: how the dispatcher calls an AI endpoint, whatever its kind.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::HistoryEntry;
use crate::agent::AgentConfig;
use crate::event::MediaKind;
use crate::ids::{SessionId, UserId};
use crate::platform::Platform;
use crate::time::Timestamp;

/// One call of an agent.
#[derive(Debug, Clone)]
pub struct AgentRequest {
    /// The agent's opened configuration (with secrets).
    pub config: AgentConfig,
    /// The imgate session.
    pub session_id: SessionId,
    /// The stable user the sender maps to.
    pub user_id: UserId,
    /// The user's input (several messages joined when aggregated).
    pub text: String,
    /// The files the user sent that were fetched and kept for the agent (what could not be
    /// fetched is described in `text` instead).
    pub attachments: Vec<Attachment>,
    /// Where the input came from.
    pub platform: Platform,
    /// The platform's conversation id.
    pub conversation_id: String,
    /// The sender's display name, if known.
    pub sender_name: Option<String>,
    /// Earlier turns of the session, oldest first (for agents that take history).
    pub history: Vec<HistoryEntry>,
}

/// A file the user sent, kept where the agent can read it until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// What it is (an image, a voice note, …).
    pub kind: MediaKind,
    /// Its file name, where the platform gives one.
    pub name: Option<String>,
    /// Its MIME type (`application/octet-stream` when neither the platform nor the bytes say).
    pub mime: String,
    /// Its size in bytes.
    pub size: u64,
    /// A URL that serves the file without other credentials until `expires_at`. A capability:
    /// never logged.
    pub url: String,
    /// When `url` stops working.
    pub expires_at: Timestamp,
    /// The bytes themselves, for images in a format vision models read (PNG, JPEG, GIF, WebP),
    /// so agents that take images inline (OpenAI-compatible ones) need not fetch `url`;
    /// `None` for every other file.
    pub bytes: Option<Vec<u8>>,
}

impl std::fmt::Debug for Attachment {
    /// Everything but the URL (a capability) and the bytes (only their length).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("mime", &self.mime)
            .field("size", &self.size)
            .field("url", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("inline_bytes", &self.bytes.as_ref().map(Vec::len))
            .finish()
    }
}

/// An agent call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No complete answer within the configured timeout.
    #[error("the agent did not answer within {0:?}")]
    Timeout(Duration),
    /// The agent could not be reached (connection refused, DNS, TLS).
    #[error("the agent could not be reached: {0}")]
    Unreachable(String),
    /// The agent answered with an HTTP error.
    #[error("the agent answered HTTP {status}")]
    Status {
        /// HTTP status.
        status: u16,
    },
    /// The answer could not be read.
    #[error("the agent's answer could not be read: {0}")]
    Protocol(String),
    /// This kind of agent cannot be called by this build.
    #[error("agent kind `{0}` is not supported here")]
    Unsupported(&'static str),
}

impl AgentError {
    /// True for failures another attempt may fix: timeouts, unreachable, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Unreachable(_) => true,
            Self::Status { status } => *status == 429 || *status >= 500,
            Self::Protocol(_) | Self::Unsupported(_) => false,
        }
    }
}

/// Calls agents.
#[async_trait]
pub trait AgentClient: Send + Sync {
    /// Runs the agent. Text deltas are sent on `deltas` as they arrive (a closed receiver is not
    /// an error); the whole answer is returned at the end.
    async fn run(&self, request: &AgentRequest, deltas: &mpsc::Sender<String>) -> Result<String, AgentError>;
}
