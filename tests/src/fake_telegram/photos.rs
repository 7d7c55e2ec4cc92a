//! `sendPhoto` (Bot API "sendPhoto"): `photo` as an HTTP URL, which Telegram downloads before it
//! answers (5 MB at most for photos by URL); a URL that does not give an image is refused with
//! 400 "wrong file identifier/HTTP URL specified", as Telegram does. Photos are recorded apart
//! from text messages ([`FakeTelegram::photos`]).

use axum::response::Response;
use serde_json::{Value, json};

use super::{BOT_ID, BOT_USERNAME, FakeTelegram, ok, refuse};
use crate::image_host::serves_image;

/// A photo the bot sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// Chat id.
    pub chat_id: i64,
    /// Message id.
    pub message_id: i64,
    /// The URL it was sent by.
    pub url: String,
    /// Forum topic.
    pub thread: Option<i64>,
}

pub(super) async fn send_photo(fake: &FakeTelegram, params: &Value) -> Response {
    let Some(chat_id) = params["chat_id"].as_i64() else {
        return refuse(400, "Bad Request: chat not found");
    };
    let url = params["photo"].as_str().unwrap_or_default().to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || !serves_image(&url).await {
        return refuse(400, "Bad Request: wrong file identifier/HTTP URL specified");
    }
    let mut state = fake.state();
    state.next_message_id += 1;
    let message_id = state.next_message_id;
    state.photos.push(Photo {
        chat_id,
        message_id,
        url,
        thread: params["message_thread_id"].as_i64(),
    });
    ok(json!({"message_id": message_id, "date": 1_700_000_001,
        "chat": {"id": chat_id, "type": if chat_id > 0 { "private" } else { "supergroup" }},
        "from": {"id": BOT_ID, "is_bot": true, "first_name": "Test Bot", "username": BOT_USERNAME},
        "photo": [{"file_id": format!("photo-{message_id}"), "file_unique_id": format!("u{message_id}"), "width": 1, "height": 1}]}))
}

impl FakeTelegram {
    /// Photos the bot sent, in order.
    pub fn photos(&self) -> Vec<Photo> {
        self.state().photos.clone()
    }

    /// The photos that continue the bot's answer to `message_id`: sent in its chat after the
    /// reply and before the next reply there.
    pub fn photos_answering(&self, message_id: i64) -> Vec<Photo> {
        let state = self.state();
        let Some(first) = state.messages.iter().find(|m| m.reply_to == Some(message_id)) else {
            return Vec::new();
        };
        let next_reply = state
            .messages
            .iter()
            .filter(|m| m.chat_id == first.chat_id && m.message_id > first.message_id && m.reply_to.is_some())
            .map(|m| m.message_id)
            .min()
            .unwrap_or(i64::MAX);
        state
            .photos
            .iter()
            .filter(|p| p.chat_id == first.chat_id && p.message_id > first.message_id && p.message_id < next_reply)
            .cloned()
            .collect()
    }
}
