//! The lease table on Amazon DynamoDB (or any DynamoDB-compatible endpoint), for workers
//! spread over several hosts. Enabled by the cargo feature `dynamodb`.
//!
//! # Schema
//!
//! One item per shard, with exactly the attribute names and types of the Java KCL, so that a
//! table the Java KCL wrote can be taken over (and handed back) as it is:
//!
//! | attribute                            | type | [`Lease`](crate::lease::Lease) field                           | notes                                   |
//! |--------------------------------------|------|-------------------------------------------|-----------------------------------------|
//! | `leaseKey`                           | S    | `lease_key`                               | the table's only key (HASH): shard id   |
//! | `leaseOwner`                         | S    | `lease_owner`                             | absent when nobody owns the lease       |
//! | `leaseCounter`                       | N    | `lease_counter`                           | every write is conditional on it        |
//! | `checkpoint`                         | S    | `checkpoint`                              | sequence number or `TRIM_HORIZON`, …    |
//! | `checkpointSubSequenceNumber`        | N    | `checkpoint_sub_sequence_number`          | read as 0 when absent                   |
//! | `pendingCheckpoint`                  | S    | `pending_checkpoint`                      |                                         |
//! | `pendingCheckpointSubSequenceNumber` | N    | `pending_checkpoint_sub_sequence_number`  |                                         |
//! | `pendingCheckpointState`             | B    | `pending_checkpoint_state`                |                                         |
//! | `ownerSwitchesSinceCheckpoint`       | N    | `owner_switches_since_checkpoint`         | read as 0 when absent                   |
//! | `parentShardId`                      | SS   | `parent_shard_ids`                        | absent when empty (no empty sets in DDB)|
//! | `childShardIds`                      | SS   | `child_shard_ids`                         | absent when empty                       |
//! | `startingHashKey`                    | S    | `starting_hash_key`                       | decimal                                 |
//! | `endingHashKey`                      | S    | `ending_hash_key`                         | decimal                                 |
//! | `checkpointOwner`                    | S    | `checkpoint_owner`                        | set only during a graceful handoff      |
//! | `rillBytesPerSecond`                 | N    | `load.bytes_per_second`                   | rill's: measured load, with renewals    |
//! | `rillRecordsPerSecond`               | N    | `load.records_per_second`                 | rill's: measured load, with renewals    |
//!
//! An optional attribute that is `None` (or an empty set) is *absent* from the item, never
//! stored as an empty value, as the Java KCL does. Attributes this schema does not know
//! (newer KCL versions add some) are ignored on read and left untouched by every write but
//! [`create_lease_if_not_exists`](crate::lease::LeaseTable::create_lease_if_not_exists).
//! An attribute of the wrong type or an unparsable number fails the read with
//! [`LeaseError::MalformedAttribute`], which names the attribute.
//!
//! # Writes
//!
//! Every write is one conditional request, so DynamoDB applies it atomically or not at all:
//!
//! * create: `PutItem` with `attribute_not_exists(leaseKey)`;
//! * every other write: `UpdateItem` (or `DeleteItem`) with `leaseCounter = :expected`
//!   (renew and take also state the owner they expect), `ReturnValues = ALL_NEW` so the
//!   lease as written comes back.
//!
//! `ConditionalCheckFailedException` is not an error: the method returns `Ok(None)` /
//! `Ok(false)`, as [`LeaseTable`](crate::lease::LeaseTable) specifies. Because every write but
//! `update_lease_meta` increments the counter (and meta updates touch no attribute another
//! write reads), the caller's copy of the lease equals the stored row whenever the condition
//! holds; values that depend on the stored row (the owner switch count, the checkpoint
//! reset) are therefore computed from the caller's copy.
//!
//! # Errors and retries
//!
//! * Throttling (`ProvisionedThroughputExceededException`, `ThrottlingException`,
//!   `RequestLimitExceeded`) is retried with exponential backoff and jitter (backon; by
//!   default 10 ms doubling to 1 s, at most 8 retries), on top of the SDK's own retry policy.
//!   A throttled request was not applied, so retrying a conditional write is safe.
//! * `ResourceNotFoundException` becomes [`LeaseError::TableNotFound`].
//! * Anything else becomes [`LeaseError::Storage`] with the SDK error as its source.
//!
//! # Creating the table
//!
//! Nothing is created implicitly. [`DynamoLeaseTable::create_table_if_not_exists`] creates
//! the table with on-demand billing (`PAY_PER_REQUEST`) and waits until it is `ACTIVE`;
//! [`DynamoLeaseTable::wait_until_active`] only checks that the table exists, has the lease
//! schema, and is (or becomes) `ACTIVE`. [`DynamoLeaseTable::ensure_table`] does either.

