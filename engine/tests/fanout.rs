//! Enhanced fan-out: registered consumers and SubscribeToShard, embedded and through
//! `rill serve` with aws-sdk-kinesis.

use futures::StreamExt;
use rill_engine::api::*;
use rill_engine::embedded::{ManualClock, ThroughputLimits};
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig, Remote};
use std::sync::Arc;
use std::time::Duration;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Fixture {
    engine: Engine,
    clock: Arc<ManualClock>,
    stream_arn: String,
    _dir: tempfile::TempDir,
}

async fn fixture(ttl: Duration, shards: i32) -> TestResult<Fixture> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            clock: clock.clone(),
            retention_interval: Duration::ZERO,
            limits: ThroughputLimits::off(),
            subscription_ttl: ttl,
            max_consumers: 3,
            ..Default::default()
        },
    )
    .await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "fan".into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    let stream_arn = engine
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("fan".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    Ok(Fixture {
        engine,
        clock,
        stream_arn,
        _dir: dir,
    })
}

async fn register(k: &dyn Kinesis, stream_arn: &str, name: &str) -> TestResult<String> {
    Ok(k.register_stream_consumer(RegisterStreamConsumerInput {
        stream_arn: stream_arn.into(),
        consumer_name: name.into(),
    })
    .await?
    .consumer
    .consumer_arn)
}

async fn put_n(k: &dyn Kinesis, from: usize, n: usize) -> TestResult<Vec<String>> {
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("fan".into()),
            records: (from..from + n)
                .map(|i| PutRecordsRequestEntry {
                    data: format!("{i}").into(),
                    partition_key: "one-key".into(),
                    explicit_hash_key: None,
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    Ok(out
        .records
        .into_iter()
        .filter_map(|r| r.sequence_number)
        .collect())
}

fn position(kind: ShardIteratorType, seq: Option<String>) -> StartingPosition {
    StartingPosition {
        position_type: kind,
        sequence_number: seq,
        timestamp: None,
    }
}

/// Collects records from a subscription until `n` arrived; returns (payloads, last continuation).
async fn collect(
    events: &mut SubscribeToShardStream,
    n: usize,
) -> TestResult<(Vec<String>, String)> {
    let mut got = Vec::new();
    let mut cont = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while got.len() < n {
            let Some(event) = events.next().await else {
                break;
            };
            let event = event?;
            cont = event.continuation_sequence_number.clone();
            for r in event.records {
                got.push(String::from_utf8(r.data.to_vec())?);
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await??;
    Ok((got, cont))
}

#[tokio::test]
async fn consumers_register_describe_list_and_deregister() -> TestResult {
    let f = fixture(Duration::from_secs(300), 1).await?;
    let k = &f.engine;
    let arn = register(k, &f.stream_arn, "app-1").await?;
    assert!(
        arn.starts_with(&format!("{}/consumer/app-1:", f.stream_arn)),
        "{arn}"
    );
    let d = k
        .describe_stream_consumer(DescribeStreamConsumerInput {
            consumer_arn: Some(arn.clone()),
            ..Default::default()
        })
        .await?
        .consumer_description;
    assert_eq!(
        (d.consumer_name.as_str(), d.consumer_status),
        ("app-1", Some(ConsumerStatus::Active))
    );
    assert_eq!(d.stream_arn, f.stream_arn);
    let by_name = k
        .describe_stream_consumer(DescribeStreamConsumerInput {
            stream_arn: Some(f.stream_arn.clone()),
            consumer_name: Some("app-1".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(by_name.consumer_description.consumer_arn, arn);
    let dup = k
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn: f.stream_arn.clone(),
            consumer_name: "app-1".into(),
        })
        .await;
    assert!(matches!(dup, Err(Error::ResourceInUse(_))), "{dup:?}");
    register(k, &f.stream_arn, "app-2").await?;
    register(k, &f.stream_arn, "app-3").await?;
    let over = register(k, &f.stream_arn, "app-4").await;
    assert!(over.is_err(), "max_consumers is 3");
    // Pages of 2: app-1, app-2 | app-3.
    let p1 = k
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: f.stream_arn.clone(),
            max_results: Some(2),
            ..Default::default()
        })
        .await?;
    let names: Vec<&str> = p1
        .consumers
        .iter()
        .map(|c| c.consumer_name.as_str())
        .collect();
    assert_eq!(names, ["app-1", "app-2"]);
    let p2 = k
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: f.stream_arn.clone(),
            next_token: p1.next_token,
            ..Default::default()
        })
        .await?;
    assert_eq!(p2.consumers.len(), 1);
    assert!(p2.next_token.is_none());
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("fan".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(summary.stream_description_summary.consumer_count, Some(3));
    // A stream with consumers is not deleted unless the caller insists.
    let del = k
        .delete_stream(DeleteStreamInput {
            stream_name: Some("fan".into()),
            ..Default::default()
        })
        .await;
    assert!(matches!(del, Err(Error::ResourceInUse(_))), "{del:?}");
    k.deregister_stream_consumer(DeregisterStreamConsumerInput {
        consumer_arn: Some(arn.clone()),
        ..Default::default()
    })
    .await?;
    let gone = k
        .describe_stream_consumer(DescribeStreamConsumerInput {
            consumer_arn: Some(arn),
            ..Default::default()
        })
        .await;
    assert!(matches!(gone, Err(Error::ResourceNotFound(_))), "{gone:?}");
    Ok(())
}

#[tokio::test]
async fn records_are_pushed_in_order_once_and_continuation_loses_nothing() -> TestResult {
    let f = fixture(Duration::from_secs(300), 1).await?;
    let k = &f.engine;
    let arn = register(k, &f.stream_arn, "app").await?;
    put_n(k, 0, 10).await?; // before the subscription: not delivered at LATEST
    let mut events = k
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::Latest, None),
        })
        .await?;
    // A second subscription within 5 s is refused.
    let again = k
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::Latest, None),
        })
        .await;
    assert!(
        matches!(again, Err(Error::ResourceInUse(_))),
        "a second subscription within 5 s"
    );
    let writer = {
        let k = k.clone();
        tokio::spawn(async move {
            for batch in 0..5 {
                put_n(&k, 10 + batch * 20, 20).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
    };
    let (got, cont) = collect(&mut events, 100).await?;
    writer.await??;
    let want: Vec<String> = (10..110).map(|i| i.to_string()).collect();
    assert_eq!(
        got, want,
        "every record put after the subscription, in order, once"
    );
    drop(events);
    // Continue from the continuation number after the 5 s rule: nothing lost, nothing repeated.
    put_n(k, 110, 7).await?;
    f.clock.advance(Duration::from_secs(6));
    let mut events = k
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::AfterSequenceNumber, Some(cont)),
        })
        .await?;
    let (got, _) = collect(&mut events, 7).await?;
    assert_eq!(got, (110..117).map(|i| i.to_string()).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn shard_end_delivers_child_shards_and_ends() -> TestResult {
    let f = fixture(Duration::from_secs(300), 1).await?;
    let k = &f.engine;
    let arn = register(k, &f.stream_arn, "app").await?;
    put_n(k, 0, 3).await?;
    let mut events = k
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn,
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::TrimHorizon, None),
        })
        .await?;
    let (got, _) = collect(&mut events, 3).await?;
    assert_eq!(got.len(), 3);
    k.split_shard(SplitShardInput {
        stream_name: Some("fan".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: "170141183460469231731687303715884105728".into(),
        ..Default::default()
    })
    .await?;
    let last = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.next().await {
                Some(Ok(e)) if e.child_shards.is_some() => return Ok(e),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(Error::Internal {
                        message: "ended without children".into(),
                        source: None,
                    });
                }
            }
        }
    })
    .await??;
    let kids: Vec<String> = last
        .child_shards
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.shard_id)
        .collect();
    assert_eq!(kids, ["shardId-000000000001", "shardId-000000000002"]);
    assert!(
        events.next().await.is_none(),
        "the subscription ends at the shard's end"
    );
    Ok(())
}

