//! Settings of the consumer, with their defaults.
//!
//! Every timing knob is configurable so that tests run in seconds; the defaults are the
//! KCL's where the KCL has one.

use rill_engine::api::Timestamp;
use std::time::Duration;

/// Where a worker starts reading a shard that has no checkpoint yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitialPosition {
    /// After the newest record: only records put from now on (the KCL's default).
    #[default]
    Latest,
    /// At the oldest record still retained.
    TrimHorizon,
    /// At the first record that arrived at or after this time.
    AtTimestamp(Timestamp),
}

/// How the workers of an application share the lease table's work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coordination {
    /// [`Coordination::Leader`] when the lease table supports the fleet row
    /// ([`LeaseTable::supports_fleet`](crate::LeaseTable::supports_fleet): SQLite and
    /// DynamoDB do), else [`Coordination::EveryWorker`]. The default.
    #[default]
    Auto,
    /// One elected leader reads the table, assigns and balances; the others read their own
    /// leases through the owner index (see [`crate::lease::fleet`]).
    Leader,
    /// Every worker scans the whole table every taker interval, takes expired leases and
    /// steals toward an even spread (the Java KCL 2.x's way; see
    /// [`crate::lease::coordinator`]).
    EveryWorker,
}

/// Lease coordination settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// A lease whose counter did not change for this long (on the observer's monotonic
    /// clock) is expired and may be taken. Default 10 s.
    pub failover_time: Duration,
    /// How often the owner renews its leases. Default: a third of the failover time.
    pub renewal_interval: Duration,
    /// How often the worker scans the table to take expired, unowned or handed-over leases
    /// and to steal toward an even spread. Default: half the renewal interval, so a dead
    /// worker's leases are taken within the failover time plus one renewal interval of its
    /// last renewal.
    pub taker_interval: Duration,
    /// Most leases this worker holds. Default: unlimited.
    pub max_leases_per_worker: usize,
    /// Most leases stolen in one scan. Default 1 (as the KCL).
    pub max_leases_to_steal_at_once: usize,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        let failover = Duration::from_secs(10);
        LeaseConfig {
            failover_time: failover,
            renewal_interval: failover / 3,
            taker_interval: failover / 6,
            max_leases_per_worker: usize::MAX,
            max_leases_to_steal_at_once: 1,
        }
    }
}

/// Polling retrieval settings.
#[derive(Debug, Clone)]
pub struct PollingConfig {
    /// Most records per GetRecords call (1..=10000). Default 10000.
    pub max_records: i32,
    /// Batches fetched ahead of the processor, per shard. Default 3.
    pub prefetch_batches: usize,
    /// Pause after a GetRecords that reached the tip of the shard. Doubles (up to
    /// `max_idle_time_between_reads`) while calls come back empty; none while calls come back
    /// full. Default 1 s.
    pub idle_time_between_reads: Duration,
    /// Longest pause between empty reads. Default 4 s.
    pub max_idle_time_between_reads: Duration,
    /// First backoff after ProvisionedThroughputExceeded or a transient failure; doubles
    /// with jitter per retry. Default 200 ms.
    pub retry_min_backoff: Duration,
    /// Longest backoff. Default 5 s.
    pub retry_max_backoff: Duration,
    /// How long a GetRecords or GetShardIterator call may take before it is given up and
    /// retried like a throttled one (a service that stops answering must not stall the
    /// shard forever). Default 30 s.
    pub request_timeout: Duration,
}

impl Default for PollingConfig {
    fn default() -> Self {
        PollingConfig {
            max_records: 10_000,
            prefetch_batches: 3,
            idle_time_between_reads: Duration::from_secs(1),
            max_idle_time_between_reads: Duration::from_secs(4),
            retry_min_backoff: Duration::from_millis(200),
            retry_max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How records get from Kinesis to the processors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RetrievalMode {
    /// GetRecords in a loop per shard ([`PollingConfig`]). The default.
    #[default]
    Polling,
    /// Enhanced fan-out: the worker registers (or finds) a stream consumer and subscribes to
    /// each of its shards with SubscribeToShard ([`FanOutConfig`]).
    FanOut {
        /// The stream consumer's name. Default: the application name, so that every worker
        /// of the application shares one consumer (and its per-shard read throughput).
        consumer_name: Option<String>,
    },
}

/// Enhanced fan-out retrieval settings.
#[derive(Debug, Clone)]
pub struct FanOutConfig {
    /// A subscription that delivered no event (not even the empty one Kinesis sends every
    /// 5 s) for this long is dropped and made again from the last continuation. Default 30 s.
    pub silence_timeout: Duration,
    /// First backoff after ResourceInUse (a subscription to the shard made less than 5 s
    /// ago), throttling or a transient failure; doubles with jitter per retry. Default
    /// 200 ms.
    pub retry_min_backoff: Duration,
    /// Longest backoff. Default 5 s.
    pub retry_max_backoff: Duration,
    /// Events received ahead of the processor, per shard. Default 3.
    pub prefetch_events: usize,
    /// How long the worker waits at start for the stream consumer to become ACTIVE.
    /// Default 2 min.
    pub consumer_active_timeout: Duration,
    /// How often the consumer's status is polled while it is not ACTIVE. Default 1 s.
    pub consumer_poll_interval: Duration,
}

impl Default for FanOutConfig {
    fn default() -> Self {
        FanOutConfig {
            silence_timeout: Duration::from_secs(30),
            retry_min_backoff: Duration::from_millis(200),
            retry_max_backoff: Duration::from_secs(5),
            prefetch_events: 3,
            consumer_active_timeout: Duration::from_secs(120),
            consumer_poll_interval: Duration::from_secs(1),
        }
    }
}
