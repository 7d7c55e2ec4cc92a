//! `/agents`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imgate_core::admin::{AgentView, CreateAgent, UpdateAgent};

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;
use crate::json::ApiJson;

/// Create an agent. Secrets in its config are write-only.
#[utoipa::path(post, path = "/api/admin/v1/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn create(
    State(s): State<AdminState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.admin.create_agent(&p, body).await?)))
}

/// List the organization's agents.
#[utoipa::path(get, path = "/api/admin/v1/agents", tag = "agents",
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
pub(super) async fn list(State(s): State<AdminState>, Caller(p): Caller) -> Result<Json<Vec<AgentView>>, ApiError> {
    Ok(Json(s.admin.list_agents(&p).await?))
}

/// Read an agent.
#[utoipa::path(get, path = "/api/admin/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn get(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(s.admin.get_agent(&p, &id).await?))
}

/// Update an agent; a secret sent as `""` or `"***"` keeps the stored value.
#[utoipa::path(patch, path = "/api/admin/v1/agents/{id}", tag = "agents", params(("id" = String, Path)), request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn update(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAgent>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(s.admin.update_agent(&p, &id, body).await?))
}

/// Delete an agent no trigger binds (409 names the bound integrations otherwise).
#[utoipa::path(delete, path = "/api/admin/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn delete(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_agent(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
