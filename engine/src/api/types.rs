//! Request and response types in the shapes of the Kinesis JSON protocol.
//!
//! Field names serialize exactly as AWS spells them (`StreamName`, `StreamARN`,
//! `MillisBehindLatest`, ...). Blobs (`Data`) are base64 strings in JSON and [`Bytes`] in
//! Rust. Timestamps are [`Timestamp`]s: epoch milliseconds in Rust, epoch seconds (a JSON
//! number, fractional for milliseconds) on the wire, as the AWS JSON 1.1 protocol sends them.
//! Optional members are omitted when `None`. Every type implements `Default`, so inputs are
//! written as `PutRecordInput { stream_name: Some(..), ..Default::default() }`.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time with millisecond precision (epoch milliseconds).
///
/// Serialized as epoch seconds, a JSON number such as `1700000000.123`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// Epoch milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Epoch seconds with a fractional part.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// From epoch seconds with a fractional part (rounded to the millisecond).
    pub fn from_secs_f64(secs: f64) -> Timestamp {
        Timestamp((secs * 1000.0).round() as i64)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(t: Timestamp) -> Self {
        if t.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(t.0.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_millis(t.0.unsigned_abs())
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 % 1000 == 0 {
            s.serialize_i64(self.0 / 1000)
        } else {
            s.serialize_f64(self.as_secs_f64())
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = f64::deserialize(d)?;
        if !secs.is_finite() {
            return Err(serde::de::Error::custom(
                "timestamp must be a finite number",
            ));
        }
        Ok(Timestamp::from_secs_f64(secs))
    }
}

/// serde for blobs: base64 (standard alphabet, padded) in text formats.
pub mod blob {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the bytes as base64.
    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    /// Reads base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $text)] $variant),+
        }
        impl $name {
            /// The value as spelled on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Parses the wire spelling.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use wire_enum;

wire_enum!(
    /// The life-cycle state of a stream.
    StreamStatus {
        /// Being created.
        Creating => "CREATING",
        /// Being deleted.
        Deleting => "DELETING",
        /// Ready for reads and writes.
        Active => "ACTIVE",
        /// Being resharded or reconfigured; reads and writes continue.
        Updating => "UPDATING",
    }
);

wire_enum!(
    /// Capacity mode of a stream.
    StreamMode {
        /// Shards are managed by the owner.
        Provisioned => "PROVISIONED",
        /// Shards are managed by the service.
        OnDemand => "ON_DEMAND",
    }
);

wire_enum!(
    /// Where a shard iterator starts.
    ShardIteratorType {
        /// At the given sequence number.
        AtSequenceNumber => "AT_SEQUENCE_NUMBER",
        /// Just after the given sequence number.
        AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
        /// At the first record at or after the given timestamp.
        AtTimestamp => "AT_TIMESTAMP",
        /// At the oldest record still retained.
        TrimHorizon => "TRIM_HORIZON",
        /// After the newest record: only records put later are read.
        Latest => "LATEST",
    }
);

wire_enum!(
    /// Server-side encryption of records.
    EncryptionType {
        /// Not encrypted.
        None => "NONE",
        /// Encrypted with a KMS key.
        Kms => "KMS",
    }
);

wire_enum!(
    /// Which shards ListShards returns.
    ShardFilterType {
        /// Shards after the given shard id.
        AfterShardId => "AFTER_SHARD_ID",
        /// Shards open at the trim horizon.
        AtTrimHorizon => "AT_TRIM_HORIZON",
        /// Every shard from the trim horizon on.
        FromTrimHorizon => "FROM_TRIM_HORIZON",
        /// Open shards only.
        AtLatest => "AT_LATEST",
        /// Shards open at the given time.
        AtTimestamp => "AT_TIMESTAMP",
        /// Shards open at or after the given time.
        FromTimestamp => "FROM_TIMESTAMP",
    }
);

/// The capacity mode of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamModeDetails {
    /// PROVISIONED or ON_DEMAND.
    pub stream_mode: StreamMode,
}

/// An inclusive range of hash keys as decimal strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HashKeyRange {
    /// First hash key.
    pub starting_hash_key: String,
    /// Last hash key (inclusive).
    pub ending_hash_key: String,
}

/// The sequence numbers a shard covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SequenceNumberRange {
    /// The shard's first sequence number.
    pub starting_sequence_number: String,
    /// The shard's last sequence number; present once the shard is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending_sequence_number: Option<String>,
}

