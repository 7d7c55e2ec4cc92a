//! Typed, per-platform credentials, and the write-only rules the admin API applies to them.
//!
//! Credentials travel as a JSON object whose shape depends on the integration's platform and
//! connection mode. Every response shows secret fields as [`MASK`]; an update that sends an empty
//! string or the mask for a secret keeps the stored value.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::platform::{ConnectionMode, Platform};
use crate::secret::{MASK, Secret};

/// Credentials were missing, of the wrong shape or invalid. The message names the field and never
/// contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// `credentials` was not a JSON object.
    #[error("credentials must be a JSON object")]
    NotAnObject,
    /// A field this platform and mode needs is absent or empty.
    #[error("credentials.{0} is required for this platform and mode")]
    Missing(&'static str),
    /// A field has a value of the wrong form.
    #[error("credentials.{field} is invalid: {reason}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// What is wrong, without the value.
        reason: &'static str,
    },
    /// A field this platform and mode does not know.
    #[error("credentials.{0} is not a field of this platform and mode")]
    UnknownField(String),
    /// A field has the wrong JSON type.
    #[error("credentials.{0} must be a string")]
    NotAString(String),
    /// The platform has no such connection mode.
    #[error("{platform} has no {mode} mode: create the integration with mode long_connection")]
    UnsupportedMode {
        /// The platform.
        platform: Platform,
        /// The mode asked for.
        mode: ConnectionMode,
    },
}

/// One credentials field: its name, whether it is secret (masked, write-only) and required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// JSON field name.
    pub name: &'static str,
    /// Masked in responses and kept on an empty update.
    pub secret: bool,
    /// Must be present and non-empty.
    pub required: bool,
}

const fn field(name: &'static str, secret: bool, required: bool) -> FieldSpec {
    FieldSpec { name, secret, required }
}

/// WeCom smart bot or self-built app in callback (short-connection) mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WecomWebhook {
    /// The callback Token used in the SHA-1 signature.
    pub token: Secret,
    /// The 43-character EncodingAESKey.
    pub encoding_aes_key: Secret,
    /// The corp id, checked as the receiveid of self-built app callbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corp_id: Option<String>,
    /// The self-built app's Secret, used to get access tokens for `message/send` replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corp_secret: Option<Secret>,
}

/// WeCom smart bot over the long WebSocket connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WecomLongConnection {
    /// The bot id.
    pub bot_id: String,
    /// The bot secret.
    pub secret: Secret,
}

/// Which Lark deployment an app lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LarkDomain {
    /// open.feishu.cn (mainland China).
    #[default]
    Feishu,
    /// open.larksuite.com (international).
    Lark,
}

/// A Lark / Feishu app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lark {
    /// The app id (`cli_…`).
    pub app_id: String,
    /// The app secret.
    pub app_secret: Secret,
    /// The event subscription Verification Token (required for webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<Secret>,
    /// The event subscription Encrypt Key, when encryption is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt_key: Option<Secret>,
    /// Feishu or Lark.
    #[serde(default)]
    pub domain: LarkDomain,
}

/// A DingTalk app robot (Stream or HTTP mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dingtalk {
    /// The app's client id (AppKey).
    pub client_id: String,
    /// The app's client secret (AppSecret).
    pub client_secret: Secret,
    /// The robot code used by the robot OpenAPI.
    pub robot_code: String,
    /// An AI card template id; streaming replies use it when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_template_id: Option<String>,
}

/// A Telegram bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Telegram {
    /// The bot token from BotFather.
    pub bot_token: Secret,
    /// The webhook `secret_token` Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<Secret>,
}

/// A Discord application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discord {
    /// The application id.
    pub application_id: String,
    /// The Ed25519 public key (hex) that signs interactions.
    pub public_key: String,
    /// The bot token.
    pub bot_token: Secret,
}

/// A Weibo Open IM app (long connection only): the AppId and AppSecret @微博龙虾助手 sends its
/// owner in a private message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weibo {
    /// The AppId.
    pub app_id: String,
    /// The AppSecret.
    pub app_secret: Secret,
}

