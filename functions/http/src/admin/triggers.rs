//! `/triggers`: publish and unpublish bindings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imgate_core::admin::{PublishTrigger, TriggerView};

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;
use crate::json::ApiJson;

/// List the organization's triggers.
#[utoipa::path(get, path = "/api/admin/v1/triggers", tag = "triggers",
    responses((status = 200, body = Vec<TriggerView>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
pub(super) async fn list(State(s): State<AdminState>, Caller(p): Caller) -> Result<Json<Vec<TriggerView>>, ApiError> {
    Ok(Json(s.admin.list_triggers(&p).await?))
}

/// Read an integration's trigger.
#[utoipa::path(get, path = "/api/admin/v1/triggers/{integrationId}", tag = "triggers", params(("integrationId" = String, Path)),
    responses((status = 200, body = TriggerView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn get(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<TriggerView>, ApiError> {
    Ok(Json(s.admin.get_trigger(&p, &id).await?))
}

/// Publish the integration's trigger (bind it to an agent). If an enabled trigger binds it to
/// another agent, the answer is 409 naming that agent unless the body says `"takeover": true`.
#[utoipa::path(put, path = "/api/admin/v1/triggers/{integrationId}", tag = "triggers", params(("integrationId" = String, Path)),
    request_body = PublishTrigger,
    responses((status = 200, body = TriggerView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn publish(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PublishTrigger>,
) -> Result<Json<TriggerView>, ApiError> {
    Ok(Json(s.admin.publish_trigger(&p, &id, body).await?))
}

/// Unpublish the integration's trigger: messages stop being routed.
#[utoipa::path(delete, path = "/api/admin/v1/triggers/{integrationId}", tag = "triggers", params(("integrationId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn unpublish(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.unpublish_trigger(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
