//! The pipeline task: one task owns every buffered record and moves it through
//! aggregator → limiter → collector → sender → retrier.
//!
//! # Stages, per stream
//!
//! 1. **Routing.** A user record arrives with its hash key (computed by `send`). Until the
//!    stream's shard map is known it waits in `unrouted`; then it goes to the
//!    [`Aggregator`] of the open shard that owns its hash key (or, aggregation off, straight
//!    to that shard's queue as a plain Kinesis record).
//! 2. **Aggregation.** An aggregator is sealed into a [`KinesisRecord`] when the next record
//!    would not fit (`AggregationMaxSize`, `AggregationMaxCount`, the stream's record size),
//!    when its oldest record reaches `RecordMaxBufferedTime` (or its TTL), or on flush.
//! 3. **Limiter.** Each shard's queue of Kinesis records is drained, in order, through the
//!    shard's token buckets (`RateLimit`). In strict-order mode a shard releases a Kinesis
//!    record only when none of its records is in flight or waiting for a retry.
//! 4. **Collector.** Released Kinesis records fill PutRecords batches (`CollectionMaxCount`,
//!    `CollectionMaxSize`). A batch goes out when it is full, when its oldest record's
//!    buffered time is up, or on flush, as long as fewer than `MaxConnections` calls are in
//!    flight.
//! 5. **Sender.** Each PutRecords call runs in its own task, bounded by `RequestTimeout`,
//!    and reports back to the pipeline over a channel. That task also frames the aggregates
//!    (MD5) before the call and, after it, delivers the acks of every Kinesis record that
//!    landed where predicted (`KinesisRecord::complete_put`): this per-user-record work
//!    runs beside the pipeline task, which then only settles the books.
//! 6. **Retrier.** Entries that failed with a retryable error (throttling, internal failure,
//!    timeout, whole-call failures) wait for their backoff (exponential with jitter) and go
//!    back to the *front* of their shard's queue; entries that failed otherwise, and user
//!    records past their TTL, finish with an error. A Kinesis record that landed on another
//!    shard than predicted triggers a shard-map refresh; when the map arrives, its user
//!    records that the actual shard owns are acknowledged and the others are routed again.
//!
//! # Invariants
//!
//! * Every user record the pipeline receives is in exactly one place — `unrouted`, an
//!   aggregator, a shard queue, a batch, an in-flight call, the retry list or the misplaced
//!   list — until it is finished, and it is finished exactly once: its result is left in its
//!   slot ([`crate::slot`]; by the PutRecords task for a put where predicted, see
//!   [`Done`]) and its buffer permits are returned ([`Book::finish`], [`Book::release`]).
//!   If the task itself is dropped (the runtime shuts down), every record's slot sender is
//!   dropped with it, records still in the handoff queue are failed, and their handles
//!   resolve to [`RecordError::Stopped`].
//! * Flush epochs: each user record carries the epoch it arrived in; `flush()` closes the
//!   current epoch and resolves once every record of that epoch and earlier is finished.
//! * The task ends only after a shutdown request (or the last producer handle is dropped)
//!   *and* nothing is left: shutdown sends everything at once and waits for the results
//!   (bounded by `RecordTtl`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use metrics::Gauge;
use rill_engine::api::agg::UserRecord;
use rill_engine::api::{
    Error, Kinesis, PutRecordInput, PutRecordsInput, PutRecordsOutput, PutRecordsResultEntry,
};
use tokio::sync::{mpsc, oneshot};

mod book;
mod results;
mod route;

use book::Book;
use results::with_prior;
use route::{collect, route, seal, unbusy};

use crate::aggregator::{Aggregator, Done, KinesisRecord, Meta};
use crate::config::ProducerConfig;
use crate::handoff::{Msg, Shared};
use crate::limiter::TokenBucket;
use crate::metrics::{ShardMetrics, StreamMetrics};
use crate::record::{Ack, Attempt, Put, RecordError};
use crate::shard_map::ShardMap;

