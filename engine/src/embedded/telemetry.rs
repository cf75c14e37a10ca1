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
//! | `GetRecords.Success`, `GetRecords.Records`, `GetRecords.Bytes` | counter | successful reads |
//! | `GetRecords.IteratorAgeMilliseconds` | gauge | age of the last record read (0 at the tip) |
//! | `WriteProvisionedThroughputExceeded`, `ReadProvisionedThroughputExceeded` | counter | throttled records / calls |
//! | `Shard.IncomingBytes`, `Shard.IncomingRecords` | counter | per shard |
//! | `Shard.OutgoingBytes`, `Shard.OutgoingRecords` | counter | per shard |
//! | `Shard.IteratorAgeMilliseconds` | gauge | per shard |

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

/// Records a successful GetRecords (or pushed event) on `shard` of `stream`, whose enabled
/// shard-level metrics are `shard_metrics`.
pub(crate) fn get(
    stream: &str,
    shard_metrics: u32,
    shard: u64,
    records: usize,
    bytes: usize,
    iterator_age_ms: i64,
) {
    let s = stream.to_string();
    let id = super::shard_id(shard);
    metrics::counter!("GetRecords.Success", "stream" => s.clone()).increment(1);
    metrics::counter!("GetRecords.Records", "stream" => s.clone()).increment(records as u64);
    metrics::counter!("GetRecords.Bytes", "stream" => s.clone()).increment(bytes as u64);
    metrics::gauge!("GetRecords.IteratorAgeMilliseconds", "stream" => s.clone())
        .set(iterator_age_ms as f64);
    if metric_on(shard_metrics, "OutgoingRecords") {
        metrics::counter!("Shard.OutgoingRecords", "stream" => s.clone(), "shard" => id.clone())
            .increment(records as u64);
    }
    if metric_on(shard_metrics, "OutgoingBytes") {
        metrics::counter!("Shard.OutgoingBytes", "stream" => s.clone(), "shard" => id.clone())
            .increment(bytes as u64);
    }
    if metric_on(shard_metrics, "IteratorAgeMilliseconds") {
        metrics::gauge!("Shard.IteratorAgeMilliseconds", "stream" => s, "shard" => id)
            .set(iterator_age_ms as f64);
    }
}

/// Registers a stream's throttling counters at zero, so they are visible before any throttle.
pub(crate) fn stream_created(stream: &str) {
    metrics::counter!("WriteProvisionedThroughputExceeded", "stream" => stream.to_string())
        .absolute(0);
    metrics::counter!("ReadProvisionedThroughputExceeded", "stream" => stream.to_string())
        .absolute(0);
}

/// Records throttled writes (records refused by a shard's write budget).
pub(crate) fn write_throttled(stream: &str, records: usize) {
    metrics::counter!("WriteProvisionedThroughputExceeded", "stream" => stream.to_string())
        .increment(records as u64);
}

/// Records a throttled read call.
pub(crate) fn read_throttled(stream: &str) {
    metrics::counter!("ReadProvisionedThroughputExceeded", "stream" => stream.to_string())
        .increment(1);
}
