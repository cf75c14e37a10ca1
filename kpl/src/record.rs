//! What goes in and what comes out: the user [`Record`], its [`Ack`] with the [`Attempt`]s
//! that led to it, and the errors of `send`, `try_send` and of a record's result.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// A user record: what the application puts. Cheap to clone (the stream name is shared and
/// the data reference-counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The stream the record goes to.
    pub stream: Arc<str>,
    /// The partition key (1 to 256 characters); its MD5 picks the shard unless an explicit
    /// hash key is given.
    pub partition_key: String,
    /// A decimal 128-bit hash key that picks the shard instead of the partition key.
    pub explicit_hash_key: Option<String>,
    /// The payload.
    pub data: Bytes,
}

impl Record {
    /// A record for `stream` with a partition key and data.
    pub fn new(
        stream: impl Into<Arc<str>>,
        partition_key: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Record {
        Record {
            stream: stream.into(),
            partition_key: partition_key.into(),
            explicit_hash_key: None,
            data: data.into(),
        }
    }

    /// The same record with an explicit hash key.
    pub fn with_explicit_hash_key(mut self, hash_key: impl Into<String>) -> Record {
        self.explicit_hash_key = Some(hash_key.into());
        self
    }

    /// Bytes the record counts for in buffers and limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// One PutRecords attempt of a user record (shared by every user record of an aggregate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Time between the previous attempt's end (or `send`, for the first) and this attempt's
    /// start: buffering, rate limiting and backoff.
    pub delay: Duration,
    /// Time the PutRecords call took (up to `RequestTimeout`).
    pub duration: Duration,
    /// The error code when the attempt failed (`ProvisionedThroughputExceededException`,
    /// `InternalFailure`, `RequestTimeout`, `WrongShard`, ...), `None` on success.
    pub error_code: Option<String>,
    /// The error message when the attempt failed.
    pub error_message: Option<String>,
}

impl Attempt {
    /// Whether this attempt put the record.
    pub fn is_success(&self) -> bool {
        self.error_code.is_none()
    }
}

/// The acknowledgement of a user record: where it is and how it got there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// What every user record of the Kinesis record shares: one reference count per user
    /// record instead of one per field.
    pub(crate) put: Arc<Put>,
    pub(crate) sub_sequence_number: u64,
}

/// Where a Kinesis record landed and how: shared by the acks of its user records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Put {
    pub shard_id: Arc<str>,
    pub sequence_number: Arc<str>,
    pub aggregated: bool,
    pub attempts: Arc<[Attempt]>,
}

impl Ack {
    /// The shard that holds the record.
    pub fn shard_id(&self) -> &str {
        &self.put.shard_id
    }

    /// The sequence number of the Kinesis record that holds it.
    pub fn sequence_number(&self) -> &str {
        &self.put.sequence_number
    }

    /// The record's position inside its aggregate (0 for a record put on its own).
    pub fn sub_sequence_number(&self) -> u64 {
        self.sub_sequence_number
    }

    /// Whether the record went out inside a KPL aggregate (even one of a single record
    /// is sent plain, so this is false then).
    pub fn is_aggregated(&self) -> bool {
        self.put.aggregated
    }

    /// Every attempt, the last one being the successful one.
    pub fn attempts(&self) -> &[Attempt] {
        &self.put.attempts
    }
}

/// Why a user record was not put. Every variant keeps the attempts made.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record was not put within `RecordTtl` of `send`.
    #[error(
        "record expired: not put within RecordTtl ({ttl:?}) after {} attempt(s){}",
        attempts.len(),
        last_error(attempts)
    )]
    Expired {
        /// The configured TTL.
        ttl: Duration,
        /// The attempts made.
        attempts: Arc<[Attempt]>,
    },
    /// The service refused the record with an error that retrying cannot fix (or a throttle
    /// with `FailIfThrottled`).
    #[error("record rejected: {code}: {message}")]
    Rejected {
        /// The AWS error code.
        code: String,
        /// The AWS error message.
        message: String,
        /// The attempts made, the last one being the refusal.
        attempts: Arc<[Attempt]>,
    },
    /// The producer's task ended before the record finished (its runtime shut down).
    #[error("the producer stopped before the record was put or failed (runtime shut down)")]
    Stopped,
}

fn last_error(attempts: &[Attempt]) -> String {
    match attempts.last() {
        Some(Attempt {
            error_code: Some(code),
            error_message,
            ..
        }) => format!(
            "; last error {code}: {}",
            error_message.as_deref().unwrap_or("")
        ),
        _ => String::new(),
    }
}

impl RecordError {
    /// The attempts made before the record failed.
    pub fn attempts(&self) -> &[Attempt] {
        match self {
            RecordError::Expired { attempts, .. } | RecordError::Rejected { attempts, .. } => {
                attempts
            }
            RecordError::Stopped => &[],
        }
    }
}

/// Why `send` did not take a record; the record is handed back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The record breaks a Kinesis rule (partition key length, explicit hash key, size).
    #[error("invalid record: {reason}")]
    Invalid {
        /// The record, handed back.
        record: Record,
        /// What is wrong with it.
        reason: String,
    },
    /// The producer is shutting down or stopped.
    #[error("the producer is shut down")]
    Closed(Record),
}

/// Why `try_send` did not take a record; the record is handed back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// The buffer holds `buffer_max_records` records or `buffer_max_bytes` bytes.
    #[error("the producer's buffer is full")]
    Full(Record),
    /// The record breaks a Kinesis rule.
    #[error("invalid record: {reason}")]
    Invalid {
        /// The record, handed back.
        record: Record,
        /// What is wrong with it.
        reason: String,
    },
    /// The producer is shutting down or stopped.
    #[error("the producer is shut down")]
    Closed(Record),
}

impl SendError {
    /// The record that was not taken.
    pub fn into_record(self) -> Record {
        match self {
            SendError::Invalid { record, .. } | SendError::Closed(record) => record,
        }
    }
}

impl TrySendError {
    /// The record that was not taken.
    pub fn into_record(self) -> Record {
        match self {
            TrySendError::Full(record)
            | TrySendError::Invalid { record, .. }
            | TrySendError::Closed(record) => record,
        }
    }
}

// Debug without the payload, as tokio's errors do.
impl fmt::Debug for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Invalid { reason, .. } => write!(f, "Invalid({reason:?})"),
            SendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl fmt::Debug for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Invalid { reason, .. } => write!(f, "Invalid({reason:?})"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}
