//! Every platform and mode the conversation harnesses play, by name, for the benches that
//! measure them one mode at a time.

use super::chat::ChatHarness;
use super::chat_dingtalk::{self, DingtalkChat};
use super::chat_discord::{self, DiscordChat};
use super::chat_lark::{self, LarkChat};
use super::chat_telegram::{self, TelegramChat};
use super::chat_wechat::WechatChat;
use super::chat_wecom::{self, WecomChat};
use super::chat_weibo::WeiboChat;

/// The modes, as `<platform>_<mode>`.
pub const MODES: [&str; 12] = [
    "wecom_webhook",
    "wecom_long_connection",
    "dingtalk_stream",
    "dingtalk_http",
    "lark_webhook",
    "lark_long_connection",
    "telegram_webhook",
    "telegram_polling",
    "discord_gateway",
    "discord_interactions",
    "weibo_long_connection",
    "wechat_long_connection",
];

/// Starts the harness (and its platform fake) of `mode`, one of [`MODES`]; `None` for a name
/// that is not one of them.
pub async fn start(mode: &str) -> Option<Box<dyn ChatHarness>> {
    Some(match mode {
        "wecom_webhook" => Box::new(WecomChat::start(chat_wecom::Receive::Webhook).await),
        "wecom_long_connection" => Box::new(WecomChat::start(chat_wecom::Receive::LongConnection).await),
        "dingtalk_stream" => Box::new(DingtalkChat::start(chat_dingtalk::Receive::Stream).await),
        "dingtalk_http" => Box::new(DingtalkChat::start(chat_dingtalk::Receive::Http).await),
        "lark_webhook" => Box::new(LarkChat::start(chat_lark::Receive::Webhook).await),
        "lark_long_connection" => Box::new(LarkChat::start(chat_lark::Receive::LongConnection).await),
        "telegram_webhook" => Box::new(TelegramChat::start(chat_telegram::Receive::Webhook).await),
        "telegram_polling" => Box::new(TelegramChat::start(chat_telegram::Receive::Polling).await),
        "discord_gateway" => Box::new(DiscordChat::start(chat_discord::Receive::Gateway).await),
        "discord_interactions" => Box::new(DiscordChat::start(chat_discord::Receive::Interactions).await),
        "weibo_long_connection" => Box::new(WeiboChat::start().await),
        "wechat_long_connection" => Box::new(WechatChat::start().await),
        _ => return None,
    })
}
