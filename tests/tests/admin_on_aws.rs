//! The admin API as the `admin` Lambda serves it: API Gateway v2 events converted by
//! `lambda_http`, the shared router, DynamoDB + KMS on moto's server.

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use imgate_core::admin::{Admin, AdminSettings};
use serde_json::{Value, json};
use tower::ServiceExt;

const BOOTSTRAP: &str = "aws-bootstrap-key-0123456789";

/// An API Gateway HTTP API (payload v2) event, as the Lambda receives it.
fn event(method: &str, path: &str, key: &str, body: Option<&Value>) -> String {
    json!({
        "version": "2.0",
        "routeKey": "ANY /api/admin/{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": format!("Bearer {key}"), "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api1", "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api1", "requestId": "req-1", "routeKey": "ANY /api/admin/{proxy+}", "stage": "$default",
            "time": "21/Nov/2026:07:00:00 +0000", "timeEpoch": 1_795_244_400_000_i64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl/8"}
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
    .to_string()
}

async fn call(app: &axum::Router, method: &str, path: &str, key: &str, body: Option<Value>) -> Result<(u16, Value)> {
    let request = lambda_http::request::from_str(&event(method, path, key, body.as_ref())).context("lambda event")?;
    let response = app.clone().oneshot(request).await.context("router")?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.context("body")?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn admin_flow_on_dynamodb_and_kms_through_lambda_events() -> Result<()> {
    let deps = imgate_tests::aws::fresh_deps(5).await?;
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "https://api1.execute-api.us-east-1.amazonaws.com".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP)),
        },
    );
    let app = imgate_http::app(admin.clone());
    let v1 = "/api/admin/v1";

    let (status, org) = call(
        &app,
        "POST",
        &format!("{v1}/organizations"),
        BOOTSTRAP,
        Some(json!({"name": "Acme"})),
    )
    .await?;
    assert_eq!(status, 201, "{org}");
    let key = org["apiKey"]["token"].as_str().context("token")?.to_owned();

    let credentials =
        json!({"token": "aws-wecom-token", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"});
    let (status, integration) = call(
        &app,
        "POST",
        &format!("{v1}/integrations"),
        &key,
        Some(json!({"name": "bot", "platform": "wecom", "credentials": credentials})),
    )
    .await?;
    assert_eq!(status, 201, "{integration}");
    assert_eq!(integration["credentials"]["token"], "***");
    let iid = integration["id"].as_str().context("id")?.to_owned();
    assert_eq!(
        integration["callbackUrl"],
        format!("https://api1.execute-api.us-east-1.amazonaws.com/api/wecom/webhook/{iid}")
    );

    // Sealed with KMS at rest, and it opens back.
    let record = deps.store.get_integration(&iid.parse()?).await?.context("stored")?;
    assert!(record.credentials.as_stored().starts_with("v1.kms."));
    assert!(!record.credentials.as_stored().contains("aws-wecom-token"));
    let imgate_core::credentials::Credentials::WecomWebhook(c) = admin.open_credentials(&record).await? else {
        anyhow::bail!("wrong credentials kind");
    };
    assert_eq!(c.token.expose(), "aws-wecom-token");

    let mut agents = Vec::new();
    for name in ["first", "second"] {
        let (status, agent) = call(
            &app,
            "POST",
            &format!("{v1}/agents"),
            &key,
            Some(json!({"name": name, "kind": "echo"})),
        )
        .await?;
        assert_eq!(status, 201);
        agents.push(agent["id"].as_str().context("agent id")?.to_owned());
    }
    let trigger = format!("{v1}/triggers/{iid}");
    let (status, _) = call(&app, "PUT", &trigger, &key, Some(json!({"agentId": agents[0]}))).await?;
    assert_eq!(status, 200);
    let (status, conflict) = call(&app, "PUT", &trigger, &key, Some(json!({"agentId": agents[1]}))).await?;
    assert_eq!(status, 409);
    assert_eq!(conflict["error"]["currentAgent"]["name"], "first");
    let (status, status_view) = call(&app, "GET", &format!("{v1}/integrations/{iid}/status"), &key, None).await?;
    assert_eq!(status, 200);
    assert_eq!(status_view["readiness"], "ready");

    // Another organization sees nothing; bad input is refused the same way as locally.
    let (_, other) = call(
        &app,
        "POST",
        &format!("{v1}/organizations"),
        BOOTSTRAP,
        Some(json!({"name": "Other"})),
    )
    .await?;
    let other_key = other["apiKey"]["token"].as_str().context("token")?;
    let (status, _) = call(&app, "GET", &format!("{v1}/integrations/{iid}"), other_key, None).await?;
    assert_eq!(status, 404);
    let (status, _) = call(
        &app,
        "POST",
        &format!("{v1}/integrations"),
        &key,
        Some(json!({"name": "x"})),
    )
    .await?;
    assert_eq!(status, 422);
    let (status, _) = call(&app, "GET", &format!("{v1}/integrations"), "wrong", None).await?;
    assert_eq!(status, 401);
    Ok(())
}

#[tokio::test]
async fn console_routes_on_dynamodb_and_sqs() -> Result<()> {
    use std::time::Duration;

    use imgate_core::integration::{ConnectionState, IntegrationStatus};
    use imgate_core::ports::OutgoingMessage;
    use imgate_core::session::{Session, SessionKey};
    use imgate_core::time::Timestamp;

    let deps = imgate_tests::aws::fresh_deps(2).await?;
    let admin = Admin::new(
        deps.clone(),
        AdminSettings {
            public_base_url: "https://api1.execute-api.us-east-1.amazonaws.com".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP)),
        },
    );
    let app = imgate_http::app(admin);
    let v1 = "/api/admin/v1";
    let (_, org) = call(
        &app,
        "POST",
        &format!("{v1}/organizations"),
        BOOTSTRAP,
        Some(json!({"name": "Acme"})),
    )
    .await?;
    let key = org["apiKey"]["token"].as_str().context("token")?.to_owned();
    let body = json!({"name": "lark bot", "platform": "lark", "mode": "long_connection",
        "credentials": {"app_id": "cli_a", "app_secret": "s"}});
    let (status, integration) = call(&app, "POST", &format!("{v1}/integrations"), &key, Some(body)).await?;
    assert_eq!(status, 201, "{integration}");
    let iid = integration["id"].as_str().context("id")?.to_owned();
    let (_, agent) = call(
        &app,
        "POST",
        &format!("{v1}/agents"),
        &key,
        Some(json!({"name": "echo", "kind": "echo"})),
    )
    .await?;
    let publish = json!({"agentId": agent["id"]});
    let (status, _) = call(&app, "PUT", &format!("{v1}/triggers/{iid}"), &key, Some(publish)).await?;
    assert_eq!(status, 200);

    // The overview reads statuses with one batched read.
    let now = Timestamp::now();
    deps.store
        .put_status(&IntegrationStatus {
            integration_id: iid.parse()?,
            state: ConnectionState::Connected,
            reason: None,
            connected_since: Some(now),
            last_event_at: Some(now),
            last_error: None,
            reconnect_attempts: 0,
            owner: Some("relay-7".into()),
            updated_at: now,
        })
        .await?;
    let (status, overview) = call(&app, "GET", &format!("{v1}/integrations/overview"), &key, None).await?;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(overview[0]["chip"], "connected");
    assert_eq!(overview[0]["owner"], "relay-7");

    // Conversations come through the sessions index.
    let session = Session {
        key: SessionKey {
            integration_id: iid.parse()?,
            conversation: "oc_chat".into(),
            sender: "ou_user".into(),
        },
        id: imgate_core::SessionId::generate(),
        agent_id: agent["id"].as_str().context("agent")?.parse()?,
        user_id: imgate_core::UserId::generate(),
        started_at: now,
        last_active_at: now,
        expires_at: now.plus(Duration::from_secs(600)),
        answer: None,
    };
    deps.store.put_session(&session).await?;
    let (status, conversations) = call(
        &app,
        "GET",
        &format!("{v1}/integrations/{iid}/conversations"),
        &key,
        None,
    )
    .await?;
    assert_eq!(status, 200, "{conversations}");
    assert_eq!(conversations[0]["conversation"], "oc_chat");

    // A message that fails every attempt reaches SQS's dead-letter queue; the console
    // collects it, and a redrive puts it back on the queue.
    let envelope = imgate_core::envelope::Envelope::flush(format!("{iid}:conversation"), 1, now);
    deps.queue
        .enqueue(&OutgoingMessage {
            group: format!("{iid}:conversation"),
            dedupe_id: "aws-dead-1".into(),
            body: envelope.to_body(),
        })
        .await?;
    for _ in 0..6 {
        for delivery in deps.queue.receive(10, Duration::from_secs(30)).await? {
            deps.queue.retry_later(&delivery.receipt, Duration::ZERO).await?;
        }
    }
    let (status, letters) = call(&app, "GET", &format!("{v1}/dead-letters"), &key, None).await?;
    assert_eq!(status, 200, "{letters}");
    assert_eq!(letters.as_array().map(Vec::len), Some(1), "{letters}");
    let id = letters[0]["id"].as_str().context("letter id")?.to_owned();
    let (status, _) = call(&app, "POST", &format!("{v1}/dead-letters/{id}/redrive"), &key, None).await?;
    assert_eq!(status, 202);
    let back = deps.queue.receive(10, Duration::from_secs(30)).await?;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, envelope.to_body());
    let (_, letters) = call(&app, "GET", &format!("{v1}/dead-letters"), &key, None).await?;
    assert_eq!(letters, json!([]));
    Ok(())
}
