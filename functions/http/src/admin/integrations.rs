//! `/integrations`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imgate_core::admin::{
    CreateIntegration, IntegrationView, LoginRequest, LoginView, RestartView, StatusView, UpdateIntegration,
};

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;
use crate::json::ApiJson;

/// Create an integration. Credentials are write-only: responses show secrets as `***`.
#[utoipa::path(post, path = "/api/admin/v1/integrations", tag = "integrations", request_body = CreateIntegration,
    responses((status = 201, body = IntegrationView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn create(
    State(s): State<AdminState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.admin.create_integration(&p, body).await?)))
}

/// List the organization's integrations.
#[utoipa::path(get, path = "/api/admin/v1/integrations", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationView>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
pub(super) async fn list(
    State(s): State<AdminState>,
    Caller(p): Caller,
) -> Result<Json<Vec<IntegrationView>>, ApiError> {
    Ok(Json(s.admin.list_integrations(&p).await?))
}

/// Read an integration.
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn get(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(s.admin.get_integration(&p, &id).await?))
}

/// Update an integration. Absent fields keep their value; a secret sent as `""` or `"***"` keeps the stored value.
#[utoipa::path(patch, path = "/api/admin/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    request_body = UpdateIntegration,
    responses((status = 200, body = IntegrationView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn update(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateIntegration>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(s.admin.update_integration(&p, &id, body).await?))
}

/// Delete an integration and its trigger.
#[utoipa::path(delete, path = "/api/admin/v1/integrations/{id}", tag = "integrations", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn delete(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_integration(&p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enable an integration.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/enable", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn enable(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(s.admin.set_integration_enabled(&p, &id, true).await?))
}

/// Disable an integration: its webhooks are refused and its connection closes.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/disable", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = IntegrationView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn disable(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(s.admin.set_integration_enabled(&p, &id, false).await?))
}

/// Why a bot is (or is not) answering: readiness, binding, connection status, recent events.
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/status", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = StatusView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn status(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(s.admin.integration_status(&p, &id).await?))
}

/// Restart a long-connection integration's connection: the relay holding it closes and reopens
/// it within seconds, also one held back after rejected credentials or a takeover. Answers at
/// once; follow the outcome in `GET …/status`.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/restart", tag = "integrations", params(("id" = String, Path)),
    responses((status = 202, body = RestartView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn restart(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RestartView>), ApiError> {
    Ok((StatusCode::ACCEPTED, Json(s.admin.restart_integration(&p, &id).await?)))
}

/// Start a QR login (platforms that bind a bot by scanning a code: `wechat`). Answers a new code
/// as an SVG and the link it encodes; asking again gives a fresh code (at most 3 per 8 minutes).
/// With `{"verifyCode": "…"}` it instead sends the number the phone shows
/// (`need_verifycode`). The credentials a confirmed login yields are stored sealed and never
/// shown.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/login", tag = "integrations", params(("id" = String, Path)),
    request_body(content = Option<LoginRequest>, description = "empty for a new code"),
    responses((status = 200, body = LoginView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse),
        (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn start_login(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<LoginView>, ApiError> {
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        LoginRequest::default()
    } else {
        serde_json::from_slice::<LoginRequest>(&body).map_err(|e| {
            if e.is_data() {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    "the body may only hold `verifyCode`, a string",
                )
            } else {
                ApiError::bad_request("the request body is not valid JSON")
            }
        })?
    };
    Ok(Json(s.admin.start_login(&p, &id, input).await?))
}

/// Where the QR login stands: one status poll held a few seconds (`wait`, `scanned`,
/// `need_verifycode`, `verify_code_blocked`, `expired`, `confirmed`, `already_bound`, `failed`).
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/login", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = LoginView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse),
        (status = 409, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn poll_login(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<LoginView>, ApiError> {
    Ok(Json(s.admin.poll_login(&p, &id).await?))
}
