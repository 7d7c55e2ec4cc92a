//! A fake Telegram Bot API (protocols/telegram.md) on 127.0.0.1, port 0, for one bot.
//!
//! - Every method answers the envelope of §1: `{"ok":true,"result":…}` or
//!   `{"ok":false,"error_code":…,"description":…,"parameters":{"retry_after":…}}`; a wrong token
//!   in `/bot<token>/<method>` gets 401 `Unauthorized`.
//! - `getMe`; `setWebhook` (secret token alphabet checked, §2.1) and `deleteWebhook`.
//! - `getUpdates` (§3): long-polls up to `timeout` for updates with `update_id ≥ offset`,
//!   confirming (forgetting) those below the offset; 409 while a webhook is set; a
//!   [`FakeTelegram::kick`] makes the running and next polls answer 409 "terminated by other
//!   getUpdates request".
//! - `sendMessage`, `editMessageText` (§5.1, §7.1): text 1–4,096 characters after entity
//!   parsing; HTML parse mode is parsed for real (supported tags only, balanced, `&lt; &gt; &amp;
//!   &quot;` and numeric entities) and refused with 400 "can't parse entities" otherwise; an edit
//!   to the same text is 400 "message is not modified"; an unknown message 400 "message to edit
//!   not found".
//! - `sendMessageDraft` (§7.3): private chats only; `sendChatAction` (§7.2); `setMyCommands`.
//! - `sendPhoto` by URL ([`photos`]).
//! - `getFile` and the file server for the photos users send ([`media`]).
//! - [`FakeTelegram::fail_next`] makes the next call of a method answer a given error (429 with
//!   `retry_after`, 400, …).
//!
//! What the user would see is [`FakeTelegram::messages`] (each message's final text, as
//! displayed: tags removed, entities decoded).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::fake_media::Library;
use crate::in_progress::InProgress;

mod photos;
pub use photos::Photo;

/// The bot's user id.
pub const BOT_ID: i64 = 4242;
/// The bot's username.
pub const BOT_USERNAME: &str = "imgate_test_bot";

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The Bot API method.
    pub method: String,
    /// Its JSON parameters.
    pub params: Value,
}

/// A message as a chat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Chat id.
    pub chat_id: i64,
    /// Message id.
    pub message_id: i64,
    /// The text as displayed (markup removed).
    pub text: String,
    /// The message it replies to.
    pub reply_to: Option<i64>,
    /// Forum topic.
    pub thread: Option<i64>,
    /// How many times it was edited.
    pub edits: usize,
}

#[derive(Default)]
struct Inner {
    token: String,
    calls: Vec<Call>,
    webhook: Option<(String, String)>,
    pending: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    messages: Vec<Shown>,
    drafts: Vec<(i64, String)>,
    failures: HashMap<String, VecDeque<(u16, Value)>>,
    kicked: bool,
    photos: Vec<Photo>,
}

/// The fake; clones share it.
#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Mutex<Inner>>,
    arrived: Arc<Notify>,
    polling: InProgress,
    /// `http://127.0.0.1:<port>`: the Bot API base.
    pub base: String,
    /// The files users send, by `file_id` ([`media`]).
    pub media: Library,
}

