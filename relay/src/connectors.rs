//! The connectors this build runs, one per platform: the relay supervisor starts a connection
//! for a long-connection integration only when its platform is registered here, and leaves the
//! others to relays that have a connector for them.

use std::collections::HashMap;
use std::sync::Arc;

use imgate_channels::wecom;
use imgate_core::Platform;
use imgate_core::ports::Store;
use imgate_core::relay::Connector;

use crate::cli::ConnectionArgs;

/// Platform → connector, for [`imgate_core::relay::Supervisor::new`].
pub fn registry(store: Arc<dyn Store>, args: &ConnectionArgs) -> HashMap<Platform, Arc<dyn Connector>> {
    let mut connectors: HashMap<Platform, Arc<dyn Connector>> = HashMap::new();
    connectors.insert(
        Platform::Wecom,
        Arc::new(wecom::long::Connector::new(store, args.wecom_ws_url.clone())),
    );
    connectors
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
    Ok(())
}
