//! The Lark / Feishu long connection (`protocols/lark.md` §3), as the relay's
//! [`imgate_core::relay::Connector`].
//!
//! - [`endpoint`]: `POST /callback/ws/endpoint` for a fresh WebSocket URL and the client config;
//! - [`socket`]: the WebSocket and what a refused handshake means;
//! - [`frame`]: the protobuf frame, pings and ACKs;
//! - [`fragments`]: reassembly of split events;
//! - [`config`]: the ping and reconnect policy the server hands out;
//! - [`Connector`]: all of it in one run per integration.
//!
//! One run: discover, dial, report connected, ping at once and every `PingInterval` with the
//! URL's `service_id`, and end a socket that stays silent for two ping intervals (plus some
//! grace). Event frames go through [`crate::wire::parse_plain`] and [`crate::normalize`]
//! into the ingress; the ACK (the frame echoed with `biz_rt` and `{"code":200}`) is sent only
//! once the ingress accepted the event (enqueued or a duplicate). When it fails no ACK goes out
//! and Lark pushes the event again. Events that are not for the agent (other types, clicks
//! without a chat) and unreadable ones are ACKed, so Lark does not push them forever, and the
//! integration's event log says why. Card frames are dropped without an ACK, as the SDKs do.
//!
//! When a socket ends the run reconnects as the server's config says (§3.8) and hands back
//! [`LinkEnd::Closed`](imgate_core::relay::LinkEnd::Closed) once the attempts are used up.
//! Refused credentials (discovery codes other than 0, 1 and 1000040343), a forbidden app and
//! the connection limit end it with
//! [`LinkEnd::AuthFailed`](imgate_core::relay::LinkEnd::AuthFailed) at once. Nothing here logs
//! the app secret, the WebSocket URL (its query holds connection credentials) or event content.

pub mod config;
mod connector;
pub mod endpoint;
pub mod fragments;
pub mod frame;
mod session;
pub mod socket;

#[cfg(test)]
mod frame_tests;

use imgate_core::event_log::EventKind;
use imgate_core::relay::Link;

pub use config::{ClientConfig, ConfigUpdate};
pub use connector::{Connector, Settings};
pub use endpoint::{ENDPOINT_PATH, Endpoint, EndpointError, discover};
pub use fragments::{Fragment, Limits, Reassembler};
pub use frame::{Frame, FrameError, Header};

/// The event-log kind of events acknowledged without being queued because they are not for
/// the agent.
pub const IGNORED: EventKind = EventKind::Ignored;
/// The event-log kind of events acknowledged and dropped because they could not be read.
pub const UNREADABLE: EventKind = EventKind::Error;

/// Writes why an event was acknowledged but not queued to the integration's event log.
async fn log_unqueued(link: &Link, kind: EventKind, event_id: Option<&str>, why: &str) {
    tracing::info!(platform = "lark", integration_id = %link.integration_id(), event_id = event_id.unwrap_or_default(), why, "event not queued");
    link.ingress().log(link.integration_id(), kind, event_id, why).await;
}
