//! WeCom smart bots in callback mode: WXBizMsgCrypt-signed, encrypted JSON callbacks.

use imgate_channels::wecom::Crypto;
use imgate_channels::wecom::simulate::{SignedCallback, Simulator};
use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};

const TOKEN: &str = "conformanceToken";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// What WeCom asks the URL to decrypt and echo.
const ECHO: &str = "8345672345678123456";
const OTHER_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut";

/// The harness.
pub struct WecomWebhook {
    sim: Simulator,
}

impl Default for WecomWebhook {
    fn default() -> Self {
        Self {
            sim: Simulator::new(TOKEN, AES_KEY).expect("a valid EncodingAESKey"),
        }
    }
}

fn post(callback: SignedCallback) -> Request {
    Request {
        query: callback.query,
        body: callback.body.into_bytes(),
        ..Request::default()
    }
}

fn text(message_id: &str, text: &str) -> Value {
    json!({"msgid": message_id, "aibotid": "bot", "chattype": "single", "from": {"userid": "u1"},
        "msgtype": "text", "text": {"content": text}})
}

impl WebhookHarness for WecomWebhook {
    fn name(&self) -> &'static str {
        "wecom/webhook"
    }

    fn platform(&self) -> &'static str {
        "wecom"
    }

    fn integration(&self) -> Value {
        json!({"name": "bot", "platform": "wecom", "credentials": {"token": TOKEN, "encoding_aes_key": AES_KEY}})
    }

    fn message(&self, message_id: &str, body: &str) -> Request {
        post(self.sim.sign(&text(message_id, body)))
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let plaintext = text(message_id, "broken");
        Some(match breakage {
            Breakage::BadSignature => {
                let other = Simulator::new("anotherToken", OTHER_AES_KEY).expect("a valid EncodingAESKey");
                post(other.sign(&plaintext))
            }
            Breakage::StaleTimestamp => {
                let stale = imgate_core::Timestamp::now().as_secs() - 3_600;
                post(self.sim.sign_at(&plaintext, &stale.to_string()))
            }
            Breakage::BrokenBody => {
                let mut request = post(self.sim.sign(&plaintext));
                request.body = b"{\"encrypt\": ".to_vec();
                request
            }
        })
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        let crypto = Crypto::new(TOKEN, AES_KEY, "").expect("a valid EncodingAESKey");
        let echostr = crypto.encrypt(ECHO.as_bytes());
        let timestamp = imgate_core::Timestamp::now().as_secs().to_string();
        let signature = crypto.signature(&timestamp, "n1", &echostr);
        Ok((
            Request {
                get: true,
                query: format!(
                    "msg_signature={signature}&timestamp={timestamp}&nonce=n1&echostr={}",
                    percent(&echostr)
                ),
                ..Request::default()
            },
            |body| body == ECHO,
        ))
    }
}

/// Percent-encodes the Base64 characters a query string cannot carry as they are.
fn percent(text: &str) -> String {
    text.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}
