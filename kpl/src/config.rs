//! Producer configuration: KPL names and defaults, one documented field each, checked by
//! [`ProducerConfigBuilder::build`].
//!
//! Every option of the Java/C++ KPL that applies here keeps its name (in the field's doc) and
//! its default. A [`ProducerConfig`] only exists once validated: [`ProducerConfig::builder`]
//! starts from the defaults, each setter replaces one value, and `build()` returns a
//! [`ConfigError`] naming the first bad parameter.

use std::collections::HashMap;
use std::time::Duration;

/// A shard's write limit in bytes per second (AWS: 1 MiB/s).
pub const SHARD_BYTES_PER_SEC: u64 = 1024 * 1024;
/// A shard's write limit in records per second (AWS: 1000 records/s).
pub const SHARD_RECORDS_PER_SEC: u64 = 1000;
/// The largest Kinesis record AWS accepts by default: data plus partition key, 1 MiB.
pub const MAX_RECORD_SIZE: usize = 1024 * 1024;
/// The most entries in one PutRecords call.
pub const MAX_PUT_RECORDS_COUNT: usize = 500;
/// The most bytes (data plus partition keys) in one PutRecords call.
pub const MAX_PUT_RECORDS_SIZE: usize = 5 * 1024 * 1024;

/// A configuration value that `build()` rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid producer configuration: {parameter}: {reason}")]
pub struct ConfigError {
    /// The parameter, by its KPL name where it has one (for example `CollectionMaxCount`).
    pub parameter: &'static str,
    /// What is wrong with the value.
    pub reason: String,
}

/// The validated configuration of a [`crate::Producer`]. Build it with
/// [`ProducerConfig::builder`]; `ProducerConfig::default()` is the KPL's defaults.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub(crate) aggregation_enabled: bool,
    pub(crate) aggregation_max_count: usize,
    pub(crate) aggregation_max_size: usize,
    pub(crate) collection_max_count: usize,
    pub(crate) collection_max_size: usize,
    pub(crate) record_max_buffered_time: Duration,
    pub(crate) record_ttl: Duration,
    pub(crate) rate_limit: u64,
    pub(crate) max_connections: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) fail_if_throttled: bool,
    pub(crate) buffer_max_records: usize,
    pub(crate) buffer_max_bytes: usize,
    pub(crate) strict_order: bool,
    pub(crate) shard_map_max_age: Duration,
    pub(crate) retry_min_delay: Duration,
    pub(crate) retry_max_delay: Duration,
    pub(crate) max_record_size: usize,
    pub(crate) stream_max_record_size: HashMap<String, usize>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            aggregation_enabled: true,
            aggregation_max_count: u32::MAX as usize,
            aggregation_max_size: 51_200,
            collection_max_count: MAX_PUT_RECORDS_COUNT,
            collection_max_size: MAX_PUT_RECORDS_SIZE,
            record_max_buffered_time: Duration::from_millis(100),
            record_ttl: Duration::from_secs(30),
            rate_limit: 150,
            max_connections: 24,
            request_timeout: Duration::from_secs(6),
            fail_if_throttled: false,
            buffer_max_records: 200_000,
            buffer_max_bytes: 256 * 1024 * 1024,
            strict_order: false,
            shard_map_max_age: Duration::from_secs(60),
            retry_min_delay: Duration::from_millis(100),
            retry_max_delay: Duration::from_secs(5),
            max_record_size: MAX_RECORD_SIZE,
            stream_max_record_size: HashMap::new(),
        }
    }
}

impl ProducerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig::default(),
        }
    }

    /// Whether user records are aggregated (`AggregationEnabled`).
    pub fn aggregation_enabled(&self) -> bool {
        self.aggregation_enabled
    }

    /// Whether strict order per partition key is on.
    pub fn strict_order(&self) -> bool {
        self.strict_order
    }

    /// The record TTL (`RecordTtl`).
    pub fn record_ttl(&self) -> Duration {
        self.record_ttl
    }

    /// The largest Kinesis record (data plus partition key) accepted for `stream`.
    pub fn max_record_size_for(&self, stream: &str) -> usize {
        self.stream_max_record_size
            .get(stream)
            .copied()
            .unwrap_or(self.max_record_size)
    }
}

/// Builds a [`ProducerConfig`]; every setter documents its KPL name and default.
#[derive(Debug, Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.config.$name = value;
            self
        }
    };
}

