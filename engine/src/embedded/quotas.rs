//! AWS's quotas as the embedded engine enforces them: record and request sizes, retention
//! bounds, tag counts, and the account-wide counts (open shards, ON_DEMAND streams, the
//! per-account call rates of the control plane).

use crate::api::*;
use crate::embedded::Engine;

/// Largest record payload of a stream whose maximum record size was not raised (1 MiB).
pub(crate) const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Largest PutRecords request: data and partition keys (5 MiB).
pub(crate) const MAX_PUT_RECORDS_BYTES: usize = 5 * 1024 * 1024;

/// Largest GetRecords response: data and partition keys (10 MiB).
pub(crate) const MAX_GET_RECORDS_BYTES: usize = 10 * 1024 * 1024;

/// Shortest and longest retention, in hours.
pub(crate) const MIN_RETENTION_HOURS: i32 = 24;

pub(crate) const MAX_RETENTION_HOURS: i32 = 8760;

/// Most tags a stream can carry.
pub(crate) const MAX_TAGS: usize = 50;

/// Most entries of a request's tag map (the API model's TagMap limit; the stream's limit of
/// [`MAX_TAGS`] is checked separately, as an InvalidArgumentException).
pub(crate) const MAX_TAG_MAP_ENTRIES: usize = 200;

/// Smallest and largest per-stream maximum record size, in KiB.
pub(crate) const MIN_RECORD_KIB: i32 = 1024;

pub(crate) const MAX_RECORD_KIB: i32 = 10240;

/// Longest resource policy document, in characters.
pub(crate) const MAX_POLICY_CHARS: usize = 20480;

impl Engine {
    pub(crate) fn open_shard_count(&self) -> u64 {
        self.inner
            .streams
            .read()
            .by_name
            .values()
            .map(|s| s.shards.read().open.len() as u64)
            .sum()
    }

    pub(crate) fn check_shard_limit(&self, extra: u64) -> Result<(), Error> {
        let open: u64 = self
            .inner
            .streams
            .read()
            .by_name
            .values()
            .map(|s| s.shards.read().open.len() as u64)
            .sum();
        let limit = u64::from(self.inner.config.shard_limit);
        if open + extra > limit {
            return Err(Error::LimitExceeded(format!(
                "This request would exceed the shard limit for the account {} in {}. Current shard count for the account: {open}. Limit: {limit}. Number of additional shards that would have resulted from this request: {extra}. Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and how to request higher limits.",
                self.inner.config.account_id, self.inner.config.region
            )));
        }
        Ok(())
    }

    /// Refuses a call beyond `per_sec` calls per second of `operation` for the account (a
    /// token bucket holding one second of calls), as AWS limits its account-level operations.
    /// Off with [`super::ThroughputLimits::off`].
    pub(crate) fn account_call(&self, operation: &'static str, per_sec: u32) -> Result<(), Error> {
        if !self.inner.config.limits.enabled {
            return Ok(());
        }
        let now = self.inner.config.clock.now_ms();
        let cap = f64::from(per_sec);
        let now = now as f64 / 1000.0;
        let mut rates = self.inner.call_rates.lock();
        let bucket = rates
            .entry(operation)
            .or_insert_with(|| bucket::TokenBucket::full(cap, cap, now));
        bucket.refill(now);
        if bucket.has(1.0) {
            bucket.take(1.0);
            Ok(())
        } else {
            Err(Error::LimitExceeded(format!(
                "Rate exceeded for operation {operation} under account {}: at most {per_sec} calls per second.",
                self.inner.config.account_id
            )))
        }
    }

    /// ON_DEMAND streams, for the account quota.
    pub(crate) fn on_demand_stream_count(&self) -> usize {
        self.inner
            .streams
            .read()
            .by_name
            .values()
            .filter(|s| {
                let m = s.meta.read();
                m.mode == StreamMode::OnDemand && m.status != StreamStatus::Deleting
            })
            .count()
    }
}
