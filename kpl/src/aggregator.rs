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
use tokio::sync::oneshot;

use crate::record::{Ack, Attempt, RecordError};

/// The sender half of a user record's result.
pub(crate) type ResultTx = oneshot::Sender<Result<Ack, RecordError>>;

/// Bookkeeping of one user record beside its payload.
#[derive(Debug)]
pub(crate) struct Meta {
    /// Its hash key.
    pub hash: u128,
    /// Where its result goes.
    pub tx: ResultTx,
    /// When `send` took it.
    pub arrived: Instant,
    /// The flush epoch it arrived in.
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

/// Length of `v` as a protobuf varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes a length-delimited field of `len` bytes takes (one-byte tag).
fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// User records of one predicted shard waiting to be sealed.
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
    /// Length of the protobuf body so far.
    body: usize,
    /// Earliest deadline (buffered time or TTL) of the records held.
    deadline: Option<Instant>,
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

    /// Exact encoded size of what is held (0 when empty).
    pub fn size(&self) -> usize {
        if self.records.is_empty() {
            0
        } else {
            agg::OVERHEAD + self.body
        }
    }

    /// Body bytes `record` would add, with its table entries if its keys are new.
    fn added(&self, record: &UserRecord, meta: &Meta) -> usize {
        let (pk_idx, pk_new) = self.pk_lookup(record, meta);
        let mut n = 0;
        if pk_new {
            n += field_len(record.partition_key.len());
        }
        let mut inner = 1 + varint_len(pk_idx) + field_len(record.data.len());
        if let Some(ehk) = &record.explicit_hash_key {
            let (idx, new) = match self.ehk_index.get(&meta.hash) {
                Some(&i) => (i, false),
                None => (self.ehk_count, true),
            };
            if new {
                n += field_len(ehk.len());
            }
            inner += 1 + varint_len(idx);
        }
        n + field_len(inner)
    }

    fn pk_lookup(&self, record: &UserRecord, meta: &Meta) -> (u64, bool) {
        let key = pk_hash(record, meta);
        match self.pk_index.get(&key) {
            Some(&(idx, pos)) if self.records[pos].partition_key == record.partition_key => {
                (idx, false)
            }
            _ => (self.pk_count, true),
        }
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
                || agg::OVERHEAD + self.body + self.added(record, meta) > max_size)
    }

    /// Adds a record; `deadline` is its buffered-time or TTL deadline, whichever is first.
    pub fn push(&mut self, record: UserRecord, meta: Meta, deadline: Instant) {
        self.body += self.added(&record, &meta);
        let (_, pk_new) = self.pk_lookup(&record, &meta);
        if pk_new {
            let key = pk_hash(&record, &meta);
            self.pk_index
                .entry(key)
                .or_insert((self.pk_count, self.records.len()));
            self.pk_count += 1;
        }
        if record.explicit_hash_key.is_some() && !self.ehk_index.contains_key(&meta.hash) {
            self.ehk_index.insert(meta.hash, self.ehk_count);
            self.ehk_count += 1;
        }
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
        self.body = 0;
        self.deadline = None;
        (
            std::mem::take(&mut self.records),
            std::mem::take(&mut self.meta),
        )
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
    /// What goes into PutRecords.
    pub entry: PutRecordsRequestEntry,
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
}

impl KinesisRecord {
    /// Seals user records (at least one) into a Kinesis record.
    pub fn seal(
        shard: Arc<str>,
        records: Vec<UserRecord>,
        meta: Vec<Meta>,
        max_buffered: Duration,
        ttl: Duration,
    ) -> KinesisRecord {
        let first = meta
            .iter()
            .map(|m| m.arrived)
            .min()
            .unwrap_or_else(Instant::now);
        let entry = entry_for(&records, &meta);
        KinesisRecord {
            shard,
            size: entry.data.len() + entry.partition_key.len(),
            entry,
            records,
            meta,
            deadline: first + max_buffered,
            expires: first + ttl,
            attempts: Vec::new(),
            last_end: first,
            backoff: None,
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
            self.entry = entry_for(&self.records, &self.meta);
            self.size = self.entry.data.len() + self.entry.partition_key.len();
            if let Some(first) = self.meta.iter().map(|m| m.arrived).min() {
                self.expires = first + ttl;
            }
        }
        expired
    }
}

/// The PutRecords entry for `records` (at least one): plain for one, aggregated for more.
fn entry_for(records: &[UserRecord], meta: &[Meta]) -> PutRecordsRequestEntry {
    match (records, meta) {
        ([only], _) => PutRecordsRequestEntry {
            data: only.data.clone(),
            partition_key: only.partition_key.clone(),
            explicit_hash_key: only.explicit_hash_key.clone(),
        },
        ([first, ..], [m, ..]) => PutRecordsRequestEntry {
            data: Bytes::from(agg::encode(records)),
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

    fn meta_for(r: &UserRecord) -> (Meta, oneshot::Receiver<Result<Ack, RecordError>>) {
        let (tx, rx) = oneshot::channel();
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

    #[test]
    fn varint_lengths() {
        for (v, n) in [
            (0u64, 1),
            (127, 1),
            (128, 2),
            (16383, 2),
            (16384, 3),
            (u64::MAX, 10),
        ] {
            assert_eq!(varint_len(v), n, "{v}");
        }
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
