//! The webhook and dispatcher Lambdas' code paths on DynamoDB, SQS and KMS (moto's server):
//! a signed WeCom callback goes through the webhook router as an API Gateway v2 event, the SQS
//! message is received with the AWS SDK and shaped into the event Lambda's SQS source delivers,
//! and `imgate_dispatcher_fn::handle` answers it with a partial batch response. Lambda's side of
//! `ReportBatchItemFailures` (delete what succeeded, redeliver what failed) is played by the test.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use http_body_util::BodyExt;
use imgate_channels::wecom::simulate::{SignedCallback, Simulator};
use imgate_core::admin::{Admin, AdminSettings, CreateAgent, CreateIntegration, PublishTrigger};
use imgate_core::ports::{Deps, StreamState};
use imgate_core::{IntegrationId, Timestamp};
use imgate_dispatcher_fn::{Settings, SqsEvent};
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::moto::MotoServer;
use serde_json::{Value, json};
use tower::ServiceExt;

const BOOTSTRAP: &str = "lambda-dispatcher-bootstrap-key";
const TOKEN: &str = "t0k3nForLambdaTests";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const MAX_RECEIVES: u32 = 3;

/// The backend plus what the Lambda event source knows: the FIFO queue's URL and ARN.
struct Backend {
    deps: Deps,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    queue_arn: String,
}

async fn backend() -> Result<Backend> {
    let backend = imgate_tests::aws::fresh_backend_with(&MotoServer::shared().sdk_config(), MAX_RECEIVES).await?;
    Ok(Backend {
        deps: backend.deps,
        sqs: backend.sqs,
        queue_url: backend.settings.queue_url,
        queue_arn: backend.queue_arn,
    })
}

