//! What a user's file takes on the fake OpenAPI (§2): `POST /v1.0/robot/messageFiles/download`
//! with the token it issued, a `robotCode` and a `downloadCode` [`FakeDingtalk::media`] knows,
//! answers a temporary `downloadUrl` on this fake (`GET /media/{code}`, counted there). An
//! unknown code is HTTP 400 `invalidParameter` (the real code is not in the notes; this is the
//! fake's choice).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{FakeDingtalk, error};

/// The routes, merged into the fake's.
pub(super) fn routes() -> Router<FakeDingtalk> {
    Router::new()
        .route("/v1.0/robot/messageFiles/download", post(download_url))
        .route("/media/{code}", get(file))
}

async fn download_url(State(fake): State<FakeDingtalk>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !fake.authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthentication",
            "不合法的access_token",
        );
    }
    let code = body["downloadCode"].as_str().unwrap_or_default();
    if body["robotCode"].as_str().unwrap_or_default().is_empty() || fake.media.get(code).is_none() {
        return error(StatusCode::BAD_REQUEST, "invalidParameter", "downloadCode is invalid");
    }
    // The router's copy of the fake does not know its base; the request's Host does.
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
    Json(json!({"downloadUrl": format!("http://{host}/media/{code}?sig=temporary-signature")})).into_response()
}

async fn file(State(fake): State<FakeDingtalk>, Path(code): Path<String>) -> Response {
    fake.media.download(&code)
}