/// A shard as DescribeStream and ListShards return it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Shard {
    /// `shardId-` and 12 digits.
    pub shard_id: String,
    /// The shard this one was split or merged from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_shard_id: Option<String>,
    /// The other parent of a merged shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjacent_parent_shard_id: Option<String>,
    /// The hash keys the shard owns.
    pub hash_key_range: HashKeyRange,
    /// The sequence numbers the shard covers.
    pub sequence_number_range: SequenceNumberRange,
}

/// Shard-level metrics enabled for a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMetrics {
    /// Names of the enabled metrics.
    #[serde(default)]
    pub shard_level_metrics: Vec<String>,
}

/// A tag on a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A record as GetRecords returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    /// The record's sequence number in its shard.
    pub sequence_number: String,
    /// When the service accepted the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate_arrival_timestamp: Option<Timestamp>,
    /// The payload.
    #[serde(with = "blob")]
    pub data: Bytes,
    /// The partition key the record was put with.
    pub partition_key: String,
    /// How the record is encrypted at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<EncryptionType>,
}

/// A shard created by resharding, as GetRecords reports at the end of a closed shard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChildShard {
    /// The child's id.
    pub shard_id: String,
    /// Its parents' ids.
    pub parent_shards: Vec<String>,
    /// The hash keys it owns.
    pub hash_key_range: HashKeyRange,
}

// ---------------------------------------------------------------- CreateStream

/// CreateStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateStreamInput {
    /// Name of the new stream: `[a-zA-Z0-9_.-]{1,128}`.
    pub stream_name: String,
    /// Number of shards (required in PROVISIONED mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<i32>,
    /// Capacity mode; PROVISIONED when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// Tags to put on the stream at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, String>>,
}

// ---------------------------------------------------------------- DeleteStream

/// DeleteStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteStreamInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Delete even when consumers are registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_consumer_deletion: Option<bool>,
}

// ---------------------------------------------------------------- DescribeStream

/// DescribeStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// At most this many shards (1..=10000, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Start after this shard id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_shard_id: Option<String>,
}

/// A stream's full description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescription {
    /// Name.
    pub stream_name: String,
    /// ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// Status.
    pub stream_status: Option<StreamStatus>,
    /// Capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// A page of the stream's shards.
    pub shards: Vec<Shard>,
    /// Whether more shards follow this page.
    pub has_more_shards: bool,
    /// Retention in hours.
    pub retention_period_hours: i32,
    /// When the stream was created.
    pub stream_creation_timestamp: Timestamp,
    /// Enabled shard-level metrics.
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    /// Encryption at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<EncryptionType>,
    /// KMS key, when encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
}

/// DescribeStream response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamOutput {
    /// The description.
    pub stream_description: StreamDescription,
}

// ---------------------------------------------------------------- DescribeStreamSummary

/// DescribeStreamSummary request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamSummaryInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
}

/// A stream's summary, without shards.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamDescriptionSummary {
    /// Name.
    pub stream_name: String,
    /// ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// Status.
    pub stream_status: Option<StreamStatus>,
    /// Capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// Retention in hours.
    pub retention_period_hours: i32,
    /// When the stream was created.
    pub stream_creation_timestamp: Timestamp,
    /// Enabled shard-level metrics.
    pub enhanced_monitoring: Vec<EnhancedMetrics>,
    /// Encryption at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<EncryptionType>,
    /// KMS key, when encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Number of open shards.
    pub open_shard_count: i32,
    /// Number of registered enhanced fan-out consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_count: Option<i32>,
    /// Warm throughput of an ON_DEMAND stream (see UpdateStreamWarmThroughput).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<WarmThroughputObject>,
    /// Largest record the stream accepts, in KiB (1024 unless UpdateMaxRecordSize raised it).
    #[serde(
        rename = "MaxRecordSizeInKiB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_record_size_in_kib: Option<i32>,
    /// How records are placed on shards (USER_PARTITION_KEY unless
    /// UpdateStreamRecordDistributionStrategy set AUTO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_distribution_strategy: Option<super::channels::RecordDistributionStrategy>,
}

/// DescribeStreamSummary response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamSummaryOutput {
    /// The summary.
    pub stream_description_summary: StreamDescriptionSummary,
}

// ---------------------------------------------------------------- ListStreams

