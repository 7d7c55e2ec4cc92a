//! The generic HTTP agent: imgate POSTs the message as JSON to a URL the team controls.
//!
//! The contract is deliberately small so any web framework can implement it:
//!
//! ```text
//! POST {url}
//! Authorization: Bearer <token>            (when configured)
//! {"session_id", "user_id", "text", "attachments": [{"kind", "name", "mime_type", "size",
//!  "url", "expires_at"}…], "platform", "conversation_id", "sender_name"}
//! ```
//!
//! Each attachment is a file the user sent, readable at `url` without credentials until
//! `expires_at`; files that could not be fetched are described in `text` instead.
//!
//! The answer is `application/json` `{"text": "…"}` (or `{"reply": "…"}`), a `text/event-stream`
//! of deltas (`data: {"delta": "…"}` or plain `data: <text>`, ending at the end of the stream or
//! `data: [DONE]`), or any `text/*` body taken as the whole answer.

use imgate_core::agent::HttpConfig;
use imgate_core::ports::{AgentError, AgentRequest};
use serde_json::{Value, json};

use crate::attachments;
use crate::transport::{self, Events, Sink};

const AGENT: &str = "http";

/// Runs one attempt.
pub(crate) async fn run(
    http: &reqwest::Client,
    config: &HttpConfig,
    request: &AgentRequest,
    sink: &mut Sink<'_>,
) -> Result<(), AgentError> {
    let body = json!({
        "session_id": request.session_id,
        "user_id": request.user_id,
        "text": request.text,
        "attachments": attachments::objects(request),
        "platform": request.platform,
        "conversation_id": request.conversation_id,
        "sender_name": request.sender_name,
    });
    let mut builder = http
        .post(&config.url)
        .header(reqwest::header::ACCEPT, "text/event-stream, application/json")
        .json(&body);
    if let Some(token) = config.bearer_token.as_ref().filter(|t| !t.is_empty()) {
        builder = builder.bearer_auth(token.expose());
    }
    let response = transport::send(AGENT, builder).await?;
    let media_type = transport::media_type(&response);

    if media_type == "text/event-stream" {
        return stream(Events::new(response), sink).await;
    }
    if transport::is_json(&media_type) {
        let answer = transport::read_json(response).await?;
        let text = ["text", "reply"]
            .iter()
            .find_map(|k| answer.get(*k).and_then(Value::as_str))
            .ok_or_else(|| AgentError::Protocol("the JSON answer has no \"text\" or \"reply\" string".to_owned()))?;
        sink.push(text).await;
        return Ok(());
    }
    if media_type.starts_with("text/") || response.status() == reqwest::StatusCode::NO_CONTENT {
        let body = transport::read_body(response).await?;
        sink.push(&String::from_utf8_lossy(&body)).await;
        return Ok(());
    }
    Err(AgentError::Protocol(format!(
        "unexpected answer content type `{}`",
        media_type.chars().take(64).collect::<String>()
    )))
}

/// Reads deltas until `[DONE]` or the end of the stream.
async fn stream(mut events: Events, sink: &mut Sink<'_>) -> Result<(), AgentError> {
    while let Some(event) = events.next().await? {
        if event.name == "error" {
            return Err(AgentError::Protocol(
                "the agent reported an error mid-stream".to_owned(),
            ));
        }
        if event.data.trim() == "[DONE]" {
            break;
        }
        match delta(&event.data)? {
            Some(text) => sink.push(&text).await,
            None => continue,
        }
    }
    Ok(())
}

/// The text an event carries: `{"delta": "…"}`, or the data itself when it is not a JSON object.
/// Other JSON objects (metadata, heartbeats) carry none; `{"error": …}` is a failure.
fn delta(data: &str) -> Result<Option<String>, AgentError> {
    if !data.trim_start().starts_with('{') {
        return Ok(Some(data.to_owned()));
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(data) else {
        // Text that merely starts with a brace.
        return Ok(Some(data.to_owned()));
    };
    if object.contains_key("error") {
        return Err(AgentError::Protocol(
            "the agent reported an error mid-stream".to_owned(),
        ));
    }
    Ok(object.get("delta").and_then(Value::as_str).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_plain_deltas() {
        assert_eq!(delta(r#"{"delta":"hé"}"#), Ok(Some("hé".to_owned())));
        assert_eq!(delta("plain words"), Ok(Some("plain words".to_owned())));
        assert_eq!(delta("line one\nline two"), Ok(Some("line one\nline two".to_owned())));
        assert_eq!(delta("42"), Ok(Some("42".to_owned())));
        assert_eq!(delta("{not json"), Ok(Some("{not json".to_owned())));
        assert_eq!(delta(r#"{"usage": {"tokens": 3}}"#), Ok(None));
        assert!(delta(r#"{"error": "boom"}"#).is_err());
    }
}