//!
//! # Layout of this module
//!
//! `admin` (creating and checking the table and its index), `codec` (items to leases
//! and back, update expressions), `table` (the [`LeaseTable`](crate::lease::LeaseTable) implementation), `fleet`
//! (the fleet row of [`crate::lease::fleet`] as an item).
//!
//! # The owner index
//!
//! The global secondary index `LeaseOwnerToLeaseKeyIndex` (hash key `leaseOwner`, range
//! key `leaseKey`, projection `KEYS_ONLY`) is the index the Java KCL 3.x creates, with the
//! same name and schema, so either may create it and both use it.
//! [`create_table_if_not_exists`](DynamoLeaseTable::create_table_if_not_exists) creates it
//! with the table; on an existing table without it,
//! [`ensure_table`](DynamoLeaseTable::ensure_table) adds it (`UpdateTable`) and, until it
//! is `ACTIVE`, [`LeaseTable::list_lease_keys_by_owner`](crate::lease::LeaseTable::list_lease_keys_by_owner) falls back to a scan. Index reads
//! are eventually consistent; nothing safety-relevant depends on them (every write stays
//! conditional on `leaseCounter`).
//!
//! # Rows that are not leases
//!
//! The fleet row (key `__rill_fleet`, see [`crate::lease::fleet`]) lives in the same
//! table. Every read that lists leases leaves it (and any key starting with `__rill`) out.

mod admin;
mod codec;
mod fleet;
mod table;

use super::LeaseError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use backon::{ExponentialBuilder, Retryable};
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::Duration;

/// Attribute names of the KCL lease schema.
pub(crate) mod attr {
    pub const LEASE_KEY: &str = "leaseKey";
    pub const LEASE_OWNER: &str = "leaseOwner";
    pub const LEASE_COUNTER: &str = "leaseCounter";
    pub const CHECKPOINT: &str = "checkpoint";
    pub const CHECKPOINT_SUB: &str = "checkpointSubSequenceNumber";
    pub const PENDING: &str = "pendingCheckpoint";
    pub const PENDING_SUB: &str = "pendingCheckpointSubSequenceNumber";
    pub const PENDING_STATE: &str = "pendingCheckpointState";
    pub const OWNER_SWITCHES: &str = "ownerSwitchesSinceCheckpoint";
    pub const PARENTS: &str = "parentShardId";
    pub const CHILDREN: &str = "childShardIds";
    pub const STARTING_HASH_KEY: &str = "startingHashKey";
    pub const ENDING_HASH_KEY: &str = "endingHashKey";
    pub const CHECKPOINT_OWNER: &str = "checkpointOwner";
    pub const BYTES_PER_SECOND: &str = "rillBytesPerSecond";
    pub const RECORDS_PER_SECOND: &str = "rillRecordsPerSecond";
}

/// Error codes DynamoDB answers when a request was throttled (and not applied).
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// How a failed request is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The request's condition did not hold: not an error.
    ConditionFailed,
    /// The table does not exist.
    TableNotFound,
    /// Throttled: retry after a backoff.
    Throttled,
    /// Anything else.
    Other,
}

fn classify(code: Option<&str>) -> Class {
    match code {
        Some("ConditionalCheckFailedException") => Class::ConditionFailed,
        Some("ResourceNotFoundException") => Class::TableNotFound,
        Some(c) if THROTTLING_CODES.contains(&c) => Class::Throttled,
        _ => Class::Other,
    }
}

/// The DynamoDB lease table. Cheap to clone; clones share one client.
#[derive(Clone)]
pub struct DynamoLeaseTable {
    client: Client,
    table: Arc<str>,
    backoff: ExponentialBuilder,
    active_timeout: Duration,
    /// Whether the owner index is known to be ACTIVE (see [`admin::IndexState`]).
    index: Arc<AtomicU8>,
    /// When the index's state was last looked up.
    index_checked: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl std::fmt::Debug for DynamoLeaseTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoLeaseTable")
            .field("table", &self.table)
            .field("active_timeout", &self.active_timeout)
            .finish_non_exhaustive()
    }
}

/// A failed request, as the table methods see it.
struct Failure {
    class: Class,
    /// The service's error code, if the service answered.
    code: Option<String>,
    error: LeaseError,
}