impl ProducerConfigBuilder {
    setter!(
        /// `AggregationEnabled` (default `true`): pack user records bound for one shard into
        /// KPL aggregated records. Off, every user record is one Kinesis record.
        aggregation_enabled: bool
    );
    setter!(
        /// `AggregationMaxCount` (default 4294967295): most user records in one aggregate.
        /// At least 1.
        aggregation_max_count: usize
    );
    setter!(
        /// `AggregationMaxSize` (default 51200 bytes): most bytes of an aggregate (magic,
        /// protobuf body and digest). 64 to 1 MiB. A user record bigger than this goes out
        /// alone, as a plain record.
        aggregation_max_size: usize
    );
    setter!(
        /// `CollectionMaxCount` (default 500): most Kinesis records in one PutRecords call.
        /// 1 to 500.
        collection_max_count: usize
    );
    setter!(
        /// `CollectionMaxSize` (default 5 MiB): most bytes (data plus partition keys) in one
        /// PutRecords call. 52224 to 5 MiB.
        collection_max_size: usize
    );
    setter!(
        /// `RecordMaxBufferedTime` (default 100 ms): longest a user record waits in the
        /// aggregator and the collector before its PutRecords goes out (the rate limiter and
        /// the in-flight bound can hold it longer). Zero sends without waiting for company.
        record_max_buffered_time: Duration
    );
    setter!(
        /// `RecordTtl` (default 30 s): a user record not put this long after `send` fails
        /// with [`crate::RecordError::Expired`]. At least 100 ms.
        record_ttl: Duration
    );
    setter!(
        /// `RateLimit` (default 150): per-shard token buckets let through this percentage of
        /// a shard's write limit (1 MiB/s and 1000 records/s), counting Kinesis records
        /// (aggregates count once). At least 1. Above 100 the service's own throttling
        /// (retried) keeps the stream at its limit with less idle time.
        rate_limit: u64
    );
    setter!(
        /// `MaxConnections` (default 24): most PutRecords calls in flight at once. 1 to 256.
        max_connections: usize
    );
    setter!(
        /// `RequestTimeout` (default 6 s): a PutRecords call not answered in this time is
        /// abandoned and its records retried (they may have been written: at-least-once).
        /// At least 100 ms.
        request_timeout: Duration
    );
    setter!(
        /// `FailIfThrottled` (default `false`): when true, a user record whose put is
        /// throttled (`ProvisionedThroughputExceededException`) fails at once with
        /// [`crate::RecordError::Rejected`] instead of being retried.
        fail_if_throttled: bool
    );
    setter!(
        /// Buffer limit in user records (default 200,000: 200 ms at 1,000,000 records/s,
        /// enough for the buffered time and the calls in flight): `send` waits and
        /// `try_send` returns `Full` while this many records are outstanding. At least 1.
        /// Far larger buffers only hold a backlog the stream cannot take, and a backlog of
        /// a million records no longer fits in the caches: the producer then slows down.
        buffer_max_records: usize
    );
    setter!(
        /// Buffer limit in bytes of outstanding user records, data plus partition key
        /// (default 256 MiB). At least the largest record size (1 MiB by default).
        buffer_max_bytes: usize
    );
    setter!(
        /// Strict order per partition key, even across retries (default `false`). Costs
        /// throughput: each shard has at most one Kinesis record in flight, and a record
        /// that is being retried holds back every later record of its shard (see the crate
        /// docs).
        strict_order: bool
    );
    setter!(
        /// Longest a stream's shard map is used before it is listed again (default 60 s).
        /// The map is also refreshed at once when a put lands on another shard than
        /// predicted. At least 1 s.
        shard_map_max_age: Duration
    );
    setter!(
        /// First retry delay (default 100 ms); each later one doubles, plus random jitter of
        /// up to the delay itself, up to `retry_max_delay`. At least 1 ms.
        retry_min_delay: Duration
    );
    setter!(
        /// Longest retry delay before jitter (default 5 s). At least `retry_min_delay`.
        retry_max_delay: Duration
    );
    setter!(
        /// Largest Kinesis record, data plus partition key (default 1 MiB, AWS's default),
        /// for streams without an entry set by [`Self::stream_max_record_size`]. 1 KiB to
        /// 10 MiB.
        max_record_size: usize
    );

    /// The largest Kinesis record for one stream (for streams configured with a larger
    /// maximum record size than 1 MiB). 1 KiB to 10 MiB.
    pub fn stream_max_record_size(mut self, stream: impl Into<String>, bytes: usize) -> Self {
        self.config
            .stream_max_record_size
            .insert(stream.into(), bytes);
        self
    }

