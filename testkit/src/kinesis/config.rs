//! What [`FaultyKinesis`](super::FaultyKinesis) injects: the configuration types.

use rill_engine::api::{Error, Operation};
use std::collections::HashMap;

pub use crate::plan::{Faults, Timeout};

/// An error the wrapper injects. Each becomes the [`Error`] a real service answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InjectedError {
    /// `InternalFailure` (HTTP 500): [`Error::Internal`], retryable.
    InternalFailure,
    /// `ServiceUnavailable` (HTTP 503): an [`Error::Other`] with that code, as a real
    /// service's 503 arrives through `Remote`.
    ServiceUnavailable,
    /// `ProvisionedThroughputExceededException`: a shard's limit was hit.
    ProvisionedThroughputExceeded,
    /// `LimitExceededException`: too many control-plane calls (or a limit).
    LimitExceeded,
    /// `KMSThrottlingException`.
    KmsThrottling,
    /// `ExpiredIteratorException` (meaningful for GetRecords).
    ExpiredIterator,
    /// Any exception by its code (mapped with [`Error::from_code`]) and message.
    Custom {
        /// The exception name, e.g. `AccessDeniedException`.
        code: String,
        /// The message.
        message: String,
    },
}

impl InjectedError {
    /// The AWS exception name.
    pub fn code(&self) -> &str {
        match self {
            InjectedError::InternalFailure => "InternalFailure",
            InjectedError::ServiceUnavailable => "ServiceUnavailable",
            InjectedError::ProvisionedThroughputExceeded => {
                "ProvisionedThroughputExceededException"
            }
            InjectedError::LimitExceeded => "LimitExceededException",
            InjectedError::KmsThrottling => "KMSThrottlingException",
            InjectedError::ExpiredIterator => "ExpiredIteratorException",
            InjectedError::Custom { code, .. } => code,
        }
    }

    /// The error a call of `operation` fails with.
    pub fn to_error(&self, operation: Operation) -> Error {
        match self {
            InjectedError::InternalFailure => Error::Internal {
                message: format!("Internal service failure (injected into {operation})."),
                source: None,
            },
            InjectedError::ServiceUnavailable => Error::Other {
                code: "ServiceUnavailable".into(),
                message: format!("Service Unavailable (injected into {operation})."),
            },
            InjectedError::ProvisionedThroughputExceeded => Error::ProvisionedThroughputExceeded(
                format!("Rate exceeded (injected into {operation})."),
            ),
            InjectedError::LimitExceeded => {
                Error::LimitExceeded(format!("Rate exceeded (injected into {operation})."))
            }
            InjectedError::KmsThrottling => {
                Error::KmsThrottling(format!("KMS rate exceeded (injected into {operation})."))
            }
            InjectedError::ExpiredIterator => {
                Error::ExpiredIterator(format!("Iterator expired (injected into {operation})."))
            }
            InjectedError::Custom { code, message } => Error::from_code(code, message.clone()),
        }
    }
}

/// The faults of one operation (or of all, see [`FaultConfig::all`]): see [`Faults`].
pub type OperationFaults = Faults<InjectedError>;

/// Per-entry failures of PutRecords calls that reach the inner service: each entry fails on
/// its own with probability [`rate`](Self::rate) (it is not written) while the others are
/// written, and the answer lists each entry's result in order, as AWS does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFaults {
    /// Probability (0 to 1) that an entry fails.
    pub rate: f64,
    /// The entry error codes, one picked at random per failed entry. Empty:
    /// `ProvisionedThroughputExceededException` and `InternalFailure`, the two codes AWS
    /// answers per entry.
    pub errors: Vec<InjectedError>,
}

impl EntryFaults {
    /// Entries fail with probability `rate`, with AWS's two per-entry codes.
    pub fn new(rate: f64) -> EntryFaults {
        EntryFaults {
            rate,
            errors: Vec::new(),
        }
    }

    /// Entries fail with probability `rate`, with codes picked from `errors`.
    pub fn with_errors(rate: f64, errors: impl IntoIterator<Item = InjectedError>) -> EntryFaults {
        EntryFaults {
            rate,
            errors: errors.into_iter().collect(),
        }
    }
}

/// Cuts of SubscribeToShard event streams: before each event, with probability
/// [`cut_rate`](Self::cut_rate), the subscription breaks: the event is lost and the stream
/// ends, with [`error`](Self::error) as its last item (or without one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFaults {
    /// Probability (0 to 1), per event, that the stream is cut there.
    pub cut_rate: f64,
    /// The error the cut stream ends with; `None`: it just ends.
    pub error: Option<InjectedError>,
}

/// What [`FaultyKinesis`](super::FaultyKinesis) injects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Seeds the random generator that makes every decision.
    pub seed: u64,
    /// The faults of every operation without an entry in [`operations`](Self::operations).
    pub all: OperationFaults,
    /// Faults per operation; an entry replaces [`all`](Self::all) for its operation.
    pub operations: HashMap<Operation, OperationFaults>,
    /// Per-entry failures of PutRecords.
    pub put_records_entries: EntryFaults,
    /// Cuts of SubscribeToShard streams.
    pub subscribe_to_shard: StreamFaults,
}

impl FaultConfig {
    /// No faults, with a seed.
    pub fn new(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            ..FaultConfig::default()
        }
    }

    /// Sets the faults of every operation without its own.
    pub fn for_all(mut self, faults: OperationFaults) -> FaultConfig {
        self.all = faults;
        self
    }

    /// Sets the faults of one operation (replacing [`all`](Self::all) for it).
    pub fn for_operation(mut self, operation: Operation, faults: OperationFaults) -> FaultConfig {
        self.operations.insert(operation, faults);
        self
    }

    /// Sets the faults of several operations.
    pub fn for_operations(
        mut self,
        operations: impl IntoIterator<Item = Operation>,
        faults: OperationFaults,
    ) -> FaultConfig {
        for op in operations {
            self.operations.insert(op, faults.clone());
        }
        self
    }

    /// Sets the per-entry failures of PutRecords.
    pub fn with_entry_failures(mut self, entries: EntryFaults) -> FaultConfig {
        self.put_records_entries = entries;
        self
    }

    /// Sets the cuts of SubscribeToShard streams.
    pub fn with_stream_cuts(mut self, cuts: StreamFaults) -> FaultConfig {
        self.subscribe_to_shard = cuts;
        self
    }

    /// The faults of `operation`.
    pub fn faults_for(&self, operation: Operation) -> &OperationFaults {
        self.operations.get(&operation).unwrap_or(&self.all)
    }
}
