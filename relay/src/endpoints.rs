//! The platforms' endpoints as `imgate relay` and `imgate serve` are told them: one
//! [`imgate_channels::Endpoints`] from the command line, checked before anything connects.

use imgate_channels::{Endpoints, dingtalk, lark};

use crate::cli::ConnectionArgs;

/// The endpoints the connection settings name; WeCom's API keeps its default (only `imgate
/// serve` answers through it, and sets it from `--wecom-api-base`).
pub fn endpoints(args: &ConnectionArgs) -> Endpoints {
    let dingtalk_base = args.dingtalk_api_base.trim_end_matches('/').to_owned();
    let mut endpoints = Endpoints {
        dingtalk: dingtalk::Endpoints {
            api: dingtalk_base.clone(),
            gateway: dingtalk_base,
        },
        lark: args
            .lark_api_base
            .as_deref()
            .map_or_else(lark::Endpoints::default, lark::Endpoints::single),
        ..Endpoints::default()
    };
    endpoints.wecom.long_connection = args.wecom_ws_url.trim().to_owned();
    endpoints.telegram.api = args.telegram_api_base.trim_end_matches('/').to_owned();
    endpoints.discord.api = args.discord_api_base.trim_end_matches('/').to_owned();
    endpoints.weibo.api = args.weibo_api_base.trim_end_matches('/').to_owned();
    endpoints.weibo.ws = args.weibo_ws_base.trim().trim_end_matches('/').to_owned();
    endpoints.wechat = imgate_channels::wechat::Endpoints::at(args.wechat_api_base.trim_end_matches('/'));
    endpoints
}

/// Checks the endpoints before anything connects.
///
/// # Errors
/// A message naming the setting that is not a WebSocket URL.
pub fn check(args: &ConnectionArgs) -> anyhow::Result<()> {
    let url = args.wecom_ws_url.trim();
    if !(url.starts_with("wss://") || url.starts_with("ws://")) || url.len() <= "wss://".len() {
        anyhow::bail!("--wecom-ws-url (IMGATE_WECOM_WS_URL) must be a ws:// or wss:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.dingtalk_api_base) {
        anyhow::bail!("--dingtalk-api-base (IMGATE_DINGTALK_API_BASE) must be an http:// or https:// URL");
    }
    if let Some(base) = &args.lark_api_base
        && !imgate_core::agent::is_http_url(base)
    {
        anyhow::bail!("--lark-api-base (IMGATE_LARK_API_BASE) must be an http:// or https:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.telegram_api_base) {
        anyhow::bail!("--telegram-api-base (IMGATE_TELEGRAM_API_BASE) must be an http:// or https:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.discord_api_base) {
        anyhow::bail!("--discord-api-base (IMGATE_DISCORD_API_BASE) must be an http:// or https:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.weibo_api_base) {
        anyhow::bail!("--weibo-api-base (IMGATE_WEIBO_API_BASE) must be an http:// or https:// URL");
    }
    let ws = args.weibo_ws_base.trim();
    if !(ws.starts_with("wss://") || ws.starts_with("ws://")) || ws.len() <= "wss://".len() {
        anyhow::bail!("--weibo-ws-base (IMGATE_WEIBO_WS_BASE) must be a ws:// or wss:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.wechat_api_base) {
        anyhow::bail!("--wechat-api-base (IMGATE_WECHAT_API_BASE) must be an http:// or https:// URL");
    }
    Ok(())
}
