//! Test harness: the real app over a temporary SQLite database, driven with `oneshot`.

#![allow(dead_code, clippy::unwrap_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use imgate_core::admin::{Admin, AdminSettings};
use imgate_core::ports::Deps;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const BOOTSTRAP: &str = "test-bootstrap-key-0123456789";
pub const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

pub struct Harness {
    pub app: Router,
    pub admin: Admin,
    pub deps: Deps,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
}

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (deps, _store) = imgate_embedded::open(
            &dir.path().join("imgate.db"),
            &dir.path().join("imgate.key"),
            imgate_embedded::QueueOptions::default(),
        )
        .await
        .unwrap();
        let admin = Admin::new(
            deps.clone(),
            AdminSettings {
                public_base_url: "https://gw.example.com".into(),
                bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP)),
            },
        )
        .with_agents(std::sync::Arc::new(imgate_agents::Agents::new(reqwest::Client::new())));
        Self {
            app: imgate_http::app(admin.clone()),
            admin,
            deps,
            _dir: dir,
        }
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = match body {
            Some(body) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        };
        self.raw(request.unwrap()).await
    }

    /// `GET path` with `key`.
    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    /// `POST path` with `key` and `body`.
    pub async fn post(&self, path: &str, key: &str, body: Option<Value>) -> Reply {
        self.call(Method::POST, path, Some(key), body).await
    }

    /// `PUT path` with `key` and `body`.
    pub async fn put(&self, path: &str, key: &str, body: Option<Value>) -> Reply {
        self.call(Method::PUT, path, Some(key), body).await
    }

    /// `PATCH path` with `key` and `body`.
    pub async fn patch(&self, path: &str, key: &str, body: Option<Value>) -> Reply {
        self.call(Method::PATCH, path, Some(key), body).await
    }

    /// `DELETE path` with `key`.
    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// Creates an organization; returns (org id, API key).
    pub async fn org(&self, name: &str) -> (String, String) {
        let r = self
            .call(
                Method::POST,
                "/api/admin/v1/organizations",
                Some(BOOTSTRAP),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (
            r.body["organization"]["id"].as_str().unwrap().to_owned(),
            r.body["apiKey"]["token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn wecom_integration(&self, key: &str) -> Value {
        let body = json!({
            "name": "Support bot",
            "platform": "wecom",
            "credentials": {"token": "wecom-token-secret", "encoding_aes_key": AES_KEY, "corp_id": "ww-corp"}
        });
        let r = self
            .call(Method::POST, "/api/admin/v1/integrations", Some(key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    pub async fn echo_agent(&self, key: &str, name: &str) -> Value {
        let r = self
            .call(
                Method::POST,
                "/api/admin/v1/agents",
                Some(key),
                Some(json!({"name": name, "kind": "echo"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }

    pub async fn openai_agent(&self, key: &str) -> Value {
        let body = json!({"name": "gpt", "kind": "openai_compatible",
            "config": {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-agent-secret-123"}});
        let r = self
            .call(Method::POST, "/api/admin/v1/agents", Some(key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body
    }
}

/// Asserts the API's error shape and returns the code.
pub fn error_code(reply: &Reply) -> String {
    let code = reply.body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an API error: {}", reply.text));
    assert!(
        reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        reply.text
    );
    code.to_owned()
}
