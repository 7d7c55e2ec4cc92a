//! The relay's health: `GET /healthz` while it runs, and `imgate health`, the check a container
//! runtime calls (the image has no curl).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::cli::HealthArgs;

/// How long `imgate health` waits for an answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /healthz`: 200 while the supervisor's loop runs, 503 otherwise (it stopped, or the
/// process is shutting down).
pub fn router(alive: Arc<AtomicBool>) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(alive)
}

async fn healthz(State(alive): State<Arc<AtomicBool>>) -> (StatusCode, &'static str) {
    if alive.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "relay supervisor not running")
    }
}

/// `imgate health`: succeeds only when `args.url` answers 200.
///
/// # Errors
/// When the endpoint cannot be reached in time or answers anything else.
pub async fn check(args: &HealthArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(CHECK_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .with_context(|| format!("{} did not answer", args.url))?;
    if response.status() != reqwest::StatusCode::OK {
        bail!("{} answered {}", args.url, response.status());
    }
    Ok(())
}