impl FakeTelegram {
    /// Starts the fake for the bot with `token`.
    ///
    /// # Panics
    /// When it cannot listen.
    pub async fn start(token: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake Telegram");
        let base = format!("http://{}", listener.local_addr().expect("fake Telegram address"));
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                token: token.to_owned(),
                next_update_id: 100_000,
                next_message_id: 1,
                ..Inner::default()
            })),
            arrived: Arc::new(Notify::new()),
            polling: InProgress::default(),
            base,
            media: Library::default(),
        };
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .merge(media::routes())
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn state(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an update for `getUpdates` and returns it (with its `update_id`).
    pub fn push_update(&self, mut update: Value) -> Value {
        let mut state = self.state();
        state.next_update_id += 1;
        update["update_id"] = json!(state.next_update_id);
        state.pending.push_back(update.clone());
        drop(state);
        self.arrived.notify_waiters();
        update
    }

    /// A user's text message update (without its `update_id`): in a private chat when
    /// `chat_id > 0`, else in a supergroup. Entities are added for `/commands` and
    /// `@username` mentions.
    pub fn text_update(&self, chat_id: i64, user_id: i64, text: &str) -> Value {
        let message_id = {
            let mut state = self.state();
            state.next_message_id += 1;
            state.next_message_id
        };
        let chat = if chat_id > 0 {
            json!({"id": chat_id, "type": "private", "first_name": "User"})
        } else {
            json!({"id": chat_id, "type": "supergroup", "title": "Team"})
        };
        json!({"message": {"message_id": message_id, "date": 1_700_000_000,
            "from": {"id": user_id, "is_bot": false, "first_name": "User", "username": format!("user{user_id}")},
            "chat": chat, "text": text, "entities": entities(text)}})
    }

    /// Makes the next `count` calls of `method` answer `status` with `description` (and
    /// `retry_after` seconds for a 429).
    pub fn fail_next(&self, method: &str, count: usize, status: u16, description: &str, retry_after: Option<u64>) {
        let mut body = json!({"ok": false, "error_code": status, "description": description});
        if let Some(wait) = retry_after {
            body["parameters"] = json!({"retry_after": wait});
        }
        let mut state = self.state();
        let queue = state.failures.entry(method.to_owned()).or_default();
        for _ in 0..count {
            queue.push_back((status, body.clone()));
        }
    }

    /// Another program starts polling: running and later polls answer 409.
    pub fn kick(&self) {
        self.state().kicked = true;
        self.arrived.notify_waiters();
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Calls of `method`.
    pub fn calls_of(&self, method: &str) -> Vec<Value> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .map(|c| c.params.clone())
            .collect()
    }

    /// Messages the bot sent, as shown.
    pub fn messages(&self) -> Vec<Shown> {
        self.state().messages.clone()
    }

    /// The bot's messages answering `message_id`: its reply, and the messages that continue it in
    /// the same chat (sent without a reply) until another reply.
    pub fn answer_to(&self, message_id: i64) -> Vec<Shown> {
        let messages = self.messages();
        let Some(first) = messages.iter().position(|m| m.reply_to == Some(message_id)) else {
            return Vec::new();
        };
        let chat = messages[first].chat_id;
        let mut answer = vec![messages[first].clone()];
        answer.extend(
            messages[first + 1..]
                .iter()
                .filter(|m| m.chat_id == chat)
                .take_while(|m| m.reply_to.is_none())
                .cloned(),
        );
        answer
    }

    /// Drafts shown, in order: `(chat_id, text)`.
    pub fn drafts(&self) -> Vec<(i64, String)> {
        self.state().drafts.clone()
    }

    /// The webhook set: `(url, secret_token)`.
    pub fn webhook(&self) -> Option<(String, String)> {
        self.state().webhook.clone()
    }

    /// Updates not yet confirmed by a poller.
    pub fn unconfirmed(&self) -> usize {
        self.state().pending.len()
    }

    /// Whether the update carrying message `message_id` is still waiting for a poller's
    /// confirmation (an offset past it).
    pub fn is_pending(&self, message_id: i64) -> bool {
        self.state()
            .pending
            .iter()
            .any(|u| u["message"]["message_id"].as_i64() == Some(message_id))
    }

    /// `(getUpdates calls in progress, the most in progress at once)`: a bot has one poller.
    pub fn polling(&self) -> (usize, usize) {
        self.polling.get()
    }
}

/// `bot_command` and `mention` entities of `text` (UTF-16 offsets).
fn entities(text: &str) -> Value {
    let mut found = Vec::new();
    let mut offset = 0;
    for word in text.split(' ') {
        let units = word.encode_utf16().count();
        if word.len() > 1 && word.starts_with('/') {
            found.push(json!({"type": "bot_command", "offset": offset, "length": units}));
        } else if word.len() > 1 && word.starts_with('@') {
            found.push(json!({"type": "mention", "offset": offset, "length": units}));
        }
        offset += units + 1;
    }
    Value::Array(found)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    answer(StatusCode::OK, json!({"ok": true, "result": result}))
}

