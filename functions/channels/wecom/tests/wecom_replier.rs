//! The WeCom replier over the embedded store against a fake WeCom: stream buffer writes,
//! rollover past 20,480 bytes and before the 6-minute window through the single-use
//! `response_url`, failure cards, redeliveries, and self-built app replies; an answer's images
//! (uploaded and sent once by an app, in the finishing frame's `msg_item` of a callback stream).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use base64::Engine;
use imgate_core::credentials::{Credentials, WecomWebhook};
use imgate_core::event::ReplyContext;
use imgate_core::ports::{Deps, Replier, ReplyTarget, StreamState, TokenCache};
use imgate_core::secret::Secret;
use imgate_core::testing::reply_target;
use imgate_core::{IntegrationId, Platform, Timestamp};
use imgate_wecom::api::AppClient;
use imgate_wecom::format::MAX_CONTENT_BYTES;
use imgate_wecom::reply::WecomReplier;
use imgate_wecom::reply::payload::NEW_SESSION_KEY;
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    response_posts: Vec<Value>,
    app_sends: Vec<Value>,
    uploads: Vec<(String, String, usize)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn fake_wecom() -> (String, Shared) {
    let shared = Shared::default();
    let app = axum::Router::new()
        .route(
            "/cgi-bin/aibot/response",
            post(|State(f): State<Shared>, Json(body): Json<Value>| async move {
                f.lock().unwrap().response_posts.push(body);
                Json(json!({"errcode": 0, "errmsg": "ok"}))
            }),
        )
        .route(
            "/cgi-bin/gettoken",
            get(|| async { Json(json!({"errcode": 0, "errmsg": "ok", "access_token": "TOKEN", "expires_in": 7200})) }),
        )
        .route(
            "/cgi-bin/message/send",
            post(|State(f): State<Shared>, Json(body): Json<Value>| async move {
                f.lock().unwrap().app_sends.push(body);
                Json(json!({"errcode": 0, "errmsg": "ok"}))
            }),
        )
        .merge(images::routes())
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, shared)
}

struct World {
    deps: Deps,
    replier: WecomReplier,
    fake: Shared,
    base: String,
    integration: IntegrationId,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let (deps, _) = imgate_embedded::open(&dir.path().join("db"), &dir.path().join("key"), Default::default())
        .await
        .unwrap();
    let (base, fake) = fake_wecom().await;
    let http = reqwest::Client::new();
    let tokens: Arc<dyn TokenCache> = deps.store.clone();
    let app = AppClient::new(http.clone(), base.clone(), tokens, deps.keyring.clone());
    let replier = WecomReplier::new(deps.store.clone(), http, app);
    World {
        deps,
        replier,
        fake,
        base,
        integration: IntegrationId::generate(),
        _dir: dir,
    }
}

impl World {
    fn credentials(&self) -> Credentials {
        Credentials::WecomWebhook(WecomWebhook {
            token: Secret::new("t"),
            encoding_aes_key: Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            corp_id: Some("ww-corp".into()),
            corp_secret: Some(Secret::new("app-secret")),
        })
    }

    /// A bot event whose stream exists (as the webhook creates it), received `age` ago.
    async fn bot_target(&self, id: &str, age: Duration, with_stream: bool) -> ReplyTarget {
        let stream_id = format!("s-{id}");
        if with_stream {
            let state = StreamState {
                integration_id: self.integration.clone(),
                id: stream_id.clone(),
                content: "thinking".into(),
                finished: false,
                card: None,
                version: 1,
                created_at: Timestamp::now(),
                expires_at: Timestamp::now().plus(Duration::from_secs(3600)),
            };
            assert!(self.deps.store.create_stream(&state).await.unwrap());
        }
        let reply = ReplyContext::WecomBot {
            response_url: Some(format!("{}/cgi-bin/aibot/response?response_code={id}", self.base)),
            req_id: None,
            stream_id: Some(stream_id),
            chat_type: "single".into(),
        };
        self.target(id, reply, Timestamp::now().minus(age))
    }

    fn target(&self, id: &str, reply: ReplyContext, received_at: Timestamp) -> ReplyTarget {
        reply_target(
            Platform::Wecom,
            &self.integration,
            self.credentials(),
            reply,
            id,
            received_at,
        )
    }

