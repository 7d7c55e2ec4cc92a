//! What a picture a user sends adds to the wait for the agent: from Telegram's webhook call to
//! the OpenAI-compatible agent's request, for a text message and for photos of growing size.
//!
//! ```sh
//! IMGATE_MOTO_SERVER=.venv/bin/moto_server cargo bench -p imgate-tests --bench media_in
//! ```
//!
//! Everything runs in this process, on one monotonic clock: Telegram's fake (Bot API and file
//! server), the gateway as `imgate serve` wires it (webhook router, queue, worker, dispatcher
//! with Telegram's real media fetcher) and an OpenAI-compatible fake agent. For each photo the
//! dispatcher calls `getFile`, downloads the file, sniffs its type, keeps it (the gateway's media
//! directory on `embedded`; an S3 bucket on moto's server on `aws`) and sends it to the agent
//! inline, base64 in an `image_url` part, as vision models take it. The photos are PNGs of the
//! given size (a PNG signature, then filler).
//!
//! Settings (environment): `BENCH_BACKENDS` (default `embedded,aws`), `BENCH_SIZES` (KiB, default
//! `0,100,1024,5120,19456`; 0 is a text message), `BENCH_MESSAGES` (default 10 per size).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use imgate_core::ports::{Deps, MediaStore};
use imgate_tests::fake_agent::FakeAgent;
use imgate_tests::fake_media::File;
use imgate_tests::fake_telegram::FakeTelegram;
use imgate_tests::gateway::{Gateway, Media};
use imgate_tests::world::TestOrg;
use serde_json::json;

const TOKEN: &str = "123456:BENCH-bot-token";
const SECRET: &str = "bench-secret_1";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const KIB: usize = 1024;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(|v| v.trim().to_owned())
        .collect()
}

/// A PNG of `size` bytes as far as sniffing goes: the signature, then filler that differs per
/// picture (so nothing can be cached on the way).
fn picture(size: usize, seed: u8) -> Vec<u8> {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.extend((0..size.saturating_sub(PNG_SIGNATURE.len())).map(|i| (i as u8).wrapping_mul(31) ^ seed));
    bytes
}

/// The backend's store and where the gateway keeps media on it.
async fn backend(name: &str) -> (Deps, Option<Arc<dyn MediaStore>>) {
    if name == "aws" {
        let deps = imgate_tests::aws::fresh_deps(3).await.unwrap();
        let store = imgate_tests::aws::fresh_media_store().await.unwrap();
        (deps, Some(Arc::new(store)))
    } else {
        (imgate_tests::world::embedded_deps(3).await, None)
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a test: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("media_in: run with `cargo bench -p imgate-tests --bench media_in`");
        return;
    }
    let backends = env_list("BENCH_BACKENDS", "embedded,aws");
    let sizes: Vec<usize> = env_list("BENCH_SIZES", "0,100,1024,5120,19456")
        .iter()
        .map(|s| s.parse::<usize>().expect("BENCH_SIZES in KiB") * KIB)
        .collect();
    let messages = env_number("BENCH_MESSAGES", 10);
    println!("Webhook call → agent request, {messages} messages per size, one at a time\n");
    println!("| backend | photo | agent request | p50 ms | max ms | added to text p50 ms |");
    println!("|---|---|---|---|---|---|");
    for name in &backends {
        let (deps, store) = backend(name).await;
        let fake = FakeTelegram::start(TOKEN).await;
        let mut endpoints = imgate_channels::Endpoints::default();
        endpoints.telegram.api = fake.base.clone();
        let media = Media {
            store,
            ..Media::default()
        };
        let gateway = Gateway::start_with_media(deps.clone(), 3, true, &endpoints, media).await;
        let org = TestOrg::create(&deps).await;
        let agent = FakeAgent::start(&["Seen."]).await;
        let agent_id = org
            .agent(json!({"name": "vision", "kind": "openai_compatible",
                "config": {"base_url": agent.base_url, "model": "m", "api_key": "sk-bench", "timeout_seconds": 60}}))
            .await;
        let id = org
            .bot(
                json!({"name": "tg", "platform": "telegram", "mode": "webhook",
                    "credentials": {"bot_token": TOKEN, "secret_token": SECRET}}),
                Some(&agent_id),
                json!({}),
            )
            .await;
        let url = format!("{}/api/telegram/webhook/{id}", gateway.base);
        let http = reqwest::Client::new();
        let mut update_id = 0;
        let mut text_p50 = None;
        // A warm-up message first (tokens, connections), then each size in turn.
        for (round, &size) in std::iter::once(&0).chain(sizes.iter()).enumerate() {
            let mut samples = Vec::new();
            let mut request_bytes = 0;
            let count = if round == 0 { 1 } else { messages };
            for n in 0..count {
                update_id += 1;
                let caption = format!("bench {name} {round} {n}");
                let update = if size == 0 {
                    fake.text_update(1001, 1001, &caption)
                } else {
                    let file_id = format!("photo-{update_id}");
                    let mut file = File::new(&picture(size, n as u8), Some("image/png"));
                    file.stated = Some(size as u64);
                    fake.add_photo(&file_id, file);
                    fake.photo_update(1001, 1001, &file_id, &caption)
                };
                let mut update = update;
                update["update_id"] = json!(update_id);
                let images_before = agent.images().len();
                let started = Instant::now();
                let response = http
                    .post(&url)
                    .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
                    .json(&update)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "the webhook took the update");
                let deadline = started + Duration::from_secs(120);
                let timing = loop {
                    if let Some(t) = agent.timings().into_iter().find(|t| t.text.contains(&caption)) {
                        break t;
                    }
                    assert!(Instant::now() < deadline, "the agent was not asked about {caption:?}");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                };
                samples.push(timing.arrived.saturating_duration_since(started));
                let request = agent.last_request().expect("the agent's request");
                request_bytes = request.to_string().len();
                let inline = usize::from(size > 0);
                assert_eq!(agent.images().len(), images_before + inline, "the photo went inline");
            }
            if round == 0 {
                continue;
            }
            samples.sort();
            let p50 = samples[(samples.len() - 1) / 2];
            if size == 0 {
                text_p50 = Some(p50);
            }
            let added = text_p50.map_or_else(|| "–".to_owned(), |t| ms(p50.saturating_sub(t)));
            let photo = if size == 0 {
                "none (text)".to_owned()
            } else {
                format!("{} KiB", size / KIB)
            };
            println!(
                "| {name} | {photo} | {:.1} KiB | {} | {} | {added} |",
                request_bytes as f64 / KIB as f64,
                ms(p50),
                ms(samples[samples.len() - 1]),
            );
        }
    }
}
