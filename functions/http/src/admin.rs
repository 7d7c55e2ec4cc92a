//! The admin API router, `/api/admin/v1`, with its OpenAPI document at
//! `/api/admin/v1/openapi.json`. Every route and its documentation come from the same
//! `#[utoipa::path]` annotation, so the two cannot drift apart.

mod agents;
pub mod auth;
mod dead_letters;
mod integrations;
mod operations;
mod orgs;
mod session;
mod triggers;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use imgate_core::admin::Admin;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::Caller;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/admin/v1/openapi.json";

/// State shared by the admin handlers.
#[derive(Clone)]
pub struct AdminState {
    admin: Admin,
}

impl AdminState {
    /// True when the gateway is reached over HTTPS, so cookies get `Secure`.
    fn secure_cookies(&self) -> bool {
        self.admin.settings().public_base_url.starts_with("https://")
    }
}

/// The error body, for the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    error: ErrorDetail,
}

/// `{"code","message"}` of an error; `currentAgent` on binding conflicts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `invalid`, `unavailable`, `internal`.
    code: String,
    /// A sentence for humans.
    message: String,
    /// The agent currently bound, on a 409 from publishing a trigger.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_agent: Option<imgate_core::admin::AgentRef>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("imgate API key")
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "imgate admin API", description = "Manage organizations, API keys, integrations, agents and triggers."),
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    components(schemas(ErrorResponse, ErrorDetail))
)]
struct ApiDoc;

/// The admin routes and the OpenAPI document describing exactly them.
pub fn router(admin: Admin) -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(session::sign_in, session::current, session::sign_out))
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(orgs::get_org))
        .routes(routes!(orgs::create_api_key, orgs::list_api_keys))
        .routes(routes!(orgs::delete_api_key))
        .routes(routes!(operations::platforms))
        .routes(routes!(operations::overview))
        .routes(routes!(operations::test_credentials))
        .routes(routes!(operations::conversations))
        .routes(routes!(operations::reset_conversation))
        .routes(routes!(operations::impact))
        .routes(routes!(operations::metrics))
        .routes(routes!(operations::explain))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::redrive))
        .routes(routes!(dead_letters::discard))
        .routes(routes!(agents::try_it))
        .routes(routes!(integrations::create, integrations::list))
        .routes(routes!(integrations::get, integrations::update, integrations::delete))
        .routes(routes!(integrations::enable))
        .routes(routes!(integrations::disable))
        .routes(routes!(integrations::status))
        .routes(routes!(integrations::restart))
        .routes(routes!(integrations::start_login, integrations::poll_login))
        .routes(routes!(agents::create, agents::list))
        .routes(routes!(agents::get, agents::update, agents::delete))
        .routes(routes!(triggers::list))
        .routes(routes!(triggers::get, triggers::publish, triggers::unpublish))
        .with_state(AdminState { admin })
        .split_for_parts();
    let api = Arc::new(api);
    router.route(OPENAPI_PATH, get(move || async move { Json(api.as_ref().clone()) }))
}

/// The OpenAPI document (for tests and tooling).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = OpenApiRouter::<AdminState>::with_openapi(ApiDoc::openapi()).split_for_parts();
    api
}