/// What the pipeline's helper tasks report.
enum Event {
    Put {
        stream: usize,
        batch: Vec<KinesisRecord>,
        started: Instant,
        ended: Instant,
        /// `None`: timed out.
        result: Option<Result<PutRecordsOutput, Error>>,
    },
    Map {
        stream: usize,
        result: Result<ShardMap, Error>,
    },
}

/// One shard's stages.
struct ShardState {
    id: Arc<str>,
    agg: Aggregator,
    queue: VecDeque<KinesisRecord>,
    bucket: TokenBucket,
    /// Strict order: a Kinesis record of this shard is in flight or waiting for a retry.
    busy: bool,
    metrics: ShardMetrics,
}

/// A PutRecords call being filled.
struct Batch {
    records: Vec<KinesisRecord>,
    bytes: usize,
    deadline: Instant,
}

/// One stream's state.
struct StreamState {
    name: Arc<str>,
    metrics: StreamMetrics,
    map: Option<ShardMap>,
    refreshing: bool,
    /// When to list shards next.
    refresh_due: Option<Instant>,
    refresh_backoff: Option<backon::ExponentialBackoff>,
    /// Limit for an aggregate's blob.
    agg_limit: usize,
    /// Aligned with `map.open`.
    shards: Vec<ShardState>,
    shard_pos: HashMap<Arc<str>, usize>,
    unrouted: Unrouted,
    /// Aggregates that landed on another shard than predicted: (record, actual shard, seq).
    misplaced: Vec<(KinesisRecord, Arc<str>, Arc<str>)>,
    batches: VecDeque<Batch>,
}

/// User records waiting for a shard map that routes them, and the earliest arrival among
/// them.
#[derive(Default)]
struct Unrouted {
    records: Vec<(UserRecord, Meta)>,
    oldest: Option<Instant>,
}

impl Unrouted {
    fn push(&mut self, record: UserRecord, meta: Meta) {
        self.oldest = Some(self.oldest.map_or(meta.arrived, |o| o.min(meta.arrived)));
        self.records.push((record, meta));
    }

    fn take(&mut self) -> Vec<(UserRecord, Meta)> {
        self.oldest = None;
        std::mem::take(&mut self.records)
    }
}

/// Outcome of one entry of a PutRecords call.
enum Outcome {
    /// See [`Done`].
    Done,
    Put {
        shard: Arc<str>,
        seq: Arc<str>,
    },
    Failed {
        code: String,
        message: String,
        retryable: bool,
    },
}

/// The pipeline task's state.
pub(crate) struct Pipeline {
    kinesis: Arc<dyn Kinesis>,
    cfg: Arc<ProducerConfig>,
    book: Book,
    streams: Vec<StreamState>,
    by_name: HashMap<Arc<str>, usize>,
    retries: Vec<(Instant, usize, KinesisRecord)>,
    in_flight: usize,
    closing: bool,
    shutdown_waiters: Vec<oneshot::Sender<()>>,
    events_tx: mpsc::UnboundedSender<Event>,
    backoff: ExponentialBuilder,
    /// The stream of the last record received, and its index.
    last_stream: Option<(Arc<str>, usize)>,
    /// Stream names of the records received in one go, dropped together.
    stream_names: Vec<Arc<str>>,
}

