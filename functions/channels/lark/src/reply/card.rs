//! The card JSON 2.0 documents of replies (§5.2): the streaming answer card, its finished form,
//! the failure card with a "new conversation" button, and the rich-text fallback.
//!
//! Every card has one markdown element, [`ANSWER_ELEMENT`], that the answer streams into, and a
//! `summary` (the chat list's preview), set again when the card is finished so the preview does
//! not stay "thinking".

use imgate_core::dispatch::NEW_SESSION_ACTION;
use serde_json::{Value, json};

use crate::format::to_card_markdown;

/// The element the answer streams into (letters, digits, `_`; ≤ 20 characters, §5.2).
pub const ANSWER_ELEMENT: &str = "answer_md";

/// What a card shows before the first words of the answer.
pub const THINKING: &str = "Thinking… 思考中…";

/// What a click on the "new conversation" button shows (as a toast) while it is handled.
pub const NEW_SESSION_TOAST: &str = "Starting a new conversation… 正在开始新对话…";

/// The button label of failure cards.
const NEW_CONVERSATION: &str = "New conversation / 新对话";

/// Characters of the answer shown as the chat list preview.
const SUMMARY_CHARS: usize = 60;

/// A card in streaming mode showing `markdown` (already converted) — the "thinking" state when
/// it is [`THINKING`].
pub fn streaming(markdown: &str) -> Value {
    json!({
        "schema": "2.0",
        "config": {
            "update_multi": true,
            "streaming_mode": true,
            "summary": {"content": "[…]"},
            "streaming_config": {
                "print_frequency_ms": {"default": 50},
                "print_step": {"default": 2},
                "print_strategy": "fast"
            }
        },
        "body": {"elements": [answer_element(markdown)]}
    })
}

/// The finished card: `markdown` (already converted), streaming off, the answer as preview.
pub fn finished(markdown: &str, preview: &str) -> Value {
    json!({
        "schema": "2.0",
        "config": {"update_multi": true, "streaming_mode": false, "summary": {"content": summary(preview)}},
        "body": {"elements": [answer_element(markdown)]}
    })
}

/// The failure card: `answer_so_far` (may be empty) and the failure `message`, with a button
/// whose callback starts a new conversation. The button's value carries the chat type, which
/// card callbacks do not (see `normalize::card_action`).
pub fn failed(answer_so_far: &str, message: &str, group: bool) -> Value {
    let mut text = String::new();
    if !answer_so_far.trim().is_empty() {
        text.push_str(&to_card_markdown(answer_so_far));
        text.push_str("\n\n---\n");
    }
    text.push_str(&to_card_markdown(message));
    json!({
        "schema": "2.0",
        "config": {"update_multi": true, "streaming_mode": false, "summary": {"content": summary(message)}},
        "body": {"elements": [
            answer_element(&text),
            {
                "tag": "button",
                "element_id": "new_session",
                "type": "primary",
                "text": {"tag": "plain_text", "content": NEW_CONVERSATION},
                "behaviors": [{
                    "type": "callback",
                    "value": {"action": NEW_SESSION_ACTION, "chat_type": if group { "group" } else { "p2p" }}
                }]
            }
        ]}
    })
}

/// The content of a `post` message carrying `text` as one Markdown element (the fallback when
/// cards are not permitted; the way Lark's own channel SDK sends Markdown, §4.4).
pub fn post(text: &str) -> Value {
    json!({"zh_cn": {"content": [[{"tag": "md", "text": to_card_markdown(text)}]]}})
}

/// The content of an `interactive` message that shows card entity `card_id` (§5.1).
pub fn entity_reference(card_id: &str) -> Value {
    json!({"type": "card", "data": {"card_id": card_id}})
}

fn answer_element(markdown: &str) -> Value {
    json!({"tag": "markdown", "element_id": ANSWER_ELEMENT, "content": markdown})
}

/// The first line of `text`, at most [`SUMMARY_CHARS`] characters.
fn summary(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    let mut out: String = line.chars().take(SUMMARY_CHARS).collect();
    if line.chars().count() > SUMMARY_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_and_finished_cards_share_the_answer_element() {
        let live = streaming(THINKING);
        assert_eq!(live["schema"], "2.0");
        assert_eq!(live["config"]["streaming_mode"], true);
        assert_eq!(live["body"]["elements"][0]["element_id"], ANSWER_ELEMENT);
        let done = finished("**hi**", "hi there\nmore");
        assert_eq!(done["config"]["streaming_mode"], false);
        assert_eq!(done["config"]["summary"]["content"], "hi there");
        assert_eq!(done["body"]["elements"][0]["content"], "**hi**");
    }

    #[test]
    fn failure_cards_carry_the_new_session_action_and_chat_type() {
        let card = failed("partial", "it failed <at id=all>", true);
        let text = card["body"]["elements"][0]["content"].as_str().unwrap();
        assert!(text.starts_with("partial\n\n---\n"), "{text}");
        assert!(text.contains("&lt;at id=all>"), "{text}");
        let value = &card["body"]["elements"][1]["behaviors"][0]["value"];
        assert_eq!(value["action"], NEW_SESSION_ACTION);
        assert_eq!(value["chat_type"], "group");
        assert_eq!(
            failed("", "x", false)["body"]["elements"][1]["behaviors"][0]["value"]["chat_type"],
            "p2p"
        );
    }

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(summary(&"x".repeat(100)).chars().count(), SUMMARY_CHARS + 1);
        assert_eq!(summary("\n\n  first  \nsecond"), "first");
        assert_eq!(post("a <b>")["zh_cn"]["content"][0][0]["text"], "a &lt;b>");
    }
}
