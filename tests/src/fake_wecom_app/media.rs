//! What a user's image takes on the fake app API: `GET /cgi-bin/media/get?access_token=…&media_id=…`
//! serves [`FakeWecomApp::media`] as WeCom does (the file with its type and
//! `Content-Disposition: attachment; filename="<media_id>.<ext>"`), counting downloads there.
//! Refusals are JSON with HTTP 200: 40014 for a token this fake did not issue, 40007 for an
//! unknown `media_id`, 830002 for a file over the 20 MB one request serves.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::FakeWecomApp;

/// The most one `media/get` serves without ranges.
const MAX_MEDIA_GET: u64 = 20 * 1024 * 1024;

/// The routes, merged into the fake's.
pub(super) fn routes() -> Router<FakeWecomApp> {
    Router::new().route("/cgi-bin/media/get", get(media_get))
}

async fn media_get(State(fake): State<FakeWecomApp>, Query(query): Query<HashMap<String, String>>) -> Response {
    let refuse = |errcode: i64, errmsg: &str| Json(json!({"errcode": errcode, "errmsg": errmsg})).into_response();
    let token = query.get("access_token").map_or("", String::as_str);
    if !token.starts_with("wecom-token-") {
        return refuse(40014, "invalid access_token");
    }
    let media_id = query.get("media_id").map_or("", String::as_str);
    match fake.media.get(media_id) {
        None => refuse(40007, "invalid media_id"),
        Some(file) if file.stated.is_some_and(|size| size > MAX_MEDIA_GET) => refuse(
            830_002,
            "file size exceeds the limit, use Range to download it in parts",
        ),
        Some(_) => fake.media.download(media_id),
    }
}
