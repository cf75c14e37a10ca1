//! [`Remote`]: the [`Kinesis`] trait over [aws-sdk-kinesis](aws_sdk_kinesis), so that code
//! written against `dyn Kinesis` (the producer, the consumer, your own) runs unchanged against
//! any service that speaks the Kinesis Data Streams wire protocol: `rill serve`, Amazon
//! Kinesis Data Streams, kinesalite, LocalStack.
//!
//! Each of the trait's methods sends one request through the SDK client and converts both
//! ways between rill's [`api`] types and the SDK's: every field the two share is
//! copied, timestamps are converted between [`Timestamp`] (epoch milliseconds) and
//! [`DateTime`] (rounded to the nearest millisecond on the way back), blobs between [`Bytes`]
//! and [`Blob`] without copying, enums through their wire spelling. Errors the service sends
//! become the [`Error`] variant of their exception name (`ResourceNotFoundException` becomes
//! [`Error::ResourceNotFound`] with the service's message); failures below the protocol
//! (connection refused, timeouts, unreadable responses) become [`Error::Internal`] with the
//! SDK error kept as the source.
//!
//! # Building one
//!
//! * For `rill serve`, kinesalite or any local server: [`Remote::from_endpoint`] with the
//!   server's URL. It uses region `us-east-1` and static dummy credentials, reads nothing
//!   from the environment and needs no `async`.
//! * For Amazon Kinesis Data Streams: load an [`aws_config::SdkConfig`] (region and
//!   credentials from the environment, profile or instance role) and call
//!   [`Remote::from_conf`].
//! * For anything else (custom retry policy, timeouts, HTTP client, interceptors): build the
//!   [`aws_sdk_kinesis::Client`] yourself and call [`Remote::new`].
//!
//! The SDK's own retry policy applies below the trait: by default it makes up to three
//! attempts, and it retries throttling (`ProvisionedThroughputExceededException`,
//! `LimitExceededException`) and transient failures before [`Remote`] sees an error. Callers
//! that retry by themselves may want to pass a client built with
//! `aws_sdk_kinesis::config::retry::RetryConfig::disabled()` to [`Remote::new`].
//!
//! ```no_run
//! use rill_engine::Remote;
//! use rill_engine::api::*;
//!
//! # async fn demo() -> Result<(), Error> {
//! // A `rill serve` (or kinesalite) listening on this machine.
//! let kinesis: Box<dyn Kinesis> = Box::new(Remote::from_endpoint("http://127.0.0.1:4567"));
//! kinesis
//!     .create_stream(CreateStreamInput {
//!         stream_name: "orders".into(),
//!         shard_count: Some(1),
//!         ..Default::default()
//!     })
//!     .await?;
//! let put = kinesis
//!     .put_record(PutRecordInput {
//!         stream_name: Some("orders".into()),
//!         partition_key: "customer-1".into(),
//!         data: "hello".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{} {}", put.shard_id, put.sequence_number);
//!
//! // Amazon Kinesis Data Streams, with the region and credentials of the environment.
//! let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
//!     .load()
//!     .await;
//! let aws: Box<dyn Kinesis> = Box::new(Remote::from_conf(&conf));
//! let streams = aws.list_streams(ListStreamsInput::default()).await?;
//! println!("{:?}", streams.stream_names);
//! # Ok(())
//! # }
//! ```

use crate::api::{self, Error, Kinesis, Result, Timestamp};
use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types as sdk;
use aws_smithy_types::error::operation::BuildError;
use aws_smithy_types::{Blob, DateTime};
use bytes::Bytes;

/// The [`Kinesis`] trait over an [`aws_sdk_kinesis::Client`]: every call is a request to a
/// Kinesis-compatible service (`rill serve`, Amazon Kinesis Data Streams, kinesalite).
///
/// Cheap to clone: clones share the SDK client and its connection pool.
#[derive(Debug, Clone)]
pub struct Remote {
    client: aws_sdk_kinesis::Client,
}

impl Remote {
    /// Wraps an SDK client built by the caller, with whatever region, credentials, endpoint,
    /// retry policy and timeouts it was configured with.
    pub fn new(client: aws_sdk_kinesis::Client) -> Remote {
        Remote { client }
    }

    /// A client for the service an [`aws_config::SdkConfig`] describes, usually Amazon Kinesis
    /// Data Streams with the region and credentials `aws_config` loaded from the environment
    /// (an `endpoint_url` in the configuration, for example from `AWS_ENDPOINT_URL`, is
    /// honoured).
    ///
    /// # Panics
    ///
    /// As [`aws_sdk_kinesis::Client::new`]: when the configuration lacks what the SDK needs to
    /// run (a sleep implementation when retries or timeouts are enabled). Configurations made
    /// by `aws_config::defaults(..).load()` always have it.
    pub fn from_conf(conf: &aws_config::SdkConfig) -> Remote {
        Remote::new(aws_sdk_kinesis::Client::new(conf))
    }

