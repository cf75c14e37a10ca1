//! Polling retrieval: a task per shard calls GetRecords and hands batches to the shard's
//! processing loop through a bounded channel (the prefetch).
//!
//! # Behaviour
//!
//! * **Start.** From the lease's checkpoint: `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP` (the
//!   configured timestamp), or for a position `AT_SEQUENCE_NUMBER` and then drop every
//!   user record at or below the checkpoint (this resumes inside a KPL aggregate).
//! * **Prefetch.** Up to `prefetch_batches` batches wait in the channel; a full channel
//!   stops the task (backpressure), so memory is bounded by batches × `max_records`.
//! * **Adaptive idle time.** A call that returned `max_records` is followed at once by the
//!   next; a call that reached the tip of the shard waits `idle_time_between_reads`, and
//!   each further empty call doubles the wait up to `max_idle_time_between_reads`.
//! * **Throttling and transient failures** (ProvisionedThroughputExceeded, LimitExceeded,
//!   InternalFailure, KMSThrottling) back off exponentially with jitter, from
//!   `retry_min_backoff` to `retry_max_backoff`, and retry the same iterator.
//! * **ExpiredIterator.** A new iterator is fetched `AFTER_SEQUENCE_NUMBER` the last record
//!   this task fetched — not the last delivered or checkpointed, which may be older: the
//!   batches between are in the channel already and would be delivered twice — or from the
//!   start position when nothing was fetched yet.
//! * **Shard end.** A response without `NextShardIterator` ends the shard: the task sends
//!   [`Fetched::ShardEnd`] with GetRecords' `ChildShards` and stops.
//! * Any other error (ResourceNotFound, AccessDenied, ...) is sent as [`Fetched::Failed`]
//!   and stops the task.

use super::{Fetcher, transient};
use crate::config::PollingConfig;
use crate::metrics as m;
use crate::record::convert;
use crate::sequence::{AT_TIMESTAMP, LATEST, TRIM_HORIZON};
use backon::{BackoffBuilder, ExponentialBuilder};
use rill_engine::api::{
    Error, GetRecordsInput, GetShardIteratorInput, HashKeyRange, Kinesis, ShardIteratorType,
};
use std::sync::Arc;
use tokio::sync::mpsc;

pub use super::{Fetched, StartPosition};

/// The polling fetcher: [`spawn`](PollingFetcher::spawn) starts its task.
#[derive(Debug)]
pub struct PollingFetcher;

struct Task {
    kinesis: Arc<dyn Kinesis>,
    stream_name: String,
    shard_id: String,
    start: StartPosition,
    config: PollingConfig,
    range: Option<HashKeyRange>,
    tx: mpsc::Sender<Fetched>,
}

impl PollingFetcher {
    /// Starts fetching `shard_id` of `stream_name` from `start`.
    pub fn spawn(
        kinesis: Arc<dyn Kinesis>,
        stream_name: String,
        shard_id: String,
        start: StartPosition,
        config: PollingConfig,
        range: Option<HashKeyRange>,
    ) -> Fetcher {
        let (tx, rx) = mpsc::channel(config.prefetch_batches.max(1));
        let task = Task {
            kinesis,
            stream_name,
            shard_id,
            start,
            config,
            range,
            tx,
        };
        let span = tracing::info_span!("fetch", shard_id = %task.shard_id);
        Fetcher::spawn(rx, task.run(), span)
    }
}

