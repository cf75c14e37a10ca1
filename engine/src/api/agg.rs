//! The KPL aggregated record: many user records packed into one Kinesis record.
//!
//! The Kinesis Producer Library (KPL) packs user records bound for one shard into a single
//! Kinesis record; the Kinesis Client Library (KCL) unpacks them. This module is that codec,
//! byte-compatible with the KPL, the KCL and `aws_kinesis_agg` (the reference test vectors,
//! made by `aws_kinesis_agg` 1.2.3, are checked in its tests).
//!
//! # Layout
//!
//! ```text
//! +-------------+----------------------------+-------------------------------+
//! | F3 89 9A C2 | protobuf(AggregatedRecord) | MD5 of the protobuf, 16 bytes |
//! +-------------+----------------------------+-------------------------------+
//! ```
//!
//! The protobuf body is proto2:
//!
//! ```text
//! message AggregatedRecord {
//!   repeated string partition_key_table     = 1;
//!   repeated string explicit_hash_key_table = 2;
//!   repeated Record records                 = 3;
//! }
//! message Record {
//!   required uint64 partition_key_index     = 1;
//!   optional uint64 explicit_hash_key_index = 2;
//!   required bytes  data                    = 3;
//!   repeated Tag    tags                    = 4;
//! }
//! message Tag {
//!   required string key   = 1;
//!   optional string value = 2;
//! }
//! ```
//!
//! The messages are derived by hand with `prost` (no `protoc`, no build script). Required
//! fields are declared `optional` in the Rust structs so that the decoder can tell a missing
//! field from a zero one; the encoder always sets them, which puts the same bytes on the wire
//! as proto2 `required` does.
//!
//! # Invariants
//!
//! * **Encoding is canonical.** [`encode`] builds each key table from the records' keys in
//!   order of first appearance, without duplicates, exactly as the KPL does. Every record
//!   writes its partition key index and its data, even when the index is 0 and the data is
//!   empty, and writes an explicit hash key index only if it has an explicit hash key. Fields
//!   go out in tag order. For the same records the output is byte-identical to the reference.
//! * **What counts as an aggregate.** A blob is an aggregate only if it starts with the magic,
//!   is longer than 20 bytes (magic and digest with at least one byte of body between them:
//!   the KCL and `aws_kinesis_agg` treat a 20-byte blob as a plain record), its last 16 bytes
//!   are the MD5 of the body, and the body parses as an `AggregatedRecord` with every required
//!   field present, tags included. Anything else is a plain record that happens to start with
//!   those bytes, and [`deaggregate`] hands it over unchanged. So [`encode`] of no records
//!   makes a blob that consumers read as one plain record: never aggregate zero records.
//! * **Keys are decoded leniently.** A key that is not valid UTF-8 is decoded with U+FFFD
//!   replacement characters instead of failing the whole aggregate, as the Java KCL does.
//!   Tags are parsed (their required key is checked) and then dropped.
//! * **Bad key indexes.** A sub-record whose key index lies outside its table makes [`decode`]
//!   fail with [`AggError::KeyIndexOutOfRange`]. [`deaggregate`] behaves like the KCL: the
//!   checksum proved the blob is an aggregate, so it keeps the sub-records before the bad one,
//!   logs an error and drops the rest, rather than delivering the container as a record.
//! * **Order.** Sub-records come out in the order they were packed; the i-th has
//!   sub-sequence number i.
//! * **No copies of payloads.** [`deaggregate`] slices each sub-record's data out of the
//!   blob's [`Bytes`]; [`decode`] copies the body once and slices from that copy.
//!
//! The container's own partition key and explicit hash key, the 1 MiB record limit and the
//! rule that a one-record container goes out as a plain record belong to the producer;
//! dropping sub-records outside the shard's hash key range belongs to the consumer.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use md5::{Digest, Md5};
use prost::Message;

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// The length of the MD5 digest that ends every aggregated record.
pub const DIGEST_LEN: usize = 16;

/// The bytes an aggregated record adds around its protobuf body: the magic and the digest.
pub const OVERHEAD: usize = MAGIC.len() + DIGEST_LEN;

/// A user record: one record as the application put it, before aggregation or after
/// deaggregation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRecord {
    /// The record's partition key.
    pub partition_key: String,
    /// The record's explicit hash key (a decimal 128-bit integer), if it has one.
    pub explicit_hash_key: Option<String>,
    /// The record's payload.
    pub data: Bytes,
}

