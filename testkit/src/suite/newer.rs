//! The suite's tests of the six operations added to the Kinesis API last
//! (UpdateStreamRecordDistributionStrategy and the channel operations): for each, calls that
//! succeed and calls that fail as AWS fails them. Run by `kinesis_suite!` with the rest of
//! the suite (see the [module docs](super)).

use super::{ACCOUNT, TestResult, arn, assert_fails, create};
use rill_engine::api::*;
use std::collections::HashMap;

/// What rill says in every channel's `ChannelStatusReason`.
const NO_DELIVERY: &str = "rill keeps this channel's configuration but delivers no records: delivery to Amazon S3 and S3 Tables is not implemented.";

/// Creates an ON_DEMAND stream (four shards).
async fn create_on_demand(k: &dyn Kinesis, name: &str) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: name.into(),
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        ..Default::default()
    })
    .await?;
    Ok(())
}

fn strategy(
    stream: &str,
    s: RecordDistributionStrategy,
) -> UpdateStreamRecordDistributionStrategyInput {
    UpdateStreamRecordDistributionStrategyInput {
        stream_arn: arn(stream),
        stream_id: None,
        record_distribution_strategy: Some(s),
    }
}

/// Puts `n` records with one partition key (PutRecord and PutRecords alike) and counts
/// them per shard.
async fn put_same_key(
    k: &dyn Kinesis,
    stream: &str,
    n: usize,
) -> TestResult<HashMap<String, usize>> {
    let mut per_shard = HashMap::new();
    for _ in 0..n {
        let out = k
            .put_record(PutRecordInput {
                stream_name: Some(stream.into()),
                partition_key: "one-key".into(),
                data: "x".into(),
                ..Default::default()
            })
            .await?;
        *per_shard.entry(out.shard_id).or_insert(0) += 1;
    }
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some(stream.into()),
            records: (0..n)
                .map(|_| PutRecordsRequestEntry {
                    partition_key: "one-key".into(),
                    data: "x".into(),
                    explicit_hash_key: Some("0".into()),
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    for r in out.records {
        let shard = r.shard_id.ok_or("an entry failed")?;
        *per_shard.entry(shard).or_insert(0) += 1;
    }
    Ok(per_shard)
}

/// Suite test: auto distribution spreads records evenly whatever their keys.
pub async fn auto_distribution_spreads_records_evenly_whatever_their_keys(
    k: &dyn Kinesis,
) -> TestResult {
    create_on_demand(k, "auto").await?;
    // The default: one key, one shard.
    let before = put_same_key(k, "auto", 8).await?;
    // The key's shard, and the explicit hash key 0's (the same one, or another).
    assert!(before.len() <= 2, "{before:?}");
    k.update_stream_record_distribution_strategy(strategy(
        "auto",
        RecordDistributionStrategy::Auto,
    ))
    .await?;
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("auto".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(
        summary.record_distribution_strategy,
        Some(RecordDistributionStrategy::Auto)
    );
    // 40 records with one key (and, in PutRecords, one explicit hash key): 10 per shard.
    let spread = put_same_key(k, "auto", 20).await?;
    assert_eq!(spread.len(), 4, "{spread:?}");
    assert!(spread.values().all(|n| *n == 10), "{spread:?}");
    // SequenceNumberForOrdering means nothing under AUTO.
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("auto".into()),
            partition_key: "k".into(),
            data: "x".into(),
            sequence_number_for_ordering: Some("1".into()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &format!(
            "SequenceNumberForOrdering is not supported on stream auto under account {ACCOUNT}, whose record distribution strategy is AUTO."
        ),
    );
    // Back to the key's hash.
    k.update_stream_record_distribution_strategy(strategy(
        "auto",
        RecordDistributionStrategy::UserPartitionKey,
    ))
    .await?;
    let after = put_same_key(k, "auto", 8).await?;
    assert_eq!(after, before);
    Ok(())
}

/// Suite test: record distribution strategy errors.
pub async fn record_distribution_strategy_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "prov", 2).await?;
    assert_fails(
        k.update_stream_record_distribution_strategy(strategy(
            "prov",
            RecordDistributionStrategy::Auto,
        ))
        .await,
        "InvalidArgumentException",
        &format!(
            "The AUTO record distribution strategy can only be configured for streams in ON_DEMAND mode. Stream prov under account {ACCOUNT} is in PROVISIONED mode."
        ),
    );
    assert_fails(
        k.update_stream_record_distribution_strategy(strategy(
            "missing",
            RecordDistributionStrategy::Auto,
        ))
        .await,
        "ResourceNotFoundException",
        &format!("Stream missing under account {ACCOUNT} not found."),
    );
    assert_fails(
        k.update_stream_record_distribution_strategy(UpdateStreamRecordDistributionStrategyInput {
            stream_arn: "not-an-arn".into(),
            stream_id: None,
            record_distribution_strategy: Some(RecordDistributionStrategy::Auto),
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value 'not-an-arn' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
    );
    Ok(())
}

fn channel_arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:channel/{name}")
}

fn s3_channel(name: &str, stream: &str) -> CreateChannelInput {
    CreateChannelInput {
        channel_name: name.into(),
        service_execution_role_arn: format!("arn:aws:iam::{ACCOUNT}:role/delivery"),
        stream_configuration_list: vec![ChannelStreamConfiguration {
            stream_arn: arn(stream),
            record_configuration: Some(RecordConfiguration {
                record_format_type: RecordFormatType::Json,
                gsr_schema_arn: None,
            }),
        }],
        s3_destination_configuration: Some(S3DestinationConfiguration {
            data_freshness_in_seconds: None,
            dead_letter_queue_s3_configuration: None,
            storage_configuration: Some(S3StorageConfiguration {
                bucket_arn: "arn:aws:s3:::bucket".into(),
                expected_bucket_owner: ACCOUNT.into(),
                output_key_template: None,
                storage_class: Some(S3StorageClass::Standard),
                compression_type: S3CompressionType::Gzip,
            }),
        }),
        tags: Some(HashMap::from([("team".to_string(), "data".to_string())])),
        ..Default::default()
    }
}

/// Suite test: channels are created described listed updated and deleted.
pub async fn channels_are_created_described_listed_updated_and_deleted(
    k: &dyn Kinesis,
) -> TestResult {
    create_on_demand(k, "src").await?;
    let created = k
        .create_channel(s3_channel("c1", "src"))
        .await?
        .channel_description;
    assert_eq!(created.channel_status, ChannelStatus::Creating);
    assert_eq!(created.channel_arn, channel_arn("c1"));
    assert_eq!(created.channel_status_reason.as_deref(), Some(NO_DELIVERY));
    let d = k
        .describe_channel(DescribeChannelInput {
            channel_arn: channel_arn("c1"),
        })
        .await?
        .channel_description;
    assert_eq!(d.channel_status, ChannelStatus::Active);
    assert_eq!(d.channel_id, created.channel_id);
    assert_eq!(d.stream_configuration_list.len(), 1);
    assert_eq!(d.stream_configuration_list[0].stream_arn, arn("src"));
    let s3 = d
        .s3_destination_configuration
        .clone()
        .ok_or("no S3 destination")?;
    assert_eq!(s3.data_freshness_in_seconds, 300);
    assert_eq!(
        s3.storage_configuration.map(|s| s.compression_type),
        Some(S3CompressionType::Gzip)
    );
    let list = k.list_channels(ListChannelsInput::default()).await?;
    assert_eq!(list.next_token, None);
    assert_eq!(list.channel_summaries.len(), 1);
    let summary = &list.channel_summaries[0];
    assert_eq!(summary.channel_name, "c1");
    assert_eq!(summary.channel_destination_type, ChannelDestinationType::S3);
    assert_eq!(summary.streams.len(), 1);
    assert_eq!(summary.streams[0].stream_arn, arn("src"));
    let updated = k
        .update_channel(UpdateChannelInput {
            channel_arn: channel_arn("c1"),
            s3_destination_configuration: Some(DestinationUpdateInput {
                data_freshness_in_seconds: 60,
            }),
            ..Default::default()
        })
        .await?
        .channel_description;
    assert_eq!(updated.channel_status, ChannelStatus::Updating);
    let d = k
        .describe_channel(DescribeChannelInput {
            channel_arn: channel_arn("c1"),
        })
        .await?
        .channel_description;
    assert_eq!(
        d.s3_destination_configuration
            .map(|s| s.data_freshness_in_seconds),
        Some(60)
    );
    k.delete_channel(DeleteChannelInput {
        channel_arn: channel_arn("c1"),
    })
    .await?;
    assert!(
        k.list_channels(ListChannelsInput::default())
            .await?
            .channel_summaries
            .is_empty()
    );
    Ok(())
}

/// Suite test: channel errors are aws errors.
pub async fn channel_errors_are_aws_errors(k: &dyn Kinesis) -> TestResult {
    create_on_demand(k, "src").await?;
    create(k, "prov", 1).await?;
    k.create_channel(s3_channel("c1", "src")).await?;
    let missing = channel_arn("missing");
    let not_found = format!("Channel {missing} under account {ACCOUNT} not found.");
    assert_fails(
        k.create_channel(s3_channel("c1", "src")).await,
        "ResourceInUseException",
        &format!("Channel c1 under account {ACCOUNT} already exists."),
    );
    assert_fails(
        k.create_channel(s3_channel("c2", "prov")).await,
        "InvalidArgumentException",
        &format!(
            "Channels can only be created for streams in ON_DEMAND mode. Stream prov under account {ACCOUNT} is in PROVISIONED mode."
        ),
    );
    assert_fails(
        k.create_channel(s3_channel("c2", "nowhere")).await,
        "ResourceNotFoundException",
        &format!("Stream nowhere under account {ACCOUNT} not found."),
    );
    let mut both = s3_channel("c2", "src");
    // A tables destination that is valid on its own (the model's checks pass), so that
    // only the rule of one destination fails.
    both.s3_tables_destination_configuration = Some(S3TablesDestinationConfiguration {
        data_freshness_in_seconds: None,
        dead_letter_queue_s3_configuration: Some(DeadLetterQueueS3Configuration {
            bucket_arn: "arn:aws:s3:::errors".into(),
            expected_bucket_owner: ACCOUNT.into(),
            error_output_prefix: None,
        }),
        s3_tables_configuration_list: vec![S3TablesConfiguration {
            table_bucket_arn: format!("arn:aws:s3tables:us-east-1:{ACCOUNT}:bucket/tables"),
            namespace: "ns".into(),
            table_name: "events".into(),
            compression_type: S3TablesCompressionType::Zstd,
            partition_spec: None,
        }],
    });
    assert_fails(
        k.create_channel(both).await,
        "InvalidArgumentException",
        "Exactly one of S3DestinationConfiguration and S3TablesDestinationConfiguration must be specified.",
    );
    let mut bad_name = s3_channel("bad name", "src");
    bad_name.stream_configuration_list[0].record_configuration = None;
    assert_fails(
        k.create_channel(bad_name).await,
        "ValidationException",
        "2 validation errors detected: Value 'bad name' at 'channelName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value null at 'streamConfigurationList.1.member.recordConfiguration' failed to satisfy constraint: Member must not be null",
    );
    assert_fails(
        k.describe_channel(DescribeChannelInput {
            channel_arn: missing.clone(),
        })
        .await,
        "ResourceNotFoundException",
        &not_found,
    );
    assert_fails(
        k.describe_channel(DescribeChannelInput {
            channel_arn: arn("src"),
        })
        .await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{}' at 'channelARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{{12}}:channel/\\S+",
            arn("src")
        ),
    );
    assert_fails(
        k.update_channel(UpdateChannelInput {
            channel_arn: missing.clone(),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        &not_found,
    );
    assert_fails(
        k.update_channel(UpdateChannelInput {
            channel_arn: channel_arn("c1"),
            s3_tables_destination_configuration: Some(DestinationUpdateInput {
                data_freshness_in_seconds: 60,
            }),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "Channel c1 delivers to S3: S3TablesDestinationConfiguration cannot be updated.",
    );
    assert_fails(
        k.delete_channel(DeleteChannelInput {
            channel_arn: missing,
        })
        .await,
        "ResourceNotFoundException",
        &not_found,
    );
    assert_fails(
        k.list_channels(ListChannelsInput {
            max_results: Some(0),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    Ok(())
}

/// Suite test: list channels pages and filters by stream.
pub async fn list_channels_pages_and_filters_by_stream(k: &dyn Kinesis) -> TestResult {
    create_on_demand(k, "a").await?;
    create_on_demand(k, "b").await?;
    for (name, stream) in [("c1", "a"), ("c2", "b"), ("c3", "a")] {
        k.create_channel(s3_channel(name, stream)).await?;
    }
    let names = |out: &ListChannelsOutput| -> Vec<String> {
        out.channel_summaries
            .iter()
            .map(|c| c.channel_name.clone())
            .collect()
    };
    let first = k
        .list_channels(ListChannelsInput {
            max_results: Some(2),
            ..Default::default()
        })
        .await?;
    assert_eq!(names(&first), ["c1", "c2"]);
    let second = k
        .list_channels(ListChannelsInput {
            max_results: Some(2),
            next_token: first.next_token.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(names(&second), ["c3"]);
    assert_eq!(second.next_token, None);
    let of_a = k
        .list_channels(ListChannelsInput {
            stream_filter: Some(vec![StreamFilter {
                stream_arn: arn("a"),
                stream_creation_timestamp: None,
            }]),
            ..Default::default()
        })
        .await?;
    assert_eq!(names(&of_a), ["c1", "c3"]);
    assert_fails(
        k.list_channels(ListChannelsInput {
            next_token: Some("forged".into()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "Invalid NextToken.",
    );
    Ok(())
}
