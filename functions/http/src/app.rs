//! The whole HTTP application: routes plus the layers every request goes through.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use imgate_core::admin::Admin;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;

/// The largest request body accepted (admin bodies are small; platform callbacks are < 64 KiB).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Health check, the admin API and the console (what the `admin` Lambda serves).
pub fn app(admin: Admin) -> Router {
    with_layers(crate::admin::router(admin).merge(crate::console::router()))
}

/// Health check plus the platform webhooks (what the `webhook` Lambda serves).
pub fn webhook_app(webhooks: imgate_channels::Webhooks) -> Router {
    with_layers(crate::webhooks::router(webhooks))
}

/// Everything: admin API, console and webhooks (what `imgate serve` serves when it keeps no
/// media).
pub fn gateway(admin: Admin, webhooks: imgate_channels::Webhooks) -> Router {
    with_layers(routes(admin, webhooks))
}

/// Everything, and the files kept for agents at `GET /media/{token}` (what `imgate serve`
/// serves).
pub fn gateway_with_media(
    admin: Admin,
    webhooks: imgate_channels::Webhooks,
    media: Arc<dyn imgate_core::ports::MediaFiles>,
) -> Router {
    with_layers(routes(admin, webhooks).merge(crate::media::router(media)))
}

fn routes(admin: Admin, webhooks: imgate_channels::Webhooks) -> Router {
    crate::admin::router(admin)
        .merge(crate::console::router())
        .merge(crate::webhooks::router(webhooks))
}

/// A request path as logs may show it: a media link's token (a capability) is left out.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/media/") {
        "/media/{token}"
    } else {
        path
    }
}

/// Adds the health check, JSON 404/405 answers, the body limit, panic safety and request
/// tracing (method, path, status, latency; never bodies, headers, query strings or media
/// tokens).
pub fn with_layers(routes: Router) -> Router {
    Router::new()
        .merge(crate::health_router())
        .merge(routes)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<Body>| {
                    tracing::info_span!("http", method = %request.method(), path = %loggable_path(request.uri().path()))
                })
                .on_request(())
                .on_response(|response: &Response<Body>, latency: std::time::Duration, _: &tracing::Span| {
                    tracing::info!(status = response.status().as_u16(), latency_ms = latency.as_millis() as u64, "request served");
                }),
        )
}