/// Which key table of an aggregated record a key index refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyTable {
    /// `partition_key_table`, referred to by `partition_key_index`.
    PartitionKey,
    /// `explicit_hash_key_table`, referred to by `explicit_hash_key_index`.
    ExplicitHashKey,
}

impl fmt::Display for KeyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyTable::PartitionKey => "partition key",
            KeyTable::ExplicitHashKey => "explicit hash key",
        })
    }
}

/// Why a blob could not be decoded as an aggregated record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggError {
    /// The blob does not start with [`MAGIC`]: it is a plain record.
    #[error("not an aggregated record: the blob does not start with the magic F3 89 9A C2")]
    NotAggregated,
    /// The blob starts with [`MAGIC`] but has no room for a body between it and the digest.
    #[error(
        "aggregated record of {len} bytes is too short: it needs more than {OVERHEAD} bytes \
         (magic, protobuf body, 16-byte MD5)"
    )]
    TooShort {
        /// The blob's length in bytes.
        len: usize,
    },
    /// The last 16 bytes are not the MD5 digest of the protobuf body.
    #[error("aggregated record checksum mismatch: the trailing MD5 does not match the body")]
    ChecksumMismatch,
    /// The body is not a valid `AggregatedRecord` protobuf.
    #[error("aggregated record body is not a valid AggregatedRecord protobuf")]
    Protobuf(#[from] prost::DecodeError),
    /// The body parses but lacks a proto2 `required` field.
    #[error("aggregated record body lacks the required field {message}.{field}")]
    MissingField {
        /// The message type missing the field (`Record` or `Tag`).
        message: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A sub-record refers to a key past the end of its key table.
    #[error("sub-record {record} refers to {table} key {index}, but the table holds {len} keys")]
    KeyIndexOutOfRange {
        /// The sub-record's position in the aggregate, from 0.
        record: usize,
        /// The table the index refers to.
        table: KeyTable,
        /// The out-of-range index.
        index: u64,
        /// The number of keys in the table.
        len: usize,
    },
}

/// Whether `blob` starts with the aggregated-record magic.
///
/// This checks the magic only: a blob for which it returns `true` may still fail the length,
/// checksum or protobuf checks, and then it is a plain record (see [`deaggregate`]).
pub fn is_aggregated(blob: &[u8]) -> bool {
    blob.starts_with(&MAGIC)
}

/// Packs `records` into one aggregated record, byte-identical to what the KPL and
/// `aws_kinesis_agg` produce for the same records in the same order.
///
/// Key tables list each distinct key once, in order of first appearance. The caller picks
/// the container's partition key and explicit hash key and keeps it under the 1 MiB record
/// limit. An empty `records` gives a 20-byte blob that consumers read as a plain record, not
/// as an empty aggregate.
pub fn encode(records: &[UserRecord]) -> Vec<u8> {
    let mut partition_keys = KeyTableBuilder::default();
    let mut explicit_hash_keys = KeyTableBuilder::default();
    let records = records
        .iter()
        .map(|r| wire::Record {
            partition_key_index: Some(partition_keys.index_of(&r.partition_key)),
            explicit_hash_key_index: r
                .explicit_hash_key
                .as_deref()
                .map(|k| explicit_hash_keys.index_of(k)),
            data: Some(r.data.clone()),
            tags: Vec::new(),
        })
        .collect();
    let message = wire::AggregatedRecord {
        partition_key_table: partition_keys.table,
        explicit_hash_key_table: explicit_hash_keys.table,
        records,
    };
    frame_body(&[&message.encode_to_vec()])
}

/// Frames a protobuf `AggregatedRecord` body given in consecutive pieces: the magic, the
/// pieces, then the MD5 of the body. [`encode`] uses it with the whole body; an encoder that
/// builds the body incrementally (the key tables apart from the records, as the producer
/// does) hands over its pieces in wire order and gets the same bytes.
pub fn frame_body(pieces: &[&[u8]]) -> Vec<u8> {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    let mut blob = Vec::with_capacity(OVERHEAD + len);
    blob.extend_from_slice(&MAGIC);
    let mut md5 = Md5::new();
    for piece in pieces {
        blob.extend_from_slice(piece);
        md5.update(piece);
    }
    blob.extend_from_slice(&md5.finalize());
    blob
}

/// Unpacks an aggregated record into its user records, in the order they were packed.
///
/// Fails if `blob` is not a well-formed aggregate (see the module docs for what that means)
/// or if a sub-record refers to a key that is not in its table. Consumers that must follow
/// the KCL's rules for malformed blobs use [`deaggregate`] instead.
pub fn decode(blob: &[u8]) -> Result<Vec<UserRecord>, AggError> {
    let body = frame(blob)?;
    Parsed::decode(Bytes::copy_from_slice(&blob[body]))?
        .into_user_records()
        .collect()
}

/// The consumer's rule for a record read from a stream: its user records if it is an
/// aggregate, otherwise the record itself.
///
/// `partition_key` and `explicit_hash_key` are the Kinesis record's own keys; they are given
/// to the record that comes back when `blob` is not an aggregate, or has a bad checksum, or
/// does not parse. Otherwise the sub-records come back in order, their data sliced out of
/// `blob` without copying. If a sub-record's key index is out of range, the sub-records
/// before it come back and the rest are dropped with an error logged, as the KCL does. An
/// aggregate that holds no records gives an empty `Vec`.
pub fn deaggregate(
    partition_key: &str,
    explicit_hash_key: Option<&str>,
    blob: Bytes,
) -> Vec<UserRecord> {
    let parsed = match frame(&blob).and_then(|body| Parsed::decode(blob.slice(body))) {
        Ok(parsed) => parsed,
        Err(_) => {
            return vec![UserRecord {
                partition_key: partition_key.to_owned(),
                explicit_hash_key: explicit_hash_key.map(str::to_owned),
                data: blob,
            }];
        }
    };
    let mut records = Vec::with_capacity(parsed.records.len());
    for record in parsed.into_user_records() {
        match record {
            Ok(record) => records.push(record),
            Err(error) => {
                tracing::error!(
                    %error,
                    partition_key,
                    kept = records.len(),
                    "dropping the rest of a malformed KPL aggregated record"
                );
                break;
            }
        }
    }
    records
}

/// Checks the magic, the length and the checksum of `blob`, and returns the range of its
/// protobuf body.
fn frame(blob: &[u8]) -> Result<Range<usize>, AggError> {
    if !is_aggregated(blob) {
        return Err(AggError::NotAggregated);
    }
    if blob.len() <= OVERHEAD {
        return Err(AggError::TooShort { len: blob.len() });
    }
    let body = MAGIC.len()..blob.len() - DIGEST_LEN;
    if Md5::digest(&blob[body.clone()]).as_slice() != &blob[body.end..] {
        return Err(AggError::ChecksumMismatch);
    }
    Ok(body)
}

/// Assigns indexes to keys in order of first appearance.
#[derive(Default)]
struct KeyTableBuilder<'a> {
    /// Each key's index in `table`.
    index: HashMap<&'a str, u64>,
    /// The keys, in order of first appearance, as they go on the wire.
    table: Vec<Vec<u8>>,
}

