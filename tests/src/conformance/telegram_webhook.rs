//! Telegram bots in webhook mode: one `Update` as JSON, the secret token in
//! `X-Telegram-Bot-Api-Secret-Token`.

use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};

const SECRET: &str = "conformance-secret_token";

/// The harness.
#[derive(Default)]
pub struct TelegramWebhook;

fn update(message_id: &str, text: &str) -> Value {
    // The update id is what Telegram retries with; derive it from the message id.
    let update_id: i64 = message_id
        .bytes()
        .fold(7, |n, b| (n * 31 + i64::from(b)) % 1_000_000_007);
    json!({"update_id": update_id, "message": {"message_id": 1, "date": 1_700_000_000,
        "from": {"id": 1001, "is_bot": false, "first_name": "User"},
        "chat": {"id": 1001, "type": "private"}, "text": text}})
}

fn request(body: Vec<u8>, secret: &str) -> Request {
    Request {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-telegram-bot-api-secret-token".into(), secret.into()),
        ],
        body,
        ..Request::default()
    }
}

impl WebhookHarness for TelegramWebhook {
    fn name(&self) -> &'static str {
        "telegram/webhook"
    }

    fn platform(&self) -> &'static str {
        "telegram"
    }

    fn integration(&self) -> Value {
        json!({"name": "tg", "platform": "telegram", "mode": "webhook",
            "credentials": {"bot_token": "1:conformance-token", "secret_token": SECRET}})
    }

    fn message(&self, message_id: &str, text: &str) -> Request {
        request(update(message_id, text).to_string().into_bytes(), SECRET)
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let body = update(message_id, "broken").to_string().into_bytes();
        match breakage {
            Breakage::BadSignature => Some(request(body, "another-secret")),
            Breakage::StaleTimestamp => None,
            Breakage::BrokenBody => Some(request(b"{\"update_id\": ".to_vec(), SECRET)),
        }
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        Err("Telegram has no URL verification: setWebhook registers the URL without calling it")
    }
}