#[tokio::test]
async fn subscriptions_expire() -> TestResult {
    let f = fixture(Duration::from_millis(300), 1).await?;
    let arn = register(&f.engine, &f.stream_arn, "app").await?;
    let mut events = f
        .engine
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn,
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::Latest, None),
        })
        .await?;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = events.next().await {
            e?;
        }
        Ok::<_, Error>(())
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the stream ends at its lifetime: {ended:?}"
    );
    Ok(())
}

#[tokio::test]
async fn subscribe_through_rill_serve_with_the_sdk() -> TestResult {
    let f = fixture(Duration::from_secs(300), 1).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        Arc::new(f.engine.clone()),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let remote = Remote::from_endpoint(&endpoint);
    let arn = register(&remote, &f.stream_arn, "sdk-app").await?;
    let mut events = remote
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn.clone(),
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::Latest, None),
        })
        .await?;
    let writer = {
        let remote = Remote::from_endpoint(&endpoint);
        tokio::spawn(async move {
            for b in 0..4 {
                put_n(&remote, b * 25, 25).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
    };
    let (got, cont) = collect(&mut events, 100).await?;
    writer.await??;
    assert_eq!(got, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
    drop(events);
    // Continuation through the SDK, then the shard's end with its children.
    put_n(&remote, 100, 5).await?;
    f.clock.advance(Duration::from_secs(6));
    let mut events = remote
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: arn,
            shard_id: "shardId-000000000000".into(),
            starting_position: position(ShardIteratorType::AfterSequenceNumber, Some(cont)),
        })
        .await?;
    let (got, _) = collect(&mut events, 5).await?;
    assert_eq!(got, (100..105).map(|i| i.to_string()).collect::<Vec<_>>());
    remote
        .split_shard(SplitShardInput {
            stream_name: Some("fan".into()),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: "170141183460469231731687303715884105728".into(),
            ..Default::default()
        })
        .await?;
    let kids = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = events.next().await {
            if let Some(c) = e?.child_shards {
                return Ok(c.len());
            }
        }
        Ok::<_, Error>(0)
    })
    .await??;
    assert_eq!(kids, 2);
    let _ = stop.send(());
    Ok(())
}