impl<'a> KeyTableBuilder<'a> {
    /// The index of `key`, appending it to the table if it is new.
    fn index_of(&mut self, key: &'a str) -> u64 {
        *self.index.entry(key).or_insert_with(|| {
            self.table.push(key.as_bytes().to_vec());
            (self.table.len() - 1) as u64
        })
    }
}

/// An aggregate body that parsed with every required field present; key indexes not yet
/// checked.
struct Parsed {
    /// The partition key table.
    partition_keys: Vec<String>,
    /// The explicit hash key table.
    explicit_hash_keys: Vec<String>,
    /// The sub-records, in order.
    records: Vec<SubRecord>,
}

/// A sub-record whose required fields are present.
struct SubRecord {
    /// Index into the partition key table.
    partition_key_index: u64,
    /// Index into the explicit hash key table, if the record has an explicit hash key.
    explicit_hash_key_index: Option<u64>,
    /// The payload.
    data: Bytes,
}

impl Parsed {
    /// Parses a body and checks its required fields. When `body` is a slice of a larger
    /// `Bytes`, the sub-records' data are slices of it too.
    fn decode(body: Bytes) -> Result<Self, AggError> {
        let message = wire::AggregatedRecord::decode(body)?;
        let records = message
            .records
            .into_iter()
            .map(|r| {
                if r.tags.iter().any(|tag| tag.key.is_none()) {
                    return Err(missing("Tag", "key"));
                }
                Ok(SubRecord {
                    partition_key_index: r
                        .partition_key_index
                        .ok_or_else(|| missing("Record", "partition_key_index"))?,
                    explicit_hash_key_index: r.explicit_hash_key_index,
                    data: r.data.ok_or_else(|| missing("Record", "data"))?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Parsed {
            partition_keys: message.partition_key_table.into_iter().map(lossy).collect(),
            explicit_hash_keys: message
                .explicit_hash_key_table
                .into_iter()
                .map(lossy)
                .collect(),
            records,
        })
    }

    /// The user records in order, each resolved against the key tables.
    fn into_user_records(self) -> impl Iterator<Item = Result<UserRecord, AggError>> {
        let Parsed {
            partition_keys,
            explicit_hash_keys,
            records,
        } = self;
        records.into_iter().enumerate().map(move |(i, r)| {
            let partition_key = lookup(
                &partition_keys,
                KeyTable::PartitionKey,
                i,
                r.partition_key_index,
            )?;
            let explicit_hash_key = r
                .explicit_hash_key_index
                .map(|index| lookup(&explicit_hash_keys, KeyTable::ExplicitHashKey, i, index))
                .transpose()?;
            Ok(UserRecord {
                partition_key,
                explicit_hash_key,
                data: r.data,
            })
        })
    }
}

/// The error for a missing required field.
fn missing(message: &'static str, field: &'static str) -> AggError {
    AggError::MissingField { message, field }
}

/// The key at `index` of `keys`, for sub-record `record`.
fn lookup(keys: &[String], table: KeyTable, record: usize, index: u64) -> Result<String, AggError> {
    usize::try_from(index)
        .ok()
        .and_then(|i| keys.get(i))
        .cloned()
        .ok_or(AggError::KeyIndexOutOfRange {
            record,
            table,
            index,
            len: keys.len(),
        })
}

/// An aggregate's protobuf body built one user record at a time, for a producer that must
/// know, before adding a record, whether the aggregate would still fit.
///
/// The body is kept in its three parts in wire order: the partition key table, the explicit
/// hash key table, the records ([`take_pieces`](Self::take_pieces) hands them over for
/// [`frame_body`]). The caller keeps the key tables' indexes: it pushes each distinct key once,
/// in order of first appearance, and each record with the indexes of its keys. Doing so gives
/// exactly the bytes of [`encode`] for the same records. The encoding is prost's
/// (`prost::encoding`), the same as the messages [`decode`] reads.
///
/// ```
/// use rill_engine::api::agg::{self, BodyBuilder, UserRecord};
///
/// let mut body = BodyBuilder::default();
/// body.push_partition_key("k");
/// let before = body.len();
/// body.push_record(0, None, b"one");
/// assert_eq!(body.len() - before, BodyBuilder::record_entry_len(0, None, 3));
/// body.push_record(0, None, b"two");
/// let [keys, hash_keys, records] = body.take_pieces();
/// let blob = agg::frame_body(&[&keys, &hash_keys, &records]);
/// let record = |d: &'static [u8]| UserRecord {
///     partition_key: "k".into(),
///     explicit_hash_key: None,
///     data: bytes::Bytes::from_static(d),
/// };
/// assert_eq!(blob, agg::encode(&[record(b"one"), record(b"two")]));
/// ```
#[derive(Debug, Default, Clone)]
pub struct BodyBuilder {
    /// `partition_key_table` entries, encoded.
    partition_keys: Vec<u8>,
    /// `explicit_hash_key_table` entries, encoded.
    explicit_hash_keys: Vec<u8>,
    /// `records` entries, encoded.
    records: Vec<u8>,
}

/// Field numbers of `AggregatedRecord` and `Record` (see the module docs).
mod field {
    pub(super) const PARTITION_KEY_TABLE: u32 = 1;
    pub(super) const EXPLICIT_HASH_KEY_TABLE: u32 = 2;
    pub(super) const RECORDS: u32 = 3;
    pub(super) const PARTITION_KEY_INDEX: u32 = 1;
    pub(super) const EXPLICIT_HASH_KEY_INDEX: u32 = 2;
    pub(super) const DATA: u32 = 3;
}

/// Bytes a length-delimited field of `len` bytes takes.
fn delimited_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Appends a length-delimited field.
fn put_delimited(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    prost::encoding::encode_key(tag, prost::encoding::WireType::LengthDelimited, out);
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Length of a `Record` message (without its own key and length).
fn record_len(
    partition_key_index: u64,
    explicit_hash_key_index: Option<u64>,
    data: usize,
) -> usize {
    use prost::encoding::uint64;
    uint64::encoded_len(field::PARTITION_KEY_INDEX, &partition_key_index)
        + explicit_hash_key_index.map_or(0, |i| {
            uint64::encoded_len(field::EXPLICIT_HASH_KEY_INDEX, &i)
        })
        + delimited_len(field::DATA, data)
}

impl BodyBuilder {
    /// Length of the body so far (without the magic and the digest: add [`OVERHEAD`]).
    pub fn len(&self) -> usize {
        self.partition_keys.len() + self.explicit_hash_keys.len() + self.records.len()
    }

    /// Whether nothing was pushed since the last [`clear`](Self::clear) or
    /// [`take_pieces`](Self::take_pieces).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes a key table entry for a key of `len` bytes adds to the body.
    pub fn key_entry_len(len: usize) -> usize {
        delimited_len(field::PARTITION_KEY_TABLE, len)
    }

    /// Bytes a record entry with these key indexes and `data_len` bytes of data adds.
    pub fn record_entry_len(
        partition_key_index: u64,
        explicit_hash_key_index: Option<u64>,
        data_len: usize,
    ) -> usize {
        delimited_len(
            field::RECORDS,
            record_len(partition_key_index, explicit_hash_key_index, data_len),
        )
    }

    /// Appends a partition key to its table (its index is the number pushed before it).
    pub fn push_partition_key(&mut self, key: &str) {
        put_delimited(
            &mut self.partition_keys,
            field::PARTITION_KEY_TABLE,
            key.as_bytes(),
        );
    }

    /// Appends an explicit hash key to its table (its index is the number pushed before it).
    pub fn push_explicit_hash_key(&mut self, key: &str) {
        put_delimited(
            &mut self.explicit_hash_keys,
            field::EXPLICIT_HASH_KEY_TABLE,
            key.as_bytes(),
        );
    }

    /// Appends a record whose keys are at these indexes of the tables.
    pub fn push_record(
        &mut self,
        partition_key_index: u64,
        explicit_hash_key_index: Option<u64>,
        data: &[u8],
    ) {
        use prost::encoding::{WireType, encode_key, encode_varint, uint64};
        let out = &mut self.records;
        encode_key(field::RECORDS, WireType::LengthDelimited, out);
        let len = record_len(partition_key_index, explicit_hash_key_index, data.len());
        encode_varint(len as u64, out);
        uint64::encode(field::PARTITION_KEY_INDEX, &partition_key_index, out);
        if let Some(i) = explicit_hash_key_index {
            uint64::encode(field::EXPLICIT_HASH_KEY_INDEX, &i, out);
        }
        put_delimited(out, field::DATA, data);
    }

    /// Empties the builder, keeping its buffers.
    pub fn clear(&mut self) {
        self.partition_keys.clear();
        self.explicit_hash_keys.clear();
        self.records.clear();
    }

    /// The body's three parts in wire order (partition key table, explicit hash key table,
    /// records), leaving the builder empty with buffers as large as those handed over (the
    /// next aggregate likely needs as much room).
    pub fn take_pieces(&mut self) -> [Vec<u8>; 3] {
        let take = |v: &mut Vec<u8>| {
            let room = v.len();
            std::mem::replace(v, Vec::with_capacity(room))
        };
        [
            take(&mut self.partition_keys),
            take(&mut self.explicit_hash_keys),
            take(&mut self.records),
        ]
    }
}

/// A key from the wire as a string, invalid UTF-8 replaced by U+FFFD.
fn lossy(key: Vec<u8>) -> String {
    String::from_utf8(key).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The protobuf messages as they are on the wire.
///
/// Strings are declared as `bytes` (the same wire type) so that a key that is not valid UTF-8
/// does not fail the whole aggregate, and proto2 `required` fields are declared `optional` so
/// that a missing one can be told from a zero one. The encoder always sets the required
/// fields, so the bytes it writes are those of the proto2 schema in the module docs.
mod wire {
    use bytes::Bytes;

    /// `AggregatedRecord`: the key tables and the records.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(super) struct AggregatedRecord {
        /// `repeated string partition_key_table = 1`.
        #[prost(bytes = "vec", repeated, tag = "1")]
        pub(super) partition_key_table: Vec<Vec<u8>>,
        /// `repeated string explicit_hash_key_table = 2`.
        #[prost(bytes = "vec", repeated, tag = "2")]
        pub(super) explicit_hash_key_table: Vec<Vec<u8>>,
        /// `repeated Record records = 3`.
        #[prost(message, repeated, tag = "3")]
        pub(super) records: Vec<Record>,
    }

    /// `Record`: one user record.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(super) struct Record {
        /// `required uint64 partition_key_index = 1`.
        #[prost(uint64, optional, tag = "1")]
        pub(super) partition_key_index: Option<u64>,
        /// `optional uint64 explicit_hash_key_index = 2`.
        #[prost(uint64, optional, tag = "2")]
        pub(super) explicit_hash_key_index: Option<u64>,
        /// `required bytes data = 3`.
        #[prost(bytes = "bytes", optional, tag = "3")]
        pub(super) data: Option<Bytes>,
        /// `repeated Tag tags = 4`.
        #[prost(message, repeated, tag = "4")]
        pub(super) tags: Vec<Tag>,
    }

    /// `Tag`: a key and an optional value attached to a record; read and dropped.
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub(super) struct Tag {
        /// `required string key = 1`.
        #[prost(bytes = "vec", optional, tag = "1")]
        pub(super) key: Option<Vec<u8>>,
        /// `optional string value = 2`.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub(super) value: Option<Vec<u8>>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The reference vectors, copied from `shared/testdata/kpl_aggregates.json`.
    const VECTORS: &str = include_str!("../../tests/data/kpl_aggregates.json");

    struct Vector {
        name: String,
        records: Vec<UserRecord>,
        aggregate: Vec<u8>,
        container_partition_key: String,
        container_explicit_hash_key: Option<String>,
    }

    fn unhex(s: &str) -> Result<Vec<u8>, std::num::ParseIntError> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16))
            .collect()
    }

    fn str_field(v: &serde_json::Value, key: &str) -> Result<String, String> {
        v[key]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("missing string {key}"))
    }

