//! `/session`: the console's sign-in, who is signed in, and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use imgate_core::admin::Principal;
use imgate_core::admin::signin::ConsoleSession;
use imgate_core::time::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Session, clear_cookie, open_cookie};
use super::{AdminState, ErrorResponse};
use crate::error::ApiError;
use crate::json::ApiJson;

/// `POST /session`
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An organization API key, or the bootstrap key.
    key: String,
}

/// The signed-in console session (the key and the session token are never shown).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// `organization` or `bootstrap`.
    kind: &'static str,
    /// The organization, for an organization key.
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
    /// The organization's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    org_name: Option<String>,
    /// The API key used.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    /// Send this in `X-CSRF-Token` on every change made with the session cookie.
    csrf_token: String,
    /// When the session ends.
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
}

async fn view(s: &AdminState, session: &ConsoleSession) -> Result<SessionView, ApiError> {
    Ok(match &session.principal {
        Principal::Bootstrap => SessionView {
            kind: "bootstrap",
            org_id: None,
            org_name: None,
            key_id: None,
            csrf_token: session.csrf_token.clone(),
            expires_at: session.expires_at,
        },
        Principal::Org { org_id, key_id } => SessionView {
            kind: "organization",
            org_name: Some(s.admin.get_org(&session.principal, org_id.as_str()).await?.name),
            org_id: Some(org_id.to_string()),
            key_id: Some(key_id.to_string()),
            csrf_token: session.csrf_token.clone(),
            expires_at: session.expires_at,
        },
    })
}

/// Sign in to the console: exchanges a key for a session cookie (HttpOnly, SameSite=Strict,
/// Secure over HTTPS, 12 hours). The key is not kept anywhere; revoking it ends the session.
#[utoipa::path(post, path = "/api/admin/v1/session", tag = "session", request_body = SignIn, security(()),
    responses((status = 200, body = SessionView, headers(("set-cookie" = String, description = "the session cookie"))),
        (status = 400, body = ErrorResponse), (status = 401, body = ErrorResponse), (status = 422, body = ErrorResponse)))]
pub(super) async fn sign_in(
    State(s): State<AdminState>,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<impl IntoResponse, ApiError> {
    let now = Timestamp::now();
    let session = s.admin.sign_in(body.key.trim(), now).await?;
    let max_age = session.expires_at.since(now).as_secs();
    let cookie = open_cookie(session.token.expose(), max_age, s.secure_cookies());
    let view = view(&s, &session).await?;
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Json(view)))
}

/// The console session of the cookie sent, with its CSRF token.
#[utoipa::path(get, path = "/api/admin/v1/session", tag = "session", security(()),
    responses((status = 200, body = SessionView), (status = 401, body = ErrorResponse)))]
pub(super) async fn current(
    State(s): State<AdminState>,
    Session(session): Session,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(view(&s, &session).await?))
}

/// Sign out: the browser forgets the session cookie.
#[utoipa::path(delete, path = "/api/admin/v1/session", tag = "session", security(()), responses((status = 204)))]
pub(super) async fn sign_out(State(s): State<AdminState>, _headers: HeaderMap) -> impl IntoResponse {
    (
        StatusCode::NO_CONTENT,
        AppendHeaders([(SET_COOKIE, clear_cookie(s.secure_cookies()))]),
    )
}