fn refuse(status: u16, description: &str) -> Response {
    answer(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({"ok": false, "error_code": status, "description": description}),
    )
}

async fn handle(
    State(fake): State<FakeTelegram>,
    Path((bot, method)): Path<(String, String)>,
    body: String,
) -> Response {
    let params: Value = serde_json::from_str(&body).unwrap_or(json!({}));
    {
        let mut state = fake.state();
        state.calls.push(Call {
            method: method.clone(),
            params: params.clone(),
        });
        if bot != format!("bot{}", state.token) {
            return refuse(401, "Unauthorized");
        }
        if let Some((status, body)) = state.failures.get_mut(&method).and_then(VecDeque::pop_front) {
            return answer(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), body);
        }
    }
    match method.as_str() {
        "getMe" => ok(
            json!({"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false}),
        ),
        "setWebhook" => set_webhook(&fake, &params),
        "deleteWebhook" => {
            fake.state().webhook = None;
            ok(json!(true))
        }
        "getUpdates" => get_updates(&fake, &params).await,
        "sendMessage" => send_message(&fake, &params),
        "editMessageText" => edit_message(&fake, &params),
        "sendMessageDraft" => send_draft(&fake, &params),
        "sendPhoto" => photos::send_photo(&fake, &params).await,
        "sendChatAction" | "setMyCommands" => ok(json!(true)),
        _ => refuse(404, "Not Found: method not found"),
    }
}

fn set_webhook(fake: &FakeTelegram, params: &Value) -> Response {
    let url = params["url"].as_str().unwrap_or_default().to_owned();
    let secret = params["secret_token"].as_str().unwrap_or_default().to_owned();
    if secret.len() > 256 {
        return refuse(400, "Bad Request: secret token is too long");
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return refuse(400, "Bad Request: secret token contains unallowed characters");
    }
    fake.state().webhook = (!url.is_empty()).then_some((url, secret));
    ok(json!(true))
}

async fn get_updates(fake: &FakeTelegram, params: &Value) -> Response {
    let _polling = fake.polling.enter();
    let offset = params["offset"].as_i64().unwrap_or(0);
    let timeout = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0).min(50));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let arrived = fake.arrived.notified();
        {
            let mut state = fake.state();
            if state.kicked {
                return refuse(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            if state.webhook.is_some() {
                return refuse(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
                );
            }
            state.pending.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !state.pending.is_empty() {
                return ok(Value::Array(state.pending.iter().cloned().collect()));
            }
        }
        if tokio::time::timeout_at(deadline, arrived).await.is_err() {
            return ok(json!([]));
        }
    }
}

/// Checks a text as Telegram would and returns what it displays, or the 400 description.
fn displayed(params: &Value) -> Result<String, String> {
    let text = params["text"].as_str().unwrap_or_default();
    let shown = if params["parse_mode"] == "HTML" {
        parse_html(text).map_err(|problem| format!("Bad Request: can't parse entities: {problem}"))?
    } else {
        text.to_owned()
    };
    let length = shown.encode_utf16().count();
    if length == 0 {
        return Err("Bad Request: message text is empty".to_owned());
    }
    if length > 4096 {
        return Err("Bad Request: message is too long".to_owned());
    }
    Ok(shown)
}

fn send_message(fake: &FakeTelegram, params: &Value) -> Response {
    let shown = match displayed(params) {
        Ok(shown) => shown,
        Err(description) => return refuse(400, &description),
    };
    let Some(chat_id) = params["chat_id"].as_i64() else {
        return refuse(400, "Bad Request: chat not found");
    };
    let mut state = fake.state();
    state.next_message_id += 1;
    let message_id = state.next_message_id;
    state.messages.push(Shown {
        chat_id,
        message_id,
        text: shown.clone(),
        reply_to: params["reply_parameters"]["message_id"].as_i64(),
        thread: params["message_thread_id"].as_i64(),
        edits: 0,
    });
    ok(
        json!({"message_id": message_id, "date": 1_700_000_001, "chat": {"id": chat_id, "type": if chat_id > 0 { "private" } else { "supergroup" }},
        "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": BOT_USERNAME}, "text": shown}),
    )
}

