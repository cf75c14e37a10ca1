//! PutRecord, PutRecords, GetShardIterator, GetRecords.

use super::common::*;
use crate::api::wire::{Timestamp, blob};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

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
