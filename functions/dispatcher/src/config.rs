//! The dispatcher function's own settings, read from the environment.
//!
//! The backend (table, queues, KMS key) is configured separately, by the variables
//! `imgate_aws::deps_from_env` reads.

/// Environment variable: receives after which SQS dead-letters a message. It must equal the
/// queues' `maxReceiveCount`, so that the last attempt answers the user with an error instead
/// of failing silently into the dead-letter queue.
pub const MAX_RECEIVES_VAR: &str = "IMGATE_MAX_RECEIVES";
/// Environment variable: base URL of the WeCom API (private deployments and tests).
pub const WECOM_API_BASE_VAR: &str = "IMGATE_WECOM_API_BASE";
/// Environment variable: the largest file a user sends that is fetched for the agent, in bytes.
pub const MEDIA_MAX_BYTES_VAR: &str = imgate_core::media::MAX_BYTES_VAR;
/// Default of [`MAX_RECEIVES_VAR`] (the template's default `maxReceiveCount`).
pub const DEFAULT_MAX_RECEIVES: u32 = 5;
/// Most receives SQS allows in a redrive policy.
const MAX_MAX_RECEIVES: u32 = 1000;

/// A setting is present but unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not a whole number in the range SQS accepts.
    #[error("{MAX_RECEIVES_VAR} must be a whole number from 1 to {MAX_MAX_RECEIVES} (the queues' maxReceiveCount)")]
    MaxReceives,
    /// Not an http(s) URL.
    #[error("{WECOM_API_BASE_VAR} must be an http:// or https:// URL")]
    WecomApiBase,
    /// Not a usable size cap.
    #[error(transparent)]
    MediaMaxBytes(#[from] imgate_core::media::MaxBytesError),
}

/// Settings of the dispatcher function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Receives before a message is dead-lettered ([`MAX_RECEIVES_VAR`]).
    pub max_receives: u32,
    /// WeCom API base without a trailing slash ([`WECOM_API_BASE_VAR`]).
    pub wecom_api_base: String,
    /// The media size cap in bytes ([`MEDIA_MAX_BYTES_VAR`], default 20 MiB).
    pub media_max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_receives: DEFAULT_MAX_RECEIVES,
            wecom_api_base: imgate_channels::wecom::api::DEFAULT_BASE_URL.to_owned(),
            media_max_bytes: imgate_core::media::DEFAULT_MAX_BYTES,
        }
    }
}

impl Settings {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable that is set but unusable.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests); unset or
    /// blank variables take their defaults.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable that is set but unusable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let defaults = Self::default();
        let max_receives = match get(MAX_RECEIVES_VAR) {
            None => defaults.max_receives,
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_MAX_RECEIVES).contains(n))
                .ok_or(ConfigError::MaxReceives)?,
        };
        let wecom_api_base = match get(WECOM_API_BASE_VAR) {
            None => defaults.wecom_api_base,
            Some(url) if imgate_core::agent::is_http_url(&url) => url.trim_end_matches('/').to_owned(),
            Some(_) => return Err(ConfigError::WecomApiBase),
        };
        let media_max_bytes = match get(MEDIA_MAX_BYTES_VAR) {
            None => defaults.media_max_bytes,
            Some(value) => imgate_core::media::parse_max_bytes(&value)?,
        };
        Ok(Self {
            max_receives,
            wecom_api_base,
            media_max_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_when_unset_or_blank() {
        assert_eq!(Settings::from_lookup(vars(&[])), Ok(Settings::default()));
        let blank = Settings::from_lookup(vars(&[(MAX_RECEIVES_VAR, " "), (WECOM_API_BASE_VAR, "")]));
        assert_eq!(blank, Ok(Settings::default()));
        assert_eq!(Settings::default().max_receives, 5);
        assert_eq!(Settings::default().wecom_api_base, "https://qyapi.weixin.qq.com");
    }

    #[test]
    fn reads_both_settings() {
        let settings = Settings::from_lookup(vars(&[
            (MAX_RECEIVES_VAR, "3"),
            (WECOM_API_BASE_VAR, "http://127.0.0.1:9000/"),
        ]))
        .expect("settings");
        assert_eq!(settings.max_receives, 3);
        assert_eq!(settings.wecom_api_base, "http://127.0.0.1:9000");
        assert_eq!(settings.media_max_bytes, 20 * 1024 * 1024);
        let settings = Settings::from_lookup(vars(&[(MEDIA_MAX_BYTES_VAR, "1048576")])).expect("settings");
        assert_eq!(settings.media_max_bytes, 1024 * 1024);
    }

    #[test]
    fn refuses_unusable_values() {
        for bad in ["0", "-1", "five", "1001"] {
            assert_eq!(
                Settings::from_lookup(vars(&[(MAX_RECEIVES_VAR, bad)])),
                Err(ConfigError::MaxReceives),
                "{bad}"
            );
        }
        let err = Settings::from_lookup(vars(&[(WECOM_API_BASE_VAR, "ftp://example.com")])).expect_err("bad url");
        assert_eq!(err, ConfigError::WecomApiBase);
        assert!(err.to_string().contains(WECOM_API_BASE_VAR));
        let err = Settings::from_lookup(vars(&[(MEDIA_MAX_BYTES_VAR, "20MB")])).expect_err("bad cap");
        assert!(err.to_string().contains(MEDIA_MAX_BYTES_VAR));
    }
}
