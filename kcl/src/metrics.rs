//! Metric names, as the KCL publishes them, emitted through the [`metrics`] facade.
//!
//! Nothing is recorded unless the application installs a recorder (for example
//! `metrics-exporter-prometheus`). Labels: `WorkerIdentifier` on lease metrics, `ShardId`
//! on processing and retrieval metrics.

/// Counter: user records delivered to processors.
pub const RECORDS_PROCESSED: &str = "RecordsProcessed";
/// Counter: payload bytes delivered to processors.
pub const DATA_BYTES_PROCESSED: &str = "DataBytesProcessed";
/// Gauge: how far behind the tip of the shard the last batch was read.
pub const MILLIS_BEHIND_LATEST: &str = "MillisBehindLatest";
/// Gauge: leases held by the worker.
pub const CURRENT_LEASES: &str = "CurrentLeases";
/// Counter: leases taken (expired, unowned or handed over).
pub const TAKEN_LEASES: &str = "TakenLeases";
/// Counter: leases lost to another worker or to renewal failures.
pub const LOST_LEASES: &str = "LostLeases";
/// Counter: leases stolen (handoffs requested) to balance the spread.
pub const STOLEN_LEASES: &str = "NumStolenLeases";
/// Histogram: seconds a processor spent in one `process_records` call.
pub const RECORD_PROCESSOR_TIME: &str = "RecordProcessor.processRecords.Time";
/// Counter: successful GetRecords calls.
pub const GET_RECORDS_SUCCESS: &str = "GetRecords.Success";
/// Counter: GetRecords calls throttled (ProvisionedThroughputExceeded).
pub const GET_RECORDS_THROTTLED: &str = "GetRecords.Throttled";
/// Counter: GetRecords or GetShardIterator calls given up after the polling request timeout.
pub const REQUEST_TIMEOUTS: &str = "GetRecords.Timeout";
/// Counter: iterators that expired and were fetched again.
pub const EXPIRED_ITERATOR: &str = "ExpiredIterator";
/// Counter: SubscribeToShard calls that started a subscription (enhanced fan-out).
pub const SUBSCRIBE_TO_SHARD_SUCCESS: &str = "SubscribeToShard.Success";
/// Counter: SubscribeToShard calls or subscriptions that failed and were retried (including
/// ResourceInUse within 5 s of the previous subscription).
pub const SUBSCRIBE_TO_SHARD_RETRIED: &str = "SubscribeToShard.Retried";
/// Counter: subscriptions restarted for being silent longer than the silence timeout.
pub const SUBSCRIPTION_SILENT: &str = "SubscribeToShard.Silent";
/// Counter: KPL sub-records dropped for lying outside the shard's hash key range.
pub const RECORDS_DROPPED_OUT_OF_RANGE: &str = "RecordsDroppedOutOfRange";
/// Counter: shard sync runs.
pub const SHARD_SYNC: &str = "ShardSyncTask.Success";

/// Label: the worker id.
pub const WORKER: &str = "WorkerIdentifier";
/// Label: the shard id.
pub const SHARD: &str = "ShardId";
