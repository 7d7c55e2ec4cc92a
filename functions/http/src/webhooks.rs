//! Platform callback routes: `/api/{platform}/webhook/{integrationId}` (WeCom `GET`/`POST`,
//! DingTalk HTTP mode `POST`, Lark / Feishu events `POST`).
//!
//! Handlers only adapt HTTP to the channels' framework-free webhook functions and map
//! [`WebhookError`] to a status: 404 unknown integration, 403 disabled, 401 bad signature or
//! stale timestamp, 400 unreadable, 413 too large, 503 when the store or queue failed (the
//! platform retries).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use imgate_channels::Webhooks;
use imgate_channels::kit::webhook::{Method, WebhookEndpoint, WebhookRequest};
use imgate_core::ingress::{WebhookError, WebhookResponse};

use crate::error::ApiError;

/// The webhook routes: `/api/{platform}/webhook/{id}` (Discord: `/api/discord/interactions/{id}`)
/// for every registered endpoint, with the methods it answers.
pub fn router(webhooks: Webhooks) -> Router {
    webhooks.iter().fold(Router::new(), |router, (platform, endpoint)| {
        let routes = endpoint.methods().iter().fold(MethodRouter::new(), |routes, &method| {
            let endpoint = endpoint.clone();
            let handler =
                move |id: Path<String>, query: RawQuery, headers: HeaderMap, body: Result<Bytes, BytesRejection>| {
                    handle(endpoint, method, id, query, headers, body)
                };
            match method {
                Method::Get => routes.merge(get(handler)),
                Method::Post => routes.merge(post(handler)),
            }
        });
        router.route(
            &format!("/api/{}/{}/{{id}}", platform.as_str(), endpoint.route()),
            routes,
        )
    })
}

/// Reads the request and hands it to the platform's endpoint.
async fn handle(
    endpoint: Arc<dyn WebhookEndpoint>,
    method: Method,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(query) = parse_query(query.as_deref()) else {
        return ApiError::bad_request("malformed query string").into_response();
    };
    let body = match read_body(body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let request = WebhookRequest {
        method,
        integration_id: &id,
        query: &query,
        headers: &headers,
        body: &body,
    };
    respond(endpoint.handle(request).await)
}

/// The body, or the answer to a body that could not be read (413 when it is too large).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    match body {
        Ok(body) => Ok(body),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )),
        Err(_) => Err(ApiError::bad_request("the request body could not be read")),
    }
}

/// Splits a query string into percent-decoded pairs. Unlike form decoding, `+` stays `+`:
/// signed values such as WeCom's `echostr` are Base64 and would not verify otherwise.
fn parse_query(query: Option<&str>) -> Option<HashMap<String, String>> {
    let mut pairs = HashMap::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        pairs.insert(decode(name)?, decode(value)?);
    }
    Some(pairs)
}

fn respond(result: Result<WebhookResponse, WebhookError>) -> Response {
    match result {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
            (status, [(header::CONTENT_TYPE, answer.content_type)], answer.body).into_response()
        }
        Err(error) => webhook_error(&error).into_response(),
    }
}

/// The HTTP answer to a refused callback.
pub fn webhook_error(error: &WebhookError) -> ApiError {
    let message = error.to_string();
    match error {
        WebhookError::UnknownIntegration => ApiError::not_found(message),
        WebhookError::Disabled => ApiError::new(StatusCode::FORBIDDEN, "integration_disabled", message),
        WebhookError::BadSignature => ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", message),
        WebhookError::StaleTimestamp => ApiError::new(StatusCode::UNAUTHORIZED, "stale_timestamp", message),
        WebhookError::Malformed(_) => ApiError::bad_request(message),
        WebhookError::Unavailable => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_decoded_only() {
        let q = parse_query(Some("echostr=ab%2Bc%2F%3D+x&nonce=1&empty=&flag")).unwrap();
        assert_eq!(q["echostr"], "ab+c/=+x");
        assert_eq!(q["nonce"], "1");
        assert_eq!(q["empty"], "");
        assert_eq!(q["flag"], "");
        assert!(parse_query(Some("bad=%FF")).is_none());
        assert!(parse_query(None).unwrap().is_empty());
    }
}
