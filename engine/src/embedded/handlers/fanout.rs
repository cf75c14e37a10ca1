//! Enhanced fan-out: registered consumers and SubscribeToShard.
//!
//! A consumer is registered on a stream by name; its ARN is the stream's ARN followed by
//! `/consumer/<name>:<registration time in epoch seconds>`. A subscription is a stream of
//! events for one (consumer, shard): it reads from its position whenever the shard's log
//! commits (it waits on the log's commit signal, never on a timer), pushes what it read as
//! one event, and ends after `subscription_ttl` (5 minutes), when the consumer is
//! deregistered, or at the end of a closed shard (the last event names the children). With
//! limits on, each consumer reads at most `read_bytes_per_sec` (2 MiB/s) per shard, on its
//! own budget: the subscription waits for budget rather than failing. While no record comes,
//! an empty event is pushed every 5 s so that clients see the subscription is alive.
//!
//! `ContinuationSequenceNumber` is the sequence number of the last record pushed, or, before
//! any, the number just below the subscription's starting position: subscribing again
//! AFTER_SEQUENCE_NUMBER it loses and repeats nothing.

use crate::api::*;
use crate::embedded::resolve::*;
use crate::embedded::token::{Kind, Token};
use crate::embedded::{Engine, Stream, shard_id, telemetry, validate};
use crate::store::StoreError;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Events carry at most this many bytes of records.
const EVENT_BYTES: usize = 1024 * 1024;
/// Events carry at most this many records.
const EVENT_RECORDS: usize = 10_000;
/// An empty event is pushed after this long without records.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A second subscription of a consumer to a shard within this long is refused.
const RESUBSCRIBE_MS: i64 = 5_000;

struct Subscription {
    engine: Engine,
    stream: Arc<Stream>,
    consumer: Arc<ConsumerInfo>,
    shard: u64,
    position: u64,
    deadline: tokio::time::Instant,
    commits: Option<tokio::sync::watch::Receiver<u64>>,
    done: bool,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        telemetry::subscription(&self.stream.name, &self.consumer.name, self.shard, -1);
    }
}

impl Subscription {
    /// The next event, or `None` when the subscription is over.
    async fn next_event(&mut self) -> Option<Result<SubscribeToShardEvent, Error>> {
        if self.done {
            return None;
        }
        let mut commits = match self.commits.take() {
            Some(c) => c,
            None => self.stream.log.subscribe_commits(),
        };
        let result = loop {
            if self.consumer.gone.load(Ordering::SeqCst)
                || tokio::time::Instant::now() >= self.deadline
                || self.engine.inner.closed.load(Ordering::SeqCst)
            {
                self.done = true;
                return None;
            }
            // Mark the commits seen before reading, so a commit after the read wakes us.
            commits.borrow_and_update();
            match self.read_event().await {
                Ok(Some(event)) => break Ok(event),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    break Err(e);
                }
            }
            let wait = HEARTBEAT.min(
                self.deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
            );
            match tokio::time::timeout(wait, commits.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => {
                    // The log closed: the stream was deleted or the engine closed.
                    self.done = true;
                    return None;
                }
                Err(_) if tokio::time::Instant::now() >= self.deadline => {
                    self.done = true;
                    return None;
                }
                Err(_) => break Ok(self.empty_event(None)),
            }
        };
        self.commits = Some(commits);
        Some(result)
    }

    fn continuation(&self, shard: &crate::store::ShardRow) -> String {
        // The number just below `position`: record position-1's, or the shard's start.
        SequenceNumber {
            generation: shard.generation,
            position: self.position,
            shard_index: self.shard,
            stream_epoch: self.stream.epoch,
            layout: self.stream.seq_layout,
        }
        .to_string()
    }

    fn empty_event(&self, children: Option<Vec<ChildShard>>) -> SubscribeToShardEvent {
        let shards = Arc::clone(&self.stream.shards.read());
        let continuation = shards
            .all
            .get(self.shard as usize)
            .map(|s| self.continuation(s))
            .unwrap_or_default();
        telemetry::pushed(
            &self.stream.name,
            &self.consumer.name,
            self.stream.meta.read().shard_metrics,
            self.shard,
            0,
            0,
            0,
        );
        SubscribeToShardEvent {
            records: Vec::new(),
            continuation_sequence_number: continuation,
            millis_behind_latest: 0,
            child_shards: children,
        }
    }

    /// Reads what is there: an event with records, the final event of a closed shard, or
    /// `None` when there is nothing new.
    async fn read_event(&mut self) -> Result<Option<SubscribeToShardEvent>, Error> {
        let engine = &self.engine;
        let shards = Arc::clone(&self.stream.shards.read());
        let shard = shards
            .all
            .get(self.shard as usize)
            .cloned()
            .ok_or_else(|| {
                Error::ResourceNotFound(format!("Shard {} does not exist", shard_id(self.shard)))
            })?;
        let now = engine.inner.config.clock.now_ms();
        let end = shard.ending_position;
        let max = end.map_or(EVENT_RECORDS, |e| {
            EVENT_RECORDS.min(e.saturating_sub(self.position) as usize)
        });
        // The consumer's own read budget: wait for it (checked again on the next wake).
        if !self.consumer.limiter.try_read(self.shard, now) {
            return Ok(None);
        }
        let (stored, next) = crate::embedded::blocking::read_log(
            &self.stream,
            self.shard as u32,
            self.position,
            max,
            EVENT_BYTES,
        )
        .await?;
        let bytes: usize = stored
            .iter()
            .map(|r| r.data.len() + r.partition_key.len())
            .sum();
        self.consumer.limiter.charge_read(self.shard, bytes, now);
        let at_end = end.is_some_and(|e| next.max(self.position) >= e);
        if stored.is_empty() && !at_end {
            return Ok(None);
        }
        let records = engine.to_records(&self.stream, shard.generation, self.shard, stored)?;
        if !records.is_empty() {
            self.position = next;
        }
        let state = self.stream.log.shard_state(self.shard as u32);
        let millis_behind = if self.position >= state.next_position {
            0
        } else {
            self.stream
                .log
                .arrival_of(self.shard as u32, self.position)
                .map_or(0, |a| (now - a).max(0))
        };
        telemetry::pushed(
            &self.stream.name,
            &self.consumer.name,
            self.stream.meta.read().shard_metrics,
            self.shard,
            records.len(),
            bytes,
            millis_behind,
        );
        let child_shards = if at_end {
            self.done = true;
            Some(crate::embedded::topology::child_shards(&shards, self.shard))
        } else {
            None
        };
        Ok(Some(SubscribeToShardEvent {
            records,
            continuation_sequence_number: self.continuation(&shard),
            millis_behind_latest: millis_behind,
            child_shards,
        }))
    }
}

