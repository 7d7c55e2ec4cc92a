//! Lark / Feishu (`protocols/lark.md`): the inbound half of webhook mode, without I/O.
//!
//! - [`crypto`]: Encrypt Key body decryption and the `X-Lark-Signature` check (§2.4, §2.5);
//! - [`event`]: the outer body, url_verification, the schema 2.0 envelope,
//!   `im.message.receive_v1` and the Verification Token check (§2.2–§2.9);
//! - [`normalize`]: received messages → [`imgate_core::event::InboundEvent`].
//!
//! A webhook route reads the raw body and headers, calls [`event::Verifier::open`], answers a
//! challenge with [`event::challenge_response`], and otherwise acknowledges with 200 at once and
//! queues what [`normalize::envelope`] returns (§2.10: 3 s deadline, dedupe on the event id).

pub mod crypto;
pub mod event;
pub mod normalize;

pub use crypto::{CryptoError, EventCipher};
pub use event::{Callback, Envelope, EventError, SignatureHeaders, Verifier};
