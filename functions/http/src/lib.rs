//! HTTP routers shared by the Lambda functions (through `lambda_http`) and `imgate serve`
//! (through `axum::serve`): the admin API under `/api/admin/v1`, the console, the platform
//! webhooks, the media `imgate serve` keeps for agents, and a health check.

pub mod admin;
mod app;
pub mod console;
mod error;
mod json;
pub mod media;
pub mod serve;
pub mod webhooks;

pub use app::{BODY_LIMIT_BYTES, app, gateway, gateway_with_media, loggable_path, webhook_app, with_layers};
pub use error::ApiError;
pub use json::ApiJson;

use axum::Router;
use axum::routing::get;

/// `GET /healthz`: answers `ok` while the process serves requests.
pub fn health_router() -> Router {
    Router::new().route("/healthz", get(|| async { "ok" }))
}
