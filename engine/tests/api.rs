//! The embedded engine behaves as Amazon Kinesis Data Streams does, checked through the
//! public API only: the behaviour suite of `rill_testkit::suite` (operations, pagination,
//! exact AWS error messages, see `docs/research/aws-messages.md`) against a fresh engine, and
//! here what only the engine itself can show: limits set by its configuration, everything
//! that needs a manual clock (timestamps, lag, expiry, retention), persistence across
//! restarts and what deletion does to the data directory.

use rill_engine::api::*;
use rill_engine::embedded::ManualClock;
use rill_engine::{Engine, EngineConfig};
use rill_testkit::kinesis_suite;
use rill_testkit::suite::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Thu Dec 10 01:59:39 UTC 2015: the creation time in AWS's ExpiredIteratorException sample.
const T0: i64 = 1_449_712_779_000;

// ------------------------------------------------------------------------------- helpers

/// A fresh engine on its own temporary directory, removed when dropped.
struct FreshEngine {
    engine: Engine,
    _dir: tempfile::TempDir,
}

impl Deref for FreshEngine {
    type Target = dyn Kinesis;

    fn deref(&self) -> &Self::Target {
        &self.engine
    }
}

async fn fresh_engine() -> TestResult<FreshEngine> {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path()).await?;
    Ok(FreshEngine { engine, _dir: dir })
}

kinesis_suite!(fresh_engine());

async fn open(dir: &Path) -> TestResult<Engine> {
    // Behaviour tests run without throughput limits; the limits have tests of their own.
    Ok(Engine::open(
        dir,
        EngineConfig {
            limits: rill_engine::embedded::ThroughputLimits::off(),
            ..EngineConfig::default()
        },
    )
    .await?)
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(T0))
}

fn manual_config(clock: &Arc<ManualClock>) -> EngineConfig {
    EngineConfig {
        clock: clock.clone(),
        retention_interval: Duration::ZERO,
        limits: rill_engine::embedded::ThroughputLimits::off(),
        ..Default::default()
    }
}

fn stream_dirs(root: &Path) -> TestResult<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("streams"))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

// ------------------------------------------------------------------------ CreateStream

#[tokio::test]
async fn create_stream_beyond_shard_limit_is_limit_exceeded() -> TestResult {
    let dir = tempfile::tempdir()?;
    let config = EngineConfig {
        shard_limit: 5,
        ..Default::default()
    };
    let engine = Engine::open(dir.path(), config).await?;
    create(&engine, "a", 3).await?;
    assert_fails(
        engine
            .create_stream(CreateStreamInput {
                stream_name: "b".into(),
                shard_count: Some(3),
                ..Default::default()
            })
            .await,
        "LimitExceededException",
        "This request would exceed the shard limit for the account 000000000000 in us-east-1. \
         Current shard count for the account: 3. Limit: 5. \
         Number of additional shards that would have resulted from this request: 3. \
         Refer to the AWS Service Limits page (http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
         for current limits and how to request higher limits.",
    );
    assert_fails(
        engine
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some("b".into()),
                ..Default::default()
            })
            .await,
        "ResourceNotFoundException",
        &not_found("b"),
    );
    // Exactly at the limit is allowed.
    create(&engine, "b", 2).await?;
    Ok(())
}

// ------------------------------------------------------------- ListShards, ListStreams

#[tokio::test]
async fn next_tokens_expire_after_300_seconds() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), manual_config(&clock)).await?;
    create(&engine, "s", 3).await?;
    create(&engine, "t", 1).await?;
    let shards_token = engine
        .list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            max_results: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no ListShards NextToken")?;
    let streams_token = engine
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no ListStreams NextToken")?;
    let use_shards = |t: &str| ListShardsInput {
        next_token: Some(t.into()),
        ..Default::default()
    };
    let use_streams = |t: &str| ListStreamsInput {
        next_token: Some(t.into()),
        ..Default::default()
    };

    clock.advance(Duration::from_secs(299));
    assert_eq!(
        engine
            .list_shards(use_shards(&shards_token))
            .await?
            .shards
            .len(),
        2
    );
    assert_eq!(
        engine
            .list_streams(use_streams(&streams_token))
            .await?
            .stream_names,
        ["t"]
    );

    clock.advance(Duration::from_secs(2));
    let e = err_of(engine.list_shards(use_shards(&shards_token)).await);
    assert_eq!(e.code(), "ExpiredNextTokenException", "{e}");
    let e = err_of(engine.list_streams(use_streams(&streams_token)).await);
    assert_eq!(e.code(), "ExpiredNextTokenException", "{e}");
    Ok(())
}

// -------------------------------------------------------- GetShardIterator, GetRecords

