//! A user's message with attachments (a message's `attachments[]` of `{id, filename, content_type, size,
//! url, proxy_url}`); the files are served wherever their URLs point (a [`crate::fake_media::Cdn`]).

use serde_json::{Value, json};

use super::FakeDiscord;

impl FakeDiscord {
    /// Dispatches `MESSAGE_CREATE` for a user's direct message in `channel` with `content` and
    /// the attachment at `url` (`filename`, `content_type` and `size` as Discord states them);
    /// returns the message's id.
    pub fn user_attachment(&self, channel: &str, content: &str, url: &str, content_type: &str, size: u64) -> String {
        let id = self.id();
        let attachment = json!({"id": format!("a{id}"), "filename": "picture.png", "content_type": content_type,
            "size": size, "url": url, "proxy_url": url});
        let data: Value = json!({"id": id, "channel_id": channel,
            "author": {"id": "700", "username": "alice", "global_name": "Alice"},
            "content": content, "timestamp": "2026-11-22T00:00:00Z", "mentions": [],
            "attachments": [attachment], "type": 0});
        self.dispatch_message(data);
        id
    }
}
