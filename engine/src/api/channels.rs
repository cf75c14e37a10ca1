//! The shapes of the channel operations (CreateChannel, DescribeChannel, ListChannels,
//! UpdateChannel, DeleteChannel) and of UpdateStreamRecordDistributionStrategy, as
//! aws-sdk-kinesis 1.130 and botocore's current model spell them.
//!
//! A channel delivers a stream's records to Amazon S3 or to S3 Tables (Apache Iceberg). rill
//! keeps channels (configuration, state, tags) but delivers nothing: see the engine's
//! `channels` module.

use super::wire::{Timestamp, wire_enum};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

wire_enum!(
    /// How a stream places records on shards.
    RecordDistributionStrategy {
        /// Evenly over the open shards, whatever the partition key or explicit hash key.
        Auto => "AUTO",
        /// By the hash of the partition key (or the explicit hash key): the default.
        UserPartitionKey => "USER_PARTITION_KEY",
    }
);

wire_enum!(
    /// The life-cycle state of a channel.
    ChannelStatus {
        /// Being created.
        Creating => "CREATING",
        /// Ready.
        Active => "ACTIVE",
        /// Its configuration is being changed.
        Updating => "UPDATING",
        /// Being deleted.
        Deleting => "DELETING",
        /// Failed: see the status reason.
        Failed => "FAILED",
    }
);

wire_enum!(
    /// Where a channel delivers.
    ChannelDestinationType {
        /// A general purpose S3 bucket.
        S3 => "S3",
        /// Streaming tables on Apache Iceberg (S3 Tables).
        S3Tables => "S3_TABLES",
    }
);

wire_enum!(
    /// Encryption of delivered data.
    ChannelEncryptionType {
        /// A customer managed KMS key.
        Kms => "KMS",
    }
);

wire_enum!(
    /// The S3 storage class of delivered objects.
    S3StorageClass {
        /// The default class.
        Standard => "STANDARD",
        /// Moved between tiers by access pattern.
        IntelligentTiering => "INTELLIGENT_TIERING",
        /// Glacier Instant Retrieval.
        GlacierIr => "GLACIER_IR",
    }
);

wire_enum!(
    /// Compression of objects delivered to S3.
    S3CompressionType {
        /// None.
        None => "NONE",
        /// gzip.
        Gzip => "GZIP",
        /// Zstandard.
        Zstd => "ZSTD",
    }
);

wire_enum!(
    /// Compression of Parquet files delivered to S3 Tables.
    S3TablesCompressionType {
        /// None.
        None => "NONE",
        /// Zstandard.
        Zstd => "ZSTD",
        /// Snappy.
        Snappy => "SNAPPY",
    }
);

wire_enum!(
    /// The format of a source stream's records.
    RecordFormatType {
        /// JSON validated by a Glue Schema Registry schema (S3 Tables only).
        GsrJson => "GSR_JSON",
        /// JSON.
        Json => "JSON",
        /// Text (S3 only).
        String => "STRING",
        /// Opaque bytes (S3 only).
        ByteArray => "BYTE_ARRAY",
    }
);

wire_enum!(
    /// A partition transform of a table.
    PartitionTransform {
        /// By hour of a `timestamptz` column.
        TimeHour => "TIME_HOUR",
    }
);

// ---------------------------------------------------------------- UpdateStreamRecordDistributionStrategy

/// UpdateStreamRecordDistributionStrategy request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStreamRecordDistributionStrategyInput {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// Reserved by AWS for future use; ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// The strategy (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_distribution_strategy: Option<RecordDistributionStrategy>,
}

// ---------------------------------------------------------------- channel configuration

/// The record format of a channel's source stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RecordConfiguration {
    /// The format.
    pub record_format_type: RecordFormatType,
    /// The Glue Schema Registry schema records are validated with (S3 Tables).
    #[serde(
        rename = "GSRSchemaARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub gsr_schema_arn: Option<String>,
}

/// A channel's source stream, as CreateChannel names it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelStreamConfiguration {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// The record format (required by AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_configuration: Option<RecordConfiguration>,
}

/// Where records that cannot be delivered go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterQueueS3Configuration {
    /// The bucket's ARN.
    #[serde(rename = "BucketARN")]
    pub bucket_arn: String,
    /// The account expected to own the bucket.
    pub expected_bucket_owner: String,
    /// The key prefix of error records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_output_prefix: Option<String>,
}

