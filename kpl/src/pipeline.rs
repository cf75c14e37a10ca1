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

use crate::aggregator::{Aggregator, Done, KinesisRecord, Meta};
use crate::config::ProducerConfig;
use crate::limiter::TokenBucket;
use crate::metrics::{ShardMetrics, StreamMetrics};
use crate::producer::Shared;
use crate::record::{Ack, Attempt, Put, RecordError};
use crate::shard_map::ShardMap;

/// A message from the producer handles, in `send` order.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A user record to put.
    Record {
        stream: Arc<str>,
        record: UserRecord,
        meta: Meta,
    },
    /// Resolve when everything sent before is finished.
    Flush(oneshot::Sender<()>),
    /// Flush, then stop.
    Shutdown(oneshot::Sender<()>),
    /// The last producer handle is gone: flush, then stop.
    Dropped,
}

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

/// Finishing records: results, buffer permits, flush epochs, pending gauges.
pub(crate) struct Book {
    shared: Arc<Shared>,
    epoch_base: u64,
    /// Unfinished records per epoch from `epoch_base`; the back is the current epoch.
    counts: VecDeque<usize>,
    waiters: VecDeque<(u64, oneshot::Sender<()>)>,
    freed_records: usize,
    freed_bytes: usize,
    /// Unfinished records per stream, and their gauges.
    pending: Vec<usize>,
    gauges: Vec<Gauge>,
}

impl Book {
    fn new(shared: Arc<Shared>) -> Book {
        Book {
            shared,
            epoch_base: 0,
            counts: VecDeque::from([0]),
            waiters: VecDeque::new(),
            freed_records: 0,
            freed_bytes: 0,
            pending: Vec::new(),
            gauges: Vec::new(),
        }
    }

    fn current_epoch(&self) -> u64 {
        self.epoch_base + self.counts.len() as u64 - 1
    }

    fn add(&mut self, stream: usize) -> u64 {
        if let Some(c) = self.counts.back_mut() {
            *c += 1;
        }
        self.pending[stream] += 1;
        self.current_epoch()
    }

    /// Delivers a record's result and releases what it held.
    fn finish(&mut self, stream: usize, mut meta: Meta, result: Result<Ack, RecordError>) {
        meta.tx.complete(result);
        self.release(stream, &meta);
    }