/// An organization with a WeCom smart bot bound to an agent at `agent_base_url`; returns the
/// integration id.
async fn bot_bound_to(admin: &Admin, org: &str, agent_base_url: &str) -> Result<String> {
    let boot = admin.authenticate(Some(BOOTSTRAP)).await?;
    let org = admin.create_org(&boot, org).await?;
    let p = admin.authenticate(Some(&org.api_key.token)).await?;
    let integration = admin
        .create_integration(
            &p,
            serde_json::from_value::<CreateIntegration>(json!({"name": "bot", "platform": "wecom",
                "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}}))?,
        )
        .await?;
    let agent = admin
        .create_agent(
            &p,
            serde_json::from_value::<CreateAgent>(json!({"name": "gpt", "kind": "openai_compatible",
                "config": {"base_url": agent_base_url, "model": "test-model", "api_key": "sk-test", "timeout_seconds": 60}}))?,
        )
        .await?;
    admin
        .publish_trigger(
            &p,
            &integration.id,
            serde_json::from_value::<PublishTrigger>(json!({"agentId": agent.id}))?,
        )
        .await?;
    Ok(integration.id)
}

/// POSTs a callback through the webhook router as API Gateway (HTTP API, payload v2) delivers
/// it to the webhook Lambda; returns the stream id of the passive reply.
async fn post_callback(
    app: &axum::Router,
    sim: &Simulator,
    integration: &str,
    callback: &SignedCallback,
) -> Result<String> {
    let path = format!("/api/wecom/webhook/{integration}");
    let event = json!({
        "version": "2.0",
        "routeKey": "ANY /api/{platform}/webhook/{integrationId}",
        "rawPath": path,
        "rawQueryString": callback.query,
        "headers": {"content-type": "application/json", "user-agent": "WeCom"},
        "pathParameters": {"platform": "wecom", "integrationId": integration},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api1", "domainName": "api1.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "api1", "requestId": "req-1", "routeKey": "ANY /api/{platform}/webhook/{integrationId}",
            "stage": "$default", "time": "21/Nov/2026:07:00:00 +0000", "timeEpoch": 1_795_244_400_000_i64,
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "WeCom"}
        },
        "body": callback.body,
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).context("lambda event")?;
    let response = app.clone().oneshot(request).await.context("router")?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8(bytes.to_vec())?;
    anyhow::ensure!(status == 200, "webhook answered {status}: {body}");
    let frame = sim.read_stream(&body)?;
    anyhow::ensure!(
        !frame.finished && !frame.id.is_empty(),
        "a first, open frame: {frame:?}"
    );
    Ok(frame.id)
}

/// Receives until `want` messages are in hand (or fails after a while), hidden for `visibility`.
async fn receive(b: &Backend, want: usize, visibility: Duration) -> Result<Vec<Message>> {
    receive_until(b, want, visibility, Duration::from_secs(20)).await
}

/// Polls like Lambda's poller until `want` messages are in hand, for at most `limit`.
async fn receive_until(b: &Backend, want: usize, visibility: Duration, limit: Duration) -> Result<Vec<Message>> {
    let started = Instant::now();
    let mut messages = Vec::new();
    while messages.len() < want {
        anyhow::ensure!(
            started.elapsed() < limit,
            "only {} of {want} messages arrived within {limit:?}",
            messages.len()
        );
        let out = b
            .sqs
            .receive_message()
            .queue_url(&b.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(i32::try_from(visibility.as_secs())?)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let got = out.messages.unwrap_or_default();
        if got.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        messages.extend(got);
    }
    Ok(messages)
}

/// The event Lambda's SQS event source would deliver for `messages`.
fn sqs_event(b: &Backend, messages: &[Message]) -> Result<SqsEvent> {
    Ok(imgate_tests::event_source::sqs_event(&b.queue_arn, messages)?)
}

/// Runs one dispatcher invocation; returns the response as Lambda reads it (JSON).
async fn invoke(b: &Backend, dispatcher: &imgate_core::dispatch::Dispatcher, messages: &[Message]) -> Result<Value> {
    let response = imgate_dispatcher_fn::handle(dispatcher, sqs_event(b, messages)?).await?;
    Ok(serde_json::to_value(response)?)
}

/// The message ids `response` reports failed.
fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Lambda's part after a partial batch response: delete the records that succeeded. (The
/// failed ones come back when their visibility timeout ends; the test ends it at once.)
async fn settle(b: &Backend, messages: &[Message], failed: &[String]) -> Result<()> {
    for m in messages {
        let handle = m.receipt_handle().context("receipt")?;
        if failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
            b.sqs
                .change_message_visibility()
                .queue_url(&b.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await?;
        } else {
            b.sqs
                .delete_message()
                .queue_url(&b.queue_url)
                .receipt_handle(handle)
                .send()
                .await?;
        }
    }
    Ok(())
}

async fn stream(deps: &Deps, integration: &str, id: &str) -> Result<StreamState> {
    let integration: IntegrationId = integration.parse()?;
    deps.store
        .get_stream(&integration, id, Timestamp::now())
        .await?
        .with_context(|| format!("stream {id}"))
}

/// The dispatcher function's handler over the backend (WeCom's API unreachable: smart-bot
/// answers go through the stream buffers).
fn dispatcher(b: &Backend) -> Result<imgate_core::dispatch::Dispatcher> {
    Ok(imgate_dispatcher_fn::dispatcher(
        &b.deps,
        &Settings {
            max_receives: MAX_RECEIVES,
            wecom_api_base: "http://127.0.0.1:9".into(),
            ..Settings::default()
        },
    )?)
}

/// The admin API over the backend, as the admin function serves it.
fn admin(b: &Backend) -> Admin {
    Admin::new(
        b.deps.clone(),
        AdminSettings {
            public_base_url: "https://api1.execute-api.us-east-1.amazonaws.com".into(),
            bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP)),
        },
    )
}

fn attribute<'m>(m: &'m Message, name: &MessageSystemAttributeName) -> Option<&'m str> {
    m.attributes().and_then(|a| a.get(name)).map(String::as_str)
}

