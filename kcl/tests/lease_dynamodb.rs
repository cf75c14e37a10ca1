//! `DynamoLeaseTable` on dynalite (installed by `scripts/peers`): the lease table suite of
//! `rill_testkit::lease_suite` (the same suite the SQLite table runs), rows in the Java KCL's
//! format, table creation and the errors for a missing or foreign table or a malformed row,
//! and workers sharing shards through the DynamoDB table.
//!
//! Every test starts its own dynalite on a free loopback port and stops it at the end. The
//! tests are ignored under plain `cargo test`; `scripts/test` runs them. Run by hand:
//!
//! ```text
//! scripts/peers && set -a && . .peers/env && set +a
//! cargo test -p rill-kcl --features dynamodb --test lease_dynamodb -- --include-ignored
//! ```

mod common;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use common::dynalite::Dynalite;
use common::*;
use rill_kcl::*;
use rill_testkit::lease_suite as suite;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// A fresh lease table `app` on `d`, created by the table itself.
async fn table(d: &Dynalite) -> TestResult<DynamoLeaseTable> {
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "app")?;
    assert!(t.create_table_if_not_exists().await?, "the table was new");
    Ok(t)
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_create_get_list() -> TestResult {
    let d = Dynalite::start()?;
    suite::create_get_list(&table(&d).await?).await
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_writes_are_conditional_on_counter() -> TestResult {
    let d = Dynalite::start()?;
    suite::writes_are_conditional_on_counter(&table(&d).await?).await
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_checkpoints() -> TestResult {
    let d = Dynalite::start()?;
    suite::checkpoints(&table(&d).await?).await
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_handoff_and_meta() -> TestResult {
    let d = Dynalite::start()?;
    suite::handoff_and_meta(&table(&d).await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_take_race_one_client() -> TestResult {
    let d = Dynalite::start()?;
    suite::take_race(Arc::new(table(&d).await?)).await
}

/// Four clients (as four hosts) race through a router that alternates between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_races_across_clients() -> TestResult {
    let d = Dynalite::start()?;
    table(&d).await?;
    let clients: Vec<Arc<dyn LeaseTable>> = (0..4)
        .map(|_| {
            DynamoLeaseTable::from_endpoint(&d.endpoint, "app")
                .map(|t| Arc::new(t) as Arc<dyn LeaseTable>)
        })
        .collect::<Result<_, _>>()?;
    let router = Arc::new(RoundRobin::new(clients));
    suite::take_race(router.clone()).await?;
    suite::steal_vs_renew_race(router).await
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn ss(v: &[&str]) -> AttributeValue {
    AttributeValue::Ss(v.iter().map(|x| x.to_string()).collect())
}

/// The type (S, N, B, SS, …) and text of each attribute of a raw item.
fn types(item: &HashMap<String, AttributeValue>) -> BTreeSet<(String, &'static str)> {
    item.iter()
        .map(|(k, v)| {
            let t = match v {
                AttributeValue::S(_) => "S",
                AttributeValue::N(_) => "N",
                AttributeValue::B(_) => "B",
                AttributeValue::Ss(_) => "SS",
                _ => "other",
            };
            (k.clone(), t)
        })
        .collect()
}

const MAX_HASH_KEY: &str = "340282366920938463463374607431768211455";

/// Rows exactly as the Java KCL writes them (attribute names and types of its lease
/// serializer; absent attributes for nulls and empty sets) are read, taken over with the
/// table's conditional writes, and taken over by a running rill worker, which then
/// processes the shard from the Java checkpoint. Every write leaves the attributes in the
/// Java types, so the Java KCL could take the table back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn java_kcl_rows_are_read_and_taken_over() -> TestResult {
    let d = Dynalite::start()?;
    let t = table(&d).await?;
    let client = t.client().clone();
    // The one shard of the test stream, owned by a Java worker that is gone: TRIM_HORIZON.
    let shard0 = HashMap::from([
        ("leaseKey".to_string(), s("shardId-000000000000")),
        ("leaseOwner".to_string(), s("java-worker-1")),
        ("leaseCounter".to_string(), n(5)),
        ("ownerSwitchesSinceCheckpoint".to_string(), n(0)),
        ("checkpoint".to_string(), s("TRIM_HORIZON")),
        ("checkpointSubSequenceNumber".to_string(), n(0)),
        ("startingHashKey".to_string(), s("0")),
        ("endingHashKey".to_string(), s(MAX_HASH_KEY)),
    ]);
    // A child shard of another stream with every optional attribute, plus one attribute
    // rill does not know (newer KCLs add some); it must survive rill's writes.
    let seq = "49590338271490256608559692538361571095921575989136588898";
    let child = HashMap::from([
        ("leaseKey".to_string(), s("shardId-000000000005")),
        ("leaseOwner".to_string(), s("java-worker-2")),
        ("leaseCounter".to_string(), n(17)),
        ("ownerSwitchesSinceCheckpoint".to_string(), n(2)),
        ("checkpoint".to_string(), s(seq)),
        ("checkpointSubSequenceNumber".to_string(), n(3)),
        (
            "pendingCheckpoint".to_string(),
            s("49590338271490256608559692538361571095921575989136599999"),
        ),
        ("pendingCheckpointSubSequenceNumber".to_string(), n(0)),
        (
            "pendingCheckpointState".to_string(),
            AttributeValue::B(Blob::new(vec![7, 8, 9])),
        ),
        (
            "parentShardId".to_string(),
            ss(&["shardId-000000000001", "shardId-000000000002"]),
        ),
        ("childShardIds".to_string(), ss(&["shardId-000000000009"])),
        ("startingHashKey".to_string(), s("0")),
        (
            "endingHashKey".to_string(),
            s("170141183460469231731687303715884105727"),
        ),
        ("checkpointOwner".to_string(), s("java-worker-0")),
        (
            "throughputKBps".to_string(),
            AttributeValue::N("12.5".into()),
        ),
    ]);
    for item in [&shard0, &child] {
        client
            .put_item()
            .table_name("app")
            .set_item(Some(item.clone()))
            .send()
            .await?;
    }

    let read = t
        .get_lease("shardId-000000000005")
        .await?
        .ok_or("child row not read")?;
    assert_eq!(
        read,
        Lease {
            lease_key: "shardId-000000000005".into(),
            lease_owner: Some("java-worker-2".into()),
            lease_counter: 17,
            checkpoint: seq.into(),
            checkpoint_sub_sequence_number: 3,
            pending_checkpoint: Some(
                "49590338271490256608559692538361571095921575989136599999".into()
            ),
            pending_checkpoint_sub_sequence_number: Some(0),
            pending_checkpoint_state: Some(vec![7, 8, 9]),
            owner_switches_since_checkpoint: 2,
            parent_shard_ids: BTreeSet::from([
                "shardId-000000000001".into(),
                "shardId-000000000002".into()
            ]),
            child_shard_ids: BTreeSet::from(["shardId-000000000009".into()]),
            starting_hash_key: Some("0".into()),
            ending_hash_key: Some("170141183460469231731687303715884105727".into()),
            checkpoint_owner: Some("java-worker-0".into()),
            load: None,
        }
    );
    let taken = t.take_lease(&read, "rill-w").await?.ok_or("take failed")?;
    assert_eq!(taken.lease_owner.as_deref(), Some("rill-w"));
    assert_eq!(taken.lease_counter, 18);
    assert_eq!(taken.owner_switches_since_checkpoint, 3);
    assert_eq!(taken.checkpoint_owner, None, "take ends the handoff");
    let cp = CheckpointUpdate {
        checkpoint: ExtendedSequenceNumber::new(
            "49590338271490256608559692538361571095921575989136600000",
            0,
        ),
        pending: None,
    };
    let done = t
        .update_checkpoint(&taken, &cp)
        .await?
        .ok_or("checkpoint failed")?;
    assert_eq!(done.owner_switches_since_checkpoint, 0);
    let raw = client
        .get_item()
        .table_name("app")
        .key("leaseKey", s("shardId-000000000005"))
        .consistent_read(true)
        .send()
        .await?
        .item
        .ok_or("child row gone")?;
    let want: BTreeSet<(String, &str)> = [
        ("leaseKey", "S"),
        ("leaseOwner", "S"),
        ("leaseCounter", "N"),
        ("ownerSwitchesSinceCheckpoint", "N"),
        ("checkpoint", "S"),
        ("checkpointSubSequenceNumber", "N"),
        ("parentShardId", "SS"),
        ("childShardIds", "SS"),
        ("startingHashKey", "S"),
        ("endingHashKey", "S"),
        ("throughputKBps", "N"),
    ]
    .into_iter()
    .map(|(k, t)| (k.to_string(), t))
    .collect();
    assert_eq!(
        types(&raw),
        want,
        "attributes and types after rill's writes"
    );
    assert_eq!(raw.get("leaseCounter"), Some(&n(19)));
    assert_eq!(
        raw.get("throughputKBps"),
        Some(&AttributeValue::N("12.5".into()))
    );

    // A running worker takes over the Java worker's expired lease and processes the shard
    // from TRIM_HORIZON.
    let (_dir, kinesis) = engine(1).await?;
    put(kinesis.as_ref(), 0, 300).await?;
    let log = Log::default();
    let shared: Arc<dyn LeaseTable> = Arc::new(t.clone());
    let w = scheduler(kinesis.clone(), shared.clone(), "rill-w", &log, true, &FAST)?;
    let stop = w.shutdown_handle();
    let task = tokio::spawn(w.run());
    wait_until(
        Duration::from_secs(30),
        "the Java lease taken, 300 records processed",
        || async { log.counts().0 == 300 },
    )
    .await?;
    stop.shutdown().await;
    task.await??;
    assert_eq!(log.distinct_data(), (0..300).collect());
    let lease = t
        .get_lease("shardId-000000000000")
        .await?
        .ok_or("shard 0 gone")?;
    assert_eq!(lease.lease_owner, None, "released on graceful shutdown");
    assert!(lease.lease_counter > 5);
    assert!(
        lease.checkpoint.bytes().all(|b| b.is_ascii_digit()),
        "checkpoint {:?}",
        lease.checkpoint
    );
    let raw = client
        .get_item()
        .table_name("app")
        .key("leaseKey", s("shardId-000000000000"))
        .consistent_read(true)
        .send()
        .await?
        .item
        .ok_or("shard 0 row gone")?;
    for (k, typ) in types(&raw) {
        let want = match k.as_str() {
            "leaseCounter"
            | "checkpointSubSequenceNumber"
            | "ownerSwitchesSinceCheckpoint"
            | "pendingCheckpointSubSequenceNumber" => "N",
            "parentShardId" | "childShardIds" => "SS",
            "pendingCheckpointState" => "B",
            _ => "S",
        };
        assert_eq!(typ, want, "type of {k}");
    }
    Ok(())
}

/// With creation on, a missing table is created (on-demand billing, key `leaseKey` S) and
/// is ACTIVE when the call returns; a second call finds it.
#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn creates_missing_table() -> TestResult {
    let d = Dynalite::start()?;
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "created-by-rill")?;
    t.ensure_table(true).await?;
    let desc = t
        .client()
        .describe_table()
        .table_name("created-by-rill")
        .send()
        .await?
        .table
        .ok_or("no description")?;
    assert_eq!(desc.table_status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(
        desc.billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str()),
        Some("PAY_PER_REQUEST")
    );
    let keys: Vec<(&str, &str)> = desc
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("leaseKey", "HASH")]);
    assert!(!t.create_table_if_not_exists().await?, "exists now");
    t.ensure_table(false).await?;
    let l = Lease::new(
        "shardId-000000000000",
        ExtendedSequenceNumber::trim_horizon(),
    );
    assert!(t.create_lease_if_not_exists(&l).await?);
    assert_eq!(t.list_leases().await?, vec![l]);
    Ok(())
}