#[tokio::test]
async fn at_timestamp_iterator() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), manual_config(&clock)).await?;
    create(&engine, "s", 1).await?;
    let shard = "shardId-000000000000";
    for i in 0..3 {
        put(&engine, "s", "k", &format!("first-{i}")).await?;
    }
    clock.advance(Duration::from_secs(10));
    for i in 0..2 {
        put(&engine, "s", "k", &format!("second-{i}")).await?;
    }
    let at = |ms: i64| GetShardIteratorInput {
        timestamp: Some(Timestamp(ms)),
        ..iterator_input("s", shard, ShardIteratorType::AtTimestamp)
    };
    let got = read_all(&engine, iterator(&engine, at(T0 + 5_000)).await?).await?;
    assert_eq!(data_of(&got), ["second-0", "second-1"]);
    for r in &got {
        assert_eq!(
            r.approximate_arrival_timestamp,
            Some(Timestamp(T0 + 10_000))
        );
    }
    let got = read_all(&engine, iterator(&engine, at(T0)).await?).await?;
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].approximate_arrival_timestamp, Some(Timestamp(T0)));
    // Before the first record: everything. At "now": the records that arrived now.
    assert_eq!(
        read_all(&engine, iterator(&engine, at(T0 - 86_400_000)).await?)
            .await?
            .len(),
        5
    );
    assert_eq!(
        read_all(&engine, iterator(&engine, at(T0 + 10_000)).await?)
            .await?
            .len(),
        2
    );
    // The future is an error.
    let now = T0 + 10_000;
    assert_fails(
        engine.get_shard_iterator(at(now + 1_000)).await,
        "InvalidArgumentException",
        &format!(
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
             timestampInMillis: {}, currentTimestampInMillis: {now}",
            now + 1_000
        ),
    );
    Ok(())
}

#[tokio::test]
async fn millis_behind_latest_reports_the_lag() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), manual_config(&clock)).await?;
    create(&engine, "s", 1).await?;
    put(&engine, "s", "k", "a").await?;
    put(&engine, "s", "k", "b").await?;
    clock.advance(Duration::from_secs(10));
    let it = trim_horizon(&engine, "s", "shardId-000000000000").await?;
    let out = engine
        .get_records(GetRecordsInput {
            shard_iterator: it,
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    assert_eq!(data_of(&out.records), ["a"]);
    assert!(out.millis_behind_latest.is_some_and(|m| m > 0), "{out:?}");
    let out = engine
        .get_records(GetRecordsInput {
            shard_iterator: out.next_shard_iterator.ok_or("no NextShardIterator")?,
            ..Default::default()
        })
        .await?;
    assert_eq!(data_of(&out.records), ["b"]);
    assert_eq!(out.millis_behind_latest, Some(0));
    Ok(())
}

#[tokio::test]
async fn iterators_of_another_engine_are_invalid() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path()).await?;
    create(&engine, "s", 1).await?;
    // Same stream, same shard, another engine (another key).
    let other_dir = tempfile::tempdir()?;
    let other = open(other_dir.path()).await?;
    create(&other, "s", 1).await?;
    let foreign = trim_horizon(&other, "s", "shardId-000000000000").await?;
    assert_fails(
        engine
            .get_records(GetRecordsInput {
                shard_iterator: foreign,
                ..Default::default()
            })
            .await,
        "InvalidArgumentException",
        "Invalid ShardIterator.",
    );
    Ok(())
}

#[tokio::test]
async fn iterators_expire_after_five_minutes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), manual_config(&clock)).await?;
    create(&engine, "s", 1).await?;
    put(&engine, "s", "k", "x").await?;
    let it = trim_horizon(&engine, "s", "shardId-000000000000").await?;
    clock.advance(Duration::from_secs(299));
    let out = engine
        .get_records(GetRecordsInput {
            shard_iterator: it.clone(),
            ..Default::default()
        })
        .await?;
    assert_eq!(data_of(&out.records), ["x"]);
    let fresh = out.next_shard_iterator.ok_or("no NextShardIterator")?;
    // 396 s after creation, as in AWS's own sample message.
    clock.advance(Duration::from_secs(97));
    assert_fails(
        engine
            .get_records(GetRecordsInput {
                shard_iterator: it,
                ..Default::default()
            })
            .await,
        "ExpiredIteratorException",
        "Iterator expired. The iterator was created at time Thu Dec 10 01:59:39 UTC 2015 while right now it is \
         Thu Dec 10 02:06:15 UTC 2015 which is further in the future than the tolerated delay of 300000 milliseconds.",
    );
    // The iterator handed out at 299 s is still fresh at 396 s ...
    let out = engine
        .get_records(GetRecordsInput {
            shard_iterator: fresh.clone(),
            ..Default::default()
        })
        .await?;
    assert!(out.records.is_empty());
    // ... and expires in turn.
    clock.advance(Duration::from_secs(300));
    assert_fails_with_prefix(
        engine
            .get_records(GetRecordsInput {
                shard_iterator: fresh,
                ..Default::default()
            })
            .await,
        "ExpiredIteratorException",
        "Iterator expired. The iterator was created at time",
    );
    Ok(())
}

