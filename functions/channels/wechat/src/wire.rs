//! iLink's JSON as the server sends it (§1.4, §3.2, §3.3): every field optional, unknown fields
//! ignored, and uint64 ids read as "number or string" into `String` so no id ever passes
//! through `f64` (§10.1).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `message_type` of a user's message.
pub const MESSAGE_TYPE_USER: i64 = 1;
/// `message_type` of the bot's own messages (echoes are skipped).
pub const MESSAGE_TYPE_BOT: i64 = 2;

/// Item `type` values (§3.3).
pub mod item {
    /// Text.
    pub const TEXT: i64 = 1;
    /// Image.
    pub const IMAGE: i64 = 2;
    /// Voice note (with WeChat's transcript).
    pub const VOICE: i64 = 3;
    /// File.
    pub const FILE: i64 = 4;
    /// Video.
    pub const VIDEO: i64 = 5;
}

/// A uint64 id sent as a JSON number or a string, kept as its decimal text.
pub fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        // serde_json keeps integers exactly (u64 / i64); only a float could lose digits, and
        // an id is never one.
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    })
}

/// The application status every answer carries (§1.4).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Status {
    /// `0` = OK; absent means OK.
    #[serde(default)]
    pub ret: Option<i64>,
    /// A second error code; non-zero is a failure.
    #[serde(default)]
    pub errcode: Option<i64>,
    /// The server's message.
    #[serde(default)]
    pub errmsg: Option<String>,
}

impl Status {
    /// The failing code (`ret` first, then `errcode`), or `None` when the call succeeded.
    pub fn failure(&self) -> Option<i64> {
        self.ret.filter(|r| *r != 0).or(self.errcode.filter(|e| *e != 0))
    }
}

/// `getupdates`'s answer (§3.1).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Updates {
    /// The status.
    #[serde(flatten)]
    pub status: Status,
    /// The messages (raw, so one unreadable message never hides the others).
    #[serde(default)]
    pub msgs: Vec<Value>,
    /// The next cursor; replaces the stored one only when not empty.
    #[serde(default)]
    pub get_updates_buf: Option<String>,
    /// How long the server will hold the next request.
    #[serde(default)]
    pub longpolling_timeout_ms: Option<u64>,
}

/// One `WeixinMessage` (§3.2).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Message {
    /// Sequence number.
    #[serde(default, deserialize_with = "id_text")]
    pub seq: Option<String>,
    /// The server's message id (uint64).
    #[serde(default, deserialize_with = "id_text")]
    pub message_id: Option<String>,
    /// The sender, `…@im.wechat`.
    #[serde(default)]
    pub from_user_id: Option<String>,
    /// The bot, `…@im.bot`.
    #[serde(default)]
    pub to_user_id: Option<String>,
    /// Set on messages the bot sent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// When it was sent, in milliseconds.
    #[serde(default)]
    pub create_time_ms: Option<i64>,
    /// `1` user, `2` bot.
    #[serde(default)]
    pub message_type: Option<i64>,
    /// The items.
    #[serde(default)]
    pub item_list: Vec<Item>,
    /// The reply context for this user.
    #[serde(default)]
    pub context_token: Option<String>,
}

/// One `MessageItem` (§3.3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Item {
    /// The item type ([`item`]).
    #[serde(default, rename = "type")]
    pub kind: Option<i64>,
    /// The item's id (`"v1:…"` or a number).
    #[serde(default, deserialize_with = "id_text")]
    pub msg_id: Option<String>,
    /// Text.
    #[serde(default)]
    pub text_item: Option<TextItem>,
    /// Image.
    #[serde(default)]
    pub image_item: Option<MediaItem>,
    /// Voice.
    #[serde(default)]
    pub voice_item: Option<MediaItem>,
    /// File.
    #[serde(default)]
    pub file_item: Option<MediaItem>,
    /// Video.
    #[serde(default)]
    pub video_item: Option<MediaItem>,
    /// A quoted message.
    #[serde(default)]
    pub ref_msg: Option<Box<RefMessage>>,
}

/// `text_item`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TextItem {
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
}

/// `image_item`, `voice_item`, `file_item` and `video_item`: the fields imgate reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MediaItem {
    /// The CDN handle.
    #[serde(default)]
    pub media: Option<CdnMedia>,
    /// A voice note's transcript made by WeChat.
    #[serde(default)]
    pub text: Option<String>,
    /// A file's name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// A file's plaintext size, as a string (§10.2).
    #[serde(default)]
    pub len: Option<Value>,
    /// An image's AES key as 32 hex characters, preferred over `media.aes_key` (§3.3, §5.3).
    #[serde(default)]
    pub aeskey: Option<String>,
}

