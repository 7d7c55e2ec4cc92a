//! A fake Lark/Feishu (protocols/lark.md) for the end-to-end tests, written from the protocol
//! notes alone so the gateway's Lark code is tested against an independent reading of them.
//! First piece: the long connection's frame.

mod frame;

pub use frame::{Decoded, Frame, FrameError, METHOD_CONTROL, METHOD_DATA};
