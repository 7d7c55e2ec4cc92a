//! Reply payloads (§4.1, §4.3): `sessionWebhook` bodies and robot OpenAPI `msgKey`/`msgParam`.
//!
//! Length: DingTalk refuses robot message bodies over 20,000 bytes (errcode 460101 "message
//! too long, exceed 20000 bytes", reported for the robot send endpoints; the sessionWebhook
//! limit itself is UNVERIFIED). Builders cap content at [`MAX_CONTENT_BYTES`], which leaves
//! room for the title, the envelope and JSON escaping; callers roll long answers over to more
//! messages with [`split`] instead of relying on the cap.

use serde_json::{Value, json};

use imgate_channel_kit::markdown::truncate_bytes;

/// Byte budget of one message's text (see the module docs).
pub const MAX_CONTENT_BYTES: usize = 15_000;

/// Longest generated title, in characters (the title only shows in notifications and the chat
/// list).
pub const MAX_TITLE_CHARS: usize = 20;

/// Title used when the text gives none.
pub const DEFAULT_TITLE: &str = "Reply";

/// A `text` message for `sessionWebhook`.
pub fn text(content: &str) -> Value {
    json!({ "msgtype": "text", "text": { "content": truncate_bytes(content, MAX_CONTENT_BYTES) } })
}

/// A `markdown` message for `sessionWebhook`; `title` shows in notifications (see [`title_for`]).
pub fn markdown(title: &str, text: &str) -> Value {
    json!({
        "msgtype": "markdown",
        "markdown": { "title": title, "text": truncate_bytes(text, MAX_CONTENT_BYTES) },
    })
}

/// An image for `sessionWebhook`, which has no image message: a `markdown` message that is only
/// the image (DingTalk's Markdown shows `![alt](url)`), titled with its alt text.
pub fn image(alt: &str, url: &str) -> Value {
    let title = if alt.trim().is_empty() { "image" } else { alt.trim() };
    markdown(
        &title.chars().take(MAX_TITLE_CHARS).collect::<String>(),
        &format!("![{title}]({url})"),
    )
}

/// Adds an @-mention of `staff_ids` to a [`text`] or [`markdown`] body: `at.atUserIds` plus
/// `@<staffId>` appended to the text (DingTalk renders a mention only where the text names it;
/// whether sessionWebhook honours `atUserIds` or `userIds` is UNVERIFIED, `atUserIds` is what
/// the official Python SDK sends). Ids already named in the text are not appended twice.
pub fn mention(mut body: Value, staff_ids: &[&str]) -> Value {
    let ids: Vec<&str> = staff_ids.iter().copied().filter(|id| !id.is_empty()).collect();
    if ids.is_empty() {
        return body;
    }
    for (kind, field) in [("text", "content"), ("markdown", "text")] {
        if let Some(current) = body.pointer_mut(&format!("/{kind}/{field}"))
            && let Some(text) = current.as_str()
        {
            let mut text = text.to_owned();
            for id in &ids {
                let tag = format!("@{id}");
                if !text.contains(&tag) {
                    text.push(' ');
                    text.push_str(&tag);
                }
            }
            *current = Value::from(text);
        }
    }
    if let Some(fields) = body.as_object_mut() {
        fields.insert("at".into(), json!({ "atUserIds": ids, "isAtAll": false }));
    }
    body
}

/// A notification title from Markdown: the first non-blank line without heading, quote, list
/// and emphasis markers, cut to [`MAX_TITLE_CHARS`]; [`DEFAULT_TITLE`] if nothing is left.
pub fn title_for(markdown: &str) -> String {
    let line = markdown
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let line = line.trim_start_matches(['#', '>', '-', '*', '+', ' ', '`']);
    let title: String = line
        .chars()
        .filter(|c| !matches!(c, '*' | '_' | '`'))
        .take(MAX_TITLE_CHARS)
        .collect();
    let title = title.trim();
    if title.is_empty() {
        DEFAULT_TITLE.to_owned()
    } else {
        title.to_owned()
    }
}