impl Pipeline {
    /// Runs the pipeline until shutdown and nothing is left.
    pub(crate) async fn run(kinesis: Arc<dyn Kinesis>, shared: Arc<Shared>) {
        // However the task ends (below, or dropped with its runtime), queued records are
        // failed and new ones refused.
        let _stop = StopGuard(Arc::clone(&shared));
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let cfg = Arc::new(shared.config.clone());
        let backoff = ExponentialBuilder::new()
            .with_min_delay(cfg.retry_min_delay)
            .with_max_delay(cfg.retry_max_delay)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        let mut p = Pipeline {
            kinesis,
            cfg,
            book: Book::new(Arc::clone(&shared)),
            streams: Vec::new(),
            by_name: HashMap::new(),
            retries: Vec::new(),
            in_flight: 0,
            closing: false,
            shutdown_waiters: Vec::new(),
            events_tx,
            backoff,
            last_stream: None,
            stream_names: Vec::new(),
        };
        let sleep = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(sleep);
        let mut rx_open = true;
        // Messages taken from the handoff; its buffer goes back as the next queue.
        let mut batch: Vec<Msg> = Vec::new();
        loop {
            let now = Instant::now();
            let next = p.scan(now);
            p.book.settle();
            if p.closing && p.book.total_pending() == 0 && p.in_flight == 0 {
                break;
            }
            let wake = next.unwrap_or(now + Duration::from_secs(3600));
            if sleep.deadline() != wake.into() {
                sleep.as_mut().reset(wake.into());
            }
            tokio::select! {
                biased;
                Some(ev) = events.recv() => {
                    p.on_event(ev);
                    while let Ok(ev) = events.try_recv() {
                        p.on_event(ev);
                    }
                }
                () = shared.handoff.ready(), if rx_open => {
                    let now = Instant::now();
                    let mut paced = 0;
                    shared.handoff.take(&mut batch);
                    for msg in batch.drain(..) {
                        if matches!(msg, Msg::Dropped) {
                            rx_open = false;
                            p.closing = true;
                        }
                        paced += p.on_msg(msg, now);
                    }
                    if paced > 0 {
                        shared.intake.add_permits(paced);
                    }
                    // Released together: the senders clone these `Arc`s on another core, so
                    // one decrement per record would bounce the count's cache line.
                    p.stream_names.clear();
                    // A batch counts against the task's scheduling budget, as a channel
                    // receive would, so that the PutRecords tasks get to run.
                    tokio::task::coop::consume_budget().await;
                }
                () = &mut sleep => {}
            }
        }
        // Stopped: refuse new records, fail any that raced in.
        fail_queued(&shared);
        for tx in p.shutdown_waiters.drain(..) {
            let _ = tx.send(());
        }
        tracing::debug!("producer pipeline stopped");
    }

    /// Takes a message; returns the intake permits it held (see `handoff::INTAKE`).
    fn on_msg(&mut self, msg: Msg, now: Instant) -> usize {
        match msg {
            Msg::Record {
                stream,
                record,
                mut meta,
            } => {
                let paced = meta.epoch as usize;
                let s = self.stream_index(&stream, now);
                self.stream_names.push(stream);
                meta.epoch = self.book.add(s);
                self.streams[s].metrics.received.increment(1);
                route(&mut self.streams[s], &self.cfg, record, meta, now);
                paced
            }
            Msg::Flush(tx) => {
                self.book.flush_point(tx);
                0
            }
            Msg::Shutdown(tx) => {
                self.closing = true;
                self.shutdown_waiters.push(tx);
                0
            }
            Msg::Dropped => {
                self.closing = true;
                0
            }
        }
    }

    fn stream_index(&mut self, name: &Arc<str>, now: Instant) -> usize {
        if let Some((last, s)) = &self.last_stream
            && (Arc::ptr_eq(last, name) || **last == **name)
        {
            return *s;
        }
        if let Some(&s) = self.by_name.get(name) {
            self.last_stream = Some((Arc::clone(name), s));
            return s;
        }
        let s = self.streams.len();
        let metrics = StreamMetrics::new(name);
        self.book.add_stream(metrics.pending.clone());
        let max_record = self.cfg.max_record_size_for(name);
        self.streams.push(StreamState {
            name: Arc::clone(name),
            metrics,
            map: None,
            refreshing: false,
            refresh_due: Some(now),
            refresh_backoff: None,
            // Room for the container's partition key (256 characters of up to 4 bytes).
            agg_limit: self
                .cfg
                .aggregation_max_size
                .min(max_record.saturating_sub(1024)),
            shards: Vec::new(),
            shard_pos: HashMap::new(),
            unrouted: Unrouted::default(),
            misplaced: Vec::new(),
            batches: VecDeque::new(),
        });
        self.by_name.insert(Arc::clone(name), s);
        self.last_stream = Some((Arc::clone(name), s));
        s
    }