    async fn stream(&self, id: &str) -> StreamState {
        self.deps
            .store
            .get_stream(&self.integration, &format!("s-{id}"), Timestamp::now())
            .await
            .unwrap()
            .unwrap()
    }

    fn posts(&self) -> Vec<Value> {
        self.fake.lock().unwrap().response_posts.clone()
    }
}

fn long_answer(bytes: usize) -> String {
    let paragraph = "这是一个很长的回答，用来测试分段。This paragraph tests rollover.\n\n";
    paragraph.repeat(bytes / paragraph.len() + 1)
}

#[tokio::test]
async fn streams_cumulative_updates_then_finishes() {
    let w = world().await;
    let mut reply = w
        .replier
        .open(w.bot_target("m1", Duration::ZERO, true).await)
        .await
        .unwrap();
    reply.update("Hello").await.unwrap();
    assert_eq!(w.stream("m1").await.content, "Hello");
    reply.update("Hello world").await.unwrap();
    reply.finish("Hello world!").await.unwrap();
    let state = w.stream("m1").await;
    assert_eq!((state.content.as_str(), state.finished), ("Hello world!", true));
    assert!(w.posts().is_empty());
}

#[tokio::test]
async fn answers_over_the_stream_limit_continue_through_response_url() {
    let w = world().await;
    let answer = long_answer(30_000);
    let mut reply = w
        .replier
        .open(w.bot_target("m2", Duration::ZERO, true).await)
        .await
        .unwrap();
    reply.update(&answer[..12]).await.unwrap();
    reply.finish(&answer).await.unwrap();
    let state = w.stream("m2").await;
    assert!(state.finished);
    assert!(
        state.content.len() <= MAX_CONTENT_BYTES,
        "{} bytes",
        state.content.len()
    );
    assert!(state.content.ends_with('…'));
    let posts = w.posts();
    assert_eq!(posts.len(), 1, "one follow-up message");
    let rest = posts[0]["markdown"]["content"].as_str().unwrap();
    let shown = state.content.trim_end_matches('…').trim_end();
    let rejoined = format!("{shown}\n\n{rest}");
    assert_eq!(
        rejoined.replace("\n\n\n\n", "\n\n").trim(),
        answer.trim(),
        "nothing is lost between the two messages"
    );
}

#[tokio::test]
async fn streams_near_the_six_minute_window_are_finished_and_continued() {
    let w = world().await;
    let mut reply = w
        .replier
        .open(w.bot_target("m3", Duration::from_secs(340), true).await)
        .await
        .unwrap();
    reply.update("First part").await.unwrap();
    let state = w.stream("m3").await;
    assert!(state.finished, "finished before WeCom stops asking");
    assert!(state.content.starts_with("First part"));
    reply.finish("First part and the rest").await.unwrap();
    let posts = w.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["markdown"]["content"], "and the rest");
}

#[tokio::test]
async fn an_answer_after_the_pull_window_goes_whole_through_response_url() {
    // A message redelivered after a crash, or one that waited in the queue: WeCom stopped
    // pulling its stream 6 minutes after the user's message.
    let w = world().await;
    let target = w.bot_target("m7", Duration::from_secs(400), true).await;
    let mut reply = w.replier.open(target.clone()).await.unwrap();
    let state = w.stream("m7").await;
    assert!(state.finished, "the stale bubble is closed");
    assert_eq!(state.content, "thinking", "and left as WeCom last showed it");
    reply.update("The whole").await.unwrap();
    reply.finish("The whole answer").await.unwrap();
    assert_eq!(
        w.stream("m7").await.content,
        "thinking",
        "nothing more is written where nobody looks"
    );
    let posts = w.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["markdown"]["content"], "The whole answer");
    // A redelivery after that shows nothing twice.
    let mut again = w.replier.open(target).await.unwrap();
    again.finish("The whole answer").await.unwrap();
    assert_eq!(w.posts().len(), 1);
}

