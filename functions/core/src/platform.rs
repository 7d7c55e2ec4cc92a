//! The IM platforms imgate speaks and how it connects to them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An instant-messaging platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// WeCom (WeChat Work): smart bots and self-built apps.
    Wecom,
    /// Lark / Feishu.
    Lark,
    /// DingTalk.
    Dingtalk,
    /// Telegram.
    Telegram,
    /// Discord.
    Discord,
    /// Weibo direct messages (Open IM, private chats only).
    Weibo,
    /// WeChat personal accounts through Tencent's iLink bot API (private chats only).
    Wechat,
}

impl Platform {
    /// Every platform, in priority order.
    pub const ALL: [Self; 7] = [
        Self::Wecom,
        Self::Lark,
        Self::Dingtalk,
        Self::Telegram,
        Self::Discord,
        Self::Weibo,
        Self::Wechat,
    ];

    /// The lowercase name used in URLs, JSON and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wecom => "wecom",
            Self::Lark => "lark",
            Self::Dingtalk => "dingtalk",
            Self::Telegram => "telegram",
            Self::Discord => "discord",
            Self::Weibo => "weibo",
            Self::Wechat => "wechat",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no known platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}` (expected one of wecom, lark, dingtalk, telegram, discord, weibo, wechat)")]
pub struct UnknownPlatform(String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.chars().take(40).collect()))
    }
}

/// How the platform delivers events to imgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionMode {
    /// The platform calls imgate's public callback URL.
    Webhook,
    /// imgate's relay holds a WebSocket / Stream connection open to the platform.
    LongConnection,
}

impl ConnectionMode {
    /// The lowercase name used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::LongConnection => "long_connection",
        }
    }
}

impl fmt::Display for ConnectionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
        }
        assert!("slack".parse::<Platform>().is_err());
        assert_eq!(
            serde_json::to_string(&ConnectionMode::LongConnection).unwrap(),
            "\"long_connection\""
        );
    }
}
