//! `/agents`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::Response;
use imgate_core::admin::{AgentView, CreateAgent, TryAgent, UpdateAgent};
use serde_json::json;
use tokio::sync::mpsc;

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

/// Send one message to the agent and stream its answer as it arrives, as NDJSON lines:
/// `{"delta":"…"}` per piece of text, then `{"done":true,"text":"…"}` or
/// `{"error":"…","retryable":bool}`. Behind API Gateway the lines arrive together at the end
/// (the function's response is buffered).
#[utoipa::path(post, path = "/api/admin/v1/agents/{id}/try", tag = "agents", params(("id" = String, Path)), request_body = TryAgent,
    responses((status = 200, content_type = "application/x-ndjson", description = "the answer, streamed"),
        (status = 401, body = ErrorResponse), (status = 404, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn try_it(
    State(s): State<AdminState>,
    Caller(p): Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TryAgent>,
) -> Result<Response, ApiError> {
    let prepared = s.admin.prepare_try(&p, &id, body).await?;
    let (lines, receiver) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let (deltas, mut delta_receiver) = mpsc::channel::<String>(64);
        let forward_lines = lines.clone();
        let forward = tokio::spawn(async move {
            while let Some(delta) = delta_receiver.recv().await {
                if forward_lines.send(ndjson(&json!({ "delta": delta }))).await.is_err() {
                    break;
                }
            }
        });
        let outcome = prepared.run(&deltas).await;
        drop(deltas);
        let _ = forward.await;
        let last = match outcome {
            Ok(text) => json!({ "done": true, "text": text }),
            Err(error) => json!({ "error": error.to_string(), "retryable": error.is_retryable() }),
        };
        let _ = lines.send(ndjson(&last)).await;
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let line = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(line), receiver))
    });
    Ok(Response::builder()
        .header(CONTENT_TYPE, "application/x-ndjson")
        .header(CACHE_CONTROL, "no-store")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

fn ndjson(value: &serde_json::Value) -> String {
    format!("{value}\n")
}