/// `CDNMedia`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CdnMedia {
    /// The download handle.
    #[serde(default)]
    pub encrypt_query_param: Option<String>,
    /// The AES key (base64; §5.3).
    #[serde(default)]
    pub aes_key: Option<String>,
    /// A complete download URL, when given.
    #[serde(default)]
    pub full_url: Option<String>,
}

/// `ref_msg`: a quoted message.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RefMessage {
    /// The quoted item.
    #[serde(default)]
    pub message_item: Option<Item>,
    /// A summary.
    #[serde(default)]
    pub title: Option<String>,
    /// The quoted message's server id.
    #[serde(default, deserialize_with = "id_text")]
    pub svr_id: Option<String>,
}

/// `get_bot_qrcode`'s answer (§2.1).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QrCode {
    /// The status.
    #[serde(flatten)]
    pub status: Status,
    /// The polling handle.
    #[serde(default)]
    pub qrcode: Option<String>,
    /// The URL to encode into the QR image.
    #[serde(default)]
    pub qrcode_img_content: Option<String>,
}

/// `get_qrcode_status`'s answer (§2.2, §2.3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QrStatus {
    /// `wait`, `scaned`, `confirmed`, …
    #[serde(default)]
    pub status: Option<String>,
    /// The bot token (on `confirmed`).
    #[serde(default)]
    pub bot_token: Option<String>,
    /// The bot id (on `confirmed`).
    #[serde(default)]
    pub ilink_bot_id: Option<String>,
    /// The API base of the account (on `confirmed`).
    #[serde(default)]
    pub baseurl: Option<String>,
    /// The owner (on `confirmed`).
    #[serde(default)]
    pub ilink_user_id: Option<String>,
    /// The host to poll from now on (on `scaned_but_redirect`).
    #[serde(default)]
    pub redirect_host: Option<String>,
}

/// `getconfig`'s answer (§4.4).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Config {
    /// The status.
    #[serde(flatten)]
    pub status: Status,
    /// The ticket `sendtyping` needs.
    #[serde(default)]
    pub typing_ticket: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint64_ids_keep_every_digit() {
        let m: Message = serde_json::from_str(r#"{"message_id":7311111111111111111}"#).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("7311111111111111111"));
        let m: Message = serde_json::from_str(r#"{"message_id":"7505631358879709960"}"#).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("7505631358879709960"));
        let m: Message = serde_json::from_str(r#"{"message_id":18446744073709551615}"#).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("18446744073709551615"));
        let i: Item = serde_json::from_str(r#"{"type":1,"msg_id":"v1:3399221760381267929"}"#).unwrap();
        assert_eq!(i.msg_id.as_deref(), Some("v1:3399221760381267929"));
        let m: Message = serde_json::from_str(r#"{"message_id":null,"unknown":{"x":1}}"#).unwrap();
        assert_eq!(m.message_id, None);
    }

    #[test]
    fn failures_read_ret_then_errcode() {
        let ok: Status = serde_json::from_str("{}").unwrap();
        assert_eq!(ok.failure(), None);
        let ok: Status = serde_json::from_str(r#"{"ret":0,"errmsg":""}"#).unwrap();
        assert_eq!(ok.failure(), None);
        let stale: Status = serde_json::from_str(r#"{"errcode":-14,"errmsg":"session timeout"}"#).unwrap();
        assert_eq!(stale.failure(), Some(-14));
        let refused: Status = serde_json::from_str(r#"{"ret":-2}"#).unwrap();
        assert_eq!(refused.failure(), Some(-2));
    }

    #[test]
    fn the_notes_wire_example_parses() {
        let body = r#"{"ret":0,"get_updates_buf":"AAABCDEF==","longpolling_timeout_ms":35000,
 "msgs":[{"seq":101,"message_id":7505631358879709960,"from_user_id":"o9cq80abc@im.wechat",
          "to_user_id":"e06c1ceea05e@im.bot","create_time_ms":1789481963761,"message_type":1,"message_state":2,
          "context_token":"AARzJWAFAAABAAAAAAAp",
          "item_list":[{"type":1,"msg_id":"v1:3399221760381267929","text_item":{"text":"你好"}}]}]}"#;
        let updates: Updates = serde_json::from_str(body).unwrap();
        assert_eq!(updates.status.failure(), None);
        assert_eq!(updates.get_updates_buf.as_deref(), Some("AAABCDEF=="));
        assert_eq!(updates.longpolling_timeout_ms, Some(35_000));
        let message: Message = serde_json::from_value(updates.msgs[0].clone()).unwrap();
        assert_eq!(message.message_id.as_deref(), Some("7505631358879709960"));
        assert_eq!(message.seq.as_deref(), Some("101"));
        assert_eq!(
            message.item_list[0].text_item.as_ref().unwrap().text.as_deref(),
            Some("你好")
        );
    }
}
