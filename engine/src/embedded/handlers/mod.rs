//! The handlers of the embedded engine, one module per family of operations. Each operation of
//! the [operation table](crate::api::ops) is a function here of the same name as its
//! [`Kinesis`](crate::api::Kinesis) method, `async fn <method>(engine: &Engine, input) ->
//! Result<output>`; `embedded::dispatch` generates `impl Kinesis for Engine` from the table by
//! calling them (after checking the engine is open), so the compiler names any operation
//! without a handler.
//!
//! | module | operations |
//! |---|---|
//! | `streams` | CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary, ListStreams, UpdateStreamMode, UpdateStreamRecordDistributionStrategy |
//! | `shards` | ListShards, SplitShard, MergeShards, UpdateShardCount |
//! | `records` | PutRecord, PutRecords |
//! | `reads` | GetShardIterator, GetRecords |
//! | `tags` | AddTagsToStream, ListTagsForStream, RemoveTagsFromStream, TagResource, UntagResource, ListTagsForResource |
//! | `retention` | IncreaseStreamRetentionPeriod, DecreaseStreamRetentionPeriod |
//! | `encryption` | StartStreamEncryption, StopStreamEncryption |
//! | `fanout` | RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers, DeregisterStreamConsumer, SubscribeToShard |
//! | `account` | DescribeLimits, DescribeAccountSettings, UpdateAccountSettings, Enable/DisableEnhancedMonitoring, UpdateMaxRecordSize, UpdateStreamWarmThroughput |
//! | `policies` | PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy |
//! | `channels` | CreateChannel, DescribeChannel, ListChannels, UpdateChannel, DeleteChannel |
//!
//! Handlers depend on the leaf modules of `embedded` (`quotas`, `messages`, `metric_set`,
//! `topology`, `resolve`, `token`, `validate`, `telemetry`) and on the mechanics modules
//! (`reshard`, `distribution`, `crypto`, `limits`), never on each other, except that
//! CreateStream checks tags with `tags`' validation.

mod account;
mod channels;
mod encryption;
mod fanout;
mod policies;
mod reads;
mod records;
mod retention;
mod shards;
mod streams;
mod tags;

pub(crate) use account::*;
pub(crate) use channels::*;
pub(crate) use encryption::*;
pub(crate) use fanout::*;
pub(crate) use policies::*;
pub(crate) use reads::*;
pub(crate) use records::*;
pub(crate) use retention::*;
pub(crate) use shards::*;
pub(crate) use streams::*;
pub(crate) use tags::*;
