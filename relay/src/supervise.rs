//! The relay supervisor as `imgate relay` and `imgate serve` run it: started on a task, watched
//! by the health endpoint, stopped gracefully on shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use imgate_channels::Channels;
use imgate_core::ingress::Ingress;
use imgate_core::ports::Deps;
use imgate_core::relay::{RelaySettings, Supervisor};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::ConnectionArgs;

/// How long a graceful stop may take before the connections are dropped (they lapse then):
/// within the 10 s an orchestrator such as ECS gives between SIGTERM and SIGKILL.
const STOP_WITHIN: Duration = Duration::from_secs(9);

/// A supervisor running on its own task.
pub struct Running {
    /// This relay's lease owner name.
    pub owner: String,
    /// True while the supervisor's loop runs.
    pub alive: Arc<AtomicBool>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the supervisor over `deps` with this build's connectors.
pub fn start(deps: &Deps, channels: &Channels, args: &ConnectionArgs) -> Running {
    let owner = args.relay_owner.clone().unwrap_or_else(default_owner);
    let supervisor = Supervisor::new(
        deps.store.clone(),
        deps.keyring.clone(),
        Ingress::new(deps.store.clone(), deps.queue.clone()),
        channels.connectors(),
        RelaySettings::new(owner.clone()),
    );
    let alive = Arc::new(AtomicBool::new(true));
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn({
        let alive = alive.clone();
        async move {
            if let Err(error) = supervisor.run(stop).await {
                tracing::error!(%error, "the relay supervisor did not run");
            }
            alive.store(false, Ordering::SeqCst);
        }
    });
    tracing::info!(%owner, "relay supervisor starting");
    Running {
        owner,
        alive,
        shutdown,
        task,
    }
}

impl Running {
    /// Stops every connection, writes their status and releases their leases; after
    /// [`STOP_WITHIN`] the rest is dropped and its leases lapse on their own.
    pub async fn stop(self) {
        self.alive.store(false, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_WITHIN, &mut task).await.is_err() {
            tracing::warn!("the relay did not stop in time; its remaining connections are dropped");
            task.abort();
        }
    }
}

/// The lease owner name when none is configured: the ECS task's id (the last segment of
/// `ECS_CONTAINER_METADATA_URI_V4`), else `<hostname>-<pid>`.
fn default_owner() -> String {
    owner_from(
        std::env::var("ECS_CONTAINER_METADATA_URI_V4").ok().as_deref(),
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .as_deref(),
        std::process::id(),
    )
}

fn owner_from(ecs_metadata_uri: Option<&str>, hostname: Option<&str>, pid: u32) -> String {
    // `http://169.254.170.2/v4/<id>`: the last segment of the path, never the host.
    let path = ecs_metadata_uri
        .and_then(|uri| uri.trim().split_once("://"))
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, path)| path.trim_end_matches('/'));
    if let Some(id) = path.and_then(|p| p.rsplit('/').next()).filter(|id| !id.is_empty()) {
        return id.to_owned();
    }
    let host = hostname.map(str::trim).filter(|h| !h.is_empty()).unwrap_or("imgate");
    format!("{host}-{pid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_the_ecs_task_else_host_and_pid() {
        let uri = "http://169.254.170.2/v4/9781c248-0edd-4cdb-9a93-f63cb662a5d3";
        assert_eq!(
            owner_from(Some(uri), Some("box"), 7),
            "9781c248-0edd-4cdb-9a93-f63cb662a5d3"
        );
        assert_eq!(
            owner_from(Some(&format!("{uri}/")), None, 7),
            "9781c248-0edd-4cdb-9a93-f63cb662a5d3"
        );
        assert_eq!(owner_from(None, Some("relay-host\n"), 42), "relay-host-42");
        assert_eq!(owner_from(Some(""), Some(" "), 42), "imgate-42");
        assert_eq!(owner_from(Some("http://169.254.170.2"), Some("h"), 1), "h-1");
        assert_eq!(owner_from(Some("http://169.254.170.2/"), Some("h"), 1), "h-1");
        assert_eq!(owner_from(Some("not a uri"), Some("h"), 1), "h-1");
    }
}
