//! `Remote`'s channel calls and UpdateStreamRecordDistributionStrategy, with the
//! conversions of the channel shapes between rill's [`api`] types and the SDK's.

use super::convert::{build_error, date_time, sdk_error, timestamp};
use crate::api::{self, Error, Result};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types as sdk;

/// An SDK enum value that rill's enum of the same shape does not know (a newer service).
fn unknown(what: &str, value: &str) -> Error {
    Error::Internal {
        message: format!("the service answered an unknown {what}: {value}"),
        source: None,
    }
}

// ---------------------------------------------------------------- calls

pub(super) async fn update_stream_record_distribution_strategy(
    client: &Client,
    input: api::UpdateStreamRecordDistributionStrategyInput,
) -> Result<()> {
    client
        .update_stream_record_distribution_strategy()
        .stream_arn(input.stream_arn)
        .set_stream_id(input.stream_id)
        .set_record_distribution_strategy(
            input
                .record_distribution_strategy
                .map(|s| sdk::RecordDistributionStrategy::from(s.as_str())),
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateStreamRecordDistributionStrategy", e))?;
    Ok(())
}

pub(super) async fn create_channel(
    client: &Client,
    input: api::CreateChannelInput,
) -> Result<api::CreateChannelOutput> {
    let sources = input
        .stream_configuration_list
        .into_iter()
        .map(stream_configuration_in)
        .collect::<Result<Vec<_>>>()?;
    let out = client
        .create_channel()
        .channel_name(input.channel_name)
        .service_execution_role_arn(input.service_execution_role_arn)
        .set_stream_configuration_list(Some(sources))
        .set_s3_destination_configuration(
            input.s3_destination_configuration.map(s3_in).transpose()?,
        )
        .set_s3_tables_destination_configuration(
            input
                .s3_tables_destination_configuration
                .map(tables_in)
                .transpose()?,
        )
        .set_encryption_configuration(
            input
                .encryption_configuration
                .map(encryption_in)
                .transpose()?,
        )
        .set_tags(input.tags)
        .set_logging_configuration(input.logging_configuration.map(logging_in).transpose()?)
        .send()
        .await
        .map_err(|e| sdk_error("CreateChannel", e))?;
    Ok(api::CreateChannelOutput {
        channel_description: description_out(out.channel_description)?,
    })
}

pub(super) async fn describe_channel(
    client: &Client,
    input: api::DescribeChannelInput,
) -> Result<api::DescribeChannelOutput> {
    let out = client
        .describe_channel()
        .channel_arn(input.channel_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeChannel", e))?;
    Ok(api::DescribeChannelOutput {
        channel_description: description_out(out.channel_description)?,
    })
}

pub(super) async fn list_channels(
    client: &Client,
    input: api::ListChannelsInput,
) -> Result<api::ListChannelsOutput> {
    let filter = input
        .stream_filter
        .map(|fs| {
            fs.into_iter()
                .map(|f| {
                    sdk::StreamFilter::builder()
                        .stream_arn(f.stream_arn)
                        .set_stream_creation_timestamp(f.stream_creation_timestamp.map(date_time))
                        .build()
                        .map_err(build_error)
                })
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    let out = client
        .list_channels()
        .set_stream_filter(filter)
        .set_max_results(input.max_results)
        .set_next_token(input.next_token)
        .send()
        .await
        .map_err(|e| sdk_error("ListChannels", e))?;
    Ok(api::ListChannelsOutput {
        channel_summaries: out
            .channel_summaries
            .into_iter()
            .map(summary_out)
            .collect::<Result<Vec<_>>>()?,
        next_token: out.next_token,
    })
}

pub(super) async fn update_channel(
    client: &Client,
    input: api::UpdateChannelInput,
) -> Result<api::UpdateChannelOutput> {
    let s3 = input
        .s3_destination_configuration
        .map(|u| {
            sdk::S3DestinationUpdateInput::builder()
                .data_freshness_in_seconds(u.data_freshness_in_seconds)
                .build()
                .map_err(build_error)
        })
        .transpose()?;
    let tables = input
        .s3_tables_destination_configuration
        .map(|u| {
            sdk::S3TablesDestinationUpdateInput::builder()
                .data_freshness_in_seconds(u.data_freshness_in_seconds)
                .build()
                .map_err(build_error)
        })
        .transpose()?;
    let logging = match input.logging_configuration {
        None => None,
        Some(l) => {
            let logs = l
                .cloud_watch_logs
                .map(|c| {
                    sdk::CloudWatchLogsUpdateInput::builder()
                        .enabled(c.enabled)
                        .set_log_group_name(c.log_group_name)
                        .set_log_stream_name(c.log_stream_name)
                        .build()
                        .map_err(build_error)
                })
                .transpose()?;
            Some(
                sdk::ChannelLoggingUpdateInput::builder()
                    .set_cloud_watch_logs(logs)
                    .build(),
            )
        }
    };
    let out = client
        .update_channel()
        .channel_arn(input.channel_arn)
        .set_s3_destination_configuration(s3)
        .set_s3_tables_destination_configuration(tables)
        .set_logging_configuration(logging)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateChannel", e))?;
    Ok(api::UpdateChannelOutput {
        channel_description: description_out(out.channel_description)?,
    })
}

pub(super) async fn delete_channel(client: &Client, input: api::DeleteChannelInput) -> Result<()> {
    client
        .delete_channel()
        .channel_arn(input.channel_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DeleteChannel", e))?;
    Ok(())
}

// ---------------------------------------------------------------- structures in

fn record_configuration_in(r: api::RecordConfiguration) -> Result<sdk::RecordConfiguration> {
    sdk::RecordConfiguration::builder()
        .record_format_type(sdk::RecordFormatType::from(r.record_format_type.as_str()))
        .set_gsr_schema_arn(r.gsr_schema_arn)
        .build()
        .map_err(build_error)
}

fn stream_configuration_in(
    s: api::ChannelStreamConfiguration,
) -> Result<sdk::ChannelStreamConfiguration> {
    sdk::ChannelStreamConfiguration::builder()
        .stream_arn(s.stream_arn)
        .set_record_configuration(
            s.record_configuration
                .map(record_configuration_in)
                .transpose()?,
        )
        .build()
        .map_err(build_error)
}

fn dlq_in(d: api::DeadLetterQueueS3Configuration) -> Result<sdk::DeadLetterQueueS3Configuration> {
    sdk::DeadLetterQueueS3Configuration::builder()
        .bucket_arn(d.bucket_arn)
        .expected_bucket_owner(d.expected_bucket_owner)
        .set_error_output_prefix(d.error_output_prefix)
        .build()
        .map_err(build_error)
}

fn storage_in(s: api::S3StorageConfiguration) -> Result<sdk::S3StorageConfiguration> {
    sdk::S3StorageConfiguration::builder()
        .bucket_arn(s.bucket_arn)
        .expected_bucket_owner(s.expected_bucket_owner)
        .set_output_key_template(s.output_key_template)
        .set_storage_class(
            s.storage_class
                .map(|c| sdk::S3StorageClass::from(c.as_str())),
        )
        .compression_type(sdk::S3CompressionType::from(s.compression_type.as_str()))
        .build()
        .map_err(build_error)
}

fn s3_in(d: api::S3DestinationConfiguration) -> Result<sdk::S3DestinationConfiguration> {
    Ok(sdk::S3DestinationConfiguration::builder()
        .set_data_freshness_in_seconds(d.data_freshness_in_seconds)
        .set_dead_letter_queue_s3_configuration(
            d.dead_letter_queue_s3_configuration
                .map(dlq_in)
                .transpose()?,
        )
        .set_storage_configuration(d.storage_configuration.map(storage_in).transpose()?)
        .build())
}

fn table_in(t: api::S3TablesConfiguration) -> Result<sdk::S3TablesConfiguration> {
    let spec = t
        .partition_spec
        .map(|p| {
            let fields = p
                .partition_fields
                .into_iter()
                .map(|f| {
                    sdk::PartitionField::builder()
                        .transform(sdk::PartitionTransform::from(f.transform.as_str()))
                        .source_name(f.source_name)
                        .build()
                        .map_err(build_error)
                })
                .collect::<Result<Vec<_>>>()?;
            sdk::PartitionSpec::builder()
                .set_partition_fields(Some(fields))
                .build()
                .map_err(build_error)
        })
        .transpose()?;
    sdk::S3TablesConfiguration::builder()
        .table_bucket_arn(t.table_bucket_arn)
        .namespace(t.namespace)
        .table_name(t.table_name)
        .compression_type(sdk::S3TablesCompressionType::from(
            t.compression_type.as_str(),
        ))
        .set_partition_spec(spec)
        .build()
        .map_err(build_error)
}

fn tables_in(
    d: api::S3TablesDestinationConfiguration,
) -> Result<sdk::S3TablesDestinationConfiguration> {
    let tables = d
        .s3_tables_configuration_list
        .into_iter()
        .map(table_in)
        .collect::<Result<Vec<_>>>()?;
    sdk::S3TablesDestinationConfiguration::builder()
        .set_data_freshness_in_seconds(d.data_freshness_in_seconds)
        .set_dead_letter_queue_s3_configuration(
            d.dead_letter_queue_s3_configuration
                .map(dlq_in)
                .transpose()?,
        )
        .set_s3_tables_configuration_list(Some(tables))
        .build()
        .map_err(build_error)
}

fn encryption_in(
    e: api::ChannelEncryptionConfiguration,
) -> Result<sdk::ChannelEncryptionConfiguration> {
    sdk::ChannelEncryptionConfiguration::builder()
        .encryption_type(sdk::ChannelEncryptionType::from(e.encryption_type.as_str()))
        .key_id(e.key_id)
        .build()
        .map_err(build_error)
}

fn logging_in(l: api::ChannelLoggingConfiguration) -> Result<sdk::ChannelLoggingConfiguration> {
    let logs = l
        .cloud_watch_logs
        .map(|c| {
            sdk::CloudWatchLogs::builder()
                .enabled(c.enabled)
                .set_log_group_name(c.log_group_name)
                .set_log_stream_name(c.log_stream_name)
                .build()
                .map_err(build_error)
        })
        .transpose()?;
    Ok(sdk::ChannelLoggingConfiguration::builder()
        .set_cloud_watch_logs(logs)
        .build())
}

// ---------------------------------------------------------------- structures out

fn record_configuration_out(r: sdk::RecordConfiguration) -> Result<api::RecordConfiguration> {
    Ok(api::RecordConfiguration {
        record_format_type: api::RecordFormatType::parse(r.record_format_type.as_str())
            .ok_or_else(|| unknown("record format type", r.record_format_type.as_str()))?,
        gsr_schema_arn: r.gsr_schema_arn,
    })
}

fn dlq_out(d: sdk::DeadLetterQueueS3Configuration) -> api::DeadLetterQueueS3Configuration {
    api::DeadLetterQueueS3Configuration {
        bucket_arn: d.bucket_arn,
        expected_bucket_owner: d.expected_bucket_owner,
        error_output_prefix: d.error_output_prefix,
    }
}

fn storage_out(s: sdk::S3StorageConfiguration) -> Result<api::S3StorageConfiguration> {
    Ok(api::S3StorageConfiguration {
        bucket_arn: s.bucket_arn,
        expected_bucket_owner: s.expected_bucket_owner,
        output_key_template: s.output_key_template,
        storage_class: s
            .storage_class
            .map(|c| {
                api::S3StorageClass::parse(c.as_str())
                    .ok_or_else(|| unknown("storage class", c.as_str()))
            })
            .transpose()?,
        compression_type: api::S3CompressionType::parse(s.compression_type.as_str())
            .ok_or_else(|| unknown("compression type", s.compression_type.as_str()))?,
    })
}

fn table_out(t: sdk::S3TablesConfiguration) -> Result<api::S3TablesConfiguration> {
    let partition_spec = t
        .partition_spec
        .map(|p| {
            p.partition_fields
                .into_iter()
                .map(|f| {
                    Ok(api::PartitionField {
                        transform: api::PartitionTransform::parse(f.transform.as_str())
                            .ok_or_else(|| unknown("partition transform", f.transform.as_str()))?,
                        source_name: f.source_name,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(|partition_fields| api::PartitionSpec { partition_fields })
        })
        .transpose()?;
    Ok(api::S3TablesConfiguration {
        table_bucket_arn: t.table_bucket_arn,
        namespace: t.namespace,
        table_name: t.table_name,
        compression_type: api::S3TablesCompressionType::parse(t.compression_type.as_str())
            .ok_or_else(|| unknown("compression type", t.compression_type.as_str()))?,
        partition_spec,
    })
}

fn status_out(s: &sdk::ChannelStatus) -> Result<api::ChannelStatus> {
    api::ChannelStatus::parse(s.as_str()).ok_or_else(|| unknown("channel status", s.as_str()))
}

fn description_out(d: Option<sdk::ChannelDescription>) -> Result<api::ChannelDescription> {
    let d = d.ok_or_else(|| Error::Internal {
        message: "the service answered without a ChannelDescription".into(),
        source: None,
    })?;
    Ok(api::ChannelDescription {
        channel_status: status_out(&d.channel_status)?,
        channel_name: d.channel_name,
        channel_arn: d.channel_arn,
        channel_id: d.channel_id,
        channel_status_reason: d.channel_status_reason,
        channel_creation_timestamp: timestamp(d.channel_creation_timestamp),
        service_execution_role_arn: d.service_execution_role_arn,
        stream_configuration_list: d
            .stream_configuration_list
            .into_iter()
            .map(|s| {
                Ok(api::ChannelStreamDescription {
                    stream_arn: s.stream_arn,
                    stream_creation_timestamp: timestamp(s.stream_creation_timestamp),
                    record_configuration: s
                        .record_configuration
                        .map(record_configuration_out)
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        s3_destination_configuration: d
            .s3_destination_configuration
            .map(|s| {
                Ok::<_, Error>(api::S3DestinationDescription {
                    data_freshness_in_seconds: s.data_freshness_in_seconds,
                    dead_letter_queue_s3_configuration: s
                        .dead_letter_queue_s3_configuration
                        .map(dlq_out),
                    storage_configuration: s.storage_configuration.map(storage_out).transpose()?,
                })
            })
            .transpose()?,
        s3_tables_destination_configuration: d
            .s3_tables_destination_configuration
            .map(|t| {
                Ok::<_, Error>(api::S3TablesDestinationDescription {
                    data_freshness_in_seconds: t.data_freshness_in_seconds,
                    dead_letter_queue_s3_configuration: t
                        .dead_letter_queue_s3_configuration
                        .map(dlq_out),
                    s3_tables_configuration_list: t
                        .s3_tables_configuration_list
                        .into_iter()
                        .map(table_out)
                        .collect::<Result<Vec<_>>>()?,
                })
            })
            .transpose()?,
        encryption_configuration: d
            .encryption_configuration
            .map(|e| {
                Ok::<_, Error>(api::ChannelEncryptionConfiguration {
                    encryption_type: api::ChannelEncryptionType::parse(e.encryption_type.as_str())
                        .ok_or_else(|| unknown("encryption type", e.encryption_type.as_str()))?,
                    key_id: e.key_id,
                })
            })
            .transpose()?,
        logging_configuration: d
            .logging_configuration
            .map(|l| api::ChannelLoggingConfiguration {
                cloud_watch_logs: l.cloud_watch_logs.map(|c| api::CloudWatchLogs {
                    enabled: c.enabled,
                    log_group_name: c.log_group_name,
                    log_stream_name: c.log_stream_name,
                }),
            }),
    })
}

fn summary_out(s: sdk::ChannelSummary) -> Result<api::ChannelSummary> {
    Ok(api::ChannelSummary {
        channel_status: status_out(&s.channel_status)?,
        channel_destination_type: api::ChannelDestinationType::parse(
            s.channel_destination_type.as_str(),
        )
        .ok_or_else(|| unknown("destination type", s.channel_destination_type.as_str()))?,
        channel_name: s.channel_name,
        channel_arn: s.channel_arn,
        channel_id: s.channel_id,
        channel_status_reason: s.channel_status_reason,
        channel_creation_timestamp: timestamp(s.channel_creation_timestamp),
        streams: s
            .streams
            .into_iter()
            .map(|i| api::ChannelStreamIdentifier {
                stream_arn: i.stream_arn,
                stream_creation_timestamp: timestamp(i.stream_creation_timestamp),
            })
            .collect(),
    })
}
