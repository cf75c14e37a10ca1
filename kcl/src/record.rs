//! Records as the processor receives them, and their making from GetRecords' records.
//!
//! A Kinesis record that is a KPL aggregate becomes its user records, the i-th with
//! sub-sequence number i; any other record is delivered as itself with sub-sequence
//! number 0 ([`rill_engine::api::agg::deaggregate`] decides which is which).
//!
//! # Invariants
//!
//! * Order: records come out in shard order, sub-records in packing order, so extended
//!   sequence numbers strictly increase along a shard.
//! * A user record of an aggregate whose hash key (explicit hash key, else the MD5 of its
//!   partition key) lies outside the lease's hash key range is dropped: the KPL predicted a
//!   shard that was split since, and the sibling shard's consumer delivers that record.
//!   Its sub-sequence number is skipped, not reused.
//! * Records at or below a starting checkpoint are dropped (`skip_through`): a worker that
//!   resumes from a checkpoint inside an aggregate re-reads the aggregate and delivers only
//!   the sub-records after the checkpoint.

use crate::sequence::ExtendedSequenceNumber;
use bytes::Bytes;
use rill_engine::api::{HashKey, HashKeyRange, Record, Timestamp, agg};

/// One user record delivered to a [`RecordProcessor`](crate::RecordProcessor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisClientRecord {
    /// Sequence number of the Kinesis record that carried it.
    pub sequence_number: String,
    /// Index inside the KPL aggregate; 0 for a plain record.
    pub sub_sequence_number: u64,
    /// Partition key (of the user record when aggregated).
    pub partition_key: String,
    /// Explicit hash key of the user record, if it had one.
    pub explicit_hash_key: Option<String>,
    /// The payload.
    pub data: Bytes,
    /// When Kinesis accepted the carrying record.
    pub approximate_arrival_timestamp: Option<Timestamp>,
    /// Whether the record came out of a KPL aggregate.
    pub aggregated: bool,
}

impl KinesisClientRecord {
    /// The record's position, for checkpoints.
    pub fn extended_sequence_number(&self) -> ExtendedSequenceNumber {
        ExtendedSequenceNumber::new(self.sequence_number.clone(), self.sub_sequence_number)
    }
}

/// Turns GetRecords' records into user records (see the module docs), appending to `out`.
/// Returns how many sub-records were dropped for being outside `range`.
pub(crate) fn convert(
    records: Vec<Record>,
    range: Option<HashKeyRange>,
    skip_through: Option<&ExtendedSequenceNumber>,
    out: &mut Vec<KinesisClientRecord>,
) -> usize {
    let mut dropped = 0;
    for r in records {
        let whole = ExtendedSequenceNumber::new(r.sequence_number.as_str(), u64::MAX);
        if let Some(skip) = skip_through
            && whole <= *skip
        {
            continue;
        }
        if !agg::is_aggregated(&r.data) {
            let rec = KinesisClientRecord {
                sequence_number: r.sequence_number,
                sub_sequence_number: 0,
                partition_key: r.partition_key,
                explicit_hash_key: None,
                data: r.data,
                approximate_arrival_timestamp: r.approximate_arrival_timestamp,
                aggregated: false,
            };
            if skip_through.is_some_and(|s| rec.extended_sequence_number() <= *s) {
                continue;
            }
            out.push(rec);
            continue;
        }
        let subs = agg::deaggregate(&r.partition_key, None, r.data.clone());
        // A blob that was not a well-formed aggregate comes back as itself.
        let aggregated = !(subs.len() == 1 && subs[0].data == r.data);
        for (i, u) in subs.into_iter().enumerate() {
            let sub = i as u64;
            if let Some(skip) = skip_through
                && ExtendedSequenceNumber::new(r.sequence_number.as_str(), sub) <= *skip
            {
                continue;
            }
            if aggregated && let Some(range) = range {
                let key = match u.explicit_hash_key.as_deref() {
                    Some(e) => e.parse::<HashKey>().ok(),
                    None => Some(HashKey::from_partition_key(&u.partition_key)),
                };
                if !key.is_some_and(|k| range.contains(k)) {
                    dropped += 1;
                    continue;
                }
            }
            out.push(KinesisClientRecord {
                sequence_number: r.sequence_number.clone(),
                sub_sequence_number: sub,
                partition_key: u.partition_key,
                explicit_hash_key: u.explicit_hash_key,
                data: u.data,
                approximate_arrival_timestamp: r.approximate_arrival_timestamp,
                aggregated,
            });
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_engine::api::agg::{UserRecord, encode};

    fn rec(seq: &str, data: Vec<u8>) -> Record {
        Record {
            sequence_number: seq.into(),
            data: Bytes::from(data),
            partition_key: "outer".into(),
            ..Default::default()
        }
    }

    fn user(pk: &str, ehk: Option<&str>, data: &str) -> UserRecord {
        UserRecord {
            partition_key: pk.into(),
            explicit_hash_key: ehk.map(Into::into),
            data: Bytes::copy_from_slice(data.as_bytes()),
        }
    }

    #[test]
    fn plain_and_aggregated() {
        let blob = encode(&[user("a", None, "x"), user("b", None, "y")]);
        let mut out = Vec::new();
        let dropped = convert(
            vec![rec("1", b"plain".to_vec()), rec("2", blob)],
            None,
            None,
            &mut out,
        );
        assert_eq!(dropped, 0);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].sub_sequence_number, out[0].aggregated), (0, false));
        assert_eq!(out[1].partition_key, "a");
        assert_eq!((out[2].sub_sequence_number, out[2].aggregated), (1, true));
        assert_eq!(&out[2].data[..], b"y");
    }

    #[test]
    fn drops_outside_range_and_at_or_below_checkpoint() {
        let half = HashKeyRange::split_evenly(2)[0];
        let blob = encode(&[
            user("a", Some("5"), "in0"),
            user("b", Some(&HashKey::MAX.to_string()), "out1"),
            user("c", Some("7"), "in2"),
        ]);
        let mut out = Vec::new();
        let dropped = convert(vec![rec("9", blob.clone())], Some(half), None, &mut out);
        assert_eq!(dropped, 1);
        let subs: Vec<u64> = out.iter().map(|r| r.sub_sequence_number).collect();
        assert_eq!(subs, vec![0, 2]);

        let mut out = Vec::new();
        let skip = ExtendedSequenceNumber::new("9", 0);
        convert(
            vec![rec("8", b"old".to_vec()), rec("9", blob)],
            None,
            Some(&skip),
            &mut out,
        );
        let subs: Vec<u64> = out.iter().map(|r| r.sub_sequence_number).collect();
        assert_eq!(subs, vec![1, 2]);
    }
}
