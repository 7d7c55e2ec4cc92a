//! The admin API's rules, independent of HTTP: authentication, organization scoping, write-only
//! secrets, and the one-agent-per-integration binding rule.
//!
//! `imgate-http` maps these operations onto routes and [`AdminError`] onto status codes.

mod agents;
pub mod catalog;
pub mod conversations;
pub mod credential_test;
pub mod dead_letters;
pub mod insight;
mod integrations;
mod login;
mod orgs;
pub mod overview;
mod registration;
pub mod signin;
mod triggers;
pub mod try_agent;
pub mod views;

use crate::apikey;
use crate::ids::{ApiKeyId, OrgId};
use crate::keyring::KeyringError;
use crate::ports::{Deps, StoreError};

pub use catalog::{FieldView, ModeView, PlatformView};
pub use conversations::{ConversationView, ImpactView};
pub use credential_test::CredentialTestView;
pub use dead_letters::DeadLetterView;
pub use insight::{ExplainView, HourBucket, MetricsView};
pub use overview::{Chip, IntegrationSummary};
pub use try_agent::{PreparedTry, TryAgent};
pub use views::*;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap key from configuration: manages organizations and their keys.
    Bootstrap,
    /// An organization's API key: manages that organization's objects.
    Org {
        /// The organization.
        org_id: OrgId,
        /// The key used.
        key_id: ApiKeyId,
    },
}

/// An admin operation failed. Messages are safe to show callers: they never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No key, or an unknown key.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// A valid key that may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The object does not exist in the caller's organization.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// Kind of object.
        what: &'static str,
        /// The id asked for (truncated).
        id: String,
    },
    /// The request is well-formed JSON but its values are wrong.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// For binding conflicts: the agent currently bound (the impact scope).
        current_agent: Option<AgentRef>,
    },
    /// A backend the operation needs (the queue) is down; nothing changed.
    #[error("{0}")]
    Unavailable(&'static str),
    /// Storage failed.
    #[error("storage failed")]
    Store(#[from] StoreError),
    /// Sealing or opening secrets failed.
    #[error("secret keyring failed")]
    Keyring(#[from] KeyringError),
}

impl From<crate::integration::OpenRecordError> for AdminError {
    fn from(error: crate::integration::OpenRecordError) -> Self {
        match error {
            crate::integration::OpenRecordError::Keyring(e) => Self::Keyring(e),
            corrupt @ crate::integration::OpenRecordError::Corrupt { .. } => {
                Self::Store(StoreError::Corrupt(corrupt.to_string()))
            }
        }
    }
}

impl AdminError {
    fn not_found(what: &'static str, id: &str) -> Self {
        Self::NotFound {
            what,
            id: id.chars().take(80).collect(),
        }
    }
}

/// Result alias for admin operations.
pub type AdminResult<T> = Result<T, AdminError>;

/// Settings of the admin service.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Base of the callback URLs shown for webhook integrations, e.g. `https://gw.example.com`.
    pub public_base_url: String,
    /// SHA-256 (hex) of the bootstrap key, if one is configured.
    pub bootstrap_key_hash: Option<String>,
}

/// The admin service.
#[derive(Clone)]
pub struct Admin {
    deps: Deps,
    settings: AdminSettings,
    registrar: Option<std::sync::Arc<dyn crate::ports::WebhookRegistrar>>,
    logins: std::collections::HashMap<crate::platform::Platform, std::sync::Arc<dyn crate::ports::LoginFlow>>,
    probe: Option<std::sync::Arc<dyn crate::ports::CredentialProbe>>,
    agents: Option<std::sync::Arc<dyn crate::ports::AgentClient>>,
}

impl Admin {
    /// An admin service over `deps`.
    pub fn new(deps: Deps, settings: AdminSettings) -> Self {
        Self {
            deps,
            settings,
            registrar: None,
            logins: std::collections::HashMap::new(),
            probe: None,
            agents: None,
        }
    }

    /// The same service, testing credentials with `probe` (see
    /// [`crate::ports::CredentialProbe`]).
    #[must_use]
    pub fn with_probe(mut self, probe: std::sync::Arc<dyn crate::ports::CredentialProbe>) -> Self {
        self.probe = Some(probe);
        self
    }

    /// The same service, calling agents with `agents` for the console's "try it".
    #[must_use]
    pub fn with_agents(mut self, agents: std::sync::Arc<dyn crate::ports::AgentClient>) -> Self {
        self.agents = Some(agents);
        self
    }

    /// The same service, registering webhook URLs with the platforms that need it when
    /// integrations start or stop receiving (see [`crate::ports::WebhookRegistrar`]).
    #[must_use]
    pub fn with_registrar(mut self, registrar: std::sync::Arc<dyn crate::ports::WebhookRegistrar>) -> Self {
        self.registrar = Some(registrar);
        self
    }

    /// The same service, running QR logins for the platforms in `logins` (see
    /// [`crate::ports::LoginFlow`]).
    #[must_use]
    pub fn with_logins(
        mut self,
        logins: std::collections::HashMap<crate::platform::Platform, std::sync::Arc<dyn crate::ports::LoginFlow>>,
    ) -> Self {
        self.logins = logins;
        self
    }

    /// The service's settings.
    pub fn settings(&self) -> &AdminSettings {
        &self.settings
    }

    /// The backends this service uses.
    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Resolves a bearer token to a principal.
    ///
    /// # Errors
    /// [`AdminError::Unauthorized`] for anything but a known key.
    pub async fn authenticate(&self, token: Option<&str>) -> AdminResult<Principal> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AdminError::Unauthorized)?;
        if let Some(hash) = &self.settings.bootstrap_key_hash
            && apikey::verify(token, hash)
        {
            return Ok(Principal::Bootstrap);
        }
        let (id, secret) = apikey::split(token).ok_or(AdminError::Unauthorized)?;
        let record = self
            .deps
            .store
            .get_api_key(&id)
            .await?
            .ok_or(AdminError::Unauthorized)?;
        if !apikey::verify(secret, &record.secret_hash) {
            return Err(AdminError::Unauthorized);
        }
        Ok(Principal::Org {
            org_id: record.org_id,
            key_id: record.id,
        })
    }
}

/// The organization an org-scoped operation acts on.
fn org_of(principal: &Principal) -> AdminResult<&OrgId> {
    match principal {
        Principal::Org { org_id, .. } => Ok(org_id),
        Principal::Bootstrap => Err(AdminError::Forbidden(
            "the bootstrap key manages organizations and API keys only; use an organization API key",
        )),
    }
}

/// Checks a display name: 1..=200 characters after trimming.
fn clean_name(name: &str) -> AdminResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::Invalid("name must be 1 to 200 characters".into()));
    }
    Ok(name.to_owned())
}

/// Parses a path id; a malformed id is simply not found.
fn parse_id<T: std::str::FromStr>(what: &'static str, id: &str) -> AdminResult<T> {
    id.parse().map_err(|_| AdminError::not_found(what, id))
}
