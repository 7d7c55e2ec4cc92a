//! `GET /media/{token}`: the files `imgate serve` keeps for agents, by the signed, expiring
//! links it handed them (on AWS the bucket serves its own presigned URLs instead).
//!
//! A forged or altered link is `403 forbidden`, an expired one `404 expired`, one whose file is
//! no longer kept `404 not_found`. A file is served with its stored content type, but never as
//! something a browser runs on this origin (where the console lives): the answer is sandboxed
//! by its Content-Security-Policy, `nosniff`, and anything but a picture, a sound, a video, a
//! PDF or plain text is offered as a download. The token is never logged (request traces
//! carry the path's route only).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use imgate_core::Timestamp;
use imgate_core::ports::{MediaFiles, MediaLinkError};

use crate::error::ApiError;

/// Where kept files are served: `{public base URL}/media/{token}`.
pub const MEDIA_PATH: &str = "/media/{token}";

/// The policy of every media answer: nothing in it runs, and it is its own opaque origin.
const SANDBOX: &str = "default-src 'none'; sandbox";

/// The route serving `files`.
pub fn router(files: Arc<dyn MediaFiles>) -> Router {
    Router::new().route(MEDIA_PATH, get(serve)).with_state(files)
}

async fn serve(State(files): State<Arc<dyn MediaFiles>>, Path(token): Path<String>) -> Response {
    match files.open(&token, Timestamp::now()).await {
        Ok(file) => {
            let content_type = HeaderValue::from_str(&file.mime)
                .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
            let disposition = if is_shown_inline(&file.mime) {
                "inline"
            } else {
                "attachment"
            };
            (
                [
                    (CONTENT_TYPE, content_type),
                    (CONTENT_DISPOSITION, HeaderValue::from_static(disposition)),
                    (CONTENT_SECURITY_POLICY, HeaderValue::from_static(SANDBOX)),
                    (
                        HeaderName::from_static("x-content-type-options"),
                        HeaderValue::from_static("nosniff"),
                    ),
                    (CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
                ],
                file.bytes,
            )
                .into_response()
        }
        Err(error) => refusal(&error).into_response(),
    }
}

/// The answer to a refused link.
fn refusal(error: &MediaLinkError) -> ApiError {
    let (status, code) = match error {
        MediaLinkError::Forged => (StatusCode::FORBIDDEN, "forbidden"),
        MediaLinkError::Expired => (StatusCode::NOT_FOUND, "expired"),
        MediaLinkError::Gone => (StatusCode::NOT_FOUND, "not_found"),
        MediaLinkError::Unreadable => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    ApiError::new(status, code, error.to_string())
}

/// True for types a browser shows without running anything: pictures (but not SVG, which may
/// carry script), sound, video, PDF and plain text.
fn is_shown_inline(mime: &str) -> bool {
    let (kind, subtype) = mime.split_once('/').unwrap_or_default();
    match kind {
        "image" => !subtype.starts_with("svg"),
        "audio" | "video" => true,
        _ => mime == "application/pdf" || mime == "text/plain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passive_types_are_shown_inline() {
        for inline in ["image/png", "audio/ogg", "video/mp4", "application/pdf", "text/plain"] {
            assert!(is_shown_inline(inline), "{inline}");
        }
        for download in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "application/octet-stream",
        ] {
            assert!(!is_shown_inline(download), "{download}");
        }
    }
}