#[tokio::test]
async fn a_short_answer_finished_past_the_window_is_not_left_in_the_stream() {
    let w = world().await;
    let mut reply = w
        .replier
        .open(w.bot_target("m8", Duration::from_secs(359), true).await)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    reply.finish("short").await.unwrap();
    assert!(w.stream("m8").await.finished);
    let posts = w.posts();
    assert_eq!(posts.len(), 1, "the answer reaches the user through response_url");
    assert_eq!(posts[0]["markdown"]["content"], "short");
}

#[tokio::test]
async fn a_redelivered_answer_shows_nothing_twice() {
    let w = world().await;
    let target = w.bot_target("m4", Duration::ZERO, true).await;
    let mut first = w.replier.open(target.clone()).await.unwrap();
    first.finish("the answer").await.unwrap();
    let mut again = w.replier.open(target).await.unwrap();
    again.update("other").await.unwrap();
    again.finish("another answer").await.unwrap();
    again.fail("boom").await.unwrap();
    let state = w.stream("m4").await;
    assert_eq!(state.content, "the answer");
    assert!(state.card.is_none());
    assert!(w.posts().is_empty());
}

#[tokio::test]
async fn failures_show_a_new_conversation_card() {
    let w = world().await;
    let mut reply = w
        .replier
        .open(w.bot_target("m5", Duration::ZERO, true).await)
        .await
        .unwrap();
    reply.fail("Sorry — the agent failed").await.unwrap();
    let state = w.stream("m5").await;
    assert!(state.finished);
    assert!(state.content.contains("Sorry"));
    assert!(state.card.unwrap().to_string().contains(NEW_SESSION_KEY));
}

#[tokio::test]
async fn without_a_stream_the_response_url_is_used_once() {
    let w = world().await;
    let target = w.bot_target("m6", Duration::ZERO, false).await;
    for _ in 0..2 {
        let mut reply = w.replier.open(target.clone()).await.unwrap();
        reply.finish("late answer").await.unwrap();
    }
    let posts = w.posts();
    assert_eq!(posts.len(), 1, "single use, even when retried");
    assert_eq!(posts[0]["markdown"]["content"], "late answer");
}

