//! The aggregator: user records bound for one predicted shard, packed into one Kinesis record.
//!
//! # Invariants
//!
//! * An [`Aggregator`] holds the user records of exactly one predicted shard, in the order
//!   they were sent; sub-sequence number i of the aggregate it seals is the i-th of them.
//! * [`Aggregator::size`] is the exact length of what [`agg::encode`] makes of the records
//!   held (magic, protobuf body, digest): the key tables are tracked incrementally, by the
//!   partition key's MD5 (checked against the key itself, so that a collision only
//!   over-estimates) and by the explicit hash key's value (canonical decimal, so equal value
//!   means equal string). The aggregator seals *before* a record would take it past
//!   `AggregationMaxSize` or `AggregationMaxCount`; a record that is too big on its own is
//!   sealed alone.
//! * A sealed batch of one record goes out as a plain record (its own keys and data), as the
//!   KPL does; of more, as an aggregate whose partition key is the first record's and whose
//!   explicit hash key is the first record's hash key, so that it lands on the shard of its
//!   first record.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rill_engine::api::PutRecordsRequestEntry;
use rill_engine::api::agg::{self, UserRecord};

use crate::record::{Ack, Attempt, Put};

/// The sender half of a user record's result.
pub(crate) use crate::slot::ResultTx;

/// Bookkeeping of one user record beside its payload.
#[derive(Debug)]
pub(crate) struct Meta {
    /// Its hash key.
    pub hash: u128,
    /// Where its result goes.
    pub tx: ResultTx,
    /// When `send` took it.
    pub arrived: Instant,
    /// The flush epoch it arrived in (set by the pipeline; until then 1 if the record holds
    /// an intake permit, 0 if not).
    pub epoch: u64,
    /// Bytes it holds in the buffer (data plus partition key).
    pub size: usize,
    /// Attempts made while it was part of another Kinesis record (rare: wrong shard,
    /// resharding).
    pub prior: Vec<Attempt>,
}

/// A multiplicative hasher for keys that are already hashes (MD5) or numbers.
#[derive(Default)]
pub(crate) struct MixHasher(u64);

impl Hasher for MixHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u128(&mut self, v: u128) {
        let folded = (v as u64) ^ ((v >> 64) as u64);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type MixMap<V> = HashMap<u128, V, BuildHasherDefault<MixHasher>>;

/// User records of one predicted shard waiting to be sealed, and their aggregate encoded as
/// they arrive.
///
/// The protobuf body is built incrementally by [`agg::BodyBuilder`], in three parts that
/// [`Aggregator::take_encoded`] hands over: the partition key table, the explicit hash key
/// table and the records, each already in wire form; the aggregator keeps the tables' indexes. Fields in tag order, tables in order of first appearance, required
/// fields always written: the same bytes as [`agg::encode`] (checked by a property test).
#[derive(Debug, Default)]
pub(crate) struct Aggregator {
    records: Vec<UserRecord>,
    meta: Vec<Meta>,
    /// Partition key MD5 -> (index in the table, position of a record holding the key).
    pk_index: MixMap<(u64, usize)>,
    pk_count: u64,
    /// Explicit hash key value -> index in the table.
    ehk_index: MixMap<u64>,
    ehk_count: u64,
    /// The aggregate's protobuf body, encoded as records arrive.
    body: agg::BodyBuilder,
    /// Earliest deadline (buffered time or TTL) of the records held.
    deadline: Option<Instant>,
    /// Records held by the last aggregate taken (capacity hint for the next).
    last_len: usize,
}

/// Where a record's keys go in the tables: (partition key index, new?), and for an explicit
/// hash key (index, new?).
struct Slots {
    pk: (u64, bool),
    ehk: Option<(u64, bool)>,
}

impl Aggregator {
    /// Number of user records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the held records must be sealed at the latest.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Length of the protobuf body so far.
    fn body(&self) -> usize {
        self.body.len()
    }

    /// Exact encoded size of what is held (0 when empty).
    pub fn size(&self) -> usize {
        if self.records.is_empty() {
            0
        } else {
            agg::OVERHEAD + self.body()
        }
    }

