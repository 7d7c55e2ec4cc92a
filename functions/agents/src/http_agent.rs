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
//!
//! A JSON answer may also carry `"attachments": [{"url": "https://…", "name"?: "…",
//! "mime_type"?: "image/png"}]`: each becomes a line of Markdown after the text, an image
//! (`mime_type` `image/…`, or a URL ending in `.png`, `.jpg`, `.jpeg`, `.gif` or `.webp`) as
//! `![name](url)`, which platforms that can show images send as an image, anything else as the
//! link `[name](url)`. Attachments without an `http(s)` URL are left out.

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
        sink.push(&answer_text(&answer)?).await;
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

/// The whole answer of a JSON answer: its `text` (or `reply`), then its attachments.
fn answer_text(answer: &Value) -> Result<String, AgentError> {
    let text = ["text", "reply"]
        .iter()
        .find_map(|k| answer.get(*k).and_then(Value::as_str));
    let attachments = attachments(answer);
    match (text, attachments.is_empty()) {
        (Some(text), true) => Ok(text.to_owned()),
        (Some(text), false) if !text.trim().is_empty() => Ok(format!("{}\n\n{attachments}", text.trim_end())),
        (_, false) => Ok(attachments),
        (None, true) => Err(AgentError::Protocol(
            "the JSON answer has no \"text\" or \"reply\" string".to_owned(),
        )),
    }
}

/// The answer's `attachments` as Markdown lines: images as `![name](url)`, other files as
/// links.
fn attachments(answer: &Value) -> String {
    let lines: Vec<String> = answer["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|attachment| {
            let url = attachment["url"].as_str()?.trim();
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("https://") || lower.starts_with("http://")) || url.contains(char::is_whitespace) {
                return None;
            }
            let name = attachment["name"]
                .as_str()
                .map(|n| n.replace(['[', ']', '\n'], " "))
                .filter(|n| !n.trim().is_empty());
            let mime = attachment["mime_type"].as_str().unwrap_or_default();
            let path = lower.split(['?', '#']).next().unwrap_or_default();
            let image = mime.starts_with("image/")
                || [".png", ".jpg", ".jpeg", ".gif", ".webp"]
                    .iter()
                    .any(|ext| path.ends_with(ext));
            let url = url.replace(')', "%29");
            Some(if image {
                format!("![{}]({url})", name.as_deref().unwrap_or("image").trim())
            } else {
                format!("[{}]({url})", name.as_deref().unwrap_or("file").trim())
            })
        })
        .collect();
    lines.join("\n")
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
    fn attachments_become_markdown_images_and_links() {
        let answer = json!({"text": "Here", "attachments": [
            {"url": "https://x/chart.png?sig=1"},
            {"url": "https://x/a", "mime_type": "image/jpeg", "name": "photo [1]"},
            {"url": "https://x/report.pdf", "name": "report"},
            {"url": "file:///etc/passwd"},
            {"name": "no url"},
        ]});
        assert_eq!(
            attachments(&answer),
            "![image](https://x/chart.png?sig=1)\n![photo  1](https://x/a)\n[report](https://x/report.pdf)"
        );
        assert_eq!(attachments(&json!({"text": "t"})), "");
        let image = json!([{"url": "https://x/c.png", "name": "chart"}]);
        assert_eq!(
            answer_text(&json!({"text": "Here:", "attachments": image})),
            Ok("Here:\n\n![chart](https://x/c.png)".to_owned())
        );
        assert_eq!(
            answer_text(&json!({"attachments": image})),
            Ok("![chart](https://x/c.png)".to_owned())
        );
        assert_eq!(answer_text(&json!({"reply": "r"})), Ok("r".to_owned()));
        assert!(answer_text(&json!({"attachments": []})).is_err());
    }

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
