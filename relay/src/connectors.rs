//! The connectors this build runs, one per platform: the relay supervisor starts a connection
//! for a long-connection integration only when its platform is registered here, and leaves the
//! others to relays that have a connector for them.

use std::collections::HashMap;
use std::sync::Arc;

use imgate_channels::{dingtalk, lark, wecom};
use imgate_core::Platform;
use imgate_core::ports::Deps;
use imgate_core::relay::Connector;

use crate::cli::ConnectionArgs;

/// Platform → connector, for [`imgate_core::relay::Supervisor::new`]: the WeCom long
/// connection, DingTalk Stream and the Lark / Feishu long connection.
pub fn registry(deps: &Deps, http: &reqwest::Client, args: &ConnectionArgs) -> HashMap<Platform, Arc<dyn Connector>> {
    let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
    connectors.insert(
        Platform::Wecom,
        Arc::new(wecom::long::Connector::new(
            deps.store.clone(),
            args.wecom_ws_url.clone(),
        )),
    );
    let lark_endpoints = lark_endpoints(args);
    connectors.insert(
        Platform::Lark,
        lark::connector(
            http.clone(),
            lark_endpoints.clone(),
            Arc::new(lark::api(deps, http, &lark_endpoints)),
        ),
    );
    connectors.insert(
        Platform::Dingtalk,
        dingtalk::connector(http.clone(), dingtalk_endpoints(args)),
    );
    connectors
}

/// DingTalk's OpenAPI and Stream gateway (one host for both).
pub fn dingtalk_endpoints(args: &ConnectionArgs) -> dingtalk::Endpoints {
    let base = args.dingtalk_api_base.trim_end_matches('/').to_owned();
    dingtalk::Endpoints {
        api: base.clone(),
        gateway: base,
    }
}

/// The Feishu and Lark Open Platforms: their own hosts, or one override for both.
pub fn lark_endpoints(args: &ConnectionArgs) -> lark::Endpoints {
    args.lark_api_base
        .as_deref()
        .map_or_else(lark::Endpoints::default, lark::Endpoints::single)
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
    Ok(())
}
