//! Agent adapters against fake agent servers bound to 127.0.0.1:0.

#![allow(clippy::unwrap_used)]

mod common;
mod echo;
mod http_agent;
mod langgraph;
mod openai;
