//! Agent adapters: OpenAI-compatible chat completions, generic HTTP, LangGraph and echo.
//!
//! [`Agents`] implements the core [`AgentClient`] port for every [`AgentConfig`] kind. It owns
//! the policy shared by all kinds:
//!
//! - **Retries** with exponential backoff and jitter on failures another attempt may fix
//!   ([`AgentError::is_retryable`]), but only while no text has reached the user: once a delta
//!   was sent, a second attempt would show the answer twice, so the error is returned instead.
//! - **One deadline** for the whole call, every attempt and backoff included: the agent's
//!   `timeout_seconds`, after which the call fails with [`AgentError::Timeout`].
//!
//! Logs carry the agent kind, session id, attempt, HTTP status and timings; never URLs, keys,
//! prompts or answers.

mod attachments;
mod echo;
mod http_agent;
mod langgraph;
mod openai;
mod sse;
mod transport;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use imgate_core::agent::{AgentConfig, DEFAULT_TIMEOUT_SECONDS};
use imgate_core::ports::{AgentClient, AgentError, AgentRequest};
use rand::Rng as _;
use tokio::sync::mpsc;

pub use langgraph::thread_id as langgraph_thread_id;
use transport::Sink;

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 is taken as 1).
    pub attempts: u32,
    /// Backoff before the second attempt; doubled for each later one.
    pub base_delay: Duration,
    /// Cap on one backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 500 ms then 1 s of backoff (each with jitter), at most 5 s per backoff.
    fn default() -> Self {
        Self {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff after failed attempt `attempt` (1-based): `base * 2^(attempt-1)` capped at
    /// `max_delay`, then "equal jitter": half of it fixed, the other half random, so instances
    /// that failed together do not retry in lockstep.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let full = self.base_delay.saturating_mul(1u32 << exponent).min(self.max_delay);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rand::rng().random_range(0..=spread))
    }
}

/// Calls agents of every kind; cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct Agents {
    http: reqwest::Client,
    retry: RetryPolicy,
}

impl Agents {
    /// Agents calling out through `http` (configure proxies, TLS roots and connect timeouts
    /// there), with the default [`RetryPolicy`].
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            retry: RetryPolicy::default(),
        }
    }

    /// The same agents with another retry policy.
    #[must_use]
    pub fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// One attempt of the agent `request.config` names.
    async fn attempt(&self, request: &AgentRequest, sink: &mut Sink<'_>) -> Result<(), AgentError> {
        match &request.config {
            AgentConfig::OpenaiCompatible(config) => openai::run(&self.http, config, request, sink).await,
            AgentConfig::Http(config) => http_agent::run(&self.http, config, request, sink).await,
            AgentConfig::Langgraph(config) => langgraph::run(&self.http, config, request, sink).await,
            AgentConfig::Echo(config) => {
                echo::run(config, request, sink).await;
                Ok(())
            }
        }
    }

    /// Attempts until success, a final error, or the policy's last attempt; `attempt` counts
    /// them (kept outside so a timed-out call can still report it).
    async fn attempts(&self, request: &AgentRequest, sink: &mut Sink<'_>, attempt: &mut u32) -> Result<(), AgentError> {
        let max = self.retry.attempts.max(1);
        *attempt = 1;
        loop {
            match self.attempt(request, sink).await {
                Err(error) if error.is_retryable() && !sink.sent() && *attempt < max => {
                    let delay = self.retry.backoff(*attempt);
                    tracing::warn!(
                        agent = request.config.kind().as_str(),
                        session_id = %request.session_id,
                        attempt = *attempt,
                        %error,
                        backoff_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "agent attempt failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    *attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }
}

/// The whole-call deadline of a config.
fn deadline(config: &AgentConfig) -> Duration {
    let seconds = match config {
        AgentConfig::OpenaiCompatible(c) => c.timeout_seconds,
        AgentConfig::Http(c) => c.timeout_seconds,
        AgentConfig::Langgraph(c) => c.timeout_seconds,
        AgentConfig::Echo(_) => DEFAULT_TIMEOUT_SECONDS,
    };
    Duration::from_secs(u64::from(seconds.max(1)))
}

#[async_trait]
impl AgentClient for Agents {
    async fn run(&self, request: &AgentRequest, deltas: &mpsc::Sender<String>) -> Result<String, AgentError> {
        let agent = request.config.kind().as_str();
        let limit = deadline(&request.config);
        let started = Instant::now();
        let mut sink = Sink::new(deltas);
        let mut attempts = 0;
        let outcome = tokio::time::timeout(limit, self.attempts(request, &mut sink, &mut attempts))
            .await
            .unwrap_or(Err(AgentError::Timeout(limit)));
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(()) => {
                let answer = sink.into_text();
                tracing::info!(
                    agent,
                    session_id = %request.session_id,
                    attempts,
                    elapsed_ms,
                    answer_chars = answer.chars().count(),
                    "agent answered"
                );
                Ok(answer)
            }
            Err(error) => {
                tracing::warn!(
                    agent,
                    session_id = %request.session_id,
                    attempts,
                    elapsed_ms,
                    partial = sink.sent(),
                    %error,
                    "agent call failed"
                );
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(
                (Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first),
                "{first:?}"
            );
            let second = policy.backoff(2);
            assert!(
                (Duration::from_millis(100)..=Duration::from_millis(200)).contains(&second),
                "{second:?}"
            );
            let capped = policy.backoff(4);
            assert!(
                (Duration::from_millis(150)..=Duration::from_millis(300)).contains(&capped),
                "{capped:?}"
            );
            assert!(policy.backoff(u32::MAX) <= Duration::from_millis(300));
        }
    }

    #[test]
    fn zero_delays_are_fine() {
        let policy = RetryPolicy {
            attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        assert_eq!(policy.backoff(3), Duration::ZERO);
        assert_eq!(RetryPolicy::none().attempts, 1);
    }

    #[test]
    fn default_policy_matches_the_documented_values() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.attempts, 3);
        assert_eq!(policy.base_delay, Duration::from_millis(500));
    }
}
