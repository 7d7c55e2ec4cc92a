//! Errors of the one-off setup helpers (table and queue creation) and the shared mapping of SDK
//! failures onto the ports' error types.

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use imgate_core::ports::{BoxError, StoreError};

/// Creating a table or queue failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// An AWS call failed.
    #[error("AWS call {operation} failed")]
    Aws {
        /// The API operation, e.g. `CreateTable`.
        operation: &'static str,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// AWS answered without a value the setup needs (e.g. no queue URL).
    #[error("AWS call {operation} returned no {field}")]
    MissingField {
        /// The API operation.
        operation: &'static str,
        /// The missing response field.
        field: &'static str,
    },
    /// The table did not become active in time.
    #[error("table {table} did not become active within {seconds} s")]
    NotActive {
        /// The table name.
        table: String,
        /// How long we waited.
        seconds: u64,
    },
}

impl SetupError {
    /// Wraps an SDK error from `operation`.
    pub(crate) fn aws<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        Self::Aws {
            operation,
            source: Box::new(err),
        }
    }
}

/// Maps an SDK failure that is not a lost condition to [`StoreError::Backend`], keeping the source.
pub(crate) fn store_backend<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    tracing::debug!(
        operation,
        error = %DisplayErrorContext(&err),
        "dynamodb call failed"
    );
    StoreError::Backend(Box::new(err))
}