/// With creation off, a missing table is a `TableNotFound` error naming the table, from
/// `ensure_table` and from every operation.
#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn missing_table_is_a_clear_error() -> TestResult {
    let d = Dynalite::start()?;
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "no-such-table")?;
    let is_not_found = |r: Result<(), LeaseError>| match r {
        Err(e @ LeaseError::TableNotFound { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("\"no-such-table\"") && msg.contains("does not exist"),
                "{msg}"
            );
            true
        }
        other => {
            eprintln!("expected TableNotFound, got {other:?}");
            false
        }
    };
    assert!(is_not_found(t.ensure_table(false).await));
    assert!(is_not_found(
        t.get_lease("shardId-000000000000").await.map(|_| ())
    ));
    assert!(is_not_found(t.list_leases().await.map(|_| ())));
    let l = Lease::new(
        "shardId-000000000000",
        ExtendedSequenceNumber::trim_horizon(),
    );
    assert!(is_not_found(
        t.create_lease_if_not_exists(&l).await.map(|_| ())
    ));
    assert!(is_not_found(t.renew_lease(&l).await.map(|_| ())));
    Ok(())
}

/// A table whose key is not `leaseKey` (S) is refused with `TableSchema`; a row whose
/// attribute has the wrong type or value fails reads with `MalformedAttribute` naming it.
#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn foreign_table_and_malformed_rows_are_clear_errors() -> TestResult {
    let d = Dynalite::start()?;
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "other")?;
    t.client()
        .create_table()
        .table_name("other")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    match t.ensure_table(true).await {
        Err(LeaseError::TableSchema { table, reason }) => {
            assert_eq!(table, "other");
            assert!(
                reason.contains("leaseKey") && reason.contains("id (HASH)"),
                "{reason}"
            );
        }
        other => return Err(format!("expected TableSchema, got {other:?}").into()),
    }

    let t = table(&d).await?;
    t.client()
        .put_item()
        .table_name("app")
        .item("leaseKey", s("shardId-000000000000"))
        .item("leaseCounter", s("3"))
        .item("checkpoint", s("TRIM_HORIZON"))
        .send()
        .await?;
    let check = |r: Result<(), LeaseError>, attribute: &str| match r {
        Err(LeaseError::MalformedAttribute {
            key,
            attribute: a,
            reason,
        }) => {
            assert_eq!(key, "shardId-000000000000");
            assert_eq!(a, attribute);
            assert!(!reason.is_empty());
            Ok(())
        }
        other => Err(format!(
            "expected MalformedAttribute({attribute}), got {other:?}"
        )),
    };
    check(
        t.get_lease("shardId-000000000000").await.map(|_| ()),
        "leaseCounter",
    )?;
    check(t.list_leases().await.map(|_| ()), "leaseCounter")?;
    t.client()
        .put_item()
        .table_name("app")
        .item("leaseKey", s("shardId-000000000000"))
        .item("leaseCounter", n(3))
        .item("checkpoint", s("TRIM_HORIZON"))
        .item("parentShardId", s("shardId-000000000001"))
        .send()
        .await?;
    check(
        t.get_lease("shardId-000000000000").await.map(|_| ()),
        "parentShardId",
    )?;
    Ok(())
}