/// A robot OpenAPI message: `msgKey` and its `msgParam` (sent as a JSON string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The message template (`sampleText`, `sampleMarkdown`, …).
    pub msg_key: &'static str,
    /// Its parameters.
    pub msg_param: Value,
}

impl Sample {
    /// `sampleText {"content"}`.
    pub fn text(content: &str) -> Self {
        Self {
            msg_key: "sampleText",
            msg_param: json!({ "content": truncate_bytes(content, MAX_CONTENT_BYTES) }),
        }
    }

    /// `sampleMarkdown {"title","text"}`.
    pub fn markdown(title: &str, text: &str) -> Self {
        Self {
            msg_key: "sampleMarkdown",
            msg_param: json!({ "title": title, "text": truncate_bytes(text, MAX_CONTENT_BYTES) }),
        }
    }

    /// `sampleImageMsg {"photoURL"}`: an image DingTalk fetches from `url`.
    pub fn image(url: &str) -> Self {
        Self {
            msg_key: "sampleImageMsg",
            msg_param: json!({ "photoURL": url }),
        }
    }

    /// `msgParam` as the string the API expects.
    pub fn param_string(&self) -> String {
        self.msg_param.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert_eq!(
            image("chart", "https://x/c.png"),
            json!({"msgtype": "markdown", "markdown": {"title": "chart", "text": "![chart](https://x/c.png)"}})
        );
        assert_eq!(image(" ", "https://x/c.png")["markdown"]["title"], "image");
        let sample = Sample::image("https://x/c.png");
        assert_eq!(sample.msg_key, "sampleImageMsg");
        assert_eq!(sample.param_string(), r#"{"photoURL":"https://x/c.png"}"#);
    }

    #[test]
    fn bodies() {
        assert_eq!(text("hi"), json!({"msgtype": "text", "text": {"content": "hi"}}));
        assert_eq!(
            markdown("T", "**x**"),
            json!({"msgtype": "markdown", "markdown": {"title": "T", "text": "**x**"}})
        );
        let long = "字".repeat(10_000);
        let body = markdown("t", &long);
        assert!(body["markdown"]["text"].as_str().unwrap().len() <= MAX_CONTENT_BYTES);
    }

    #[test]
    fn mentions_are_added_once() {
        let body = mention(text("done"), &["042297"]);
        assert_eq!(
            body,
            json!({"msgtype": "text", "text": {"content": "done @042297"},
                   "at": {"atUserIds": ["042297"], "isAtAll": false}})
        );
        let body = mention(markdown("t", "hey @042297"), &["042297", ""]);
        assert_eq!(body["markdown"]["text"], "hey @042297");
        assert_eq!(mention(text("x"), &[]), text("x"));
        // Not a message body: returned unchanged, never a panic.
        assert_eq!(mention(json!(["x"]), &["u"]), json!(["x"]));
    }

    #[test]
    fn titles() {
        assert_eq!(title_for("## **Summary** of things\nbody"), "Summary of things");
        assert_eq!(title_for("\n\n> quoted"), "quoted");
        assert_eq!(title_for("```\n"), DEFAULT_TITLE);
        assert_eq!(title_for(""), DEFAULT_TITLE);
        assert_eq!(title_for(&"长".repeat(50)).chars().count(), MAX_TITLE_CHARS);
    }

    #[test]
    fn samples() {
        let s = Sample::markdown("T", "body");
        assert_eq!(s.msg_key, "sampleMarkdown");
        let param: Value = serde_json::from_str(&s.param_string()).unwrap();
        assert_eq!(param, json!({"title": "T", "text": "body"}));
        assert_eq!(Sample::text("x").msg_param, json!({"content": "x"}));
    }

    #[test]
    fn split_fits_the_budget() {
        let text = "para\n\n".repeat(6_000);
        let parts = imgate_channel_kit::text::split(&text, MAX_CONTENT_BYTES);
        assert!(parts.len() >= 3);
        assert!(parts.iter().all(|p| p.len() <= MAX_CONTENT_BYTES));
        assert_eq!(parts.concat(), text);
    }
}
