//! The dispatcher Lambda: SQS event source on the inbound FIFO queue and the delay queue, with
//! `ReportBatchItemFailures`.
//!
//! Configuration (environment): `IMGATE_MAX_RECEIVES` (default 5; must equal the queues'
//! `maxReceiveCount`), `IMGATE_WECOM_API_BASE` (default `https://qyapi.weixin.qq.com`),
//! `IMGATE_MEDIA_BUCKET` (the S3 bucket media are kept in for agents; unset: they are
//! described, not kept), `IMGATE_MEDIA_MAX_BYTES` (default 20 MiB) and the backend variables
//! read by `imgate_aws::deps_from_env`.

use imgate_dispatcher_fn::{Settings, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let deps = imgate_aws::deps_from_env().await?;
    let media = imgate_aws::media_store_from_env().await?;
    let dispatcher =
        imgate_dispatcher_fn::dispatcher_at(&deps, &settings, &imgate_channels::Endpoints::default(), media)?;
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        imgate_dispatcher_fn::handle(dispatcher, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
