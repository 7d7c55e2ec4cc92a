//! The console's server side: sign-in and its cookie, CSRF refusals, the static files and
//! their headers, and the admin routes the console added (overview, metrics, explain,
//! conversations, impact, dead letters, try it, platforms).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{BOOTSTRAP, Harness, Reply, error_code};
use imgate_core::envelope::Envelope;
use imgate_core::event::{Conversation, ConversationKind, InboundEvent, InboundKind, Message, ReplyContext, Sender};
use imgate_core::ids::{AgentId, IntegrationId, SessionId, UserId};
use imgate_core::ports::{EventLogEntry, OutgoingMessage};
use imgate_core::session::{Session, SessionKey};
use imgate_core::time::Timestamp;
use serde_json::{Value, json};

/// A signed-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(h: &Harness, key: &str) -> (Reply, Option<String>) {
    let request = Request::post("/api/admin/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "key": key }).to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.app.clone(), request).await.unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Reply { status, body, text }, cookie)
}

async fn browser(h: &Harness, key: &str) -> Browser {
    let (reply, cookie) = sign_in(h, key).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let cookie = cookie.expect("a session cookie");
    let pair = cookie.split(';').next().unwrap().to_owned();
    Browser {
        cookie: pair,
        csrf: reply.body["csrfToken"].as_str().unwrap().to_owned(),
    }
}

async fn with_cookie(
    h: &Harness,
    b: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, &b.cookie)
        .header(header::HOST, "gw.example.com");
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    };
    h.raw(request.unwrap()).await
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_never_returns_the_key() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let (reply, cookie) = sign_in(&h, &key).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let cookie = cookie.unwrap();
    for attribute in [
        "imgate_session=v1.",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Secure",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    assert_eq!(reply.body["kind"], "organization");
    assert_eq!(reply.body["orgName"], "Acme");
    let secret = key.split_once('.').unwrap().1;
    assert!(!reply.text.contains(secret), "the key's secret came back");
    assert!(!cookie.contains(secret), "the key's secret is in the cookie");

    let (wrong, cookie) = sign_in(&h, "key_nope.wrong").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&wrong), "unauthorized");
    assert!(cookie.is_none(), "a refused sign-in sets no cookie");
    let (bootstrap, _) = sign_in(&h, BOOTSTRAP).await;
    assert_eq!(bootstrap.body["kind"], "bootstrap");
}

#[tokio::test]
async fn the_session_cookie_reads_and_with_its_csrf_token_changes() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let b = browser(&h, &key).await;
    let me = with_cookie(&h, &b, Method::GET, "/api/admin/v1/session", None, &[]).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.body["csrfToken"],
        b.csrf.as_str(),
        "the token is derived again, not stored"
    );
    let list = with_cookie(&h, &b, Method::GET, "/api/admin/v1/agents", None, &[]).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);

    let agent = json!({"name": "helper", "kind": "echo"});
    let token = ("x-csrf-token", b.csrf.as_str());
    let refused: [(&str, &[(&str, &str)]); 4] = [
        ("no CSRF token", &[]),
        ("a wrong CSRF token", &[("x-csrf-token", "not-the-token")]),
        ("another site", &[token, ("sec-fetch-site", "same-site")]),
        ("another origin", &[token, ("origin", "https://evil.example")]),
    ];
    for (what, headers) in refused {
        let forged = with_cookie(
            &h,
            &b,
            Method::POST,
            "/api/admin/v1/agents",
            Some(agent.clone()),
            headers,
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{what}: {}", forged.text);
        assert_eq!(error_code(&forged), "csrf", "{what}");
    }
    let listed = with_cookie(&h, &b, Method::GET, "/api/admin/v1/agents", None, &[]).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 0, "no refused change happened");

    let good = [
        ("x-csrf-token", b.csrf.as_str()),
        ("origin", "https://gw.example.com"),
        ("sec-fetch-site", "same-origin"),
    ];
    let created = with_cookie(&h, &b, Method::POST, "/api/admin/v1/agents", Some(agent), &good).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
}

