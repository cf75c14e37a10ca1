//! The lease table on Amazon DynamoDB (or any DynamoDB-compatible endpoint), for workers
//! spread over several hosts. Enabled by the cargo feature `dynamodb`.
//!
//! # Schema
//!
//! One item per shard, with exactly the attribute names and types of the Java KCL, so that a
//! table the Java KCL wrote can be taken over (and handed back) as it is:
//!
//! | attribute                            | type | [`Lease`] field                           | notes                                   |
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
//!
//! An optional attribute that is `None` (or an empty set) is *absent* from the item, never
//! stored as an empty value, as the Java KCL does. Attributes this schema does not know
//! (newer KCL versions add some) are ignored on read and left untouched by every write but
//! [`create_lease_if_not_exists`](LeaseTable::create_lease_if_not_exists).
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
//! `Ok(false)`, as [`LeaseTable`] specifies. Because every write but
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

use super::{CheckpointUpdate, Lease, LeaseError, LeaseTable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus,
};
use backon::{ExponentialBuilder, Retryable};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attribute names of the KCL lease schema.
mod attr {
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

    /// Creates the table (if `create_if_missing`) or checks that it exists; either way
    /// returns once it is `ACTIVE` and known to have the lease schema.
    ///
    /// Fails with [`LeaseError::TableNotFound`] when the table is missing and
    /// `create_if_missing` is false, and with [`LeaseError::TableSchema`] when its key schema
    /// is not the lease table's.
    pub async fn ensure_table(&self, create_if_missing: bool) -> Result<(), LeaseError> {
        if create_if_missing {
            self.create_table_if_not_exists().await.map(|_| ())
        } else {
            self.wait_until_active().await
        }
    }

    /// Creates the table with on-demand billing (`PAY_PER_REQUEST`) and the key `leaseKey`
    /// (S) unless it exists, then waits until it is `ACTIVE`. Returns whether this call
    /// created it. Several workers may call this at once: one creates, all wait.
    pub async fn create_table_if_not_exists(&self) -> Result<bool, LeaseError> {
        match self.describe_status().await {
            Ok(_) => {
                self.wait_until_active().await?;
                return Ok(false);
            }
            Err(LeaseError::TableNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let key = KeySchemaElement::builder()
            .attribute_name(attr::LEASE_KEY)
            .key_type(KeyType::Hash)
            .build()
            .map_err(|e| self.storage("build create table request", e))?;
        let def = AttributeDefinition::builder()
            .attribute_name(attr::LEASE_KEY)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| self.storage("build create table request", e))?;
        let created = self
            .call("create table", || {
                self.client
                    .create_table()
                    .table_name(&*self.table)
                    .key_schema(key.clone())
                    .attribute_definitions(def.clone())
                    .billing_mode(BillingMode::PayPerRequest)
                    .send()
            })
            .await;
        let created = match created {
            Ok(_) => {
                tracing::info!(table = %self.table, "created lease table (PAY_PER_REQUEST)");
                true
            }
            // Another worker created it first.
            Err(f) if f.code.as_deref() == Some("ResourceInUseException") => false,
            Err(f) => return Err(f.error),
        };
        self.wait_until_active().await?;
        Ok(created)
    }

    /// Waits until the table is `ACTIVE` (for at most the active timeout), after checking
    /// that it exists and has the lease table's key schema.
    pub async fn wait_until_active(&self) -> Result<(), LeaseError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let status = self.describe_status().await?;
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
            if start.elapsed() >= self.active_timeout {
                return Err(LeaseError::Storage {
                    message: format!(
                        "lease table {:?} not ACTIVE after {:?} (status {status:?})",
                        self.table, self.active_timeout
                    ),
                    source: "timed out waiting for ACTIVE".into(),
                });
            }
            tracing::debug!(table = %self.table, ?status, "waiting for the lease table to become ACTIVE");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// DescribeTable: the status, after checking the key schema.
    async fn describe_status(&self) -> Result<Option<TableStatus>, LeaseError> {
        let out = self
            .call("describe table", || {
                self.client.describe_table().table_name(&*self.table).send()
            })
            .await
            .map_err(|f| f.error)?;
        let Some(desc) = out.table() else {
            return Err(self.schema_error("DescribeTable returned no table description"));
        };
        let keys = desc.key_schema();
        let hash_ok = keys.len() == 1
            && keys[0].attribute_name() == attr::LEASE_KEY
            && keys[0].key_type() == &KeyType::Hash;
        if !hash_ok {
            let found: Vec<String> = keys
                .iter()
                .map(|k| format!("{} ({})", k.attribute_name(), k.key_type().as_str()))
                .collect();
            return Err(self.schema_error(&format!(
                "its key must be {} (HASH) alone, found [{}]",
                attr::LEASE_KEY,
                found.join(", ")
            )));
        }
        let typ = desc
            .attribute_definitions()
            .iter()
            .find(|d| d.attribute_name() == attr::LEASE_KEY)
            .map(|d| d.attribute_type().clone());
        if typ != Some(ScalarAttributeType::S) {
            return Err(self.schema_error(&format!(
                "its key {} must be of type S, found {typ:?}",
                attr::LEASE_KEY
            )));
        }
        Ok(desc.table_status().cloned())
    }

    fn schema_error(&self, reason: &str) -> LeaseError {
        LeaseError::TableSchema {
            table: self.table.to_string(),
            reason: reason.to_string(),
        }
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

    /// A conditional `UpdateItem` on `lease`'s key with `leaseCounter = :expected` (and
    /// `extra_condition`, if any), returning the lease as written, or `None` when the
    /// condition failed.
    async fn update(
        &self,
        lease: &Lease,
        what: &'static str,
        u: Update,
    ) -> Result<Option<Lease>, LeaseError> {
        let Update {
            mut set,
            remove,
            mut values,
            extra_condition,
            count,
        } = u;
        if count {
            set.push("#leaseCounter = #leaseCounter + :one".into());
            values.insert(":one".into(), num(1));
        }
        values.insert(":expected".into(), num(lease.lease_counter));
        let mut expr = String::new();
        if !set.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&set.join(", "));
        }
        if !remove.is_empty() {
            if !expr.is_empty() {
                expr.push(' ');
            }
            expr.push_str("REMOVE ");
            expr.push_str(&remove.join(", "));
        }
        let mut condition = "#leaseCounter = :expected".to_string();
        if let Some(extra) = extra_condition {
            condition.push_str(" AND ");
            condition.push_str(&extra);
        }
        let names = names_in(&[&expr, &condition]);
        let out = self
            .call(what, || {
                self.client
                    .update_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(lease.lease_key.clone()))
                    .update_expression(&expr)
                    .condition_expression(&condition)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values.clone()))
                    .return_values(ReturnValue::AllNew)
                    .send()
            })
            .await;
        match out {
            Ok(out) => match out.attributes() {
                Some(item) => lease_from_item(item).map(Some),
                None => Err(LeaseError::Storage {
                    message: format!(
                        "{what} on table {:?}: UpdateItem returned no attributes",
                        self.table
                    ),
                    source: "ReturnValues=ALL_NEW ignored by the endpoint".into(),
                }),
            },
            Err(f) if f.class == Class::ConditionFailed => Ok(None),
            Err(f) => Err(f.error),
        }
    }
}

