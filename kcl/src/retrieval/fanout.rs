//! Enhanced fan-out retrieval: a task per shard holds a SubscribeToShard subscription and
//! hands its events to the shard's processing loop through a bounded channel, exactly as
//! [`super::polling`] hands GetRecords' batches.
//!
//! # Behaviour
//!
//! * **The consumer.** At start the worker finds the stream consumer by stream ARN and name
//!   (DescribeStreamConsumer), registers it when there is none (a concurrent registration
//!   by another worker is fine: it is found again), and waits until it is `ACTIVE`
//!   ([`ensure_consumer`]).
//! * **Start.** From the lease's checkpoint: `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP` (the
//!   configured timestamp), or for a position `AT_SEQUENCE_NUMBER` and then drop every
//!   user record at or below the checkpoint (this resumes inside a KPL aggregate).
//! * **Continuation.** Every event carries a `ContinuationSequenceNumber`; when a
//!   subscription ends (after its 5 minutes, or broken) the task subscribes again
//!   `AFTER_SEQUENCE_NUMBER` the last one received, which loses and repeats nothing.
//! * **ResourceInUse** (a subscription to the same shard by the same consumer less than
//!   5 s ago, for example by the lease's previous owner), throttling and transient failures
//!   back off exponentially with jitter from `retry_min_backoff` to `retry_max_backoff` and
//!   subscribe again.
//! * **Silence.** Kinesis sends an event at least every 5 s, empty when there is nothing
//!   new. A subscription without any event for `silence_timeout` is dropped and made again
//!   from the last continuation.
//! * **Backpressure.** Up to `prefetch_events` batches wait in the channel; a full channel
//!   stops reading the subscription (the silence timer does not run meanwhile).
//! * **Shard end.** The last event of a closed shard carries `ChildShards`: the task sends
//!   its records, then [`Fetched::ShardEnd`] with the children, and stops.
//! * Any permanent error (ResourceNotFound, AccessDenied, InvalidArgument, KMS errors but
//!   throttling) is sent as [`Fetched::Failed`] and stops the task.

