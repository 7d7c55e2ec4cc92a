//! What a user's file takes on the fake Open API: `GET
//! /open-apis/im/v1/messages/{message_id}/resources/{file_key}?type=image|file` with a token the
//! fake issued, serving [`FakeLark::media`] by `<message_id>/<file_key>` (a key that is not the
//! message's is not found) and counting downloads there. Refusals, as Lark's error table lists
//! them: 234001 for a `type` other than `image` or `file`, 234003 for a resource not in the
//! message, 234037 for a resource over 100 MB.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;

use super::FakeLark;
use super::open_api::Answer;

/// The largest resource Lark serves: 100 MB.
const MAX_RESOURCE: u64 = 100 * 1024 * 1024;

/// The routes, merged into the fake's.
pub(super) fn routes() -> Router<FakeLark> {
    Router::new().route(
        "/open-apis/im/v1/messages/{message_id}/resources/{file_key}",
        get(resource),
    )
}

async fn resource(
    State(fake): State<FakeLark>,
    Path((message_id, file_key)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !fake.state().authorized(&headers) {
        return Answer::rejected(99991663, "Invalid access token for authorization.").into_response();
    }
    if !matches!(query.get("type").map(String::as_str), Some("image" | "file")) {
        return Answer::rejected(234001, "Invalid request param.").into_response();
    }
    let key = format!("{message_id}/{file_key}");
    match fake.media.get(&key) {
        None => Answer::rejected(234003, "File not in msg.").into_response(),
        Some(file) if file.stated.is_some_and(|size| size > MAX_RESOURCE) => {
            Answer::error(StatusCode::BAD_REQUEST, 234037, "Downloaded file size exceeds limit.").into_response()
        }
        Some(_) => fake.media.download(&key),
    }
}
