//! The operation table: the one declaration of every Kinesis operation rill knows.
//!
//! # What the table holds
//!
//! [`kinesis_operations!`](crate::kinesis_operations) is a `macro_rules!` table with one line
//! per operation:
//!
//! ```text
//! (PutRecord, put_record, $crate::api::PutRecordInput, $crate::api::PutRecordOutput,
//!  data, [PartitionKey, Data], "Writes one record.")
//! ```
//!
//! in this order: the wire name (`X-Amz-Target: Kinesis_20131202.<name>`, also the
//! [`Operation`] variant, the audit event name and the IAM action `kinesis:<name>`), the
//! [`Kinesis`](super::Kinesis) method, the input type, the output type (`()` for operations
//! that answer an empty body), the plane (`data` or `control`, as the audit log and AWS's
//! CloudTrail split them), the top-level members the model marks required (wire spelling;
//! the validation message spells them with the first letter lower-cased, as AWS does), and
//! the method's doc comment.
//!
//! The lines are in two sections. `required` holds the operations every implementation of
//! the trait must write (the first 26 of the API); `provided` holds those added later, whose
//! trait methods have a default body answering `UnknownOperationException` (see
//! [`unsupported`](super::unsupported)), so that an implementation written before they were
//! added (a test fake, a wrapper) keeps compiling.
//!
//! # What is generated from it
//!
//! The macro hands both sections to a callback macro, which turns them into code. The
//! callbacks in this workspace:
//!
//! * [`Kinesis`](super::Kinesis), the trait: one method per line (`api/mod.rs`);
//! * [`Operation`]: the enum, [`Operation::ALL`], the wire name, the plane and the required
//!   members (this module);
//! * the server's dispatch from `X-Amz-Target` to the trait method, and its
//!   required-member check ("Value null at 'streamName' ..."), which reads
//!   [`Operation::required_members`] (`server/mod.rs`);
//! * the audit log's data-plane filter, through [`Operation::is_data_plane`]
//!   (`server/audit.rs`);
//! * rill-testkit's `FaultyKinesis`: its forwarding of every method, counted under its
//!   [`Operation`] (`testkit/src/kinesis/wrapper.rs`, from another crate: the table's
//!   `$crate` paths name rill-engine's types wherever the callback expands);
//! * `Remote`'s `impl Kinesis`: each method calls the function of the same name in
//!   `remote/calls.rs`, which converts to and from the SDK's types (`remote/mod.rs`);
//! * the fuzz harness: the operations whose bodies it decodes and the stub service it serves
//!   subscriptions from (`fuzz/src/harness/eventstream.rs`).
//!
//! * the embedded [`Engine`](crate::Engine)'s `impl Kinesis`: each method checks the engine
//!   is open and calls the handler of the same name in `embedded/handlers/` (one module per
//!   family of operations; `embedded/dispatch.rs`).
//!
//! # Adding an operation
//!
//! 1. Its input and output types in [`types`](super::types) (serde in the Kinesis JSON
//!    shape, `Default` where every member is optional).
//! 2. One line in the `provided` section of the table.
//! 3. Its handler: `async fn <method>(engine: &Engine, input)` in its family's module of
//!    `embedded/handlers/`, and the conversion in `remote/calls.rs` (the compiler asks for
//!    both).
//! 4. Its tests: a success and an error case in the suite run against `Engine` and against
//!    `Remote` + `rill serve`, and the model's list of wire names in `engine/tests/server.rs`.
//!
//! Nothing else lists operations: the server, the audit log, the fault wrapper, the fuzz
//! harness and rill-testkit's test that every operation is forwarded pick the new line up.