/// The parts of an `UpdateItem` (attribute names are written `#name` and mapped to
/// themselves, so that no schema name can clash with a DynamoDB reserved word).
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    values: HashMap<String, AttributeValue>,
    extra_condition: Option<String>,
    /// Increment `leaseCounter`.
    count: bool,
}

impl Update {
    fn counting() -> Update {
        Update {
            set: Vec::new(),
            remove: Vec::new(),
            values: HashMap::new(),
            extra_condition: None,
            count: true,
        }
    }

    /// `SET #name = :name` with `value`, or `REMOVE #name` when `value` is `None`.
    fn set_or_remove(&mut self, name: &str, value: Option<AttributeValue>) {
        match value {
            Some(v) => {
                self.set.push(format!("#{name} = :{name}"));
                self.values.insert(format!(":{name}"), v);
            }
            None => self.remove.push(format!("#{name}")),
        }
    }

    /// Adds to the condition that `leaseOwner` is `owner` (absent for `None`).
    fn expect_owner(&mut self, owner: Option<&str>) {
        let cond = match owner {
            Some(o) => {
                self.values
                    .insert(":expectedOwner".into(), AttributeValue::S(o.to_owned()));
                "#leaseOwner = :expectedOwner".to_string()
            }
            None => "attribute_not_exists(#leaseOwner)".to_string(),
        };
        self.extra_condition = Some(cond);
    }
}