    /// Releases what a finished record held (its result is delivered already).
    fn release(&mut self, stream: usize, meta: &Meta) {
        let i = meta.epoch.saturating_sub(self.epoch_base) as usize;
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_sub(1);
        }
        self.pending[stream] = self.pending[stream].saturating_sub(1);
        self.freed_records += 1;
        self.freed_bytes += meta.size;
    }

    fn flush_point(&mut self, tx: oneshot::Sender<()>) {
        let target = self.current_epoch() + 1;
        self.counts.push_back(0);
        self.waiters.push_back((target, tx));
    }

    fn total_pending(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Returns permits, advances epochs, wakes flushes, updates gauges.
    fn settle(&mut self) {
        if self.freed_records > 0 {
            self.shared
                .outstanding
                .fetch_sub(self.freed_records, Ordering::AcqRel);
            self.shared.records.add_permits(self.freed_records);
            self.shared.bytes.add_permits(self.freed_bytes);
            self.freed_records = 0;
            self.freed_bytes = 0;
        }
        while self.counts.len() > 1 && self.counts.front() == Some(&0) {
            self.counts.pop_front();
            self.epoch_base += 1;
        }
        while let Some((target, _)) = self.waiters.front() {
            if *target > self.epoch_base {
                break;
            }
            if let Some((_, tx)) = self.waiters.pop_front() {
                let _ = tx.send(());
            }
        }
        for (gauge, n) in self.gauges.iter().zip(&self.pending) {
            gauge.set(*n as f64);
        }
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

    /// Takes a message; returns the intake permits it held (see `producer::INTAKE`).
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
        self.book.gauges.push(metrics.pending.clone());
        self.book.pending.push(0);
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
        let flushing = self.closing || !self.book.waiters.is_empty();
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

    fn on_put(
        &mut self,
        s: usize,
        batch: Vec<KinesisRecord>,
        started: Instant,
        ended: Instant,
        result: Option<Result<PutRecordsOutput, Error>>,
        now: Instant,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let duration = ended.saturating_duration_since(started);
        self.streams[s]
            .metrics
            .request_time
            .record(duration.as_secs_f64() * 1000.0);
        let n = batch.len();
        let outcomes: Vec<Outcome> = match result {
            None => {
                let message = format!(
                    "PutRecords did not answer within RequestTimeout ({:?})",
                    self.cfg.request_timeout
                );
                self.streams[s].metrics.error("-", "RequestTimeout");
                (0..n)
                    .map(|_| Outcome::Failed {
                        code: "RequestTimeout".into(),
                        message: message.clone(),
                        retryable: true,
                    })
                    .collect()
            }
            Some(Err(e)) => {
                self.streams[s].metrics.error("-", e.code());
                (0..n)
                    .map(|_| Outcome::Failed {
                        code: e.code().to_owned(),
                        message: e.message().to_owned(),
                        retryable: retryable(&e),
                    })
                    .collect()
            }
            Some(Ok(out)) if out.records.len() != n => {
                let message = format!(
                    "PutRecords answered {} results for {n} records",
                    out.records.len()
                );
                self.streams[s].metrics.error("-", "InternalFailure");
                (0..n)
                    .map(|_| Outcome::Failed {
                        code: "InternalFailure".into(),
                        message: message.clone(),
                        retryable: true,
                    })
                    .collect()
            }
            Some(Ok(out)) => out
                .records
                .into_iter()
                .zip(&batch)
                .map(
                    |(e, krec)| match (e.error_code, e.shard_id, e.sequence_number) {
                        // Acknowledged by the PutRecords task already.
                        _ if krec.done.is_some() => Outcome::Done,
                        (None, Some(shard), Some(seq)) => Outcome::Put {
                            shard: shard.into(),
                            seq: seq.into(),
                        },
                        (code, _, _) => {
                            let code = code.unwrap_or_else(|| "InternalFailure".into());
                            let message = e
                                .error_message
                                .unwrap_or_else(|| "no shard id or sequence number".into());
                            let retryable = retryable(&Error::from_code(&code, ""));
                            Outcome::Failed {
                                code,
                                message,
                                retryable,
                            }
                        }
                    },
                )
                .collect(),
        };
        for (mut krec, outcome) in batch.into_iter().zip(outcomes) {
            if let Some(done) = krec.done.take() {
                self.settle_done(s, krec, done, now);
                continue;
            }
            let first_attempt = krec.attempts.is_empty();
            let delay = started.saturating_duration_since(krec.last_end);
            krec.last_end = ended;
            if first_attempt && let Some(&i) = self.streams[s].shard_pos.get(&krec.shard) {
                let buffered = started.saturating_duration_since(
                    krec.meta.iter().map(|m| m.arrived).min().unwrap_or(started),
                );
                self.streams[s].shards[i]
                    .metrics
                    .buffering_time
                    .record_many(buffered.as_secs_f64() * 1000.0, krec.records.len());
            }
            match outcome {
                // Unreachable: a done record was settled above.
                Outcome::Done => {}
                Outcome::Put { shard, seq } => {
                    krec.attempts.push(Attempt {
                        delay,
                        duration,
                        error_code: None,
                        error_message: None,
                    });
                    let st = &mut self.streams[s];
                    if *shard == *krec.shard || !krec.is_aggregated() {
                        if *shard != *krec.shard {
                            // A plain record is where Kinesis routed it; the map is stale.
                            st.refresh_due = Some(now);
                        }
                        unbusy(st, &krec.shard);
                        ack(st, &mut self.book, s, krec, &shard, &seq, |_| true);
                    } else {
                        tracing::info!(stream = %st.name, predicted = %krec.shard, actual = %shard,
                            "aggregate landed on another shard than predicted; refreshing the shard map");
                        st.refresh_due = Some(now);
                        unbusy(st, &krec.shard);
                        st.misplaced.push((krec, shard, seq));
                    }
                }
                Outcome::Failed {
                    code,
                    message,
                    retryable,
                } => {
                    self.streams[s].metrics.error(&krec.shard, &code);
                    krec.attempts.push(Attempt {
                        delay,
                        duration,
                        error_code: Some(code.clone()),
                        error_message: Some(message.clone()),
                    });
                    let throttled = code == "ProvisionedThroughputExceededException";
                    if retryable && !(throttled && self.cfg.fail_if_throttled) {
                        let backoff = krec.backoff.get_or_insert_with(|| self.backoff.build());
                        let wait = backoff.next().unwrap_or(self.cfg.retry_max_delay);
                        let at = (now + wait).min(krec.expires);
                        self.retries.push((at, s, krec));
                    } else {
                        let st = &mut self.streams[s];
                        unbusy(st, &krec.shard);
                        let attempts: Arc<[Attempt]> = Arc::from(krec.attempts);
                        for m in krec.meta {
                            let err = RecordError::Rejected {
                                code: code.clone(),
                                message: message.clone(),
                                attempts: with_prior(&m, &attempts),
                            };
                            self.book.finish(s, m, Err(err));
                        }
                    }
                }
            }
        }
    }

    /// Books a Kinesis record the sender's task acknowledged (`KinesisRecord::complete_put`):
    /// buffer permits, flush epochs, metrics, strict-order state, map staleness.
    fn settle_done(&mut self, s: usize, krec: KinesisRecord, done: Done, now: Instant) {
        let st = &mut self.streams[s];
        if let Some(buffered) = done.buffered
            && let Some(&i) = st.shard_pos.get(&krec.shard)
        {
            st.shards[i]
                .metrics
                .buffering_time
                .record_many(buffered.as_secs_f64() * 1000.0, done.count);
        }
        if *done.shard != *krec.shard {
            // A plain record is where Kinesis routed it; the map is stale.
            st.refresh_due = Some(now);
        }
        unbusy(st, &krec.shard);
        let unknown;
        let shard_metrics = match st.shard_pos.get(&done.shard) {
            Some(&i) => &st.shards[i].metrics,
            None => {
                unknown = ShardMetrics::new(&st.name, &done.shard);
                &unknown
            }
        };
        let retries = done.attempts.saturating_sub(1);
        let mut first_try = 0usize;
        for m in &krec.meta {
            first_try += usize::from(count_retries(shard_metrics, retries, m));
            self.book.release(s, m);
        }
        record_put(
            shard_metrics,
            retries,
            first_try,
            done.count,
            done.bytes,
            krec.size,
        );
    }

    /// A Kinesis record whose backoff is over: back to the front of its shard's queue, or
    /// routed again if the shard is gone from the map.
    fn requeue(&mut self, s: usize, mut krec: KinesisRecord, now: Instant) {
        let st = &mut self.streams[s];
        let expired = krec.take_expired(now, self.cfg.record_ttl);
        if !expired.is_empty() {
            let attempts: Arc<[Attempt]> = Arc::from(krec.attempts.clone());
            for (_, m) in expired {
                st.metrics.expired.increment(1);
                let err = RecordError::Expired {
                    ttl: self.cfg.record_ttl,
                    attempts: with_prior(&m, &attempts),
                };
                self.book.finish(s, m, Err(err));
            }
        }
        if krec.records.is_empty() {
            unbusy(st, &krec.shard);
            return;
        }
        if let Some(&i) = st.shard_pos.get(&krec.shard) {
            st.shards[i].busy = false;
            st.shards[i].queue.push_front(krec);
        } else {
            for (r, m) in unpack(krec, None) {
                route(st, &self.cfg, r, m, now);
            }
        }
    }

    fn on_map(&mut self, s: usize, result: Result<ShardMap, Error>, now: Instant) {
        let cfg = Arc::clone(&self.cfg);
        let st = &mut self.streams[s];
        st.refreshing = false;
        let map = match result {
            Ok(map) if !map.open.is_empty() => map,
            Ok(_) | Err(_) => {
                let (code, message, retryable) = match &result {
                    Err(e) => (e.code().to_owned(), e.message().to_owned(), retryable(e)),
                    Ok(_) => (
                        "ResourceInUseException".into(),
                        "the stream has no open shard".into(),
                        true,
                    ),
                };
                tracing::warn!(stream = %st.name, %code, %message, "listing shards failed");
                st.metrics.error("-", &code);
                let wait = st
                    .refresh_backoff
                    .get_or_insert_with(|| self.backoff.build())
                    .next()
                    .unwrap_or(cfg.retry_max_delay);
                st.refresh_due = Some(now + wait);
                if st.map.is_none() && !retryable {
                    for (_, m) in st.unrouted.take() {
                        let err = RecordError::Rejected {
                            code: code.clone(),
                            message: message.clone(),
                            attempts: Arc::from(m.prior.clone()),
                        };
                        self.book.finish(s, m, Err(err));
                    }
                }
                // Misplaced aggregates are in the stream; without a map we cannot tell which
                // sub-records the shard owns, so they count as put.
                for (krec, shard, seq) in std::mem::take(&mut st.misplaced) {
                    ack(st, &mut self.book, s, krec, &shard, &seq, |_| true);
                }
                return;
            }
        };
        st.refresh_backoff = None;
        st.refresh_due = Some(now + cfg.shard_map_max_age);
        // Keep the state of shards that are still open; drain the others.
        let mut old: HashMap<Arc<str>, ShardState> = std::mem::take(&mut st.shards)
            .into_iter()
            .map(|sh| (Arc::clone(&sh.id), sh))
            .collect();
        st.shard_pos.clear();
        for (i, open) in map.open.iter().enumerate() {
            let shard = old.remove(&open.id).unwrap_or_else(|| ShardState {
                id: Arc::clone(&open.id),
                agg: Aggregator::default(),
                queue: VecDeque::new(),
                bucket: TokenBucket::new(cfg.rate_limit, now),
                busy: false,
                metrics: ShardMetrics::new(&st.name, &open.id),
            });
            st.shard_pos.insert(Arc::clone(&open.id), i);
            st.shards.push(shard);
        }
        st.map = Some(map);
        let mut again: Vec<(UserRecord, Meta)> = Vec::new();
        // 1. Aggregates that landed elsewhere: the actual shard keeps what it owns.
        for (krec, shard, seq) in std::mem::take(&mut st.misplaced) {
            let Some(map) = &st.map else { break };
            let owns: Vec<bool> = krec
                .meta
                .iter()
                .map(|m| map.owns(&shard, m.hash).unwrap_or(true))
                .collect();
            let rest = ack(st, &mut self.book, s, krec, &shard, &seq, |i| owns[i]);
            again.extend(rest);
        }
        // 2. Whatever closed shards still held, in order.
        let mut closed: Vec<ShardState> = old.into_values().collect();
        closed.sort_by(|a, b| a.id.cmp(&b.id));
        for mut shard in closed {
            let (records, meta) = shard.agg.take();
            for krec in shard.queue.drain(..) {
                again.extend(unpack(krec, None));
            }
            again.extend(records.into_iter().zip(meta));
        }
        // 3. Records that waited for the map.
        again.append(&mut st.unrouted.take());
        for (r, m) in again {
            route(st, &cfg, r, m, now);
        }
    }
}

/// The attempts of a user record: those of earlier Kinesis records, then these.
/// Whether a failed put may succeed later ([`Error::is_retryable`] counts the transient
/// codes a real service sends as [`Error::Other`], such as `ServiceUnavailable`, too).
fn retryable(e: &Error) -> bool {
    e.is_retryable()
}

fn with_prior(meta: &Meta, attempts: &Arc<[Attempt]>) -> Arc<[Attempt]> {
    if meta.prior.is_empty() {
        Arc::clone(attempts)
    } else {
        meta.prior.iter().chain(attempts.iter()).cloned().collect()
    }
}

/// Acknowledges the user records of `krec` for which `keep(i)` holds (with sub-sequence
/// number i); returns the others, with their attempts so far, to be routed again.
fn ack(
    st: &mut StreamState,
    book: &mut Book,
    s: usize,
    krec: KinesisRecord,
    shard: &Arc<str>,
    seq: &Arc<str>,
    keep: impl Fn(usize) -> bool,
) -> Vec<(UserRecord, Meta)> {
    let aggregated = krec.is_aggregated();
    let attempts: Arc<[Attempt]> = Arc::from(krec.attempts.clone());
    let mut rest = Vec::new();
    let mut acked = 0usize;
    // Acked records without attempts of earlier Kinesis records: one histogram update.
    let mut first_try = 0usize;
    let mut bytes = 0u64;
    let shard_metrics = st
        .shard_pos
        .get(shard)
        .map(|&i| st.shards[i].metrics.clone())
        .unwrap_or_else(|| ShardMetrics::new(&st.name, shard));
    let retries = attempts.len().saturating_sub(1);
    let put = Arc::new(Put {
        shard_id: Arc::clone(shard),
        sequence_number: Arc::clone(seq),
        aggregated,
        attempts: Arc::clone(&attempts),
    });
    for (i, (r, mut m)) in krec.records.into_iter().zip(krec.meta).enumerate() {
        if keep(i) {
            acked += 1;
            bytes += r.data.len() as u64;
            let put = if m.prior.is_empty() {
                Arc::clone(&put)
            } else {
                // Attempts of earlier Kinesis records too: this record's own.
                Arc::new(Put {
                    attempts: with_prior(&m, &attempts),
                    ..(*put).clone()
                })
            };
            let ack = Ack {
                put,
                sub_sequence_number: if aggregated { i as u64 } else { 0 },
            };
            first_try += usize::from(count_retries(&shard_metrics, retries, &m));
            book.finish(s, m, Ok(ack));
        } else {
            let mut prior = std::mem::take(&mut m.prior);
            prior.extend(attempts.iter().cloned());
            if let Some(last) = prior.last_mut() {
                last.error_code = Some("WrongShard".into());
                last.error_message = Some(format!(
                    "the aggregate landed on {shard}, which does not own this record's hash key"
                ));
            }
            m.prior = prior;
            rest.push((r, m));
        }
    }
    record_put(&shard_metrics, retries, first_try, acked, bytes, krec.size);
    rest
}

/// Records the retries of an acknowledged user record that took part in earlier Kinesis
/// records; returns whether it did not (its retries are those of this Kinesis record,
/// recorded in bulk by [`record_put`]).
fn count_retries(metrics: &ShardMetrics, retries: usize, meta: &Meta) -> bool {
    if meta.prior.is_empty() {
        return true;
    }
    metrics.retries.record((retries + meta.prior.len()) as f64);
    false
}

/// The metrics of one Kinesis record put: `acked` user records of `bytes` user data,
/// `first_try` of them with `retries` retries, `kinesis_bytes` of Kinesis record.
fn record_put(
    metrics: &ShardMetrics,
    retries: usize,
    first_try: usize,
    acked: usize,
    bytes: u64,
    kinesis_bytes: usize,
) {
    if first_try > 0 {
        metrics.retries.record_many(retries as f64, first_try);
    }
    if acked > 0 {
        metrics.user_put.increment(acked as u64);
        metrics.user_data_put.increment(bytes);
        metrics.kinesis_put.increment(1);
        metrics.kinesis_data_put.increment(kinesis_bytes as u64);
        metrics.per_kinesis_record.record(acked as f64);
    }
}

/// The user records of a Kinesis record, each carrying the attempts made so far.
fn unpack(krec: KinesisRecord, _why: Option<&str>) -> Vec<(UserRecord, Meta)> {
    let attempts = krec.attempts;
    krec.records
        .into_iter()
        .zip(krec.meta)
        .map(|(r, mut m)| {
            m.prior.extend(attempts.iter().cloned());
            (r, m)
        })
        .collect()
}

fn unbusy(st: &mut StreamState, shard: &Arc<str>) {
    if let Some(&i) = st.shard_pos.get(shard) {
        st.shards[i].busy = false;
    }
}

/// Puts a user record in its shard's aggregator (or queue, aggregation off).
fn route(st: &mut StreamState, cfg: &ProducerConfig, record: UserRecord, meta: Meta, now: Instant) {
    let Some(map) = &st.map else {
        st.unrouted.push(record, meta);
        return;
    };
    let Some(i) = map.route(meta.hash) else {
        // No open shard owns the key: the map is stale (or the stream is being resharded).
        st.unrouted.push(record, meta);
        if !st.refreshing {
            st.refresh_due = Some(now);
        }
        return;
    };
    let shard = &mut st.shards[i];
    if !cfg.aggregation_enabled {
        let krec = KinesisRecord::seal(
            Arc::clone(&shard.id),
            vec![record],
            vec![meta],
            None,
            cfg.record_max_buffered_time,
            cfg.record_ttl,
        );
        shard.queue.push_back(krec);
        return;
    }
    if shard
        .agg
        .would_overflow(&record, &meta, st.agg_limit, cfg.aggregation_max_count)
    {
        seal(shard, cfg);
    }
    let deadline = meta.arrived + cfg.record_max_buffered_time.min(cfg.record_ttl);
    shard.agg.push(record, meta, deadline);
    if shard.agg.size() >= st.agg_limit || shard.agg.len() >= cfg.aggregation_max_count {
        seal(shard, cfg);
    }
}

/// Seals a shard's aggregator into a Kinesis record at the back of its queue.
fn seal(shard: &mut ShardState, cfg: &ProducerConfig) {
    if shard.agg.is_empty() {
        return;
    }
    let (records, meta, pieces) = shard.agg.take_encoded();
    shard.queue.push_back(KinesisRecord::seal(
        Arc::clone(&shard.id),
        records,
        meta,
        pieces,
        cfg.record_max_buffered_time,
        cfg.record_ttl,
    ));
}

/// Adds a released Kinesis record to the stream's PutRecords batches.
fn collect(batches: &mut VecDeque<Batch>, cfg: &ProducerConfig, krec: KinesisRecord) {
    if let Some(b) = batches.back_mut()
        && b.records.len() < cfg.collection_max_count
        && b.bytes + krec.size <= cfg.collection_max_size
    {
        b.bytes += krec.size;
        b.deadline = b.deadline.min(krec.deadline);
        b.records.push(krec);
        return;
    }
    batches.push_back(Batch {
        bytes: krec.size,
        deadline: krec.deadline,
        records: vec![krec],
    });
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