/// ListStreams request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsInput {
    /// At most this many names (1..=10000, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Start after this stream name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_stream_name: Option<String>,
    /// Continue a previous listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// One stream in ListStreams' `StreamSummaries`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSummary {
    /// Name.
    pub stream_name: String,
    /// ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// Status.
    pub stream_status: Option<StreamStatus>,
    /// Capacity mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_mode_details: Option<StreamModeDetails>,
    /// When the stream was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_creation_timestamp: Option<Timestamp>,
}

/// ListStreams response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamsOutput {
    /// Stream names, in order.
    pub stream_names: Vec<String>,
    /// Whether more follow.
    pub has_more_streams: bool,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The same streams with more detail.
    #[serde(default)]
    pub stream_summaries: Vec<StreamSummary>,
}

// ---------------------------------------------------------------- ListShards

/// ListShards' shard filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ShardFilter {
    /// Which shards.
    #[serde(rename = "Type")]
    pub filter_type: ShardFilterType,
    /// For AFTER_SHARD_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// For AT_TIMESTAMP and FROM_TIMESTAMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// ListShards request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsInput {
    /// Stream name (not with `next_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (not with `next_token`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Continue a previous listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Start after this shard id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_shard_id: Option<String>,
    /// At most this many shards (1..=10000, default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Tells apart streams of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_creation_timestamp: Option<Timestamp>,
    /// Which shards to list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_filter: Option<ShardFilter>,
}

/// ListShards response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListShardsOutput {
    /// A page of shards.
    pub shards: Vec<Shard>,
    /// Token for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

// ---------------------------------------------------------------- PutRecord

/// PutRecord request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The payload, at most 1 MiB together with the partition key.
    #[serde(with = "blob")]
    pub data: Bytes,
    /// 1..=256 Unicode characters; its MD5 picks the shard.
    pub partition_key: String,
    /// Picks the shard instead of the partition key's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_hash_key: Option<String>,
    /// The sequence number of this client's previous record with the same partition key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number_for_ordering: Option<String>,
}

/// PutRecord response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordOutput {
    /// The shard the record went to.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: String,
    /// Encryption at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<EncryptionType>,
}

// ---------------------------------------------------------------- PutRecords

/// One entry of a PutRecords request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsRequestEntry {
    /// The payload.
    #[serde(with = "blob")]
    pub data: Bytes,
    /// Picks the shard instead of the partition key's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explicit_hash_key: Option<String>,
    /// 1..=256 Unicode characters.
    pub partition_key: String,
}

/// PutRecords request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsInput {
    /// 1..=500 entries, at most 5 MiB in all.
    pub records: Vec<PutRecordsRequestEntry>,
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
}

/// One entry of a PutRecords response, in request order: a success or an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsResultEntry {
    /// Sequence number, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    /// Shard id, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
    /// `ProvisionedThroughputExceededException` or `InternalFailure`, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// PutRecords response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRecordsOutput {
    /// How many entries failed.
    pub failed_record_count: i32,
    /// One result per request entry, in order.
    pub records: Vec<PutRecordsResultEntry>,
    /// Encryption at rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_type: Option<EncryptionType>,
}

// ---------------------------------------------------------------- GetShardIterator

/// GetShardIterator request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The shard to read.
    pub shard_id: String,
    /// Where to start.
    pub shard_iterator_type: Option<ShardIteratorType>,
    /// For AT_ and AFTER_SEQUENCE_NUMBER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_sequence_number: Option<String>,
    /// For AT_TIMESTAMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// GetShardIterator response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetShardIteratorOutput {
    /// The iterator, valid for five minutes.
    pub shard_iterator: Option<String>,
}

// ---------------------------------------------------------------- GetRecords

/// GetRecords request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsInput {
    /// The iterator from GetShardIterator or a previous GetRecords.
    pub shard_iterator: String,
    /// At most this many records (1..=10000, default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Stream ARN, when the caller gives it.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
}

/// GetRecords response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRecordsOutput {
    /// The records, in sequence order.
    pub records: Vec<Record>,
    /// Where to continue; absent once a closed shard is read to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_shard_iterator: Option<String>,
    /// How far the response is behind the shard's newest record, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub millis_behind_latest: Option<i64>,
    /// At the end of a closed shard: its children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

// ---------------------------------------------------------------- tags

/// AddTagsToStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddTagsToStreamInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Up to 10 tags to add or overwrite.
    pub tags: HashMap<String, String>,
}

/// ListTagsForStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForStreamInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Start after this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_start_tag_key: Option<String>,
    /// At most this many tags (1..=50, default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
}

/// ListTagsForStream response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForStreamOutput {
    /// Tags in key order.
    pub tags: Vec<Tag>,
    /// Whether more follow.
    pub has_more_tags: bool,
}

/// RemoveTagsFromStream request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RemoveTagsFromStreamInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Up to 10 keys to remove.
    pub tag_keys: Vec<String>,
}

// ---------------------------------------------------------------- retention

/// IncreaseStreamRetentionPeriod and DecreaseStreamRetentionPeriod request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetentionPeriodInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// New retention in hours (24..=8760).
    pub retention_period_hours: i32,
}

// ---------------------------------------------------------------- enhanced fan-out

wire_enum!(
    /// The life-cycle state of a registered consumer.
    ConsumerStatus {
        /// Being registered.
        Creating => "CREATING",
        /// Being deregistered.
        Deleting => "DELETING",
        /// Ready: SubscribeToShard works.
        Active => "ACTIVE",
    }
);

/// A registered consumer, as RegisterStreamConsumer and ListStreamConsumers return it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Consumer {
    /// Its name, unique in the stream.
    pub consumer_name: String,
    /// `arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<creation seconds>`.
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    /// CREATING, ACTIVE or DELETING.
    pub consumer_status: Option<ConsumerStatus>,
    /// When it was registered.
    pub consumer_creation_timestamp: Timestamp,
}

/// A registered consumer with its stream, as DescribeStreamConsumer returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConsumerDescription {
    /// Its name.
    pub consumer_name: String,
    /// Its ARN.
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    /// CREATING, ACTIVE or DELETING.
    pub consumer_status: Option<ConsumerStatus>,
    /// When it was registered.
    pub consumer_creation_timestamp: Timestamp,
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
}

/// RegisterStreamConsumer request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterStreamConsumerInput {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// `[a-zA-Z0-9_.-]{1,128}`, unique in the stream.
    pub consumer_name: String,
}

/// RegisterStreamConsumer response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterStreamConsumerOutput {
    /// The new consumer.
    pub consumer: Consumer,
}

/// DescribeStreamConsumer request: the consumer's ARN, or the stream's ARN and the name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamConsumerInput {
    /// The stream's ARN (with `consumer_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The consumer's name (with `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_name: Option<String>,
    /// The consumer's ARN.
    #[serde(
        rename = "ConsumerARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_arn: Option<String>,
}

/// DescribeStreamConsumer response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeStreamConsumerOutput {
    /// The consumer.
    pub consumer_description: ConsumerDescription,
}

/// ListStreamConsumers request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamConsumersInput {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// Continue a previous listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// At most this many (1..=10000, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// Tells apart streams of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_creation_timestamp: Option<Timestamp>,
}

/// ListStreamConsumers response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStreamConsumersOutput {
    /// A page of consumers, by name.
    #[serde(default)]
    pub consumers: Vec<Consumer>,
    /// Token for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// DeregisterStreamConsumer request: the consumer's ARN, or the stream's ARN and the name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeregisterStreamConsumerInput {
    /// The stream's ARN (with `consumer_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The consumer's name (with `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_name: Option<String>,
    /// The consumer's ARN.
    #[serde(
        rename = "ConsumerARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consumer_arn: Option<String>,
}

/// Where a subscription starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartingPosition {
    /// AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON or LATEST.
    #[serde(rename = "Type")]
    pub position_type: ShardIteratorType,
    /// For AT_ and AFTER_SEQUENCE_NUMBER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
    /// For AT_TIMESTAMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// SubscribeToShard request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscribeToShardInput {
    /// The registered consumer.
    #[serde(rename = "ConsumerARN")]
    pub consumer_arn: String,
    /// The shard to read.
    pub shard_id: String,
    /// Where to start.
    pub starting_position: StartingPosition,
}

/// One pushed event of a subscription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscribeToShardEvent {
    /// New records, in order (possibly none).
    pub records: Vec<Record>,
    /// Resume with AFTER_SEQUENCE_NUMBER of this to lose and repeat nothing.
    pub continuation_sequence_number: String,
    /// How far behind the shard's newest record the event is.
    pub millis_behind_latest: i64,
    /// At the end of a closed shard: its children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_shards: Option<Vec<ChildShard>>,
}

// ---------------------------------------------------------------- capacity mode

