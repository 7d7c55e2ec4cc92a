//! The client config the server hands out (§3.2, §3.6, §3.8): ping interval and reconnect
//! policy, in seconds, from the endpoint answer's `ClientConfig` and from pong payloads.
//!
//! A config update replaces the values it carries. Values no sane server sends are not applied:
//! a missing, non-numeric or negative interval keeps the current one, and intervals are raised to
//! at least one second and capped at a day, so a bad config can neither make the client spin
//! nor overflow a timer.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Shortest ping or reconnect interval applied.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval or jitter applied.
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The config in force for one connector run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// How often the client pings (`PingInterval`).
    pub ping_interval: Duration,
    /// Reconnect attempts after a connection ends; negative means without limit
    /// (`ReconnectCount`).
    pub reconnect_count: i64,
    /// Wait between reconnect attempts (`ReconnectInterval`).
    pub reconnect_interval: Duration,
    /// Upper bound of the random wait before the first reconnect attempt (`ReconnectNonce`).
    pub reconnect_nonce: Duration,
}

impl Default for ClientConfig {
    /// The SDKs' values before the server said anything: ping every 120 s, reconnect forever,
    /// 120 s apart, after up to 30 s of jitter.
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(120),
            reconnect_count: -1,
            reconnect_interval: Duration::from_secs(120),
            reconnect_nonce: Duration::from_secs(30),
        }
    }
}

/// A `ClientConfig` object as sent: PascalCase keys, seconds; any key may be missing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigUpdate {
    /// `PingInterval`.
    #[serde(default)]
    pub ping_interval: Option<Value>,
    /// `ReconnectCount`.
    #[serde(default)]
    pub reconnect_count: Option<Value>,
    /// `ReconnectInterval`.
    #[serde(default)]
    pub reconnect_interval: Option<Value>,
    /// `ReconnectNonce`.
    #[serde(default)]
    pub reconnect_nonce: Option<Value>,
}

impl ConfigUpdate {
    /// Parses a pong payload.
    ///
    /// # Errors
    /// The JSON error's category and position when the payload is not a JSON object.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(payload).map_err(|e| format!("{:?} at column {}", e.classify(), e.column()))
    }
}

impl ClientConfig {
    /// Applies what `update` carries (see the module docs for what is refused).
    pub fn apply(&mut self, update: &ConfigUpdate) {
        if let Some(ping) = seconds(update.ping_interval.as_ref()).filter(|s| *s > 0.0) {
            self.ping_interval = interval(ping).max(MIN_INTERVAL);
        }
        if let Some(count) = update.reconnect_count.as_ref().and_then(count) {
            self.reconnect_count = count;
        }
        if let Some(wait) = seconds(update.reconnect_interval.as_ref()) {
            self.reconnect_interval = interval(wait).max(MIN_INTERVAL);
        }
        if let Some(nonce) = seconds(update.reconnect_nonce.as_ref()) {
            self.reconnect_nonce = interval(nonce);
        }
    }

    /// How long a socket may stay silent before it counts as dead: two ping intervals plus
    /// `grace` (the server answers every ping).
    pub fn silence_limit(&self, grace: Duration) -> Duration {
        self.ping_interval.saturating_mul(2).saturating_add(grace)
    }

    /// Whether reconnect attempt `attempt` (0-based) may still be made.
    pub fn may_attempt(&self, attempt: u64) -> bool {
        self.reconnect_count < 0 || attempt < self.reconnect_count.unsigned_abs()
    }
}

/// A non-negative number of seconds, or `None`.
fn seconds(value: Option<&Value>) -> Option<f64> {
    value?.as_f64().filter(|s| s.is_finite() && *s >= 0.0)
}

/// An integer count (a whole float is accepted).
fn count(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
            .map(|f| f as i64)
    })
}

/// `secs` (finite, non-negative) as a duration of at most a day.
fn interval(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs)
        .unwrap_or(MAX_INTERVAL)
        .min(MAX_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: &str) -> ConfigUpdate {
        ConfigUpdate::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn full_config_replaces_every_value() {
        let mut config = ClientConfig::default();
        config.apply(&update(
            r#"{"PingInterval":10,"ReconnectCount":3,"ReconnectInterval":5,"ReconnectNonce":0}"#,
        ));
        assert_eq!(
            config,
            ClientConfig {
                ping_interval: Duration::from_secs(10),
                reconnect_count: 3,
                reconnect_interval: Duration::from_secs(5),
                reconnect_nonce: Duration::ZERO,
            }
        );
        assert_eq!(config.silence_limit(Duration::from_secs(3)), Duration::from_secs(23));
    }

    #[test]
    fn partial_and_odd_values() {
        let mut config = ClientConfig::default();
        config.apply(&update(r#"{"PingInterval":0.2,"ReconnectInterval":"7","Other":1}"#));
        assert_eq!(config.ping_interval, MIN_INTERVAL, "raised to the floor");
        assert_eq!(
            config.reconnect_interval,
            Duration::from_secs(120),
            "a string is not applied"
        );
        config.apply(&update(
            r#"{"PingInterval":0,"ReconnectNonce":-4,"ReconnectCount":2.0}"#,
        ));
        assert_eq!(config.ping_interval, MIN_INTERVAL, "0 keeps the current interval");
        assert_eq!(
            config.reconnect_nonce,
            Duration::from_secs(30),
            "negative keeps the current jitter"
        );
        assert_eq!(config.reconnect_count, 2);
        config.apply(&update(
            r#"{"PingInterval":1e300,"ReconnectCount":1.5,"ReconnectInterval":0}"#,
        ));
        assert_eq!(config.ping_interval, MAX_INTERVAL);
        assert_eq!(config.reconnect_count, 2, "a fraction is not a count");
        assert_eq!(config.reconnect_interval, MIN_INTERVAL);
        config.apply(&update("{}"));
        assert_eq!(config.ping_interval, MAX_INTERVAL);
        assert!(ConfigUpdate::parse(br#""x""#).is_err());
        assert!(ConfigUpdate::parse(b"not json").is_err());
    }

    #[test]
    fn attempts_follow_the_count() {
        let mut config = ClientConfig::default();
        assert!(config.may_attempt(u64::MAX), "negative: forever");
        config.reconnect_count = 2;
        assert!(config.may_attempt(0) && config.may_attempt(1));
        assert!(!config.may_attempt(2));
        config.reconnect_count = 0;
        assert!(!config.may_attempt(0));
    }
}
