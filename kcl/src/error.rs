//! The crate's error type.

use crate::lease::LeaseError;

/// An error of the consumer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KclError {
    /// A builder parameter is invalid.
    #[error("invalid consumer configuration: {parameter}: {reason}")]
    Config {
        /// The parameter.
        parameter: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A Kinesis call failed.
    #[error(transparent)]
    Kinesis(#[from] rill_engine::api::Error),
    /// The enhanced fan-out consumer could not be registered or did not become ACTIVE.
    #[error("enhanced fan-out consumer {consumer}: {reason}")]
    FanOutConsumer {
        /// The consumer's name.
        consumer: String,
        /// What went wrong.
        reason: String,
    },
    /// The lease table failed.
    #[error(transparent)]
    LeaseTable(#[from] LeaseError),
}

impl KclError {
    /// Whether the failure may pass by itself (throttling, a service or network failure, a
    /// lease table storage error), so that trying again later makes sense; configuration
    /// errors, a missing stream or lease table and refused permissions are not.
    pub fn is_transient(&self) -> bool {
        match self {
            KclError::Kinesis(e) => e.is_retryable(),
            KclError::LeaseTable(LeaseError::Storage { .. } | LeaseError::Timeout { .. }) => true,
            KclError::Config { .. } | KclError::FanOutConsumer { .. } | KclError::LeaseTable(_) => {
                false
            }
        }
    }
}
