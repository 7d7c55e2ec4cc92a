//! DingTalk (钉钉): enterprise-internal app robots in Stream mode (WebSocket) or HTTP mode.
//!
//! - [`sign`]: HTTP-mode request verification (`timestamp` + `sign` headers).
//! - [`message`]: the wire types of robot messages (Stream `data` and HTTP bodies alike).
//! - [`normalize`]: turning those into [`imgate_core::event::InboundEvent`]s.
//! - [`stream`]: Stream-mode protocol pieces without a transport: frames, ACKs, registration.
//! - [`reply`]: reply payloads (session webhook bodies, robot OpenAPI `msgKey`/`msgParam`).
//! - [`api`]: HTTP clients for `sessionWebhook` replies and the robot OpenAPI.
//!
//! Protocol reference: `protocols/dingtalk.md`; section numbers in doc comments point there.

pub mod api;
pub mod message;
pub mod normalize;
pub mod reply;
pub mod sign;
pub mod stream;

pub use message::{MessageError, RobotMessage, parse_robot_message};
pub use sign::{SignError, verify};
