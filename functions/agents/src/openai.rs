//! OpenAI-compatible chat completions (`POST {base_url}/chat/completions`, streamed).
//!
//! Many servers speak this dialect (OpenAI, Azure-style proxies, vLLM, Ollama, LiteLLM, …), so
//! the adapter is lenient about what comes back: an SSE stream of `chat.completion.chunk`
//! objects ending at `data: [DONE]` (or at a clean end of stream), or a single JSON
//! `chat.completion` from a server that ignores `"stream": true`.

use imgate_core::agent::OpenaiCompatibleConfig;
use imgate_core::ports::{AgentError, AgentRequest, Role};
use serde_json::{Value, json};

use crate::attachments;
use crate::transport::{self, Events, Sink};

const AGENT: &str = "openai_compatible";

/// Runs one attempt.
pub(crate) async fn run(
    http: &reqwest::Client,
    config: &OpenaiCompatibleConfig,
    request: &AgentRequest,
    sink: &mut Sink<'_>,
) -> Result<(), AgentError> {
    let mut builder = http
        .post(transport::join_url(&config.base_url, "chat/completions"))
        .json(&body(config, request));
    if let Some(key) = config.api_key.as_ref().filter(|k| !k.is_empty()) {
        builder = builder.bearer_auth(key.expose());
    }
    let response = transport::send(AGENT, builder).await?;

    if transport::is_json(&transport::media_type(&response)) {
        let answer = transport::read_json(response).await?;
        let text = answer
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| AgentError::Protocol("the answer has no choices[0].message.content".to_owned()))?;
        sink.push(text).await;
        return Ok(());
    }

    let mut events = Events::new(response);
    while let Some(event) = events.next().await? {
        if event.name == "error" {
            return Err(AgentError::Protocol(
                "the agent reported an error mid-stream".to_owned(),
            ));
        }
        let data = event.data.trim();
        if data == "[DONE]" {
            break;
        }
        if data.is_empty() {
            continue;
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| AgentError::Protocol(format!("a stream chunk is not valid JSON ({e})")))?;
        if let Some(error) = chunk.get("error") {
            return Err(AgentError::Protocol(format!(
                "the agent reported an error mid-stream ({})",
                error_label(error)
            )));
        }
        if let Some(delta) = chunk.pointer("/choices/0/delta/content").and_then(Value::as_str) {
            sink.push(delta).await;
        }
    }
    Ok(())
}

/// The request body: system prompt, the last `history_limit` turns, then the new input (with
/// its images as content parts, see [`attachments::openai_content`]).
fn body(config: &OpenaiCompatibleConfig, request: &AgentRequest) -> Value {
    let limit = usize::try_from(config.history_limit).unwrap_or(usize::MAX);
    let skip = request.history.len().saturating_sub(limit);
    let mut messages = Vec::with_capacity(request.history.len() - skip + 2);
    if let Some(prompt) = config.system_prompt.as_deref().filter(|p| !p.trim().is_empty()) {
        messages.push(json!({"role": "system", "content": prompt}));
    }
    for entry in request.history.iter().skip(skip) {
        let role = match entry.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": entry.content}));
    }
    messages.push(json!({"role": "user", "content": attachments::openai_content(request)}));
    json!({"model": config.model, "stream": true, "messages": messages})
}

/// A short label for an in-stream error object: its `type` or `code`, never its message (which
/// may quote the input).
fn error_label(error: &Value) -> String {
    ["type", "code"]
        .iter()
        .find_map(|k| match error.get(*k) {
            Some(Value::String(s)) => Some(s.chars().take(64).collect()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unspecified".to_owned())
}

#[cfg(test)]
mod tests {
    use imgate_core::ports::HistoryEntry;
    use imgate_core::{Platform, SessionId, Timestamp, UserId};

    use super::*;

    fn request(history: &[(Role, &str)]) -> AgentRequest {
        AgentRequest {
            config: imgate_core::agent::AgentConfig::Echo(Default::default()),
            session_id: SessionId::generate(),
            user_id: UserId::generate(),
            text: "now".to_owned(),
            attachments: Vec::new(),
            platform: Platform::Telegram,
            conversation_id: "c".to_owned(),
            sender_name: None,
            history: history
                .iter()
                .map(|(role, content)| HistoryEntry {
                    role: *role,
                    content: (*content).to_owned(),
                    at: Timestamp::from_millis(0),
                })
                .collect(),
        }
    }

    fn config(limit: u32, prompt: Option<&str>) -> OpenaiCompatibleConfig {
        OpenaiCompatibleConfig {
            base_url: "http://x/v1".to_owned(),
            model: "m".to_owned(),
            api_key: None,
            system_prompt: prompt.map(str::to_owned),
            history_limit: limit,
            timeout_seconds: 5,
        }
    }

    #[test]
    fn body_keeps_last_turns_in_order_after_the_system_prompt() {
        let req = request(&[(Role::User, "a"), (Role::Assistant, "b"), (Role::User, "c")]);
        let body = body(&config(2, Some("be brief")), &req);
        assert_eq!(
            body,
            json!({"model": "m", "stream": true, "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
                {"role": "user", "content": "now"},
            ]})
        );
    }

    #[test]
    fn body_without_prompt_or_history_is_just_the_input() {
        let body = body(&config(20, Some("  ")), &request(&[]));
        assert_eq!(body["messages"], json!([{"role": "user", "content": "now"}]));
    }

    #[test]
    fn error_label_never_includes_the_message() {
        let label = error_label(&json!({"message": "you said: secret", "type": "server_error"}));
        assert_eq!(label, "server_error");
        assert_eq!(error_label(&json!({"code": 500})), "500");
        assert_eq!(error_label(&json!("boom")), "unspecified");
    }
}
