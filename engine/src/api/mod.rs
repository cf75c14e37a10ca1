//! The Kinesis surface shared by every implementation: request and response types in the
//! Kinesis JSON shapes, the [`Error`] enum with a variant per AWS exception, the async
//! [`Kinesis`] trait, hash keys and sequence numbers.
//!
//! The producer (`rill-kpl`) and the consumer (`rill-kcl`) talk to `dyn Kinesis` only, so
//! they run unchanged against the embedded engine, the engine's HTTP server or Amazon
//! Kinesis Data Streams.

pub mod agg;
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
}
