//! `/dead-letters`: messages that failed every delivery attempt.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imgate_core::admin::DeadLetterView;

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;

/// The organization's dead letters, newest first, with the reason each failed (the message
/// text is not shown). Collects the queue's dead-letter queue first.
#[utoipa::path(get, path = "/api/admin/v1/dead-letters", tag = "dead-letters",
    responses((status = 200, body = Vec<DeadLetterView>), (status = 401, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub(super) async fn list(
    State(s): State<AdminState>,
    Caller(p): Caller,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    Ok(Json(s.admin.list_dead_letters(&p).await?))
}

/// Put a dead letter back on the queue (it is answered as if it had just arrived).
#[utoipa::path(post, path = "/api/admin/v1/dead-letters/{id}/redrive", tag = "dead-letters", params(("id" = String, Path)),
    responses((status = 202), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 503, body = ErrorResponse)))]
pub(super) async fn redrive(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.redrive_dead_letter(&p, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Discard a dead letter for good.
#[utoipa::path(delete, path = "/api/admin/v1/dead-letters/{id}", tag = "dead-letters", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn discard(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.discard_dead_letter(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
