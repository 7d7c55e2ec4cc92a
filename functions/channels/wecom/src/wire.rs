//! Wire types of WeCom callbacks: the encrypted envelopes and the decrypted payloads.
//!
//! Smart bots post `{"encrypt": "…"}` and their decrypted payload is JSON (§2.2, §2.3); the same
//! JSON arrives unencrypted over the long connection. Self-built apps post XML and their payload
//! is XML (§4). Unknown fields are ignored and unknown message or event types become an
//! `Unsupported` / `Unknown` variant, so a new WeCom feature never breaks parsing; only bodies
//! that are not JSON/XML at all, or lack the fields that identify a callback, are errors.

use serde::Deserialize;
use serde_json::Value;

mod app;
mod bot;

pub use app::{AppEnvelope, AppKind, AppMessage, parse_app_envelope, parse_app_message};
pub use bot::{
    BotCallback, BotContent, BotEvent, BotEventKind, BotFrom, BotMedia, BotMessage, BotQuote, ChatType, FeedbackEvent,
    MixedItem, SelectedItem, TemplateCardEvent, parse_bot_callback,
};

/// A callback body could not be read. Messages name positions and fields, never body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Not well-formed JSON (or not the expected JSON shape).
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A field every callback of this kind carries is missing or empty.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
}

impl CallbackError {
    /// A JSON error without serde's echo of the offending value.
    pub(crate) fn json(e: &serde_json::Error) -> Self {
        Self::Json(imgate_channel_kit::redact::json_error(e))
    }
}

/// Extracts the `encrypt` (or `Encrypt`) field of a smart-bot callback body.
///
/// # Errors
/// [`CallbackError::Json`] for a body that is not a JSON object,
/// [`CallbackError::MissingField`] when there is no non-empty `encrypt` string.
pub fn parse_bot_envelope(body: &[u8]) -> Result<String, CallbackError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default, alias = "Encrypt")]
        encrypt: Option<Value>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| CallbackError::json(&e))?;
    match envelope.encrypt {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(CallbackError::MissingField("encrypt")),
    }
}
