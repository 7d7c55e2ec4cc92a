//! `imgate simulate wecom`: plays WeCom against a running gateway. It sends a real signed,
//! encrypted smart-bot callback, answers like WeCom (refresh callbacks until the stream
//! finishes, a local `response_url` for follow-up messages) and prints the reply as it arrives.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use imgate_channels::wecom::simulate::{SignedCallback, Simulator};
use imgate_channels::wecom::webhook::THINKING;
use imgate_core::credentials::Credentials;
use imgate_core::{IntegrationId, Timestamp};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::cli::SimulateWecomArgs;

/// WeCom stops asking for a stream 6 minutes after the message.
const STREAM_LIMIT: Duration = Duration::from_secs(360);
/// How often the simulated WeCom asks for the stream.
const REFRESH_EVERY: Duration = Duration::from_millis(300);
/// How long to wait for a follow-up message after a stream that continues.
const FOLLOW_UP_WAIT: Duration = Duration::from_secs(30);

/// Runs the simulation; prints to stdout.
pub async fn wecom(args: SimulateWecomArgs) -> anyhow::Result<()> {
    let (token, aes_key) = credentials(&args).await?;
    let simulator = Simulator::new(&token, &aes_key).context("the EncodingAESKey is not valid")?;
    let (response_url, mut follow_ups) = response_url_receiver().await?;
    let gateway = args.gateway.trim_end_matches('/');
    let url = format!("{gateway}/api/wecom/webhook/{}", args.integration);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
    let msgid = format!("sim-{:016x}", rand::random::<u64>());
    let callback = simulator.text(
        &msgid,
        &args.user,
        args.group.as_deref(),
        &args.text,
        Some(&response_url),
    );

    let post = |callback: SignedCallback| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let response = http
                .post(format!("{url}?{}", callback.query))
                .body(callback.body)
                .send()
                .await
                .context("the gateway could not be reached; is `imgate serve` running?")?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("the gateway answered {status}: {body}");
            }
            anyhow::Ok(body)
        }
    };

    println!("→ {} says: {}", args.user, args.text);
    let first = simulator
        .read_stream(&post(callback).await?)
        .context("the gateway's answer is not a stream frame")?;
    let mut shown = String::new();
    let mut frame = first;
    let started = Instant::now();
    loop {
        if frame.content == THINKING {
            if shown.is_empty() {
                println!("… (the agent is thinking)");
                shown.push_str(THINKING);
            }
        } else if !shown.is_empty() && frame.content.starts_with(&shown) {
            print!("{}", &frame.content[shown.len()..]);
        } else {
            print!("← {}", frame.content);
        }
        std::io::stdout().flush().ok();
        if frame.content != THINKING {
            shown.clone_from(&frame.content);
        }
        if frame.finished {
            break;
        }
        if started.elapsed() > STREAM_LIMIT {
            println!();
            bail!("the stream did not finish within 6 minutes (WeCom would stop asking now)");
        }
        tokio::time::sleep(REFRESH_EVERY).await;
        let refresh = simulator.refresh(&format!("{msgid}-r{}", started.elapsed().as_millis()), &frame.id);
        frame = simulator.read_stream(&post(refresh).await?)?;
    }
    println!();
    if let Some(card) = &frame.card {
        let title = card
            .pointer("/main_title/title")
            .and_then(Value::as_str)
            .unwrap_or("card");
        println!("  [template card: {title}]");
    }
    if shown.ends_with('…') {
        match tokio::time::timeout(FOLLOW_UP_WAIT, follow_ups.recv()).await {
            Ok(Some(message)) => println!("← (follow-up) {message}"),
            _ => println!("  (no follow-up message arrived)"),
        }
    }
    Ok(())
}

/// The Token and EncodingAESKey: from the flags, or from the local database.
async fn credentials(args: &SimulateWecomArgs) -> anyhow::Result<(String, String)> {
    if let (Some(token), Some(key)) = (&args.token, &args.encoding_aes_key) {
        return Ok((token.clone(), key.clone()));
    }
    let (id, credentials) = local_credentials(
        &args.db,
        &args.key_file,
        &args.integration,
        "--token and --encoding-aes-key",
    )
    .await?;
    match credentials {
        Credentials::WecomWebhook(c) => Ok((c.token.expose().to_owned(), c.encoding_aes_key.expose().to_owned())),
        _ => bail!("integration {id} is not a WeCom callback-mode integration"),
    }
}

/// Opens the credentials of `integration` in the database of a local `imgate serve`;
/// `flags_instead` names the flags that replace the database for a remote gateway.
pub(crate) async fn local_credentials(
    db: &Path,
    key_file: &Path,
    integration: &str,
    flags_instead: &str,
) -> anyhow::Result<(IntegrationId, Credentials)> {
    if !db.exists() || !key_file.exists() {
        bail!(
            "no database at {} (or no key file at {}); run this beside `imgate serve`, or pass {flags_instead}",
            db.display(),
            key_file.display()
        );
    }
    let (deps, _) = imgate_embedded::open(db, key_file, imgate_embedded::QueueOptions::default())
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let id: IntegrationId = integration.parse().context("--integration is not an integration id")?;
    let record = deps
        .store
        .get_integration(&id)
        .await?
        .context("no such integration in the local database")?;
    let credentials = record.open_credentials(deps.keyring.as_ref()).await?;
    Ok((id, credentials))
}

/// A local stand-in for WeCom's `response_url`: prints what the gateway posts to it.
async fn response_url_receiver() -> anyhow::Result<(String, mpsc::Receiver<String>)> {
    let (tx, rx) = mpsc::channel::<String>(8);
    let tx = Arc::new(tx);
    let app = axum::Router::new().route(
        "/cgi-bin/aibot/response",
        axum::routing::post(move |body: axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let text = body
                    .pointer("/markdown/content")
                    .and_then(Value::as_str)
                    .map_or_else(|| body.to_string(), str::to_owned);
                let _ = tx.send(text).await;
                axum::Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the response_url receiver")?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let code = Timestamp::now().as_millis();
    Ok((
        format!("http://{address}/cgi-bin/aibot/response?response_code={code}"),
        rx,
    ))
}