    /// Checks every value and returns the configuration, or the first bad parameter.
    pub fn build(self) -> Result<ProducerConfig, ConfigError> {
        let c = self.config;
        let bad = |parameter: &'static str, reason: String| Err(ConfigError { parameter, reason });
        if c.aggregation_max_count == 0 {
            return bad("AggregationMaxCount", "must be at least 1".into());
        }
        if !(64..=MAX_RECORD_SIZE).contains(&c.aggregation_max_size) {
            return bad(
                "AggregationMaxSize",
                format!(
                    "must be 64 to {MAX_RECORD_SIZE}, got {}",
                    c.aggregation_max_size
                ),
            );
        }
        if !(1..=MAX_PUT_RECORDS_COUNT).contains(&c.collection_max_count) {
            return bad(
                "CollectionMaxCount",
                format!(
                    "must be 1 to {MAX_PUT_RECORDS_COUNT}, got {}",
                    c.collection_max_count
                ),
            );
        }
        if !(52_224..=MAX_PUT_RECORDS_SIZE).contains(&c.collection_max_size) {
            return bad(
                "CollectionMaxSize",
                format!(
                    "must be 52224 to {MAX_PUT_RECORDS_SIZE}, got {}",
                    c.collection_max_size
                ),
            );
        }
        if c.record_ttl < Duration::from_millis(100) {
            return bad(
                "RecordTtl",
                format!("must be at least 100 ms, got {:?}", c.record_ttl),
            );
        }
        if c.rate_limit == 0 {
            return bad("RateLimit", "must be at least 1 (percent)".into());
        }
        if !(1..=256).contains(&c.max_connections) {
            return bad(
                "MaxConnections",
                format!("must be 1 to 256, got {}", c.max_connections),
            );
        }
        if c.request_timeout < Duration::from_millis(100) {
            return bad(
                "RequestTimeout",
                format!("must be at least 100 ms, got {:?}", c.request_timeout),
            );
        }
        if c.buffer_max_records == 0 {
            return bad("buffer_max_records", "must be at least 1".into());
        }
        if c.shard_map_max_age < Duration::from_secs(1) {
            return bad("shard_map_max_age", "must be at least 1 s".into());
        }
        if c.retry_min_delay < Duration::from_millis(1) {
            return bad("retry_min_delay", "must be at least 1 ms".into());
        }
        if c.retry_max_delay < c.retry_min_delay {
            return bad("retry_max_delay", "must be at least retry_min_delay".into());
        }
        let sizes = std::iter::once(("max_record_size", c.max_record_size)).chain(
            c.stream_max_record_size
                .values()
                .map(|&v| ("stream_max_record_size", v)),
        );
        let mut largest = 0;
        for (parameter, size) in sizes {
            if !(1024..=10 * MAX_RECORD_SIZE).contains(&size) {
                return bad(parameter, format!("must be 1 KiB to 10 MiB, got {size}"));
            }
            largest = largest.max(size);
        }
        if c.buffer_max_bytes < largest {
            return bad(
                "buffer_max_bytes",
                format!("must be at least the largest record size, {largest}"),
            );
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_kpl_ones_and_valid() {
        let c = ProducerConfig::builder()
            .build()
            .expect("defaults are valid");
        assert!(c.aggregation_enabled);
        assert_eq!(c.aggregation_max_size, 51_200);
        assert_eq!(c.collection_max_count, 500);
        assert_eq!(c.collection_max_size, 5 * 1024 * 1024);
        assert_eq!(c.record_max_buffered_time, Duration::from_millis(100));
        assert_eq!(c.record_ttl, Duration::from_secs(30));
        assert_eq!(c.rate_limit, 150);
    }

    #[test]
    fn errors_name_the_parameter() {
        let cases: Vec<(ProducerConfigBuilder, &str)> = vec![
            (
                ProducerConfig::builder().aggregation_max_count(0),
                "AggregationMaxCount",
            ),
            (
                ProducerConfig::builder().aggregation_max_size(2 << 20),
                "AggregationMaxSize",
            ),
            (
                ProducerConfig::builder().collection_max_count(501),
                "CollectionMaxCount",
            ),
            (
                ProducerConfig::builder().collection_max_size(10),
                "CollectionMaxSize",
            ),
            (
                ProducerConfig::builder().record_ttl(Duration::ZERO),
                "RecordTtl",
            ),
            (ProducerConfig::builder().rate_limit(0), "RateLimit"),
            (
                ProducerConfig::builder().max_connections(0),
                "MaxConnections",
            ),
            (
                ProducerConfig::builder().request_timeout(Duration::ZERO),
                "RequestTimeout",
            ),
            (
                ProducerConfig::builder().buffer_max_records(0),
                "buffer_max_records",
            ),
            (
                ProducerConfig::builder().buffer_max_bytes(10),
                "buffer_max_bytes",
            ),
            (
                ProducerConfig::builder().retry_max_delay(Duration::from_millis(1)),
                "retry_max_delay",
            ),
            (
                ProducerConfig::builder().stream_max_record_size("s", 1),
                "stream_max_record_size",
            ),
        ];
        for (builder, parameter) in cases {
            let err = builder.build().expect_err(parameter);
            assert_eq!(err.parameter, parameter);
            assert!(err.to_string().contains(parameter), "{err}");
        }
    }
}