/// Two workers on the embedded engine share 4 shards through the DynamoDB table: 2 leases
/// each, every record processed exactly once (moves are graceful handoffs), and a
/// graceful shutdown releases every lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs dynalite: run scripts/test"]
async fn two_workers_share_four_shards() -> TestResult {
    let d = Dynalite::start()?;
    let leases: Arc<dyn LeaseTable> = Arc::new(table(&d).await?);
    let (_dir, kinesis) = engine(4).await?;
    put(kinesis.as_ref(), 0, 2000).await?;
    let log = Log::default();
    let mut handles = Vec::new();
    let mut tasks = Vec::new();
    for w in ["w0", "w1"] {
        // Each worker its own client, as on two hosts.
        let own: Arc<dyn LeaseTable> =
            Arc::new(DynamoLeaseTable::from_endpoint(&d.endpoint, "app")?);
        let s = scheduler(kinesis.clone(), own, w, &log, true, &FAST)?;
        handles.push(s.shutdown_handle());
        tasks.push(tokio::spawn(s.run()));
    }
    wait_until(
        Duration::from_secs(60),
        "2/2 and 2000 processed",
        || async {
            let m = owners(leases.as_ref()).await;
            m.get("w0") == Some(&2) && m.get("w1") == Some(&2) && log.counts().0 == 2000
        },
    )
    .await?;
    put(kinesis.as_ref(), 2000, 3000).await?;
    wait_until(Duration::from_secs(30), "3000 processed", || async {
        log.counts().0 == 3000
    })
    .await?;
    for h in &handles {
        h.shutdown().await;
    }
    for t in tasks {
        t.await??;
    }
    assert_eq!(log.distinct_data(), (0..3000).collect());
    assert_eq!(log.counts(), (3000, 0), "no record processed twice");
    let all = leases.list_leases().await?;
    assert_eq!(all.len(), 4);
    assert!(
        all.iter().all(|l| l.lease_owner.is_none()),
        "graceful shutdown releases every lease"
    );
    Ok(())
}