    fn slots(&self, record: &UserRecord, meta: &Meta) -> Slots {
        let key = pk_hash(record, meta);
        let pk = match self.pk_index.get(&key) {
            Some(&(idx, pos)) if self.records[pos].partition_key == record.partition_key => {
                (idx, false)
            }
            _ => (self.pk_count, true),
        };
        let ehk = record
            .explicit_hash_key
            .as_ref()
            .map(|_| match self.ehk_index.get(&meta.hash) {
                Some(&i) => (i, false),
                None => (self.ehk_count, true),
            });
        Slots { pk, ehk }
    }

    /// Body bytes `record` would add, with its table entries if its keys are new.
    fn added(record: &UserRecord, slots: &Slots) -> usize {
        let mut n = agg::BodyBuilder::record_entry_len(
            slots.pk.0,
            slots.ehk.map(|(i, _)| i),
            record.data.len(),
        );
        if slots.pk.1 {
            n += agg::BodyBuilder::key_entry_len(record.partition_key.len());
        }
        if let (Some((_, true)), Some(ehk)) = (slots.ehk, &record.explicit_hash_key) {
            n += agg::BodyBuilder::key_entry_len(ehk.len());
        }
        n
    }

    /// Whether adding `record` would break the limits (never true when empty).
    pub fn would_overflow(
        &self,
        record: &UserRecord,
        meta: &Meta,
        max_size: usize,
        max_count: usize,
    ) -> bool {
        !self.is_empty()
            && (self.len() >= max_count
                || agg::OVERHEAD + self.body() + Self::added(record, &self.slots(record, meta))
                    > max_size)
    }

    /// Adds a record; `deadline` is its buffered-time or TTL deadline, whichever is first.
    pub fn push(&mut self, record: UserRecord, meta: Meta, deadline: Instant) {
        if self.records.capacity() == 0 && self.last_len > 0 {
            self.records.reserve(self.last_len);
            self.meta.reserve(self.last_len);
        }
        let slots = self.slots(&record, &meta);
        if slots.pk.1 {
            let key = pk_hash(&record, &meta);
            self.pk_index
                .entry(key)
                .or_insert((self.pk_count, self.records.len()));
            self.pk_count += 1;
            self.body.push_partition_key(&record.partition_key);
        }
        if let (Some((_, true)), Some(ehk)) = (slots.ehk, &record.explicit_hash_key) {
            self.ehk_index.insert(meta.hash, self.ehk_count);
            self.ehk_count += 1;
            self.body.push_explicit_hash_key(ehk);
        }
        self.body
            .push_record(slots.pk.0, slots.ehk.map(|(i, _)| i), &record.data);
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        self.records.push(record);
        self.meta.push(meta);
    }

    /// Takes everything held, leaving the aggregator empty.
    pub fn take(&mut self) -> (Vec<UserRecord>, Vec<Meta>) {
        self.pk_index.clear();
        self.ehk_index.clear();
        self.pk_count = 0;
        self.ehk_count = 0;
        self.body.clear();
        self.deadline = None;
        self.last_len = self.records.len();
        (
            std::mem::take(&mut self.records),
            std::mem::take(&mut self.meta),
        )
    }

    /// Takes everything held with its aggregate's body in wire-order pieces (see
    /// [`Pieces`]); `None` for one record or none (sent plain).
    pub fn take_encoded(&mut self) -> (Vec<UserRecord>, Vec<Meta>, Option<Pieces>) {
        let pieces = (self.records.len() > 1).then(|| Pieces(self.body.take_pieces()));
        let (records, meta) = self.take();
        (records, meta, pieces)
    }
}

/// An aggregate's protobuf body in three pieces, in wire order: the partition key table,
/// the explicit hash key table, the records. Framing it (magic, MD5 digest) is left to
/// [`Pieces::frame`], which the sender runs off the pipeline task.
#[derive(Debug)]
pub(crate) struct Pieces([Vec<u8>; 3]);

impl Pieces {
    /// Length of the framed aggregate.
    pub fn framed_len(&self) -> usize {
        agg::OVERHEAD + self.0.iter().map(Vec::len).sum::<usize>()
    }

