//! Discord's interactions endpoint: slash commands as JSON, signed with the application's
//! Ed25519 key over the timestamp and the raw body.

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};

/// RFC 8032 §7.1 TEST 1, as in the protocol notes.
const SEED: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5,
    0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// The harness.
#[derive(Default)]
pub struct DiscordInteractions;

fn ask(message_id: &str, text: &str) -> Value {
    json!({"application_id": "app-c", "id": message_id, "token": format!("token-{message_id}"), "type": 2, "version": 1,
        "channel_id": "c-1", "user": {"id": "700", "username": "alice"},
        "data": {"name": "ask", "options": [{"name": "text", "type": 3, "value": text}]}})
}

fn signed(body: Vec<u8>, key: &SigningKey, age_secs: i64) -> Request {
    let timestamp = (imgate_core::Timestamp::now().as_secs() - age_secs).to_string();
    let mut message = timestamp.clone().into_bytes();
    message.extend_from_slice(&body);
    let signature = hex::encode(key.sign(&message).to_bytes());
    Request {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-signature-ed25519".into(), signature),
            ("x-signature-timestamp".into(), timestamp),
        ],
        body,
        ..Request::default()
    }
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&SEED)
}

impl WebhookHarness for DiscordInteractions {
    fn name(&self) -> &'static str {
        "discord/interactions"
    }

    fn platform(&self) -> &'static str {
        "discord"
    }

    fn route(&self) -> &'static str {
        "interactions"
    }

    fn integration(&self) -> Value {
        json!({"name": "discord", "platform": "discord", "mode": "webhook",
            "credentials": {"application_id": "app-c", "public_key": PUBLIC_KEY, "bot_token": "conformance-bot-token"}})
    }

    fn message(&self, message_id: &str, text: &str) -> Request {
        signed(ask(message_id, text).to_string().into_bytes(), &key(), 0)
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let body = ask(message_id, "broken").to_string().into_bytes();
        Some(match breakage {
            Breakage::BadSignature => signed(body, &SigningKey::from_bytes(&[7; 32]), 0),
            Breakage::StaleTimestamp => signed(body, &key(), 3600),
            Breakage::BrokenBody => signed(b"{\"type\": ".to_vec(), &key(), 0),
        })
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        let ping = json!({"application_id": "app-c", "id": "1", "token": "ping", "type": 1, "version": 1});
        Ok((signed(ping.to_string().into_bytes(), &key(), 0), |body| {
            body == r#"{"type":1}"#
        }))
    }
}
