//! Metrics of the engine, through the `metrics` facade (no cost without a recorder; `rill
//! serve` installs a Prometheus one and serves it at `/metrics`).
//!
//! Names follow the CloudWatch metrics of Kinesis Data Streams. Stream-level metrics carry the
//! label `stream`; shard-level ones (CloudWatch's "enhanced" metrics) are prefixed `Shard.`
//! and carry `stream` and `shard`. As CloudWatch's, shard-level metrics are emitted only for
//! streams that turned them on with EnableEnhancedMonitoring, each one by its name
//! (`Shard.IncomingBytes` when `IncomingBytes` is enabled, and so on):
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `IncomingBytes`, `IncomingRecords` | counter | accepted by PutRecord and PutRecords |
//! | `PutRecord.Success`, `PutRecord.Bytes` | counter | successful PutRecord calls, their bytes |
//! | `PutRecords.Success`, `PutRecords.Bytes` | counter | successful PutRecords calls, their bytes |
//! | `PutRecords.TotalRecords`, `PutRecords.SuccessfulRecords`, `PutRecords.FailedRecords` | counter | entries |
//! | `GetRecords.Success`, `GetRecords.Records`, `GetRecords.Bytes` | counter | successful polling reads |
//! | `GetRecords.IteratorAgeMilliseconds` | gauge | age of the last record read (0 at the tip) |
//! | `WriteProvisionedThroughputExceeded`, `ReadProvisionedThroughputExceeded` | counter | throttled records / calls |
//! | `SubscribeToShard.Success`, `SubscribeToShard.RateExceeded` | counter | subscriptions started / refused as in use (`stream`, `consumer`) |
//! | `SubscribeToShardEvent.Success` | counter | events pushed, empty ones included (`stream`, `consumer`) |
//! | `SubscribeToShardEvent.Records`, `.Bytes` | counter | records pushed, their bytes (`stream`, `consumer`) |
//! | `SubscribeToShardEvent.MillisBehindLatest` | gauge | of the last event pushed (`stream`, `consumer`) |
//! | `SubscribeToShard.Live` | gauge | rill's own: open subscriptions (`stream`, `consumer`, `shard`) |
//! | `Shard.IncomingBytes`, `Shard.IncomingRecords` | counter | per shard |
//! | `Shard.OutgoingBytes`, `Shard.OutgoingRecords` | counter | per shard, GetRecords and pushed events |
//! | `Shard.IteratorAgeMilliseconds` | gauge | per shard, of GetRecords |
//! | `Shard.WriteProvisionedThroughputExceeded`, `Shard.ReadProvisionedThroughputExceeded` | counter | per shard |
//!
//! As in CloudWatch, reads by enhanced fan-out consumers are counted under
//! `SubscribeToShardEvent.*`, not `GetRecords.*`; the shard-level outgoing counters count
//! both. `SubscribeToShard.Live` has no CloudWatch equivalent: it is what the `/ui/` page
//! shows as a consumer's live subscriptions, emitted whatever EnableEnhancedMonitoring says.

use super::metric_set::metric_on;
use std::collections::BTreeMap;

/// Records a successful put of `records` (shard index, payload bytes) into `stream`, whose
/// enabled shard-level metrics are `shard_metrics` (a bit set, see `admin`).
pub(crate) fn put(
    stream: &str,
    shard_metrics: u32,
    batch: bool,
    records: &[(u64, usize)],
    failed: usize,
) {
    let total_bytes: usize = records.iter().map(|r| r.1).sum();
    let n = records.len() as u64;
    let s = stream.to_string();
    metrics::counter!("IncomingBytes", "stream" => s.clone()).increment(total_bytes as u64);
    metrics::counter!("IncomingRecords", "stream" => s.clone()).increment(n);
    if batch {
        metrics::counter!("PutRecords.Success", "stream" => s.clone()).increment(1);
        metrics::counter!("PutRecords.Bytes", "stream" => s.clone()).increment(total_bytes as u64);
        metrics::counter!("PutRecords.TotalRecords", "stream" => s.clone())
            .increment(n + failed as u64);
        metrics::counter!("PutRecords.SuccessfulRecords", "stream" => s.clone()).increment(n);
        metrics::counter!("PutRecords.FailedRecords", "stream" => s.clone())
            .increment(failed as u64);
    } else {
        metrics::counter!("PutRecord.Success", "stream" => s.clone()).increment(1);
        metrics::counter!("PutRecord.Bytes", "stream" => s.clone()).increment(total_bytes as u64);
    }
    let want_records = metric_on(shard_metrics, "IncomingRecords");
    let want_bytes = metric_on(shard_metrics, "IncomingBytes");
    if !want_records && !want_bytes {
        return;
    }
    let mut per_shard: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for &(shard, bytes) in records {
        let e = per_shard.entry(shard).or_default();
        e.0 += 1;
        e.1 += bytes as u64;
    }
    for (shard, (count, bytes)) in per_shard {
        let id = super::shard_id(shard);
        if want_records {
            metrics::counter!("Shard.IncomingRecords", "stream" => s.clone(), "shard" => id.clone())
                .increment(count);
        }
        if want_bytes {
            metrics::counter!("Shard.IncomingBytes", "stream" => s.clone(), "shard" => id)
                .increment(bytes);
        }
    }
}

