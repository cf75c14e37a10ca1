//! The Kinesis surface shared by every implementation: request and response types in the
//! Kinesis JSON shapes, the [`Error`] enum with a variant per AWS exception, the async
//! [`Kinesis`] trait, hash keys and sequence numbers.
//!
//! The producer (`rill-kpl`) and the consumer (`rill-kcl`) talk to `dyn Kinesis` only, so
//! they run unchanged against the embedded engine, the engine's HTTP server or Amazon
//! Kinesis Data Streams.

pub mod agg;
pub mod bucket;
pub mod dates;
pub mod error;
pub mod hash;
pub mod seq;
pub mod types;

pub use error::{Error, ValidationErrors};
pub use hash::{HashKey, HashKeyRange};
pub use seq::SequenceNumber;
pub use types::*;

use async_trait::async_trait;

/// The events of a SubscribeToShard call: each item an event or the error that ended it.
/// The stream ends after the subscription's lifetime (5 minutes) or at the end of a closed
/// shard (the last event then carries `child_shards`).
pub type SubscribeToShardStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<SubscribeToShardEvent>> + Send + 'static>>;

/// The result of a Kinesis call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Kinesis Data Streams API, one method per operation.
///
/// Every method is cancel safe in the sense that dropping its future never corrupts the
/// service; a write whose future is dropped may or may not have been applied, exactly as a
/// request whose response was lost.
#[async_trait]
pub trait Kinesis: Send + Sync {
    /// Creates a stream with the given number of shards (or ON_DEMAND capacity).
    async fn create_stream(&self, input: CreateStreamInput) -> Result<()>;
    /// Deletes a stream and every record in it.
    async fn delete_stream(&self, input: DeleteStreamInput) -> Result<()>;
    /// Describes a stream and a page of its shards.
    async fn describe_stream(&self, input: DescribeStreamInput) -> Result<DescribeStreamOutput>;
    /// Describes a stream without its shards.
    async fn describe_stream_summary(
        &self,
        input: DescribeStreamSummaryInput,
    ) -> Result<DescribeStreamSummaryOutput>;
    /// Lists stream names, a page at a time.
    async fn list_streams(&self, input: ListStreamsInput) -> Result<ListStreamsOutput>;
    /// Lists a stream's shards, a page at a time.
    async fn list_shards(&self, input: ListShardsInput) -> Result<ListShardsOutput>;
    /// Writes one record.
    async fn put_record(&self, input: PutRecordInput) -> Result<PutRecordOutput>;
    /// Writes up to 500 records; each entry succeeds or fails on its own.
    async fn put_records(&self, input: PutRecordsInput) -> Result<PutRecordsOutput>;
    /// Returns an iterator into a shard, valid for five minutes.
    async fn get_shard_iterator(
        &self,
        input: GetShardIteratorInput,
    ) -> Result<GetShardIteratorOutput>;
    /// Reads records at an iterator.
    async fn get_records(&self, input: GetRecordsInput) -> Result<GetRecordsOutput>;
    /// Adds or overwrites tags on a stream.
    async fn add_tags_to_stream(&self, input: AddTagsToStreamInput) -> Result<()>;
    /// Lists a stream's tags.
    async fn list_tags_for_stream(
        &self,
        input: ListTagsForStreamInput,
    ) -> Result<ListTagsForStreamOutput>;
    /// Removes tags from a stream.
    async fn remove_tags_from_stream(&self, input: RemoveTagsFromStreamInput) -> Result<()>;
    /// Lengthens a stream's retention period.
    async fn increase_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()>;
    /// Shortens a stream's retention period; records older than the new period go.
    async fn decrease_stream_retention_period(&self, input: RetentionPeriodInput) -> Result<()>;
    /// Splits an open shard in two at a hash key; the parent closes.
    async fn split_shard(&self, input: SplitShardInput) -> Result<()>;
    /// Merges two open shards with adjacent hash-key ranges into one; both parents close.
    async fn merge_shards(&self, input: MergeShardsInput) -> Result<()>;
    /// Registers an enhanced fan-out consumer of a stream.
    async fn register_stream_consumer(
        &self,
        input: RegisterStreamConsumerInput,
    ) -> Result<RegisterStreamConsumerOutput>;
    /// Describes a registered consumer.
    async fn describe_stream_consumer(
        &self,
        input: DescribeStreamConsumerInput,
    ) -> Result<DescribeStreamConsumerOutput>;
    /// Lists a stream's registered consumers, a page at a time.
    async fn list_stream_consumers(
        &self,
        input: ListStreamConsumersInput,
    ) -> Result<ListStreamConsumersOutput>;
    /// Deregisters a consumer; its subscriptions end.
    async fn deregister_stream_consumer(&self, input: DeregisterStreamConsumerInput) -> Result<()>;
    /// Subscribes a registered consumer to a shard: records are pushed as they are committed.
    /// Dropping the stream ends the subscription.
    async fn subscribe_to_shard(
        &self,
        input: SubscribeToShardInput,
    ) -> Result<SubscribeToShardStream>;
    /// Switches a stream between PROVISIONED and ON_DEMAND capacity.
    async fn update_stream_mode(&self, input: UpdateStreamModeInput) -> Result<()>;
    /// Encrypts records written from now on with a KMS key.
    async fn start_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()>;
    /// Stops encrypting new records (records already encrypted stay so).
    async fn stop_stream_encryption(&self, input: StreamEncryptionInput) -> Result<()>;
    /// Reshapes a stream to a number of open shards with even ranges.
    async fn update_shard_count(
        &self,
        input: UpdateShardCountInput,
    ) -> Result<UpdateShardCountOutput>;

