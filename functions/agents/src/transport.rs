//! HTTP plumbing shared by the adapters: sending a request, mapping failures onto
//! [`AgentError`], reading bounded bodies and event streams, and the delta sink that remembers
//! whether any text already reached the user.
//!
//! Errors never carry a URL, a header or a body: a URL may hold a key in its query, and a body
//! may hold the user's words. Only the HTTP status and the transport's own cause are kept.

use std::collections::VecDeque;

use imgate_core::ports::AgentError;
use reqwest::{RequestBuilder, Response};
use tokio::sync::mpsc;

use crate::sse::{self, Event};

/// Largest non-streamed answer read into memory.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Collects the answer and forwards each delta to the caller's channel.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    tx: &'a mpsc::Sender<String>,
    text: String,
}

impl<'a> Sink<'a> {
    /// A sink forwarding to `tx`.
    pub(crate) fn new(tx: &'a mpsc::Sender<String>) -> Self {
        Self {
            tx,
            text: String::new(),
        }
    }

    /// Appends `delta` to the answer and sends it on; empty deltas are skipped. A closed receiver
    /// is not an error (the caller may have stopped listening but still wants the whole answer).
    pub(crate) async fn push(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        self.text.push_str(delta);
        // Ignored on purpose: see the port's contract.
        let _closed = self.tx.send(delta.to_owned()).await;
    }

    /// True once any text was sent: from then on a retry would show the user a duplicate.
    pub(crate) fn sent(&self) -> bool {
        !self.text.is_empty()
    }

    /// The whole answer.
    pub(crate) fn into_text(self) -> String {
        self.text
    }
}

/// `base` and `path` joined with exactly one slash (a trailing slash on `base` is tolerated).
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// Sends the request; a non-2xx answer becomes [`AgentError::Status`] (its body unread).
pub(crate) async fn send(agent: &'static str, request: RequestBuilder) -> Result<Response, AgentError> {
    let response = request.send().await.map_err(request_error)?;
    let status = response.status();
    if !status.is_success() {
        tracing::warn!(agent, status = status.as_u16(), "agent answered with an HTTP error");
        return Err(AgentError::Status {
            status: status.as_u16(),
        });
    }
    Ok(response)
}

/// The response's media type, lowercased, without parameters (`text/event-stream`).
pub(crate) fn media_type(response: &Response) -> String {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// True for `application/json` and `application/*+json`.
pub(crate) fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || (media_type.starts_with("application/") && media_type.ends_with("+json"))
}

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
pub(crate) async fn read_body(mut response: Response) -> Result<Vec<u8>, AgentError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(body_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(AgentError::Protocol(format!(
                "the answer is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads the whole body as JSON.
pub(crate) async fn read_json(response: Response) -> Result<serde_json::Value, AgentError> {
    let body = read_body(response).await?;
    serde_json::from_slice(&body).map_err(|e| AgentError::Protocol(format!("the answer is not valid JSON ({e})")))
}

/// The events of a `text/event-stream` response, read as they arrive.
#[derive(Debug)]
pub(crate) struct Events {
    response: Response,
    parser: sse::Parser,
    pending: VecDeque<Event>,
    ended: bool,
}

impl Events {
    /// Starts reading `response` as an event stream.
    pub(crate) fn new(response: Response) -> Self {
        Self {
            response,
            parser: sse::Parser::default(),
            pending: VecDeque::new(),
            ended: false,
        }
    }

    /// The next event; `None` when the server ended the stream cleanly.
    ///
    /// # Errors
    /// [`AgentError::Unreachable`] when the connection broke mid-stream, [`AgentError::Protocol`]
    /// for an oversized event.
    pub(crate) async fn next(&mut self) -> Result<Option<Event>, AgentError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await.map_err(body_error)? {
                Some(bytes) => {
                    let events = self
                        .parser
                        .push(&bytes)
                        .map_err(|e| AgentError::Protocol(e.to_string()))?;
                    self.pending.extend(events);
                }
                None => {
                    self.ended = true;
                    self.pending.extend(self.parser.finish());
                }
            }
        }
    }
}

/// Maps a failure to send a request.
pub(crate) fn request_error(error: reqwest::Error) -> AgentError {
    let error = error.without_url();
    if error.is_builder() {
        // Usually a malformed URL or a header value (a key) with forbidden characters; neither
        // is printed.
        return AgentError::Protocol("the request could not be built; check the URL and credentials".to_owned());
    }
    if error.is_redirect() {
        return AgentError::Protocol("the agent redirected too many times".to_owned());
    }
    if error.is_timeout() {
        return AgentError::Unreachable("the request timed out".to_owned());
    }
    AgentError::Unreachable(root_cause(&error))
}

/// Maps a failure while reading a response body: the connection broke.
pub(crate) fn body_error(error: reqwest::Error) -> AgentError {
    let error = error.without_url();
    AgentError::Unreachable(format!(
        "the connection broke while reading the answer ({})",
        root_cause(&error)
    ))
}

/// The innermost cause's text (`Connection refused (os error 111)`), which names no URL.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_urls_with_one_slash() {
        assert_eq!(
            join_url("http://a/v1", "chat/completions"),
            "http://a/v1/chat/completions"
        );
        assert_eq!(
            join_url("http://a/v1/", "/chat/completions"),
            "http://a/v1/chat/completions"
        );
        assert_eq!(join_url("http://a//", "threads"), "http://a/threads");
    }

    #[test]
    fn recognises_json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/event-stream"));
        assert!(!is_json(""));
    }

    #[tokio::test]
    async fn sink_tracks_sent_text_and_survives_closed_receiver() {
        let (tx, rx) = mpsc::channel(4);
        let mut sink = Sink::new(&tx);
        sink.push("").await;
        assert!(!sink.sent());
        drop(rx);
        sink.push("hi").await;
        assert!(sink.sent());
        assert_eq!(sink.into_text(), "hi");
    }
}