/// The S3 bucket a channel delivers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3StorageConfiguration {
    /// The bucket's ARN.
    #[serde(rename = "BucketARN")]
    pub bucket_arn: String,
    /// The account expected to own the bucket.
    pub expected_bucket_owner: String,
    /// The template of object keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_key_template: Option<String>,
    /// The storage class of objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<S3StorageClass>,
    /// The compression of objects.
    pub compression_type: S3CompressionType,
}

/// Delivery to a general purpose S3 bucket (CreateChannel).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3DestinationConfiguration {
    /// Largest age of undelivered data, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_freshness_in_seconds: Option<i32>,
    /// Where undeliverable records go.
    #[serde(
        rename = "DeadLetterQueueS3Configuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_queue_s3_configuration: Option<DeadLetterQueueS3Configuration>,
    /// The bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_configuration: Option<S3StorageConfiguration>,
}

/// Delivery to a general purpose S3 bucket, as DescribeChannel answers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3DestinationDescription {
    /// Largest age of undelivered data, in seconds.
    pub data_freshness_in_seconds: i32,
    /// Where undeliverable records go.
    #[serde(
        rename = "DeadLetterQueueS3Configuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_queue_s3_configuration: Option<DeadLetterQueueS3Configuration>,
    /// The bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_configuration: Option<S3StorageConfiguration>,
}

/// The change of an S3 or S3 Tables delivery (UpdateChannel): only the freshness.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationUpdateInput {
    /// Largest age of undelivered data, in seconds.
    pub data_freshness_in_seconds: i32,
}

/// A partition field of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionField {
    /// The transform.
    pub transform: PartitionTransform,
    /// The source column (`timestamptz`).
    pub source_name: String,
}

/// The partitioning of a table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionSpec {
    /// The fields.
    pub partition_fields: Vec<PartitionField>,
}

/// A table a channel delivers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3TablesConfiguration {
    /// The table bucket's ARN.
    #[serde(rename = "TableBucketARN")]
    pub table_bucket_arn: String,
    /// The namespace (database).
    pub namespace: String,
    /// The table.
    pub table_name: String,
    /// The compression of Parquet files.
    pub compression_type: S3TablesCompressionType,
    /// The partitioning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_spec: Option<PartitionSpec>,
}

/// Delivery to streaming tables (CreateChannel).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3TablesDestinationConfiguration {
    /// Largest age of undelivered data, in seconds (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_freshness_in_seconds: Option<i32>,
    /// Where undeliverable records go (required by AWS for tables).
    #[serde(
        rename = "DeadLetterQueueS3Configuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_queue_s3_configuration: Option<DeadLetterQueueS3Configuration>,
    /// The tables (one today).
    #[serde(rename = "S3TablesConfigurationList")]
    pub s3_tables_configuration_list: Vec<S3TablesConfiguration>,
}

/// Delivery to streaming tables, as DescribeChannel answers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct S3TablesDestinationDescription {
    /// Largest age of undelivered data, in seconds.
    pub data_freshness_in_seconds: i32,
    /// Where undeliverable records go.
    #[serde(
        rename = "DeadLetterQueueS3Configuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dead_letter_queue_s3_configuration: Option<DeadLetterQueueS3Configuration>,
    /// The tables.
    #[serde(rename = "S3TablesConfigurationList")]
    pub s3_tables_configuration_list: Vec<S3TablesConfiguration>,
}

/// The KMS key delivered data is encrypted with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelEncryptionConfiguration {
    /// The encryption type.
    pub encryption_type: ChannelEncryptionType,
    /// The customer managed key.
    pub key_id: String,
}

/// CloudWatch Logs settings of a channel (also their change in UpdateChannel).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CloudWatchLogs {
    /// Whether logging is on.
    pub enabled: bool,
    /// The log group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<String>,
    /// The log stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_stream_name: Option<String>,
}

/// The logging of a channel (also its change in UpdateChannel).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelLoggingConfiguration {
    /// CloudWatch Logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_watch_logs: Option<CloudWatchLogs>,
}

// ---------------------------------------------------------------- channel descriptions

/// A channel's source stream, as DescribeChannel answers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelStreamDescription {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// When the stream was created.
    pub stream_creation_timestamp: Timestamp,
    /// The record format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_configuration: Option<RecordConfiguration>,
}

/// A channel's source stream, as ListChannels answers it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelStreamIdentifier {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// When the stream was created.
    pub stream_creation_timestamp: Timestamp,
}