#[tokio::test]
async fn sqs_batches_answer_into_stream_buffers_and_report_failed_records() -> Result<()> {
    let b = backend().await?;
    let admin = admin(&b);
    let good_agent = FakeAgent::start(&["Hello", " from", " Lambda"]).await;
    let bad_agent = FakeAgent::start(&["Better", " late"]).await;
    bad_agent.set_down(true);
    let good = bot_bound_to(&admin, "good", &good_agent.base_url).await?;
    let bad = bot_bound_to(&admin, "bad", &bad_agent.base_url).await?;

    // The webhook Lambda's router enqueues three messages in two conversations.
    let sim = Simulator::new(TOKEN, AES_KEY)?;
    let webhook = imgate_http::webhook_app(imgate_channels::Webhooks::new(&b.deps));
    let good_stream = post_callback(&webhook, &sim, &good, &sim.text("g-1", "zhangsan", None, "你好", None)).await?;
    let bad_first = post_callback(&webhook, &sim, &bad, &sim.text("b-1", "lisi", None, "first", None)).await?;
    let bad_second = post_callback(&webhook, &sim, &bad, &sim.text("b-2", "lisi", None, "second", None)).await?;

    let messages = receive(&b, 3, Duration::from_secs(60)).await?;
    assert_eq!(messages.len(), 3);
    let groups: Vec<&str> = messages
        .iter()
        .map(|m| attribute(m, &MessageSystemAttributeName::MessageGroupId).unwrap_or_default())
        .collect();
    assert!(
        groups.iter().all(|g| !g.is_empty()),
        "FIFO records carry their group: {groups:?}"
    );
    assert_eq!(
        groups.iter().collect::<std::collections::HashSet<_>>().len(),
        2,
        "two conversations"
    );
    let records = imgate_dispatcher_fn::sqs::records(sqs_event(&b, &messages)?)?;
    assert!(records.iter().all(|r| r.receive_count == 1), "{records:?}");

    // First invocation: the good conversation is answered; the bad one fails, and with it the
    // rest of its conversation, so SQS keeps the order.
    let dispatcher = dispatcher(&b)?;
    let response = invoke(&b, &dispatcher, &messages).await?;
    let failed = failures(&response);
    let bad_ids: Vec<String> = messages
        .iter()
        .filter(|m| m.body().is_some_and(|body| body.contains(&bad)))
        .filter_map(|m| m.message_id().map(str::to_owned))
        .collect();
    assert_eq!(bad_ids.len(), 2);
    let mut sorted = failed.clone();
    sorted.sort();
    let mut expected = bad_ids.clone();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "both records of the failing conversation are reported: {response}"
    );
    assert_eq!(
        response,
        json!({"batchItemFailures": failed.iter().map(|id| json!({"itemIdentifier": id})).collect::<Vec<_>>()})
    );

    let answered = stream(&b.deps, &good, &good_stream).await?;
    assert!(answered.finished);
    assert_eq!(answered.content, "Hello from Lambda");
    assert_eq!(good_agent.calls(), 1);
    assert!(
        !stream(&b.deps, &bad, &bad_first).await?.finished,
        "a retry is still coming"
    );
    settle(&b, &messages, &failed).await?;

    // Second invocation, as SQS redelivers the failed records: the agent is back, both
    // messages are answered in order, and nothing is left to retry.
    bad_agent.set_down(false);
    let again = receive(&b, 2, Duration::from_secs(60)).await?;
    let mut again_ids: Vec<String> = again.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect();
    again_ids.sort();
    assert_eq!(again_ids, expected, "only the failed records come back");
    assert!(
        again
            .iter()
            .all(|m| attribute(m, &MessageSystemAttributeName::ApproximateReceiveCount) == Some("2")),
        "second receive"
    );
    let response = invoke(&b, &dispatcher, &again).await?;
    assert_eq!(response, json!({"batchItemFailures": []}));
    settle(&b, &again, &[]).await?;
    for id in [&bad_first, &bad_second] {
        let answered = stream(&b.deps, &bad, id).await?;
        assert!(answered.finished, "{id}");
        assert_eq!(answered.content, "Better late");
    }
    let history = bad_agent.last_request().context("a request")?["messages"]
        .as_array()
        .context("messages")?
        .clone();
    assert_eq!(
        history.len(),
        3,
        "the second message saw the first one's answer: {history:?}"
    );
    assert_eq!(history[2]["content"], "second");

    // A redelivery of answered records is acknowledged without a second answer.
    let calls = good_agent.calls() + bad_agent.calls();
    let replay = invoke(&b, &dispatcher, &messages).await?;
    assert_eq!(replay, json!({"batchItemFailures": []}));
    assert_eq!(good_agent.calls() + bad_agent.calls(), calls, "no agent called again");
    Ok(())
}

