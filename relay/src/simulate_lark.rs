//! `imgate simulate lark`: plays Lark / Feishu against a running gateway. It posts a real
//! `im.message.receive_v1` event (encrypted and signed when the integration has an Encrypt Key)
//! to the webhook, and stands in for the Lark Open API the gateway answers through — tokens,
//! bot info, message replies and CardKit cards — printing the streamed card as it grows.
//!
//! The gateway must send its Lark API calls here: start it with
//! `--lark-api-base http://127.0.0.1:8091` (the default `--api-listen`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use imgate_channels::lark::EventCipher;
use imgate_channels::lark::verify::signature;
use imgate_core::Timestamp;
use imgate_core::credentials::Credentials;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::SimulateLarkArgs;
use crate::simulate::local_credentials;

/// The simulated bot's own open_id (what group mentions point at).
const BOT_OPEN_ID: &str = "ou_imgate_simulated_bot";
/// How long to wait for the whole answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(360);
/// How long to wait for the first sign of a reply before suggesting the likely cause.
const FIRST_REPLY_HINT: Duration = Duration::from_secs(10);

/// What the gateway did through the stand-in API.
#[derive(Debug)]
enum Seen {
    /// A streaming card was sent as the reply.
    CardShown,
    /// The card's text so far.
    Streamed(String),
    /// A card's final form: its text, whether it is still streaming, its button if any.
    CardReplaced {
        text: String,
        streaming: bool,
        button: Option<String>,
    },
    /// A message (rich text, text or a whole card) sent as the reply.
    Message { text: String, button: Option<String> },
}

/// Runs the simulation; prints to stdout.
pub async fn run(args: SimulateLarkArgs) -> anyhow::Result<()> {
    let (token, encrypt_key) = credentials(&args).await?;
    let (seen_tx, mut seen) = mpsc::channel::<Seen>(256);
    let listener = tokio::net::TcpListener::bind(args.api_listen)
        .await
        .with_context(|| format!("binding the stand-in Lark API on {}", args.api_listen))?;
    tokio::spawn(async move { axum::serve(listener, stand_in(seen_tx)).await });

    let message_id = format!("om_sim_{:016x}", rand::random::<u64>());
    let event = event_json(&args, &token, &message_id);
    let (body, headers) = seal(&event, encrypt_key.as_deref());
    let gateway = args.gateway.trim_end_matches('/');
    let url = format!("{gateway}/api/lark/webhook/{}", args.integration);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let mut request = http.post(url).header("content-type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    println!("→ {} says: {}", args.user, args.text);
    let response = request
        .send()
        .await
        .context("the gateway could not be reached; is `imgate serve` running?")?;
    let status = response.status();
    let answer = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the gateway answered {status}: {answer}");
    }
    show_reply(&mut seen, args.api_listen).await
}

/// Prints what arrives until the answer is complete.
async fn show_reply(seen: &mut mpsc::Receiver<Seen>, api: SocketAddr) -> anyhow::Result<()> {
    let mut shown = String::new();
    let deadline = tokio::time::Instant::now() + ANSWER_LIMIT;
    let mut first = true;
    loop {
        let wait = if first { FIRST_REPLY_HINT } else { ANSWER_LIMIT };
        let next = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + wait), seen.recv()).await;
        let Ok(Some(event)) = next else {
            if first {
                bail!(
                    "no reply reached the stand-in Lark API on {api}: start the gateway with \
                     `--lark-api-base http://{api}` and check that the integration is bound to an agent"
                );
            }
            println!();
            bail!("the answer did not complete within 6 minutes");
        };
        first = false;
        match event {
            Seen::CardShown => println!("… (card sent: the agent is thinking)"),
            Seen::Streamed(text) => print_growing(&mut shown, &text),
            Seen::CardReplaced {
                text,
                streaming,
                button,
            } => {
                print_growing(&mut shown, &text);
                if !streaming {
                    println!();
                    if let Some(label) = button {
                        println!("  [button: {label}]");
                    }
                    println!("  [card finished]");
                    return Ok(());
                }
            }
            Seen::Message { text, button } => {
                println!("← {}", rendered(&text));
                if let Some(label) = button {
                    println!("  [button: {label}]");
                }
                return Ok(());
            }
        }
    }
}