/// UpdateStreamMode request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamModeInput {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// The new capacity mode.
    pub stream_mode_details: StreamModeDetails,
}

// ---------------------------------------------------------------- encryption

/// StartStreamEncryption and StopStreamEncryption request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamEncryptionInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// KMS (the only type that encrypts).
    pub encryption_type: Option<EncryptionType>,
    /// The key's id, alias or ARN.
    pub key_id: String,
}

// ---------------------------------------------------------------- resharding

wire_enum!(
    /// How UpdateShardCount reshapes a stream.
    ScalingType {
        /// Shards of equal hash-key ranges.
        UniformScaling => "UNIFORM_SCALING",
    }
);

/// SplitShard request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SplitShardInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// The open shard to split.
    pub shard_to_split: String,
    /// First hash key of the second child (decimal); the first child ends one below it.
    pub new_starting_hash_key: String,
}

/// MergeShards request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MergeShardsInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// One open shard (becomes the child's `ParentShardId`).
    pub shard_to_merge: String,
    /// The open shard whose range is adjacent to it (the child's `AdjacentParentShardId`).
    pub adjacent_shard_to_merge: String,
}

/// UpdateShardCount request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateShardCountInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Number of open shards wanted: at least half and at most double the current count.
    pub target_shard_count: i32,
    /// UNIFORM_SCALING (the only type).
    pub scaling_type: Option<ScalingType>,
}

/// UpdateShardCount response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateShardCountOutput {
    /// Stream name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Open shards before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_shard_count: Option<i32>,
    /// Open shards after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_shard_count: Option<i32>,
    /// Stream ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
}

// ---------------------------------------------------------------- limits and account settings

/// DescribeLimits request (no members).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescribeLimitsInput {}

/// DescribeLimits response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeLimitsOutput {
    /// Most open shards the account may have.
    pub shard_limit: i32,
    /// Open shards across the account's streams.
    pub open_shard_count: i32,
    /// ON_DEMAND streams in the account.
    pub on_demand_stream_count: i32,
    /// Most ON_DEMAND streams the account may have.
    pub on_demand_stream_count_limit: i32,
}

/// DescribeAccountSettings request (no members).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescribeAccountSettingsInput {}

wire_enum!(
    /// The state of the account's minimum throughput billing commitment.
    MinimumThroughputBillingCommitmentStatus {
        /// Committed.
        Enabled => "ENABLED",
        /// Not committed.
        Disabled => "DISABLED",
        /// Disabled by the owner, but committed until the earliest allowed end.
        EnabledUntilEarliestAllowedEnd => "ENABLED_UNTIL_EARLIEST_ALLOWED_END",
    }
);

/// The account's minimum throughput billing commitment, as the service reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MinimumThroughputBillingCommitmentOutput {
    /// ENABLED, DISABLED or ENABLED_UNTIL_EARLIEST_ALLOWED_END.
    pub status: MinimumThroughputBillingCommitmentStatus,
    /// When the commitment started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When the commitment ended (or ends, once disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The earliest time the commitment may end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest_allowed_end_at: Option<Timestamp>,
}

/// DescribeAccountSettings response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeAccountSettingsOutput {
    /// The commitment, when one was ever configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_throughput_billing_commitment: Option<MinimumThroughputBillingCommitmentOutput>,
}

/// The commitment an UpdateAccountSettings asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MinimumThroughputBillingCommitmentInput {
    /// `ENABLED` or `DISABLED` (validated by the service, so kept as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// UpdateAccountSettings request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAccountSettingsInput {
    /// The wanted commitment (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_throughput_billing_commitment: Option<MinimumThroughputBillingCommitmentInput>,
}

/// UpdateAccountSettings response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateAccountSettingsOutput {
    /// The commitment after the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_throughput_billing_commitment: Option<MinimumThroughputBillingCommitmentOutput>,
}

// ---------------------------------------------------------------- enhanced monitoring

/// The shard-level metric names EnableEnhancedMonitoring accepts, besides `ALL`.
pub const SHARD_LEVEL_METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// EnableEnhancedMonitoring and DisableEnhancedMonitoring request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMonitoringInput {
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// 1..=7 names from [`SHARD_LEVEL_METRICS`] or `ALL` (kept as text: the service
    /// validates them).
    pub shard_level_metrics: Vec<String>,
}