// --------------------------------------------------------------------------- retention

fn retention_config(clock: &Arc<ManualClock>) -> EngineConfig {
    EngineConfig {
        clock: clock.clone(),
        segment_bytes: 4096,
        retention_interval: Duration::ZERO,
        limits: rill_engine::embedded::ThroughputLimits::off(),
        ..Default::default()
    }
}

#[tokio::test]
async fn retention_deletes_expired_records_and_numbers_keep_growing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), retention_config(&clock)).await?;
    create(&engine, "s", 1).await?;
    let shard = "shardId-000000000000";
    let payload = "x".repeat(700);
    let mut old = Vec::new();
    for i in 0..20 {
        clock.advance(Duration::from_secs(1));
        old.push(
            put(&engine, "s", &format!("k{i}"), &payload)
                .await?
                .sequence_number,
        );
    }
    assert_eq!(
        read_all(&engine, trim_horizon(&engine, "s", shard).await?)
            .await?
            .len(),
        20
    );
    // Nothing is old enough yet.
    clock.advance(Duration::from_secs(23 * 3600));
    assert_eq!(engine.enforce_retention().await?, 0);
    assert_eq!(
        read_all(&engine, trim_horizon(&engine, "s", shard).await?)
            .await?
            .len(),
        20
    );

    clock.advance(Duration::from_secs(2 * 3600));
    assert!(engine.enforce_retention().await? > 0);
    let left = read_all(&engine, trim_horizon(&engine, "s", shard).await?).await?;
    assert!(
        left.is_empty(),
        "{} records older than 24 h are still readable",
        left.len()
    );

    let newest_old = old.last().ok_or("no records")?.clone();
    let fresh = put(&engine, "s", "k", "fresh").await?.sequence_number;
    assert_eq!(cmp_seq(&newest_old, &fresh), Ordering::Less);
    let got = read_all(&engine, trim_horizon(&engine, "s", shard).await?).await?;
    assert_eq!(data_of(&got), ["fresh"]);
    assert_eq!(got[0].sequence_number, fresh);

    // Still true after a restart.
    engine.close().await?;
    drop(engine);
    let engine = Engine::open(dir.path(), retention_config(&clock)).await?;
    let got = read_all(&engine, trim_horizon(&engine, "s", shard).await?).await?;
    assert_eq!(data_of(&got), ["fresh"]);
    let fresher = put(&engine, "s", "k", "fresher").await?.sequence_number;
    assert_eq!(cmp_seq(&fresh, &fresher), Ordering::Less);
    assert_eq!(
        data_of(&read_all(&engine, trim_horizon(&engine, "s", shard).await?).await?),
        ["fresh", "fresher"]
    );
    engine.close().await?;
    Ok(())
}

#[tokio::test]
async fn decreasing_retention_drops_records_older_than_the_new_period() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = manual_clock();
    let engine = Engine::open(dir.path(), retention_config(&clock)).await?;
    create(&engine, "s", 1).await?;
    let shard = "shardId-000000000000";
    engine
        .increase_stream_retention_period(RetentionPeriodInput {
            stream_name: Some("s".into()),
            retention_period_hours: 48,
            ..Default::default()
        })
        .await?;
    for i in 0..10 {
        put(&engine, "s", "k", &format!("{i}{}", "y".repeat(1000))).await?;
    }
    clock.advance(Duration::from_secs(30 * 3600));
    assert_eq!(engine.enforce_retention().await?, 0, "30 h < 48 h");
    assert_eq!(
        read_all(&engine, trim_horizon(&engine, "s", shard).await?)
            .await?
            .len(),
        10
    );
    engine
        .decrease_stream_retention_period(RetentionPeriodInput {
            stream_name: Some("s".into()),
            retention_period_hours: 24,
            ..Default::default()
        })
        .await?;
    assert!(
        read_all(&engine, trim_horizon(&engine, "s", shard).await?)
            .await?
            .is_empty()
    );
    Ok(())
}

// ------------------------------------------------------------------------- persistence