    fn opt_str_field(v: &serde_json::Value, key: &str) -> Option<String> {
        v[key].as_str().map(str::to_owned)
    }

    fn vectors() -> Result<Vec<Vector>, Box<dyn std::error::Error>> {
        let json: serde_json::Value = serde_json::from_str(VECTORS)?;
        let mut out = Vec::new();
        for v in json["vectors"].as_array().ok_or("no vectors")? {
            let mut records = Vec::new();
            for r in v["records"].as_array().ok_or("no records")? {
                records.push(UserRecord {
                    partition_key: str_field(r, "partition_key")?,
                    explicit_hash_key: opt_str_field(r, "explicit_hash_key"),
                    data: Bytes::from(unhex(&str_field(r, "data_hex")?)?),
                });
            }
            out.push(Vector {
                name: str_field(v, "name")?,
                records,
                aggregate: unhex(&str_field(v, "aggregate_hex")?)?,
                container_partition_key: str_field(v, "container_partition_key")?,
                container_explicit_hash_key: opt_str_field(v, "container_explicit_hash_key"),
            });
        }
        assert!(
            out.len() >= 4,
            "expected the reference vectors, got {}",
            out.len()
        );
        Ok(out)
    }

    /// Wraps `body` in magic and checksum.
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut blob = MAGIC.to_vec();
        blob.extend_from_slice(body);
        blob.extend_from_slice(&Md5::digest(body));
        blob
    }

    fn record(pk: &str, ehk: Option<&str>, data: &'static [u8]) -> UserRecord {
        UserRecord {
            partition_key: pk.to_owned(),
            explicit_hash_key: ehk.map(str::to_owned),
            data: Bytes::from_static(data),
        }
    }

    fn wire_record(pk: Option<u64>, ehk: Option<u64>, data: Option<&'static [u8]>) -> wire::Record {
        wire::Record {
            partition_key_index: pk,
            explicit_hash_key_index: ehk,
            data: data.map(Bytes::from_static),
            tags: Vec::new(),
        }
    }

    fn passthrough(blob: &[u8]) -> Vec<UserRecord> {
        vec![UserRecord {
            partition_key: "container".to_owned(),
            explicit_hash_key: Some("42".to_owned()),
            data: Bytes::copy_from_slice(blob),
        }]
    }

    fn deagg(blob: &[u8]) -> Vec<UserRecord> {
        deaggregate("container", Some("42"), Bytes::copy_from_slice(blob))
    }

    #[test]
    fn reference_vectors_decode_to_their_records() -> TestResult {
        for v in vectors()? {
            assert!(is_aggregated(&v.aggregate), "{}", v.name);
            assert_eq!(decode(&v.aggregate)?, v.records, "{}", v.name);
            let deaggregated = deaggregate(
                &v.container_partition_key,
                v.container_explicit_hash_key.as_deref(),
                Bytes::from(v.aggregate.clone()),
            );
            assert_eq!(deaggregated, v.records, "{}", v.name);
        }
        Ok(())
    }

    #[test]
    fn encode_is_byte_identical_to_the_reference() -> TestResult {
        for v in vectors()? {
            assert_eq!(encode(&v.records), v.aggregate, "{}", v.name);
        }
        Ok(())
    }

    #[test]
    fn a_flipped_byte_makes_the_blob_a_plain_record() -> TestResult {
        for v in vectors()? {
            let len = v.aggregate.len();
            let cases = [
                ("magic", 0, "NotAggregated"),
                (
                    "protobuf",
                    MAGIC.len() + (len - OVERHEAD) / 2,
                    "ChecksumMismatch",
                ),
                ("checksum", len - 1, "ChecksumMismatch"),
            ];
            for (what, at, expected) in cases {
                let mut blob = v.aggregate.clone();
                blob[at] ^= 0x01;
                let err = decode(&blob).expect_err("a flipped byte must not decode");
                assert!(
                    format!("{err:?}").starts_with(expected),
                    "{}: flipped {what}: {err:?}",
                    v.name
                );
                assert_eq!(
                    deagg(&blob),
                    passthrough(&blob),
                    "{}: flipped {what}",
                    v.name
                );
            }
        }
        Ok(())
    }

    #[test]
    fn plain_and_short_blobs_are_plain_records() {
        for blob in [&b""[..], b"hello", &MAGIC[..3]] {
            assert!(matches!(decode(blob), Err(AggError::NotAggregated)));
            assert_eq!(deagg(blob), passthrough(blob));
        }
        // Magic and a digest with no body between them: the KCL and aws_kinesis_agg both
        // treat this as a plain record.
        let empty_body = framed(b"");
        for blob in [&MAGIC[..], &empty_body[..]] {
            assert!(matches!(decode(blob), Err(AggError::TooShort { len }) if len == blob.len()));
            assert_eq!(deagg(blob), passthrough(blob));
        }
        assert_eq!(encode(&[]), empty_body);
    }

    #[test]
    fn a_body_that_does_not_parse_is_a_plain_record() {
        // Field 1, length-delimited, claims 127 bytes that are not there; the checksum is right.
        let blob = framed(&[0x0a, 0x7f, b'a']);
        assert!(matches!(decode(&blob), Err(AggError::Protobuf(_))));
        assert_eq!(deagg(&blob), passthrough(&blob));
    }

    #[test]
    fn a_missing_required_field_is_a_plain_record() {
        let tagless_key = wire::Record {
            tags: vec![wire::Tag {
                key: None,
                value: Some(b"v".to_vec()),
            }],
            ..wire_record(Some(0), None, Some(b"x"))
        };
        let cases = [
            (
                wire_record(None, None, Some(b"x")),
                "Record",
                "partition_key_index",
            ),
            (wire_record(Some(0), None, None), "Record", "data"),
            (tagless_key, "Tag", "key"),
        ];
        for (bad, message, field) in cases {
            let body = wire::AggregatedRecord {
                partition_key_table: vec![b"a".to_vec()],
                explicit_hash_key_table: Vec::new(),
                records: vec![wire_record(Some(0), None, Some(b"ok")), bad],
            }
            .encode_to_vec();
            let blob = framed(&body);
            match decode(&blob) {
                Err(AggError::MissingField {
                    message: m,
                    field: f,
                }) => {
                    assert_eq!((m, f), (message, field));
                }
                other => panic!("{message}.{field}: expected MissingField, got {other:?}"),
            }
            assert_eq!(deagg(&blob), passthrough(&blob), "{message}.{field}");
        }
    }

    #[test]
    fn key_index_out_of_range_is_an_error() {
        let cases = [
            (
                wire_record(Some(1), None, Some(b"y")),
                KeyTable::PartitionKey,
                1,
                1,
            ),
            (
                wire_record(Some(0), Some(0), Some(b"y")),
                KeyTable::ExplicitHashKey,
                0,
                0,
            ),
            (
                wire_record(Some(u64::MAX), None, Some(b"y")),
                KeyTable::PartitionKey,
                u64::MAX,
                1,
            ),
        ];
        for (bad, table, index, len) in cases {
            let body = wire::AggregatedRecord {
                partition_key_table: vec![b"a".to_vec()],
                explicit_hash_key_table: Vec::new(),
                records: vec![
                    wire_record(Some(0), None, Some(b"x")),
                    bad,
                    wire_record(Some(0), None, Some(b"z")),
                ],
            }
            .encode_to_vec();
            let blob = framed(&body);
            match decode(&blob) {
                Err(AggError::KeyIndexOutOfRange {
                    record,
                    table: t,
                    index: i,
                    len: l,
                }) => {
                    assert_eq!((record, t, i, l), (1, table, index, len));
                }
                other => panic!("expected KeyIndexOutOfRange, got {other:?}"),
            }
            // As the KCL does: the records before the bad one, then nothing.
            assert_eq!(deagg(&blob), vec![record("a", None, b"x")]);
        }
    }

    #[test]
    fn tags_are_accepted_and_dropped() -> TestResult {
        let tagged = wire::Record {
            tags: vec![
                wire::Tag {
                    key: Some(b"k".to_vec()),
                    value: None,
                },
                wire::Tag {
                    key: Some(b"k2".to_vec()),
                    value: Some(b"v".to_vec()),
                },
            ],
            ..wire_record(Some(0), Some(0), Some(b"x"))
        };
        let body = wire::AggregatedRecord {
            partition_key_table: vec![b"a".to_vec()],
            explicit_hash_key_table: vec![b"7".to_vec()],
            records: vec![tagged],
        }
        .encode_to_vec();
        assert_eq!(decode(&framed(&body))?, vec![record("a", Some("7"), b"x")]);
        Ok(())
    }

    #[test]
    fn invalid_utf8_keys_are_decoded_lossily() -> TestResult {
        let body = wire::AggregatedRecord {
            partition_key_table: vec![vec![0xff, b'a']],
            explicit_hash_key_table: Vec::new(),
            records: vec![wire_record(Some(0), None, Some(b"x"))],
        }
        .encode_to_vec();
        assert_eq!(
            decode(&framed(&body))?,
            vec![record("\u{FFFD}a", None, b"x")]
        );
        Ok(())
    }

    #[test]
    fn an_aggregate_of_no_records_deaggregates_to_nothing() -> TestResult {
        let body = wire::AggregatedRecord {
            partition_key_table: vec![b"a".to_vec()],
            ..Default::default()
        }
        .encode_to_vec();
        let blob = framed(&body);
        assert_eq!(decode(&blob)?, Vec::new());
        assert_eq!(deagg(&blob), Vec::new());
        Ok(())
    }

    #[test]
    fn deaggregate_does_not_copy_payloads() -> TestResult {
        let records = vec![record("a", None, b"hello"), record("b", None, b"world")];
        let blob = Bytes::from(encode(&records));
        let range = blob.as_ptr_range();
        let out = deaggregate("a", None, blob.clone());
        assert_eq!(out, records);
        for r in &out {
            assert!(range.contains(&r.data.as_ptr()), "{r:?} was copied");
        }
        Ok(())
    }

    fn user_record() -> impl Strategy<Value = UserRecord> {
        // A few fixed keys so that tables get duplicates, plus arbitrary ones.
        let partition_key = prop_oneof![
            prop::sample::select(vec!["a", "b", "ключ", ""]).prop_map(str::to_owned),
            any::<String>(),
        ];
        let explicit_hash_key = prop::option::of(prop_oneof![
            prop::sample::select(vec!["0", "1", "340282366920938463463374607431768211455"])
                .prop_map(str::to_owned),
            "[1-9][0-9]{0,38}",
        ]);
        let data = prop::collection::vec(any::<u8>(), 0..64);
        (partition_key, explicit_hash_key, data).prop_map(
            |(partition_key, explicit_hash_key, data)| UserRecord {
                partition_key,
                explicit_hash_key,
                data: Bytes::from(data),
            },
        )
    }

    /// Distinct items in order of first appearance.
    fn first_appearances<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
        let mut seen = Vec::<&str>::new();
        for k in keys {
            if !seen.contains(&k) {
                seen.push(k);
            }
        }
        seen.into_iter().map(|k| k.as_bytes().to_vec()).collect()
    }

    proptest! {
        #[test]
        fn round_trip(records in prop::collection::vec(user_record(), 1..24)) {
            let blob = encode(&records);
            prop_assert!(is_aggregated(&blob));
            prop_assert_eq!(&decode(&blob).map_err(|e| TestCaseError::fail(e.to_string()))?, &records);
            prop_assert_eq!(&deaggregate("c", None, Bytes::from(blob.clone())), &records);

            // The key tables are deduplicated, in order of first appearance.
            let body = &blob[MAGIC.len()..blob.len() - DIGEST_LEN];
            let message = wire::AggregatedRecord::decode(body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(
                message.partition_key_table,
                first_appearances(records.iter().map(|r| r.partition_key.as_str()))
            );
            prop_assert_eq!(
                message.explicit_hash_key_table,
                first_appearances(records.iter().filter_map(|r| r.explicit_hash_key.as_deref()))
            );
        }

        #[test]
        fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..128)) {
            let blob = framed(&body);
            let out = deagg(&blob);
            match decode(&blob) {
                Ok(records) => prop_assert_eq!(out, records),
                Err(AggError::KeyIndexOutOfRange { record, .. }) => prop_assert_eq!(out.len(), record),
                Err(_) => prop_assert_eq!(out, passthrough(&blob)),
            }
        }
    }
}