#[tokio::test]
async fn forged_expired_and_revoked_sessions_are_refused() {
    let h = Harness::new().await;
    let (org_id, key) = h.org("Acme").await;
    let b = browser(&h, &key).await;
    let token = b.cookie.strip_prefix("imgate_session=").unwrap().to_owned();

    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    let forged = Browser {
        cookie: format!("imgate_session={tampered}"),
        csrf: b.csrf.clone(),
    };
    let r = with_cookie(&h, &forged, Method::GET, "/api/admin/v1/agents", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let longer = token.replacen(".", ".x", 1);
    let r = h.admin.open_session(&longer, Timestamp::now()).await;
    assert!(r.is_err(), "a changed signer is refused");

    let later = Timestamp::now().plus(Duration::from_secs(12 * 3600 + 1));
    assert!(
        h.admin.open_session(&token, later).await.is_err(),
        "sessions end after 12 hours"
    );
    assert!(h.admin.open_session(&token, Timestamp::now()).await.is_ok());

    // Revoking the key ends its sessions at once.
    let key_id = key.split_once('.').unwrap().0;
    let other = h
        .post(
            &format!("/api/admin/v1/organizations/{org_id}/api-keys"),
            BOOTSTRAP,
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let revoke = h
        .delete(
            &format!("/api/admin/v1/organizations/{org_id}/api-keys/{key_id}"),
            BOOTSTRAP,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text);
    let r = with_cookie(&h, &b, Method::GET, "/api/admin/v1/agents", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let b = browser(&h, &key).await;
    let request = Request::delete("/api/admin/v1/session")
        .header(header::COOKIE, &b.cookie)
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(h.app.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers().get(header::SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("imgate_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn the_console_files_are_served_with_a_strict_policy() {
    let h = Harness::new().await;
    let page = h.raw(Request::get("/console/").body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<script type=\"module\" src=\"app.js\">"));
    let response = tower::ServiceExt::oneshot(
        h.app.clone(),
        Request::get("/console/app.js").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let again = Request::get("/console/app.js")
        .header(header::IF_NONE_MATCH, &etag)
        .body(Body::empty())
        .unwrap();
    let cached = tower::ServiceExt::oneshot(h.app.clone(), again).await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

    let redirect = h.raw(Request::get("/console").body(Body::empty()).unwrap()).await;
    assert_eq!(redirect.status, StatusCode::PERMANENT_REDIRECT);
    let missing = h
        .raw(Request::get("/console/../Cargo.toml").body(Body::empty()).unwrap())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = h
        .raw(Request::get("/console/secrets.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_overview_shows_chips_and_stays_inside_the_organization() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let (_, other_key) = h.org("Other").await;
    let integration = h.wecom_integration(&key).await;
    let id = integration["id"].as_str().unwrap();
    let overview = h.get("/api/admin/v1/integrations/overview", &key).await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    assert_eq!(overview.body[0]["id"], id);
    assert_eq!(overview.body[0]["chip"], "not_bound");
    assert_eq!(overview.body[0]["connectionMethod"], "credentials");

    let agent = h.echo_agent(&key, "helper").await;
    let publish = h
        .put(
            &format!("/api/admin/v1/triggers/{id}"),
            &key,
            Some(json!({"agentId": agent["id"]})),
        )
        .await;
    assert_eq!(publish.status, StatusCode::OK, "{}", publish.text);
    let overview = h.get("/api/admin/v1/integrations/overview", &key).await;
    assert_eq!(
        overview.body[0]["chip"], "ready",
        "an enabled, bound webhook integration waits for callbacks"
    );
    assert_eq!(overview.body[0]["agent"]["name"], "helper");
    let disable = h
        .post(&format!("/api/admin/v1/integrations/{id}/disable"), &key, None)
        .await;
    assert_eq!(disable.status, StatusCode::OK);
    let overview = h.get("/api/admin/v1/integrations/overview", &key).await;
    assert_eq!(overview.body[0]["chip"], "disabled");

    let foreign = h.get("/api/admin/v1/integrations/overview", &other_key).await;
    assert_eq!(foreign.body, json!([]), "another organization sees none of it");
    for path in ["metrics", "impact", "conversations", "explain?eventId=e1"] {
        let r = h
            .get(&format!("/api/admin/v1/integrations/{id}/{path}"), &other_key)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = h.get("/api/admin/v1/integrations/overview", BOOTSTRAP).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

fn line(at: Timestamp, kind: &str, event: &str) -> EventLogEntry {
    EventLogEntry {
        at,
        kind: kind.into(),
        event_id: Some(event.into()),
        detail: format!("{kind} in a test"),
    }
}

#[tokio::test]
async fn metrics_and_explain_read_the_event_log() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let integration = h.wecom_integration(&key).await;
    let id = integration["id"].as_str().unwrap();
    let int_id: IntegrationId = id.parse().unwrap();
    let now = Timestamp::now();
    let ttl = Duration::from_secs(3600);
    for entry in [
        line(now.minus(Duration::from_millis(1500)), "received", "m1"),
        line(now.minus(Duration::from_millis(300)), "replied", "m1"),
        line(now.minus(Duration::from_millis(200)), "received", "m2"),
        line(now.minus(Duration::from_millis(100)), "error", "m2"),
    ] {
        h.deps.store.record_event(&int_id, &entry, ttl).await.unwrap();
    }
    let m = h.get(&format!("/api/admin/v1/integrations/{id}/metrics"), &key).await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.text);
    let hours = m.body["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[23]["received"], 2);
    assert_eq!(hours[23]["replied"], 1);
    assert_eq!(hours[23]["errors"], 1);
    assert_eq!(m.body["repliesMeasured"], 1);
    assert_eq!(m.body["replyLatencyP50Ms"], 1200);

    let explain = |event: &'static str| {
        let h = &h;
        let key = key.clone();
        async move {
            h.get(
                &format!("/api/admin/v1/integrations/{id}/explain?eventId={event}"),
                &key,
            )
            .await
        }
    };
    let replied = explain("m1").await;
    assert_eq!(replied.body["outcome"], "replied", "{}", replied.text);
    assert_eq!(replied.body["events"].as_array().unwrap().len(), 2);
    assert_eq!(explain("m2").await.body["outcome"], "failed");
    let unknown = explain("never").await;
    assert_eq!(unknown.body["outcome"], "unknown");
    assert!(
        unknown.body["summary"].as_str().unwrap().contains("no trigger binds"),
        "{}",
        unknown.text
    );
    let r = h.get(&format!("/api/admin/v1/integrations/{id}/explain"), &key).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn conversations_are_listed_reset_and_counted_in_the_delete_impact() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let integration = h.wecom_integration(&key).await;
    let id = integration["id"].as_str().unwrap();
    let agent = h.echo_agent(&key, "helper").await;
    let agent_id: AgentId = agent["id"].as_str().unwrap().parse().unwrap();
    let publish = h
        .put(
            &format!("/api/admin/v1/triggers/{id}"),
            &key,
            Some(json!({"agentId": agent["id"]})),
        )
        .await;
    assert_eq!(publish.status, StatusCode::OK);
    let now = Timestamp::now();
    let session = Session {
        key: SessionKey {
            integration_id: id.parse().unwrap(),
            conversation: "chat-1".into(),
            sender: "alice".into(),
        },
        id: SessionId::generate(),
        agent_id,
        user_id: UserId::generate(),
        started_at: now,
        last_active_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        answer: None,
    };
    h.deps.store.put_session(&session).await.unwrap();

    let list = h
        .get(&format!("/api/admin/v1/integrations/{id}/conversations"), &key)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body[0]["conversation"], "chat-1");
    assert_eq!(list.body[0]["agent"]["name"], "helper");
    let impact = h.get(&format!("/api/admin/v1/integrations/{id}/impact"), &key).await;
    assert_eq!(impact.body["openConversations"], 1, "{}", impact.text);
    assert_eq!(impact.body["agent"]["name"], "helper");

    let reset = h
        .post(
            &format!("/api/admin/v1/integrations/{id}/conversations/{}/reset", session.id),
            &key,
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.text);
    let list = h
        .get(&format!("/api/admin/v1/integrations/{id}/conversations"), &key)
        .await;
    assert_eq!(list.body, json!([]));
    let again = h
        .post(
            &format!("/api/admin/v1/integrations/{id}/conversations/{}/reset", session.id),
            &key,
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

fn message(integration: &IntegrationId, event_id: &str) -> OutgoingMessage {
    let event = InboundEvent {
        event_id: event_id.into(),
        platform: imgate_core::Platform::Wecom,
        integration_id: integration.clone(),
        conversation: Conversation {
            id: "chat-1".into(),
            kind: ConversationKind::Direct,
            thread_id: None,
            name: None,
        },
        sender: Sender {
            id: "alice".into(),
            name: None,
            is_bot: false,
        },
        kind: InboundKind::Message(Message {
            text: "hello".into(),
            ..Message::default()
        }),
        reply: ReplyContext::WecomBot {
            response_url: None,
            req_id: None,
            stream_id: Some("s".into()),
            chat_type: "single".into(),
        },
        occurred_at: None,
        received_at: Timestamp::now(),
    };
    let group = event.session_key().queue_group();
    OutgoingMessage {
        group,
        dedupe_id: event_id.into(),
        body: Envelope::inbound(event, Timestamp::now()).to_body(),
    }
}

#[tokio::test]
async fn dead_letters_are_collected_listed_redriven_and_discarded() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let (_, other_key) = h.org("Other").await;
    let integration = h.wecom_integration(&key).await;
    let id: IntegrationId = integration["id"].as_str().unwrap().parse().unwrap();
    let queue = &h.deps.queue;
    for event in ["dead-1", "dead-2"] {
        queue.enqueue(&message(&id, event)).await.unwrap();
    }
    let entry = line(Timestamp::now(), "error", "dead-1");
    h.deps
        .store
        .record_event(&id, &entry, Duration::from_secs(600))
        .await
        .unwrap();
    // Fail every attempt until both move to the dead-letter queue.
    for _ in 0..12 {
        for delivery in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
            queue.retry_later(&delivery.receipt, Duration::ZERO).await.unwrap();
        }
    }
    assert!(queue.receive(10, Duration::from_secs(30)).await.unwrap().is_empty());

    let foreign = h.get("/api/admin/v1/dead-letters", &other_key).await;
    assert_eq!(foreign.body, json!([]), "{}", foreign.text);
    let list = h.get("/api/admin/v1/dead-letters", &key).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let letters = list.body.as_array().unwrap();
    assert_eq!(letters.len(), 2, "{}", list.text);
    let first = letters.iter().find(|l| l["eventId"] == "dead-1").unwrap();
    assert_eq!(
        first["reason"], "error in a test",
        "the reason comes from the event log"
    );
    assert!(!list.text.contains("hello"), "the message text is not shown");
    let second = letters.iter().find(|l| l["eventId"] == "dead-2").unwrap();
    assert!(second["reason"].as_str().unwrap().contains("delivery attempts failed"));
    let again = h.get("/api/admin/v1/dead-letters", &key).await;
    assert_eq!(again.body.as_array().unwrap().len(), 2, "listing twice keeps them");

    let first_id = first["id"].as_str().unwrap();
    let path = format!("/api/admin/v1/dead-letters/{first_id}/redrive");
    let r = h.post(&path, &other_key, None).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another organization cannot redrive it"
    );
    let r = h.post(&path, &key, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let back = queue.receive(10, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(back[0].body.contains("dead-1"));

    let second_id = second["id"].as_str().unwrap();
    let r = h.delete(&format!("/api/admin/v1/dead-letters/{second_id}"), &key).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = h.delete(&format!("/api/admin/v1/dead-letters/{second_id}"), &key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let list = h.get("/api/admin/v1/dead-letters", &key).await;
    assert_eq!(list.body, json!([]));
}

#[tokio::test]
async fn trying_an_agent_streams_its_answer() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let agent = h.echo_agent(&key, "echo").await;
    let id = agent["id"].as_str().unwrap();
    let r = h
        .post(
            &format!("/api/admin/v1/agents/{id}/try"),
            &key,
            Some(json!({"text": "ping"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let lines: Vec<Value> = r.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true, "{}", r.text);
    assert!(last["text"].as_str().unwrap().contains("ping"));
    let streamed: String = lines.iter().filter_map(|l| l["delta"].as_str()).collect();
    assert_eq!(streamed, last["text"].as_str().unwrap());

    let empty = h
        .post(
            &format!("/api/admin/v1/agents/{id}/try"),
            &key,
            Some(json!({"text": "  "})),
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = h
        .post("/api/admin/v1/agents/agt_nope/try", &key, Some(json!({"text": "ping"})))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_platform_catalog_lists_every_mode_with_its_fields() {
    let h = Harness::new().await;
    let (_, key) = h.org("Acme").await;
    let r = h.get("/api/admin/v1/platforms", &key).await;
    assert_eq!(r.status, StatusCode::OK);
    let platforms = r.body.as_array().unwrap();
    assert_eq!(platforms.len(), 7);
    let wecom = platforms.iter().find(|p| p["platform"] == "wecom").unwrap();
    assert_eq!(wecom["modes"].as_array().unwrap().len(), 2);
    let token = &wecom["modes"][0]["fields"][0];
    assert_eq!(token["name"], "token");
    assert_eq!(token["secret"], true);
    let wechat = platforms.iter().find(|p| p["platform"] == "wechat").unwrap();
    assert_eq!(wechat["connectionMethod"], "qr_login");
    assert_eq!(wechat["modes"].as_array().unwrap().len(), 1);
}
