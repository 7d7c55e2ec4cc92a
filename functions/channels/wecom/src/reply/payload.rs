//! Plaintext JSON of smart-bot replies (§2.4, §2.6, §2.7), before [`crate::Crypto`] encrypts
//! passive ones. `response_url` posts and long-connection frames use the same bodies unencrypted.

use serde_json::{Value, json};

use imgate_channel_kit::markdown::truncate_bytes;

use crate::format::MAX_CONTENT_BYTES;

/// The key of the "start a new conversation" button; a `template_card_event` with this key
/// resets the clicking user's session.
pub const NEW_SESSION_KEY: &str = "imgate_new_session";

/// The key of the inert button a card shows once the new conversation has started.
pub const NEW_SESSION_DONE_KEY: &str = "imgate_new_session_done";

/// Longest `task_id` WeCom accepts, in bytes.
pub const MAX_TASK_ID_BYTES: usize = 128;

/// A stream frame: the whole answer so far (WeCom replaces the bubble each time), `finish` on
/// the last one. With `card`, a `stream_with_template_card` frame (send a card once per
/// message). `content` over [`MAX_CONTENT_BYTES`] is cut at a character boundary; callers roll
/// long answers over to a new message before that (see [`imgate_channel_kit::text::split`]).
pub fn stream(stream_id: &str, content: &str, finish: bool, card: Option<&Value>) -> Value {
    // A stream's list of images is no card (see [`super::images::frame`]).
    let card = card.filter(|card| card.get(super::images::MANIFEST).is_none());
    let stream = json!({
        "id": stream_id,
        "finish": finish,
        "content": truncate_bytes(content, MAX_CONTENT_BYTES),
    });
    match card {
        Some(card) => json!({
            "msgtype": "stream_with_template_card",
            "stream": stream,
            "template_card": card,
        }),
        None => json!({ "msgtype": "stream", "stream": stream }),
    }
}

/// A welcome text, the passive answer to `enter_chat`.
pub fn welcome_text(text: &str) -> Value {
    json!({ "msgtype": "text", "text": { "content": truncate_bytes(text, MAX_CONTENT_BYTES) } })
}

/// A Markdown message, for `response_url` and proactive sends (≤ [`MAX_CONTENT_BYTES`]).
pub fn markdown(content: &str) -> Value {
    json!({ "msgtype": "markdown", "markdown": { "content": truncate_bytes(content, MAX_CONTENT_BYTES) } })
}

/// Wraps a template card as a message (`response_url`, welcome or passive reply).
pub fn template_card(card: &Value) -> Value {
    json!({ "msgtype": "template_card", "template_card": card })
}

/// A `button_interaction` card offering to start a new conversation after a failure; its one
/// button carries [`NEW_SESSION_KEY`]. `task_id` is made valid (§2.7: `[0-9A-Za-z_-@]`,
/// ≤ 128 bytes, unique per bot) by replacing other characters with `_` and truncating.
pub fn new_conversation_card(task_id: &str) -> Value {
    json!({
        "card_type": "button_interaction",
        "main_title": {
            "title": "Something went wrong",
            "desc": "Tap below to start over",
        },
        "task_id": valid_task_id(task_id),
        "button_list": [
            { "text": "New conversation", "style": 1, "key": NEW_SESSION_KEY },
        ],
    })
}

/// The passive answer to the [`NEW_SESSION_KEY`] button event: replaces the card (for
/// `userid` only, or for everyone with `None`) with one saying the conversation was reset,
/// whose button is inert ([`NEW_SESSION_DONE_KEY`]). Must be sent within 5 s of the event.
pub fn update_card_done(task_id: &str, userid: Option<&str>) -> Value {
    let card = json!({
        "card_type": "button_interaction",
        "main_title": {
            "title": "New conversation started",
            "desc": "Send a message to continue",
        },
        "task_id": valid_task_id(task_id),
        "button_list": [
            { "text": "Started", "style": 2, "key": NEW_SESSION_DONE_KEY },
        ],
    });
    let mut update = json!({ "response_type": "update_template_card", "template_card": card });
    if let Some(userid) = userid {
        update["userids"] = json!([userid]);
    }
    update
}

/// `task_id` restricted to WeCom's alphabet and length; never empty.
pub fn valid_task_id(task_id: &str) -> String {
    let mut id: String = task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TASK_ID_BYTES)
        .collect();
    if id.is_empty() {
        id.push('_');
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_frames() {
        // V2's plaintext, as a value (key order depends on serde_json features).
        let v2: Value = serde_json::from_str(
            r#"{"msgtype":"stream","stream":{"id":"STREAMID_1","finish":false,"content":"思考中..."}}"#,
        )
        .unwrap();
        assert_eq!(stream("STREAMID_1", "思考中...", false, None), v2);
        let card = new_conversation_card("t1");
        let frame = stream("s1", "failed", true, Some(&card));
        assert_eq!(frame["msgtype"], "stream_with_template_card");
        assert_eq!(frame["stream"]["finish"], true);
        assert_eq!(frame["template_card"], card);
    }

    #[test]
    fn stream_content_is_capped_at_a_char_boundary() {
        let long = "字".repeat(10_000); // 30,000 bytes
        let frame = stream("s", &long, false, None);
        let content = frame["stream"]["content"].as_str().unwrap();
        assert!(content.len() <= MAX_CONTENT_BYTES);
        assert_eq!(content.len(), MAX_CONTENT_BYTES / 3 * 3);
    }

    #[test]
    fn simple_messages() {
        assert_eq!(
            welcome_text("hi"),
            json!({"msgtype": "text", "text": {"content": "hi"}})
        );
        assert_eq!(
            markdown("**x**"),
            json!({"msgtype": "markdown", "markdown": {"content": "**x**"}})
        );
        assert_eq!(template_card(&json!({"a": 1}))["template_card"], json!({"a": 1}));
    }

    #[test]
    fn new_conversation_card_respects_limits() {
        let card = new_conversation_card("run:123/abc");
        assert_eq!(card["card_type"], "button_interaction");
        assert_eq!(card["task_id"], "run_123_abc");
        let buttons = card["button_list"].as_array().unwrap();
        assert!((1..=6).contains(&buttons.len()));
        assert_eq!(buttons[0]["key"], NEW_SESSION_KEY);
        for b in buttons {
            assert!(b["key"].as_str().unwrap().len() <= 1024);
            assert!((1..=4).contains(&b["style"].as_i64().unwrap()));
        }
        assert!(card["main_title"]["title"].as_str().unwrap().chars().count() <= 26);
        assert!(card["main_title"]["desc"].as_str().unwrap().chars().count() <= 30);
        let long = new_conversation_card(&"x".repeat(500));
        assert_eq!(long["task_id"].as_str().unwrap().len(), MAX_TASK_ID_BYTES);
        assert_eq!(new_conversation_card("")["task_id"], "_");
        assert_eq!(valid_task_id("a-b_c@D9"), "a-b_c@D9");
        assert_eq!(valid_task_id("日本"), "__");
    }

    #[test]
    fn card_update_replaces_the_button() {
        let update = update_card_done("task-1", Some("zhangsan"));
        assert_eq!(update["response_type"], "update_template_card");
        assert_eq!(update["userids"], json!(["zhangsan"]));
        assert_eq!(update["template_card"]["task_id"], "task-1");
        assert_eq!(update["template_card"]["button_list"][0]["key"], NEW_SESSION_DONE_KEY);
        assert!(update_card_done("task-1", None).get("userids").is_none());
    }
}
