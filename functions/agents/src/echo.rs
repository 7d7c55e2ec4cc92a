//! The built-in echo agent, for demos and smoke tests: it answers `prefix + text`.
//!
//! The answer is sent word by word so a demo exercises the same streaming path (throttled edits,
//! message roll-over) as a real agent.

use imgate_core::agent::EchoConfig;
use imgate_core::ports::AgentRequest;

use crate::transport::Sink;

/// The prefix used when the config has none.
pub(crate) const DEFAULT_PREFIX: &str = "You said: ";

/// Streams the echo.
pub(crate) async fn run(config: &EchoConfig, request: &AgentRequest, sink: &mut Sink<'_>) {
    let prefix = config.prefix.as_deref().unwrap_or(DEFAULT_PREFIX);
    let answer = format!("{prefix}{}", request.text);
    for word in answer.split_inclusive(char::is_whitespace) {
        sink.push(word).await;
    }
}
