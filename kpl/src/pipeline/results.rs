//! What the pipeline does with the answers: a PutRecords call's results (acknowledged,
//! retried, failed, misplaced), a retried Kinesis record's return to its queue, and a new
//! shard map's routing of the records that waited for it.

use super::*;

impl Pipeline {
    pub(super) fn on_put(
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
    pub(super) fn settle_done(&mut self, s: usize, krec: KinesisRecord, done: Done, now: Instant) {
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
    pub(super) fn requeue(&mut self, s: usize, mut krec: KinesisRecord, now: Instant) {
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

    pub(super) fn on_map(&mut self, s: usize, result: Result<ShardMap, Error>, now: Instant) {
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

/// Whether a failed put may succeed later ([`Error::is_retryable`] counts the transient
/// codes a real service sends as [`Error::Other`], such as `ServiceUnavailable`, too).
pub(super) fn retryable(e: &Error) -> bool {
    e.is_retryable()
}

/// The attempts of a user record: those of earlier Kinesis records, then these.
pub(super) fn with_prior(meta: &Meta, attempts: &Arc<[Attempt]>) -> Arc<[Attempt]> {
    if meta.prior.is_empty() {
        Arc::clone(attempts)
    } else {
        meta.prior.iter().chain(attempts.iter()).cloned().collect()
    }
}

/// Acknowledges the user records of `krec` for which `keep(i)` holds (with sub-sequence
/// number i); returns the others, with their attempts so far, to be routed again.
pub(super) fn ack(
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
pub(super) fn count_retries(metrics: &ShardMetrics, retries: usize, meta: &Meta) -> bool {
    if meta.prior.is_empty() {
        return true;
    }
    metrics.retries.record((retries + meta.prior.len()) as f64);
    false
}

/// The metrics of one Kinesis record put: `acked` user records of `bytes` user data,
/// `first_try` of them with `retries` retries, `kinesis_bytes` of Kinesis record.
pub(super) fn record_put(
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
pub(super) fn unpack(krec: KinesisRecord, _why: Option<&str>) -> Vec<(UserRecord, Meta)> {
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