use super::{Fetched, Fetcher, StartPosition, transient};
use crate::config::FanOutConfig;
use crate::error::KclError;
use crate::metrics as m;
use crate::record::convert;
use crate::sequence::{AT_TIMESTAMP, LATEST, TRIM_HORIZON};
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use futures::future::BoxFuture;
use rill_engine::api::{
    ConsumerStatus, DescribeStreamConsumerInput, DescribeStreamSummaryInput, Error, HashKeyRange,
    Kinesis, RegisterStreamConsumerInput, ShardIteratorType, StartingPosition,
    SubscribeToShardInput, SubscribeToShardStream,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Whether a consumer name is one Kinesis accepts (`[a-zA-Z0-9_.-]{1,128}`).
pub fn valid_consumer_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn backoff(min: Duration, max: Duration) -> impl Iterator<Item = Duration> + use<> {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Errors that retrying cannot cure.
fn permanent(e: &Error) -> bool {
    matches!(
        e,
        Error::ResourceNotFound(_)
            | Error::AccessDenied(_)
            | Error::InvalidArgument(_)
            | Error::Validation(_)
            | Error::KmsAccessDenied(_)
            | Error::KmsDisabled(_)
            | Error::KmsInvalidState(_)
            | Error::KmsNotFound(_)
            | Error::KmsOptInRequired(_)
    )
}

/// Finds the stream consumer `consumer_name` of `stream_name` or registers it, and waits
/// until it is `ACTIVE`; returns its ARN.
///
/// Several workers may call this at once: the registration that loses the race answers
/// ResourceInUse and the consumer is then found by name.
pub async fn ensure_consumer(
    kinesis: &dyn Kinesis,
    stream_name: &str,
    consumer_name: &str,
    config: &FanOutConfig,
) -> Result<String, KclError> {
    let started = Instant::now();
    let failed = |reason: String| KclError::FanOutConsumer {
        consumer: consumer_name.to_owned(),
        reason,
    };
    let mut retry = backoff(config.retry_min_backoff, config.retry_max_backoff);
    let mut wait = |e: &Error| {
        let d = retry.next().unwrap_or(config.retry_max_backoff);
        tracing::debug!(error = %e, wait = ?d, "retrying");
        d
    };
    let stream_arn = loop {
        match kinesis
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some(stream_name.to_owned()),
                ..Default::default()
            })
            .await
        {
            Ok(out) => break out.stream_description_summary.stream_arn,
            Err(e) if transient(&e) => tokio::time::sleep(wait(&e)).await,
            Err(e) => return Err(e.into()),
        }
    };
    let mut registered = false;
    loop {
        if started.elapsed() > config.consumer_active_timeout {
            return Err(failed(format!(
                "not ACTIVE after {:?}",
                config.consumer_active_timeout
            )));
        }
        let described = kinesis
            .describe_stream_consumer(DescribeStreamConsumerInput {
                stream_arn: Some(stream_arn.clone()),
                consumer_name: Some(consumer_name.to_owned()),
                consumer_arn: None,
            })
            .await;
        match described {
            Ok(out) => {
                let d = out.consumer_description;
                match d.consumer_status {
                    Some(ConsumerStatus::Active) | None => {
                        tracing::info!(consumer = %d.consumer_name, arn = %d.consumer_arn, registered, "enhanced fan-out consumer ACTIVE");
                        return Ok(d.consumer_arn);
                    }
                    Some(status) => {
                        tracing::debug!(%status, "waiting for the consumer to become ACTIVE");
                        tokio::time::sleep(config.consumer_poll_interval).await;
                    }
                }
            }
            Err(Error::ResourceNotFound(_)) => {
                let reg = kinesis
                    .register_stream_consumer(RegisterStreamConsumerInput {
                        stream_arn: stream_arn.clone(),
                        consumer_name: consumer_name.to_owned(),
                    })
                    .await;
                match reg {
                    Ok(_) => registered = true,
                    // Registered meanwhile by another worker, or still being deleted.
                    Err(e @ Error::ResourceInUse(_)) => tokio::time::sleep(wait(&e)).await,
                    Err(e) if transient(&e) => tokio::time::sleep(wait(&e)).await,
                    Err(e) => return Err(failed(format!("RegisterStreamConsumer: {e}"))),
                }
            }
            Err(e) if transient(&e) => tokio::time::sleep(wait(&e)).await,
            Err(e) => return Err(failed(format!("DescribeStreamConsumer: {e}"))),
        }
    }
}

/// Makes a subscription from a starting position.
type Subscribe = Box<
    dyn FnMut(StartingPosition) -> BoxFuture<'static, Result<SubscribeToShardStream, Error>> + Send,
>;

/// The enhanced fan-out fetcher: [`spawn`](FanOutFetcher::spawn) starts its task.
#[derive(Debug)]
pub struct FanOutFetcher;

impl FanOutFetcher {
    /// Starts receiving `shard_id` through the consumer `consumer_arn` from `start`.
    pub fn spawn(
        kinesis: Arc<dyn Kinesis>,
        consumer_arn: String,
        shard_id: String,
        start: StartPosition,
        config: FanOutConfig,
        range: Option<HashKeyRange>,
    ) -> Fetcher {
        let shard = shard_id.clone();
        let subscribe: Subscribe = Box::new(move |starting_position| {
            let kinesis = Arc::clone(&kinesis);
            let input = SubscribeToShardInput {
                consumer_arn: consumer_arn.clone(),
                shard_id: shard.clone(),
                starting_position,
            };
            Box::pin(async move { kinesis.subscribe_to_shard(input).await })
        });
        Self::spawn_with(subscribe, shard_id, start, config, range)
    }

    /// As [`spawn`](Self::spawn) with any source of subscriptions.
    fn spawn_with(
        subscribe: Subscribe,
        shard_id: String,
        start: StartPosition,
        config: FanOutConfig,
        range: Option<HashKeyRange>,
    ) -> Fetcher {
        let (tx, rx) = mpsc::channel(config.prefetch_events.max(1));
        let span = tracing::info_span!("subscribe", shard_id = %shard_id);
        let task = Task {
            subscribe,
            shard_id,
            start,
            config,
            range,
            tx,
        };
        Fetcher::spawn(rx, task.run(), span)
    }
}

