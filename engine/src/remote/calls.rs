//! `Remote`'s calls: one function per operation of the table, which sends the request
//! through the SDK client and converts its input and output (see [`convert`](super::convert)).
//! [`Remote`](super::Remote)'s `impl Kinesis` calls the function of the method's name.

use super::convert::*;
use crate::api::{self, Error, Result};
use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types as sdk;

pub(super) use super::account::*;
pub(super) use super::channels::{
    create_channel, delete_channel, describe_channel, list_channels, update_channel,
    update_stream_record_distribution_strategy,
};
pub(super) async fn create_stream(client: &Client, input: api::CreateStreamInput) -> Result<()> {
    let mode = input.stream_mode_details.map(mode_details_in).transpose()?;
    client
        .create_stream()
        .stream_name(input.stream_name)
        .set_shard_count(input.shard_count)
        .set_stream_mode_details(mode)
        .set_tags(input.tags)
        .send()
        .await
        .map_err(|e| sdk_error("CreateStream", e))?;
    Ok(())
}

pub(super) async fn delete_stream(client: &Client, input: api::DeleteStreamInput) -> Result<()> {
    client
        .delete_stream()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_enforce_consumer_deletion(input.enforce_consumer_deletion)
        .send()
        .await
        .map_err(|e| sdk_error("DeleteStream", e))?;
    Ok(())
}

pub(super) async fn describe_stream(
    client: &Client,
    input: api::DescribeStreamInput,
) -> Result<api::DescribeStreamOutput> {
    let out = client
        .describe_stream()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_limit(input.limit)
        .set_exclusive_start_shard_id(input.exclusive_start_shard_id)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeStream", e))?;
    Ok(api::DescribeStreamOutput {
        stream_description: out
            .stream_description
            .map(description_out)
            .unwrap_or_default(),
    })
}

pub(super) async fn describe_stream_summary(
    client: &Client,
    input: api::DescribeStreamSummaryInput,
) -> Result<api::DescribeStreamSummaryOutput> {
    let out = client
        .describe_stream_summary()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeStreamSummary", e))?;
    Ok(api::DescribeStreamSummaryOutput {
        stream_description_summary: out
            .stream_description_summary
            .map(description_summary_out)
            .unwrap_or_default(),
    })
}

pub(super) async fn list_streams(
    client: &Client,
    input: api::ListStreamsInput,
) -> Result<api::ListStreamsOutput> {
    let out = client
        .list_streams()
        .set_limit(input.limit)
        .set_exclusive_start_stream_name(input.exclusive_start_stream_name)
        .set_next_token(input.next_token)
        .send()
        .await
        .map_err(|e| sdk_error("ListStreams", e))?;
    Ok(api::ListStreamsOutput {
        stream_names: out.stream_names,
        has_more_streams: out.has_more_streams,
        next_token: out.next_token,
        stream_summaries: out
            .stream_summaries
            .unwrap_or_default()
            .into_iter()
            .map(stream_summary_out)
            .collect(),
    })
}

pub(super) async fn list_shards(
    client: &Client,
    input: api::ListShardsInput,
) -> Result<api::ListShardsOutput> {
    let filter = input.shard_filter.map(shard_filter_in).transpose()?;
    let out = client
        .list_shards()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_next_token(input.next_token)
        .set_exclusive_start_shard_id(input.exclusive_start_shard_id)
        .set_max_results(input.max_results)
        .set_stream_creation_timestamp(input.stream_creation_timestamp.map(date_time))
        .set_shard_filter(filter)
        .send()
        .await
        .map_err(|e| sdk_error("ListShards", e))?;
    Ok(api::ListShardsOutput {
        shards: out
            .shards
            .unwrap_or_default()
            .into_iter()
            .map(shard_out)
            .collect(),
        next_token: out.next_token,
    })
}

pub(super) async fn put_record(
    client: &Client,
    input: api::PutRecordInput,
) -> Result<api::PutRecordOutput> {
    let out = client
        .put_record()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .data(blob(input.data))
        .partition_key(input.partition_key)
        .set_explicit_hash_key(input.explicit_hash_key)
        .set_sequence_number_for_ordering(input.sequence_number_for_ordering)
        .send()
        .await
        .map_err(|e| sdk_error("PutRecord", e))?;
    Ok(api::PutRecordOutput {
        shard_id: out.shard_id,
        sequence_number: out.sequence_number,
        encryption_type: encryption_out(out.encryption_type.as_ref()),
    })
}

