//! Every Kinesis Data Streams operation through aws-sdk-kinesis against `rill serve` (issue
//! 13): for each, one call that succeeds and one that fails with the SDK's typed error; and a
//! 10 MiB record written and read back on a stream whose maximum record size was raised with
//! UpdateMaxRecordSize, refused (ValidationException) on a default stream.
//!
//! The 39 operations (the numbers label them in the test below, which calls them in the order a
//! stream's life needs, not in this order):
//!
//!  1 CreateStream                   14 IncreaseStreamRetentionPeriod  27 DescribeLimits
//!  2 DeleteStream                   15 DecreaseStreamRetentionPeriod  28 DescribeAccountSettings
//!  3 DescribeStream                 16 SplitShard                     29 UpdateAccountSettings
//!  4 DescribeStreamSummary          17 MergeShards                    30 EnableEnhancedMonitoring
//!  5 ListStreams                    18 UpdateShardCount               31 DisableEnhancedMonitoring
//!  6 ListShards                     19 UpdateStreamMode               32 TagResource
//!  7 PutRecord                      20 StartStreamEncryption          33 UntagResource
//!  8 PutRecords                     21 StopStreamEncryption           34 ListTagsForResource
//!  9 GetShardIterator               22 RegisterStreamConsumer         35 UpdateMaxRecordSize
//! 10 GetRecords                     23 DescribeStreamConsumer         36 UpdateStreamWarmThroughput
//! 11 AddTagsToStream                24 ListStreamConsumers            37 PutResourcePolicy
//! 12 ListTagsForStream              25 DeregisterStreamConsumer       38 GetResourcePolicy
//! 13 RemoveTagsFromStream           26 SubscribeToShard               39 DeleteResourcePolicy
//!
//! The SDK this crate builds against (aws-sdk-kinesis 1.130) and botocore's current model
//! have 45 operations: these 39 and six newer ones (UpdateStreamRecordDistributionStrategy,
//! CreateChannel, DescribeChannel, ListChannels, UpdateChannel, DeleteChannel), whose success
//! and error cases are in the behaviour suite (`rill_testkit::suite`), run through `Remote`
//! and `rill serve` by `tests/remote_suite.rs`. [`MODEL_OPERATIONS`] lists all 45, the one
//! list of them written apart from the operation table: a test checks that the table holds
//! exactly these and that `rill serve` answers each.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::types::{
    EncryptionType, MetricsName, MinimumThroughputBillingCommitmentInput,
    MinimumThroughputBillingCommitmentInputStatus, MinimumThroughputBillingCommitmentOutputStatus,
    PutRecordsRequestEntry, ScalingType, ShardIteratorType, StartingPosition, StreamMode,
    StreamModeDetails,
};
use aws_smithy_types::Blob;
use rill_engine::embedded::{KeyRing, ThroughputLimits};
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;

use rill_testkit::wire::{AMZ_DATE, UNSIGNED_AUTH};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The account id of the default engine configuration.
const ACCOUNT: &str = "000000000000";

/// Every operation of the Kinesis model (botocore `kinesis/2013-12-02/service-2.json`,
/// aws-sdk-kinesis 1.130), as its `X-Amz-Target` name.
const MODEL_OPERATIONS: [&str; 45] = [
    "CreateStream",
    "DeleteStream",
    "DescribeStream",
    "DescribeStreamSummary",
    "ListStreams",
    "ListShards",
    "PutRecord",
    "PutRecords",
    "GetShardIterator",
    "GetRecords",
    "AddTagsToStream",
    "ListTagsForStream",
    "RemoveTagsFromStream",
    "IncreaseStreamRetentionPeriod",
    "DecreaseStreamRetentionPeriod",
    "SplitShard",
    "MergeShards",
    "UpdateShardCount",
    "UpdateStreamMode",
    "StartStreamEncryption",
    "StopStreamEncryption",
    "RegisterStreamConsumer",
    "DescribeStreamConsumer",
    "ListStreamConsumers",
    "DeregisterStreamConsumer",
    "SubscribeToShard",
    "DescribeLimits",
    "DescribeAccountSettings",
    "UpdateAccountSettings",
    "EnableEnhancedMonitoring",
    "DisableEnhancedMonitoring",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "UpdateMaxRecordSize",
    "UpdateStreamWarmThroughput",
    "PutResourcePolicy",
    "GetResourcePolicy",
    "DeleteResourcePolicy",
    "UpdateStreamRecordDistributionStrategy",
    "CreateChannel",
    "DescribeChannel",
    "ListChannels",
    "UpdateChannel",
    "DeleteChannel",
];