struct Task {
    subscribe: Subscribe,
    shard_id: String,
    start: StartPosition,
    config: FanOutConfig,
    range: Option<HashKeyRange>,
    tx: mpsc::Sender<Fetched>,
}

/// How a subscription ended.
enum Ended {
    /// The stream ended (its lifetime is over): subscribe again at once.
    Closed,
    /// No event within the silence timeout.
    Silent,
    /// The stream failed with a retryable error: back off first.
    Failed(Error),
}

impl Task {
    fn initial_position(&self) -> Result<StartingPosition, Error> {
        let cp = &self.start.checkpoint;
        if cp.is_position() {
            return Ok(StartingPosition {
                position_type: ShardIteratorType::AtSequenceNumber,
                sequence_number: Some(cp.sequence_number.clone()),
                timestamp: None,
            });
        }
        let position_type = match cp.sequence_number.as_str() {
            LATEST => ShardIteratorType::Latest,
            AT_TIMESTAMP if self.start.timestamp.is_some() => ShardIteratorType::AtTimestamp,
            TRIM_HORIZON | AT_TIMESTAMP => ShardIteratorType::TrimHorizon,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "lease of {} has an unusable checkpoint {other:?}",
                    self.shard_id
                )));
            }
        };
        Ok(StartingPosition {
            position_type,
            sequence_number: None,
            timestamp: (position_type == ShardIteratorType::AtTimestamp)
                .then_some(self.start.timestamp)
                .flatten(),
        })
    }

    async fn run(mut self) {
        if let Err(e) = self.fetch().await {
            tracing::warn!(error = %e, "retrieval failed");
            let _ = self.tx.send(Fetched::Failed(e)).await;
        }
    }

    /// Receives until the shard ends, the receiver is gone, or a permanent error.
    async fn fetch(&mut self) -> Result<(), Error> {
        let initial = self.initial_position()?;
        let shard = self.shard_id.clone();
        let mut skip = self
            .start
            .checkpoint
            .is_position()
            .then(|| self.start.checkpoint.clone());
        let mut continuation: Option<String> = None;
        let mut retry = backoff(self.config.retry_min_backoff, self.config.retry_max_backoff);
        let mut failing = false;
        let retried = metrics::counter!(m::SUBSCRIBE_TO_SHARD_RETRIED, m::SHARD => shard.clone());
        loop {
            let position = match &continuation {
                Some(c) => StartingPosition {
                    position_type: ShardIteratorType::AfterSequenceNumber,
                    sequence_number: Some(c.clone()),
                    timestamp: None,
                },
                None => initial.clone(),
            };
            let mut events = match (self.subscribe)(position).await {
                Ok(events) => events,
                Err(e) if permanent(&e) => return Err(e),
                Err(e) => {
                    retried.increment(1);
                    if !failing {
                        retry =
                            backoff(self.config.retry_min_backoff, self.config.retry_max_backoff);
                        failing = true;
                    }
                    let wait = retry.next().unwrap_or(self.config.retry_max_backoff);
                    tracing::debug!(error = %e, ?wait, "SubscribeToShard backing off");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            metrics::counter!(m::SUBSCRIBE_TO_SHARD_SUCCESS, m::SHARD => shard.clone())
                .increment(1);
            tracing::debug!(after = ?continuation, "subscribed");
            let ended = loop {
                let next = tokio::time::timeout(self.config.silence_timeout, events.next()).await;
                let event = match next {
                    Err(_) => break Ended::Silent,
                    Ok(None) => break Ended::Closed,
                    Ok(Some(Err(e))) if permanent(&e) => return Err(e),
                    Ok(Some(Err(e))) => break Ended::Failed(e),
                    Ok(Some(Ok(event))) => event,
                };
                failing = false;
                let fetched = event.records.len();
                let mut records = Vec::with_capacity(fetched);
                let dropped = convert(event.records, self.range, skip.as_ref(), &mut records);
                if fetched > 0 {
                    skip = None; // only the first records after the checkpoint can be at or below it
                }
                if dropped > 0 {
                    metrics::counter!(m::RECORDS_DROPPED_OUT_OF_RANGE, m::SHARD => shard.clone())
                        .increment(dropped as u64);
                }
                if !event.continuation_sequence_number.is_empty() {
                    continuation = Some(event.continuation_sequence_number);
                }
                metrics::gauge!(m::MILLIS_BEHIND_LATEST, m::SHARD => shard.clone())
                    .set(event.millis_behind_latest as f64);
                if !records.is_empty() {
                    let batch = Fetched::Records {
                        records,
                        millis_behind_latest: Some(event.millis_behind_latest),
                    };
                    if self.tx.send(batch).await.is_err() {
                        return Ok(());
                    }
                }
                if let Some(child_shards) = event.child_shards {
                    let _ = self.tx.send(Fetched::ShardEnd { child_shards }).await;
                    return Ok(());
                }
            };
            drop(events);
            match ended {
                Ended::Closed => tracing::debug!("subscription ended; subscribing again"),
                Ended::Silent => {
                    metrics::counter!(m::SUBSCRIPTION_SILENT, m::SHARD => shard.clone())
                        .increment(1);
                    tracing::info!(
                        silence = ?self.config.silence_timeout,
                        "subscription went silent; subscribing again"
                    );
                }
                Ended::Failed(e) => {
                    retried.increment(1);
                    if !failing {
                        retry =
                            backoff(self.config.retry_min_backoff, self.config.retry_max_backoff);
                        failing = true;
                    }
                    let wait = retry.next().unwrap_or(self.config.retry_max_backoff);
                    tracing::info!(error = %e, ?wait, "subscription failed; subscribing again");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sequence::ExtendedSequenceNumber;

    /// The position of the last record a batch delivered.
    fn last_position(f: &Fetched) -> Option<ExtendedSequenceNumber> {
        match f {
            Fetched::Records { records, .. } => {
                records.last().map(|r| r.extended_sequence_number())
            }
            _ => None,
        }
    }
    use bytes::Bytes;
    use rill_engine::api::{ChildShard, Record, SubscribeToShardEvent};
    use std::sync::Mutex;

    fn event(seqs: &[u64], cont: u64, children: bool) -> Result<SubscribeToShardEvent, Error> {
        Ok(SubscribeToShardEvent {
            records: seqs
                .iter()
                .map(|s| Record {
                    sequence_number: s.to_string(),
                    data: Bytes::from(s.to_string()),
                    partition_key: "k".into(),
                    ..Default::default()
                })
                .collect(),
            continuation_sequence_number: cont.to_string(),
            millis_behind_latest: 0,
            child_shards: children.then(|| {
                vec![ChildShard {
                    shard_id: "shardId-000000000001".into(),
                    ..Default::default()
                }]
            }),
        })
    }

    fn config() -> FanOutConfig {
        FanOutConfig {
            silence_timeout: Duration::from_millis(200),
            retry_min_backoff: Duration::from_millis(5),
            retry_max_backoff: Duration::from_millis(20),
            ..Default::default()
        }
    }

    /// A scripted source: the n-th subscribe call answers `script[n]` (events, and whether
    /// the stream then stays silent instead of ending); calls are recorded. Past the script,
    /// subscriptions stay silent.
    type Script = Vec<Result<(Vec<Result<SubscribeToShardEvent, Error>>, bool), Error>>;

    fn scripted(script: Script) -> (Subscribe, Arc<Mutex<Vec<StartingPosition>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let script = Arc::new(Mutex::new(script.into_iter()));
        let subscribe: Subscribe = Box::new(move |p| {
            seen.lock().expect("lock").push(p);
            let next = script.lock().expect("lock").next();
            Box::pin(async move {
                match next {
                    Some(Ok((events, silent_after))) => {
                        let s = futures::stream::iter(events);
                        Ok(if silent_after {
                            Box::pin(s.chain(futures::stream::pending())) as SubscribeToShardStream
                        } else {
                            Box::pin(s) as SubscribeToShardStream
                        })
                    }
                    Some(Err(e)) => Err(e),
                    None => Ok(Box::pin(futures::stream::pending()) as SubscribeToShardStream),
                }
            })
        });
        (subscribe, calls)
    }

    async fn collect(f: &mut Fetcher, n: usize) -> Vec<Fetched> {
        let mut v = Vec::new();
        while v.len() < n {
            match tokio::time::timeout(Duration::from_secs(5), f.rx.recv()).await {
                Ok(Some(x)) => v.push(x),
                _ => break,
            }
        }
        v
    }

    fn start(cp: ExtendedSequenceNumber) -> StartPosition {
        StartPosition {
            checkpoint: cp,
            timestamp: None,
        }
    }

    #[tokio::test]
    async fn resumes_after_continuation_on_end_in_use_silence_and_failure() {
        let (subscribe, calls) = scripted(vec![
            // From the checkpoint 2 (inside nothing): 2 is dropped, 3 delivered; the stream ends.
            Ok((vec![event(&[2, 3], 3, false)], false)),
            // ResourceInUse: back off.
            Err(Error::ResourceInUse("5 s".into())),
            // Silent after one event.
            Ok((vec![event(&[4], 4, false), event(&[], 4, false)], true)),
            // Broken mid-stream.
            Ok((
                vec![
                    event(&[5], 5, false),
                    Err(Error::Internal {
                        message: "reset".into(),
                        source: None,
                    }),
                ],
                false,
            )),
            // The shard's end.
            Ok((vec![event(&[6], 6, true)], false)),
        ]);
        let mut f = FanOutFetcher::spawn_with(
            subscribe,
            "shardId-000000000000".into(),
            start(ExtendedSequenceNumber::new("2", 0)),
            config(),
            None,
        );
        let got = collect(&mut f, 5).await;
        let positions: Vec<String> = got
            .iter()
            .filter_map(last_position)
            .map(|p| p.sequence_number)
            .collect();
        assert_eq!(positions, ["3", "4", "5", "6"]);
        assert!(
            matches!(got.last(), Some(Fetched::ShardEnd { child_shards }) if child_shards.len() == 1)
        );
        let calls = calls.lock().expect("lock").clone();
        let kinds: Vec<(ShardIteratorType, Option<String>)> = calls
            .into_iter()
            .map(|p| (p.position_type, p.sequence_number))
            .collect();
        use ShardIteratorType::*;
        assert_eq!(
            kinds,
            [
                (AtSequenceNumber, Some("2".into())),
                (AfterSequenceNumber, Some("3".into())),
                (AfterSequenceNumber, Some("3".into())),
                (AfterSequenceNumber, Some("4".into())),
                (AfterSequenceNumber, Some("5".into())),
            ]
        );
    }

    #[tokio::test]
    async fn sentinels_and_permanent_errors() {
        let (subscribe, calls) = scripted(vec![Err(Error::ResourceNotFound("gone".into()))]);
        let mut f = FanOutFetcher::spawn_with(
            subscribe,
            "shardId-000000000000".into(),
            start(ExtendedSequenceNumber::latest()),
            config(),
            None,
        );
        let got = collect(&mut f, 1).await;
        assert!(matches!(
            got[..],
            [Fetched::Failed(Error::ResourceNotFound(_))]
        ));
        assert_eq!(
            calls.lock().expect("lock")[0].position_type,
            ShardIteratorType::Latest
        );
        let (subscribe, calls) = scripted(vec![Ok((vec![event(&[1], 1, true)], false))]);
        let mut f = FanOutFetcher::spawn_with(
            subscribe,
            "shardId-000000000000".into(),
            start(ExtendedSequenceNumber::trim_horizon()),
            config(),
            None,
        );
        assert_eq!(collect(&mut f, 2).await.len(), 2);
        assert_eq!(
            calls.lock().expect("lock")[0].position_type,
            ShardIteratorType::TrimHorizon
        );
    }

    #[test]
    fn consumer_names() {
        assert!(valid_consumer_name("my-app_1.0"));
        assert!(!valid_consumer_name(""));
        assert!(!valid_consumer_name("my app"));
        assert!(!valid_consumer_name(&"a".repeat(129)));
    }
}