/// The `#name` placeholders used in `exprs`, mapped to the attribute names.
fn names_in(exprs: &[&str]) -> HashMap<String, String> {
    let mut names = HashMap::new();
    for expr in exprs {
        for (i, _) in expr.match_indices('#') {
            let name: String = expr[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            names.insert(format!("#{name}"), name);
        }
    }
    names
}

fn num(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn string_set(set: &BTreeSet<String>) -> Option<AttributeValue> {
    (!set.is_empty()).then(|| AttributeValue::Ss(set.iter().cloned().collect()))
}

/// The item the Java KCL would write for `lease` (absent attributes for `None` and empty
/// sets).
fn item_from_lease(l: &Lease) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::new();
    let mut put = |name: &str, v: Option<AttributeValue>| {
        if let Some(v) = v {
            item.insert(name.to_owned(), v);
        }
    };
    let s = |v: &Option<String>| v.clone().map(AttributeValue::S);
    put(
        attr::LEASE_KEY,
        Some(AttributeValue::S(l.lease_key.clone())),
    );
    put(attr::LEASE_OWNER, s(&l.lease_owner));
    put(attr::LEASE_COUNTER, Some(num(l.lease_counter)));
    put(
        attr::CHECKPOINT,
        Some(AttributeValue::S(l.checkpoint.clone())),
    );
    put(
        attr::CHECKPOINT_SUB,
        Some(num(l.checkpoint_sub_sequence_number)),
    );
    put(attr::PENDING, s(&l.pending_checkpoint));
    put(
        attr::PENDING_SUB,
        l.pending_checkpoint_sub_sequence_number.map(num),
    );
    put(
        attr::PENDING_STATE,
        l.pending_checkpoint_state
            .clone()
            .map(|b| AttributeValue::B(Blob::new(b))),
    );
    put(
        attr::OWNER_SWITCHES,
        Some(num(l.owner_switches_since_checkpoint)),
    );
    put(attr::PARENTS, string_set(&l.parent_shard_ids));
    put(attr::CHILDREN, string_set(&l.child_shard_ids));
    put(attr::STARTING_HASH_KEY, s(&l.starting_hash_key));
    put(attr::ENDING_HASH_KEY, s(&l.ending_hash_key));
    put(attr::CHECKPOINT_OWNER, s(&l.checkpoint_owner));
    item
}

/// The type of an attribute value, as DynamoDB names it.
fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::L(_) => "L",
        AttributeValue::M(_) => "M",
        _ => "an unknown type",
    }
}

/// Reads the attributes of one item.
struct ItemReader<'a> {
    item: &'a HashMap<String, AttributeValue>,
    key: String,
}

impl ItemReader<'_> {
    fn malformed(&self, attribute: &str, reason: String) -> LeaseError {
        LeaseError::MalformedAttribute {
            key: self.key.clone(),
            attribute: attribute.to_owned(),
            reason,
        }
    }

    fn wrong_type(&self, attribute: &str, want: &str, found: &AttributeValue) -> LeaseError {
        self.malformed(
            attribute,
            format!("must be of type {want}, found {}", type_name(found)),
        )
    }

    fn opt_s(&self, name: &str) -> Result<Option<String>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.wrong_type(name, "S", v)),
        }
    }

    fn s(&self, name: &str) -> Result<String, LeaseError> {
        self.opt_s(name)?
            .ok_or_else(|| self.malformed(name, "is missing".into()))
    }

    fn opt_n(&self, name: &str) -> Result<Option<u64>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::N(n)) => n.trim().parse::<u64>().map(Some).map_err(|_| {
                self.malformed(name, format!("must be a non-negative integer, found {n:?}"))
            }),
            Some(v) => Err(self.wrong_type(name, "N", v)),
        }
    }

    fn n(&self, name: &str) -> Result<u64, LeaseError> {
        self.opt_n(name)?
            .ok_or_else(|| self.malformed(name, "is missing".into()))
    }

    fn opt_b(&self, name: &str) -> Result<Option<Vec<u8>>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(None),
            Some(AttributeValue::B(b)) => Ok(Some(b.as_ref().to_vec())),
            Some(v) => Err(self.wrong_type(name, "B", v)),
        }
    }

    fn ss(&self, name: &str) -> Result<BTreeSet<String>, LeaseError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(true)) => Ok(BTreeSet::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.iter().cloned().collect()),
            Some(v) => Err(self.wrong_type(name, "SS", v)),
        }
    }
}