impl Engine {
    fn describe(c: &ConsumerInfo) -> Consumer {
        Consumer {
            consumer_name: c.name.clone(),
            consumer_arn: c.arn.clone(),
            consumer_status: Some(*c.status.lock()),
            consumer_creation_timestamp: Timestamp(c.created_ms),
        }
    }
}

pub(crate) async fn register_stream_consumer(
    this: &Engine,
    input: RegisterStreamConsumerInput,
) -> Result<RegisterStreamConsumerOutput, Error> {
    let mut v = ValidationErrors::new();
    validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
    validate::name(&mut v, "consumerName", &input.consumer_name);
    v.finish()?;
    let stream = this.stream(None, Some(&input.stream_arn))?;
    let account = this.inner.config.account_id.clone();
    let delay = this.inner.config.consumer_delay;
    // The catalog row and the registered consumer are added together, under the
    // catalog lock, on a blocking thread (see `blocking`).
    let (engine, s, name) = (
        this.clone(),
        Arc::clone(&stream),
        input.consumer_name.clone(),
    );
    let consumer = this
        .catalog(move |catalog| {
            let mut consumers = s.consumers.lock();
            if consumers.contains_key(&name) {
                return Err(Error::ResourceInUse(format!(
                    "Consumer {name} under stream {} under account {account} already exists.",
                    s.name
                )));
            }
            let max = engine.inner.config.max_consumers as usize;
            if consumers.len() >= max {
                return Err(Error::LimitExceeded(format!(
                    "Stream {} under account {account} has reached the limit of {max} registered consumers.",
                    s.name
                )));
            }
            let now = engine.inner.config.clock.now_ms();
            catalog
                .add_consumer(s.epoch, &name, now)
                .map_err(StoreError::from)?;
            let status = if delay.is_zero() {
                ConsumerStatus::Active
            } else {
                ConsumerStatus::Creating
            };
            let c = engine.new_consumer(&s, &name, now, status);
            consumers.insert(name, Arc::clone(&c));
            Ok(c)
        })
        .await?;
    if !delay.is_zero() {
        let c = Arc::clone(&consumer);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut s = c.status.lock();
            if *s == ConsumerStatus::Creating {
                *s = ConsumerStatus::Active;
            }
        });
    }
    tracing::info!(stream = %stream.name, consumer = %input.consumer_name, "consumer registered");
    Ok(RegisterStreamConsumerOutput {
        consumer: Engine::describe(&consumer),
    })
}

pub(crate) async fn describe_stream_consumer(
    engine: &Engine,
    input: DescribeStreamConsumerInput,
) -> Result<DescribeStreamConsumerOutput, Error> {
    let (stream, c) = engine.find_consumer(
        input.stream_arn.as_deref(),
        input.consumer_name.as_deref(),
        input.consumer_arn.as_deref(),
    )?;
    let d = Engine::describe(&c);
    Ok(DescribeStreamConsumerOutput {
        consumer_description: ConsumerDescription {
            consumer_name: d.consumer_name,
            consumer_arn: d.consumer_arn,
            consumer_status: d.consumer_status,
            consumer_creation_timestamp: d.consumer_creation_timestamp,
            stream_arn: stream.arn.clone(),
        },
    })
}

