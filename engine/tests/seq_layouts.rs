//! Sequence-number layouts across builds (issue 19): a data directory written before layout 2
//! keeps layout 1 for the streams it holds, so their consumers' checkpoints stay valid, and
//! gets layout 2 (AWS's version-2 hex layout) for new streams; a catalog written by a newer
//! rill is refused and left as it is.

use rill_engine::api::*;
use rill_engine::embedded::OpenError;
use rill_engine::store::StoreError;
use rill_engine::{Engine, EngineConfig};
use std::path::Path;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

async fn create(engine: &Engine, name: &str) -> TestResult {
    engine
        .create_stream(CreateStreamInput {
            stream_name: name.into(),
            shard_count: Some(1),
            ..Default::default()
        })
        .await?;
    Ok(())
}

async fn put(engine: &Engine, name: &str, data: &'static [u8]) -> TestResult<String> {
    Ok(engine
        .put_record(PutRecordInput {
            stream_name: Some(name.into()),
            partition_key: "k".into(),
            data: bytes::Bytes::from_static(data),
            ..Default::default()
        })
        .await?
        .sequence_number)
}

/// The data of the records after `after` in `name`'s only shard.
async fn read_after(engine: &Engine, name: &str, after: &str) -> TestResult<Vec<Vec<u8>>> {
    let it = engine
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(name.into()),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: Some(ShardIteratorType::AfterSequenceNumber),
            starting_sequence_number: Some(after.into()),
            ..Default::default()
        })
        .await?
        .shard_iterator
        .ok_or("no iterator")?;
    let got = engine
        .get_records(GetRecordsInput {
            shard_iterator: it,
            ..Default::default()
        })
        .await?;
    Ok(got.records.into_iter().map(|r| r.data.to_vec()).collect())
}

fn sql(dir: &Path, statement: &str) -> TestResult {
    rusqlite::Connection::open(dir.join("catalog.sqlite"))?.execute_batch(statement)?;
    Ok(())
}

/// Whether `s` is AWS's version-2 shape: at least 2^185 (56 or 57 digits) and, in hex, 47
/// digits starting and ending with 2.
fn looks_like_v2(s: &str) -> bool {
    s.parse::<SequenceNumber>()
        .is_ok_and(|n| n.layout == rill_engine::api::seq::Layout::V2)
        && (s.len() == 56 || s.len() == 57)
}

#[tokio::test]
async fn new_streams_get_awss_layout_and_older_streams_keep_theirs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    create(&engine, "old").await?;
    let first = put(&engine, "old", b"one").await?;
    assert!(looks_like_v2(&first), "{first}");
    engine.close().await?;
    // Make the directory what an earlier build left: catalog version 1, no layout-2 mark.
    sql(
        dir.path(),
        "DELETE FROM meta WHERE key = 'seq_v2_from_epoch'; PRAGMA user_version = 1;",
    )?;

    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    let second = put(&engine, "old", b"two").await?;
    assert_eq!(second.len(), 56);
    assert!(
        second.starts_with("49"),
        "layout 1 for a stream of the old catalog: {second}"
    );
    // A checkpoint in the stream's layout reads on.
    assert_eq!(
        read_after(&engine, "old", &second).await?,
        Vec::<Vec<u8>>::new()
    );
    let third = put(&engine, "old", b"three").await?;
    assert_eq!(
        read_after(&engine, "old", &second).await?,
        vec![b"three".to_vec()]
    );
    assert!(third > second && third.len() == second.len());
    // A new stream of the same directory gets layout 2.
    create(&engine, "new").await?;
    let n = put(&engine, "new", b"n").await?;
    assert!(looks_like_v2(&n), "{n}");
    // Each stream refuses the other's numbers as foreign.
    let err = read_after(&engine, "new", &second)
        .await
        .err()
        .ok_or("accepted")?;
    assert!(err.to_string().contains("is invalid"), "{err}");
    engine.close().await?;
    // The catalog is version 2 now, and the mark stays: reopening changes nothing.
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    assert_eq!(put(&engine, "old", b"four").await?.len(), 56);
    assert!(looks_like_v2(&put(&engine, "new", b"m").await?));
    engine.close().await?;
    Ok(())
}

#[tokio::test]
async fn a_catalog_of_a_newer_rill_is_refused_and_left_as_it_is() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    create(&engine, "s").await?;
    engine.close().await?;
    sql(dir.path(), "PRAGMA user_version = 3;")?;
    let err = Engine::open(dir.path(), EngineConfig::default())
        .await
        .err()
        .ok_or("a catalog of version 3 opened")?;
    match &err {
        OpenError::Store(StoreError::UnknownCatalogVersion {
            version, supported, ..
        }) => assert_eq!((*version, *supported), (3, 2)),
        other => return Err(format!("unexpected error: {other}").into()),
    }
    assert!(
        err.to_string()
            .contains("catalog schema version 3 is unknown"),
        "{err}"
    );
    let version: i64 = rusqlite::Connection::open(dir.path().join("catalog.sqlite"))?
        .pragma_query_value(None, "user_version", |r| r.get(0))?;
    assert_eq!(version, 3, "left as it is");
    Ok(())
}

#[tokio::test]
async fn numbers_order_across_a_split_in_layout_2() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    create(&engine, "s").await?;
    let parent = put(&engine, "s", b"p").await?;
    engine
        .split_shard(SplitShardInput {
            stream_name: Some("s".into()),
            shard_to_split: "shardId-000000000000".into(),
            new_starting_hash_key: (u128::MAX / 2).to_string(),
            ..Default::default()
        })
        .await?;
    rill_testkit::wait_until(std::time::Duration::from_secs(10), "the split", || async {
        engine
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some("s".into()),
                ..Default::default()
            })
            .await
            .is_ok_and(|d| d.stream_description_summary.stream_status == Some(StreamStatus::Active))
    })
    .await?;
    let child = put(&engine, "s", b"c").await?;
    assert!(looks_like_v2(&parent) && looks_like_v2(&child));
    assert!(
        (child.len(), &child) > (parent.len(), &parent),
        "a child's numbers are above its parent's: {child} vs {parent}"
    );
    engine.close().await?;
    Ok(())
}