impl DynamoLeaseTable {
    /// The lease table `table` through `client` (whose region, credentials and endpoint are
    /// used as configured).
    ///
    /// `table` must match `[A-Za-z0-9_.-]{3,255}` (DynamoDB's table name rule). Nothing is
    /// sent: see [`ensure_table`](Self::ensure_table) to check or create the table.
    pub fn new(client: Client, table: &str) -> Result<DynamoLeaseTable, LeaseError> {
        if table.len() < 3
            || table.len() > 255
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            return Err(LeaseError::Invalid {
                parameter: "table",
                reason: format!("{table:?} does not match [A-Za-z0-9_.-]{{3,255}}"),
            });
        }
        Ok(DynamoLeaseTable {
            client,
            table: table.into(),
            backoff: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_secs(1))
                .with_max_times(8)
                .with_jitter(),
            active_timeout: Duration::from_secs(300),
            index: Arc::new(AtomicU8::new(admin::IndexState::Unknown as u8)),
            index_checked: Arc::default(),
        })
    }

    /// The lease table `table` on the DynamoDB-compatible endpoint `endpoint_url` (e.g.
    /// `http://127.0.0.1:4567` for dynalite or DynamoDB Local), with region `us-east-1` and
    /// static dummy credentials — for local endpoints that do not check signatures.
    ///
    /// For Amazon DynamoDB build a [`Client`] from `aws-config` and use [`new`](Self::new).
    pub fn from_endpoint(endpoint_url: &str, table: &str) -> Result<DynamoLeaseTable, LeaseError> {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("rill", "rill", None, None, "rill-static"))
            .endpoint_url(endpoint_url)
            .build();
        Self::new(Client::from_conf(config), table)
    }

    /// Sets the backoff between retries of a throttled request (default: 10 ms doubling up
    /// to 1 s, with jitter, at most 8 retries).
    pub fn with_throttle_backoff(mut self, backoff: ExponentialBuilder) -> DynamoLeaseTable {
        self.backoff = backoff;
        self
    }

    /// Sets how long [`wait_until_active`](Self::wait_until_active) and
    /// [`create_table_if_not_exists`](Self::create_table_if_not_exists) wait for the table
    /// to become `ACTIVE` (default 300 s).
    pub fn with_active_timeout(mut self, timeout: Duration) -> DynamoLeaseTable {
        self.active_timeout = timeout;
        self
    }

    /// The table name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn storage(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> LeaseError {
        LeaseError::Storage {
            message: format!(
                "{what} on table {:?}: {}",
                self.table,
                DisplayErrorContext(&e)
            ),
            source: Box::new(e),
        }
    }

    /// Sends a request (built anew by `send` for every attempt), retrying throttled ones
    /// with backoff, and classifies a final failure.
    async fn call<T, E, F, Fut>(&self, what: &'static str, send: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let result = send
            .retry(self.backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &SdkError<E>| classify(e.code()) == Class::Throttled)
            .notify(|e: &SdkError<E>, after: Duration| {
                tracing::debug!(
                    table = %self.table,
                    what,
                    code = e.code().unwrap_or("-"),
                    ?after,
                    "lease table request throttled; retrying"
                );
            })
            .await;
        result.map_err(|e| {
            let class = classify(e.code());
            let code = e.code().map(str::to_owned);
            let error = match class {
                Class::TableNotFound => LeaseError::TableNotFound {
                    table: self.table.to_string(),
                },
                _ => {
                    let table = &self.table;
                    let retried = if class == Class::Throttled {
                        " (still throttled after retries)"
                    } else {
                        ""
                    };
                    let message = match (&code, e.message()) {
                        (Some(c), Some(m)) => {
                            format!("{what} on table {table:?}: {c}: {m}{retried}")
                        }
                        _ => format!("{what} on table {table:?}: {}", DisplayErrorContext(&e)),
                    };
                    LeaseError::Storage {
                        message,
                        source: Box::new(e),
                    }
                }
            };
            Failure { class, code, error }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_error_codes() {
        assert_eq!(
            classify(Some("ConditionalCheckFailedException")),
            Class::ConditionFailed
        );
        assert_eq!(
            classify(Some("ResourceNotFoundException")),
            Class::TableNotFound
        );
        for c in THROTTLING_CODES {
            assert_eq!(classify(Some(c)), Class::Throttled, "{c}");
        }
        assert_eq!(classify(Some("ValidationException")), Class::Other);
        assert_eq!(classify(None), Class::Other);
    }

    #[test]
    fn table_names_are_checked() {
        let client = Client::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        assert!(DynamoLeaseTable::new(client.clone(), "ok-table_1.x").is_ok());
        assert!(DynamoLeaseTable::new(client.clone(), "ab").is_err());
        assert!(DynamoLeaseTable::new(client, "bad name").is_err());
    }
}
