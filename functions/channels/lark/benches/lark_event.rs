//! The CPU cost of one Lark webhook event: body → decryption → signature → token → JSON →
//! normalized event (protocols/lark.md §2.7).
//!
//! `cargo bench -p imgate-channels --bench lark_event -- --warm-up-time 1 --measurement-time 3`
//!
//! The event is an encrypted, signed `im.message.receive_v1` group text message that mentions the
//! bot, whose decrypted JSON is about 1 KB (Chinese and ASCII text). `full` is what the webhook
//! does per event before it touches the store; the other benches split it up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imgate_core::{IntegrationId, Timestamp};
use imgate_lark::verify::signature;
use imgate_lark::wire::{Callback, SignatureHeaders, Verifier, parse_plain};
use imgate_lark::{EventCipher, normalize};
use serde_json::json;

const ENCRYPT_KEY: &str = "bench-encrypt-key-0123456789";
const TOKEN: &str = "bench-verification-token";
const TIMESTAMP: &str = "1700000000";
const NONCE: &str = "bench-nonce-1234";

/// The decrypted JSON of a group text message, padded with mixed text to about `target` bytes.
fn plaintext(target: usize) -> Vec<u8> {
    let head = "@_user_1 请帮我总结一下这份周报的要点，并给出下周的工作计划建议。 Please keep it short. ";
    let filler = "本周完成了网关的飞书事件解密、去重和队列投递；下周计划压测 throughput。";
    let event = |text: &str| {
        json!({
            "schema": "2.0",
            "header": {
                "event_id": "5e3702a84e847582be8db7fb73283c02",
                "event_type": "im.message.receive_v1",
                "create_time": "1700000000000",
                "token": TOKEN,
                "app_id": "cli_a1b2c3d4e5f60718",
                "tenant_key": "2ca1d211f64f6438"
            },
            "event": {
                "sender": {
                    "sender_id": {"open_id": "ou_7d8a6e6df7621556ce0d21922b676706ccs", "union_id": "on_8ed6aa67826108097d9ee143816345", "user_id": "e33ggbyz"},
                    "sender_type": "user",
                    "tenant_key": "2ca1d211f64f6438"
                },
                "message": {
                    "message_id": "om_5ce6d572455d361153b7cb51da133945",
                    "root_id": "",
                    "parent_id": "",
                    "create_time": "1700000000000",
                    "chat_id": "oc_5ce6d572455d361153b7cb5xxfsdfsdfdsf",
                    "chat_type": "group",
                    "message_type": "text",
                    "content": json!({"text": text}).to_string(),
                    "mentions": [{"key": "@_user_1", "id": {"open_id": "ou_bot0000000000000000000000000001"}, "name": "Bot", "tenant_key": "2ca1d211f64f6438"}]
                }
            }
        })
    };
    let overhead = event("").to_string().len();
    let mut text = head.to_owned();
    while overhead + text.len() + filler.len() <= target {
        text.push_str(filler);
    }
    event(&text).to_string().into_bytes()
}

fn benches(c: &mut Criterion) {
    let cipher = EventCipher::new(ENCRYPT_KEY);
    let plain = plaintext(1024);
    let encrypt = cipher.encrypt_with_iv(&plain, b"0123456789abcdef");
    let body = json!({ "encrypt": encrypt }).to_string().into_bytes();
    let sig = signature(TIMESTAMP, NONCE, ENCRYPT_KEY, &body);
    let headers = SignatureHeaders {
        timestamp: TIMESTAMP,
        nonce: NONCE,
        signature: &sig,
    };
    let verifier = Verifier::new(Some(TOKEN), Some(ENCRYPT_KEY));
    let integration = IntegrationId::generate();
    let received_at = Timestamp::now();
    let bot = Some("ou_bot0000000000000000000000000001");
    eprintln!("event: decrypted JSON {} bytes, body {} bytes", plain.len(), body.len());

    let mut group = c.benchmark_group("lark_event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("full", |b| {
        b.iter(|| {
            let Callback::Event(envelope) = verifier.open(black_box(&body), headers).unwrap() else {
                panic!("an event");
            };
            normalize::envelope(&integration, &envelope, bot, received_at).unwrap()
        });
    });
    // The crypto floor of `full`, in the same run: its own signature check and decrypt.
    group.bench_function("floor", |b| {
        b.iter(|| {
            let sig = signature(TIMESTAMP, NONCE, ENCRYPT_KEY, black_box(&body));
            (sig, cipher.decrypt(black_box(&encrypt)).unwrap())
        });
    });
    group.bench_function("verifier_new", |b| {
        b.iter(|| Verifier::new(Some(black_box(TOKEN)), Some(black_box(ENCRYPT_KEY))));
    });
    group.bench_function("signature", |b| {
        b.iter(|| signature(TIMESTAMP, NONCE, ENCRYPT_KEY, black_box(&body)));
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| cipher.decrypt(black_box(&encrypt)).unwrap());
    });
    group.bench_function("parse", |b| {
        b.iter(|| parse_plain(black_box(&plain)).unwrap());
    });
    let envelope = parse_plain(&plain).unwrap();
    group.bench_function("normalize", |b| {
        b.iter(|| normalize::envelope(&integration, black_box(&envelope), bot, received_at).unwrap());
    });
    group.finish();
}

criterion_group!(lark, benches);
criterion_main!(lark);
