//! `/organizations` and `/organizations/{orgId}/api-keys`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use imgate_core::admin::{ApiKeyView, CreateApiKey, CreateOrganization, IssuedApiKeyView, OrganizationCreated};
use imgate_core::org::Organization;

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;
use crate::json::ApiJson;

/// Create an organization and its first API key (bootstrap key only).
#[utoipa::path(post, path = "/api/admin/v1/organizations", tag = "organizations", request_body = CreateOrganization,
    responses((status = 201, body = OrganizationCreated), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn create_org(
    State(s): State<AdminState>,
    Caller(p): Caller,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<(StatusCode, Json<OrganizationCreated>), ApiError> {
    Ok((StatusCode::CREATED, Json(s.admin.create_org(&p, &body.name).await?)))
}

/// List organizations (bootstrap key only).
#[utoipa::path(get, path = "/api/admin/v1/organizations", tag = "organizations",
    responses((status = 200, body = Vec<Organization>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
pub(super) async fn list_orgs(
    State(s): State<AdminState>,
    Caller(p): Caller,
) -> Result<Json<Vec<Organization>>, ApiError> {
    Ok(Json(s.admin.list_orgs(&p).await?))
}

/// Read an organization.
#[utoipa::path(get, path = "/api/admin/v1/organizations/{orgId}", tag = "organizations", params(("orgId" = String, Path)),
    responses((status = 200, body = Organization), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn get_org(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(org_id): Path<String>,
) -> Result<Json<Organization>, ApiError> {
    Ok(Json(s.admin.get_org(&p, &org_id).await?))
}

/// Issue an API key for an organization; the key text is shown once.
#[utoipa::path(post, path = "/api/admin/v1/organizations/{orgId}/api-keys", tag = "organizations", params(("orgId" = String, Path)),
    request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKeyView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn create_api_key(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(org_id): Path<String>,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKeyView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.admin.create_api_key(&p, &org_id, &body.name).await?),
    ))
}

/// List an organization's API keys (never their secrets).
#[utoipa::path(get, path = "/api/admin/v1/organizations/{orgId}/api-keys", tag = "organizations", params(("orgId" = String, Path)),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn list_api_keys(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(org_id): Path<String>,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    Ok(Json(s.admin.list_api_keys(&p, &org_id).await?))
}

/// Revoke an API key.
#[utoipa::path(delete, path = "/api/admin/v1/organizations/{orgId}/api-keys/{keyId}", tag = "organizations",
    params(("orgId" = String, Path), ("keyId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 409, body = ErrorResponse)))]
pub(super) async fn delete_api_key(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path((org_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.admin.delete_api_key(&p, &org_id, &key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