/// A channel: configuration and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelDescription {
    /// The name.
    pub channel_name: String,
    /// The ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    /// The unique id.
    pub channel_id: String,
    /// The state.
    pub channel_status: ChannelStatus,
    /// Why the channel is in its state; rill says here that it delivers nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_status_reason: Option<String>,
    /// When it was created.
    pub channel_creation_timestamp: Timestamp,
    /// The role the service would assume to deliver.
    #[serde(rename = "ServiceExecutionRoleARN")]
    pub service_execution_role_arn: String,
    /// The source streams (one today).
    pub stream_configuration_list: Vec<ChannelStreamDescription>,
    /// Delivery to S3, if that is the destination.
    #[serde(
        rename = "S3DestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_configuration: Option<S3DestinationDescription>,
    /// Delivery to S3 Tables, if that is the destination.
    #[serde(
        rename = "S3TablesDestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_tables_destination_configuration: Option<S3TablesDestinationDescription>,
    /// Encryption of delivered data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<ChannelEncryptionConfiguration>,
    /// Logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_configuration: Option<ChannelLoggingConfiguration>,
}

/// A channel, as ListChannels answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChannelSummary {
    /// The name.
    pub channel_name: String,
    /// The ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    /// The unique id.
    pub channel_id: String,
    /// The state.
    pub channel_status: ChannelStatus,
    /// Why the channel is in its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_status_reason: Option<String>,
    /// When it was created.
    pub channel_creation_timestamp: Timestamp,
    /// Where it delivers.
    pub channel_destination_type: ChannelDestinationType,
    /// The source streams.
    pub streams: Vec<ChannelStreamIdentifier>,
}

// ---------------------------------------------------------------- requests and responses

/// CreateChannel request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateChannelInput {
    /// The name, unique in the account and region: `[a-zA-Z0-9_.-]{1,128}`.
    pub channel_name: String,
    /// The role the service would assume to deliver.
    #[serde(rename = "ServiceExecutionRoleARN")]
    pub service_execution_role_arn: String,
    /// The source stream (exactly one).
    pub stream_configuration_list: Vec<ChannelStreamConfiguration>,
    /// Delivery to S3 (this or `s3_tables_destination_configuration`).
    #[serde(
        rename = "S3DestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_configuration: Option<S3DestinationConfiguration>,
    /// Delivery to S3 Tables (this or `s3_destination_configuration`).
    #[serde(
        rename = "S3TablesDestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_tables_destination_configuration: Option<S3TablesDestinationConfiguration>,
    /// Encryption of delivered data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<ChannelEncryptionConfiguration>,
    /// Tags of the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, String>>,
    /// Logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_configuration: Option<ChannelLoggingConfiguration>,
}

/// CreateChannel response: the channel, CREATING.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateChannelOutput {
    /// The channel.
    pub channel_description: ChannelDescription,
}

/// DescribeChannel response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeChannelOutput {
    /// The channel.
    pub channel_description: ChannelDescription,
}

/// UpdateChannel response: the channel, UPDATING.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateChannelOutput {
    /// The channel.
    pub channel_description: ChannelDescription,
}

/// DescribeChannel request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeChannelInput {
    /// The channel's ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
}

/// DeleteChannel request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteChannelInput {
    /// The channel's ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
}

/// A ListChannels filter: channels of this stream.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamFilter {
    /// The stream's ARN.
    #[serde(rename = "StreamARN")]
    pub stream_arn: String,
    /// The stream's creation time, to tell apart streams of the same name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_creation_timestamp: Option<Timestamp>,
}

/// ListChannels request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListChannelsInput {
    /// Only channels of these streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_filter: Option<Vec<StreamFilter>>,
    /// Largest page (1..=10000; at most 100 are answered; default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<i32>,
    /// The token of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListChannels response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListChannelsOutput {
    /// A page of channels, by name.
    pub channel_summaries: Vec<ChannelSummary>,
    /// The token of the next page, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// UpdateChannel request: the freshness of the delivery and the logging.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateChannelInput {
    /// The channel's ARN.
    #[serde(rename = "ChannelARN")]
    pub channel_arn: String,
    /// The new freshness of an S3 delivery.
    #[serde(
        rename = "S3DestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_destination_configuration: Option<DestinationUpdateInput>,
    /// The new freshness of an S3 Tables delivery.
    #[serde(
        rename = "S3TablesDestinationConfiguration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_tables_destination_configuration: Option<DestinationUpdateInput>,
    /// The new logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_configuration: Option<ChannelLoggingConfiguration>,
}