fn edit_message(fake: &FakeTelegram, params: &Value) -> Response {
    let shown = match displayed(params) {
        Ok(shown) => shown,
        Err(description) => return refuse(400, &description),
    };
    let (chat_id, message_id) = (params["chat_id"].as_i64(), params["message_id"].as_i64());
    let mut state = fake.state();
    let Some(message) = state
        .messages
        .iter_mut()
        .find(|m| Some(m.chat_id) == chat_id && Some(m.message_id) == message_id)
    else {
        return refuse(400, "Bad Request: message to edit not found");
    };
    if message.text == shown {
        return refuse(
            400,
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        );
    }
    message.text = shown.clone();
    message.edits += 1;
    ok(
        json!({"message_id": message.message_id, "date": 1_700_000_001, "chat": {"id": message.chat_id, "type": "private"}, "text": shown}),
    )
}

fn send_draft(fake: &FakeTelegram, params: &Value) -> Response {
    let Some(chat_id) = params["chat_id"].as_i64() else {
        return refuse(400, "Bad Request: chat not found");
    };
    if chat_id < 0 {
        return refuse(400, "Bad Request: drafts can be sent only to private chats");
    }
    if params["draft_id"].as_i64().unwrap_or(0) == 0 {
        return refuse(400, "Bad Request: draft_id must be non-zero");
    }
    let text = params["text"].as_str().unwrap_or_default();
    let shown = if params["parse_mode"] == "HTML" {
        match parse_html(text) {
            Ok(shown) => shown,
            Err(problem) => return refuse(400, &format!("Bad Request: can't parse entities: {problem}")),
        }
    } else {
        text.to_owned()
    };
    if shown.encode_utf16().count() > 4096 {
        return refuse(400, "Bad Request: text is too long");
    }
    fake.state().drafts.push((chat_id, shown));
    ok(json!(true))
}

/// Telegram's HTML: the supported tags only, properly nested, the four named entities and
/// numeric ones; returns the displayed text.
fn parse_html(html: &str) -> Result<String, String> {
    const TAGS: [&str; 16] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    ];
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(['<', '&', '>']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with('>') {
            return Err(format!("unexpected > at byte {}", html.len() - tail.len()));
        }
        if tail.starts_with('&') {
            let end = tail.find(';').ok_or("unfinished entity")?;
            let name = &tail[1..end];
            let decoded = match name {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                _ => name
                    .strip_prefix('#')
                    .and_then(|n| n.parse::<u32>().ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("unsupported entity &{name};"))?,
            };
            out.push(decoded);
            rest = &tail[end + 1..];
            continue;
        }
        let end = tail.find('>').ok_or("unclosed tag")?;
        let tag = &tail[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name) {
                return Err(format!("unexpected end tag </{name}>"));
            }
        } else {
            let name = tag.split(' ').next().unwrap_or_default();
            if !TAGS.contains(&name) {
                return Err(format!("unsupported start tag \"{name}\""));
            }
            stack.push(name.to_owned());
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    if let Some(open) = stack.pop() {
        return Err(format!("can't find end tag corresponding to start tag \"{open}\""));
    }
    Ok(out)
}

mod media;

#[cfg(test)]
mod tests {
    use super::parse_html;

    #[test]
    fn html_is_parsed_as_telegram_does() {
        assert_eq!(parse_html("<b>a &lt; b</b> &amp; <i>c</i>&#33;").unwrap(), "a < b & c!");
        assert!(parse_html("<b>open").is_err());
        assert!(parse_html("a < b").is_err());
        assert!(parse_html("<div>x</div>").is_err());
        assert!(parse_html("<b><i>x</b></i>").is_err());
        assert!(parse_html("AT&T").is_err());
    }
}
