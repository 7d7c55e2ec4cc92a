//! What the console needs beyond create/read/update/delete, usable without it: the
//! integrations overview, credential tests, conversations, impact, metrics, "why no reply",
//! and the platform catalog.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use imgate_core::admin::{
    ConversationView, CredentialTestView, ExplainView, ImpactView, IntegrationSummary, MetricsView, PlatformView,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AdminState, Caller, ErrorResponse};
use crate::error::ApiError;

/// Every integration with its status chip, account, binding, last message, last error and
/// owner relay: the integrations page in one call.
#[utoipa::path(get, path = "/api/admin/v1/integrations/overview", tag = "integrations",
    responses((status = 200, body = Vec<IntegrationSummary>), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
pub(super) async fn overview(
    State(s): State<AdminState>,
    Caller(p): Caller,
) -> Result<Json<Vec<IntegrationSummary>>, ApiError> {
    Ok(Json(s.admin.integration_overview(&p).await?))
}

/// Ask the platform whether the stored credentials work (a token or an authenticated read;
/// never a second long connection). A learned bot name is kept as the integration's account.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/test", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = CredentialTestView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn test_credentials(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<CredentialTestView>, ApiError> {
    Ok(Json(s.admin.test_credentials(&p, &id).await?))
}

/// The integration's open conversations, most recently active first (at most 200).
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/conversations", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = Vec<ConversationView>), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn conversations(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<ConversationView>>, ApiError> {
    Ok(Json(s.admin.list_conversations(&p, &id).await?))
}

/// End a conversation: its next message starts a new session.
#[utoipa::path(post, path = "/api/admin/v1/integrations/{id}/conversations/{sessionId}/reset", tag = "integrations",
    params(("id" = String, Path), ("sessionId" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn reset_conversation(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.admin.reset_conversation(&p, &id, &session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What deleting the integration affects: its trigger, the agent bound, open conversations.
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/impact", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = ImpactView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn impact(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<ImpactView>, ApiError> {
    Ok(Json(s.admin.integration_impact(&p, &id).await?))
}

/// Messages received, answered and failed per hour over the last 24 hours, and the reply
/// latency (arrival to delivered answer), from the event log.
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/metrics", tag = "integrations", params(("id" = String, Path)),
    responses((status = 200, body = MetricsView), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn metrics(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<MetricsView>, ApiError> {
    Ok(Json(s.admin.integration_metrics(&p, &id).await?))
}

/// `?eventId=`
#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExplainQuery {
    /// The platform's message (event) id.
    event_id: String,
}

/// "Why did my bot not reply?": what happened to one message, in plain words, with its
/// event-log lines.
#[utoipa::path(get, path = "/api/admin/v1/integrations/{id}/explain", tag = "integrations",
    params(("id" = String, Path), ExplainQuery),
    responses((status = 200, body = ExplainView), (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
pub(super) async fn explain(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    query: Result<Query<ExplainQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ExplainView>, ApiError> {
    let Ok(Query(query)) = query else {
        return Err(ApiError::bad_request("the query must hold eventId"));
    };
    let event_id = query.event_id.trim();
    if event_id.is_empty() || event_id.len() > 256 {
        return Err(ApiError::bad_request("eventId must be 1 to 256 characters"));
    }
    Ok(Json(s.admin.explain_event(&p, &id, event_id).await?))
}

/// The platforms and modes this server serves, with each mode's credential fields.
#[utoipa::path(get, path = "/api/admin/v1/platforms", tag = "integrations",
    responses((status = 200, body = Vec<PlatformView>), (status = 401, body = ErrorResponse)))]
pub(super) async fn platforms(State(s): State<AdminState>, Caller(_caller): Caller) -> Json<Vec<PlatformView>> {
    Json(s.admin.platform_catalog())
}