/// EnableEnhancedMonitoring and DisableEnhancedMonitoring response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnhancedMonitoringOutput {
    /// Stream name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Stream ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Metrics enabled before the call.
    #[serde(default)]
    pub current_shard_level_metrics: Vec<String>,
    /// Metrics enabled after it.
    #[serde(default)]
    pub desired_shard_level_metrics: Vec<String>,
}

// ---------------------------------------------------------------- tags by ARN

/// TagResource request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    /// A stream or consumer ARN.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Tags to add or overwrite.
    pub tags: HashMap<String, String>,
}

/// UntagResource request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    /// A stream or consumer ARN.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// Keys to remove.
    pub tag_keys: Vec<String>,
}

/// ListTagsForResource request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceInput {
    /// A stream or consumer ARN.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

/// ListTagsForResource response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceOutput {
    /// Every tag, by key.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

// ---------------------------------------------------------------- record size, warm throughput

/// UpdateMaxRecordSize request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateMaxRecordSizeInput {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// New largest record, in KiB: 1024..=10240.
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub max_record_size_in_kib: i32,
}

/// A stream's warm throughput, in MiB/s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmThroughputObject {
    /// What was asked for.
    #[serde(
        rename = "TargetMiBps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_mibps: Option<i32>,
    /// What the stream provides now.
    #[serde(
        rename = "CurrentMiBps",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_mibps: Option<i32>,
}

/// UpdateStreamWarmThroughput request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamWarmThroughputInput {
    /// Stream ARN (or give `stream_name`).
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Stream name (or give `stream_arn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// Wanted warm throughput in MiB/s (0 turns it off).
    #[serde(rename = "WarmThroughputMiBps")]
    pub warm_throughput_mibps: i32,
}

/// UpdateStreamWarmThroughput response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamWarmThroughputOutput {
    /// Stream ARN.
    #[serde(rename = "StreamARN", default, skip_serializing_if = "Option::is_none")]
    pub stream_arn: Option<String>,
    /// Stream name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_name: Option<String>,
    /// The warm throughput after the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_throughput: Option<WarmThroughputObject>,
}

// ---------------------------------------------------------------- resource policies

/// PutResourcePolicy request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyInput {
    /// A stream or consumer ARN.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
    /// The policy document (JSON).
    pub policy: String,
}

/// GetResourcePolicy and DeleteResourcePolicy request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourcePolicyInput {
    /// A stream or consumer ARN.
    #[serde(rename = "ResourceARN")]
    pub resource_arn: String,
}

/// GetResourcePolicy response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResourcePolicyOutput {
    /// The policy document, `{}` when none is attached.
    pub policy: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_aws() -> Result<(), serde_json::Error> {
        let out = GetRecordsOutput {
            records: vec![Record {
                sequence_number: "1".into(),
                approximate_arrival_timestamp: Some(Timestamp(1_700_000_000_123)),
                data: Bytes::from_static(b"hi"),
                partition_key: "k".into(),
                encryption_type: None,
            }],
            next_shard_iterator: Some("it".into()),
            millis_behind_latest: Some(0),
            child_shards: None,
        };
        let v = serde_json::to_value(&out)?;
        assert_eq!(
            v,
            serde_json::json!({
                "Records": [{"SequenceNumber": "1", "ApproximateArrivalTimestamp": 1700000000.123,
                             "Data": "aGk=", "PartitionKey": "k"}],
                "NextShardIterator": "it", "MillisBehindLatest": 0
            })
        );
        let back: GetRecordsOutput = serde_json::from_value(v)?;
        assert_eq!(back, out);

        let input: PutRecordInput = serde_json::from_str(
            r#"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Data":"AAE=","PartitionKey":"p"}"#,
        )?;
        assert_eq!(
            input.stream_arn.as_deref(),
            Some("arn:aws:kinesis:us-east-1:000000000000:stream/s")
        );
        assert_eq!(&input.data[..], &[0u8, 1]);
        let it: GetShardIteratorInput = serde_json::from_str(
            r#"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1700000000}"#,
        )?;
        assert_eq!(it.timestamp, Some(Timestamp(1_700_000_000_000)));
        assert_eq!(it.shard_iterator_type, Some(ShardIteratorType::AtTimestamp));
        Ok(())
    }

    #[test]
    fn bad_base64_is_an_error() {
        let r: Result<PutRecordInput, _> =
            serde_json::from_str(r#"{"StreamName":"s","Data":"!!","PartitionKey":"p"}"#);
        assert!(r.is_err());
    }
}