/// Parses an item into a lease; a malformed attribute is named in the error.
fn lease_from_item(item: &HashMap<String, AttributeValue>) -> Result<Lease, LeaseError> {
    let mut r = ItemReader {
        item,
        key: "?".into(),
    };
    r.key = r.s(attr::LEASE_KEY)?;
    Ok(Lease {
        lease_owner: r.opt_s(attr::LEASE_OWNER)?,
        lease_counter: r.n(attr::LEASE_COUNTER)?,
        checkpoint: r.s(attr::CHECKPOINT)?,
        checkpoint_sub_sequence_number: r.opt_n(attr::CHECKPOINT_SUB)?.unwrap_or(0),
        pending_checkpoint: r.opt_s(attr::PENDING)?,
        pending_checkpoint_sub_sequence_number: r.opt_n(attr::PENDING_SUB)?,
        pending_checkpoint_state: r.opt_b(attr::PENDING_STATE)?,
        owner_switches_since_checkpoint: r.opt_n(attr::OWNER_SWITCHES)?.unwrap_or(0),
        parent_shard_ids: r.ss(attr::PARENTS)?,
        child_shard_ids: r.ss(attr::CHILDREN)?,
        starting_hash_key: r.opt_s(attr::STARTING_HASH_KEY)?,
        ending_hash_key: r.opt_s(attr::ENDING_HASH_KEY)?,
        checkpoint_owner: r.opt_s(attr::CHECKPOINT_OWNER)?,
        lease_key: r.key.clone(),
    })
}

