//! imgate's domain: organizations, integrations, agents, triggers, sessions, the normalized
//! inbound event and the queue envelope, plus the ports every backend implements.
//!
//! Nothing here knows about AWS, HTTP servers or a particular platform's wire format: the
//! backends (`imgate-aws`, `imgate-embedded`) implement [`ports`], the channels translate
//! platform payloads into [`event::InboundEvent`], and [`admin`] holds the rules of the admin API.

pub mod admin;
pub mod agent;
pub mod apikey;
pub mod cancel;
pub mod crash;
pub mod credentials;
pub mod dispatch;
pub mod envelope;
pub mod event;
pub mod event_log;
pub mod ids;
pub mod ingress;
pub mod integration;
pub mod keyring;
pub mod media;
pub mod org;
pub mod platform;
pub mod ports;
pub mod relay;
pub mod secret;
pub mod session;
mod task;
pub mod time;
pub mod trigger;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use ids::{AgentId, ApiKeyId, IntegrationId, OrgId, SessionId, UserId};
pub use platform::{ConnectionMode, Platform};
pub use time::Timestamp;
