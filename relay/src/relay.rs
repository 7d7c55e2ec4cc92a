//! `imgate relay`: the always-on process of an AWS deployment (an ECS service). It holds the
//! long connections of every enabled, bound long-connection integration over the same DynamoDB
//! table, SQS queue and KMS key as the Lambda functions, feeds their events into the queue the
//! dispatcher function reads, and pushes the dispatcher's answers back on the connections.
//!
//! Several relays may run at once: a lease per integration gives each bot one connection, and
//! a survivor takes over a dead relay's bots once its leases lapse. SIGTERM or SIGINT stops the
//! connections, writes their status, releases the leases and exits 0 within about 10 s.
//!
//! With `--dispatcher relay` (`IMGATE_DISPATCHER_PLACEMENT=relay`) the relay also runs the
//! dispatcher: the dispatcher function's own code (`imgate_dispatcher_fn::dispatcher_with`),
//! driven by the queue worker `imgate serve` runs, on the same SQS queues. One process then
//! waits on thousands of streaming agents at once, where Lambda bills every second of each
//! wait. On SIGTERM the worker takes no new messages and finishes those in hand (ECS gives
//! the task its stop timeout); a message it could not finish reappears on the queue after its
//! 30 s visibility and is answered once, from the recorded answer if the agent had answered.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{DispatcherPlacement, RelayArgs};
use crate::{endpoints, health, serve, supervise};

/// How long an idle dispatcher waits in one receive (SQS long polling): an idle relay makes a
/// FIFO and a delay-queue receive every 5 s (about 1,440 requests an hour), and an aggregation
/// flush is at most 5 s late.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Connections the health endpoint serves at once: its callers are the container runtime and a
/// load balancer.
const HEALTH_CONNECTIONS: usize = 64;

/// Runs until SIGTERM or SIGINT.
pub async fn run(args: RelayArgs) -> anyhow::Result<()> {
    endpoints::check(&args.connections)?;
    // A relay that runs the dispatcher long-polls the queues it reads.
    let queue_wait = match args.dispatcher {
        DispatcherPlacement::Lambda => std::time::Duration::ZERO,
        DispatcherPlacement::Relay => QUEUE_WAIT,
    };
    let deps = imgate_aws::deps_from_env_polling(queue_wait)
        .await
        .context("reading the AWS backend settings")?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr().context("reading the listening address")?;
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let endpoints = endpoints::endpoints(&args.connections);
    let channels = imgate_channels::Channels::new(&deps, &http, &endpoints);
    let (stop_worker, worker_stopped) = watch::channel(false);
    let worker = match args.dispatcher {
        DispatcherPlacement::Lambda => None,
        DispatcherPlacement::Relay => {
            let settings = imgate_dispatcher_fn::Settings::from_env().context("reading the dispatcher settings")?;
            let media = imgate_aws::media_store_from_env()
                .await
                .context("reading the media bucket setting")?;
            let keeps_media = media.is_some();
            let dispatcher = imgate_dispatcher_fn::dispatcher_at(&deps, &settings, &endpoints, media)
                .context("building the dispatcher")?;
            tracing::info!(
                max_receives = settings.max_receives,
                keeps_media,
                "the dispatcher runs in this relay"
            );
            Some(tokio::spawn(imgate_core::dispatch::worker::run(
                deps.queue.clone(),
                dispatcher,
                worker_stopped,
            )))
        }
    };
    let running = supervise::start(&deps, &channels, &args.connections);
    tracing::info!(address = %local, owner = %running.owner, "imgate relay running");
    println!(
        "imgate relay is running as {} (health: http://{local}/healthz)",
        running.owner
    );

    let (stop_health, health_stopped) = watch::channel(false);
    let health = tokio::spawn(serve_health(listener, running.alive.clone(), health_stopped));
    serve::shutdown_signal().await;
    // The worker first, while the connections can still carry the answers it finishes.
    let _ = stop_worker.send(true);
    if let Some(worker) = worker
        && let Err(error) = worker.await
    {
        tracing::warn!(%error, "the dispatcher worker ended with an error");
    }
    running.stop().await;
    let _ = stop_health.send(true);
    if let Ok(Err(error)) = health.await {
        tracing::warn!(%error, "the health endpoint ended with an error");
    }
    tracing::info!("imgate relay stopped");
    Ok(())
}

async fn serve_health(
    listener: TcpListener,
    alive: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let limits = imgate_http::serve::Limits {
        max_connections: HEALTH_CONNECTIONS,
        ..imgate_http::serve::Limits::default()
    };
    imgate_http::serve::serve(listener, health::router(alive), limits, async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    })
    .await
}
