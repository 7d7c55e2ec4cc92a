//! The dispatcher Lambda: SQS batches from the inbound FIFO queue and the delay queue, handed to
//! the same [`Dispatcher`] `imgate serve` runs, answered with a partial batch response so that
//! only the failed records (and the rest of their conversation) are retried.
//!
//! The pure parts live here, apart from the runtime loop in `main.rs`, so that tests can drive
//! the exact code path with an event as Lambda shapes it: [`sqs::records`] turns the event into
//! batch records, [`handle`] runs them, [`sqs::response`] reports the failures.

pub mod config;
pub mod sqs;

use std::sync::Arc;
use std::time::Duration;

pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
pub use config::{ConfigError, Settings};
use imgate_core::dispatch::{DispatchSettings, Dispatcher};
use imgate_core::media::MediaSettings;
use imgate_core::ports::{Deps, MediaStore};
pub use sqs::EventError;

/// How long opening a connection to an agent or a platform API may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The outbound HTTP client could not be built (e.g. no TLS roots).
#[derive(Debug, thiserror::Error)]
#[error("building the HTTP client: {0}")]
pub struct HttpClientError(#[from] reqwest::Error);

/// The dispatcher over `deps`, with every agent kind and every platform's replier at their
/// real endpoints, keeping no media (what users send is described to agents, not fetched).
///
/// # Errors
/// [`HttpClientError`] when the HTTP client cannot be built.
pub fn dispatcher(deps: &Deps, settings: &Settings) -> Result<Dispatcher, HttpClientError> {
    dispatcher_at(deps, settings, &imgate_channels::Endpoints::default(), None)
}

/// As [`dispatcher`], calling the platform APIs at `endpoints` but WeCom's at the settings'
/// base, as the function does, and keeping media in `media` when given (the S3 bucket of
/// `IMGATE_MEDIA_BUCKET`): the relay runs the dispatcher this way beside its own connections'
/// endpoints.
///
/// # Errors
/// [`HttpClientError`] when the HTTP client cannot be built.
pub fn dispatcher_at(
    deps: &Deps,
    settings: &Settings,
    endpoints: &imgate_channels::Endpoints,
    media: Option<Arc<dyn MediaStore>>,
) -> Result<Dispatcher, HttpClientError> {
    let mut endpoints = endpoints.clone();
    endpoints.wecom.api.clone_from(&settings.wecom_api_base);
    dispatcher_with(deps, settings, &endpoints, media)
}

/// As [`dispatcher_at`], calling every platform's API at `endpoints` (tests and benches point
/// them at fakes). Media are fetched by each platform's fetcher and kept in `media`, within
/// the settings' size cap; without a store they are described to the agent.
///
/// # Errors
/// [`HttpClientError`] when the HTTP client cannot be built.
pub fn dispatcher_with(
    deps: &Deps,
    settings: &Settings,
    endpoints: &imgate_channels::Endpoints,
    media: Option<Arc<dyn MediaStore>>,
) -> Result<Dispatcher, HttpClientError> {
    let http = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT).build()?;
    let channels = imgate_channels::Channels::new(deps, &http, endpoints);
    let dispatcher = Dispatcher::new(
        deps,
        Arc::new(imgate_agents::Agents::new(http.clone())),
        channels.repliers(),
        DispatchSettings {
            max_receives: settings.max_receives,
            ..DispatchSettings::default()
        },
    );
    Ok(match media {
        Some(store) => dispatcher.with_media(
            channels.media(),
            store,
            MediaSettings {
                max_bytes: settings.media_max_bytes,
                ..MediaSettings::default()
            },
        ),
        None => dispatcher,
    })
}

/// Handles one invocation: every record of `event`, conversations in parallel and each in
/// order; the answer names the records SQS should deliver again.
///
/// # Errors
/// [`EventError`] when the event cannot be read record by record; Lambda then retries the
/// whole batch.
pub async fn handle(dispatcher: &Dispatcher, event: SqsEvent) -> Result<SqsBatchResponse, EventError> {
    let records = sqs::records(event)?;
    let total = records.len();
    let failed = dispatcher.handle_batch(records).await;
    if failed.is_empty() {
        tracing::debug!(records = total, "batch handled");
    } else {
        tracing::warn!(
            records = total,
            failed = failed.len(),
            "batch partly failed; SQS retries the failed records"
        );
    }
    Ok(sqs::response(failed))
}