impl Task {
    fn backoff(&self) -> impl Iterator<Item = std::time::Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.config.retry_min_backoff)
            .with_max_delay(self.config.retry_max_backoff)
            .with_jitter()
            .without_max_times()
            .build()
    }

    async fn iterator(&self, after: Option<&str>) -> Result<String, Error> {
        let mut input = GetShardIteratorInput {
            stream_name: Some(self.stream_name.clone()),
            shard_id: self.shard_id.clone(),
            ..Default::default()
        };
        let cp = &self.start.checkpoint;
        if let Some(seq) = after {
            input.shard_iterator_type = Some(ShardIteratorType::AfterSequenceNumber);
            input.starting_sequence_number = Some(seq.to_owned());
        } else if cp.is_position() {
            input.shard_iterator_type = Some(ShardIteratorType::AtSequenceNumber);
            input.starting_sequence_number = Some(cp.sequence_number.clone());
        } else {
            input.shard_iterator_type = Some(match cp.sequence_number.as_str() {
                LATEST => ShardIteratorType::Latest,
                AT_TIMESTAMP if self.start.timestamp.is_some() => ShardIteratorType::AtTimestamp,
                TRIM_HORIZON | AT_TIMESTAMP => ShardIteratorType::TrimHorizon,
                other => {
                    return Err(Error::InvalidArgument(format!(
                        "lease of {} has an unusable checkpoint {other:?}",
                        self.shard_id
                    )));
                }
            });
            input.timestamp = self.start.timestamp;
        }
        let mut backoff = self.backoff();
        loop {
            match self
                .timed(
                    "GetShardIterator",
                    self.kinesis.get_shard_iterator(input.clone()),
                )
                .await
            {
                Ok(out) => {
                    return out.shard_iterator.ok_or_else(|| {
                        Error::InvalidArgument("GetShardIterator returned no iterator".into())
                    });
                }
                Err(e) if transient(&e) => {
                    let wait = backoff.next().unwrap_or(self.config.retry_max_backoff);
                    tracing::debug!(error = %e, ?wait, "GetShardIterator throttled");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A call bounded by `request_timeout`; running out of time is an `InternalFailure`
    /// (retried).
    async fn timed<T>(
        &self,
        operation: &str,
        call: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        let limit = self.config.request_timeout;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => {
                metrics::counter!(m::REQUEST_TIMEOUTS, m::SHARD => self.shard_id.clone())
                    .increment(1);
                Err(Error::Internal {
                    message: format!("{operation} did not answer within {limit:?}"),
                    source: None,
                })
            }
        }
    }

    async fn run(self) {
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "retrieval failed");
            let _ = self.tx.send(Fetched::Failed(e)).await;
        }
    }

    /// Fetches until the shard ends, the receiver is gone, or a permanent error.
    async fn fetch(&self) -> Result<(), Error> {
        let mut iterator = self.iterator(None).await?;
        let mut skip = self
            .start
            .checkpoint
            .is_position()
            .then(|| self.start.checkpoint.clone());
        let mut last_fetched: Option<String> = None;
        let mut idle = self.config.idle_time_between_reads;
        let mut backoff = self.backoff();
        let mut throttled = false;
        let shard = self.shard_id.clone();
        loop {
            let result = self
                .timed(
                    "GetRecords",
                    self.kinesis.get_records(GetRecordsInput {
                        shard_iterator: iterator.clone(),
                        limit: Some(self.config.max_records),
                        ..Default::default()
                    }),
                )
                .await;
            let out = match result {
                Ok(out) => out,
                Err(Error::ExpiredIterator(_)) => {
                    metrics::counter!(m::EXPIRED_ITERATOR, m::SHARD => shard.clone()).increment(1);
                    tracing::info!(after = ?last_fetched, "iterator expired; getting a new one");
                    iterator = self.iterator(last_fetched.as_deref()).await?;
                    continue;
                }
                Err(e) if transient(&e) => {
                    metrics::counter!(m::GET_RECORDS_THROTTLED, m::SHARD => shard.clone())
                        .increment(1);
                    if !throttled {
                        backoff = self.backoff();
                        throttled = true;
                    }
                    let wait = backoff.next().unwrap_or(self.config.retry_max_backoff);
                    tracing::debug!(error = %e, ?wait, "GetRecords backing off");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            throttled = false;
            metrics::counter!(m::GET_RECORDS_SUCCESS, m::SHARD => shard.clone()).increment(1);
            let fetched = out.records.len();
            if let Some(last) = out.records.last() {
                last_fetched = Some(last.sequence_number.clone());
            }
            let mut records = Vec::with_capacity(fetched);
            let dropped = convert(out.records, self.range, skip.as_ref(), &mut records);
            if fetched > 0 {
                skip = None; // only the first records after the checkpoint can be at or below it
            }
            if dropped > 0 {
                metrics::counter!(m::RECORDS_DROPPED_OUT_OF_RANGE, m::SHARD => shard.clone())
                    .increment(dropped as u64);
            }
            let behind = out.millis_behind_latest.unwrap_or(0);
            if let Some(ms) = out.millis_behind_latest {
                metrics::gauge!(m::MILLIS_BEHIND_LATEST, m::SHARD => shard.clone()).set(ms as f64);
            }
            if !records.is_empty() {
                let batch = Fetched::Records {
                    records,
                    millis_behind_latest: out.millis_behind_latest,
                };
                if self.tx.send(batch).await.is_err() {
                    return Ok(());
                }
            }
            match out.next_shard_iterator {
                None => {
                    let child_shards = out.child_shards.unwrap_or_default();
                    let _ = self.tx.send(Fetched::ShardEnd { child_shards }).await;
                    return Ok(());
                }
                Some(next) => iterator = next,
            }
            let full = fetched >= usize::try_from(self.config.max_records).unwrap_or(usize::MAX);
            if full || (fetched > 0 && behind > 0) {
                idle = self.config.idle_time_between_reads;
            } else if fetched > 0 {
                idle = self.config.idle_time_between_reads;
                tokio::time::sleep(idle).await;
            } else {
                tokio::time::sleep(idle).await;
                idle = (idle * 2).min(self.config.max_idle_time_between_reads);
            }
        }
    }
}