/// Prints what `text` adds to what was shown (or all of it when it is not a continuation).
fn print_growing(shown: &mut String, text: &str) {
    let text = &rendered(text);
    if let Some(added) = text.strip_prefix(shown.as_str()) {
        if shown.is_empty() {
            print!("← ");
        }
        print!("{added}");
    } else {
        print!("\n← {text}");
    }
    std::io::stdout().flush().ok();
    text.clone_into(shown);
}

/// Card Markdown as Lark shows it: the `&lt;` escapes (see `lark::format`) as `<`.
fn rendered(markdown: &str) -> String {
    markdown.replace("&lt;", "<")
}

/// The event a user's message produces (§2.8–2.9).
fn event_json(args: &SimulateLarkArgs, token: &str, message_id: &str) -> Value {
    let (chat_id, chat_type, text, mentions) = match &args.group {
        Some(group) => (
            group.clone(),
            "group",
            format!("@_user_1 {}", args.text),
            json!([{"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID}, "name": "imgate", "mentioned_type": "bot"}]),
        ),
        None => (format!("oc_sim_p2p_{}", args.user), "p2p", args.text.clone(), json!([])),
    };
    let now = Timestamp::now().as_millis().to_string();
    json!({
        "schema": "2.0",
        "header": {
            "event_id": format!("sim-{:016x}", rand::random::<u64>()),
            "event_type": "im.message.receive_v1",
            "create_time": now,
            "token": token,
            "app_id": "cli_simulated",
            "tenant_key": "simulated"
        },
        "event": {
            "sender": {"sender_id": {"open_id": args.user}, "sender_type": "user", "tenant_key": "simulated"},
            "message": {
                "message_id": message_id,
                "chat_id": chat_id,
                "chat_type": chat_type,
                "message_type": "text",
                "content": json!({"text": text}).to_string(),
                "create_time": now,
                "mentions": mentions
            }
        }
    })
}

/// The body and headers: encrypted and signed with the Encrypt Key, else plain (§2.2, §2.5).
fn seal(event: &Value, encrypt_key: Option<&str>) -> (String, Vec<(&'static str, String)>) {
    let Some(key) = encrypt_key else {
        return (event.to_string(), Vec::new());
    };
    let body = json!({"encrypt": EventCipher::new(key).encrypt(event.to_string().as_bytes())}).to_string();
    let timestamp = Timestamp::now().as_secs().to_string();
    let nonce = format!("{:016x}", rand::random::<u64>());
    let sign = signature(&timestamp, &nonce, key, body.as_bytes());
    let headers = vec![
        ("x-lark-request-timestamp", timestamp),
        ("x-lark-request-nonce", nonce),
        ("x-lark-signature", sign),
    ];
    (body, headers)
}

/// The Verification Token and Encrypt Key: from the flags, or from the local database.
async fn credentials(args: &SimulateLarkArgs) -> anyhow::Result<(String, Option<String>)> {
    if let Some(token) = &args.verification_token {
        return Ok((token.clone(), args.encrypt_key.clone()));
    }
    let (id, credentials) = local_credentials(
        &args.db,
        &args.key_file,
        &args.integration,
        "--verification-token (and --encrypt-key)",
    )
    .await?;
    match credentials {
        Credentials::Lark(app) => Ok((
            app.verification_token
                .map(|t| t.expose().to_owned())
                .unwrap_or_default(),
            app.encrypt_key.map(|k| k.expose().to_owned()).filter(|k| !k.is_empty()),
        )),
        _ => bail!("integration {id} is not a Lark integration"),
    }
}

/// The stand-in Open API (protocols/lark.md §4–5): accepts what the gateway sends and reports it.
fn stand_in(seen: mpsc::Sender<Seen>) -> Router {
    let state = Arc::new(StandIn {
        seen,
        next: AtomicU64::new(1),
    });
    Router::new()
        .route("/open-apis/auth/v3/tenant_access_token/internal", post(token))
        .route("/open-apis/bot/v3/info", get(bot_info))
        .route("/open-apis/im/v1/messages", post(message))
        .route("/open-apis/im/v1/messages/{id}/reply", post(reply))
        .route("/open-apis/cardkit/v1/cards", post(create_card))
        .route("/open-apis/cardkit/v1/cards/{id}", put(replace_card))
        .route(
            "/open-apis/cardkit/v1/cards/{id}/elements/{element}/content",
            put(stream),
        )
        .fallback(|| async { Json(json!({"code": 0, "msg": "ok"})) })
        .with_state(state)
}

struct StandIn {
    seen: mpsc::Sender<Seen>,
    next: AtomicU64,
}

impl StandIn {
    fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next.fetch_add(1, Ordering::Relaxed))
    }
}

type Shared = State<Arc<StandIn>>;

async fn token() -> Json<Value> {
    Json(json!({"code": 0, "msg": "ok", "tenant_access_token": "t-simulated", "expire": 7200}))
}

async fn bot_info() -> Json<Value> {
    Json(json!({"code": 0, "msg": "ok", "bot": {"open_id": BOT_OPEN_ID, "app_name": "imgate (simulated)"}}))
}

async fn reply(state: Shared, Path(_): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    message(state, Json(body)).await
}

async fn message(State(state): Shared, Json(body): Json<Value>) -> Json<Value> {
    let content: Value = body["content"]
        .as_str()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let seen = match body["msg_type"].as_str().unwrap_or_default() {
        "interactive" if content["type"] == "card" => Seen::CardShown,
        "interactive" => Seen::Message {
            text: card_text(&content),
            button: button_label(&content),
        },
        "post" => Seen::Message {
            text: post_text(&content),
            button: None,
        },
        _ => Seen::Message {
            text: content["text"].as_str().unwrap_or_default().to_owned(),
            button: None,
        },
    };
    let _ = state.seen.send(seen).await;
    Json(json!({"code": 0, "msg": "ok", "data": {"message_id": state.id("om_sim_reply_")}}))
}

async fn create_card(State(state): Shared) -> Json<Value> {
    Json(json!({"code": 0, "msg": "ok", "data": {"card_id": state.id("sim_card_")}}))
}

async fn stream(State(state): Shared, Json(body): Json<Value>) -> Json<Value> {
    let text = body["content"].as_str().unwrap_or_default().to_owned();
    let _ = state.seen.send(Seen::Streamed(text)).await;
    Json(json!({"code": 0, "msg": "ok"}))
}

async fn replace_card(State(state): Shared, Path(_): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    let card: Value = body["card"]["data"]
        .as_str()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let seen = Seen::CardReplaced {
        text: card_text(&card),
        streaming: card["config"]["streaming_mode"].as_bool().unwrap_or(false),
        button: button_label(&card),
    };
    let _ = state.seen.send(seen).await;
    Json(json!({"code": 0, "msg": "ok"}))
}

/// The text of a card's markdown elements.
fn card_text(card: &Value) -> String {
    elements(card)
        .filter(|e| e["tag"] == "markdown")
        .filter_map(|e| e["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn button_label(card: &Value) -> Option<String> {
    elements(card)
        .find(|e| e["tag"] == "button")
        .and_then(|e| e["text"]["content"].as_str())
        .map(str::to_owned)
}

fn elements(card: &Value) -> impl Iterator<Item = &Value> {
    card["body"]["elements"].as_array().into_iter().flatten()
}

/// The text of a `post` message (every locale's `md` and `text` elements).
fn post_text(post: &Value) -> String {
    let mut lines = Vec::new();
    for locale in post.as_object().into_iter().flat_map(|o| o.values()) {
        for paragraph in locale["content"].as_array().into_iter().flatten() {
            let line: String = paragraph
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["text"].as_str())
                .collect();
            lines.push(line);
        }
    }
    lines.join("\n")
}
