//! Shared helpers for the end-to-end tests.

pub mod aws;
pub mod moto;
