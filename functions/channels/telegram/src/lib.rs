//! Telegram (`protocols/telegram.md`): bots over the Bot API, by webhook or long polling.
//!
//! - [`verify`]: the webhook's `X-Telegram-Bot-Api-Secret-Token` check (§2.2);
//! - [`wire`]: `Update` and `Message` as the Bot API sends them (§4), with UTF-16 entity offsets;
//! - [`normalize`]: updates → [`imgate_core::event::InboundEvent`], with the group addressing
//!   rules (commands, mentions, replies to the bot);
//! - [`format`]: agent Markdown → Telegram's HTML parse mode, always well formed.

pub mod api;
pub mod format;
pub mod normalize;
pub mod verify;
pub mod webhook;
pub mod wire;