pub(super) async fn put_records(
    client: &Client,
    input: api::PutRecordsInput,
) -> Result<api::PutRecordsOutput> {
    let records = input
        .records
        .into_iter()
        .map(|entry| {
            sdk::PutRecordsRequestEntry::builder()
                .data(blob(entry.data))
                .set_explicit_hash_key(entry.explicit_hash_key)
                .partition_key(entry.partition_key)
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>>>()?;
    let out = client
        .put_records()
        .set_records(Some(records))
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .send()
        .await
        .map_err(|e| sdk_error("PutRecords", e))?;
    let records: Vec<api::PutRecordsResultEntry> = out
        .records
        .into_iter()
        .map(|r| api::PutRecordsResultEntry {
            sequence_number: r.sequence_number,
            shard_id: r.shard_id,
            error_code: r.error_code,
            error_message: r.error_message,
        })
        .collect();
    // Always sent by AWS; count the failed entries should a server leave it out.
    let failed_record_count = out.failed_record_count.unwrap_or_else(|| {
        let failed = records.iter().filter(|r| r.error_code.is_some()).count();
        i32::try_from(failed).unwrap_or(i32::MAX)
    });
    Ok(api::PutRecordsOutput {
        failed_record_count,
        records,
        encryption_type: encryption_out(out.encryption_type.as_ref()),
    })
}

pub(super) async fn get_shard_iterator(
    client: &Client,
    input: api::GetShardIteratorInput,
) -> Result<api::GetShardIteratorOutput> {
    let out = client
        .get_shard_iterator()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .shard_id(input.shard_id)
        .set_shard_iterator_type(
            input
                .shard_iterator_type
                .map(|t| sdk::ShardIteratorType::from(t.as_str())),
        )
        .set_starting_sequence_number(input.starting_sequence_number)
        .set_timestamp(input.timestamp.map(date_time))
        .send()
        .await
        .map_err(|e| sdk_error("GetShardIterator", e))?;
    Ok(api::GetShardIteratorOutput {
        shard_iterator: out.shard_iterator,
    })
}

pub(super) async fn get_records(
    client: &Client,
    input: api::GetRecordsInput,
) -> Result<api::GetRecordsOutput> {
    let out = client
        .get_records()
        .shard_iterator(input.shard_iterator)
        .set_limit(input.limit)
        .set_stream_arn(input.stream_arn)
        .send()
        .await
        .map_err(|e| sdk_error("GetRecords", e))?;
    Ok(api::GetRecordsOutput {
        records: out.records.into_iter().map(record_out).collect(),
        next_shard_iterator: out.next_shard_iterator,
        millis_behind_latest: out.millis_behind_latest,
        child_shards: out
            .child_shards
            .map(|c| c.into_iter().map(child_shard_out).collect()),
    })
}

pub(super) async fn add_tags_to_stream(
    client: &Client,
    input: api::AddTagsToStreamInput,
) -> Result<()> {
    client
        .add_tags_to_stream()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_tags(Some(input.tags))
        .send()
        .await
        .map_err(|e| sdk_error("AddTagsToStream", e))?;
    Ok(())
}

pub(super) async fn list_tags_for_stream(
    client: &Client,
    input: api::ListTagsForStreamInput,
) -> Result<api::ListTagsForStreamOutput> {
    let out = client
        .list_tags_for_stream()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_exclusive_start_tag_key(input.exclusive_start_tag_key)
        .set_limit(input.limit)
        .send()
        .await
        .map_err(|e| sdk_error("ListTagsForStream", e))?;
    Ok(api::ListTagsForStreamOutput {
        tags: out
            .tags
            .into_iter()
            .map(|t| api::Tag {
                key: t.key,
                value: t.value,
            })
            .collect(),
        has_more_tags: out.has_more_tags,
    })
}

pub(super) async fn remove_tags_from_stream(
    client: &Client,
    input: api::RemoveTagsFromStreamInput,
) -> Result<()> {
    client
        .remove_tags_from_stream()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_tag_keys(Some(input.tag_keys))
        .send()
        .await
        .map_err(|e| sdk_error("RemoveTagsFromStream", e))?;
    Ok(())
}

pub(super) async fn increase_stream_retention_period(
    client: &Client,
    input: api::RetentionPeriodInput,
) -> Result<()> {
    client
        .increase_stream_retention_period()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .retention_period_hours(input.retention_period_hours)
        .send()
        .await
        .map_err(|e| sdk_error("IncreaseStreamRetentionPeriod", e))?;
    Ok(())
}

pub(super) async fn decrease_stream_retention_period(
    client: &Client,
    input: api::RetentionPeriodInput,
) -> Result<()> {
    client
        .decrease_stream_retention_period()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .retention_period_hours(input.retention_period_hours)
        .send()
        .await
        .map_err(|e| sdk_error("DecreaseStreamRetentionPeriod", e))?;
    Ok(())
}

pub(super) async fn register_stream_consumer(
    client: &Client,
    input: api::RegisterStreamConsumerInput,
) -> Result<api::RegisterStreamConsumerOutput> {
    let out = client
        .register_stream_consumer()
        .stream_arn(input.stream_arn)
        .consumer_name(input.consumer_name)
        .send()
        .await
        .map_err(|e| sdk_error("RegisterStreamConsumer", e))?;
    let c = out.consumer;
    Ok(api::RegisterStreamConsumerOutput {
        consumer: consumer_out(c.map(|c| {
            (
                c.consumer_name,
                c.consumer_arn,
                c.consumer_status,
                c.consumer_creation_timestamp,
            )
        })),
    })
}

pub(super) async fn describe_stream_consumer(
    client: &Client,
    input: api::DescribeStreamConsumerInput,
) -> Result<api::DescribeStreamConsumerOutput> {
    let out = client
        .describe_stream_consumer()
        .set_stream_arn(input.stream_arn)
        .set_consumer_name(input.consumer_name)
        .set_consumer_arn(input.consumer_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeStreamConsumer", e))?;
    let d = out.consumer_description;
    let stream_arn = d.as_ref().map(|d| d.stream_arn.clone()).unwrap_or_default();
    let c = consumer_out(d.map(|d| {
        (
            d.consumer_name,
            d.consumer_arn,
            d.consumer_status,
            d.consumer_creation_timestamp,
        )
    }));
    Ok(api::DescribeStreamConsumerOutput {
        consumer_description: api::ConsumerDescription {
            consumer_name: c.consumer_name,
            consumer_arn: c.consumer_arn,
            consumer_status: c.consumer_status,
            consumer_creation_timestamp: c.consumer_creation_timestamp,
            stream_arn,
        },
    })
}

pub(super) async fn list_stream_consumers(
    client: &Client,
    input: api::ListStreamConsumersInput,
) -> Result<api::ListStreamConsumersOutput> {
    let out = client
        .list_stream_consumers()
        .stream_arn(input.stream_arn)
        .set_next_token(input.next_token)
        .set_max_results(input.max_results)
        .set_stream_creation_timestamp(input.stream_creation_timestamp.map(date_time))
        .send()
        .await
        .map_err(|e| sdk_error("ListStreamConsumers", e))?;
    Ok(api::ListStreamConsumersOutput {
        consumers: out
            .consumers
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                consumer_out(Some((
                    c.consumer_name,
                    c.consumer_arn,
                    c.consumer_status,
                    c.consumer_creation_timestamp,
                )))
            })
            .collect(),
        next_token: out.next_token,
    })
}

pub(super) async fn deregister_stream_consumer(
    client: &Client,
    input: api::DeregisterStreamConsumerInput,
) -> Result<()> {
    client
        .deregister_stream_consumer()
        .set_stream_arn(input.stream_arn)
        .set_consumer_name(input.consumer_name)
        .set_consumer_arn(input.consumer_arn)
        .send()
        .await
        .map_err(|e| sdk_error("DeregisterStreamConsumer", e))?;
    Ok(())
}

pub(super) async fn subscribe_to_shard(
    client: &Client,
    input: api::SubscribeToShardInput,
) -> Result<api::SubscribeToShardStream> {
    let p = input.starting_position;
    let position = sdk::StartingPosition::builder()
        .r#type(sdk::ShardIteratorType::from(p.position_type.as_str()))
        .set_sequence_number(p.sequence_number)
        .set_timestamp(p.timestamp.map(date_time))
        .build()
        .map_err(build_error)?;
    let out = client
        .subscribe_to_shard()
        .consumer_arn(input.consumer_arn)
        .shard_id(input.shard_id)
        .starting_position(position)
        .send()
        .await
        .map_err(|e| sdk_error("SubscribeToShard", e))?;
    let stream = futures::stream::unfold(Some(out.event_stream), |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(Some(sdk::SubscribeToShardEventStream::SubscribeToShardEvent(e))) => {
                    let event = api::SubscribeToShardEvent {
                        records: e.records.into_iter().map(record_out).collect(),
                        continuation_sequence_number: e.continuation_sequence_number,
                        millis_behind_latest: e.millis_behind_latest,
                        child_shards: e
                            .child_shards
                            .map(|c| c.into_iter().map(child_shard_out).collect()),
                    };
                    return Some((Ok(event), Some(rx)));
                }
                // Event kinds this client does not know: skip them.
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(e) => return Some((Err(stream_error(e)), None)),
            }
        }
    });
    Ok(Box::pin(stream))
}

