//! A catalog value that does not parse fails `Engine::open` with an error naming the table,
//! the row, the column and the value, and the open changes nothing: the engine never
//! guesses a default for a status, mode, encryption type or account settings it cannot read.

use rill_engine::api::*;
use rill_engine::embedded::OpenError;
use rill_engine::{Engine, EngineConfig};
use std::path::Path;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A data directory holding one stream, `orders`, and account settings; the engine closed.
async fn data_dir() -> TestResult<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    engine
        .create_stream(CreateStreamInput {
            stream_name: "orders".into(),
            shard_count: Some(1),
            ..Default::default()
        })
        .await?;
    engine
        .update_account_settings(UpdateAccountSettingsInput {
            minimum_throughput_billing_commitment: Some(MinimumThroughputBillingCommitmentInput {
                status: Some("ENABLED".into()),
            }),
        })
        .await?;
    engine.close().await?;
    Ok(dir)
}

fn sql(dir: &Path, statement: &str) -> TestResult {
    let conn = rusqlite::Connection::open(dir.join("catalog.sqlite"))?;
    conn.execute_batch(statement)?;
    Ok(())
}

fn query(dir: &Path, statement: &str) -> TestResult<String> {
    let conn = rusqlite::Connection::open(dir.join("catalog.sqlite"))?;
    Ok(conn.query_row(statement, [], |r| r.get::<_, String>(0))?)
}

/// Opening fails with `OpenError::Catalog` for exactly this table, row, column and value.
async fn refuses(
    dir: &Path,
    table: &str,
    key: &str,
    column: &str,
    value: &str,
) -> TestResult<String> {
    match Engine::open(dir, EngineConfig::default()).await {
        Ok(_) => Err(format!("opened despite {table}.{column} = {value:?}").into()),
        Err(e) => {
            let message = e.to_string();
            match e {
                OpenError::Catalog {
                    table: t,
                    key: k,
                    column: c,
                    value: v,
                } => {
                    assert_eq!((t, k.as_str(), c, v.as_str()), (table, key, column, value));
                }
                other => return Err(format!("wrong error: {other:?}").into()),
            }
            for part in [table, key, column] {
                assert!(message.contains(part), "{message:?} names {part:?}");
            }
            // The value is quoted (escaped), so that an empty or odd one shows.
            assert!(
                message.contains(&format!("{value:?}")),
                "{message:?} names {value:?}"
            );
            Ok(message)
        }
    }
}

#[tokio::test]
async fn a_stream_column_that_does_not_parse_fails_the_open_and_changes_nothing() -> TestResult {
    let dir = data_dir().await?;
    let cases = [
        ("status", "'ACTIVATING'", "ACTIVATING", "ACTIVE"),
        ("mode", "'SERVERLESS'", "SERVERLESS", "PROVISIONED"),
        ("encryption_type", "'ROT13'", "ROT13", "NONE"),
    ];
    for (column, sql_value, value, good) in cases {
        sql(
            dir.path(),
            &format!("UPDATE streams SET {column} = {sql_value} WHERE name = 'orders'"),
        )?;
        let message = refuses(dir.path(), "streams", "name = \"orders\"", column, value).await?;
        assert!(message.contains("refusing to open"), "{message}");
        // The failed open left the row as it was (no default written back) and the directory
        // unlocked and whole.
        assert_eq!(
            query(
                dir.path(),
                &format!("SELECT {column} FROM streams WHERE name = 'orders'")
            )?,
            value
        );
        sql(
            dir.path(),
            &format!("UPDATE streams SET {column} = '{good}' WHERE name = 'orders'"),
        )?;
        let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
        let summary = engine
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some("orders".into()),
                ..Default::default()
            })
            .await?;
        assert_eq!(summary.stream_description_summary.open_shard_count, 1);
        engine.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_interrupted_deletion_is_not_finished_when_another_row_is_bad() -> TestResult {
    let dir = data_dir().await?;
    {
        let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
        engine
            .create_stream(CreateStreamInput {
                stream_name: "zz-bad".into(),
                shard_count: Some(1),
                ..Default::default()
            })
            .await?;
        engine.close().await?;
    }
    // `orders` was being deleted when the process died; `zz-bad` holds a mode no rill knows.
    sql(
        dir.path(),
        "UPDATE streams SET status = 'DELETING' WHERE name = 'orders';
         UPDATE streams SET mode = 'LEGACY' WHERE name = 'zz-bad';",
    )?;
    refuses(dir.path(), "streams", "name = \"zz-bad\"", "mode", "LEGACY").await?;
    // Every row is checked before recovery changes anything: `orders` is still there.
    assert_eq!(
        query(
            dir.path(),
            "SELECT status FROM streams WHERE name = 'orders'"
        )?,
        "DELETING"
    );
    Ok(())
}

#[tokio::test]
async fn unreadable_account_settings_fail_the_open() -> TestResult {
    let dir = data_dir().await?;
    sql(
        dir.path(),
        "UPDATE meta SET value = CAST('{\"status\":\"SOMETIMES\"}' AS BLOB) WHERE key = 'account_settings'",
    )?;
    refuses(
        dir.path(),
        "meta",
        "key = \"account_settings\"",
        "value",
        "{\"status\":\"SOMETIMES\"}",
    )
    .await?;
    Ok(())
}