    /// The aggregate: magic, body, MD5 of the body.
    pub fn frame(&self) -> Bytes {
        let [pk, ehk, enc] = &self.0;
        Bytes::from(agg::frame_body(&[pk, ehk, enc]))
    }
}

/// The key used for a record's partition key in the table index: the MD5 of the partition
/// key. When the record has an explicit hash key, `meta.hash` is that, so the MD5 is
/// recomputed (records with explicit hash keys are the rare case).
fn pk_hash(record: &UserRecord, meta: &Meta) -> u128 {
    if record.explicit_hash_key.is_some() {
        rill_engine::api::HashKey::from_partition_key(&record.partition_key).0
    } else {
        meta.hash
    }
}

/// A Kinesis record on its way: one plain user record or an aggregate, with the user records
/// it holds, its request entry and its attempts so far.
#[derive(Debug)]
pub(crate) struct KinesisRecord {
    /// The shard it was predicted to land on.
    pub shard: Arc<str>,
    /// The user records, in sub-sequence order.
    pub records: Vec<UserRecord>,
    /// Their bookkeeping, same order.
    pub meta: Vec<Meta>,
    /// What goes into PutRecords (its data is empty while `pending` holds the aggregate).
    pub entry: PutRecordsRequestEntry,
    /// The aggregate, not framed yet: [`KinesisRecord::materialize`] makes it `entry.data`.
    pub pending: Option<Pieces>,
    /// Data plus partition key of `entry`.
    pub size: usize,
    /// When it must be in a PutRecords call at the latest (buffered time).
    pub deadline: Instant,
    /// When its first user record expires.
    pub expires: Instant,
    /// Attempts made with this Kinesis record.
    pub attempts: Vec<Attempt>,
    /// End of the last attempt (or the earliest arrival), for [`Attempt::delay`].
    pub last_end: Instant,
    /// Retry delays, created at the first failure.
    pub backoff: Option<backon::ExponentialBackoff>,
    /// Set by the sender's task when the put succeeded where predicted (see
    /// [`KinesisRecord::complete_put`]): the user records' results are delivered and the
    /// records themselves dropped; the pipeline only settles the books.
    pub done: Option<Done>,
}

/// A Kinesis record acknowledged by the sender's task.
#[derive(Debug)]
pub(crate) struct Done {
    /// The shard it landed on.
    pub shard: Arc<str>,
    /// Buffered time of its oldest user record, when this was its first attempt.
    pub buffered: Option<Duration>,
    /// User data bytes acknowledged.
    pub bytes: u64,
    /// User records acknowledged.
    pub count: usize,
    /// Attempts made with this Kinesis record, the successful one included.
    pub attempts: usize,
}

impl KinesisRecord {
    /// Seals user records (at least one) into a Kinesis record; `pieces` is their aggregate
    /// when already encoded (see [`Aggregator::take_encoded`]), framed later.
    pub fn seal(
        shard: Arc<str>,
        records: Vec<UserRecord>,
        meta: Vec<Meta>,
        pieces: Option<Pieces>,
        max_buffered: Duration,
        ttl: Duration,
    ) -> KinesisRecord {
        let first = meta
            .iter()
            .map(|m| m.arrived)
            .min()
            .unwrap_or_else(Instant::now);
        let (entry, pending) = match pieces {
            Some(p) if records.len() > 1 => {
                (entry_for(&records, &meta, Some(Bytes::new())), Some(p))
            }
            _ => (entry_for(&records, &meta, None), None),
        };
        let data_len = pending
            .as_ref()
            .map_or(entry.data.len(), Pieces::framed_len);
        KinesisRecord {
            shard,
            size: data_len + entry.partition_key.len(),
            entry,
            pending,
            records,
            meta,
            deadline: first + max_buffered,
            expires: first + ttl,
            attempts: Vec::new(),
            last_end: first,
            backoff: None,
            done: None,
        }
    }

    /// Whether it goes out as an aggregate.
    pub fn is_aggregated(&self) -> bool {
        self.records.len() > 1
    }