/// An engine served on 127.0.0.1:0; stops when dropped (as in `tests/server.rs`).
struct TestServer {
    endpoint: String,
    engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn start_with(engine_config: EngineConfig, server_config: ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open(dir.path(), engine_config)
            .await
            .expect("engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve(
            listener,
            Arc::new(engine.clone()),
            server_config,
            async move {
                let _ = stopped.await;
            },
        ));
        TestServer {
            endpoint,
            engine,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// An SDK client for this server, retries off (an error surfaces on the first answer).
    fn sdk(&self) -> Client {
        let conf = aws_sdk_kinesis::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID",
                "SECRET",
                None,
                None,
                "all-operations-test",
            ))
            .retry_config(RetryConfig::disabled())
            .endpoint_url(&self.endpoint)
            .build();
        Client::from_conf(conf)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// AWS's limits (so the account-level call limits apply) and one KMS key.
fn engine_config() -> EngineConfig {
    let keys = KeyRing::new([("alias/test".to_string(), [7u8; 32])]);
    EngineConfig {
        limits: ThroughputLimits::aws(),
        kms_keys: Arc::new(keys),
        ..EngineConfig::default()
    }
}

/// Sends a request builder and asserts that it fails with the typed error `$is`.
macro_rules! fails {
    ($req:expr, $is:ident) => {{
        let err = $req
            .send()
            .await
            .expect_err(stringify!($is))
            .into_service_error();
        assert!(err.$is(), "expected {}: {err:?}", stringify!($is));
    }};
}

fn arn(stream: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{stream}")
}

#[tokio::test]
async fn all_39_operations_succeed_and_fail_as_aws() -> TestResult {
    let s = TestServer::start_with(engine_config(), ServerConfig::default()).await;
    let k = s.sdk();
    let missing = "no-such-stream";
    let missing_arn = arn(missing);
    let stream = "ops";
    let stream_arn = arn(stream);

    // 1 CreateStream
    k.create_stream()
        .stream_name(stream)
        .shard_count(2)
        .send()
        .await?;
    fails!(
        k.create_stream().stream_name(stream).shard_count(1),
        is_resource_in_use_exception
    );

    // 3 DescribeStream
    let d = k.describe_stream().stream_name(stream).send().await?;
    let d = d.stream_description.ok_or("no description")?;
    assert_eq!(d.shards.len(), 2);
    fails!(
        k.describe_stream().stream_name(missing),
        is_resource_not_found_exception
    );

    // 4 DescribeStreamSummary
    let sum = k
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await?;
    let sum = sum.stream_description_summary.ok_or("no summary")?;
    assert_eq!(sum.open_shard_count, 2);
    assert_eq!(sum.max_record_size_in_kib, Some(1024));
    fails!(
        k.describe_stream_summary().stream_name(missing),
        is_resource_not_found_exception
    );

    // 5 ListStreams
    let l = k.list_streams().send().await?;
    assert_eq!(l.stream_names, vec![stream.to_string()]);
    fails!(
        k.list_streams().next_token("not-a-token"),
        is_invalid_argument_exception
    );

    // 6 ListShards
    let l = k.list_shards().stream_name(stream).send().await?;
    assert_eq!(l.shards.unwrap_or_default().len(), 2);
    fails!(
        k.list_shards().stream_name(missing),
        is_resource_not_found_exception
    );

    // 7 PutRecord
    let put = k
        .put_record()
        .stream_name(stream)
        .partition_key("a")
        .data(Blob::new(b"one".to_vec()))
        .send()
        .await?;
    fails!(
        k.put_record()
            .stream_name(missing)
            .partition_key("a")
            .data(Blob::new(b"x".to_vec())),
        is_resource_not_found_exception
    );

    // 8 PutRecords
    let entry = PutRecordsRequestEntry::builder()
        .partition_key("a")
        .data(Blob::new(b"two".to_vec()))
        .build()?;
    let out = k
        .put_records()
        .stream_name(stream)
        .records(entry.clone())
        .send()
        .await?;
    assert_eq!(out.failed_record_count, Some(0));
    fails!(
        k.put_records().stream_name(missing).records(entry),
        is_resource_not_found_exception
    );

    // 9 GetShardIterator
    let it = k
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(&put.shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .ok_or("no iterator")?;
    fails!(
        k.get_shard_iterator()
            .stream_name(stream)
            .shard_id("shardId-000000000099")
            .shard_iterator_type(ShardIteratorType::TrimHorizon),
        is_resource_not_found_exception
    );

    // 10 GetRecords
    let got = k.get_records().shard_iterator(it).send().await?;
    assert_eq!(got.records[0].data.as_ref(), b"one");
    fails!(
        k.get_records().shard_iterator("AAAAforged"),
        is_invalid_argument_exception
    );

    // 11 AddTagsToStream
    k.add_tags_to_stream()
        .stream_name(stream)
        .tags("team", "data")
        .send()
        .await?;
    fails!(
        k.add_tags_to_stream().stream_name(missing).tags("a", "b"),
        is_resource_not_found_exception
    );

    // 12 ListTagsForStream
    let tags = k.list_tags_for_stream().stream_name(stream).send().await?;
    assert_eq!(tags.tags[0].key, "team");
    fails!(
        k.list_tags_for_stream().stream_name(missing),
        is_resource_not_found_exception
    );

    // 13 RemoveTagsFromStream (the tag comes back for TagResource below)
    k.remove_tags_from_stream()
        .stream_name(stream)
        .tag_keys("team")
        .send()
        .await?;
    fails!(
        k.remove_tags_from_stream()
            .stream_name(missing)
            .tag_keys("a"),
        is_resource_not_found_exception
    );

    // 14 IncreaseStreamRetentionPeriod
    k.increase_stream_retention_period()
        .stream_name(stream)
        .retention_period_hours(48)
        .send()
        .await?;
    fails!(
        k.increase_stream_retention_period()
            .stream_name(stream)
            .retention_period_hours(24),
        is_invalid_argument_exception
    );

    // 15 DecreaseStreamRetentionPeriod
    k.decrease_stream_retention_period()
        .stream_name(stream)
        .retention_period_hours(24)
        .send()
        .await?;
    fails!(
        k.decrease_stream_retention_period()
            .stream_name(stream)
            .retention_period_hours(48),
        is_invalid_argument_exception
    );

    // 16 SplitShard: shard 0 of 2 covers [0, 2^127); split it in the middle.
    k.split_shard()
        .stream_name(stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 126).to_string())
        .send()
        .await?;
    fails!(
        k.split_shard()
            .stream_name(stream)
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key((1u128 << 125).to_string()),
        is_resource_in_use_exception
    );

    // 17 MergeShards: the two children (2 and 3) back into one.
    k.merge_shards()
        .stream_name(stream)
        .shard_to_merge("shardId-000000000002")
        .adjacent_shard_to_merge("shardId-000000000003")
        .send()
        .await?;
    fails!(
        k.merge_shards()
            .stream_name(missing)
            .shard_to_merge("shardId-000000000000")
            .adjacent_shard_to_merge("shardId-000000000001"),
        is_resource_not_found_exception
    );

    // 18 UpdateShardCount: 2 open shards to 4; more than double is refused.
    let up = k
        .update_shard_count()
        .stream_name(stream)
        .target_shard_count(4)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await?;
    assert_eq!(up.target_shard_count, Some(4));
    fails!(
        k.update_shard_count()
            .stream_name(stream)
            .target_shard_count(100)
            .scaling_type(ScalingType::UniformScaling),
        is_invalid_argument_exception
    );

    // 20 StartStreamEncryption
    k.start_stream_encryption()
        .stream_name(stream)
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/test")
        .send()
        .await?;
    fails!(
        k.start_stream_encryption()
            .stream_name(stream)
            .encryption_type(EncryptionType::Kms)
            .key_id("alias/unknown"),
        is_kms_not_found_exception
    );

    // 21 StopStreamEncryption
    k.stop_stream_encryption()
        .stream_name(stream)
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/test")
        .send()
        .await?;
    fails!(
        k.stop_stream_encryption()
            .stream_name(missing)
            .encryption_type(EncryptionType::Kms)
            .key_id("alias/test"),
        is_resource_not_found_exception
    );

    // 22 RegisterStreamConsumer
    let consumer = k
        .register_stream_consumer()
        .stream_arn(&stream_arn)
        .consumer_name("app")
        .send()
        .await?
        .consumer
        .ok_or("no consumer")?;
    let consumer_arn = consumer.consumer_arn;
    fails!(
        k.register_stream_consumer()
            .stream_arn(&stream_arn)
            .consumer_name("app"),
        is_resource_in_use_exception
    );

    // 23 DescribeStreamConsumer
    let dc = k
        .describe_stream_consumer()
        .consumer_arn(&consumer_arn)
        .send()
        .await?;
    assert_eq!(
        dc.consumer_description.ok_or("no description")?.stream_arn,
        stream_arn
    );
    fails!(
        k.describe_stream_consumer()
            .stream_arn(&stream_arn)
            .consumer_name("nobody"),
        is_resource_not_found_exception
    );

    // 24 ListStreamConsumers
    let lc = k
        .list_stream_consumers()
        .stream_arn(&stream_arn)
        .send()
        .await?;
    assert_eq!(lc.consumers.unwrap_or_default().len(), 1);
    fails!(
        k.list_stream_consumers().stream_arn(&missing_arn),
        is_resource_not_found_exception
    );

    // 26 SubscribeToShard: shard 1 (open since creation) holds no record yet; put one.
    k.put_record()
        .stream_name(stream)
        .partition_key("x")
        .explicit_hash_key((u128::MAX - 1).to_string())
        .data(Blob::new(b"pushed".to_vec()))
        .send()
        .await?;
    let open = k
        .list_shards()
        .stream_name(stream)
        .send()
        .await?
        .shards
        .unwrap_or_default();
    let last = open
        .iter()
        .rfind(|sh| {
            sh.hash_key_range
                .as_ref()
                .is_some_and(|r| r.ending_hash_key == u128::MAX.to_string())
                && sh
                    .sequence_number_range
                    .as_ref()
                    .is_some_and(|r| r.ending_sequence_number.is_none())
        })
        .ok_or("no open shard at the top of the hash space")?
        .shard_id
        .clone();
    let mut sub = k
        .subscribe_to_shard()
        .consumer_arn(&consumer_arn)
        .shard_id(&last)
        .starting_position(
            StartingPosition::builder()
                .r#type(ShardIteratorType::TrimHorizon)
                .build()?,
        )
        .send()
        .await?;
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), sub.event_stream.recv())
        .await??
        .ok_or("the subscription ended")?;
    let event = event
        .as_subscribe_to_shard_event()
        .map_err(|_| "not a SubscribeToShardEvent")?;
    assert_eq!(event.records[0].data.as_ref(), b"pushed");
    drop(sub);
    fails!(
        k.subscribe_to_shard()
            .consumer_arn(format!("{stream_arn}/consumer/nobody:1"))
            .shard_id(&last)
            .starting_position(
                StartingPosition::builder()
                    .r#type(ShardIteratorType::Latest)
                    .build()?,
            ),
        is_resource_not_found_exception
    );

    // 27 DescribeLimits: one call per second per account.
    let limits = k.describe_limits().send().await?;
    assert_eq!(limits.shard_limit, 500);
    assert_eq!(limits.on_demand_stream_count, 0);
    assert_eq!(limits.on_demand_stream_count_limit, 50);
    assert!(limits.open_shard_count >= 4, "{limits:?}");
    fails!(k.describe_limits(), is_limit_exceeded_exception);

    // 28 DescribeAccountSettings: five calls per second per account.
    let settings = k.describe_account_settings().send().await?;
    assert_eq!(
        settings
            .minimum_throughput_billing_commitment
            .ok_or("no commitment")?
            .status,
        MinimumThroughputBillingCommitmentOutputStatus::Disabled
    );
    let mut throttled = None;
    for _ in 0..20 {
        if let Err(e) = k.describe_account_settings().send().await {
            throttled = Some(e.into_service_error());
            break;
        }
    }
    let throttled = throttled.ok_or("DescribeAccountSettings was never throttled")?;
    assert!(throttled.is_limit_exceeded_exception(), "{throttled:?}");

    // 29 UpdateAccountSettings
    let updated = k
        .update_account_settings()
        .minimum_throughput_billing_commitment(
            MinimumThroughputBillingCommitmentInput::builder()
                .status(MinimumThroughputBillingCommitmentInputStatus::Enabled)
                .build()?,
        )
        .send()
        .await?
        .minimum_throughput_billing_commitment
        .ok_or("no commitment")?;
    assert_eq!(
        updated.status,
        MinimumThroughputBillingCommitmentOutputStatus::Enabled
    );
    assert!(updated.started_at.is_some() && updated.earliest_allowed_end_at.is_some());
    fails!(
        k.update_account_settings()
            .minimum_throughput_billing_commitment(
                MinimumThroughputBillingCommitmentInput::builder()
                    .status(MinimumThroughputBillingCommitmentInputStatus::from("MAYBE"))
                    .build()?,
            ),
        is_validation_exception
    );

    // 30 EnableEnhancedMonitoring
    let on = k
        .enable_enhanced_monitoring()
        .stream_name(stream)
        .shard_level_metrics(MetricsName::IncomingBytes)
        .shard_level_metrics(MetricsName::OutgoingRecords)
        .send()
        .await?;
    assert_eq!(on.current_shard_level_metrics, Some(vec![]));
    assert_eq!(
        on.desired_shard_level_metrics,
        Some(vec![
            MetricsName::IncomingBytes,
            MetricsName::OutgoingRecords
        ])
    );
    let d = k.describe_stream().stream_name(stream).send().await?;
    let shown = &d
        .stream_description
        .ok_or("no description")?
        .enhanced_monitoring;
    assert_eq!(
        shown[0].shard_level_metrics.as_deref(),
        Some(&[MetricsName::IncomingBytes, MetricsName::OutgoingRecords][..])
    );
    fails!(
        k.enable_enhanced_monitoring()
            .stream_name(missing)
            .shard_level_metrics(MetricsName::All),
        is_resource_not_found_exception
    );

    // 31 DisableEnhancedMonitoring
    let off = k
        .disable_enhanced_monitoring()
        .stream_name(stream)
        .shard_level_metrics(MetricsName::All)
        .send()
        .await?;
    assert_eq!(off.desired_shard_level_metrics, Some(vec![]));
    fails!(
        k.disable_enhanced_monitoring()
            .stream_name(missing)
            .shard_level_metrics(MetricsName::All),
        is_resource_not_found_exception
    );

    // 32 TagResource: a stream (the same tags as AddTagsToStream's) and a consumer.
    k.tag_resource()
        .resource_arn(&stream_arn)
        .tags("team", "data")
        .send()
        .await?;
    k.tag_resource()
        .resource_arn(&consumer_arn)
        .tags("owner", "app")
        .send()
        .await?;
    let tags = k.list_tags_for_stream().stream_name(stream).send().await?;
    assert_eq!(tags.tags[0].key, "team");
    fails!(
        k.tag_resource().resource_arn(&missing_arn).tags("a", "b"),
        is_resource_not_found_exception
    );

    // 34 ListTagsForResource
    let t = k
        .list_tags_for_resource()
        .resource_arn(&consumer_arn)
        .send()
        .await?
        .tags
        .unwrap_or_default();
    assert_eq!(
        (t[0].key.as_str(), t[0].value.as_deref()),
        ("owner", Some("app"))
    );
    fails!(
        k.list_tags_for_resource()
            .resource_arn(format!("{stream_arn}/consumer/nobody:1")),
        is_resource_not_found_exception
    );

    // 33 UntagResource
    k.untag_resource()
        .resource_arn(&consumer_arn)
        .tag_keys("owner")
        .send()
        .await?;
    let t = k
        .list_tags_for_resource()
        .resource_arn(&consumer_arn)
        .send()
        .await?;
    assert!(t.tags.unwrap_or_default().is_empty());
    fails!(
        k.untag_resource().resource_arn(&missing_arn).tag_keys("a"),
        is_resource_not_found_exception
    );

    // 35 UpdateMaxRecordSize
    k.update_max_record_size()
        .stream_arn(&stream_arn)
        .max_record_size_in_kib(2048)
        .send()
        .await?;
    let sum = k
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await?;
    assert_eq!(
        sum.stream_description_summary
            .ok_or("no summary")?
            .max_record_size_in_kib,
        Some(2048)
    );
    fails!(
        k.update_max_record_size()
            .stream_arn(&stream_arn)
            .max_record_size_in_kib(512),
        is_validation_exception
    );

    // 37-39 PutResourcePolicy, GetResourcePolicy, DeleteResourcePolicy
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kinesis:GetRecords","Resource":"{stream_arn}"}}]}}"#
    );
    k.put_resource_policy()
        .resource_arn(&stream_arn)
        .policy(&policy)
        .send()
        .await?;
    fails!(
        k.put_resource_policy()
            .resource_arn(&stream_arn)
            .policy("not json"),
        is_invalid_argument_exception
    );
    let got = k
        .get_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await?;
    assert_eq!(got.policy, policy);
    fails!(
        k.get_resource_policy().resource_arn(&missing_arn),
        is_resource_not_found_exception
    );
    k.delete_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await?;
    let got = k
        .get_resource_policy()
        .resource_arn(&stream_arn)
        .send()
        .await?;
    assert_eq!(got.policy, "{}");
    fails!(
        k.delete_resource_policy().resource_arn(&stream_arn),
        is_resource_not_found_exception
    );

    // 36 UpdateStreamWarmThroughput: ON_DEMAND streams only (the stream is PROVISIONED).
    fails!(
        k.update_stream_warm_throughput()
            .stream_name(stream)
            .warm_throughput_mibps(100),
        is_invalid_argument_exception
    );

    // 19 UpdateStreamMode
    k.update_stream_mode()
        .stream_arn(&stream_arn)
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()?,
        )
        .send()
        .await?;
    fails!(
        k.update_stream_mode()
            .stream_arn(&missing_arn)
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(StreamMode::OnDemand)
                    .build()?,
            ),
        is_resource_not_found_exception
    );

    // 36 UpdateStreamWarmThroughput, now on an ON_DEMAND stream.
    let warm = k
        .update_stream_warm_throughput()
        .stream_name(stream)
        .warm_throughput_mibps(100)
        .send()
        .await?;
    assert_eq!(
        warm.warm_throughput
            .ok_or("no warm throughput")?
            .target_mibps,
        Some(100)
    );
    let sum = k
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await?;
    let sum = sum.stream_description_summary.ok_or("no summary")?;
    assert_eq!(
        sum.warm_throughput.ok_or("not shown")?.target_mibps,
        Some(100)
    );

    // 25 DeregisterStreamConsumer
    k.deregister_stream_consumer()
        .consumer_arn(&consumer_arn)
        .send()
        .await?;
    fails!(
        k.deregister_stream_consumer().consumer_arn(&consumer_arn),
        is_resource_not_found_exception
    );

    // 2 DeleteStream
    k.delete_stream().stream_name(stream).send().await?;
    fails!(
        k.delete_stream().stream_name(stream),
        is_resource_not_found_exception
    );
    Ok(())
}

