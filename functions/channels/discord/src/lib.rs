//! Discord (`protocols/discord.md`): bots over the gateway and the interactions endpoint.
//!
//! - [`verify`]: the interactions endpoint's Ed25519 signature check (§2.2).

pub mod api;
pub mod long;
pub mod normalize;
pub mod verify;
pub mod wire;
