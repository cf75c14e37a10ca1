//! Enhanced fan-out: consumers and SubscribeToShard.

use super::common::*;
use crate::api::wire::{Timestamp, wire_enum};
use serde::{Deserialize, Serialize};

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
