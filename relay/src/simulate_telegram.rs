//! `imgate simulate telegram`: plays Telegram against a running gateway. It posts a real
//! `Update` with the integration's secret token to the webhook, and stands in for the Bot API
//! the gateway answers through (`getMe`, drafts, messages, edits, chat actions), printing the
//! answer as it streams.
//!
//! The gateway must send its Bot API calls here: start it with
//! `--telegram-api-base http://127.0.0.1:8092` (the default `--api-listen`).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use imgate_core::credentials::Credentials;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::cli::SimulateTelegramArgs;
use crate::simulate::local_credentials;

/// The simulated bot.
const BOT_ID: i64 = 7_000_001;
const BOT_USERNAME: &str = "imgate_simulated_bot";
/// How long to wait for the whole answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(360);
/// How long to wait for the first sign of a reply before suggesting the likely cause.
const FIRST_REPLY_HINT: Duration = Duration::from_secs(10);
/// After the answer's last message or edit, how long to wait for more before stopping.
const SETTLE: Duration = Duration::from_millis(2500);

/// What the gateway did through the stand-in Bot API.
#[derive(Debug)]
enum Seen {
    Typing,
    Draft(String),
    Sent(String),
    Edited(String),
}

/// Runs the simulation; prints to stdout.
pub async fn run(args: SimulateTelegramArgs) -> anyhow::Result<()> {
    let secret = secret_token(&args).await?;
    let (seen_tx, mut seen) = mpsc::channel::<Seen>(256);
    let listener = tokio::net::TcpListener::bind(args.api_listen)
        .await
        .with_context(|| format!("binding the stand-in Bot API on {}", args.api_listen))?;
    tokio::spawn(async move { axum::serve(listener, stand_in(seen_tx)).await });

    let update = update_json(&args);
    let gateway = args.gateway.trim_end_matches('/');
    let url = format!("{gateway}/api/telegram/webhook/{}", args.integration);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    println!("→ user {} says: {}", args.user, args.text);
    let response = http
        .post(url)
        .header("X-Telegram-Bot-Api-Secret-Token", secret)
        .json(&update)
        .send()
        .await
        .context("the gateway could not be reached; is `imgate serve` running?")?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "the gateway answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    show_reply(&mut seen, args.api_listen).await
}

/// Prints what arrives until the answer has settled.
async fn show_reply(seen: &mut mpsc::Receiver<Seen>, api: SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + ANSWER_LIMIT;
    let mut answered = false;
    let mut first = true;
    loop {
        let wait = if answered {
            SETTLE
        } else if first {
            FIRST_REPLY_HINT
        } else {
            ANSWER_LIMIT
        };
        let next = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + wait), seen.recv()).await;
        let Ok(Some(event)) = next else {
            if answered {
                return Ok(());
            }
            if first {
                bail!(
                    "no reply reached the stand-in Bot API on {api}: start the gateway with \
                     `--telegram-api-base http://{api}` and check that the integration is bound to an agent"
                );
            }
            bail!("the answer did not complete within 6 minutes");
        };
        first = false;
        match event {
            Seen::Typing => println!("… (typing)"),
            Seen::Draft(text) => println!("  draft: {text}"),
            Seen::Edited(text) => {
                println!("  edited: {text}");
                answered = text != "…";
            }
            Seen::Sent(text) => {
                println!("← {text}");
                answered = text != "…";
            }
        }
        std::io::stdout().flush().ok();
    }
}

/// A private-chat text message, or a group message mentioning the bot.
fn update_json(args: &SimulateTelegramArgs) -> Value {
    let (chat, text, entities) = match args.group {
        Some(group) => {
            let mention = format!("@{BOT_USERNAME}");
            let entity = json!([{"type": "mention", "offset": 0, "length": mention.encode_utf16().count()}]);
            (
                json!({"id": group, "type": "supergroup", "title": "Simulated group"}),
                format!("{mention} {}", args.text),
                entity,
            )
        }
        None => (
            json!({"id": args.user, "type": "private", "first_name": "Simulated"}),
            args.text.clone(),
            json!([]),
        ),
    };
    let now = imgate_core::Timestamp::now().as_secs();
    json!({"update_id": rand::random::<u32>(), "message": {"message_id": rand::random::<u16>(), "date": now,
        "from": {"id": args.user, "is_bot": false, "first_name": "Simulated", "username": "simulated_user"},
        "chat": chat, "text": text, "entities": entities}})
}

/// The secret token: from the flag, or from the local database.
async fn secret_token(args: &SimulateTelegramArgs) -> anyhow::Result<String> {
    if let Some(secret) = &args.secret_token {
        return Ok(secret.clone());
    }
    let (id, credentials) = local_credentials(&args.db, &args.key_file, &args.integration, "--secret-token").await?;
    match credentials {
        Credentials::Telegram(bot) => bot
            .secret_token
            .map(|s| s.expose().to_owned())
            .with_context(|| format!("integration {id} has no secret_token")),
        _ => bail!("integration {id} is not a Telegram integration"),
    }
}

/// The stand-in Bot API (protocols/telegram.md): accepts what the gateway sends and reports it.
fn stand_in(seen: mpsc::Sender<Seen>) -> Router {
    let state = Arc::new(StandIn {
        seen,
        next: AtomicI64::new(1),
    });
    Router::new().route("/{bot}/{method}", post(call)).with_state(state)
}

struct StandIn {
    seen: mpsc::Sender<Seen>,
    next: AtomicI64,
}

async fn call(
    State(state): State<Arc<StandIn>>,
    Path((_bot, method)): Path<(String, String)>,
    Json(params): Json<Value>,
) -> Json<Value> {
    let text = shown(&params);
    let result = match method.as_str() {
        "getMe" => json!({"id": BOT_ID, "is_bot": true, "first_name": "imgate", "username": BOT_USERNAME}),
        "sendChatAction" => {
            let _ = state.seen.send(Seen::Typing).await;
            json!(true)
        }
        "sendMessageDraft" => {
            let _ = state.seen.send(Seen::Draft(text)).await;
            json!(true)
        }
        "sendMessage" => {
            let _ = state.seen.send(Seen::Sent(text.clone())).await;
            let id = state.next.fetch_add(1, Ordering::Relaxed);
            json!({"message_id": id, "date": 0, "chat": {"id": params["chat_id"], "type": "private"}, "text": text})
        }
        "editMessageText" => {
            let _ = state.seen.send(Seen::Edited(text.clone())).await;
            json!({"message_id": params["message_id"], "date": 0, "chat": {"id": params["chat_id"], "type": "private"}, "text": text})
        }
        _ => json!(true),
    };
    Json(json!({"ok": true, "result": result}))
}

/// A message's text as Telegram shows it: HTML tags removed, entities decoded.
fn shown(params: &Value) -> String {
    let text = params["text"].as_str().unwrap_or_default();
    if params["parse_mode"] != "HTML" {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
