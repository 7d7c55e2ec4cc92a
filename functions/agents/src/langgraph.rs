//! A LangGraph Platform (Agent Server) style threads/runs API.
//!
//! Each imgate session maps to one LangGraph thread, so the graph's checkpointer keeps the
//! conversation and imgate sends only the new input:
//!
//! 1. `POST {base}/threads` `{"thread_id": <uuid>, "if_exists": "do_nothing"}`: creates the
//!    thread or returns the existing one. The id is a UUIDv5 of the session id, so every imgate
//!    instance finds the same thread without storing anything.
//! 2. `POST {base}/threads/{thread_id}/runs/stream` with
//!    `{"assistant_id", "input": {"messages": [{"role": "user", "content": text}]},
//!    "stream_mode": ["messages-tuple"]}`. When the user sent files, `input` also has
//!    `"attachments": [{"kind", "name", "mime_type", "size", "url", "expires_at"}…]` (links
//!    that work without credentials until `expires_at`).
//!
//! The run streams SSE events. With `messages-tuple` the server sends `event: metadata`
//! (`{"run_id", "attempt"}`) first, then `event: messages` whose data is the two-element array
//! `[message_chunk, metadata]` for each LLM token (and each complete message a node returns),
//! and `event: error` (`{"error", "message"}`) if the run fails. The stream simply ends when the
//! run is done. Only AI messages (`type` `AIMessageChunk` or `ai`) are shown; their `content` is
//! a string or a list of content blocks whose `text` blocks are used. When a new AI message
//! starts after text from an earlier one (an agent that talks, calls a tool, then answers), a
//! blank line separates them.

use imgate_core::SessionId;
use imgate_core::agent::LanggraphConfig;
use imgate_core::ports::{AgentError, AgentRequest};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::attachments;
use crate::transport::{self, Events, Sink};

const AGENT: &str = "langgraph";

/// Namespace of the name-based thread ids (a fixed, random UUID owned by imgate).
const THREAD_NAMESPACE: Uuid = Uuid::from_u128(0x6d0c_4f3e_9a51_4b8e_8f4e_2a7c_1d93_b6e5);

/// The LangGraph thread id of an imgate session: a UUIDv5 of the session id, stable across
/// instances and restarts.
pub fn thread_id(session: &SessionId) -> Uuid {
    Uuid::new_v5(&THREAD_NAMESPACE, session.as_str().as_bytes())
}

/// Runs one attempt.
pub(crate) async fn run(
    http: &reqwest::Client,
    config: &LanggraphConfig,
    request: &AgentRequest,
    sink: &mut Sink<'_>,
) -> Result<(), AgentError> {
    let thread = thread_id(&request.session_id).to_string();
    let with_key = |builder: reqwest::RequestBuilder| match config.api_key.as_ref().filter(|k| !k.is_empty()) {
        Some(key) => builder.header("x-api-key", key.expose()),
        None => builder,
    };

    let create = http
        .post(transport::join_url(&config.base_url, "threads"))
        .json(&json!({"thread_id": thread, "if_exists": "do_nothing"}));
    // The thread's description is not needed; draining it lets the connection be reused.
    transport::read_body(transport::send(AGENT, with_key(create)).await?).await?;

    let run = http
        .post(transport::join_url(
            &config.base_url,
            &format!("threads/{thread}/runs/stream"),
        ))
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&json!({
            "assistant_id": config.assistant_id,
            "input": input(request),
            "stream_mode": ["messages-tuple"],
        }));
    let response = transport::send(AGENT, with_key(run)).await?;

    let mut events = Events::new(response);
    let mut last_message: Option<String> = None;
    while let Some(event) = events.next().await? {
        match event.name.as_str() {
            "messages" => {
                let Some((id, text)) = ai_text(&event.data)? else {
                    continue;
                };
                if text.is_empty() {
                    continue;
                }
                let new_message = id.is_some() && last_message.is_some() && id != last_message;
                if new_message && sink.sent() {
                    sink.push("\n\n").await;
                }
                if id.is_some() {
                    last_message = id;
                }
                sink.push(&text).await;
            }
            "error" => {
                let label = serde_json::from_str::<Value>(&event.data)
                    .ok()
                    .and_then(|v| {
                        v.get("error")
                            .and_then(Value::as_str)
                            .map(|s| s.chars().take(64).collect())
                    })
                    .unwrap_or_else(|| "unspecified".to_owned());
                return Err(AgentError::Protocol(format!("the LangGraph run failed ({label})")));
            }
            "end" => break,
            // `metadata`, and anything a newer server adds.
            _ => {}
        }
    }
    Ok(())
}

/// The run's input: the user's message, and the files they sent as `attachments` (only when
/// there are some, so graphs whose state has no such key see nothing new).
fn input(request: &AgentRequest) -> Value {
    let mut input = json!({"messages": [{"role": "user", "content": request.text}]});
    let attachments = attachments::objects(request);
    if !attachments.is_empty()
        && let Some(object) = input.as_object_mut()
    {
        object.insert("attachments".to_owned(), Value::Array(attachments));
    }
    input
}

/// The id and text of the AI message in a `messages` event's `[message, metadata]`; `None` for
/// other message types (the echoed human input, tool results).
fn ai_text(data: &str) -> Result<Option<(Option<String>, String)>, AgentError> {
    let value: Value = serde_json::from_str(data)
        .map_err(|e| AgentError::Protocol(format!("a LangGraph messages event is not valid JSON ({e})")))?;
    let message = match &value {
        Value::Array(items) => items.first(),
        Value::Object(_) => Some(&value),
        _ => None,
    }
    .ok_or_else(|| AgentError::Protocol("a LangGraph messages event has no message".to_owned()))?;
    let kind = message.get("type").and_then(Value::as_str).unwrap_or_default();
    if !matches!(kind, "AIMessageChunk" | "ai") {
        return Ok(None);
    }
    let id = message.get("id").and_then(Value::as_str).map(str::to_owned);
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| match b {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("text") => {
                    o.get("text").and_then(Value::as_str)
                }
                _ => None,
            })
            .collect(),
        _ => String::new(),
    };
    Ok(Some((id, text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_stable_per_session_and_distinct_across_sessions() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_eq!(thread_id(&a), thread_id(&a));
        assert_ne!(thread_id(&a), thread_id(&b));
        assert_eq!(thread_id(&a).get_version_num(), 5);
    }

    #[test]
    fn extracts_ai_text_from_strings_and_blocks() {
        let chunk = r#"[{"type":"AIMessageChunk","id":"m1","content":"Hel"},{"langgraph_node":"agent"}]"#;
        assert_eq!(ai_text(chunk), Ok(Some((Some("m1".to_owned()), "Hel".to_owned()))));
        let blocks = r#"[{"type":"AIMessageChunk","content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}]},{}]"#;
        assert_eq!(ai_text(blocks), Ok(Some((None, "ab".to_owned()))));
        let human = r#"[{"type":"human","content":"hi"},{}]"#;
        assert_eq!(ai_text(human), Ok(None));
        let tool = r#"[{"type":"tool","content":"42"},{}]"#;
        assert_eq!(ai_text(tool), Ok(None));
        assert!(ai_text("not json").is_err());
        assert!(ai_text("[]").is_err());
    }
}
