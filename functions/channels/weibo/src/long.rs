//! The Weibo stream (§3–§6, §9): one WebSocket per app in the relay, messages in, answers out.
//!
//! - [`frames`]: the delta frames of one streamed answer, without I/O;
//! - [`pusher`]: carries the dispatcher's answers from the store onto the socket;
//! - [`connector`]: token, socket, heartbeat and inbound messages as the relay's connector.
//!
//! ```text
//! dispatcher ──► stream buffer ──► pusher ──► socket ──► Weibo   (send_message deltas)
//! ingress ◄── connector ◄── socket ◄── Weibo                     (message frames)
//! ```

pub mod connector;
pub mod frames;
pub mod pusher;

pub use connector::{Connector, Timing};