pub(crate) async fn list_stream_consumers(
    engine: &Engine,
    input: ListStreamConsumersInput,
) -> Result<ListStreamConsumersOutput, Error> {
    let mut v = ValidationErrors::new();
    validate::stream_arn(&mut v, "streamARN", &input.stream_arn);
    validate::range(&mut v, "maxResults", input.max_results, 1, 10000);
    v.finish()?;
    let stream = engine.stream(None, Some(&input.stream_arn))?;
    let limit = input.max_results.unwrap_or(100) as usize;
    let after = match &input.next_token {
        Some(t) => {
            let tok = Token::decode(t, &engine.inner.key, Kind::ListConsumers)
                .ok_or_else(|| Error::InvalidArgument("Invalid NextToken.".into()))?;
            Some(tok.name)
        }
        None => None,
    };
    let consumers = stream.consumers.lock();
    let mut page = Vec::new();
    let mut more = false;
    for (name, c) in consumers.iter() {
        if after.as_ref().is_some_and(|a| name <= a) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(Engine::describe(c));
    }
    let next_token = match (more, page.last()) {
        (true, Some(last)) => Some(
            Token {
                kind: Kind::ListConsumers,
                issued_ms: engine.inner.config.clock.now_ms(),
                epoch: stream.epoch,
                a: 0,
                b: 0,
                name: last.consumer_name.clone(),
            }
            .encode(&engine.inner.key),
        ),
        _ => None,
    };
    Ok(ListStreamConsumersOutput {
        consumers: page,
        next_token,
    })
}

pub(crate) async fn deregister_stream_consumer(
    engine: &Engine,
    input: DeregisterStreamConsumerInput,
) -> Result<(), Error> {
    let (stream, c) = engine.find_consumer(
        input.stream_arn.as_deref(),
        input.consumer_name.as_deref(),
        input.consumer_arn.as_deref(),
    )?;
    let (s, consumer) = (Arc::clone(&stream), Arc::clone(&c));
    engine
        .catalog(move |catalog| {
            catalog
                .remove_consumer(s.epoch, &consumer.name)
                .map_err(StoreError::from)?;
            s.consumers.lock().remove(&consumer.name);
            consumer.gone.store(true, Ordering::SeqCst);
            Ok(())
        })
        .await?;
    tracing::info!(stream = %stream.name, consumer = %c.name, "consumer deregistered");
    Ok(())
}

pub(crate) async fn subscribe_to_shard(
    this: &Engine,
    input: SubscribeToShardInput,
) -> Result<SubscribeToShardStream, Error> {
    let mut v = ValidationErrors::new();
    validate::length(&mut v, "consumerARN", &input.consumer_arn, 1, 2048);
    validate::name(&mut v, "shardId", &input.shard_id);
    v.finish()?;
    let (stream, consumer) = this.find_consumer(None, None, Some(&input.consumer_arn))?;
    if *consumer.status.lock() != ConsumerStatus::Active {
        return Err(Error::ResourceInUse(format!(
            "Consumer {} is not ACTIVE.",
            consumer.arn
        )));
    }
    // The starting position, with GetShardIterator's validation and messages.
    let it = this
        .get_shard_iterator(GetShardIteratorInput {
            stream_arn: Some(stream.arn.clone()),
            shard_id: input.shard_id.clone(),
            shard_iterator_type: Some(input.starting_position.position_type),
            starting_sequence_number: input.starting_position.sequence_number.clone(),
            timestamp: input.starting_position.timestamp,
            ..Default::default()
        })
        .await?
        .shard_iterator
        .unwrap_or_default();
    let tok =
        Token::decode(&it, &this.inner.key, Kind::Iterator).ok_or_else(|| Error::Internal {
            message: "could not decode an iterator just issued".into(),
            source: None,
        })?;
    let now = this.inner.config.clock.now_ms();
    {
        let mut subs = consumer.subscribed.lock();
        if let Some(last) = subs.get(&tok.a)
            && now - last < RESUBSCRIBE_MS
        {
            telemetry::subscription_refused(&stream.name, &consumer.name);
            return Err(Error::ResourceInUse(format!(
                "Another active subscription exists for consumer {} on shard {}; wait 5 seconds between subscriptions to the same shard.",
                consumer.arn,
                shard_id(tok.a)
            )));
        }
        subs.insert(tok.a, now);
    }
    telemetry::subscription(&stream.name, &consumer.name, tok.a, 1);
    let sub = Subscription {
        engine: this.clone(),
        stream,
        consumer,
        shard: tok.a,
        position: tok.b,
        deadline: tokio::time::Instant::now() + this.inner.config.subscription_ttl,
        commits: None,
        done: false,
    };
    Ok(Box::pin(futures::stream::unfold(
        sub,
        |mut sub| async move {
            let item = sub.next_event().await?;
            Some((item, sub))
        },
    )))
}
