//! CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary, ListStreams, ListShards.

use super::common::*;
use crate::api::wire::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
    pub record_distribution_strategy: Option<crate::api::channels::RecordDistributionStrategy>,
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
