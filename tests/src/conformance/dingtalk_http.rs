//! DingTalk robots in HTTP mode: a robot message as JSON, signed in the `timestamp` and `sign`
//! headers with the app secret.

use imgate_channels::dingtalk::verify;
use serde_json::{Value, json};

use super::{Breakage, Request, Verification, WebhookHarness};

const CLIENT_ID: &str = "dingconformance";
const SECRET: &str = "conformance-app-secret";

/// The harness.
#[derive(Default)]
pub struct DingtalkHttp;

fn robot_message(message_id: &str, text: &str) -> Value {
    let now = imgate_core::Timestamp::now().as_millis();
    json!({"msgId": message_id, "msgtype": "text", "text": {"content": text},
        "conversationType": "1", "conversationId": "cid-conformance", "senderId": "$:LWCP_v1:$u1",
        "senderStaffId": "staff1", "senderNick": "User", "chatbotUserId": "$:LWCP_v1:$bot",
        "robotCode": CLIENT_ID, "createAt": now, "sessionWebhook": "http://127.0.0.1:9/robot/sendBySession?session=s1",
        "sessionWebhookExpiredTime": now + 3_600_000, "isInAtList": true})
}

fn signed(body: Vec<u8>, timestamp: i64, secret: &str) -> Request {
    let timestamp = timestamp.to_string();
    Request {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("sign".into(), verify::sign(&timestamp, secret)),
            ("timestamp".into(), timestamp),
        ],
        body,
        ..Request::default()
    }
}

impl WebhookHarness for DingtalkHttp {
    fn name(&self) -> &'static str {
        "dingtalk/http"
    }

    fn platform(&self) -> &'static str {
        "dingtalk"
    }

    fn integration(&self) -> Value {
        json!({"name": "robot", "platform": "dingtalk", "mode": "webhook",
            "credentials": {"client_id": CLIENT_ID, "client_secret": SECRET, "robot_code": CLIENT_ID}})
    }

    fn message(&self, message_id: &str, text: &str) -> Request {
        let body = robot_message(message_id, text).to_string().into_bytes();
        signed(body, imgate_core::Timestamp::now().as_millis(), SECRET)
    }

    fn broken(&self, message_id: &str, breakage: Breakage) -> Option<Request> {
        let body = robot_message(message_id, "broken").to_string().into_bytes();
        let now = imgate_core::Timestamp::now().as_millis();
        Some(match breakage {
            Breakage::BadSignature => signed(body, now, "another-secret"),
            Breakage::StaleTimestamp => signed(body, now - 2 * 3_600_000, SECRET),
            Breakage::BrokenBody => signed(b"{\"msgId\": ".to_vec(), now, SECRET),
        })
    }

    fn url_verification(&self) -> Result<Verification, &'static str> {
        Err("DingTalk HTTP mode has no URL verification: the robot's URL is saved without a check")
    }
}
