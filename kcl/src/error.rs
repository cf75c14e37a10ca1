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
    /// The lease table failed.
    #[error(transparent)]
    LeaseTable(#[from] LeaseError),
}
