//! Newtype identifiers. Each id carries a short prefix (`int_`, `agt_`, …) so an id pasted into
//! the wrong field is caught by [`std::str::FromStr`] instead of silently looking up nothing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The id text was not of the expected `<prefix>_<hex>` form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}_` followed by 32 hex digits)")]
pub struct InvalidId {
    kind: &'static str,
    prefix: &'static str,
    value: String,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let valid = value
                    .strip_prefix(concat!($prefix, "_"))
                    .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
                if valid {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidId { kind: $kind, prefix: $prefix, value: value.chars().take(80).collect() })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An organization (tenant). Nothing crosses organizations.
    OrgId, "org", "organization"
);
prefixed_id!(
    /// One bot/app on one platform.
    IntegrationId, "int", "integration"
);
prefixed_id!(
    /// An AI endpoint messages are routed to.
    AgentId, "agt", "agent"
);
prefixed_id!(
    /// An admin API key (the public half of the key text).
    ApiKeyId, "key", "API key"
);
prefixed_id!(
    /// One conversation session with an agent.
    SessionId, "ses", "session"
);
prefixed_id!(
    /// The stable imgate user an IM sender maps to.
    UserId, "usr", "user"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let id = IntegrationId::generate();
        assert_eq!(id.as_str().parse::<IntegrationId>(), Ok(id.clone()));
        assert!(id.as_str().starts_with("int_"));
    }

    #[test]
    fn rejects_wrong_prefix_and_garbage() {
        let agent = AgentId::generate();
        assert!(agent.as_str().parse::<IntegrationId>().is_err());
        assert!("int_xyz".parse::<IntegrationId>().is_err());
        assert!("".parse::<OrgId>().is_err());
        let err = "nope".parse::<OrgId>().unwrap_err().to_string();
        assert!(err.contains("organization"), "{err}");
    }

    #[test]
    fn serde_validates() {
        let id = OrgId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<OrgId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<OrgId>("\"org_1\"").is_err());
    }
}
