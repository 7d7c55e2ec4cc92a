//! Discord's interactions endpoint: slash commands as JSON, signed with the application's
//! Ed25519 key over the timestamp and the raw body.

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};
use crate::fake_discord::{APP_PUBLIC_KEY, sign_interaction};

/// The harness.
#[derive(Default)]
pub struct DiscordInteractions;

fn ask(message_id: &str, text: &str) -> Value {
    json!({"application_id": "app-c", "id": message_id, "token": format!("token-{message_id}"), "type": 2, "version": 1,
        "channel_id": "c-1", "user": {"id": "700", "username": "alice"},
        "data": {"name": "ask", "options": [{"name": "text", "type": 3, "value": text}]}})
}

/// `body` signed `age_secs` ago by the application's key, or by another key when `forged`.
fn signed(body: Vec<u8>, age_secs: i64, forged: bool) -> Request {
    let timestamp = (imgate_core::Timestamp::now().as_secs() - age_secs).to_string();
    let signature = if forged {
        let mut message = timestamp.clone().into_bytes();
        message.extend_from_slice(&body);
        hex::encode(SigningKey::from_bytes(&[7; 32]).sign(&message).to_bytes())
    } else {
        sign_interaction(&timestamp, &body)
    };
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
            "credentials": {"application_id": "app-c", "public_key": APP_PUBLIC_KEY, "bot_token": "conformance-bot-token"}})
    }

    fn message(&self, message_id: &str, text: &str) -> Request {
        signed(ask(message_id, text).to_string().into_bytes(), 0, false)
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let body = ask(message_id, "broken").to_string().into_bytes();
        Some(match breakage {
            Breakage::BadSignature => signed(body, 0, true),
            Breakage::StaleTimestamp => signed(body, 3600, false),
            Breakage::BrokenBody => signed(b"{\"type\": ".to_vec(), 0, false),
        })
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        let ping = json!({"application_id": "app-c", "id": "1", "token": "ping", "type": 1, "version": 1});
        Ok((signed(ping.to_string().into_bytes(), 0, false), |body| {
            body == r#"{"type":1}"#
        }))
    }
}