/// A WeChat iLink bot, as a QR login confirms it (or as an operator who has a token sets it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wechat {
    /// The `bot_token` sent as `Authorization: Bearer`; absent until the first QR login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    /// The `baseurl` every bot API call of this account goes to (iLink's public host if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The `ilink_bot_id` (`…@im.bot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// The `ilink_user_id` of the WeChat user who scanned the code: the bot's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<String>,
}

/// The credentials of one integration, typed by platform and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// WeCom callback mode.
    WecomWebhook(WecomWebhook),
    /// WeCom long connection.
    WecomLongConnection(WecomLongConnection),
    /// Lark / Feishu (both modes).
    Lark(Lark),
    /// DingTalk (both modes).
    Dingtalk(Dingtalk),
    /// Telegram (both modes).
    Telegram(Telegram),
    /// Discord (both modes).
    Discord(Discord),
    /// Weibo (long connection only).
    Weibo(Weibo),
    /// WeChat (long connection only).
    Wechat(Wechat),
}

const WECOM_WEBHOOK: &[FieldSpec] = &[
    field("token", true, true),
    field("encoding_aes_key", true, true),
    field("corp_id", false, false),
    field("corp_secret", true, false),
];
const WECOM_LONG: &[FieldSpec] = &[field("bot_id", false, true), field("secret", true, true)];
const LARK_WEBHOOK: &[FieldSpec] = &[
    field("app_id", false, true),
    field("app_secret", true, true),
    field("verification_token", true, true),
    field("encrypt_key", true, false),
    field("domain", false, false),
];
const LARK_LONG: &[FieldSpec] = &[
    field("app_id", false, true),
    field("app_secret", true, true),
    field("verification_token", true, false),
    field("encrypt_key", true, false),
    field("domain", false, false),
];
const DINGTALK: &[FieldSpec] = &[
    field("client_id", false, true),
    field("client_secret", true, true),
    field("robot_code", false, true),
    field("card_template_id", false, false),
];
const TELEGRAM_WEBHOOK: &[FieldSpec] = &[field("bot_token", true, true), field("secret_token", true, true)];
const TELEGRAM_LONG: &[FieldSpec] = &[field("bot_token", true, true), field("secret_token", true, false)];
const DISCORD: &[FieldSpec] = &[
    field("application_id", false, true),
    field("public_key", false, true),
    field("bot_token", true, true),
];
const WEIBO: &[FieldSpec] = &[field("app_id", false, true), field("app_secret", true, true)];

const WECHAT: &[FieldSpec] = &[
    field("bot_token", true, false),
    field("base_url", false, false),
    field("bot_id", false, false),
    field("owner_user_id", false, false),
];

/// The fields of the credentials for `platform` in `mode`.
pub fn fields(platform: Platform, mode: ConnectionMode) -> &'static [FieldSpec] {
    use ConnectionMode::{LongConnection, Webhook};
    match (platform, mode) {
        (Platform::Wecom, Webhook) => WECOM_WEBHOOK,
        (Platform::Wecom, LongConnection) => WECOM_LONG,
        (Platform::Lark, Webhook) => LARK_WEBHOOK,
        (Platform::Lark, LongConnection) => LARK_LONG,
        (Platform::Dingtalk, _) => DINGTALK,
        (Platform::Telegram, Webhook) => TELEGRAM_WEBHOOK,
        (Platform::Telegram, LongConnection) => TELEGRAM_LONG,
        (Platform::Discord, _) => DISCORD,
        (Platform::Weibo, _) => WEIBO,
        (Platform::Wechat, _) => WECHAT,
    }
}

