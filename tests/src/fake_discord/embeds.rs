//! Image embeds (Discord's embed object, `image.url`): a message may carry embeds instead of
//! content (at least one of the two), and the embeds' image URLs are recorded per message
//! ([`FakeDiscord::embedded_images`]). A message with the `SUPPRESS_EMBEDS` flag (1 << 2) shows
//! none of them, so none is recorded for it.

use serde_json::Value;

use super::FakeDiscord;

/// An image a message shows in an embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Embedded {
    /// The channel, or `interaction:<token>`.
    pub channel: String,
    /// The message's id.
    pub message_id: String,
    /// The image's URL.
    pub url: String,
}

/// The image URLs of `body`'s embeds, as Discord would show them.
fn image_urls(body: &Value) -> Vec<String> {
    if body["flags"].as_u64().is_some_and(|flags| flags & 4 != 0) {
        return Vec::new();
    }
    body["embeds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|embed| embed["image"]["url"].as_str().map(str::to_owned))
        .collect()
}

/// Whether `body` carries embeds, which stand in for content.
pub(super) fn has_embeds(body: &Value) -> bool {
    body["embeds"].as_array().is_some_and(|embeds| !embeds.is_empty())
}

/// Records the embedded images of message `message_id` in `channel`.
pub(super) fn note(fake: &FakeDiscord, channel: &str, message_id: &str, body: &Value) {
    let urls = image_urls(body);
    fake.state().embedded.extend(urls.into_iter().map(|url| Embedded {
        channel: channel.to_owned(),
        message_id: message_id.to_owned(),
        url,
    }));
}

impl FakeDiscord {
    /// Images the bot's messages show in embeds, in order.
    pub fn embedded_images(&self) -> Vec<Embedded> {
        self.state().embedded.clone()
    }
}
