//! The one place errors become HTTP responses: `{"error":{"code","message"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use imgate_core::admin::{AdminError, AgentRef};
use imgate_core::ports::StoreError;
use serde::Serialize;

/// An error answer of the HTTP API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    current_agent: Option<AgentRef>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_agent: Option<&'a AgentRef>,
}

impl ApiError {
    /// An error with a status, a machine-readable code and a message safe to show.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            current_agent: None,
        }
    }

    /// 400: the request could not be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such route or object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        let message = error.to_string();
        match error {
            AdminError::Unauthorized => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message),
            AdminError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AdminError::NotFound { .. } => Self::not_found(message),
            AdminError::Invalid(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            AdminError::Conflict { current_agent, .. } => Self {
                current_agent,
                ..Self::new(StatusCode::CONFLICT, "conflict", message)
            },
            AdminError::Unavailable(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            AdminError::Store(StoreError::Backend(source)) => {
                tracing::error!(error = %source, "storage backend failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage is unavailable; retry later",
                )
            }
            AdminError::Store(other) => {
                tracing::error!(error = %other, "storage failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
            AdminError::Keyring(source) => {
                tracing::error!(error = %source, "keyring failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
                current_agent: self.current_agent.as_ref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}