/// The operation table holds exactly the model's operations.
#[test]
fn the_operation_table_is_the_model() {
    let table: std::collections::BTreeSet<&str> = rill_engine::api::Operation::ALL
        .iter()
        .map(|o| o.as_str())
        .collect();
    let model: std::collections::BTreeSet<&str> = MODEL_OPERATIONS.into_iter().collect();
    assert_eq!(model.len(), 45);
    assert_eq!(table, model);
}

/// Every one of the model's 45 targets is served: none answers UnknownOperationException.
#[tokio::test]
async fn every_target_is_served() -> TestResult {
    let s = TestServer::start_with(engine_config(), ServerConfig::default()).await;
    let http = reqwest::Client::new();
    for op in MODEL_OPERATIONS {
        let resp = http
            .post(&s.endpoint)
            .header("authorization", UNSIGNED_AUTH)
            .header("x-amz-date", AMZ_DATE)
            .header("X-Amz-Target", format!("Kinesis_20131202.{op}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .body("{}")
            .send()
            .await?;
        let status = resp.status().as_u16();
        let body = resp.text().await?;
        assert!(
            !body.contains("UnknownOperationException"),
            "{op}: {status} {body}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn ten_mib_record_round_trip_after_update_max_record_size() -> TestResult {
    let s = TestServer::start_with(engine_config(), ServerConfig::default()).await;
    let k = s.sdk();
    for name in ["big", "default"] {
        k.create_stream()
            .stream_name(name)
            .shard_count(1)
            .send()
            .await?;
    }
    k.update_max_record_size()
        .stream_arn(arn("big"))
        .max_record_size_in_kib(10240)
        .send()
        .await?;
    let data: Vec<u8> = (0..10 * 1024 * 1024).map(|i| (i % 251) as u8).collect();

    // The default stream refuses it: 1 MiB.
    let err = k
        .put_record()
        .stream_name("default")
        .partition_key("p")
        .data(Blob::new(data.clone()))
        .send()
        .await
        .expect_err("10 MiB on a default stream")
        .into_service_error();
    // PutRecord's model lists no ValidationException: the SDK gives it by its code.
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let msg = err.message().unwrap_or_default();
    assert!(
        msg.contains("Member must have length less than or equal to 1048576"),
        "{msg}"
    );

    // The raised stream takes it and gives it back whole.
    let put = k
        .put_record()
        .stream_name("big")
        .partition_key("p")
        .data(Blob::new(data.clone()))
        .send()
        .await?;
    let it = k
        .get_shard_iterator()
        .stream_name("big")
        .shard_id(&put.shard_id)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .ok_or("no iterator")?;
    let got = k.get_records().shard_iterator(it).send().await?;
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records[0].sequence_number, put.sequence_number);
    assert!(
        got.records[0].data.as_ref() == data.as_slice(),
        "data differs"
    );

    // One byte more than 10 MiB is refused even there.
    let mut over = data;
    over.push(0);
    let err = k
        .put_record()
        .stream_name("big")
        .partition_key("p")
        .data(Blob::new(over))
        .send()
        .await
        .expect_err("over 10 MiB")
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    Ok(())
}

/// What the new operations set survives a restart of the engine.
#[tokio::test]
async fn settings_survive_a_restart() -> TestResult {
    use rill_engine::api::*;
    let dir = tempfile::tempdir()?;
    let stream_arn = arn("kept");
    let consumer_arn;
    {
        let e = Engine::open(dir.path(), engine_config()).await?;
        e.create_stream(CreateStreamInput {
            stream_name: "kept".into(),
            stream_mode_details: Some(StreamModeDetails {
                stream_mode: rill_engine::api::StreamMode::OnDemand,
            }),
            ..Default::default()
        })
        .await?;
        e.enable_enhanced_monitoring(EnhancedMonitoringInput {
            stream_name: Some("kept".into()),
            shard_level_metrics: vec!["ALL".into()],
            ..Default::default()
        })
        .await?;
        e.update_max_record_size(UpdateMaxRecordSizeInput {
            stream_arn: stream_arn.clone(),
            max_record_size_in_kib: 4096,
        })
        .await?;
        e.update_stream_warm_throughput(UpdateStreamWarmThroughputInput {
            stream_name: Some("kept".into()),
            warm_throughput_mibps: 50,
            ..Default::default()
        })
        .await?;
        consumer_arn = e
            .register_stream_consumer(RegisterStreamConsumerInput {
                stream_arn: stream_arn.clone(),
                consumer_name: "c".into(),
            })
            .await?
            .consumer
            .consumer_arn;
        e.tag_resource(TagResourceInput {
            resource_arn: consumer_arn.clone(),
            tags: [("k".to_string(), "v".to_string())].into(),
        })
        .await?;
        e.put_resource_policy(PutResourcePolicyInput {
            resource_arn: consumer_arn.clone(),
            policy: r#"{"Statement":[]}"#.into(),
        })
        .await?;
        e.update_account_settings(UpdateAccountSettingsInput {
            minimum_throughput_billing_commitment: Some(MinimumThroughputBillingCommitmentInput {
                status: Some("ENABLED".into()),
            }),
        })
        .await?;
        e.close().await?;
    }
    let e = Engine::open(dir.path(), engine_config()).await?;
    let sum = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("kept".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(sum.enhanced_monitoring[0].shard_level_metrics.len(), 7);
    assert_eq!(sum.max_record_size_in_kib, Some(4096));
    assert_eq!(sum.warm_throughput.and_then(|w| w.target_mibps), Some(50));
    let tags = e
        .list_tags_for_resource(ListTagsForResourceInput {
            resource_arn: consumer_arn.clone(),
        })
        .await?;
    assert_eq!(tags.tags.len(), 1);
    let policy = e
        .get_resource_policy(ResourcePolicyInput {
            resource_arn: consumer_arn,
        })
        .await?;
    assert_eq!(policy.policy, r#"{"Statement":[]}"#);
    let settings = e
        .describe_account_settings(DescribeAccountSettingsInput {})
        .await?;
    assert_eq!(
        settings
            .minimum_throughput_billing_commitment
            .map(|c| c.status),
        Some(MinimumThroughputBillingCommitmentStatus::Enabled)
    );
    let limits = e.describe_limits(DescribeLimitsInput {}).await?;
    assert_eq!(limits.on_demand_stream_count, 1);
    Ok(())
}

/// Shard-level metrics appear in `/metrics` only for streams that enabled them.
#[tokio::test]
async fn shard_level_metrics_follow_enhanced_monitoring() -> TestResult {
    let s = TestServer::start_with(engine_config(), ServerConfig::default()).await;
    let k = s.sdk();
    // The recorder is process-wide: names no other test uses.
    let (plain, watched) = ("shard-metrics-off-9c1e", "shard-metrics-on-9c1e");
    for name in [plain, watched] {
        k.create_stream()
            .stream_name(name)
            .shard_count(1)
            .send()
            .await?;
    }
    k.enable_enhanced_monitoring()
        .stream_name(watched)
        .shard_level_metrics(MetricsName::IncomingRecords)
        .send()
        .await?;
    for name in [plain, watched] {
        k.put_record()
            .stream_name(name)
            .partition_key("p")
            .data(Blob::new(b"m".to_vec()))
            .send()
            .await?;
    }
    let text = reqwest::get(format!("{}/metrics", s.endpoint))
        .await?
        .text()
        .await?;
    let shard_lines = |stream: &str, metric: &str| {
        text.lines()
            .filter(|l| l.starts_with(metric) && l.contains(&format!("stream=\"{stream}\"")))
            .count()
    };
    assert_eq!(shard_lines(watched, "Shard_IncomingRecords"), 1, "{text}");
    assert_eq!(shard_lines(watched, "Shard_IncomingBytes"), 0, "{text}");
    assert_eq!(shard_lines(plain, "Shard_IncomingRecords"), 0, "{text}");
    assert_eq!(shard_lines(plain, "IncomingRecords"), 1, "{text}");
    let _ = &s.engine;
    Ok(())
}
