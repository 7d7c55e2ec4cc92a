//! WeCom (企业微信): smart bots (智能机器人) in callback mode and self-built apps (自建应用).
//!
//! - [`crypto`]: WXBizMsgCrypt signatures, callback encryption and media decryption.
//! - [`callback`]: the wire types of callback bodies, before and after decryption.
//! - [`normalize`]: turning those into [`imgate_core::event::InboundEvent`]s.
//! - [`reply`]: plaintext JSON of passive replies, `response_url` posts and template cards.
//! - [`markdown`]: adapting agent Markdown to each WeCom surface and splitting long answers.
//! - [`api`]: HTTP clients for `response_url` and the self-built app `message/send` API.
//! - [`webhook`]: the callback endpoint (URL verification, callbacks, stream refreshes).
//! - [`long`]: the smart-bot long connection (frames, session state machine, connection driver).
//! - [`replier`]: the dispatcher's answers (stream buffer, `response_url`, `message/send`).

pub mod api;
pub mod callback;
pub mod crypto;
pub mod long;
pub mod markdown;
pub mod normalize;
pub mod replier;
pub mod reply;
pub mod simulate;
pub mod webhook;

pub use crypto::{Crypto, CryptoError};
