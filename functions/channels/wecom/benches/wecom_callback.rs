//! The CPU cost of one smart-bot callback: envelope → signature → AES → JSON → normalized event.
//!
//! `cargo bench -p imgate-channels --bench wecom_callback -- --warm-up-time 1 --measurement-time 3`
//!
//! The callback is a realistic group text message whose decrypted JSON is about 1 KB (Chinese and
//! ASCII text, a long `response_url`). `full` is what the webhook does per callback before it
//! touches the store; the other benches split it up so the table shows where the time goes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imgate_core::{IntegrationId, Timestamp};
use imgate_wecom::wire::{BotCallback, parse_bot_callback, parse_bot_envelope};
use imgate_wecom::{Crypto, normalize};
use serde_json::json;

const TOKEN: &str = "QDG6eK3Kb2CDPzXUwTz7n3";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const TIMESTAMP: &str = "1718000000";
const NONCE: &str = "1372623149a7f5e3";

/// A signed callback as it arrives: query parameters and body.
struct Callback {
    signature: String,
    body: Vec<u8>,
    encrypt: String,
    plain: Vec<u8>,
}

/// The decrypted JSON of a group text message, padded with mixed text to about `target` bytes.
fn plaintext(target: usize) -> Vec<u8> {
    let base = json!({
        "msgid": "CAIQ16HMjQYY\u{2f}NGagIOm4AxQhsjSAAEMAE",
        "aibotid": "AIBOTID_8c3f0d2a61b94e7f",
        "chatid": "wrkSFfCgAAqjb9xq1Lk2v0m7pCLDpMZw",
        "chattype": "group",
        "from": {"userid": "zhangsan.wang", "corpid": "wpwbS3DAAAvXgW0xY4Y3YhF3JVxYcKJQ"},
        "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=\
            RESPONSE_CODE_9dfa0c7e4b1a4c2f8e6d5b3a2c1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d",
        "create_time": 1_718_000_000,
        "msgtype": "text",
        "text": {"content": ""},
    });
    let head = "@智能助手 请帮我总结一下这份周报的要点，并给出下周的工作计划建议。\
                Please keep the summary under 200 words. ";
    let filler = "本周完成了网关的 WeCom 回调解密、去重和队列投递；下周计划压测 throughput 并优化 SQLite 事务。";
    let overhead = base.to_string().len();
    let mut text = head.to_owned();
    while overhead + text.len() + filler.len() <= target {
        text.push_str(filler);
    }
    let mut message = base;
    message["text"]["content"] = json!(text);
    message.to_string().into_bytes()
}

fn callback() -> (Crypto, Callback) {
    let crypto = Crypto::new(TOKEN, AES_KEY, "").unwrap();
    let plain = plaintext(1024);
    let encrypt = crypto.encrypt_with_prefix(&plain, b"0123456789abcdef");
    let signature = crypto.signature(TIMESTAMP, NONCE, &encrypt);
    let body = json!({ "encrypt": encrypt }).to_string().into_bytes();
    (
        crypto,
        Callback {
            signature,
            body,
            encrypt,
            plain,
        },
    )
}

fn benches(c: &mut Criterion) {
    let (crypto, cb) = callback();
    let integration: IntegrationId = IntegrationId::generate();
    let received_at = Timestamp::now();
    eprintln!(
        "callback: decrypted JSON {} bytes, encrypt {} bytes (base64), body {} bytes",
        cb.plain.len(),
        cb.encrypt.len(),
        cb.body.len()
    );

    let mut group = c.benchmark_group("wecom_callback");
    group.throughput(Throughput::Elements(1));

    group.bench_function("full", |b| {
        b.iter(|| {
            let encrypt = parse_bot_envelope(black_box(&cb.body)).unwrap();
            let plain = crypto
                .open(black_box(&cb.signature), TIMESTAMP, NONCE, &encrypt)
                .unwrap();
            let BotCallback::Message(message) = parse_bot_callback(&plain).unwrap() else {
                panic!("a message callback");
            };
            let stream_id = normalize::stream_id_for(&integration, &message.msgid);
            normalize::bot_message(&integration, &message, &stream_id, received_at)
        });
    });
    // The crypto floor of `full`, in the same run: its own verify and decrypt, back to back.
    group.bench_function("floor", |b| {
        b.iter(|| {
            crypto
                .open(black_box(&cb.signature), TIMESTAMP, NONCE, black_box(&cb.encrypt))
                .unwrap()
        });
    });
    group.bench_function("crypto_new", |b| {
        b.iter(|| Crypto::new(black_box(TOKEN), black_box(AES_KEY), "").unwrap());
    });
    group.bench_function("parse_envelope", |b| {
        b.iter(|| parse_bot_envelope(black_box(&cb.body)).unwrap());
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            crypto
                .verify(black_box(&cb.signature), TIMESTAMP, NONCE, black_box(&cb.encrypt))
                .unwrap();
        });
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| crypto.decrypt(black_box(&cb.encrypt)).unwrap());
    });
    group.bench_function("parse_callback", |b| {
        b.iter(|| parse_bot_callback(black_box(&cb.plain)).unwrap());
    });
    let BotCallback::Message(message) = parse_bot_callback(&cb.plain).unwrap() else {
        panic!("a message callback");
    };
    group.bench_function("normalize", |b| {
        b.iter(|| {
            let stream_id = normalize::stream_id_for(&integration, black_box(&message.msgid));
            normalize::bot_message(&integration, black_box(&message), &stream_id, received_at)
        });
    });
    // Not part of the target, but on the same request: the encrypted first stream frame.
    let frame = r#"{"msgtype":"stream","stream":{"id":"s0123456789abcdef01234567","finish":false,"content":"思考中… Thinking…"}}"#;
    group.bench_function("passive_reply", |b| {
        b.iter(|| crypto.passive_reply(black_box(frame), TIMESTAMP, NONCE));
    });
    group.finish();
}

criterion_group!(wecom, benches);
criterion_main!(wecom);
