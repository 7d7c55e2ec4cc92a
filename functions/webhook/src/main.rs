//! The platform webhook Lambda: `/api/{platform}/webhook/{integrationId}` behind API Gateway.
//! It verifies, decrypts, parses, dedupes and enqueues, then acknowledges the platform at once;
//! it never waits on an agent (the dispatcher function does that from the queue).
//!
//! Configuration (environment): the backend variables read by `imgate_aws::deps_from_env`.

use lambda_http::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let deps = imgate_aws::deps_from_env().await?;
    lambda_http::run(imgate_http::webhook_app(imgate_channels::Webhooks::new(&deps))).await
}
