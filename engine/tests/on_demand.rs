//! ON_DEMAND streams scale themselves: hot shards split under load, cold ones merge back.

use rill_engine::api::*;
use rill_engine::embedded::{OnDemandScaling, ThroughputLimits};
use rill_engine::{Engine, EngineConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn open_shards(k: &Engine) -> TestResult<i32> {
    Ok(k.describe_stream_summary(DescribeStreamSummaryInput {
        stream_name: Some("od".into()),
        ..Default::default()
    })
    .await?
    .stream_description_summary
    .open_shard_count)
}

async fn wait_for(k: &Engine, want: impl Fn(i32) -> bool) -> TestResult<i32> {
    let k = k.clone();
    Ok(tokio::time::timeout(Duration::from_secs(30), async move {
        loop {
            if let Ok(n) = open_shards(&k).await
                && want(n)
            {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_stream_grows_under_load_and_shrinks_when_idle() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            // Scaled down so the test runs in seconds: measured every 50 ms, hot after 2.
            on_demand: OnDemandScaling {
                check_interval: Duration::from_millis(50),
                sustain: 2,
                max_shards: 8,
                min_shards: 4,
                ..Default::default()
            },
            // No throttling (the rates still define what "hot" means).
            limits: ThroughputLimits {
                enabled: false,
                ..ThroughputLimits::aws()
            },
            ..Default::default()
        },
    )
    .await?;
    k.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        ..Default::default()
    })
    .await?;
    assert_eq!(open_shards(&k).await?, 4);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (k, stop) = (k.clone(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                k.put_records(PutRecordsInput {
                    stream_name: Some("od".into()),
                    records: (0..100)
                        .map(|i| PutRecordsRequestEntry {
                            data: vec![1u8; 200].into(),
                            partition_key: format!("k{}", n + i),
                            explicit_hash_key: None,
                        })
                        .collect(),
                    ..Default::default()
                })
                .await?;
                n += 100;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Ok::<u64, Error>(n)
        })
    };
    let grown = wait_for(&k, |n| n >= 8).await?;
    stop.store(true, Ordering::SeqCst);
    let written = writer.await??;
    assert_eq!(grown, 8, "splits stop at max_shards");
    // Idle: cold neighbours merge back down to min_shards.
    let shrunk = wait_for(&k, |n| n == 4).await?;
    assert_eq!(shrunk, 4);
    // Nothing was lost across the reshapes: every record is in some shard.
    let shards = k
        .list_shards(ListShardsInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .shards;
    let mut total = 0u64;
    for s in &shards {
        let mut it = k
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some("od".into()),
                shard_id: s.shard_id.clone(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?
            .shard_iterator;
        while let Some(i) = it {
            let page = k
                .get_records(GetRecordsInput {
                    shard_iterator: i,
                    ..Default::default()
                })
                .await?;
            if page.records.is_empty() {
                break;
            }
            total += page.records.len() as u64;
            it = page.next_shard_iterator;
        }
    }
    assert_eq!(total, written);
    // UpdateStreamMode back to PROVISIONED stops the scaling.
    let arn = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    k.update_stream_mode(UpdateStreamModeInput {
        stream_arn: arn,
        stream_mode_details: StreamModeDetails {
            stream_mode: StreamMode::Provisioned,
        },
    })
    .await?;
    let d = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(
        d.stream_mode_details.map(|m| m.stream_mode),
        Some(StreamMode::Provisioned)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_throughput_is_a_floor_of_open_shards() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = Engine::open(
        dir.path(),
        EngineConfig {
            on_demand: OnDemandScaling {
                check_interval: Duration::from_millis(50),
                sustain: 2,
                min_shards: 4,
                max_shards: 16,
                ..Default::default()
            },
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    k.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        ..Default::default()
    })
    .await?;
    assert_eq!(open_shards(&k).await?, 4);
    let warm = |mibps: i32| UpdateStreamWarmThroughputInput {
        stream_name: Some("od".into()),
        warm_throughput_mibps: mibps,
        ..Default::default()
    };
    let out = k.update_stream_warm_throughput(warm(10)).await?;
    assert_eq!(
        out.warm_throughput.and_then(|w| w.target_mibps),
        Some(10),
        "the target is returned at once"
    );
    // Idle, yet it grows to the warm throughput (1 MiB/s per shard)...
    assert_eq!(wait_for(&k, |n| n >= 10).await?, 10);
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    let w = summary.warm_throughput.ok_or("no WarmThroughput")?;
    assert_eq!((w.target_mibps, w.current_mibps), (Some(10), Some(10)));
    // ...and stays there while idle (cold shards are not merged below it): ten checks.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(open_shards(&k).await?, 10);
    // Lowered: idle shards merge back down to the stream's minimum.
    k.update_stream_warm_throughput(warm(0)).await?;
    assert_eq!(wait_for(&k, |n| n == 4).await?, 4);
    Ok(())
}
