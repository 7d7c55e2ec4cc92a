//! Agents: where messages go.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{AgentId, OrgId};
use crate::keyring::SealedSecret;
use crate::secret::{MASK, Secret};
use crate::time::Timestamp;

/// The kind of endpoint an agent calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// An OpenAI-compatible chat completions endpoint (streamed over SSE).
    OpenaiCompatible,
    /// A generic HTTP agent: POST JSON, reply as JSON or an SSE stream of text deltas.
    Http,
    /// A LangGraph-style threads/runs server.
    Langgraph,
    /// Replies with the user's own text; for demos and smoke tests.
    Echo,
}

impl AgentKind {
    /// The lowercase name used in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiCompatible => "openai_compatible",
            Self::Http => "http",
            Self::Langgraph => "langgraph",
            Self::Echo => "echo",
        }
    }

    /// Config fields that are secrets: masked in responses, kept on an empty update.
    pub const fn secret_fields(self) -> &'static [&'static str] {
        match self {
            Self::OpenaiCompatible | Self::Langgraph => &["api_key"],
            Self::Http => &["bearer_token"],
            Self::Echo => &[],
        }
    }
}

/// Default number of past messages sent to a chat-completions agent.
pub const DEFAULT_HISTORY_LIMIT: u32 = 20;
/// Default agent call timeout.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 120;

fn default_history_limit() -> u32 {
    DEFAULT_HISTORY_LIMIT
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_SECONDS
}

/// OpenAI-compatible chat completions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenaiCompatibleConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// API key sent as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// System prompt prepended to every conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// How many past messages of the session are sent (1..=200).
    #[serde(default = "default_history_limit")]
    pub history_limit: u32,
    /// Call timeout in seconds (1..=900).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

/// A generic HTTP agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The URL messages are POSTed to.
    pub url: String,
    /// Optional bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    /// Call timeout in seconds (1..=900).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

/// A LangGraph-style server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanggraphConfig {
    /// Server base URL.
    pub base_url: String,
    /// The assistant (graph) id.
    pub assistant_id: String,
    /// Optional API key (`x-api-key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Call timeout in seconds (1..=900).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
}

/// The built-in echo agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    /// Text put before the echoed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// An agent's configuration, typed by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentConfig {
    /// See [`OpenaiCompatibleConfig`].
    OpenaiCompatible(OpenaiCompatibleConfig),
    /// See [`HttpConfig`].
    Http(HttpConfig),
    /// See [`LanggraphConfig`].
    Langgraph(LanggraphConfig),
    /// See [`EchoConfig`].
    Echo(EchoConfig),
}

/// The agent configuration was invalid. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentConfigError {
    /// Not a JSON object.
    #[error("config must be a JSON object")]
    NotAnObject,
    /// Did not fit the kind's fields.
    #[error("config does not fit agent kind `{kind}`: {reason}")]
    Shape {
        /// The agent kind.
        kind: &'static str,
        /// serde's description (field names only).
        reason: String,
    },
    /// A field has a value out of range or of the wrong form.
    #[error("config.{field} is invalid: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

impl AgentConfig {
    /// Parses and validates a config for `kind`.
    ///
    /// # Errors
    /// An [`AgentConfigError`] naming the wrong field.
    pub fn parse(kind: AgentKind, value: &Value) -> Result<Self, AgentConfigError> {
        let mut object = value.as_object().cloned().ok_or(AgentConfigError::NotAnObject)?;
        // An empty or masked secret means "none" on create.
        for name in kind.secret_fields() {
            if object
                .get(*name)
                .and_then(Value::as_str)
                .is_some_and(|s| s.is_empty() || s == MASK)
            {
                object.remove(*name);
            }
        }
        let value = Value::Object(object);
        let shape = |e: serde_json::Error| AgentConfigError::Shape {
            kind: kind.as_str(),
            reason: strip_value(&e),
        };
        let config = match kind {
            AgentKind::OpenaiCompatible => Self::OpenaiCompatible(serde_json::from_value(value).map_err(shape)?),
            AgentKind::Http => Self::Http(serde_json::from_value(value).map_err(shape)?),
            AgentKind::Langgraph => Self::Langgraph(serde_json::from_value(value).map_err(shape)?),
            AgentKind::Echo => Self::Echo(serde_json::from_value(value).map_err(shape)?),
        };
        config.validate()?;
        Ok(config)
    }

    /// The kind of this config.
    pub fn kind(&self) -> AgentKind {
        match self {
            Self::OpenaiCompatible(_) => AgentKind::OpenaiCompatible,
            Self::Http(_) => AgentKind::Http,
            Self::Langgraph(_) => AgentKind::Langgraph,
            Self::Echo(_) => AgentKind::Echo,
        }
    }

    /// Applies a partial update; secrets sent as `""` or `"***"` keep their stored value.
    ///
    /// # Errors
    /// An [`AgentConfigError`] when the merged config is invalid.
    pub fn merge(&self, update: &Value) -> Result<Self, AgentConfigError> {
        let update = update.as_object().ok_or(AgentConfigError::NotAnObject)?;
        let kind = self.kind();
        let mut merged = self.to_plain_json();
        for (name, v) in update {
            let keep =
                kind.secret_fields().contains(&name.as_str()) && v.as_str().is_some_and(|s| s.is_empty() || s == MASK);
            if !keep {
                merged.insert(name.clone(), v.clone());
            }
        }
        Self::parse(kind, &Value::Object(merged))
    }

    /// The config with secrets shown as `"***"`.
    pub fn masked(&self) -> Value {
        let mut plain = self.to_plain_json();
        for name in self.kind().secret_fields() {
            if let Some(v) = plain.get_mut(*name) {
                *v = Value::String(MASK.to_owned());
            }
        }
        Value::Object(plain)
    }