/// Records a successful GetRecords on `shard` of `stream`, whose enabled shard-level metrics
/// are `shard_metrics`.
pub(crate) fn get(
    stream: &str,
    shard_metrics: u32,
    shard: u64,
    records: usize,
    bytes: usize,
    iterator_age_ms: i64,
) {
    let s = stream.to_string();
    metrics::counter!("GetRecords.Success", "stream" => s.clone()).increment(1);
    metrics::counter!("GetRecords.Records", "stream" => s.clone()).increment(records as u64);
    metrics::counter!("GetRecords.Bytes", "stream" => s.clone()).increment(bytes as u64);
    metrics::gauge!("GetRecords.IteratorAgeMilliseconds", "stream" => s.clone())
        .set(iterator_age_ms as f64);
    outgoing(&s, shard_metrics, shard, records, bytes);
    if metric_on(shard_metrics, "IteratorAgeMilliseconds") {
        metrics::gauge!("Shard.IteratorAgeMilliseconds", "stream" => s, "shard" => super::shard_id(shard))
            .set(iterator_age_ms as f64);
    }
}

/// Records an event pushed to `consumer` from `shard` of `stream` (heartbeats included, as
/// AWS's `SubscribeToShardEvent.MillisBehindLatest` is of every event).
pub(crate) fn pushed(
    stream: &str,
    consumer: &str,
    shard_metrics: u32,
    shard: u64,
    records: usize,
    bytes: usize,
    millis_behind: i64,
) {
    let (s, c) = (stream.to_string(), consumer.to_string());
    metrics::gauge!("SubscribeToShardEvent.MillisBehindLatest", "stream" => s.clone(), "consumer" => c.clone())
        .set(millis_behind as f64);
    metrics::counter!("SubscribeToShardEvent.Success", "stream" => s.clone(), "consumer" => c.clone())
        .increment(1);
    if records == 0 {
        return;
    }
    metrics::counter!("SubscribeToShardEvent.Records", "stream" => s.clone(), "consumer" => c.clone())
        .increment(records as u64);
    metrics::counter!("SubscribeToShardEvent.Bytes", "stream" => s.clone(), "consumer" => c)
        .increment(bytes as u64);
    outgoing(&s, shard_metrics, shard, records, bytes);
}

/// The shard-level outgoing counters, of both ways of reading.
fn outgoing(stream: &str, shard_metrics: u32, shard: u64, records: usize, bytes: usize) {
    if metric_on(shard_metrics, "OutgoingRecords") {
        metrics::counter!("Shard.OutgoingRecords", "stream" => stream.to_string(), "shard" => super::shard_id(shard))
            .increment(records as u64);
    }
    if metric_on(shard_metrics, "OutgoingBytes") {
        metrics::counter!("Shard.OutgoingBytes", "stream" => stream.to_string(), "shard" => super::shard_id(shard))
            .increment(bytes as u64);
    }
}

/// A subscription of `consumer` to `shard` of `stream` started (`live` 1) or ended (`live`
/// -1): moves the `SubscribeToShard.Live` gauge, and counts a start as a success.
pub(crate) fn subscription(stream: &str, consumer: &str, shard: u64, live: i8) {
    let (s, c) = (stream.to_string(), consumer.to_string());
    if live > 0 {
        metrics::counter!("SubscribeToShard.Success", "stream" => s.clone(), "consumer" => c.clone())
            .increment(1);
    }
    metrics::gauge!("SubscribeToShard.Live", "stream" => s, "consumer" => c, "shard" => super::shard_id(shard))
        .increment(f64::from(live));
}

/// A subscription refused because another one of the consumer to the shard is recent.
pub(crate) fn subscription_refused(stream: &str, consumer: &str) {
    metrics::counter!("SubscribeToShard.RateExceeded", "stream" => stream.to_string(), "consumer" => consumer.to_string())
        .increment(1);
}

/// Registers a stream's throttling counters at zero, so they are visible before any throttle.
pub(crate) fn stream_created(stream: &str) {
    metrics::counter!("WriteProvisionedThroughputExceeded", "stream" => stream.to_string())
        .absolute(0);
    metrics::counter!("ReadProvisionedThroughputExceeded", "stream" => stream.to_string())
        .absolute(0);
}

/// Records throttled writes: per shard of `stream`, the records its write budget refused.
pub(crate) fn write_throttled(stream: &str, shard_metrics: u32, per_shard: &[(u64, usize)]) {
    let total: usize = per_shard.iter().map(|p| p.1).sum();
    metrics::counter!("WriteProvisionedThroughputExceeded", "stream" => stream.to_string())
        .increment(total as u64);
    if metric_on(shard_metrics, "WriteProvisionedThroughputExceeded") {
        for &(shard, n) in per_shard {
            metrics::counter!("Shard.WriteProvisionedThroughputExceeded", "stream" => stream.to_string(), "shard" => super::shard_id(shard))
                .increment(n as u64);
        }
    }
}

/// Records a GetRecords call on `shard` refused by the shard's read budget.
pub(crate) fn read_throttled(stream: &str, shard_metrics: u32, shard: u64) {
    metrics::counter!("ReadProvisionedThroughputExceeded", "stream" => stream.to_string())
        .increment(1);
    if metric_on(shard_metrics, "ReadProvisionedThroughputExceeded") {
        metrics::counter!("Shard.ReadProvisionedThroughputExceeded", "stream" => stream.to_string(), "shard" => super::shard_id(shard))
            .increment(1);
    }
}