impl Credentials {
    /// Parses and validates credentials for a new integration.
    ///
    /// # Errors
    /// A [`CredentialsError`] naming the first wrong field.
    pub fn parse(platform: Platform, mode: ConnectionMode, value: &Value) -> Result<Self, CredentialsError> {
        let object = value.as_object().ok_or(CredentialsError::NotAnObject)?;
        if !supports(platform, mode) {
            return Err(CredentialsError::UnsupportedMode { platform, mode });
        }
        let specs = fields(platform, mode);
        let mut clean = Map::new();
        for (name, v) in object {
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| CredentialsError::UnknownField(name.chars().take(60).collect()))?;
            match v {
                Value::Null => {}
                Value::String(s) if s.is_empty() => {}
                Value::String(s) if spec.secret && s == MASK => {}
                Value::String(s) => {
                    clean.insert(name.clone(), Value::String(s.trim().to_owned()));
                }
                _ => return Err(CredentialsError::NotAString(name.clone())),
            }
        }
        if let Some(missing) = specs.iter().find(|s| s.required && !clean.contains_key(s.name)) {
            return Err(CredentialsError::Missing(missing.name));
        }
        let credentials = Self::from_clean(platform, mode, Value::Object(clean))?;
        credentials.validate()?;
        Ok(credentials)
    }

    /// Applies a partial update: fields absent from `update`, and secret fields sent as `""` or
    /// `"***"`, keep their stored value; `null` clears an optional field.
    ///
    /// # Errors
    /// A [`CredentialsError`] when the merged credentials are invalid.
    pub fn merge(&self, platform: Platform, mode: ConnectionMode, update: &Value) -> Result<Self, CredentialsError> {
        let update = update.as_object().ok_or(CredentialsError::NotAnObject)?;
        let specs = fields(platform, mode);
        // Fields the (possibly new) mode does not know are dropped, so a mode change keeps
        // only what still applies.
        let mut merged = self.to_plain_json();
        merged.retain(|name, _| specs.iter().any(|s| s.name == name));
        for (name, v) in update {
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| CredentialsError::UnknownField(name.chars().take(60).collect()))?;
            let keep = match v {
                Value::String(s) => spec.secret && (s.is_empty() || s == MASK),
                _ => false,
            };
            if !keep {
                merged.insert(name.clone(), v.clone());
            }
        }
        Self::parse(platform, mode, &Value::Object(merged))
    }

    /// The credentials with every secret replaced by `"***"`, for responses.
    pub fn masked(&self) -> Value {
        let (platform, mode) = self.kind();
        let mut plain = self.to_plain_json();
        for spec in fields(platform, mode).iter().filter(|s| s.secret) {
            if let Some(v) = plain.get_mut(spec.name) {
                *v = Value::String(MASK.to_owned());
            }
        }
        Value::Object(plain)
    }

    /// The platform and mode these credentials belong to (Lark, DingTalk, Telegram and Discord
    /// credentials have one shape for both modes; `Webhook` is reported for them).
    pub fn kind(&self) -> (Platform, ConnectionMode) {
        match self {
            Self::WecomWebhook(_) => (Platform::Wecom, ConnectionMode::Webhook),
            Self::WecomLongConnection(_) => (Platform::Wecom, ConnectionMode::LongConnection),
            Self::Lark(_) => (Platform::Lark, ConnectionMode::Webhook),
            Self::Dingtalk(_) => (Platform::Dingtalk, ConnectionMode::Webhook),
            Self::Telegram(_) => (Platform::Telegram, ConnectionMode::Webhook),
            Self::Discord(_) => (Platform::Discord, ConnectionMode::Webhook),
            Self::Weibo(_) => (Platform::Weibo, ConnectionMode::LongConnection),
            Self::Wechat(_) => (Platform::Wechat, ConnectionMode::LongConnection),
        }
    }

    /// Serializes the credentials with their secret values, for sealing at rest.
    pub fn to_sealable_json(&self) -> Vec<u8> {
        serde_json::to_vec(&Value::Object(self.to_plain_json())).unwrap_or_default()
    }

    /// Reads credentials back from [`Credentials::to_sealable_json`] output.
    ///
    /// # Errors
    /// A [`CredentialsError`] when the stored bytes do not fit the platform and mode.
    pub fn from_sealed_json(platform: Platform, mode: ConnectionMode, bytes: &[u8]) -> Result<Self, CredentialsError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| CredentialsError::NotAnObject)?;
        Self::parse(platform, mode, &value)
    }

    fn to_plain_json(&self) -> Map<String, Value> {
        let value = match self {
            Self::WecomWebhook(c) => serde_json::to_value(c),
            Self::WecomLongConnection(c) => serde_json::to_value(c),
            Self::Lark(c) => serde_json::to_value(c),
            Self::Dingtalk(c) => serde_json::to_value(c),
            Self::Telegram(c) => serde_json::to_value(c),
            Self::Discord(c) => serde_json::to_value(c),
            Self::Weibo(c) => serde_json::to_value(c),
            Self::Wechat(c) => serde_json::to_value(c),
        };
        match value {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    fn from_clean(platform: Platform, mode: ConnectionMode, value: Value) -> Result<Self, CredentialsError> {
        Ok(match (platform, mode) {
            (Platform::Wecom, ConnectionMode::Webhook) => Self::WecomWebhook(typed(value)?),
            (Platform::Wecom, ConnectionMode::LongConnection) => Self::WecomLongConnection(typed(value)?),
            (Platform::Lark, _) => Self::Lark(typed(value)?),
            (Platform::Dingtalk, _) => Self::Dingtalk(typed(value)?),
            (Platform::Telegram, _) => Self::Telegram(typed(value)?),
            (Platform::Discord, _) => Self::Discord(typed(value)?),
            (Platform::Weibo, _) => Self::Weibo(typed(value)?),
            (Platform::Wechat, _) => Self::Wechat(typed(value)?),
        })
    }

    fn validate(&self) -> Result<(), CredentialsError> {
        match self {
            Self::WecomWebhook(c) => {
                let key = c.encoding_aes_key.expose();
                let base64ish = key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
                if key.len() != 43 || !base64ish {
                    return Err(CredentialsError::Invalid {
                        field: "encoding_aes_key",
                        reason: "must be the 43-character EncodingAESKey from the WeCom console",
                    });
                }
            }
            Self::Telegram(c) => {
                let ok = |s: &str| {
                    (1..=256).contains(&s.len())
                        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                };
                if let Some(token) = &c.secret_token
                    && !ok(token.expose())
                {
                    return Err(CredentialsError::Invalid {
                        field: "secret_token",
                        reason: "must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
                    });
                }
            }
            Self::Discord(c) => {
                if c.public_key.len() != 64 || !c.public_key.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(CredentialsError::Invalid {
                        field: "public_key",
                        reason: "must be the 64-hex-digit application public key",
                    });
                }
            }
            Self::WecomLongConnection(_) | Self::Lark(_) | Self::Dingtalk(_) | Self::Weibo(_) => {}
            Self::Wechat(c) => {
                if let Some(base) = &c.base_url
                    && !(base.starts_with("https://") || base.starts_with("http://"))
                {
                    return Err(CredentialsError::Invalid {
                        field: "base_url",
                        reason: "must be an http(s) URL, the `baseurl` of the QR login",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether `platform` can run in `mode`: WeChat's iLink API (long polling) and Weibo's Open IM
/// (a WebSocket stream) have no webhook.
pub fn supports(platform: Platform, mode: ConnectionMode) -> bool {
    !matches!(
        (platform, mode),
        (Platform::Wechat | Platform::Weibo, ConnectionMode::Webhook)
    )
}

fn typed<T: DeserializeOwned>(value: Value) -> Result<T, CredentialsError> {
    serde_json::from_value(value).map_err(|e| {
        // serde names the field for enum values ("unknown variant") but never echoes secrets
        // because every secret is a plain string that always deserializes.
        if e.to_string().contains("variant") {
            CredentialsError::Invalid {
                field: "domain",
                reason: "must be `feishu` or `lark`",
            }
        } else {
            CredentialsError::NotAnObject
        }
    })
}

#[cfg(test)]
mod tests;
