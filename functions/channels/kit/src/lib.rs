//! What every platform needs, written and tested once.
//!
//! - [`text`]: splitting long answers into parts that fit a platform's limit, at paragraph,
//!   line or word breaks, without breaking characters or code fences.
//! - [`markdown`]: the small Markdown pieces platform formatters share, and an answer's images.
//! - [`download`]: an answer's images downloaded for upload, capped, timed and checked.
//! - [`mention`]: mentions written into message text.
//! - [`patience`]: waiting out rate limits for what must arrive.
//! - [`parts`]: an answer as a run of messages edited as it grows, recorded against repeats.
//! - [`tokens`]: platform access tokens cached through the store, fetched once under
//!   concurrency and dropped when the platform says they are invalid.
//! - [`cursor`]: a long poll's cursor kept in the store across relays.
//! - [`fetch`]: fetching what users send: capped, timed, typed and named, errors without
//!   URLs.
//! - [`failure`]: the answer shown when the agent failed, with the way to start over.
//! - [`dial`]: opening a platform's WebSocket (rustls, timeouts, proxy-free direct dial).
//! - [`probe`]: the operator's words for credential tests that could not reach an answer.
//! - [`redact`]: platform JSON errors made safe for logs and event lines.
//! - [`webhook`]: loading a callback's integration, and the framework-free endpoint trait
//!   every platform's webhook implements.
//! - [`channel`]: what a platform hands the registry: its webhook, replier, connector and
//!   credential test.
//!
//! Platform quirks stay in the platform crates; nothing here names a platform.

pub mod channel;
pub mod cursor;
pub mod dial;
pub mod download;
pub mod failure;
pub mod fetch;
pub mod markdown;
pub mod mention;
pub mod parts;
pub mod patience;
pub mod probe;
pub mod redact;
pub mod text;
pub mod tokens;
pub mod webhook;