#[tokio::test]
async fn app_replies_are_split_and_sent_once() {
    let w = world().await;
    let target = w.target(
        "app-1",
        ReplyContext::WecomApp {
            agent_id: "1000002".into(),
            to_user: "zhangsan".into(),
        },
        Timestamp::now(),
    );
    let answer = long_answer(5_000);
    for _ in 0..2 {
        let mut reply = w.replier.open(target.clone()).await.unwrap();
        reply.update("ignored partial").await.unwrap();
        reply.finish(&answer).await.unwrap();
    }
    let sends = w.fake.lock().unwrap().app_sends.clone();
    assert!(sends.len() >= 3, "5 KB goes out in several parts: {}", sends.len());
    let parts: Vec<&str> = sends
        .iter()
        .map(|s| s["markdown"]["content"].as_str().unwrap())
        .collect();
    assert!(parts.iter().all(|p| p.len() <= 2048));
    assert!(
        sends
            .iter()
            .all(|s| s["touser"] == "zhangsan" && s["agentid"].to_string().contains("1000002")),
        "{sends:?}"
    );
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert!(total >= answer.trim().len() - 16, "nothing dropped");
    // Without corp_secret an app reply cannot be sent: a clear error.
    let mut no_secret = target.clone();
    no_secret.credentials = Credentials::WecomWebhook(WecomWebhook {
        token: Secret::new("t"),
        encoding_aes_key: Secret::new("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
        corp_id: Some("ww-corp".into()),
        corp_secret: None,
    });
    let error = w.replier.open(no_secret).await.err().unwrap().to_string();
    assert!(error.contains("corp_secret"), "{error}");
}

#[tokio::test]
async fn an_app_uploads_each_image_and_sends_it_once() {
    let w = world().await;
    let target = w.target(
        "app-img-1",
        ReplyContext::WecomApp {
            agent_id: "1000002".into(),
            to_user: "zhangsan".into(),
        },
        Timestamp::now(),
    );
    let answer = format!(
        "Here:\n\n![chart]({0}/chart.png)\n\n![missing]({0}/gone.png)\n\nDone.",
        w.base
    );
    // Finished twice, as a redelivered queue message would.
    for _ in 0..2 {
        let mut reply = w.replier.open(target.clone()).await.unwrap();
        reply.finish(&answer).await.unwrap();
    }
    let sends = w.fake.lock().unwrap().app_sends.clone();
    assert_eq!(sends.len(), 3, "{sends:#?}");
    assert_eq!(sends[0]["msgtype"], "markdown");
    assert_eq!(sends[0]["markdown"]["content"], "Here:\n\nDone.");
    assert_eq!(
        sends[1],
        json!({"msgtype": "image", "image": {"media_id": "media-1"}, "touser": "zhangsan", "agentid": 1_000_002})
    );
    assert_eq!(sends[2]["msgtype"], "markdown");
    assert_eq!(
        sends[2]["markdown"]["content"],
        format!("[missing]({}/gone.png)", w.base)
    );
    let uploads = w.fake.lock().unwrap().uploads.clone();
    assert_eq!(
        uploads,
        [("image".to_owned(), "image-1.png".to_owned(), images::PNG.len())]
    );
}

#[tokio::test]
async fn a_callback_stream_finishes_with_its_images_as_msg_item() {
    let w = world().await;
    let target = w.bot_target("bot-img-1", Duration::ZERO, true).await;
    let mut reply = w.replier.open(target.clone()).await.unwrap();
    reply.update(&format!("Here: ![chart]({}/chart", w.base)).await.unwrap();
    assert_eq!(
        w.stream("bot-img-1").await.content,
        "Here: ",
        "an image still arriving is not shown half written"
    );
    reply
        .finish(&format!(
            "Here:\n\n![chart]({0}/chart.png)\n![missing]({0}/gone.png)",
            w.base
        ))
        .await
        .unwrap();
    let finished = w.stream("bot-img-1").await;
    assert!(finished.finished);
    assert_eq!(finished.content, format!("Here:\n\n[missing]({}/gone.png)", w.base));
    let frame = imgate_wecom::reply::images::frame(w.deps.store.as_ref(), &finished, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(frame["msgtype"], "stream");
    assert!(frame.get("template_card").is_none());
    let items = frame["stream"]["msg_item"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let image = &items[0]["image"];
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(image["base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(bytes, images::PNG);
    assert_eq!(image["md5"].as_str().unwrap().len(), 32);

    // A redelivery finds the stream finished and changes nothing.
    let mut again = w.replier.open(target).await.unwrap();
    again.finish("something else").await.unwrap();
    let after = w.stream("bot-img-1").await;
    assert_eq!(after.version, finished.version);
}

/// The fake's image routes: `media/upload` (multipart `media`, more than 5 bytes), a PNG and a
/// missing image.
mod images {
    use axum::Json;
    use axum::extract::{Multipart, Query, State};
    use axum::http::header;
    use axum::routing::{get, post};
    use serde_json::json;

    use super::Shared;

    /// A valid 1×1 PNG.
    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00,
        0x0B, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7A, 0x5E,
        0xAB, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    pub fn routes() -> axum::Router<Shared> {
        axum::Router::new()
            .route(
                "/cgi-bin/media/upload",
                post(
                    |State(f): State<Shared>, Query(query): Query<Vec<(String, String)>>, mut form: Multipart| async move {
                        let kind = query.iter().find(|(k, _)| k == "type").map(|(_, v)| v.clone()).unwrap_or_default();
                        let mut file = None;
                        while let Ok(Some(field)) = form.next_field().await {
                            if field.name() == Some("media") {
                                let name = field.file_name().unwrap_or_default().to_owned();
                                file = Some((name, field.bytes().await.unwrap().len()));
                            }
                        }
                        let Some((name, size)) = file.filter(|(_, size)| *size > 5) else {
                            return Json(json!({"errcode": 40005, "errmsg": "invalid file type"}));
                        };
                        let mut fake = f.lock().unwrap();
                        fake.uploads.push((kind.clone(), name, size));
                        Json(json!({"errcode": 0, "errmsg": "", "type": kind,
                            "media_id": format!("media-{}", fake.uploads.len()), "created_at": "1380000000"}))
                    },
                ),
            )
            .route("/chart.png", get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }))
            .route("/gone.png", get(|| async { axum::http::StatusCode::NOT_FOUND }))
    }
}