    /// Removes the user records whose TTL has passed at `now` and returns them; re-encodes
    /// what remains.
    pub fn take_expired(&mut self, now: Instant, ttl: Duration) -> Vec<(UserRecord, Meta)> {
        if now < self.expires {
            return Vec::new();
        }
        let records = std::mem::take(&mut self.records);
        let meta = std::mem::take(&mut self.meta);
        let mut expired = Vec::new();
        for (r, m) in records.into_iter().zip(meta) {
            if m.arrived + ttl <= now {
                expired.push((r, m));
            } else {
                self.records.push(r);
                self.meta.push(m);
            }
        }
        if !self.records.is_empty() && !expired.is_empty() {
            self.pending = None;
            self.entry = entry_for(&self.records, &self.meta, None);
            self.size = self.entry.data.len() + self.entry.partition_key.len();
            if let Some(first) = self.meta.iter().map(|m| m.arrived).min() {
                self.expires = first + ttl;
            }
        }
        expired
    }
}

impl KinesisRecord {
    /// Acknowledges every user record of a Kinesis record that PutRecords put on `shard` with
    /// `seq` (the attempt ran from `started` to `ended`): records its attempt, delivers each
    /// user record's [`Ack`] and drops the user records. Run by the sender's task, so that
    /// this per-user-record work (a result slot each, the payloads freed) runs beside the
    /// pipeline task instead of on it; the pipeline finishes the books from [`Done`].
    ///
    /// Only for a put that the pipeline would acknowledge whole: an aggregate on its
    /// predicted shard, or a plain record anywhere.
    pub fn complete_put(&mut self, shard: &str, seq: &str, started: Instant, ended: Instant) {
        let buffered = self.attempts.is_empty().then(|| {
            let first = self.meta.iter().map(|m| m.arrived).min().unwrap_or(started);
            started.saturating_duration_since(first)
        });
        let this = Attempt {
            delay: started.saturating_duration_since(self.last_end),
            duration: ended.saturating_duration_since(started),
            error_code: None,
            error_message: None,
        };
        self.last_end = ended;
        let aggregated = self.is_aggregated();
        let shard: Arc<str> = if *self.shard == *shard {
            Arc::clone(&self.shard)
        } else {
            shard.into()
        };
        // One allocation: the attempts are not needed here afterwards.
        let attempts: Arc<[Attempt]> = self
            .attempts
            .drain(..)
            .chain(std::iter::once(this))
            .collect();
        let put = Arc::new(Put {
            shard_id: Arc::clone(&shard),
            sequence_number: seq.into(),
            aggregated,
            attempts: Arc::clone(&attempts),
        });
        let mut bytes = 0u64;
        for (i, (r, m)) in self.records.iter().zip(self.meta.iter_mut()).enumerate() {
            bytes += r.data.len() as u64;
            let put = if m.prior.is_empty() {
                Arc::clone(&put)
            } else {
                // Attempts of earlier Kinesis records too: this record's own.
                Arc::new(Put {
                    attempts: m.prior.iter().chain(attempts.iter()).cloned().collect(),
                    ..(*put).clone()
                })
            };
            m.tx.complete(Ok(Ack {
                put,
                sub_sequence_number: if aggregated { i as u64 } else { 0 },
            }));
        }
        let count = self.records.len();
        // Freed here, beside the pipeline task.
        self.records = Vec::new();
        self.entry = PutRecordsRequestEntry::default();
        self.done = Some(Done {
            shard,
            buffered,
            bytes,
            count,
            attempts: attempts.len(),
        });
    }

    /// Makes a plain record's entry again after it was moved into a request.
    pub fn restore_entry(&mut self) {
        if let [only] = self.records.as_slice()
            && self.entry.partition_key.is_empty()
        {
            self.entry = entry_for(std::slice::from_ref(only), &self.meta, None);
        }
    }

