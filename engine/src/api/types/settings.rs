//! Per-stream settings: tags by stream name, retention, capacity mode, encryption, resharding.

use super::common::*;
use crate::api::wire::wire_enum;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
