//! The whole gateway in-process over any backend: admin API + webhooks + media links on
//! 127.0.0.1:0 and the queue worker, wired exactly as `imgate serve` wires them.

use std::sync::Arc;
use std::time::Duration;

use imgate_core::admin::{Admin, AdminSettings};
use imgate_core::dispatch::{DispatchSettings, Dispatcher};
use imgate_core::media::MediaSettings;
use imgate_core::ports::{Deps, MediaFetcher, MediaStore};
use imgate_embedded::MediaDir;
use tokio::sync::watch;

/// How a test gateway fetches and keeps media.
#[derive(Default)]
pub struct Media {
    /// Downloads media; `None`: the platforms' own fetchers (`Channels::media`).
    pub fetcher: Option<Arc<dyn MediaFetcher>>,
    /// Keeps them; `None`: a fresh media directory, served by the gateway at `/media/{token}`.
    pub store: Option<Arc<dyn MediaStore>>,
    /// The cap and timeouts.
    pub settings: MediaSettings,
}

/// The bootstrap key of test gateways.
pub const BOOTSTRAP: &str = "test-gateway-bootstrap-key";

/// A running gateway; stops when dropped.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The admin service (to set things up without HTTP).
    pub admin: Admin,
    /// The backends.
    pub deps: Deps,
    stop: watch::Sender<bool>,
    /// The media directory's parent, removed with the gateway.
    _media: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Gateway {
    /// Starts the gateway. `worker: false` leaves the queue alone (to inspect what was enqueued).
    pub async fn start(deps: Deps, max_receives: u32, worker: bool, wecom_api: &str) -> Self {
        let mut endpoints = imgate_channels::Endpoints::default();
        endpoints.wecom.api = wecom_api.to_owned();
        Self::start_with(deps, max_receives, worker, &endpoints).await
    }

    /// Starts the gateway with every platform's API at `endpoints`; media are fetched by the
    /// platforms' own fetchers and kept in a media directory the gateway serves.
    pub async fn start_with(
        deps: Deps,
        max_receives: u32,
        worker: bool,
        endpoints: &imgate_channels::Endpoints,
    ) -> Self {
        Self::start_with_media(deps, max_receives, worker, endpoints, Media::default()).await
    }

    /// As [`Gateway::start_with`], fetching and keeping media as `media` says.
    pub async fn start_with_media(
        deps: Deps,
        max_receives: u32,
        worker: bool,
        endpoints: &imgate_channels::Endpoints,
        media: Media,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let base = format!("http://{}", listener.local_addr().expect("gateway address"));
        let http = reqwest::Client::new();
        let channels = imgate_channels::Channels::new(&deps, &http, endpoints);
        let admin = Admin::new(
            deps.clone(),
            AdminSettings {
                public_base_url: base.clone(),
                bootstrap_key_hash: Some(imgate_core::apikey::hash(BOOTSTRAP)),
            },
        )
        .with_registrar(channels.registrar())
        .with_logins(channels.logins());
        let media_parent = tempfile::tempdir().expect("media directory");
        let directory = MediaDir::open(
            &media_parent.path().join("media"),
            &imgate_core::keyring::LocalKeyring::generate_key(),
            &base,
        )
        .expect("open the media directory");
        let store = media.store.unwrap_or_else(|| Arc::new(directory.clone()));
        let dispatcher = Dispatcher::new(
            &deps,
            Arc::new(imgate_agents::Agents::new(http.clone()).with_retry(imgate_agents::RetryPolicy::none())),
            channels.repliers(),
            DispatchSettings {
                max_receives,
                update_interval: Duration::from_millis(50),
                ..DispatchSettings::default()
            },
        )
        .with_media(media.fetcher.unwrap_or_else(|| channels.media()), store, media.settings);
        let app = imgate_http::gateway_with_media(admin.clone(), channels.webhooks(), Arc::new(directory));
        let (stop, stopped) = watch::channel(false);
        let mut server_stop = stopped.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.changed().await;
                })
                .await;
        });
        if worker {
            tokio::spawn(imgate_core::dispatch::worker::run(
                deps.queue.clone(),
                dispatcher,
                stopped,
            ));
        }
        Self {
            base,
            admin,
            deps,
            stop,
            _media: media_parent,
        }
    }
}
