//! Metrics with the KPL's names, through the `metrics` facade.
//!
//! Labels: `stream` on every metric, `shard` on the per-shard ones, `error_code` on
//! `ErrorsByCode`. Handles are registered once per stream and per shard and kept, so that a
//! record costs an atomic add at most (nothing without a recorder installed).
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `UserRecordsReceived` | counter | stream | user records taken by `send`/`try_send` |
//! | `UserRecordsPending` | gauge | stream | user records taken and not finished |
//! | `UserRecordsPut` | counter | stream, shard | user records acknowledged |
//! | `UserRecordsDataPut` | counter | stream, shard | their bytes (data) |
//! | `KinesisRecordsPut` | counter | stream, shard | Kinesis records (plain or aggregates) put |
//! | `KinesisRecordsDataPut` | counter | stream, shard | their bytes (data plus partition key) |
//! | `UserRecordsPerKinesisRecord` | histogram | stream, shard | aggregation ratio |
//! | `KinesisRecordsPerPutRecordsRequest` | histogram | stream | collection ratio |
//! | `BufferingTime` | histogram (ms) | stream, shard | `send` to the first attempt |
//! | `RequestTime` | histogram (ms) | stream | PutRecords call duration |
//! | `RetriesPerRecord` | histogram | stream, shard | attempts minus one, per finished user record |
//! | `AllErrors` | counter | stream | failed attempts of Kinesis records and calls |
//! | `ErrorsByCode` | counter | stream, shard, error_code | the same by code |
//! | `UserRecordExpired` | counter | stream | user records failed for their TTL |

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// Handles of one stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamMetrics {
    pub stream: String,
    pub received: Counter,
    pub pending: Gauge,
    pub per_request: Histogram,
    pub request_time: Histogram,
    pub all_errors: Counter,
    pub expired: Counter,
}

impl StreamMetrics {
    pub fn new(stream: &str) -> StreamMetrics {
        let s = stream.to_owned();
        StreamMetrics {
            received: counter!("UserRecordsReceived", "stream" => s.clone()),
            pending: gauge!("UserRecordsPending", "stream" => s.clone()),
            per_request: histogram!("KinesisRecordsPerPutRecordsRequest", "stream" => s.clone()),
            request_time: histogram!("RequestTime", "stream" => s.clone()),
            all_errors: counter!("AllErrors", "stream" => s.clone()),
            expired: counter!("UserRecordExpired", "stream" => s.clone()),
            stream: s,
        }
    }

    /// `ErrorsByCode` for a shard (or `-` for a whole-call error).
    pub fn error(&self, shard: &str, code: &str) {
        self.all_errors.increment(1);
        counter!("ErrorsByCode", "stream" => self.stream.clone(), "shard" => shard.to_owned(),
            "error_code" => code.to_owned())
        .increment(1);
    }
}

/// Handles of one shard.
#[derive(Debug, Clone)]
pub(crate) struct ShardMetrics {
    pub user_put: Counter,
    pub user_data_put: Counter,
    pub kinesis_put: Counter,
    pub kinesis_data_put: Counter,
    pub per_kinesis_record: Histogram,
    pub buffering_time: Histogram,
    pub retries: Histogram,
}

impl ShardMetrics {
    pub fn new(stream: &str, shard: &str) -> ShardMetrics {
        let labels = [("stream", stream.to_owned()), ("shard", shard.to_owned())];
        ShardMetrics {
            user_put: counter!("UserRecordsPut", &labels),
            user_data_put: counter!("UserRecordsDataPut", &labels),
            kinesis_put: counter!("KinesisRecordsPut", &labels),
            kinesis_data_put: counter!("KinesisRecordsDataPut", &labels),
            per_kinesis_record: histogram!("UserRecordsPerKinesisRecord", &labels),
            buffering_time: histogram!("BufferingTime", &labels),
            retries: histogram!("RetriesPerRecord", &labels),
        }
    }
}