/// The table of Kinesis operations (see the [module documentation](crate::api::ops)): calls
/// `$callback! { required { lines } provided { lines } }` with one parenthesized line per
/// operation, `(WireName, method, InputType, OutputType, plane, [RequiredMember, ...], "doc")`.
///
/// Types are written as `$crate::api::...` paths, so a callback can expand anywhere.
#[macro_export]
macro_rules! kinesis_operations {
    ($callback:ident) => {
        $callback! {
            required {
                (CreateStream, create_stream, $crate::api::CreateStreamInput, (),
                    control, [StreamName],
                    "Creates a stream with the given number of shards (or ON_DEMAND capacity).")
                (DeleteStream, delete_stream, $crate::api::DeleteStreamInput, (),
                    control, [],
                    "Deletes a stream and every record in it.")
                (DescribeStream, describe_stream, $crate::api::DescribeStreamInput,
                    $crate::api::DescribeStreamOutput,
                    control, [],
                    "Describes a stream and a page of its shards.")
                (DescribeStreamSummary, describe_stream_summary,
                    $crate::api::DescribeStreamSummaryInput,
                    $crate::api::DescribeStreamSummaryOutput,
                    control, [],
                    "Describes a stream without its shards.")
                (ListStreams, list_streams, $crate::api::ListStreamsInput,
                    $crate::api::ListStreamsOutput,
                    control, [],
                    "Lists stream names, a page at a time.")
                (ListShards, list_shards, $crate::api::ListShardsInput,
                    $crate::api::ListShardsOutput,
                    control, [],
                    "Lists a stream's shards, a page at a time.")
                (PutRecord, put_record, $crate::api::PutRecordInput,
                    $crate::api::PutRecordOutput,
                    data, [PartitionKey, Data],
                    "Writes one record.")
                (PutRecords, put_records, $crate::api::PutRecordsInput,
                    $crate::api::PutRecordsOutput,
                    data, [Records],
                    "Writes up to 500 records; each entry succeeds or fails on its own.")
                (GetShardIterator, get_shard_iterator, $crate::api::GetShardIteratorInput,
                    $crate::api::GetShardIteratorOutput,
                    data, [ShardId, ShardIteratorType],
                    "Returns an iterator into a shard, valid for five minutes.")
                (GetRecords, get_records, $crate::api::GetRecordsInput,
                    $crate::api::GetRecordsOutput,
                    data, [ShardIterator],
                    "Reads records at an iterator.")
                (AddTagsToStream, add_tags_to_stream, $crate::api::AddTagsToStreamInput, (),
                    control, [Tags],
                    "Adds or overwrites tags on a stream.")
                (ListTagsForStream, list_tags_for_stream, $crate::api::ListTagsForStreamInput,
                    $crate::api::ListTagsForStreamOutput,
                    control, [],
                    "Lists a stream's tags.")
                (RemoveTagsFromStream, remove_tags_from_stream,
                    $crate::api::RemoveTagsFromStreamInput, (),
                    control, [TagKeys],
                    "Removes tags from a stream.")
                (IncreaseStreamRetentionPeriod, increase_stream_retention_period,
                    $crate::api::RetentionPeriodInput, (),
                    control, [RetentionPeriodHours],
                    "Lengthens a stream's retention period.")
                (DecreaseStreamRetentionPeriod, decrease_stream_retention_period,
                    $crate::api::RetentionPeriodInput, (),
                    control, [RetentionPeriodHours],
                    "Shortens a stream's retention period; records older than the new period go.")
                (SplitShard, split_shard, $crate::api::SplitShardInput, (),
                    control, [ShardToSplit, NewStartingHashKey],
                    "Splits an open shard in two at a hash key; the parent closes.")
                (MergeShards, merge_shards, $crate::api::MergeShardsInput, (),
                    control, [ShardToMerge, AdjacentShardToMerge],
                    "Merges two open shards with adjacent hash-key ranges into one; both parents close.")
                (RegisterStreamConsumer, register_stream_consumer,
                    $crate::api::RegisterStreamConsumerInput,
                    $crate::api::RegisterStreamConsumerOutput,
                    control, [StreamARN, ConsumerName],
                    "Registers an enhanced fan-out consumer of a stream.")
                (DescribeStreamConsumer, describe_stream_consumer,
                    $crate::api::DescribeStreamConsumerInput,
                    $crate::api::DescribeStreamConsumerOutput,
                    control, [],
                    "Describes a registered consumer.")
                (ListStreamConsumers, list_stream_consumers,
                    $crate::api::ListStreamConsumersInput,
                    $crate::api::ListStreamConsumersOutput,
                    control, [StreamARN],
                    "Lists a stream's registered consumers, a page at a time.")
                (DeregisterStreamConsumer, deregister_stream_consumer,
                    $crate::api::DeregisterStreamConsumerInput, (),
                    control, [],
                    "Deregisters a consumer; its subscriptions end.")
                (SubscribeToShard, subscribe_to_shard, $crate::api::SubscribeToShardInput,
                    $crate::api::SubscribeToShardStream,
                    data, [ConsumerARN, ShardId, StartingPosition],
                    "Subscribes a registered consumer to a shard: records are pushed as they are committed. Dropping the stream ends the subscription.")
                (UpdateStreamMode, update_stream_mode, $crate::api::UpdateStreamModeInput, (),
                    control, [StreamARN, StreamModeDetails],
                    "Switches a stream between PROVISIONED and ON_DEMAND capacity.")
                (StartStreamEncryption, start_stream_encryption,
                    $crate::api::StreamEncryptionInput, (),
                    control, [EncryptionType, KeyId],
                    "Encrypts records written from now on with a KMS key.")
                (StopStreamEncryption, stop_stream_encryption,
                    $crate::api::StreamEncryptionInput, (),
                    control, [EncryptionType, KeyId],
                    "Stops encrypting new records (records already encrypted stay so).")
                (UpdateShardCount, update_shard_count, $crate::api::UpdateShardCountInput,
                    $crate::api::UpdateShardCountOutput,
                    control, [TargetShardCount, ScalingType],
                    "Reshapes a stream to a number of open shards with even ranges.")
            }
            provided {
                (DescribeLimits, describe_limits, $crate::api::DescribeLimitsInput,
                    $crate::api::DescribeLimitsOutput,
                    control, [],
                    "The account's shard limit and open shard count, and its ON_DEMAND stream count and limit.")
                (DescribeAccountSettings, describe_account_settings,
                    $crate::api::DescribeAccountSettingsInput,
                    $crate::api::DescribeAccountSettingsOutput,
                    control, [],
                    "The account-level settings (the minimum throughput billing commitment).")
                (UpdateAccountSettings, update_account_settings,
                    $crate::api::UpdateAccountSettingsInput,
                    $crate::api::UpdateAccountSettingsOutput,
                    control, [],
                    "Changes the account-level settings.")
                (EnableEnhancedMonitoring, enable_enhanced_monitoring,
                    $crate::api::EnhancedMonitoringInput,
                    $crate::api::EnhancedMonitoringOutput,
                    control, [ShardLevelMetrics],
                    "Turns shard-level metrics on for a stream.")
                (DisableEnhancedMonitoring, disable_enhanced_monitoring,
                    $crate::api::EnhancedMonitoringInput,
                    $crate::api::EnhancedMonitoringOutput,
                    control, [ShardLevelMetrics],
                    "Turns shard-level metrics off for a stream.")
                (TagResource, tag_resource, $crate::api::TagResourceInput, (),
                    control, [Tags, ResourceARN],
                    "Adds or overwrites tags on a stream or consumer, named by ARN.")
                (UntagResource, untag_resource, $crate::api::UntagResourceInput, (),
                    control, [TagKeys, ResourceARN],
                    "Removes tags from a stream or consumer, named by ARN.")
                (ListTagsForResource, list_tags_for_resource,
                    $crate::api::ListTagsForResourceInput,
                    $crate::api::ListTagsForResourceOutput,
                    control, [ResourceARN],
                    "Lists the tags of a stream or consumer, named by ARN.")
                (UpdateMaxRecordSize, update_max_record_size,
                    $crate::api::UpdateMaxRecordSizeInput, (),
                    control, [StreamARN, MaxRecordSizeInKiB],
                    "Sets a stream's largest record size (1024..=10240 KiB).")
                (UpdateStreamWarmThroughput, update_stream_warm_throughput,
                    $crate::api::UpdateStreamWarmThroughputInput,
                    $crate::api::UpdateStreamWarmThroughputOutput,
                    control, [WarmThroughputMiBps],
                    "Sets an ON_DEMAND stream's warm throughput.")
                (PutResourcePolicy, put_resource_policy, $crate::api::PutResourcePolicyInput, (),
                    control, [ResourceARN, Policy],
                    "Attaches a resource policy (a JSON document) to a stream or consumer.")
                (GetResourcePolicy, get_resource_policy, $crate::api::ResourcePolicyInput,
                    $crate::api::GetResourcePolicyOutput,
                    control, [ResourceARN],
                    "The resource policy of a stream or consumer (`{}` when none).")
                (DeleteResourcePolicy, delete_resource_policy, $crate::api::ResourcePolicyInput,
                    (),
                    control, [ResourceARN],
                    "Removes the resource policy of a stream or consumer.")
                (UpdateStreamRecordDistributionStrategy, update_stream_record_distribution_strategy,
                    $crate::api::UpdateStreamRecordDistributionStrategyInput, (),
                    control, [StreamARN, RecordDistributionStrategy],
                    "Sets how an ON_DEMAND stream places records on shards: AUTO (evenly, whatever the keys) or USER_PARTITION_KEY (by the key's hash, the default).")
                (CreateChannel, create_channel, $crate::api::CreateChannelInput,
                    $crate::api::CreateChannelOutput,
                    control, [ChannelName, ServiceExecutionRoleARN, StreamConfigurationList],
                    "Creates a channel from an ON_DEMAND stream to S3 or S3 Tables (rill keeps it but delivers nothing).")
                (DescribeChannel, describe_channel, $crate::api::DescribeChannelInput,
                    $crate::api::DescribeChannelOutput,
                    control, [ChannelARN],
                    "Describes a channel.")
                (ListChannels, list_channels, $crate::api::ListChannelsInput,
                    $crate::api::ListChannelsOutput,
                    control, [],
                    "Lists channels by name, a page at a time, optionally only those of some streams.")
                (UpdateChannel, update_channel, $crate::api::UpdateChannelInput,
                    $crate::api::UpdateChannelOutput,
                    control, [ChannelARN],
                    "Changes a channel's delivery freshness or logging.")
                (DeleteChannel, delete_channel, $crate::api::DeleteChannelInput, (),
                    control, [ChannelARN],
                    "Deletes a channel.")
            }
        }
    };
}