#[tokio::test]
async fn streams_survive_close_and_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path()).await?;
    create(&engine, "a", 3).await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "b".into(),
            shard_count: Some(1),
            tags: Some(HashMap::from([("owner".to_string(), "me".to_string())])),
            ..Default::default()
        })
        .await?;
    engine
        .add_tags_to_stream(AddTagsToStreamInput {
            stream_name: Some("a".into()),
            tags: HashMap::from([("k".to_string(), "v".to_string())]),
            ..Default::default()
        })
        .await?;
    engine
        .increase_stream_retention_period(RetentionPeriodInput {
            stream_name: Some("a".into()),
            retention_period_hours: 72,
            ..Default::default()
        })
        .await?;
    let mut puts = Vec::new();
    for i in 0..30 {
        let out = put(&engine, "a", &format!("key-{i}"), &format!("data-{i}")).await?;
        puts.push((out.shard_id, out.sequence_number, format!("data-{i}")));
    }
    put(&engine, "b", "k", "only").await?;
    let describe = |name: &str| DescribeStreamInput {
        stream_name: Some(name.into()),
        ..Default::default()
    };
    let before_a = engine
        .describe_stream(describe("a"))
        .await?
        .stream_description;
    let before_b = engine
        .describe_stream(describe("b"))
        .await?
        .stream_description;
    let before_tags = engine
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("b".into()),
            ..Default::default()
        })
        .await?;
    let it_before = trim_horizon(&engine, "a", "shardId-000000000000").await?;

    engine.close().await?;
    drop(engine);
    let engine = open(dir.path()).await?;

    let names = engine
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        engine
            .describe_stream(describe("a"))
            .await?
            .stream_description,
        before_a
    );
    assert_eq!(
        engine
            .describe_stream(describe("b"))
            .await?
            .stream_description,
        before_b
    );
    assert_eq!(before_a.retention_period_hours, 72);
    let tags_a = engine
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("a".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        tags_a.tags,
        vec![Tag {
            key: "k".into(),
            value: Some("v".into())
        }]
    );
    let tags_b = engine
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("b".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(tags_b, before_tags);

    // Every record is back, on its shard, with its sequence number.
    let mut read_back = Vec::new();
    for s in &before_a.shards {
        for r in read_all(&engine, trim_horizon(&engine, "a", &s.shard_id).await?).await? {
            read_back.push((
                s.shard_id.clone(),
                r.sequence_number,
                String::from_utf8_lossy(&r.data).into_owned(),
            ));
        }
    }
    read_back.sort();
    let mut want = puts.clone();
    want.sort();
    assert_eq!(read_back, want);
    assert_eq!(
        data_of(
            &read_all(
                &engine,
                trim_horizon(&engine, "b", "shardId-000000000000").await?
            )
            .await?
        ),
        ["only"]
    );
    // An iterator issued before the restart is still valid.
    let n0 = puts
        .iter()
        .filter(|p| p.0 == "shardId-000000000000")
        .count();
    assert_eq!(read_all(&engine, it_before).await?.len(), n0);
    // New records continue above the old ones.
    let (shard, last_seq, _) = puts.last().ok_or("no puts")?.clone();
    let again = put(&engine, "a", "key-29", "after restart").await?;
    assert_eq!(again.shard_id, shard);
    assert_eq!(cmp_seq(&last_seq, &again.sequence_number), Ordering::Less);
    engine.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_directory_opens_in_one_engine_at_a_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path()).await?;
    create(&engine, "s", 1).await?;
    assert!(
        Engine::open(dir.path(), EngineConfig::default())
            .await
            .is_err(),
        "a second engine opened a directory that is in use"
    );
    // The first engine is unaffected.
    put(&engine, "s", "k", "x").await?;
    engine.close().await?;
    drop(engine);
    let engine = open(dir.path()).await?;
    assert_eq!(list_shards(&engine, "s").await?.len(), 1);
    engine.close().await?;
    Ok(())
}

// ------------------------------------------------------------------------ DeleteStream

#[tokio::test]
async fn delete_stream_removes_its_directory_and_stays_deleted_after_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = open(dir.path()).await?;
    create(&engine, "s", 2).await?;
    create(&engine, "keep", 1).await?;
    put(&engine, "s", "k", "old").await?;
    assert_eq!(stream_dirs(engine.data_dir())?.len(), 2);
    engine
        .delete_stream(DeleteStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        stream_dirs(engine.data_dir())?.len(),
        1,
        "the deleted stream's directory is gone"
    );
    // A new stream of the same name gets a directory of its own.
    create(&engine, "s", 1).await?;
    assert_eq!(stream_dirs(engine.data_dir())?.len(), 2);
    let shard = "shardId-000000000000";
    put(&engine, "s", "k", "new").await?;
    // The deletion holds across a restart.
    engine.close().await?;
    drop(engine);
    let engine = open(dir.path()).await?;
    assert_eq!(list_shards(&engine, "s").await?.len(), 1);
    assert_eq!(
        data_of(&read_all(&engine, trim_horizon(&engine, "s", shard).await?).await?),
        ["new"]
    );
    assert_eq!(stream_dirs(engine.data_dir())?.len(), 2);
    engine.close().await?;
    Ok(())
}