    // The operations below have default implementations that answer
    // `UnknownOperationException` (see [`unsupported`]), so that implementors written before
    // they were added (test wrappers, fakes) keep compiling. [`Engine`](crate::Engine) and
    // `Remote` override every one of them.

    /// The account's shard limit and open shard count, and its ON_DEMAND stream count and
    /// limit.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn describe_limits(&self, input: DescribeLimitsInput) -> Result<DescribeLimitsOutput> {
        let _ = input;
        Err(unsupported("DescribeLimits"))
    }
    /// The account-level settings (the minimum throughput billing commitment).
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn describe_account_settings(
        &self,
        input: DescribeAccountSettingsInput,
    ) -> Result<DescribeAccountSettingsOutput> {
        let _ = input;
        Err(unsupported("DescribeAccountSettings"))
    }
    /// Changes the account-level settings.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn update_account_settings(
        &self,
        input: UpdateAccountSettingsInput,
    ) -> Result<UpdateAccountSettingsOutput> {
        let _ = input;
        Err(unsupported("UpdateAccountSettings"))
    }
    /// Turns shard-level metrics on for a stream.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn enable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        let _ = input;
        Err(unsupported("EnableEnhancedMonitoring"))
    }
    /// Turns shard-level metrics off for a stream.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn disable_enhanced_monitoring(
        &self,
        input: EnhancedMonitoringInput,
    ) -> Result<EnhancedMonitoringOutput> {
        let _ = input;
        Err(unsupported("DisableEnhancedMonitoring"))
    }
    /// Adds or overwrites tags on a stream or consumer, named by ARN.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn tag_resource(&self, input: TagResourceInput) -> Result<()> {
        let _ = input;
        Err(unsupported("TagResource"))
    }
    /// Removes tags from a stream or consumer, named by ARN.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn untag_resource(&self, input: UntagResourceInput) -> Result<()> {
        let _ = input;
        Err(unsupported("UntagResource"))
    }
    /// Lists the tags of a stream or consumer, named by ARN.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn list_tags_for_resource(
        &self,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput> {
        let _ = input;
        Err(unsupported("ListTagsForResource"))
    }
    /// Sets a stream's largest record size (1024..=10240 KiB).
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn update_max_record_size(&self, input: UpdateMaxRecordSizeInput) -> Result<()> {
        let _ = input;
        Err(unsupported("UpdateMaxRecordSize"))
    }
    /// Sets an ON_DEMAND stream's warm throughput.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn update_stream_warm_throughput(
        &self,
        input: UpdateStreamWarmThroughputInput,
    ) -> Result<UpdateStreamWarmThroughputOutput> {
        let _ = input;
        Err(unsupported("UpdateStreamWarmThroughput"))
    }
    /// Attaches a resource policy (a JSON document) to a stream or consumer.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn put_resource_policy(&self, input: PutResourcePolicyInput) -> Result<()> {
        let _ = input;
        Err(unsupported("PutResourcePolicy"))
    }
    /// The resource policy of a stream or consumer (`{}` when none).
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn get_resource_policy(
        &self,
        input: ResourcePolicyInput,
    ) -> Result<GetResourcePolicyOutput> {
        let _ = input;
        Err(unsupported("GetResourcePolicy"))
    }
    /// Removes the resource policy of a stream or consumer.
    ///
    /// Default implementation: `UnknownOperationException` (see [`unsupported`]).
    async fn delete_resource_policy(&self, input: ResourcePolicyInput) -> Result<()> {
        let _ = input;
        Err(unsupported("DeleteResourcePolicy"))
    }
}

/// The error of an operation an implementation does not serve: `UnknownOperationException`
/// (an [`Error::Other`]) with the message "`<Op>` is not supported by this implementation".
/// The default implementations of the [`Kinesis`] methods added after the first 26
/// operations answer it, so older implementors keep compiling.
pub fn unsupported(operation: &str) -> Error {
    Error::Other {
        code: "UnknownOperationException".into(),
        message: format!("{operation} is not supported by this implementation"),
    }
}