    /// Frames the pending aggregate into `entry.data` (MD5 and a copy of the body: done by
    /// the sender's task, off the pipeline task).
    pub fn materialize(&mut self) {
        if let Some(pieces) = self.pending.take() {
            self.entry.data = pieces.frame();
        }
    }
}

/// The PutRecords entry for `records` (at least one): plain for one, aggregated for more
/// (`blob`, or encoded here when `None`).
fn entry_for(records: &[UserRecord], meta: &[Meta], blob: Option<Bytes>) -> PutRecordsRequestEntry {
    match (records, meta) {
        ([only], _) => PutRecordsRequestEntry {
            data: only.data.clone(),
            partition_key: only.partition_key.clone(),
            explicit_hash_key: only.explicit_hash_key.clone(),
        },
        ([first, ..], [m, ..]) => PutRecordsRequestEntry {
            data: blob.unwrap_or_else(|| Bytes::from(agg::encode(records))),
            partition_key: first.partition_key.clone(),
            explicit_hash_key: Some(m.hash.to_string()),
        },
        _ => PutRecordsRequestEntry::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rill_engine::api::HashKey;

    fn meta_for(r: &UserRecord) -> (Meta, crate::slot::ResultRx) {
        let (tx, rx) = crate::slot::slot();
        let hash = match &r.explicit_hash_key {
            Some(k) => k.parse::<HashKey>().map(|h| h.0).unwrap_or(0),
            None => HashKey::from_partition_key(&r.partition_key).0,
        };
        (
            Meta {
                hash,
                tx,
                arrived: Instant::now(),
                epoch: 0,
                size: r.data.len() + r.partition_key.len(),
                prior: Vec::new(),
            },
            rx,
        )
    }

    fn user_record() -> impl Strategy<Value = UserRecord> {
        let pk = prop_oneof![
            prop::sample::select(vec!["a", "b", "ключ"]).prop_map(str::to_owned),
            "[a-z]{1,300}",
        ];
        let ehk = prop::option::of(prop_oneof![
            prop::sample::select(vec!["0", "1", "340282366920938463463374607431768211455"])
                .prop_map(str::to_owned),
            "[1-9][0-9]{0,37}",
        ]);
        (pk, ehk, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|(pk, ehk, data)| {
            UserRecord {
                partition_key: pk,
                explicit_hash_key: ehk,
                data: Bytes::from(data),
            }
        })
    }

    proptest! {
        #[test]
        fn size_is_exactly_the_encoded_length(records in prop::collection::vec(user_record(), 1..40)) {
            let mut a = Aggregator::default();
            let mut held = Vec::new();
            for r in records {
                let (m, _rx) = meta_for(&r);
                a.push(r.clone(), m, Instant::now());
                held.push(r);
                prop_assert_eq!(a.size(), agg::encode(&held).len());
            }
            let (records, meta) = a.take();
            prop_assert_eq!(meta.len(), records.len());
            prop_assert_eq!(records, held);
            prop_assert_eq!((a.len(), a.size()), (0, 0));
        }

        #[test]
        fn incremental_encoding_is_byte_identical(
            batches in prop::collection::vec(prop::collection::vec(user_record(), 1..40), 1..4)
        ) {
            // Several aggregates through one aggregator: its buffers are reused.
            let mut a = Aggregator::default();
            for records in batches {
                for r in &records {
                    let (m, _rx) = meta_for(r);
                    a.push(r.clone(), m, Instant::now());
                }
                let size = a.size();
                let (taken, meta, pieces) = a.take_encoded();
                let blob = pieces.map(|p| p.frame());
                prop_assert_eq!(meta.len(), taken.len());
                prop_assert_eq!(&taken, &records);
                match blob {
                    Some(blob) => {
                        let expected = agg::encode(&records);
                        prop_assert_eq!(blob.len(), size);
                        prop_assert_eq!(&blob[..], &expected[..]);
                        prop_assert_eq!(agg::decode(&blob).map_err(|e| TestCaseError::fail(e.to_string()))?, records);
                    }
                    None => prop_assert_eq!(records.len(), 1),
                }
                prop_assert_eq!((a.len(), a.size()), (0, 0));
            }
        }
    }

    #[test]
    fn overflow_seals_before_the_limit() {
        let mut a = Aggregator::default();
        let r = UserRecord {
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: Bytes::from(vec![0u8; 100]),
        };
        let mut n = 0;
        loop {
            let (m, _rx) = meta_for(&r);
            if a.would_overflow(&r, &m, 1000, usize::MAX) {
                break;
            }
            a.push(r.clone(), m, Instant::now());
            n += 1;
        }
        assert!(a.size() <= 1000);
        assert!(a.size() + 104 > 1000, "{}", a.size());
        assert_eq!(a.len(), n);
        let (m, _rx) = meta_for(&r);
        assert!(a.would_overflow(&r, &m, usize::MAX, n));
    }
}