    /// A client for a local Kinesis-compatible server at `url` (for example
    /// `http://127.0.0.1:4567` for `rill serve` or kinesalite).
    ///
    /// Uses region `us-east-1` and static dummy credentials (access key id `rill`, secret key
    /// `rill`): requests are still signed with SigV4, which local servers accept or ignore.
    /// Nothing is read from the environment, so `AWS_*` variables and profiles have no effect.
    /// The SDK's default retry policy and timeouts apply.
    pub fn from_endpoint(url: &str) -> Remote {
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("rill", "rill", None, None, "rill-static"))
            .endpoint_url(url)
            .build();
        Remote::new(aws_sdk_kinesis::Client::from_conf(conf))
    }

    /// The underlying SDK client, for operations the [`Kinesis`] trait does not cover
    /// (the channel operations and UpdateStreamRecordDistributionStrategy of newer SDKs), or
    /// for members it does not carry (`StreamId`).
    pub fn client(&self) -> &aws_sdk_kinesis::Client {
        &self.client
    }
}

#[async_trait]
impl Kinesis for Remote {
    async fn create_stream(&self, input: api::CreateStreamInput) -> Result<()> {
        let mode = input.stream_mode_details.map(mode_details_in).transpose()?;
        self.client
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

    async fn delete_stream(&self, input: api::DeleteStreamInput) -> Result<()> {
        self.client
            .delete_stream()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .set_enforce_consumer_deletion(input.enforce_consumer_deletion)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteStream", e))?;
        Ok(())
    }

    async fn describe_stream(
        &self,
        input: api::DescribeStreamInput,
    ) -> Result<api::DescribeStreamOutput> {
        let out = self
            .client
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

    async fn describe_stream_summary(
        &self,
        input: api::DescribeStreamSummaryInput,
    ) -> Result<api::DescribeStreamSummaryOutput> {
        let out = self
            .client
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

    async fn list_streams(&self, input: api::ListStreamsInput) -> Result<api::ListStreamsOutput> {
        let out = self
            .client
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

    async fn list_shards(&self, input: api::ListShardsInput) -> Result<api::ListShardsOutput> {
        let filter = input.shard_filter.map(shard_filter_in).transpose()?;
        let out = self
            .client
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

    async fn put_record(&self, input: api::PutRecordInput) -> Result<api::PutRecordOutput> {
        let out = self
            .client
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

    async fn put_records(&self, input: api::PutRecordsInput) -> Result<api::PutRecordsOutput> {
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
        let out = self
            .client
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

    async fn get_shard_iterator(
        &self,
        input: api::GetShardIteratorInput,
    ) -> Result<api::GetShardIteratorOutput> {
        let out = self
            .client
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

    async fn get_records(&self, input: api::GetRecordsInput) -> Result<api::GetRecordsOutput> {
        let out = self
            .client
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

    async fn add_tags_to_stream(&self, input: api::AddTagsToStreamInput) -> Result<()> {
        self.client
            .add_tags_to_stream()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .set_tags(Some(input.tags))
            .send()
            .await
            .map_err(|e| sdk_error("AddTagsToStream", e))?;
        Ok(())
    }

    async fn list_tags_for_stream(
        &self,
        input: api::ListTagsForStreamInput,
    ) -> Result<api::ListTagsForStreamOutput> {
        let out = self
            .client
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

    async fn remove_tags_from_stream(&self, input: api::RemoveTagsFromStreamInput) -> Result<()> {
        self.client
            .remove_tags_from_stream()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .set_tag_keys(Some(input.tag_keys))
            .send()
            .await
            .map_err(|e| sdk_error("RemoveTagsFromStream", e))?;
        Ok(())
    }

    async fn increase_stream_retention_period(
        &self,
        input: api::RetentionPeriodInput,
    ) -> Result<()> {
        self.client
            .increase_stream_retention_period()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .retention_period_hours(input.retention_period_hours)
            .send()
            .await
            .map_err(|e| sdk_error("IncreaseStreamRetentionPeriod", e))?;
        Ok(())
    }

    async fn decrease_stream_retention_period(
        &self,
        input: api::RetentionPeriodInput,
    ) -> Result<()> {
        self.client
            .decrease_stream_retention_period()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .retention_period_hours(input.retention_period_hours)
            .send()
            .await
            .map_err(|e| sdk_error("DecreaseStreamRetentionPeriod", e))?;
        Ok(())
    }

    async fn register_stream_consumer(
        &self,
        input: api::RegisterStreamConsumerInput,
    ) -> Result<api::RegisterStreamConsumerOutput> {
        let out = self
            .client
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

    async fn describe_stream_consumer(
        &self,
        input: api::DescribeStreamConsumerInput,
    ) -> Result<api::DescribeStreamConsumerOutput> {
        let out = self
            .client
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

    async fn list_stream_consumers(
        &self,
        input: api::ListStreamConsumersInput,
    ) -> Result<api::ListStreamConsumersOutput> {
        let out = self
            .client
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

    async fn deregister_stream_consumer(
        &self,
        input: api::DeregisterStreamConsumerInput,
    ) -> Result<()> {
        self.client
            .deregister_stream_consumer()
            .set_stream_arn(input.stream_arn)
            .set_consumer_name(input.consumer_name)
            .set_consumer_arn(input.consumer_arn)
            .send()
            .await
            .map_err(|e| sdk_error("DeregisterStreamConsumer", e))?;
        Ok(())
    }

    async fn subscribe_to_shard(
        &self,
        input: api::SubscribeToShardInput,
    ) -> Result<api::SubscribeToShardStream> {
        let p = input.starting_position;
        let position = sdk::StartingPosition::builder()
            .r#type(sdk::ShardIteratorType::from(p.position_type.as_str()))
            .set_sequence_number(p.sequence_number)
            .set_timestamp(p.timestamp.map(date_time))
            .build()
            .map_err(build_error)?;
        let out = self
            .client
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

    async fn update_stream_mode(&self, input: api::UpdateStreamModeInput) -> Result<()> {
        let details = aws_sdk_kinesis::types::StreamModeDetails::builder()
            .stream_mode(aws_sdk_kinesis::types::StreamMode::from(
                input.stream_mode_details.stream_mode.as_str(),
            ))
            .build()
            .map_err(|e| Error::internal("UpdateStreamMode: building StreamModeDetails", e))?;
        self.client
            .update_stream_mode()
            .stream_arn(input.stream_arn)
            .stream_mode_details(details)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateStreamMode", e))?;
        Ok(())
    }

    async fn start_stream_encryption(&self, input: api::StreamEncryptionInput) -> Result<()> {
        self.client
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

    async fn stop_stream_encryption(&self, input: api::StreamEncryptionInput) -> Result<()> {
        self.client
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

    async fn split_shard(&self, input: api::SplitShardInput) -> Result<()> {
        self.client
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

    async fn merge_shards(&self, input: api::MergeShardsInput) -> Result<()> {
        self.client
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

    async fn update_shard_count(
        &self,
        input: api::UpdateShardCountInput,
    ) -> Result<api::UpdateShardCountOutput> {
        let out = self
            .client
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

    async fn describe_limits(
        &self,
        _input: api::DescribeLimitsInput,
    ) -> Result<api::DescribeLimitsOutput> {
        let out = self
            .client
            .describe_limits()
            .send()
            .await
            .map_err(|e| sdk_error("DescribeLimits", e))?;
        Ok(api::DescribeLimitsOutput {
            shard_limit: out.shard_limit,
            open_shard_count: out.open_shard_count,
            on_demand_stream_count: out.on_demand_stream_count,
            on_demand_stream_count_limit: out.on_demand_stream_count_limit,
        })
    }

    async fn describe_account_settings(
        &self,
        _input: api::DescribeAccountSettingsInput,
    ) -> Result<api::DescribeAccountSettingsOutput> {
        let out = self
            .client
            .describe_account_settings()
            .send()
            .await
            .map_err(|e| sdk_error("DescribeAccountSettings", e))?;
        Ok(api::DescribeAccountSettingsOutput {
            minimum_throughput_billing_commitment: out
                .minimum_throughput_billing_commitment
                .and_then(commitment_out),
        })
    }

    async fn update_account_settings(
        &self,
        input: api::UpdateAccountSettingsInput,
    ) -> Result<api::UpdateAccountSettingsOutput> {
        let commitment = match input.minimum_throughput_billing_commitment {
            None => None,
            Some(c) => {
                let Some(status) = c.status else {
                    // The SDK cannot send a commitment without its required status.
                    return Err(Error::Validation(
                        "1 validation error detected: Value null at 'minimumThroughputBillingCommitment.status' failed to satisfy constraint: Member must not be null".into(),
                    ));
                };
                Some(
                    sdk::MinimumThroughputBillingCommitmentInput::builder()
                        .status(sdk::MinimumThroughputBillingCommitmentInputStatus::from(
                            status.as_str(),
                        ))
                        .build()
                        .map_err(build_error)?,
                )
            }
        };
        let out = self
            .client
            .update_account_settings()
            .set_minimum_throughput_billing_commitment(commitment)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateAccountSettings", e))?;
        Ok(api::UpdateAccountSettingsOutput {
            minimum_throughput_billing_commitment: out
                .minimum_throughput_billing_commitment
                .and_then(commitment_out),
        })
    }

    async fn enable_enhanced_monitoring(
        &self,
        input: api::EnhancedMonitoringInput,
    ) -> Result<api::EnhancedMonitoringOutput> {
        let out = self
            .client
            .enable_enhanced_monitoring()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .set_shard_level_metrics(Some(metrics_in(input.shard_level_metrics)))
            .send()
            .await
            .map_err(|e| sdk_error("EnableEnhancedMonitoring", e))?;
        Ok(api::EnhancedMonitoringOutput {
            stream_name: out.stream_name,
            stream_arn: out.stream_arn,
            current_shard_level_metrics: metric_names_out(out.current_shard_level_metrics),
            desired_shard_level_metrics: metric_names_out(out.desired_shard_level_metrics),
        })
    }

    async fn disable_enhanced_monitoring(
        &self,
        input: api::EnhancedMonitoringInput,
    ) -> Result<api::EnhancedMonitoringOutput> {
        let out = self
            .client
            .disable_enhanced_monitoring()
            .set_stream_name(input.stream_name)
            .set_stream_arn(input.stream_arn)
            .set_shard_level_metrics(Some(metrics_in(input.shard_level_metrics)))
            .send()
            .await
            .map_err(|e| sdk_error("DisableEnhancedMonitoring", e))?;
        Ok(api::EnhancedMonitoringOutput {
            stream_name: out.stream_name,
            stream_arn: out.stream_arn,
            current_shard_level_metrics: metric_names_out(out.current_shard_level_metrics),
            desired_shard_level_metrics: metric_names_out(out.desired_shard_level_metrics),
        })
    }

    async fn tag_resource(&self, input: api::TagResourceInput) -> Result<()> {
        self.client
            .tag_resource()
            .resource_arn(input.resource_arn)
            .set_tags(Some(input.tags))
            .send()
            .await
            .map_err(|e| sdk_error("TagResource", e))?;
        Ok(())
    }

    async fn untag_resource(&self, input: api::UntagResourceInput) -> Result<()> {
        self.client
            .untag_resource()
            .resource_arn(input.resource_arn)
            .set_tag_keys(Some(input.tag_keys))
            .send()
            .await
            .map_err(|e| sdk_error("UntagResource", e))?;
        Ok(())
    }

    async fn list_tags_for_resource(
        &self,
        input: api::ListTagsForResourceInput,
    ) -> Result<api::ListTagsForResourceOutput> {
        let out = self
            .client
            .list_tags_for_resource()
            .resource_arn(input.resource_arn)
            .send()
            .await
            .map_err(|e| sdk_error("ListTagsForResource", e))?;
        Ok(api::ListTagsForResourceOutput {
            tags: out
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| api::Tag {
                    key: t.key,
                    value: t.value,
                })
                .collect(),
        })
    }

    async fn update_max_record_size(&self, input: api::UpdateMaxRecordSizeInput) -> Result<()> {
        self.client
            .update_max_record_size()
            .stream_arn(input.stream_arn)
            .max_record_size_in_kib(input.max_record_size_in_kib)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateMaxRecordSize", e))?;
        Ok(())
    }

    async fn update_stream_warm_throughput(
        &self,
        input: api::UpdateStreamWarmThroughputInput,
    ) -> Result<api::UpdateStreamWarmThroughputOutput> {
        let out = self
            .client
            .update_stream_warm_throughput()
            .set_stream_arn(input.stream_arn)
            .set_stream_name(input.stream_name)
            .warm_throughput_mibps(input.warm_throughput_mibps)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateStreamWarmThroughput", e))?;
        Ok(api::UpdateStreamWarmThroughputOutput {
            stream_arn: out.stream_arn,
            stream_name: out.stream_name,
            warm_throughput: out.warm_throughput.map(warm_out),
        })
    }

    async fn put_resource_policy(&self, input: api::PutResourcePolicyInput) -> Result<()> {
        self.client
            .put_resource_policy()
            .resource_arn(input.resource_arn)
            .policy(input.policy)
            .send()
            .await
            .map_err(|e| sdk_error("PutResourcePolicy", e))?;
        Ok(())
    }

    async fn get_resource_policy(
        &self,
        input: api::ResourcePolicyInput,
    ) -> Result<api::GetResourcePolicyOutput> {
        let out = self
            .client
            .get_resource_policy()
            .resource_arn(input.resource_arn)
            .send()
            .await
            .map_err(|e| sdk_error("GetResourcePolicy", e))?;
        Ok(api::GetResourcePolicyOutput { policy: out.policy })
    }

    async fn delete_resource_policy(&self, input: api::ResourcePolicyInput) -> Result<()> {
        self.client
            .delete_resource_policy()
            .resource_arn(input.resource_arn)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteResourcePolicy", e))?;
        Ok(())
    }
}

// ---------------------------------------------------------------- errors

/// Maps an SDK error to rill's: a service error by its exception code (keeping the SDK error
/// as the source when it is an `InternalFailure`), anything else (construction, timeout,
/// dispatch, unreadable response, a service error without a code) to [`Error::Internal`]
/// with the SDK error as the source.
fn sdk_error<E>(operation: &str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(service) = err.as_service_error()
        && let Some(code) = service.code()
    {
        return match Error::from_code(code, service.message().unwrap_or_default()) {
            Error::Internal {
                message,
                source: None,
            } => Error::Internal {
                message,
                source: Some(Box::new(err)),
            },
            mapped => mapped,
        };
    }
    Error::internal(format!("{operation}: {}", error_chain(&err)), err)
}

/// An error and its sources, joined with ": ".
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        // Some layers repeat their source's text in their own; don't say it twice.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A request shape the SDK refused to build (only if a required member were missing, which
/// the conversions below never leave out).
fn build_error(err: BuildError) -> Error {
    Error::internal("building the request", err)
}

// ---------------------------------------------------------------- scalars

/// rill's epoch milliseconds as an SDK timestamp (exact).
/// An error inside a subscription's event stream: a modeled exception by its code (from
/// the SDK's error metadata, or else from the raw message's `:exception-type` header and
/// its payload's `message`, which the SDK leaves unparsed for some exceptions), anything
/// else as an internal failure keeping its source.
fn stream_error<E>(err: SdkError<E, aws_smithy_types::event_stream::RawMessage>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(se) = &err {
        if let Some(code) = se.err().code() {
            return Error::from_code(code, se.err().message().unwrap_or_default());
        }
        if let aws_smithy_types::event_stream::RawMessage::Decoded(message) = se.raw()
            && let Some(code) = message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == ":exception-type")
                .and_then(|h| h.value().as_string().ok())
        {
            let text = serde_json::from_slice::<serde_json::Value>(message.payload())
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("Message"))
                        .and_then(|m| m.as_str().map(str::to_owned))
                })
                .unwrap_or_default();
            return Error::from_code(code.as_str(), text);
        }
    }
    Error::internal(format!("SubscribeToShard: {}", error_chain(&err)), err)
}

fn consumer_out(c: Option<(String, String, sdk::ConsumerStatus, DateTime)>) -> api::Consumer {
    match c {
        Some((name, arn, status, created)) => api::Consumer {
            consumer_name: name,
            consumer_arn: arn,
            consumer_status: api::ConsumerStatus::parse(status.as_str()),
            consumer_creation_timestamp: timestamp(created),
        },
        None => api::Consumer::default(),
    }
}

fn date_time(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millis())
}

/// An SDK timestamp as epoch milliseconds, rounded to the nearest millisecond.
///
/// Rounding matters: the SDK parses the wire's epoch seconds through an `f64`, so
/// `1700000000.123` arrives as `1700000000.122999906` and `DateTime::to_millis`, which
/// truncates, would answer `...122`.
fn timestamp(t: DateTime) -> Timestamp {
    let millis = (t.as_nanos() + 500_000).div_euclid(1_000_000);
    Timestamp(i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX }))
}

/// Bytes as an SDK blob, without copying.
fn blob(b: Bytes) -> Blob {
    Blob::from_maybe_shared(b)
}

// ---------------------------------------------------------------- structures in

fn mode_details_in(d: api::StreamModeDetails) -> Result<sdk::StreamModeDetails> {
    sdk::StreamModeDetails::builder()
        .stream_mode(sdk::StreamMode::from(d.stream_mode.as_str()))
        .build()
        .map_err(build_error)
}

fn shard_filter_in(f: api::ShardFilter) -> Result<sdk::ShardFilter> {
    sdk::ShardFilter::builder()
        .r#type(sdk::ShardFilterType::from(f.filter_type.as_str()))
        .set_shard_id(f.shard_id)
        .set_timestamp(f.timestamp.map(date_time))
        .build()
        .map_err(build_error)
}

// ---------------------------------------------------------------- structures out

fn status_out(s: &sdk::StreamStatus) -> Option<api::StreamStatus> {
    api::StreamStatus::parse(s.as_str())
}

fn mode_details_out(d: Option<sdk::StreamModeDetails>) -> Option<api::StreamModeDetails> {
    d.and_then(|d| api::StreamMode::parse(d.stream_mode.as_str()))
        .map(|stream_mode| api::StreamModeDetails { stream_mode })
}

fn encryption_out(e: Option<&sdk::EncryptionType>) -> Option<api::EncryptionType> {
    e.and_then(|e| api::EncryptionType::parse(e.as_str()))
}

fn metrics_out(m: Vec<sdk::EnhancedMetrics>) -> Vec<api::EnhancedMetrics> {
    m.into_iter()
        .map(|m| api::EnhancedMetrics {
            shard_level_metrics: m
                .shard_level_metrics
                .unwrap_or_default()
                .iter()
                .map(|n| n.as_str().to_string())
                .collect(),
        })
        .collect()
}

fn metrics_in(names: Vec<String>) -> Vec<sdk::MetricsName> {
    names
        .iter()
        .map(|n| sdk::MetricsName::from(n.as_str()))
        .collect()
}

fn metric_names_out(m: Option<Vec<sdk::MetricsName>>) -> Vec<String> {
    m.unwrap_or_default()
        .iter()
        .map(|n| n.as_str().to_string())
        .collect()
}

fn commitment_out(
    c: sdk::MinimumThroughputBillingCommitmentOutput,
) -> Option<api::MinimumThroughputBillingCommitmentOutput> {
    Some(api::MinimumThroughputBillingCommitmentOutput {
        status: api::MinimumThroughputBillingCommitmentStatus::parse(c.status.as_str())?,
        started_at: c.started_at.map(timestamp),
        ended_at: c.ended_at.map(timestamp),
        earliest_allowed_end_at: c.earliest_allowed_end_at.map(timestamp),
    })
}

fn warm_out(w: sdk::WarmThroughputObject) -> api::WarmThroughputObject {
    api::WarmThroughputObject {
        target_mibps: w.target_mibps,
        current_mibps: w.current_mibps,
    }
}

fn hash_key_range_out(r: Option<sdk::HashKeyRange>) -> api::types::HashKeyRange {
    r.map(|r| api::types::HashKeyRange {
        starting_hash_key: r.starting_hash_key,
        ending_hash_key: r.ending_hash_key,
    })
    .unwrap_or_default()
}

fn shard_out(s: sdk::Shard) -> api::Shard {
    api::Shard {
        shard_id: s.shard_id,
        parent_shard_id: s.parent_shard_id,
        adjacent_parent_shard_id: s.adjacent_parent_shard_id,
        hash_key_range: hash_key_range_out(s.hash_key_range),
        sequence_number_range: s
            .sequence_number_range
            .map(|r| api::SequenceNumberRange {
                starting_sequence_number: r.starting_sequence_number,
                ending_sequence_number: r.ending_sequence_number,
            })
            .unwrap_or_default(),
    }
}

fn child_shard_out(c: sdk::ChildShard) -> api::ChildShard {
    api::ChildShard {
        shard_id: c.shard_id,
        parent_shards: c.parent_shards,
        hash_key_range: hash_key_range_out(c.hash_key_range),
    }
}

fn record_out(r: sdk::Record) -> api::Record {
    api::Record {
        sequence_number: r.sequence_number,
        approximate_arrival_timestamp: r.approximate_arrival_timestamp.map(timestamp),
        data: r.data.into_bytes(),
        partition_key: r.partition_key.unwrap_or_default(),
        encryption_type: encryption_out(r.encryption_type.as_ref()),
    }
}

fn description_out(d: sdk::StreamDescription) -> api::StreamDescription {
    api::StreamDescription {
        stream_status: status_out(&d.stream_status),
        stream_mode_details: mode_details_out(d.stream_mode_details),
        shards: d.shards.into_iter().map(shard_out).collect(),
        has_more_shards: d.has_more_shards,
        retention_period_hours: d.retention_period_hours,
        stream_creation_timestamp: timestamp(d.stream_creation_timestamp),
        enhanced_monitoring: metrics_out(d.enhanced_monitoring),
        encryption_type: encryption_out(d.encryption_type.as_ref()),
        key_id: d.key_id,
        stream_name: d.stream_name,
        stream_arn: d.stream_arn,
    }
}

fn description_summary_out(d: sdk::StreamDescriptionSummary) -> api::StreamDescriptionSummary {
    api::StreamDescriptionSummary {
        stream_status: status_out(&d.stream_status),
        stream_mode_details: mode_details_out(d.stream_mode_details),
        retention_period_hours: d.retention_period_hours,
        stream_creation_timestamp: timestamp(d.stream_creation_timestamp),
        enhanced_monitoring: metrics_out(d.enhanced_monitoring),
        encryption_type: encryption_out(d.encryption_type.as_ref()),
        key_id: d.key_id,
        open_shard_count: d.open_shard_count,
        consumer_count: d.consumer_count,
        warm_throughput: d.warm_throughput.map(warm_out),
        max_record_size_in_kib: d.max_record_size_in_kib,
        stream_name: d.stream_name,
        stream_arn: d.stream_arn,
    }
}

fn stream_summary_out(s: sdk::StreamSummary) -> api::StreamSummary {
    api::StreamSummary {
        stream_status: status_out(&s.stream_status),
        stream_mode_details: mode_details_out(s.stream_mode_details),
        stream_creation_timestamp: s.stream_creation_timestamp.map(timestamp),
        stream_name: s.stream_name,
        stream_arn: s.stream_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::config::http::HttpResponse;
    use aws_sdk_kinesis::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_kinesis::operation::get_records::GetRecordsError;
    use aws_sdk_kinesis::operation::put_record::PutRecordError;
    use aws_smithy_types::body::SdkBody;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn response(status: u16) -> std::result::Result<HttpResponse, Box<dyn std::error::Error>> {
        Ok(HttpResponse::new(status.try_into()?, SdkBody::empty()))
    }

    #[test]
    fn timestamps_to_sdk_are_exact() {
        let t = date_time(Timestamp(1_700_000_000_123));
        assert_eq!((t.secs(), t.subsec_nanos()), (1_700_000_000, 123_000_000));
        let t = date_time(Timestamp(-1));
        assert_eq!((t.secs(), t.subsec_nanos()), (-1, 999_000_000));
        for ms in [
            0,
            1,
            999,
            1_000,
            1_700_000_000_123,
            -1,
            -1_001,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(timestamp(date_time(Timestamp(ms))), Timestamp(ms), "{ms}");
        }
    }

    #[test]
    fn timestamps_from_sdk_round_to_the_millisecond() {
        // What the SDK's JSON parser makes of `1700000000.123`: not quite .123 seconds.
        let parsed = DateTime::from_secs_f64(1_700_000_000.123);
        assert!(parsed.subsec_nanos() < 123_000_000, "{parsed:?}");
        assert_eq!(timestamp(parsed), Timestamp(1_700_000_000_123));
        assert_eq!(
            timestamp(DateTime::from_secs_f64(1_700_000_000.0)),
            Timestamp(1_700_000_000_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(1, 999_600_000)),
            Timestamp(2_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(1, 400_000)),
            Timestamp(1_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(-1, 999_999_000)),
            Timestamp(0)
        );
        assert_eq!(
            timestamp(DateTime::from_secs(i64::MAX)),
            Timestamp(i64::MAX)
        );
        assert_eq!(
            timestamp(DateTime::from_secs(i64::MIN)),
            Timestamp(i64::MIN)
        );
    }

    #[test]
    fn blobs_are_not_copied() {
        let data = Bytes::from(vec![1u8, 2, 3]);
        let ptr = data.as_ptr();
        let back = blob(data).into_bytes();
        assert_eq!(&back[..], &[1, 2, 3]);
        assert_eq!(back.as_ptr(), ptr);
    }

    #[test]
    fn enums_use_the_sdk_spellings() {
        use api::{ShardFilterType as F, ShardIteratorType as I, StreamMode as M};
        for t in [
            I::AtSequenceNumber,
            I::AfterSequenceNumber,
            I::AtTimestamp,
            I::TrimHorizon,
            I::Latest,
        ] {
            assert!(
                sdk::ShardIteratorType::values().contains(&t.as_str()),
                "{t}"
            );
        }
        for t in [
            F::AfterShardId,
            F::AtTrimHorizon,
            F::FromTrimHorizon,
            F::AtLatest,
            F::AtTimestamp,
            F::FromTimestamp,
        ] {
            assert!(sdk::ShardFilterType::values().contains(&t.as_str()), "{t}");
        }
        for m in [M::Provisioned, M::OnDemand] {
            assert!(sdk::StreamMode::values().contains(&m.as_str()), "{m}");
        }
        for s in sdk::StreamStatus::values() {
            assert!(api::StreamStatus::parse(s).is_some(), "{s}");
        }
        for e in sdk::EncryptionType::values() {
            assert!(api::EncryptionType::parse(e).is_some(), "{e}");
        }
    }

    #[test]
    fn structures_convert() -> TestResult {
        let r = record_out(
            sdk::Record::builder()
                .sequence_number("49590338271490256608559692538361571095921575989136588898")
                .approximate_arrival_timestamp(DateTime::from_secs_f64(1_700_000_000.5))
                .data(Blob::new("hi"))
                .partition_key("k")
                .encryption_type(sdk::EncryptionType::Kms)
                .build()?,
        );
        assert_eq!(
            r,
            api::Record {
                sequence_number: "49590338271490256608559692538361571095921575989136588898".into(),
                approximate_arrival_timestamp: Some(Timestamp(1_700_000_000_500)),
                data: Bytes::from_static(b"hi"),
                partition_key: "k".into(),
                encryption_type: Some(api::EncryptionType::Kms),
            }
        );
        let f = shard_filter_in(api::ShardFilter {
            filter_type: api::ShardFilterType::AtTimestamp,
            shard_id: None,
            timestamp: Some(Timestamp(1_700_000_000_001)),
        })?;
        assert_eq!(f.r#type, sdk::ShardFilterType::AtTimestamp);
        assert_eq!(f.timestamp, Some(DateTime::from_millis(1_700_000_000_001)));
        let m = mode_details_in(api::StreamModeDetails {
            stream_mode: api::StreamMode::OnDemand,
        })?;
        assert_eq!(
            mode_details_out(Some(m)),
            Some(api::StreamModeDetails {
                stream_mode: api::StreamMode::OnDemand
            })
        );
        Ok(())
    }

    #[test]
    fn service_errors_map_by_code() -> TestResult {
        let not_found = aws_sdk_kinesis::types::error::ResourceNotFoundException::builder()
            .message("Stream s under account 000000000000 not found.")
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .message("Stream s under account 000000000000 not found.")
                    .build(),
            )
            .build();
        let e = sdk_error(
            "PutRecord",
            SdkError::service_error(
                PutRecordError::ResourceNotFoundException(not_found),
                response(400)?,
            ),
        );
        assert!(
            matches!(&e, Error::ResourceNotFound(m) if m == "Stream s under account 000000000000 not found."),
            "{e:?}"
        );

        let generic =
            |code: &str, message: &str| -> std::result::Result<_, Box<dyn std::error::Error>> {
                Ok(SdkError::service_error(
                    GetRecordsError::generic(
                        ErrorMetadata::builder().code(code).message(message).build(),
                    ),
                    response(400)?,
                ))
            };
        let e = sdk_error(
            "GetRecords",
            generic("ExpiredIteratorException", "too old")?,
        );
        assert!(
            matches!(&e, Error::ExpiredIterator(m) if m == "too old"),
            "{e:?}"
        );
        let e = sdk_error(
            "GetRecords",
            generic("ProvisionedThroughputExceededException", "slow down")?,
        );
        assert!(matches!(e, Error::ProvisionedThroughputExceeded(_)));
        assert!(e.is_retryable());
        let e = sdk_error("GetRecords", generic("SomethingNew", "m")?);
        assert_eq!((e.code(), e.message()), ("SomethingNew", "m"));

        // InternalFailure keeps the SDK error as its source.
        let e = sdk_error("GetRecords", generic("InternalFailure", "oops")?);
        assert!(
            matches!(&e, Error::Internal { message, source: Some(_) } if message == "oops"),
            "{e:?}"
        );

        // A service error without a code (say an HTTP 502 from a proxy) is internal.
        let e = sdk_error(
            "GetRecords",
            SdkError::service_error(
                GetRecordsError::generic(ErrorMetadata::builder().build()),
                response(502)?,
            ),
        );
        assert!(
            matches!(
                &e,
                Error::Internal {
                    source: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        Ok(())
    }

    #[test]
    fn transport_errors_are_internal_with_source() {
        let refused = SdkError::<PutRecordError, HttpResponse>::dispatch_failure(
            ConnectorError::io(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))),
        );
        let e = sdk_error("PutRecord", refused);
        assert_eq!(e.code(), "InternalFailure");
        assert!(e.is_retryable());
        assert!(
            e.message().starts_with("PutRecord: dispatch failure"),
            "{e}"
        );
        assert!(e.message().contains("connection refused"), "{e}");
        let source = std::error::Error::source(&e);
        assert!(
            source.is_some_and(|s| s
                .downcast_ref::<SdkError<PutRecordError, HttpResponse>>()
                .is_some()),
            "{e:?}"
        );

        let timeout = SdkError::<PutRecordError, HttpResponse>::timeout_error("deadline");
        let e = sdk_error("PutRecord", timeout);
        assert!(
            matches!(&e, Error::Internal { message, source: Some(_) } if message.contains("timed out")),
            "{e:?}"
        );
    }

    #[test]
    fn from_endpoint_configures_a_local_client() {
        let remote = Remote::from_endpoint("http://127.0.0.1:4567");
        let conf = remote.client().config();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