/// An OpenAI-compatible agent that, while `hang` is set, streams its first words and then
/// never finishes (an answer in progress when the dispatcher dies); otherwise it answers at once.
async fn hanging_agent(hang: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Result<String> {
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let hang = hang.load(Ordering::SeqCst);
            async move {
                let first = json!({"choices": [{"index": 0, "delta": {"content": "Thinking it over"}}]});
                let done = json!({"choices": [{"index": 0, "delta": {"content": "; done"}}]});
                let head =
                    futures_util::stream::once(async move { Ok::<_, std::io::Error>(format!("data: {first}\n\n")) });
                let tail: futures_util::stream::BoxStream<'static, std::io::Result<String>> = if hang {
                    Box::pin(futures_util::stream::pending())
                } else {
                    Box::pin(futures_util::stream::iter([
                        Ok(format!("data: {done}\n\n")),
                        Ok("data: [DONE]\n\n".to_owned()),
                    ]))
                };
                (
                    [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                    axum::body::Body::from_stream(futures_util::StreamExt::chain(head, tail)),
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

#[tokio::test]
async fn a_dispatcher_that_dies_mid_answer_frees_its_conversation_within_the_visibility() -> Result<()> {
    use std::sync::atomic::Ordering;
    let b = backend().await?;
    let admin = admin(&b);
    let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let agent = hanging_agent(hang.clone()).await?;
    let bot = bot_bound_to(&admin, "crash", &agent).await?;
    let sim = Simulator::new(TOKEN, AES_KEY)?;
    let webhook = imgate_http::webhook_app(imgate_channels::Webhooks::new(&b.deps));
    let first = post_callback(&webhook, &sim, &bot, &sim.text("c-1", "wangwu", None, "first", None)).await?;
    let dispatcher = dispatcher(&b)?;

    // Lambda's poller receives with the queue's visibility (the template's 5,400 s); the
    // handler shortens it at once and keeps it short with its heartbeat.
    let queue_visibility = Duration::from_secs(5400);
    let batch = receive(&b, 1, queue_visibility).await?;
    assert_eq!(batch.len(), 1);
    // The user writes again while the first answer runs: it waits behind it. (Posted after the
    // receive: moto, unlike SQS, may hand out a group's messages out of order when several of
    // them were in flight together.)
    let second = post_callback(&webhook, &sim, &bot, &sim.text("c-2", "wangwu", None, "second", None)).await?;
    let invocation = {
        let (b_event, dispatcher) = (sqs_event(&b, &batch)?, dispatcher.clone());
        tokio::spawn(async move { imgate_dispatcher_fn::handle(&dispatcher, b_event).await })
    };
    // The answer is streaming: its first words reach the stream buffer WeCom pulls.
    let started = Instant::now();
    while !stream(&b.deps, &bot, &first).await?.content.contains("Thinking") {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "the answer never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Still hidden while the function lives, longer than a heartbeat period.
    tokio::time::sleep(imgate_core::dispatch::heartbeat::HEARTBEAT_EVERY + Duration::from_secs(2)).await;
    let out = b
        .sqs
        .receive_message()
        .queue_url(&b.queue_url)
        .visibility_timeout(1)
        .send()
        .await?;
    assert!(
        out.messages.unwrap_or_default().is_empty(),
        "a live handler's message stays hidden"
    );

    // The function dies mid-answer (the runtime is frozen or killed): nothing more runs.
    assert!(
        !invocation.is_finished(),
        "the answer is still running when the function dies"
    );
    invocation.abort();
    let died = Instant::now();
    hang.store(false, Ordering::SeqCst);

    // The poller gets the message back within the dispatcher's visibility, not the queue's.
    let again = receive_until(&b, 1, queue_visibility, Duration::from_secs(45)).await?;
    let back_after = died.elapsed();
    assert!(
        back_after <= imgate_core::dispatch::heartbeat::VISIBILITY + Duration::from_secs(5),
        "back after {back_after:?}"
    );
    assert_eq!(again[0].body(), batch[0].body(), "in order");
    let mut handled = 0;
    let mut messages = again;
    loop {
        let response = invoke(&b, &dispatcher, &messages).await?;
        assert_eq!(response, json!({"batchItemFailures": []}));
        settle(&b, &messages, &[]).await?;
        handled += messages.len();
        if handled >= 2 {
            break;
        }
        messages = receive(&b, 1, queue_visibility).await?;
    }
    for id in [&first, &second] {
        let answered = stream(&b.deps, &bot, id).await?;
        assert!(answered.finished, "{id}");
        assert_eq!(answered.content, "Thinking it over; done");
    }
    assert!(
        died.elapsed() < Duration::from_secs(60),
        "the conversation was answered within a minute of the crash: {:?}",
        died.elapsed()
    );
    Ok(())
}