    /// Moves everything that is due; returns when to look again.
    fn scan(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut wake = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let flushing = self.closing || self.book.flush_waiting();
        let cfg = Arc::clone(&self.cfg);

        // Retries that are due go back to the front of their shard's queue.
        if !self.retries.is_empty() {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
                .into_iter()
                .partition(|(at, _, _)| *at <= now);
            self.retries = later;
            for (at, _, _) in &self.retries {
                wake(*at);
            }
            // Oldest first, pushed to the front in reverse so the oldest ends up first.
            for (_, s, krec) in due.into_iter().rev() {
                self.requeue(s, krec, now);
            }
        }

        let mut dispatch = Vec::new();
        let mut in_flight = self.in_flight;
        for s in 0..self.streams.len() {
            let st = &mut self.streams[s];
            // Shard map.
            if !st.refreshing
                && let Some(due) = st.refresh_due
            {
                if due <= now {
                    st.refreshing = true;
                    st.refresh_due = None;
                    let kinesis = Arc::clone(&self.kinesis);
                    let tx = self.events_tx.clone();
                    let name = Arc::clone(&st.name);
                    let timeout = cfg.request_timeout;
                    tokio::spawn(async move {
                        let result = ShardMap::fetch(&*kinesis, &name, timeout).await;
                        let _ = tx.send(Event::Map { stream: s, result });
                    });
                } else {
                    wake(due);
                }
            }
            // Records waiting for a map expire at their TTL (looked through only when the
            // oldest has: a backlog waiting for the first map can be large).
            if let Some(oldest) = st.unrouted.oldest {
                let due = oldest + cfg.record_ttl;
                if due <= now {
                    let (expired, keep): (Vec<_>, Vec<_>) = st
                        .unrouted
                        .take()
                        .into_iter()
                        .partition(|(_, m)| m.arrived + cfg.record_ttl <= now);
                    for (r, m) in keep {
                        st.unrouted.push(r, m);
                    }
                    if let Some(oldest) = st.unrouted.oldest {
                        wake(oldest + cfg.record_ttl);
                    }
                    for (_, m) in expired {
                        st.metrics.expired.increment(1);
                        let err = RecordError::Expired {
                            ttl: cfg.record_ttl,
                            attempts: Arc::from(m.prior.clone()),
                        };
                        self.book.finish(s, m, Err(err));
                    }
                } else {
                    wake(due);
                }
            }
            for shard in &mut st.shards {
                if let Some(d) = shard.agg.deadline() {
                    if d <= now || flushing {
                        seal(shard, &cfg);
                    } else {
                        wake(d);
                    }
                }
                // Limiter.
                while let Some(head) = shard.queue.front_mut() {
                    if cfg.strict_order && shard.busy {
                        break;
                    }
                    let expired = head.take_expired(now, cfg.record_ttl);
                    if !expired.is_empty() {
                        let attempts: Arc<[Attempt]> = Arc::from(head.attempts.clone());
                        for (_, m) in expired {
                            st.metrics.expired.increment(1);
                            let err = RecordError::Expired {
                                ttl: cfg.record_ttl,
                                attempts: with_prior(&m, &attempts),
                            };
                            self.book.finish(s, m, Err(err));
                        }
                    }
                    if head.records.is_empty() {
                        shard.queue.pop_front();
                        continue;
                    }
                    match shard.bucket.try_take(now, head.size) {
                        Ok(()) => {
                            if let Some(krec) = shard.queue.pop_front() {
                                if cfg.strict_order {
                                    shard.busy = true;
                                }
                                collect(&mut st.batches, &cfg, krec);
                            }
                        }
                        Err(wait) => {
                            wake((now + wait).min(head.expires));
                            break;
                        }
                    }
                }
            }
            // Collector.
            while let Some(front) = st.batches.front() {
                let full = st.batches.len() > 1 || front.records.len() >= cfg.collection_max_count;
                if !(full || flushing || front.deadline <= now) {
                    wake(front.deadline);
                    break;
                }
                if in_flight >= cfg.max_connections {
                    break;
                }
                if let Some(batch) = st.batches.pop_front() {
                    in_flight += 1;
                    dispatch.push((s, batch));
                }
            }
        }
        for (s, batch) in dispatch {
            self.dispatch(s, batch);
        }
        next
    }