pub(super) async fn update_stream_mode(
    client: &Client,
    input: api::UpdateStreamModeInput,
) -> Result<()> {
    let details = aws_sdk_kinesis::types::StreamModeDetails::builder()
        .stream_mode(aws_sdk_kinesis::types::StreamMode::from(
            input.stream_mode_details.stream_mode.as_str(),
        ))
        .build()
        .map_err(|e| Error::internal("UpdateStreamMode: building StreamModeDetails", e))?;
    client
        .update_stream_mode()
        .stream_arn(input.stream_arn)
        .stream_mode_details(details)
        .send()
        .await
        .map_err(|e| sdk_error("UpdateStreamMode", e))?;
    Ok(())
}

pub(super) async fn start_stream_encryption(
    client: &Client,
    input: api::StreamEncryptionInput,
) -> Result<()> {
    client
        .start_stream_encryption()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_encryption_type(
            input
                .encryption_type
                .map(|t| aws_sdk_kinesis::types::EncryptionType::from(t.as_str())),
        )
        .key_id(input.key_id)
        .send()
        .await
        .map_err(|e| sdk_error("StartStreamEncryption", e))?;
    Ok(())
}

pub(super) async fn stop_stream_encryption(
    client: &Client,
    input: api::StreamEncryptionInput,
) -> Result<()> {
    client
        .stop_stream_encryption()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .set_encryption_type(
            input
                .encryption_type
                .map(|t| aws_sdk_kinesis::types::EncryptionType::from(t.as_str())),
        )
        .key_id(input.key_id)
        .send()
        .await
        .map_err(|e| sdk_error("StopStreamEncryption", e))?;
    Ok(())
}

