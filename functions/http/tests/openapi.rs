//! The OpenAPI document and the router describe the same routes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{BOOTSTRAP, Harness};
use serde_json::json;

/// The routes the admin API promises.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/api/admin/v1/organizations"),
    ("post", "/api/admin/v1/organizations"),
    ("get", "/api/admin/v1/organizations/{orgId}"),
    ("get", "/api/admin/v1/organizations/{orgId}/api-keys"),
    ("post", "/api/admin/v1/organizations/{orgId}/api-keys"),
    ("delete", "/api/admin/v1/organizations/{orgId}/api-keys/{keyId}"),
    ("get", "/api/admin/v1/integrations"),
    ("post", "/api/admin/v1/integrations"),
    ("get", "/api/admin/v1/integrations/{id}"),
    ("patch", "/api/admin/v1/integrations/{id}"),
    ("delete", "/api/admin/v1/integrations/{id}"),
    ("post", "/api/admin/v1/integrations/{id}/enable"),
    ("post", "/api/admin/v1/integrations/{id}/disable"),
    ("get", "/api/admin/v1/integrations/{id}/status"),
    ("post", "/api/admin/v1/integrations/{id}/restart"),
    ("get", "/api/admin/v1/integrations/{id}/login"),
    ("post", "/api/admin/v1/integrations/{id}/login"),
    ("get", "/api/admin/v1/agents"),
    ("post", "/api/admin/v1/agents"),
    ("get", "/api/admin/v1/agents/{id}"),
    ("patch", "/api/admin/v1/agents/{id}"),
    ("delete", "/api/admin/v1/agents/{id}"),
    ("get", "/api/admin/v1/triggers"),
    ("get", "/api/admin/v1/triggers/{integrationId}"),
    ("put", "/api/admin/v1/triggers/{integrationId}"),
    ("delete", "/api/admin/v1/triggers/{integrationId}"),
    ("post", "/api/admin/v1/session"),
    ("get", "/api/admin/v1/session"),
    ("delete", "/api/admin/v1/session"),
    ("get", "/api/admin/v1/platforms"),
    ("get", "/api/admin/v1/integrations/overview"),
    ("post", "/api/admin/v1/integrations/{id}/test"),
    ("get", "/api/admin/v1/integrations/{id}/conversations"),
    (
        "post",
        "/api/admin/v1/integrations/{id}/conversations/{sessionId}/reset",
    ),
    ("get", "/api/admin/v1/integrations/{id}/impact"),
    ("get", "/api/admin/v1/integrations/{id}/metrics"),
    ("get", "/api/admin/v1/integrations/{id}/explain"),
    ("post", "/api/admin/v1/agents/{id}/try"),
    ("get", "/api/admin/v1/dead-letters"),
    ("post", "/api/admin/v1/dead-letters/{id}/redrive"),
    ("delete", "/api/admin/v1/dead-letters/{id}"),
];

#[tokio::test]
async fn document_lists_exactly_the_routes_and_every_one_is_served() {
    let h = Harness::new().await;
    let r = h.call(Method::GET, imgate_http::admin::OPENAPI_PATH, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(r.body["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    let mut documented = BTreeSet::new();
    for (path, item) in r.body["paths"].as_object().unwrap() {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
        {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented operation reaches a handler: the answer is never the router's own
    // "no such route" 404 or a 405.
    let (_, org_key) = h.org("acme").await;
    for (method, path) in &documented {
        let concrete = path
            .replace("{orgId}", "org_00000000000000000000000000000000")
            .replace("{keyId}", "key_00000000000000000000000000000000")
            .replace("{integrationId}", "int_00000000000000000000000000000000")
            .replace("{sessionId}", "ses_00000000000000000000000000000000")
            .replace("{id}", "int_00000000000000000000000000000000");
        let method: Method = method.to_uppercase().parse().unwrap();
        let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
        let key = if path.contains("organizations") {
            BOOTSTRAP
        } else {
            org_key.as_str()
        };
        let r = h.call(method.clone(), &concrete, Some(key), body).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(r.status == StatusCode::NOT_FOUND && r.text.contains("no such route")),
            "{method} {path} is documented but not routed"
        );
        assert!(
            r.status.is_client_error() || r.status.is_success(),
            "{method} {path}: {}",
            r.text
        );
    }
}

#[test]
fn every_operation_documents_its_errors_and_auth() {
    let api = serde_json::to_value(imgate_http::admin::openapi()).unwrap();
    assert_eq!(api["security"], json!([{"bearer": []}]));
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // Only the console's sign-in, session and sign-out are open to anyone (they carry
            // no bearer key; sign-out answers 204 whoever asks).
            let public = op["security"] == json!([{}]);
            assert_eq!(
                public,
                path == "/api/admin/v1/session",
                "{method} {path}: security {}",
                op["security"]
            );
            if public && method == "delete" {
                continue;
            }
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            assert!(
                responses.keys().any(|k| k.starts_with('2')),
                "{method} {path} lacks a success answer"
            );
        }
    }
}