    fn dispatch(&mut self, s: usize, batch: Batch) {
        self.in_flight += 1;
        let st = &self.streams[s];
        st.metrics.per_request.record(batch.records.len() as f64);
        let stream_name = st.name.to_string();
        let kinesis = Arc::clone(&self.kinesis);
        let tx = self.events_tx.clone();
        let timeout = self.cfg.request_timeout;
        // A record too big for any PutRecords request (on a stream whose maximum record
        // size is above 5 MiB) travels alone by PutRecord.
        let alone = batch.records.len() == 1 && batch.bytes > self.cfg.collection_max_size;
        let mut batch = batch;
        tokio::spawn(async move {
            // Aggregates are framed (copy and MD5) here, in parallel with the pipeline task.
            for krec in &mut batch.records {
                krec.materialize();
            }
            let started = Instant::now();
            let result = match (alone, batch.records.first()) {
                (true, Some(krec)) => {
                    let input = PutRecordInput {
                        stream_name: Some(stream_name),
                        data: krec.entry.data.clone(),
                        partition_key: krec.entry.partition_key.clone(),
                        explicit_hash_key: krec.entry.explicit_hash_key.clone(),
                        ..Default::default()
                    };
                    tokio::time::timeout(timeout, kinesis.put_record(input))
                        .await
                        .ok()
                        .map(|r| {
                            r.map(|out| PutRecordsOutput {
                                failed_record_count: 0,
                                records: vec![PutRecordsResultEntry {
                                    sequence_number: Some(out.sequence_number),
                                    shard_id: Some(out.shard_id),
                                    ..Default::default()
                                }],
                                encryption_type: out.encryption_type,
                            })
                        })
                }
                _ => {
                    // A plain record's entry is moved into the request (and made again from
                    // the record if it has to be retried); an aggregate's is cloned (shared
                    // bytes, one key).
                    let input = PutRecordsInput {
                        stream_name: Some(stream_name),
                        records: batch
                            .records
                            .iter_mut()
                            .map(|k| {
                                if k.is_aggregated() {
                                    k.entry.clone()
                                } else {
                                    std::mem::take(&mut k.entry)
                                }
                            })
                            .collect(),
                        ..Default::default()
                    };
                    tokio::time::timeout(timeout, kinesis.put_records(input))
                        .await
                        .ok()
                }
            };
            let ended = Instant::now();
            // Puts that landed where predicted are acknowledged here, beside the pipeline
            // task (see `KinesisRecord::complete_put`).
            if let Some(Ok(out)) = &result
                && out.records.len() == batch.records.len()
            {
                for (krec, e) in batch.records.iter_mut().zip(&out.records) {
                    if let (None, Some(shard), Some(seq)) =
                        (&e.error_code, &e.shard_id, &e.sequence_number)
                        && (**shard == *krec.shard || !krec.is_aggregated())
                    {
                        krec.complete_put(shard, seq, started, ended);
                    }
                }
            }
            for krec in &mut batch.records {
                if krec.done.is_none() {
                    krec.restore_entry();
                }
            }
            let _ = tx.send(Event::Put {
                stream: s,
                batch: batch.records,
                started,
                ended,
                result,
            });
        });
    }

    fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Put {
                stream,
                batch,
                started,
                ended,
                result,
            } => self.on_put(stream, batch, started, ended, result, now),
            Event::Map { stream, result } => self.on_map(stream, result, now),
        }
    }
}

/// Refuses new records and fails those still queued for the pipeline (its task is ending).
fn fail_queued(shared: &Shared) {
    shared.closed.store(true, Ordering::Release);
    shared.records.close();
    shared.bytes.close();
    shared.intake.close();
    for msg in shared.handoff.close() {
        match msg {
            Msg::Record { meta, .. } => {
                meta.tx.send(Err(RecordError::Stopped));
                shared.outstanding.fetch_sub(1, Ordering::AcqRel);
            }
            Msg::Flush(tx) | Msg::Shutdown(tx) => {
                let _ = tx.send(());
            }
            Msg::Dropped => {}
        }
    }
}

/// Runs [`fail_queued`] when the pipeline task ends, however it ends.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        fail_queued(&self.0);
    }
}