    /// The config with secret values, for sealing at rest.
    pub fn to_sealable_json(&self) -> Vec<u8> {
        serde_json::to_vec(&Value::Object(self.to_plain_json())).unwrap_or_default()
    }

    /// Reads a config back from [`AgentConfig::to_sealable_json`] output.
    ///
    /// # Errors
    /// An [`AgentConfigError`] when the bytes do not fit `kind`.
    pub fn from_sealed_json(kind: AgentKind, bytes: &[u8]) -> Result<Self, AgentConfigError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| AgentConfigError::NotAnObject)?;
        Self::parse(kind, &value)
    }

    fn to_plain_json(&self) -> Map<String, Value> {
        let value = match self {
            Self::OpenaiCompatible(c) => serde_json::to_value(c),
            Self::Http(c) => serde_json::to_value(c),
            Self::Langgraph(c) => serde_json::to_value(c),
            Self::Echo(c) => serde_json::to_value(c),
        };
        match value {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    fn validate(&self) -> Result<(), AgentConfigError> {
        let (url_field, url, timeout) = match self {
            Self::OpenaiCompatible(c) => {
                if !(1..=200).contains(&c.history_limit) {
                    return Err(AgentConfigError::Invalid {
                        field: "history_limit",
                        reason: "must be 1..=200",
                    });
                }
                if c.model.trim().is_empty() {
                    return Err(AgentConfigError::Invalid {
                        field: "model",
                        reason: "must not be empty",
                    });
                }
                ("base_url", c.base_url.as_str(), c.timeout_seconds)
            }
            Self::Http(c) => ("url", c.url.as_str(), c.timeout_seconds),
            Self::Langgraph(c) => {
                if c.assistant_id.trim().is_empty() {
                    return Err(AgentConfigError::Invalid {
                        field: "assistant_id",
                        reason: "must not be empty",
                    });
                }
                ("base_url", c.base_url.as_str(), c.timeout_seconds)
            }
            Self::Echo(_) => return Ok(()),
        };
        if !is_http_url(url) {
            return Err(AgentConfigError::Invalid {
                field: url_field,
                reason: "must be an http:// or https:// URL",
            });
        }
        if !(1..=900).contains(&timeout) {
            return Err(AgentConfigError::Invalid {
                field: "timeout_seconds",
                reason: "must be 1..=900",
            });
        }
        Ok(())
    }
}

/// True for `http://host…` and `https://host…` with a non-empty host and no whitespace.
pub fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !url.chars().any(char::is_whitespace)
    })
}

/// serde messages can quote an offending value ("invalid type: string \"…\""); keep only the
/// part that names fields, so a mistyped secret never lands in an error message.
fn strip_value(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("unknown field") || text.starts_with("missing field") {
        text.split(", expected").next().unwrap_or(&text).to_owned()
    } else {
        "a field has the wrong type".to_owned()
    }
}

/// An agent as stored: its config sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRecord {
    /// Id.
    pub id: AgentId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Kind of endpoint.
    pub kind: AgentKind,
    /// The [`AgentConfig`], sealed with the agent id as context.
    pub config: SealedSecret,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Optimistic-concurrency version, starting at 1.
    pub version: u64,
}

impl AgentRecord {
    /// Opens the sealed config.
    ///
    /// # Errors
    /// [`crate::integration::OpenRecordError`] when the keyring fails or the data does not fit the kind.
    pub async fn open_config(
        &self,
        keyring: &dyn crate::keyring::Keyring,
    ) -> Result<AgentConfig, crate::integration::OpenRecordError> {
        let bytes = keyring.open(&self.config, self.id.as_str()).await?;
        AgentConfig::from_sealed_json(self.kind, &bytes).map_err(|e| crate::integration::OpenRecordError::Corrupt {
            id: self.id.to_string(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openai_config_masks_and_merges() {
        let c = AgentConfig::parse(
            AgentKind::OpenaiCompatible,
            &json!({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": "sk-secret"}),
        )
        .unwrap();
        assert_eq!(c.masked()["api_key"], "***");
        assert_eq!(c.masked()["history_limit"], 20);
        let merged = c.merge(&json!({"api_key": "***", "model": "m2"})).unwrap();
        let AgentConfig::OpenaiCompatible(o) = &merged else {
            panic!()
        };
        assert_eq!(o.api_key.as_ref().unwrap().expose(), "sk-secret");
        assert_eq!(o.model, "m2");
    }

    #[test]
    fn rejects_bad_configs_without_echoing_values() {
        let bad_url = AgentConfig::parse(AgentKind::Http, &json!({"url": "ftp://x"}));
        assert!(matches!(bad_url, Err(AgentConfigError::Invalid { field: "url", .. })));
        let unknown = AgentConfig::parse(AgentKind::Echo, &json!({"nope": 1}))
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `nope`"), "{unknown}");
        let wrong_type =
            AgentConfig::parse(AgentKind::Http, &json!({"url": "http://a", "bearer_token": 12345678})).unwrap_err();
        assert!(!wrong_type.to_string().contains("12345678"));
        assert!(
            AgentConfig::parse(
                AgentKind::OpenaiCompatible,
                &json!({"base_url": "http://a", "model": "m", "history_limit": 0})
            )
            .is_err()
        );
        assert!(AgentConfig::parse(AgentKind::Http, &json!("x")).is_err());
    }

    #[test]
    fn url_check() {
        assert!(is_http_url("https://api.example.com/v1"));
        assert!(is_http_url("http://127.0.0.1:8080"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://a b"));
        assert!(!is_http_url("file:///etc"));
    }
}
