//! The admin API end to end over the embedded store: auth, scoping, validation, write-only
//! secrets and the binding rules.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{AES_KEY, BOOTSTRAP, Harness, error_code};
use serde_json::json;

const V1: &str = "/api/admin/v1";

#[tokio::test]
async fn requires_a_valid_key() {
    let h = Harness::new().await;
    for key in [
        None,
        Some("nope"),
        Some("key_00000000000000000000000000000000.secret"),
        Some(""),
    ] {
        let r = h.call(Method::GET, &format!("{V1}/integrations"), key, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key:?}: {}", r.text);
        assert_eq!(error_code(&r), "unauthorized");
    }
    let (_, key) = h.org("acme").await;
    let (id, _secret) = key.split_once('.').unwrap();
    let forged = format!("{id}.not-the-secret");
    let r = h.get(&format!("{V1}/integrations"), &forged).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h.get(&format!("{V1}/integrations"), &key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn bootstrap_and_org_keys_have_separate_powers() {
    let h = Harness::new().await;
    let (org_id, key) = h.org("acme").await;
    let r = h.get(&format!("{V1}/integrations"), BOOTSTRAP).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let r = h
        .post(&format!("{V1}/organizations"), &key, Some(json!({"name": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h.get(&format!("{V1}/organizations"), BOOTSTRAP).await;
    assert_eq!(r.status, StatusCode::OK);
    let org = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == org_id.as_str())
        .unwrap();
    assert!(org["createdAt"].is_string(), "camelCase like every other field: {org}");
    assert!(org.get("created_at").is_none(), "{org}");

    // Keys: an org manages its own; the bootstrap key manages any; a key cannot revoke itself.
    let r = h
        .post(
            &format!("{V1}/organizations/{org_id}/api-keys"),
            &key,
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let second = r.body["token"].as_str().unwrap().to_owned();
    let second_id = r.body["id"].as_str().unwrap().to_owned();
    let r = h.get(&format!("{V1}/organizations/{org_id}/api-keys"), BOOTSTRAP).await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    assert!(
        !r.text.contains(second.split_once('.').unwrap().1),
        "key secrets are never listed"
    );
    let own_id = key.split_once('.').unwrap().0;
    let r = h
        .delete(&format!("{V1}/organizations/{org_id}/api-keys/{own_id}"), &key)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = h
        .delete(&format!("{V1}/organizations/{org_id}/api-keys/{second_id}"), &key)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.get(&format!("{V1}/integrations"), &second).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a revoked key stops working");
    let r = h
        .get(
            &format!("{V1}/organizations/org_00000000000000000000000000000000"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_organizations_objects_answer_404() {
    let h = Harness::new().await;
    let (org_a, key_a) = h.org("a").await;
    let (_, key_b) = h.org("b").await;
    let integration = h.wecom_integration(&key_a).await;
    let agent = h.echo_agent(&key_a, "echo").await;
    let (iid, aid) = (integration["id"].as_str().unwrap(), agent["id"].as_str().unwrap());
    let attempts = [
        (Method::GET, format!("{V1}/integrations/{iid}"), None),
        (
            Method::PATCH,
            format!("{V1}/integrations/{iid}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("{V1}/integrations/{iid}"), None),
        (Method::GET, format!("{V1}/integrations/{iid}/status"), None),
        (Method::POST, format!("{V1}/integrations/{iid}/disable"), None),
        (Method::GET, format!("{V1}/agents/{aid}"), None),
        (Method::PATCH, format!("{V1}/agents/{aid}"), Some(json!({"name": "x"}))),
        (Method::DELETE, format!("{V1}/agents/{aid}"), None),
        (
            Method::PUT,
            format!("{V1}/triggers/{iid}"),
            Some(json!({"agentId": aid})),
        ),
        (Method::GET, format!("{V1}/organizations/{org_a}"), None),
        (Method::GET, format!("{V1}/organizations/{org_a}/api-keys"), None),
    ];
    for (method, path, body) in attempts {
        let r = h.call(method.clone(), &path, Some(&key_b), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}: {}", r.text);
        assert_eq!(error_code(&r), "not_found");
    }
    let r = h.get(&format!("{V1}/integrations"), &key_b).await;
    assert_eq!(r.body, json!([]));
    // Still intact for its owner.
    let r = h.get(&format!("{V1}/integrations/{iid}"), &key_a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "Support bot");
}

#[tokio::test]
async fn secrets_are_write_only() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let created = h.wecom_integration(&key).await;
    assert_eq!(
        created["credentials"],
        json!({"token": "***", "encoding_aes_key": "***", "corp_id": "ww-corp"})
    );
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        created["callbackUrl"],
        format!("https://gw.example.com/api/wecom/webhook/{id}")
    );

    // "***" and "" keep the stored secrets; other fields change.
    let r = h
        .patch(
            &format!("{V1}/integrations/{id}"),
            &key,
            Some(
                json!({"name": "Renamed", "credentials": {"token": "***", "encoding_aes_key": "", "corp_id": "ww-2"}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["credentials"]["token"], "***");
    assert_eq!(r.body["credentials"]["corp_id"], "ww-2");
    let record = h
        .deps
        .store
        .get_integration(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let stored = h.admin.open_credentials(&record).await.unwrap();
    let imgate_core::credentials::Credentials::WecomWebhook(c) = &stored else {
        panic!("wecom")
    };
    assert_eq!(c.token.expose(), "wecom-token-secret");
    assert_eq!(c.encoding_aes_key.expose(), AES_KEY);
    assert!(
        !record.credentials.as_stored().contains("wecom-token-secret"),
        "sealed at rest"
    );

    // A real value replaces it.
    let r = h
        .patch(
            &format!("{V1}/integrations/{id}"),
            &key,
            Some(json!({"credentials": {"token": "rotated-token"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let record = h
        .deps
        .store
        .get_integration(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let imgate_core::credentials::Credentials::WecomWebhook(c) = h.admin.open_credentials(&record).await.unwrap()
    else {
        panic!("wecom")
    };
    assert_eq!(c.token.expose(), "rotated-token");

    // Agents too.
    let agent = h.openai_agent(&key).await;
    assert_eq!(agent["config"]["api_key"], "***");
    let aid = agent["id"].as_str().unwrap();
    let r = h
        .patch(
            &format!("{V1}/agents/{aid}"),
            &key,
            Some(json!({"config": {"api_key": "", "model": "m2"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["config"]["api_key"], "***");
    assert_eq!(r.body["config"]["model"], "m2");
    for path in [
        format!("{V1}/integrations"),
        format!("{V1}/agents"),
        format!("{V1}/integrations/{id}"),
        format!("{V1}/agents/{aid}"),
    ] {
        let r = h.get(&path, &key).await;
        for secret in ["wecom-token-secret", "rotated-token", AES_KEY, "sk-agent-secret-123"] {
            assert!(!r.text.contains(secret), "{path} leaked a secret");
        }
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let url = format!("{V1}/integrations");
    let cases = [
        (
            json!({"name": "x", "platform": "slack", "credentials": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "platform": "wecom", "credentials": {"token": "t"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "platform": "wecom", "credentials": {"token": "t", "encoding_aes_key": "short"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "", "platform": "wecom", "credentials": {"token": "t", "encoding_aes_key": AES_KEY}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "platform": "wecom", "credentials": "t"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "platform": "wecom", "credentials": {}, "extra": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"platform": "wecom", "credentials": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
        (
            json!({"name": "x", "platform": "wecom", "mode": "carrier_pigeon", "credentials": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (body, status, code) in cases {
        let r = h.post(&url, &key, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert_eq!(error_code(&r), code);
    }
    // A secret sent with the wrong type is not echoed.
    let r = h
        .post(
            &url,
            &key,
            Some(json!({"name": 123456789, "platform": "wecom", "credentials": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.text.contains("123456789"), "{}", r.text);

    // Broken JSON, missing content type, oversized body.
    let broken = Request::post(&url)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let r = h.raw(broken).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let no_type = Request::post(&url)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::from("{}"))
        .unwrap();
    let r = h.raw(no_type).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let huge = json!({"name": "x".repeat(imgate_http::BODY_LIMIT_BYTES + 1), "platform": "wecom", "credentials": {}});
    let r = h.post(&url, &key, Some(huge)).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // Agents and triggers.
    let r = h
        .post(
            &format!("{V1}/agents"),
            &key,
            Some(json!({"name": "a", "kind": "http", "config": {"url": "ftp://x"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = h
        .post(
            &format!("{V1}/agents"),
            &key,
            Some(json!({"name": "a", "kind": "robot"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Malformed or unknown ids are 404s, never 500s.
    for path in [
        format!("{V1}/integrations/not-an-id"),
        format!("{V1}/agents/int_00000000000000000000000000000000"),
        format!("{V1}/triggers/x"),
    ] {
        let r = h.get(&path, &key).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }

    // Nothing was created by any of it.
    let r = h.get(&url, &key).await;
    assert_eq!(r.body, json!([]));
    let r = h.get(&format!("{V1}/agents"), &key).await;
    assert_eq!(r.body, json!([]));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_format() {
    let h = Harness::new().await;
    let r = h.get("/api/admin/v1/nope", BOOTSTRAP).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let r = h.put("/api/admin/v1/organizations", BOOTSTRAP, None).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let r = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn one_agent_per_integration_unless_taken_over() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let iid = h.wecom_integration(&key).await["id"].as_str().unwrap().to_owned();
    let first = h.echo_agent(&key, "first").await["id"].as_str().unwrap().to_owned();
    let second = h.echo_agent(&key, "second").await["id"].as_str().unwrap().to_owned();
    let trigger = format!("{V1}/triggers/{iid}");

    let r = h.put(&trigger, &key, Some(json!({"agentId": first}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["agent"], json!({"id": first, "name": "first"}));
    assert_eq!(r.body["sessionTimeoutSeconds"], 3600);
    assert_eq!(r.body["summaryWindowSeconds"], 0);
    assert_eq!(r.body["groupPolicy"], "mention_only");
    assert_eq!(r.body["enabled"], true);

    // Republishing the same agent with new settings is fine and keeps unspecified settings.
    let r = h
        .put(
            &trigger,
            &key,
            Some(json!({"agentId": first, "groupPolicy": "all_messages"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = h
        .put(
            &trigger,
            &key,
            Some(json!({"agentId": first, "summaryWindowSeconds": 30})),
        )
        .await;
    assert_eq!(
        (r.body["groupPolicy"].as_str(), r.body["summaryWindowSeconds"].as_u64()),
        (Some("all_messages"), Some(30))
    );

    // Another agent: refused, naming the current one; nothing changes.
    let r = h.put(&trigger, &key, Some(json!({"agentId": second}))).await;
    assert_eq!((r.status, error_code(&r).as_str()), (StatusCode::CONFLICT, "conflict"));
    assert_eq!(r.body["error"]["currentAgent"], json!({"id": first, "name": "first"}));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("first"));
    let r = h.get(&trigger, &key).await;
    assert_eq!(r.body["agent"]["id"], first.as_str());

    // Explicit takeover wins.
    let r = h
        .put(&trigger, &key, Some(json!({"agentId": second, "takeover": true})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["agent"]["name"], "second");

    // A disabled binding can be replaced without takeover.
    let r = h
        .put(&trigger, &key, Some(json!({"agentId": second, "enabled": false})))
        .await;
    assert_eq!(r.body["enabled"], false);
    let r = h.put(&trigger, &key, Some(json!({"agentId": first}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Settings out of range, unknown agent, unknown integration.
    for (body, status) in [
        (
            json!({"agentId": first, "sessionTimeoutSeconds": 59}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"agentId": first, "sessionTimeoutSeconds": 604_801}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"agentId": first, "summaryWindowSeconds": 901}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"agentId": first, "sessionTimeoutSeconds": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"agentId": first, "groupPolicy": "everyone"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"agentId": "agt_00000000000000000000000000000000"}),
            StatusCode::NOT_FOUND,
        ),
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = h.put(&trigger, &key, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    let r = h
        .put(
            &format!("{V1}/triggers/int_00000000000000000000000000000000"),
            &key,
            Some(json!({"agentId": first})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A bound agent cannot be deleted; after unpublishing it can.
    let r = h.delete(&format!("{V1}/agents/{first}"), &key).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["error"]["message"].as_str().unwrap().contains(&iid));
    let r = h.delete(&trigger, &key).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.delete(&trigger, &key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h.delete(&format!("{V1}/agents/{first}"), &key).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn status_explains_why_a_bot_is_silent() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let iid = h.wecom_integration(&key).await["id"].as_str().unwrap().to_owned();
    let aid = h.echo_agent(&key, "echo").await["id"].as_str().unwrap().to_owned();
    let status = format!("{V1}/integrations/{iid}/status");
    let r = h.get(&status, &key).await;
    assert_eq!(r.body["readiness"], "unbound", "{}", r.text);
    h.put(&format!("{V1}/triggers/{iid}"), &key, Some(json!({"agentId": aid})))
        .await;
    let r = h.get(&status, &key).await;
    assert_eq!(r.body["readiness"], "ready");
    assert_eq!(r.body["trigger"]["agent"]["name"], "echo");
    let r = h.post(&format!("{V1}/integrations/{iid}/disable"), &key, None).await;
    assert_eq!(r.body["enabled"], false);
    let r = h.get(&status, &key).await;
    assert_eq!(r.body["readiness"], "disabled");
    assert!(r.body["summary"].as_str().unwrap().contains("disabled"));
    h.post(&format!("{V1}/integrations/{iid}/enable"), &key, None).await;
    h.put(
        &format!("{V1}/triggers/{iid}"),
        &key,
        Some(json!({"agentId": aid, "enabled": false})),
    )
    .await;
    let r = h.get(&status, &key).await;
    assert_eq!(r.body["readiness"], "trigger_disabled");

    // Deleting the integration removes its trigger too.
    let r = h.delete(&format!("{V1}/integrations/{iid}"), &key).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(h.deps.store.get_trigger(&iid.parse().unwrap()).await.unwrap().is_none());
    let r = h.get(&status, &key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn switching_mode_keeps_only_credentials_that_still_apply() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let body = json!({"name": "lark", "platform": "lark",
        "credentials": {"app_id": "cli_1", "app_secret": "lark-secret", "verification_token": "vt"}});
    let r = h.post(&format!("{V1}/integrations"), &key, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap();
    let r = h
        .patch(
            &format!("{V1}/integrations/{id}"),
            &key,
            Some(json!({"mode": "long_connection"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["mode"], "long_connection");
    assert!(
        r.body.get("callbackUrl").is_none(),
        "long connections have no callback URL"
    );
    // WeCom's two modes have different credentials: switching needs the new ones.
    let wecom = h.wecom_integration(&key).await;
    let wid = wecom["id"].as_str().unwrap();
    let r = h
        .patch(
            &format!("{V1}/integrations/{wid}"),
            &key,
            Some(json!({"mode": "long_connection"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = h
        .patch(
            &format!("{V1}/integrations/{wid}"),
            &key,
            Some(json!({"mode": "long_connection", "credentials": {"bot_id": "b1", "secret": "s1"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["credentials"], json!({"bot_id": "b1", "secret": "***"}));
}

#[tokio::test]
async fn trigger_allowlists_are_cleaned_kept_and_bounded() {
    let h = Harness::new().await;
    let (_, key) = h.org("acme").await;
    let integration = h.wecom_integration(&key).await;
    let id = integration["id"].as_str().unwrap();
    let agent = h.echo_agent(&key, "helper").await;
    let path = format!("/api/admin/v1/triggers/{id}");
    let body = json!({"agentId": agent["id"], "allowedUsers": [" alice ", "alice", "", "bob"],
        "allowedChats": ["ops-room"], "refusal": "silent"});
    let r = h.put(&path, &key, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["access"]["allowedUsers"], json!(["alice", "bob"]));
    assert_eq!(r.body["access"]["refusal"], "silent");
    // Publishing again without the lists keeps them.
    let r = h
        .put(
            &path,
            &key,
            Some(json!({"agentId": agent["id"], "sessionTimeoutSeconds": 600})),
        )
        .await;
    assert_eq!(r.body["access"]["allowedChats"], json!(["ops-room"]), "{}", r.text);
    // Too long an entry, or a refusal that does not exist, changes nothing.
    let r = h
        .put(
            &path,
            &key,
            Some(json!({"agentId": agent["id"], "allowedUsers": ["x".repeat(300)]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = h
        .put(&path, &key, Some(json!({"agentId": agent["id"], "refusal": "shout"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = h.get(&path, &key).await;
    assert_eq!(r.body["access"]["allowedUsers"], json!(["alice", "bob"]));
    assert_eq!(r.body["sessionTimeoutSeconds"], 600);
}