macro_rules! operation_enum {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        operation_enum!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        /// A Kinesis operation: a line of the [operation table](crate::api::ops).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($op), "`: ", $doc)]
                $op,
            )*
        }

        impl Operation {
            /// Every operation, in the table's order.
            pub const ALL: &'static [Operation] = &[$(Operation::$op),*];

            /// The operation's wire name (`PutRecords`): the `X-Amz-Target` suffix, the
            /// audit event name and the IAM action after `kinesis:`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op),)*
                }
            }

            /// The [`Kinesis`](crate::api::Kinesis) method of the operation
            /// (`put_records`).
            pub fn method(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($method),)*
                }
            }

            /// The operation of a wire name, if rill knows it.
            pub fn from_wire(name: &str) -> Option<Operation> {
                match name {
                    $(stringify!($op) => Some(Operation::$op),)*
                    _ => None,
                }
            }

            /// Whether the operation is data plane (reads and writes records) rather than
            /// control plane.
            pub fn is_data_plane(self) -> bool {
                match self {
                    $(Operation::$op => operation_enum!(@plane $plane),)*
                }
            }

            /// The top-level members the model requires, in wire spelling
            /// (`StreamName`), in the order AWS reports them missing.
            pub fn required_members(self) -> &'static [&'static str] {
                match self {
                    $(Operation::$op => &[$(stringify!($member)),*],)*
                }
            }
        }
    };
    (@plane data) => { true };
    (@plane control) => { false };
}

crate::kinesis_operations!(operation_enum);

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's name as AWS's validation messages spell it: the wire name with its first
/// letter lower-cased (`StreamARN` is `streamARN`).
pub fn message_name(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for op in Operation::ALL {
            assert_eq!(Operation::from_wire(op.as_str()), Some(*op));
            assert!(seen.insert(op.as_str()), "{op} twice");
        }
        assert_eq!(Operation::from_wire("NoSuchOperation"), None);
    }

    #[test]
    fn members_are_named_as_aws_names_them() {
        assert_eq!(message_name("StreamARN"), "streamARN");
        assert_eq!(message_name("MaxRecordSizeInKiB"), "maxRecordSizeInKiB");
        assert_eq!(
            Operation::PutRecord.required_members(),
            &["PartitionKey", "Data"]
        );
        assert!(Operation::GetRecords.is_data_plane());
        assert!(!Operation::CreateStream.is_data_plane());
    }
}