pub(super) async fn split_shard(client: &Client, input: api::SplitShardInput) -> Result<()> {
    client
        .split_shard()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .shard_to_split(input.shard_to_split)
        .new_starting_hash_key(input.new_starting_hash_key)
        .send()
        .await
        .map_err(|e| sdk_error("SplitShard", e))?;
    Ok(())
}

pub(super) async fn merge_shards(client: &Client, input: api::MergeShardsInput) -> Result<()> {
    client
        .merge_shards()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .shard_to_merge(input.shard_to_merge)
        .adjacent_shard_to_merge(input.adjacent_shard_to_merge)
        .send()
        .await
        .map_err(|e| sdk_error("MergeShards", e))?;
    Ok(())
}

pub(super) async fn update_shard_count(
    client: &Client,
    input: api::UpdateShardCountInput,
) -> Result<api::UpdateShardCountOutput> {
    let out = client
        .update_shard_count()
        .set_stream_name(input.stream_name)
        .set_stream_arn(input.stream_arn)
        .target_shard_count(input.target_shard_count)
        .set_scaling_type(
            input
                .scaling_type
                .map(|t| aws_sdk_kinesis::types::ScalingType::from(t.as_str())),
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateShardCount", e))?;
    Ok(api::UpdateShardCountOutput {
        stream_name: out.stream_name,
        current_shard_count: out.current_shard_count,
        target_shard_count: out.target_shard_count,
        stream_arn: out.stream_arn,
    })
}
