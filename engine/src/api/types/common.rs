//! Shapes shared by several operations: the enums of stream and shard states, and the
//! shard, hash-key range, record and child-shard shapes.

use crate::api::wire::{Timestamp, blob, wire_enum};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

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
