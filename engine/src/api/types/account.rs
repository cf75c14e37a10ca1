//! Limits and account settings, enhanced monitoring, tags by ARN, record size and warm
//! throughput, resource policies.

use super::common::*;
use crate::api::wire::{Timestamp, wire_enum};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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
