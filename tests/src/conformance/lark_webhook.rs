//! Lark / Feishu apps in webhook mode: events encrypted with the Encrypt Key, carrying the
//! Verification Token, signed in the `X-Lark-*` headers.

use imgate_channels::lark::EventCipher;
use imgate_channels::lark::verify::signature;
use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};

const APP_ID: &str = "cli_conformance";
const TOKEN: &str = "conformance-verification-token";
const ENCRYPT_KEY: &str = "conformance-encrypt-key";

/// The harness.
#[derive(Default)]
pub struct LarkWebhook;

fn text_event(message_id: &str, text: &str) -> Value {
    let now = imgate_core::Timestamp::now().as_millis().to_string();
    json!({"schema": "2.0",
        "header": {"event_id": format!("ev_{message_id}"), "event_type": "im.message.receive_v1",
            "create_time": now, "token": TOKEN, "app_id": APP_ID, "tenant_key": "tenant"},
        "event": {"sender": {"sender_id": {"open_id": "ou_user1", "union_id": "on_user1", "user_id": "u1"},
            "sender_type": "user", "tenant_key": "tenant"},
            "message": {"message_id": message_id, "root_id": "", "parent_id": "", "create_time": now,
                "update_time": now, "chat_id": "oc_p2p", "chat_type": "p2p", "message_type": "text",
                "content": json!({"text": text}).to_string()}}})
}

fn encrypted(plaintext: &Value, encrypt_key: &str, age_secs: i64) -> Request {
    let body = json!({"encrypt": EventCipher::new(encrypt_key).encrypt(plaintext.to_string().as_bytes())})
        .to_string()
        .into_bytes();
    signed(body, encrypt_key, age_secs)
}

fn signed(body: Vec<u8>, encrypt_key: &str, age_secs: i64) -> Request {
    let timestamp = (imgate_core::Timestamp::now().as_secs() - age_secs).to_string();
    Request {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "x-lark-signature".into(),
                signature(&timestamp, "nonce-1", encrypt_key, &body),
            ),
            ("x-lark-request-timestamp".into(), timestamp),
            ("x-lark-request-nonce".into(), "nonce-1".into()),
        ],
        body,
        ..Request::default()
    }
}

impl WebhookHarness for LarkWebhook {
    fn name(&self) -> &'static str {
        "lark/webhook"
    }

    fn platform(&self) -> &'static str {
        "lark"
    }

    fn integration(&self) -> Value {
        json!({"name": "lark", "platform": "lark", "mode": "webhook", "credentials": {"app_id": APP_ID,
            "app_secret": "conformance-app-secret", "verification_token": TOKEN, "encrypt_key": ENCRYPT_KEY}})
    }

    fn message(&self, message_id: &str, text: &str) -> Request {
        encrypted(&text_event(message_id, text), ENCRYPT_KEY, 0)
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let event = text_event(message_id, "broken");
        Some(match breakage {
            Breakage::BadSignature => {
                let mut request = encrypted(&event, ENCRYPT_KEY, 0);
                let forged = signature("1", "nonce-1", "another-key", &request.body);
                request.headers[1].1 = forged;
                request
            }
            // Lark's window is 7.5 hours.
            Breakage::StaleTimestamp => encrypted(&event, ENCRYPT_KEY, 8 * 3_600),
            Breakage::BrokenBody => signed(b"{\"encrypt\": ".to_vec(), ENCRYPT_KEY, 0),
        })
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        let challenge = json!({"challenge": "conformance-challenge", "token": TOKEN, "type": "url_verification"});
        let body = json!({"encrypt": EventCipher::new(ENCRYPT_KEY).encrypt(challenge.to_string().as_bytes())})
            .to_string()
            .into_bytes();
        Ok((
            Request {
                headers: vec![("content-type".into(), "application/json".into())],
                body,
                ..Request::default()
            },
            |body| {
                serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v["challenge"].as_str().map(str::to_owned))
                    == Some("conformance-challenge".to_owned())
            },
        ))
    }
}
