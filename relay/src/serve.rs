//! `imgate serve`: the admin API, the platform webhooks, the dispatcher and the relay (long
//! connections) in one process over a SQLite database (its queue is durable: what is queued
//! survives a restart), with the files users send kept for the agents in a directory beside
//! it and served at `/media/{token}`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use imgate_agents::Agents;
use imgate_channels::Channels;
use imgate_core::Timestamp;
use imgate_core::admin::{Admin, AdminSettings};
use imgate_core::apikey;
use imgate_core::dispatch::{DispatchSettings, Dispatcher};
use imgate_core::media::MediaSettings;
use imgate_embedded::{MediaDir, QueueOptions, SqliteStore};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::{endpoints, supervise};

/// Where the hash of the generated bootstrap key is remembered.
const BOOTSTRAP_META_KEY: &str = "bootstrap_key_sha256";
/// How often expired dedupe claims, sessions, leases, log lines and media files are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.public_base_url
        && !imgate_core::agent::is_http_url(url)
    {
        anyhow::bail!("--public-base-url must be an http:// or https:// URL");
    }
    if !imgate_core::agent::is_http_url(&args.wecom_api_base) {
        anyhow::bail!("--wecom-api-base must be an http:// or https:// URL");
    }
    endpoints::check(&args.connections)?;
    let (deps, backend) = imgate_embedded::open_backend(
        &args.db,
        &args.key_file,
        QueueOptions {
            max_receives: args.max_receives,
        },
    )
    .await
    .with_context(|| format!("opening the database {}", args.db.display()))?;
    // This process is the database's only receiver: messages still held are those of a process
    // that died while handling them, and their conversations should not wait for the visibility.
    let released = backend
        .queue
        .release_in_flight()
        .await
        .context("releasing the messages of the previous process")?;
    if released > 0 {
        tracing::warn!(
            messages = released,
            "the previous process stopped while handling messages; they are handled again now"
        );
    }
    let store = backend.store;
    let bootstrap_key_hash = bootstrap_key_hash(&args, &store).await?;

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr().context("reading the listening address")?;
    let public_base_url = match &args.public_base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{local}"),
    };

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let mut endpoints = endpoints::endpoints(&args.connections);
    endpoints.wecom.api = args.wecom_api_base.trim_end_matches('/').to_owned();
    let channels = Channels::new(&deps, &http, &endpoints);
    let agents: Arc<Agents> = Arc::new(Agents::new(http.clone()));
    let media = media_dir(&args, &public_base_url)?;
    let dispatcher = Dispatcher::new(
        &deps,
        agents.clone(),
        channels.repliers(),
        DispatchSettings {
            max_receives: args.max_receives,
            ..DispatchSettings::default()
        },
    )
    .with_media(
        channels.media(),
        Arc::new(media.clone()),
        MediaSettings {
            max_bytes: args.media_max_bytes,
            ..MediaSettings::default()
        },
    );
    let webhooks = channels.webhooks();
    let queue = deps.queue.clone();
    let relay = supervise::start(&deps, &channels, &args.connections);
    let admin = Admin::new(
        deps,
        AdminSettings {
            public_base_url: public_base_url.clone(),
            bootstrap_key_hash: Some(bootstrap_key_hash),
        },
    )
    .with_registrar(channels.registrar())
    .with_logins(channels.logins())
    .with_probe(channels.probe())
    .with_agents(agents);
    tracing::info!(address = %local, db = %args.db.display(), public_base_url = %public_base_url, "imgate serve listening");
    println!(
        "imgate is listening on http://{local} (console: http://{local}/console/, admin API: http://{local}/api/admin/v1)"
    );

    let purge = tokio::spawn(purge_periodically(store, media.clone()));
    let (stop, stopped) = watch::channel(false);
    let worker = tokio::spawn(imgate_core::dispatch::worker::run(queue, dispatcher, stopped));
    imgate_http::serve::serve(
        listener,
        imgate_http::gateway_with_media(admin, webhooks, Arc::new(media)),
        args.http_limits(),
        shutdown_signal(),
    )
    .await
    .context("serving HTTP")?;
    // Close the long connections (their leases are released), then let the worker finish what
    // it is handling; what it has not taken stays queued on disk.
    relay.stop().await;
    let _ = stop.send(true);
    if let Err(error) = worker.await {
        tracing::error!(%error, "the queue worker ended abnormally");
    }
    purge.abort();
    tracing::info!("imgate serve stopped");
    Ok(())
}

/// The bootstrap key's hash: from the flag/env, else the one generated on first start.
async fn bootstrap_key_hash(args: &ServeArgs, store: &SqliteStore) -> anyhow::Result<String> {
    if let Some(key) = &args.bootstrap_key {
        if key.trim().len() < 16 {
            anyhow::bail!("IMGATE_BOOTSTRAP_KEY must be at least 16 characters");
        }
        return Ok(apikey::hash(key.trim()));
    }
    if let Some(hash) = store
        .get_meta(BOOTSTRAP_META_KEY)
        .await
        .context("reading the bootstrap key")?
    {
        tracing::info!("using the bootstrap key generated at first start (set IMGATE_BOOTSTRAP_KEY to use another)");
        return Ok(hash);
    }
    let key = format!(
        "imgate-bootstrap-{}",
        URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let hash = apikey::hash(&key);
    if store
        .set_meta_if_absent(BOOTSTRAP_META_KEY, &hash)
        .await
        .context("storing the bootstrap key")?
    {
        // Printed once, on purpose, to the terminal only: it is never logged.
        println!("Generated a bootstrap admin key. It is shown only now; store it safely:\n\n    {key}\n");
        Ok(hash)
    } else {
        // Another process created one at the same moment: use theirs.
        store
            .get_meta(BOOTSTRAP_META_KEY)
            .await?
            .context("bootstrap key vanished")
    }
}

/// The media directory (`--media-dir`, or `media/` beside the database), its links under the
/// public base URL and signed with a key derived from the key file's.
fn media_dir(args: &ServeArgs, public_base_url: &str) -> anyhow::Result<MediaDir> {
    // The key file exists by now: opening the backend created it if it was missing.
    let secret = imgate_embedded::load_or_create_key(&args.key_file).context("reading the key file")?;
    let media = match &args.media_dir {
        Some(dir) => MediaDir::open(dir, &secret, public_base_url),
        None => MediaDir::beside(&args.db, &secret, public_base_url),
    }
    .context("opening the media directory")?;
    tracing::info!(media_dir = %media.path().display(), max_bytes = args.media_max_bytes, "media kept for agents");
    Ok(media)
}

async fn purge_periodically(store: Arc<SqliteStore>, media: MediaDir) {
    let mut tick = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(error) = store.purge_expired(Timestamp::now()).await {
            tracing::warn!(%error, "purging expired items failed");
        }
        if let Err(error) = media.sweep(Timestamp::now()).await {
            tracing::warn!(%error, "removing expired media failed");
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
