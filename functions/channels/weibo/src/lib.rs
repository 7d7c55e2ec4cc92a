//! Weibo direct messages (`protocols/weibo.md`): Open IM bots for AI agents, private chats only.
//!
//! - [`wire`]: the WebSocket frames, parsed with errors that quote nothing, and `send_message`;
//! - [`normalize`]: `message` frames → [`imgate_core::event::InboundEvent`];
//! - [`api`]: the token endpoint (cached sealed, retried per §2) and the stream's address.

pub mod api;
pub mod normalize;
pub mod wire;