/// A stand-in DynamoDB endpoint that answers the first `throttles` requests with
/// `error_type` (HTTP 400, as DynamoDB does) and every later one with `{}` (GetItem: no
/// item). Returns its endpoint and the number of requests it saw.
async fn throttling_endpoint(
    throttles: usize,
    error_type: &'static str,
) -> TestResult<(String, Arc<std::sync::atomic::AtomicUsize>)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: headers, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = if n < throttles {
                        (
                            "400 Bad Request",
                            format!(
                                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error_type}","message":"slow down"}}"#
                            ),
                        )
                    } else {
                        ("200 OK", "{}".to_string())
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((endpoint, seen))
}

/// A lease table on `endpoint` whose client does not retry by itself, with a fast backoff,
/// so that every retry seen is the table's own.
fn no_sdk_retries(endpoint: &str, max_retries: usize) -> TestResult<DynamoLeaseTable> {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("k", "s", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .build();
    Ok(
        DynamoLeaseTable::new(aws_sdk_dynamodb::Client::from_conf(config), "app")?
            .with_throttle_backoff(
                backon::ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(1))
                    .with_max_delay(Duration::from_millis(5))
                    .with_max_times(max_retries),
            ),
    )
}

/// Each of DynamoDB's throttling errors is retried with backoff until the request goes
/// through; throttling that outlasts the retries is an error that says so.
#[tokio::test]
async fn throttling_is_retried_with_backoff() -> TestResult {
    for code in [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
    ] {
        let (endpoint, seen) = throttling_endpoint(3, code).await?;
        let t = no_sdk_retries(&endpoint, 5)?;
        assert_eq!(t.get_lease("shardId-000000000000").await?, None, "{code}");
        assert_eq!(
            seen.load(std::sync::atomic::Ordering::SeqCst),
            4,
            "{code}: 3 throttled + 1"
        );
    }
    let (endpoint, seen) = throttling_endpoint(usize::MAX, "ThrottlingException").await?;
    let t = no_sdk_retries(&endpoint, 2)?;
    match t.get_lease("shardId-000000000000").await {
        Err(e @ LeaseError::Storage { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("ThrottlingException") && msg.contains("still throttled"),
                "{msg}"
            );
        }
        other => return Err(format!("expected a Storage error, got {other:?}").into()),
    }
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "1 try + 2 retries"
    );
    // Other errors are not retried.
    let (endpoint, seen) = throttling_endpoint(usize::MAX, "ValidationException").await?;
    let t = no_sdk_retries(&endpoint, 5)?;
    assert!(t.get_lease("shardId-000000000000").await.is_err());
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_keys_by_owner_and_load() -> TestResult {
    let d = Dynalite::start()?;
    suite::keys_by_owner_and_load(&table(&d).await?).await
}

