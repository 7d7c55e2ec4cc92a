//! Media end to end, in the gateway `imgate serve` runs: Telegram webhook updates with a photo,
//! a document and an oversized video reach the OpenAI-compatible fake agent as an inline
//! `image_url` part, a working link, and a line saying what was not fetched. On the embedded
//! store the files are kept in the gateway's media directory and served at `/media/{token}`;
//! on DynamoDB/SQS (moto) in an S3 bucket behind presigned URLs.
//!
//! The platforms' real fetchers are tested with their own fakes; here a stand-in fetcher
//! serves the files by their `file_id`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use imgate_core::media::MediaSettings;
use imgate_core::ports::{Deps, MediaStore};
use imgate_core::testing::media::{FakeMediaFetcher, PNG};
use imgate_tests::fake_agent::{FakeAgent, user_text};
use imgate_tests::fake_telegram::FakeTelegram;
use imgate_tests::gateway::{Gateway, Media};
use imgate_tests::world::{TestOrg, eventually};
use serde_json::{Value, json};

const TOKEN: &str = "123456:TEST-bot-token";
const SECRET: &str = "webhook-secret_1";
const WAIT: Duration = Duration::from_secs(10);
const PDF: &[u8] = b"%PDF-1.4\n% a small report\n";
const MB: u64 = 1024 * 1024;

/// The embedded backend; files in the gateway's own media directory.
async fn embedded() -> (Deps, Option<Arc<dyn MediaStore>>) {
    (imgate_tests::world::embedded_deps(2).await, None)
}

/// DynamoDB, SQS and KMS on moto; files in a fresh S3 bucket there.
async fn moto() -> (Deps, Option<Arc<dyn MediaStore>>) {
    let deps = imgate_tests::aws::fresh_deps(2).await.unwrap();
    let store = imgate_tests::aws::fresh_media_store().await.unwrap();
    (deps, Some(Arc::new(store)))
}

/// The last user message of every call the agent received, and its text.
fn questions(agent: &FakeAgent) -> Vec<(Value, String)> {
    agent
        .requests()
        .iter()
        .filter_map(|r| r["messages"].as_array()?.last().cloned())
        .map(|m| {
            let text = user_text(&m["content"]);
            (m, text)
        })
        .collect()
}

/// A private-chat update from user 1001 with `fields` (a caption, a photo, a document, …).
fn update(fake: &FakeTelegram, update_id: i64, fields: Value) -> Value {
    let mut message = fake.text_update(1001, 1001, "")["message"].clone();
    let object = message.as_object_mut().unwrap();
    object.remove("text");
    object.remove("entities");
    object.extend(fields.as_object().unwrap().clone());
    json!({"update_id": update_id, "message": message})
}

async fn photos_files_and_oversized_videos_reach_the_agent(backend: (Deps, Option<Arc<dyn MediaStore>>)) {
    let (deps, store) = backend;
    let fake = FakeTelegram::start(TOKEN).await;
    let mut endpoints = imgate_channels::Endpoints::default();
    endpoints.telegram.api = fake.base.clone();
    let org = TestOrg::create(&deps).await;
    let fetcher = FakeMediaFetcher::default()
        .with("photo-1", PNG, None)
        .with("doc-1", PDF, Some("application/pdf"))
        .with("video-1", b"never asked for", None);
    let media = Media {
        fetcher: Some(Arc::new(fetcher.clone())),
        store,
        settings: MediaSettings::default(),
    };
    let gateway = Gateway::start_with_media(deps.clone(), 2, true, &endpoints, media).await;
    let agent = FakeAgent::start(&["Got it."]).await;
    let agent_id = org
        .agent(json!({"name": "gpt", "kind": "openai_compatible",
            "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-test", "timeout_seconds": 10}}))
        .await;
    let id = org
        .bot(
            json!({"name": "tg", "platform": "telegram", "mode": "webhook",
                "credentials": {"bot_token": TOKEN, "secret_token": SECRET}}),
            Some(&agent_id),
            json!({}),
        )
        .await;
    let http = reqwest::Client::new();
    let post = |update: Value| {
        let request = http
            .post(format!("{}/api/telegram/webhook/{id}", gateway.base))
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .json(&update);
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    let asked = |n: usize| {
        let agent = agent.clone();
        async move {
            eventually(&format!("agent call {n}"), WAIT, || {
                let agent = agent.clone();
                async move { agent.calls() >= n }
            })
            .await;
        }
    };

    // A photo with a caption: the picture travels inline, after the caption's text part.
    post(update(
        &fake,
        1,
        json!({"caption": "what is this?", "photo": [
            {"file_id": "photo-thumb", "width": 90, "height": 90, "file_size": 100},
            {"file_id": "photo-1", "width": 800, "height": 600, "file_size": PNG.len()},
        ]}),
    ))
    .await;
    asked(1).await;
    let png = base64::engine::general_purpose::STANDARD.encode(PNG);
    assert_eq!(agent.images(), [format!("data:image/png;base64,{png}")]);
    let (message, text) = questions(&agent).remove(0);
    assert_eq!(message["content"][0], json!({"type": "text", "text": "what is this?"}));
    assert_eq!(text, "what is this?");

    // A document: a link in the text that serves the file without credentials.
    post(update(
        &fake,
        2,
        json!({"caption": "summarize", "document":
            {"file_id": "doc-1", "file_name": "report.pdf", "mime_type": "application/pdf", "file_size": PDF.len()}}),
    ))
    .await;
    asked(2).await;
    let (_, text) = questions(&agent).remove(1);
    assert!(
        text.starts_with("summarize\n\n(the user sent a 26-byte file “report.pdf” (application/pdf), kept at "),
        "{text}"
    );
    let url = text
        .split("kept at ")
        .nth(1)
        .and_then(|rest| rest.split(" until ").next())
        .unwrap();
    let served = http.get(url).send().await.unwrap();
    assert_eq!(served.status(), 200, "{url}");
    assert_eq!(served.headers()["content-type"], "application/pdf");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PDF);

    // A video over the cap: described, never downloaded, and the conversation goes on.
    post(update(
        &fake,
        3,
        json!({"video": {"file_id": "video-1", "mime_type": "video/mp4", "file_size": 40 * MB}}),
    ))
    .await;
    asked(3).await;
    let (_, text) = questions(&agent).remove(2);
    assert_eq!(
        text,
        "(the user sent a 40 MB video that was not fetched: larger than the 20 MB limit)"
    );
    assert_eq!(fetcher.fetched(), ["photo-1", "doc-1"]);
    let fake = &fake;
    eventually("three answers", WAIT, || async move {
        fake.messages().iter().filter(|m| m.text == "Got it.").count() == 3
    })
    .await;

    // The event log says what happened to each file, without links (the lines are stored with
    // the answer's mark, just after the answer is shown).
    let media_lines = || async {
        let lines = deps
            .store
            .recent_events(&id, 200, imgate_core::Timestamp::now())
            .await
            .unwrap();
        lines
            .into_iter()
            .filter(|e| e.kind == "media")
            .map(|e| e.detail)
            .collect::<Vec<_>>()
    };
    eventually("three media lines", WAIT, || async { media_lines().await.len() == 3 }).await;
    let media = media_lines().await;
    assert!(media.contains(&"video 1 of 1 (40 MB) not fetched: larger than the 20 MB limit".to_owned()));
    assert!(media.iter().all(|d| !d.contains("http")), "{media:?}");
}

imgate_tests::on_both_backends!(photos_files_and_oversized_videos_reach_the_agent);