#[async_trait]
impl LeaseTable for DynamoLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let item = item_from_lease(lease);
        let out = self
            .call("create lease", || {
                self.client
                    .put_item()
                    .table_name(&*self.table)
                    .set_item(Some(item.clone()))
                    .condition_expression("attribute_not_exists(#leaseKey)")
                    .expression_attribute_names("#leaseKey", attr::LEASE_KEY)
                    .send()
            })
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(f) if f.class == Class::ConditionFailed => Ok(false),
            Err(f) => Err(f.error),
        }
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        let mut leases = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .call("list leases", || {
                    self.client
                        .scan()
                        .table_name(&*self.table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start.clone())
                        .send()
                })
                .await
                .map_err(|f| f.error)?;
            for item in page.items() {
                leases.push(lease_from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        leases.sort_by(|a, b| a.lease_key.cmp(&b.lease_key));
        Ok(leases)
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        let out = self
            .call("get lease", || {
                self.client
                    .get_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(key.to_owned()))
                    .consistent_read(true)
                    .send()
            })
            .await
            .map_err(|f| f.error)?;
        out.item().map(lease_from_item).transpose()
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        self.update(lease, "renew lease", u).await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        u.set_or_remove(attr::LEASE_OWNER, Some(AttributeValue::S(owner.to_owned())));
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        // The owner is the caller's (the condition checks it), so the switch is known here.
        let switch = u64::from(lease.lease_owner.as_deref() != Some(owner));
        u.set.push(format!(
            "#{s} = if_not_exists(#{s}, :zero) + :switch",
            s = attr::OWNER_SWITCHES
        ));
        u.values.insert(":zero".into(), num(0));
        u.values.insert(":switch".into(), num(switch));
        self.update(lease, "take lease", u).await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.set_or_remove(attr::LEASE_OWNER, None);
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        self.update(lease, "evict lease", u).await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.expect_owner(lease.lease_owner.as_deref());
        u.set_or_remove(
            attr::CHECKPOINT_OWNER,
            lease.lease_owner.clone().map(AttributeValue::S),
        );
        u.set_or_remove(
            attr::LEASE_OWNER,
            Some(AttributeValue::S(new_owner.to_owned())),
        );
        self.update(lease, "hand over lease", u).await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.set_or_remove(attr::CHECKPOINT_OWNER, None);
        self.update(lease, "complete handoff", u).await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        // The stored checkpoint is the caller's (the counter condition guarantees it).
        if lease.checkpoint() != update.checkpoint {
            u.set_or_remove(attr::OWNER_SWITCHES, Some(num(0)));
        }
        u.set_or_remove(
            attr::CHECKPOINT,
            Some(AttributeValue::S(update.checkpoint.sequence_number.clone())),
        );
        u.set_or_remove(
            attr::CHECKPOINT_SUB,
            Some(num(update.checkpoint.sub_sequence_number)),
        );
        let (p, ps, pst) = match &update.pending {
            Some((p, state)) => (
                Some(AttributeValue::S(p.sequence_number.clone())),
                Some(num(p.sub_sequence_number)),
                state.clone().map(|b| AttributeValue::B(Blob::new(b))),
            ),
            None => (None, None, None),
        };
        u.set_or_remove(attr::PENDING, p);
        u.set_or_remove(attr::PENDING_SUB, ps);
        u.set_or_remove(attr::PENDING_STATE, pst);
        self.update(lease, "checkpoint", u).await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        let mut u = Update::counting();
        u.count = false;
        u.set_or_remove(attr::PARENTS, string_set(&lease.parent_shard_ids));
        u.set_or_remove(attr::CHILDREN, string_set(&lease.child_shard_ids));
        u.set_or_remove(
            attr::STARTING_HASH_KEY,
            lease.starting_hash_key.clone().map(AttributeValue::S),
        );
        u.set_or_remove(
            attr::ENDING_HASH_KEY,
            lease.ending_hash_key.clone().map(AttributeValue::S),
        );
        self.update(lease, "update lease meta", u).await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let out = self
            .call("delete lease", || {
                self.client
                    .delete_item()
                    .table_name(&*self.table)
                    .key(attr::LEASE_KEY, AttributeValue::S(lease.lease_key.clone()))
                    .condition_expression("#leaseCounter = :expected")
                    .expression_attribute_names("#leaseCounter", attr::LEASE_COUNTER)
                    .expression_attribute_values(":expected", num(lease.lease_counter))
                    .send()
            })
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(f) if f.class == Class::ConditionFailed => Ok(false),
            Err(f) => Err(f.error),
        }
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

    fn full_lease() -> Lease {
        Lease {
            lease_key: "shardId-000000000007".into(),
            lease_owner: Some("w1".into()),
            lease_counter: 42,
            checkpoint: "49590338271490256608559692538361571095921575989136588898".into(),
            checkpoint_sub_sequence_number: 3,
            pending_checkpoint: Some("4959".into()),
            pending_checkpoint_sub_sequence_number: Some(1),
            pending_checkpoint_state: Some(vec![0, 1, 255]),
            owner_switches_since_checkpoint: 2,
            parent_shard_ids: BTreeSet::from(["shardId-000000000001".into()]),
            child_shard_ids: BTreeSet::from([
                "shardId-000000000010".into(),
                "shardId-000000000011".into(),
            ]),
            starting_hash_key: Some("0".into()),
            ending_hash_key: Some("170141183460469231731687303715884105727".into()),
            checkpoint_owner: Some("w0".into()),
        }
    }

    #[test]
    fn item_round_trips_with_kcl_types() -> Result<(), LeaseError> {
        let l = full_lease();
        let item = item_from_lease(&l);
        let types: BTreeSet<(String, &str)> = item
            .iter()
            .map(|(k, v)| (k.clone(), type_name(v)))
            .collect();
        let want: BTreeSet<(String, &str)> = [
            ("leaseKey", "S"),
            ("leaseOwner", "S"),
            ("leaseCounter", "N"),
            ("checkpoint", "S"),
            ("checkpointSubSequenceNumber", "N"),
            ("pendingCheckpoint", "S"),
            ("pendingCheckpointSubSequenceNumber", "N"),
            ("pendingCheckpointState", "B"),
            ("ownerSwitchesSinceCheckpoint", "N"),
            ("parentShardId", "SS"),
            ("childShardIds", "SS"),
            ("startingHashKey", "S"),
            ("endingHashKey", "S"),
            ("checkpointOwner", "S"),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_string(), t))
        .collect();
        assert_eq!(types, want);
        assert_eq!(lease_from_item(&item)?, l);
        Ok(())
    }

    #[test]
    fn empty_optionals_are_absent() {
        let l = Lease::new(
            "shardId-000000000000",
            crate::ExtendedSequenceNumber::trim_horizon(),
        );
        let item = item_from_lease(&l);
        let mut keys: Vec<&str> = item.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "checkpoint",
                "checkpointSubSequenceNumber",
                "leaseCounter",
                "leaseKey",
                "ownerSwitchesSinceCheckpoint"
            ]
        );
    }

    #[test]
    fn malformed_attributes_are_named() {
        let mut item = item_from_lease(&full_lease());
        item.insert("leaseCounter".into(), AttributeValue::S("7".into()));
        match lease_from_item(&item) {
            Err(LeaseError::MalformedAttribute { key, attribute, .. }) => {
                assert_eq!(key, "shardId-000000000007");
                assert_eq!(attribute, "leaseCounter");
            }
            other => panic!("expected MalformedAttribute, got {other:?}"),
        }
        item.insert("leaseCounter".into(), AttributeValue::N("-1".into()));
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "leaseCounter"
        ));
        item.insert("leaseCounter".into(), num(1));
        item.remove("checkpoint");
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "checkpoint"
        ));
        item.remove("leaseKey");
        assert!(matches!(
            lease_from_item(&item),
            Err(LeaseError::MalformedAttribute { attribute, .. }) if attribute == "leaseKey"
        ));
    }

    #[test]
    fn expression_names_are_collected() {
        let names = names_in(&[
            "SET #a = :a, #leaseCounter = #leaseCounter + :one",
            "#b = :x",
        ]);
        assert_eq!(names.len(), 3);
        assert_eq!(
            names.get("#leaseCounter").map(String::as_str),
            Some("leaseCounter")
        );
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