#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn suite_fleet_row() -> TestResult {
    let d = Dynalite::start()?;
    suite::fleet_row(&table(&d).await?).await
}

/// A table made without the owner index (as the Java KCL 2.x makes it): owner queries fall
/// back to a scan, and `ensure_table` works even where the index cannot be added (dynalite
/// does not create indexes with UpdateTable).
#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn a_table_without_the_owner_index_still_works() -> TestResult {
    let d = Dynalite::start()?;
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "old")?;
    t.client()
        .create_table()
        .table_name("old")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("leaseKey")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("leaseKey")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    t.ensure_table(false).await?;
    let mut l = Lease::new(
        "shardId-000000000000",
        ExtendedSequenceNumber::trim_horizon(),
    );
    l.lease_owner = Some("java-worker".into());
    t.create_lease_if_not_exists(&l).await?;
    assert_eq!(
        t.list_lease_keys_by_owner("java-worker").await?,
        vec![l.lease_key.clone()]
    );
    Ok(())
}

/// A table made as the Java KCL 3.x makes it (the owner index created with the table,
/// keys only) is used as it is.
#[tokio::test]
#[ignore = "needs dynalite: run scripts/test"]
async fn a_table_with_the_kcl_3_owner_index_is_used() -> TestResult {
    use aws_sdk_dynamodb::types::{GlobalSecondaryIndex, Projection, ProjectionType};
    let d = Dynalite::start()?;
    let t = DynamoLeaseTable::from_endpoint(&d.endpoint, "kcl3")?;
    let key = |n: &str, k: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
    };
    let def = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    t.client()
        .create_table()
        .table_name("kcl3")
        .key_schema(key("leaseKey", KeyType::Hash)?)
        .attribute_definitions(def("leaseKey")?)
        .attribute_definitions(def("leaseOwner")?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("LeaseOwnerToLeaseKeyIndex")
                .key_schema(key("leaseOwner", KeyType::Hash)?)
                .key_schema(key("leaseKey", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    t.ensure_table(false).await?;
    assert!(!t.ensure_owner_index().await?, "the index exists");
    suite::keys_by_owner_and_load(&t).await
}
