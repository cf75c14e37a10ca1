//! `rill serve` conformance (issue 3): the HTTP server on port 0, driven by real clients.
//!
//! * aws-sdk-kinesis talks to the server exactly as it talks to AWS (JSON 1.1, SigV4): every
//!   operation the server implements, and the errors as the SDK's typed errors.
//! * reqwest checks what the SDK hides: request ids, error bodies and headers, unknown
//!   operations, malformed and oversize bodies, `/metrics`, empty bodies, CBOR and h2c.
//! * With `ServerConfig::auth` set, SigV4 signatures made by the SDK's own signer are
//!   verified, and wrong ones are refused with AWS's exception names.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Region};
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::operation::RequestId;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use aws_smithy_types::{Blob, DateTime};
use ciborium::Value as Cbor;
use rill_engine::embedded::ManualClock;
use rill_engine::server::auth::Credentials;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::time::Duration;

use rill_testkit::wire::{AMZ_DATE, UNSIGNED_AUTH};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The account id of the default engine configuration, as it appears in messages and ARNs.
const ACCOUNT: &str = "000000000000";

/// Bytes that are not UTF-8 (a lone continuation byte, an invalid lead, NUL, DEL...).
const NOT_UTF8: &[u8] = &[
    0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, b'\n', 0x7f, 0xed, 0xa0, 0x80,
];

/// An engine served on 127.0.0.1:0; stops when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The engine behind it.
    pub engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with `config` over an engine with the default configuration.
    pub async fn start(config: ServerConfig) -> TestServer {
        TestServer::start_with(
            EngineConfig {
                limits: rill_engine::embedded::ThroughputLimits::off(),
                ..EngineConfig::default()
            },
            config,
        )
        .await
    }

    /// Starts a server with `server_config` over an engine opened with `engine_config`.
    pub async fn start_with(
        engine_config: EngineConfig,
        server_config: ServerConfig,
    ) -> TestServer {
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

    /// An SDK client for this server with the credentials `AKID`/`SECRET`.
    fn sdk(&self) -> Client {
        sdk_client(&self.endpoint, "AKID", "SECRET")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// An aws-sdk-kinesis client for `endpoint`, configured as for AWS except for the endpoint,
/// with retries off (so that an error surfaces on the first answer).
fn sdk_client(endpoint: &str, key_id: &str, secret: &str) -> Client {
    let conf = aws_sdk_kinesis::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            key_id,
            secret,
            None,
            None,
            "conformance-test",
        ))
        .retry_config(RetryConfig::disabled())
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(conf)
}

/// A server whose engine reads time from a [`ManualClock`] standing at `start_ms`.
async fn manual_clock_server(start_ms: i64) -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(start_ms));
    let config = EngineConfig {
        clock: clock.clone(),
        limits: rill_engine::embedded::ThroughputLimits::off(),
        ..EngineConfig::default()
    };
    (
        TestServer::start_with(config, ServerConfig::default()).await,
        clock,
    )
}

async fn create_stream(client: &Client, name: &str, shards: i32) -> TestResult {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await?;
    Ok(())
}

async fn iterator(
    client: &Client,
    stream: &str,
    shard: &str,
    kind: ShardIteratorType,
) -> Result<String, Box<dyn std::error::Error>> {
    let out = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .send()
        .await?;
    Ok(out.shard_iterator().ok_or("no ShardIterator")?.to_string())
}

/// The data of every record GetRecords returns for `it`.
async fn read_data(client: &Client, it: &str) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let out = client.get_records().shard_iterator(it).send().await?;
    Ok(out
        .records()
        .iter()
        .map(|r| r.data().as_ref().to_vec())
        .collect())
}

/// Sequence numbers are decimal strings of up to 129 digits (more than a `u128` holds):
/// they order by length, then lexically.
fn seq_order(s: &str) -> (usize, &str) {
    (s.len(), s)
}

/// A raw HTTP answer.
struct Raw {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// POSTs `body` to `/` with `X-Amz-Target: Kinesis_20131202.<op>` (none when `op` is
/// `None`) and the given content type, over HTTP/1.1.
async fn post(
    endpoint: &str,
    op: Option<&str>,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Result<Raw, reqwest::Error> {
    let target = op.map(|op| format!("Kinesis_20131202.{op}"));
    let mut headers = vec![
        ("authorization", UNSIGNED_AUTH),
        ("x-amz-date", AMZ_DATE),
        ("content-type", content_type),
    ];
    if let Some(t) = &target {
        headers.push(("x-amz-target", t));
    }
    send(endpoint, "POST", "/", &headers, body).await
}

/// Sends one request with exactly the given headers (and those reqwest always adds).
async fn send(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Result<Raw, reqwest::Error> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut req = reqwest::Client::new()
        .request(method, format!("{endpoint}{path}"))
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await?;
    Ok(Raw {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await?,
    })
}

/// POSTs a JSON body.
async fn post_json(endpoint: &str, op: &str, body: &Json) -> Result<Raw, reqwest::Error> {
    post(
        endpoint,
        Some(op),
        "application/x-amz-json-1.1",
        body.to_string(),
    )
    .await
}

/// Asserts `raw` is a JSON error answer as AWS shapes it and returns its message (empty
/// when AWS sends none).
fn assert_wire_error(
    raw: &Raw,
    status: u16,
    code: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    assert_eq!(raw.status, status, "status of {raw:?}");
    assert_eq!(raw.header("x-amzn-ErrorType"), Some(code));
    let id = raw
        .header("x-amzn-RequestId")
        .ok_or("no x-amzn-RequestId")?;
    assert_eq!(id.len(), 36, "a UUID request id: {id}");
    assert!(raw.header("x-amz-id-2").is_some(), "no x-amz-id-2: {raw:?}");
    let body = raw.json()?;
    assert_eq!(body["__type"], code, "body {body}");
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .map(|m| m.as_str().map(str::to_string).ok_or("message not a string"))
        .transpose()?
        .unwrap_or_default();
    Ok(message)
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} {}",
            self.status,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

// ---------------------------------------------------------------------------------------
// 1. Every operation, through the SDK.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn health_answers() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let body = reqwest::get(format!("{}/health", s.endpoint))
        .await?
        .text()
        .await?;
    assert_eq!(body, "ok");
    Ok(())
}

#[tokio::test]
async fn create_describe_list_and_delete_streams() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "alpha", 3).await?;
    create_stream(&k, "beta", 1).await?;

    let d = k.describe_stream().stream_name("alpha").send().await?;
    let d = d.stream_description().ok_or("no StreamDescription")?;
    assert_eq!(d.stream_name(), "alpha");
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/alpha");
    assert_eq!(d.stream_arn(), arn);
    assert_eq!(d.stream_status(), &StreamStatus::Active);
    assert_eq!(d.retention_period_hours(), 24);
    assert!(!d.has_more_shards());
    let ids: Vec<&str> = d.shards().iter().map(|s| s.shard_id()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002"
        ]
    );
    // The shards split the whole 128-bit hash key space, contiguously.
    let ranges: Vec<(u128, u128)> = d
        .shards()
        .iter()
        .map(|s| {
            let r = s.hash_key_range().expect("HashKeyRange");
            (
                r.starting_hash_key().parse().expect("start"),
                r.ending_hash_key().parse().expect("end"),
            )
        })
        .collect();
    assert_eq!(ranges[0].0, 0);
    assert_eq!(ranges[2].1, u128::MAX);
    assert_eq!(ranges[1].0, ranges[0].1 + 1);
    assert_eq!(ranges[2].0, ranges[1].1 + 1);

    let summary = k
        .describe_stream_summary()
        .stream_name("alpha")
        .send()
        .await?;
    let summary = summary
        .stream_description_summary()
        .ok_or("no StreamDescriptionSummary")?;
    assert_eq!(summary.open_shard_count(), 3);
    assert_eq!(summary.stream_arn(), arn);
    assert_eq!(summary.stream_status(), &StreamStatus::Active);
    // The StreamARN variant names the same stream.
    let by_arn = k.describe_stream_summary().stream_arn(&arn).send().await?;
    assert_eq!(
        by_arn
            .stream_description_summary()
            .ok_or("no summary")?
            .stream_name(),
        "alpha"
    );

    let list = k.list_streams().send().await?;
    assert_eq!(list.stream_names(), ["alpha", "beta"]);
    assert!(!list.has_more_streams());
    let first = k.list_streams().limit(1).send().await?;
    assert_eq!(first.stream_names(), ["alpha"]);
    assert!(first.has_more_streams());
    assert!(list.request_id().is_some(), "the SDK sees x-amzn-RequestId");

    // DeleteStream by ARN; the stream is then gone.
    k.delete_stream().stream_arn(&arn).send().await?;
    let err = k
        .describe_stream()
        .stream_name("alpha")
        .send()
        .await
        .expect_err("deleted stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(k.list_streams().send().await?.stream_names(), ["beta"]);
    Ok(())
}

#[tokio::test]
async fn list_shards_pages_with_next_token() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "paged", 5).await?;
    let mut pages = Vec::new();
    let mut out = k
        .list_shards()
        .stream_name("paged")
        .max_results(2)
        .send()
        .await?;
    loop {
        pages.push(
            out.shards()
                .iter()
                .map(|s| s.shard_id().to_string())
                .collect::<Vec<_>>(),
        );
        let Some(token) = out.next_token() else { break };
        // NextToken alone (no StreamName) continues the listing.
        out = k
            .list_shards()
            .next_token(token)
            .max_results(2)
            .send()
            .await?;
    }
    assert_eq!(
        pages,
        [
            vec!["shardId-000000000000", "shardId-000000000001"],
            vec!["shardId-000000000002", "shardId-000000000003"],
            vec!["shardId-000000000004"],
        ]
    );
    // A NextToken together with a StreamName is refused, as by AWS.
    let token = k
        .list_shards()
        .stream_name("paged")
        .max_results(1)
        .send()
        .await?
        .next_token()
        .ok_or("no NextToken")?
        .to_string();
    let err = k
        .list_shards()
        .stream_name("paged")
        .next_token(token)
        .send()
        .await
        .expect_err("NextToken with StreamName")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some("NextToken and StreamName cannot be provided together.")
    );
    // The StreamARN variant lists everything in one page.
    let all = k
        .list_shards()
        .stream_arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/paged"))
        .send()
        .await?;
    assert_eq!(all.shards().len(), 5);
    assert_eq!(all.next_token(), None);
    Ok(())
}

#[tokio::test]
async fn put_record_with_explicit_hash_key_and_get_records_round_trip_bytes() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "bytes", 2).await?;
    let shards = k.list_shards().stream_name("bytes").send().await?;
    let first_end = shards.shards()[0]
        .hash_key_range()
        .ok_or("range")?
        .ending_hash_key()
        .to_string();
    let second_start = shards.shards()[1]
        .hash_key_range()
        .ok_or("range")?
        .starting_hash_key()
        .to_string();

    // The ExplicitHashKey, not the partition key, chooses the shard: both boundaries.
    let on_second = k
        .put_record()
        .stream_name("bytes")
        .partition_key("pk-binary")
        .explicit_hash_key(&second_start)
        .data(Blob::new(NOT_UTF8))
        .send()
        .await?;
    assert_eq!(on_second.shard_id(), "shardId-000000000001");
    let on_first = k
        .put_record()
        .stream_name("bytes")
        .partition_key("pk-binary")
        .explicit_hash_key(&first_end)
        .data(Blob::new(b"first".to_vec()))
        .send()
        .await?;
    assert_eq!(on_first.shard_id(), "shardId-000000000000");
    // An empty blob is a valid record.
    let empty = k
        .put_record()
        .stream_arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/bytes"))
        .partition_key("pk-empty")
        .explicit_hash_key(&second_start)
        .data(Blob::new(Vec::new()))
        .send()
        .await?;
    assert!(
        seq_order(on_second.sequence_number()) < seq_order(empty.sequence_number()),
        "later records on a shard get greater sequence numbers"
    );

    let before = DateTime::from(std::time::SystemTime::now()).to_millis()?;
    let it = iterator(
        &k,
        "bytes",
        "shardId-000000000001",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    let out = k.get_records().shard_iterator(&it).send().await?;
    let records = out.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].data().as_ref(), NOT_UTF8, "byte-exact data");
    assert_eq!(records[0].partition_key(), Some("pk-binary"));
    assert_eq!(records[0].sequence_number(), on_second.sequence_number());
    assert_eq!(records[1].data().as_ref(), b"");
    assert_eq!(records[1].sequence_number(), empty.sequence_number());
    for r in records {
        let at = r
            .approximate_arrival_timestamp()
            .ok_or("no ApproximateArrivalTimestamp")?
            .to_millis()?;
        assert!(
            (before - 60_000..=before + 1_000).contains(&at),
            "arrival {at} near {before}"
        );
    }
    assert_eq!(out.millis_behind_latest(), Some(0), "read up to the tip");
    assert!(out.next_shard_iterator().is_some());
    Ok(())
}

#[tokio::test]
async fn put_records_answers_per_entry_results() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "batch", 2).await?;
    let high = (1u128 << 127).to_string();
    let entries = [
        ("a", "0", b"zero".as_slice()),
        ("b", high.as_str(), NOT_UTF8),
        ("c", "1", b"one"),
    ];
    let mut req = k.put_records().stream_name("batch");
    for (pk, hash, data) in entries {
        req = req.records(
            PutRecordsRequestEntry::builder()
                .partition_key(pk)
                .explicit_hash_key(hash)
                .data(Blob::new(data))
                .build()?,
        );
    }
    let out = req.send().await?;
    assert_eq!(out.failed_record_count(), Some(0));
    let results = out.records();
    assert_eq!(results.len(), 3, "one result per entry, in order");
    let shard_ids: Vec<Option<&str>> = results.iter().map(|r| r.shard_id()).collect();
    assert_eq!(
        shard_ids,
        [
            Some("shardId-000000000000"),
            Some("shardId-000000000001"),
            Some("shardId-000000000000")
        ]
    );
    assert!(results.iter().all(|r| r.error_code().is_none()));
    let seq = |i: usize| results[i].sequence_number().map(seq_order);
    assert!(
        seq(0).is_some() && seq(0) < seq(2),
        "entries on one shard keep their order"
    );

    let it = iterator(
        &k,
        "batch",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    assert_eq!(
        read_data(&k, &it).await?,
        [b"zero".to_vec(), b"one".to_vec()]
    );
    let it = iterator(
        &k,
        "batch",
        "shardId-000000000001",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    assert_eq!(read_data(&k, &it).await?, [NOT_UTF8.to_vec()]);

    // The StreamARN variant.
    let by_arn = k
        .put_records()
        .stream_arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/batch"))
        .records(
            PutRecordsRequestEntry::builder()
                .partition_key("x")
                .data(Blob::new(b"x".to_vec()))
                .build()?,
        )
        .send()
        .await?;
    assert_eq!(by_arn.failed_record_count(), Some(0));
    assert_eq!(by_arn.records().len(), 1);
    Ok(())
}

#[tokio::test]
async fn shard_iterator_types_start_where_documented() -> TestResult {
    // A manual clock makes arrival times, AT_TIMESTAMP and MillisBehindLatest exact.
    let t0 = 1_700_000_000_000;
    let (s, clock) = manual_clock_server(t0).await;
    let k = s.sdk();
    create_stream(&k, "iters", 1).await?;
    let shard = "shardId-000000000000";
    let latest = iterator(&k, "iters", shard, ShardIteratorType::Latest).await?;
    let mut seqs = Vec::new();
    for (i, data) in [b"r0", b"r1", b"r2"].iter().enumerate() {
        if i > 0 {
            clock.advance(Duration::from_secs(1));
        }
        let put = k
            .put_record()
            .stream_name("iters")
            .partition_key("pk")
            .data(Blob::new(data.to_vec()))
            .send()
            .await?;
        seqs.push(put.sequence_number().to_string());
    }
    clock.advance(Duration::from_millis(500));
    let r = |d: &[u8]| d.to_vec();

    // LATEST issued before the puts sees them; issued now it sees nothing.
    assert_eq!(
        read_data(&k, &latest).await?,
        [r(b"r0"), r(b"r1"), r(b"r2")]
    );
    let latest_now = iterator(&k, "iters", shard, ShardIteratorType::Latest).await?;
    assert!(read_data(&k, &latest_now).await?.is_empty());

    let at = k
        .get_shard_iterator()
        .stream_name("iters")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number(&seqs[1])
        .send()
        .await?;
    let at = at.shard_iterator().ok_or("no iterator")?;
    assert_eq!(read_data(&k, at).await?, [r(b"r1"), r(b"r2")]);

    let after = k
        .get_shard_iterator()
        .stream_arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/iters"))
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .starting_sequence_number(&seqs[1])
        .send()
        .await?;
    let after = after.shard_iterator().ok_or("no iterator")?;
    assert_eq!(read_data(&k, after).await?, [r(b"r2")]);

    let at_time = k
        .get_shard_iterator()
        .stream_name("iters")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(t0 + 1000))
        .send()
        .await?;
    let at_time = at_time.shard_iterator().ok_or("no iterator")?;
    assert_eq!(read_data(&k, at_time).await?, [r(b"r1"), r(b"r2")]);

    // A timestamp in the future is refused with AWS's message.
    let err = k
        .get_shard_iterator()
        .stream_name("iters")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_millis(t0 + 60_000))
        .send()
        .await
        .expect_err("future timestamp")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            format!(
                "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {}, currentTimestampInMillis: {}",
                t0 + 60_000,
                t0 + 2_500
            )
            .as_str()
        )
    );

    // TRIM_HORIZON one record at a time: arrival times are the clock's, and
    // MillisBehindLatest is the age of the next unread record.
    let trim = iterator(&k, "iters", shard, ShardIteratorType::TrimHorizon).await?;
    let first = k
        .get_records()
        .shard_iterator(&trim)
        .limit(1)
        .send()
        .await?;
    assert_eq!(first.records().len(), 1);
    assert_eq!(first.records()[0].data().as_ref(), b"r0");
    assert_eq!(
        first.records()[0]
            .approximate_arrival_timestamp()
            .ok_or("no ApproximateArrivalTimestamp")?
            .to_millis()?,
        t0
    );
    assert_eq!(
        first.millis_behind_latest(),
        Some(1_500),
        "r1 arrived at t0+1s, now is t0+2.5s"
    );
    let rest = k
        .get_records()
        .shard_iterator(first.next_shard_iterator().ok_or("no next iterator")?)
        .send()
        .await?;
    let arrivals: Vec<i64> = rest
        .records()
        .iter()
        .map(|r| {
            r.approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or(-1)
        })
        .collect();
    assert_eq!(arrivals, [t0 + 1_000, t0 + 2_000]);
    assert_eq!(rest.millis_behind_latest(), Some(0));
    Ok(())
}

#[tokio::test]
async fn tags_are_added_listed_and_removed() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "tagged", 1).await?;
    k.add_tags_to_stream()
        .stream_name("tagged")
        .tags("team", "data")
        .tags("env", "test")
        .tags("cost", "")
        .send()
        .await?;
    let tags = |out: &aws_sdk_kinesis::operation::list_tags_for_stream::ListTagsForStreamOutput| {
        out.tags()
            .iter()
            .map(|t| {
                (
                    t.key().to_string(),
                    t.value().unwrap_or("<none>").to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let all = k
        .list_tags_for_stream()
        .stream_name("tagged")
        .send()
        .await?;
    assert_eq!(
        tags(&all),
        [pair("cost", ""), pair("env", "test"), pair("team", "data")]
    );
    assert!(!all.has_more_tags());
    let page = k
        .list_tags_for_stream()
        .stream_name("tagged")
        .limit(2)
        .send()
        .await?;
    assert_eq!(tags(&page), [pair("cost", ""), pair("env", "test")]);
    assert!(page.has_more_tags());
    let rest = k
        .list_tags_for_stream()
        .stream_name("tagged")
        .exclusive_start_tag_key("env")
        .send()
        .await?;
    assert_eq!(tags(&rest), [pair("team", "data")]);

    // Overwrite one tag, remove another (and one that does not exist).
    k.add_tags_to_stream()
        .stream_name("tagged")
        .tags("team", "platform")
        .send()
        .await?;
    k.remove_tags_from_stream()
        .stream_name("tagged")
        .tag_keys("env")
        .tag_keys("absent")
        .send()
        .await?;
    let arn = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/tagged");
    let after = k.list_tags_for_stream().stream_arn(&arn).send().await?;
    assert_eq!(tags(&after), [pair("cost", ""), pair("team", "platform")]);
    Ok(())
}

#[tokio::test]
async fn retention_period_increases_and_decreases() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "kept", 1).await?;
    let hours = |k: Client| async move {
        let out = k
            .describe_stream_summary()
            .stream_name("kept")
            .send()
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(
            out.stream_description_summary()
                .ok_or("no summary")?
                .retention_period_hours(),
        )
    };
    k.increase_stream_retention_period()
        .stream_name("kept")
        .retention_period_hours(72)
        .send()
        .await?;
    assert_eq!(hours(k.clone()).await?, 72);
    k.decrease_stream_retention_period()
        .stream_arn(format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/kept"))
        .retention_period_hours(48)
        .send()
        .await?;
    assert_eq!(hours(k.clone()).await?, 48);

    let err = k
        .increase_stream_retention_period()
        .stream_name("kept")
        .retention_period_hours(36)
        .send()
        .await
        .expect_err("increase to less")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "Requested retention period (36 hours) for stream kept can not be shorter than existing retention period (48 hours). Use DecreaseRetentionPeriod API."
        )
    );
    let err = k
        .decrease_stream_retention_period()
        .stream_name("kept")
        .retention_period_hours(12)
        .send()
        .await
        .expect_err("below the minimum")
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "Minimum allowed retention period is 24 hours. Requested retention period (12 hours) is too short."
        )
    );
    assert_eq!(hours(k).await?, 48);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 2. Errors as the SDK sees them.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_stream_is_resource_not_found() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    let expected = format!("Stream nowhere under account {ACCOUNT} not found.");
    let err = k
        .describe_stream()
        .stream_name("nowhere")
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(err.message(), Some(expected.as_str()));
    let err = k
        .put_record()
        .stream_name("nowhere")
        .partition_key("pk")
        .data(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(err.message(), Some(expected.as_str()));
    let err = k
        .delete_stream()
        .stream_name("nowhere")
        .send()
        .await
        .expect_err("no such stream")
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn forged_iterator_is_invalid_argument() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "forged", 1).await?;
    let real = iterator(
        &k,
        "forged",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    // A made-up string, and a real iterator with one character changed.
    let mut tampered = real.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    for forged in [
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &tampered,
    ] {
        let err = k
            .get_records()
            .shard_iterator(forged)
            .send()
            .await
            .expect_err("forged iterator")
            .into_service_error();
        assert!(err.is_invalid_argument_exception(), "{forged}: {err:?}");
        assert_eq!(err.message(), Some("Invalid ShardIterator."));
    }
    // The untouched iterator still works.
    assert!(read_data(&k, &real).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn expired_iterator_is_expired_iterator_exception() -> TestResult {
    // 2023-11-14T22:13:20Z, a Tuesday.
    let t0 = 1_700_000_000_000;
    let (s, clock) = manual_clock_server(t0).await;
    let k = s.sdk();
    create_stream(&k, "stale", 1).await?;
    let it = iterator(
        &k,
        "stale",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    // Exactly the time to live (300 s) later the iterator is still valid...
    clock.advance(Duration::from_secs(300));
    let ok = k.get_records().shard_iterator(&it).send().await?;
    assert!(ok.next_shard_iterator().is_some());
    // ...one millisecond more and it has expired.
    clock.advance(Duration::from_millis(1));
    let err = k
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .expect_err("expired iterator")
        .into_service_error();
    assert!(err.is_expired_iterator_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "Iterator expired. The iterator was created at time Tue Nov 14 22:13:20 UTC 2023 while right now it is Tue Nov 14 22:18:20 UTC 2023 which is further in the future than the tolerated delay of 300000 milliseconds."
        )
    );
    Ok(())
}

#[tokio::test]
async fn oversize_record_is_validation_exception() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "big", 1).await?;
    // Exactly 1 MiB is accepted.
    k.put_record()
        .stream_name("big")
        .partition_key("pk")
        .data(Blob::new(vec![7u8; 1 << 20]))
        .send()
        .await?;
    let err = k
        .put_record()
        .stream_name("big")
        .partition_key("pk")
        .data(Blob::new(vec![7u8; (1 << 20) + 1]))
        .send()
        .await
        .expect_err("1 MiB + 1")
        .into_service_error();
    // PutRecord's model has no ValidationException shape: the SDK keeps the code.
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576"
        )
    );
    Ok(())
}

#[tokio::test]
async fn too_many_entries_is_validation_exception() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "many", 1).await?;
    let entry = PutRecordsRequestEntry::builder()
        .partition_key("pk")
        .data(Blob::new(b"x".to_vec()))
        .build()?;
    let err = k
        .put_records()
        .stream_name("many")
        .set_records(Some(vec![entry.clone(); 501]))
        .send()
        .await
        .expect_err("501 entries")
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"), "{err:?}");
    let message = err.message().ok_or("no message")?;
    assert!(
        message.starts_with("1 validation error detected: "),
        "{message}"
    );
    assert!(
        message.contains(
            "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
        ),
        "{message}"
    );
    // 500 are fine.
    let out = k
        .put_records()
        .stream_name("many")
        .set_records(Some(vec![entry; 500]))
        .send()
        .await?;
    assert_eq!(out.failed_record_count(), Some(0));
    assert_eq!(out.records().len(), 500);
    Ok(())
}

#[tokio::test]
async fn duplicate_stream_is_resource_in_use() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    create_stream(&k, "twice", 1).await?;
    let err = k
        .create_stream()
        .stream_name("twice")
        .shard_count(2)
        .send()
        .await
        .expect_err("duplicate")
        .into_service_error();
    assert!(err.is_resource_in_use_exception(), "{err:?}");
    assert_eq!(
        err.message(),
        Some(format!("Stream twice under account {ACCOUNT} already exists.").as_str())
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 3. The wire, raw.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn responses_carry_request_ids_and_errors_have_aws_shape() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let ok = post_json(&s.endpoint, "ListStreams", &json!({})).await?;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(
        ok.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let ok_id = ok.header("x-amzn-RequestId").ok_or("no request id")?;
    assert_eq!(ok_id.len(), 36);
    assert_eq!(ok.json()?["StreamNames"], json!([]));
    assert_eq!(ok.header("x-amzn-ErrorType"), None);

    let bad = post_json(
        &s.endpoint,
        "DescribeStream",
        &json!({"StreamName": "ghost"}),
    )
    .await?;
    let message = assert_wire_error(&bad, 400, "ResourceNotFoundException")?;
    assert_eq!(
        message,
        format!("Stream ghost under account {ACCOUNT} not found.")
    );
    assert_ne!(
        bad.header("x-amzn-RequestId"),
        Some(ok_id),
        "ids are per request"
    );
    assert_eq!(
        bad.header("content-type"),
        Some("application/x-amz-json-1.1")
    );

    // A validation failure: a missing required member.
    let invalid = post_json(
        &s.endpoint,
        "PutRecord",
        &json!({"StreamName": "ghost", "Data": "AA=="}),
    )
    .await?;
    let message = assert_wire_error(&invalid, 400, "ValidationException")?;
    assert!(
        message.contains(
            "Value null at 'partitionKey' failed to satisfy constraint: Member must not be null"
        ),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_or_missing_target_is_unknown_operation() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    // AWS answers all three without a message.
    let unknown = post_json(&s.endpoint, "Frobnicate", &json!({})).await?;
    let message = assert_wire_error(&unknown, 400, "UnknownOperationException")?;
    assert_eq!(message, "");
    let missing = post(&s.endpoint, None, "application/x-amz-json-1.1", "{}").await?;
    assert_eq!(
        assert_wire_error(&missing, 400, "UnknownOperationException")?,
        ""
    );
    // A target of another service is not a Kinesis operation either.
    let other = send(
        &s.endpoint,
        "POST",
        "/",
        &[
            ("authorization", UNSIGNED_AUTH),
            ("x-amz-date", AMZ_DATE),
            ("x-amz-target", "DynamoDB_20120810.ListTables"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        "{}",
    )
    .await?;
    assert_eq!(
        assert_wire_error(&other, 400, "UnknownOperationException")?,
        ""
    );
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_serialization_exception() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    // A body that is not a JSON object: AWS sends no message.
    for body in [r#"{"StreamName": "#, "not json", "[1, 2]", "3"] {
        let raw = post(
            &s.endpoint,
            Some("DescribeStream"),
            "application/x-amz-json-1.1",
            body,
        )
        .await?;
        assert_eq!(assert_wire_error(&raw, 400, "SerializationException")?, "");
    }
    // A member of the wrong type.
    let raw = post_json(
        &s.endpoint,
        "CreateStream",
        &json!({"StreamName": "x", "ShardCount": "one"}),
    )
    .await?;
    assert_wire_error(&raw, 400, "SerializationException")?;
    Ok(())
}

#[tokio::test]
async fn body_over_the_limit_is_413() -> TestResult {
    let s = TestServer::start(ServerConfig {
        body_limit: 1024,
        ..ServerConfig::default()
    })
    .await;
    let big = json!({"StreamName": "s", "PartitionKey": "pk", "Data": "A".repeat(4096)});
    let raw = post_json(&s.endpoint, "PutRecord", &big).await?;
    assert_wire_error(&raw, 413, "SerializationException")?;
    // A body under the limit is served.
    let small = post_json(&s.endpoint, "ListStreams", &json!({})).await?;
    assert_eq!(small.status, 200, "{small:?}");
    Ok(())
}

#[tokio::test]
async fn metrics_count_incoming_records_per_stream() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let k = s.sdk();
    // The recorder is process-wide: a name no other test uses.
    let stream = "metrics-counted-7f3a";
    create_stream(&k, stream, 2).await?;
    for i in 0..2 {
        k.put_record()
            .stream_name(stream)
            .partition_key(format!("pk{i}"))
            .data(Blob::new(b"m".to_vec()))
            .send()
            .await?;
    }
    let mut batch = k.put_records().stream_name(stream);
    for i in 0..3 {
        batch = batch.records(
            PutRecordsRequestEntry::builder()
                .partition_key(format!("b{i}"))
                .data(Blob::new(b"mm".to_vec()))
                .build()?,
        );
    }
    batch.send().await?;
    let resp = reqwest::get(format!("{}/metrics", s.endpoint)).await?;
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await?;
    let line = format!("IncomingRecords{{stream=\"{stream}\"}} 5");
    assert!(text.lines().any(|l| l == line), "`{line}` not in:\n{text}");
    Ok(())
}

#[tokio::test]
async fn operations_without_output_answer_an_empty_body() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let created = post_json(
        &s.endpoint,
        "CreateStream",
        &json!({"StreamName": "quiet", "ShardCount": 1}),
    )
    .await?;
    assert_eq!(created.status, 200, "{created:?}");
    assert!(created.body.is_empty(), "{created:?}");
    assert!(created.header("x-amzn-RequestId").is_some());
    let tagged = post_json(
        &s.endpoint,
        "AddTagsToStream",
        &json!({"StreamName": "quiet", "Tags": {"k": "v"}}),
    )
    .await?;
    assert_eq!(tagged.status, 200, "{tagged:?}");
    assert!(tagged.body.is_empty(), "{tagged:?}");
    let deleted = post_json(&s.endpoint, "DeleteStream", &json!({"StreamName": "quiet"})).await?;
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert!(deleted.body.is_empty(), "{deleted:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 4. CBOR and 5. h2c.
// ---------------------------------------------------------------------------------------

fn cbor_map(entries: Vec<(&str, Cbor)>) -> Cbor {
    Cbor::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Cbor::Text(k.into()), v))
            .collect(),
    )
}

fn cbor_get<'a>(v: &'a Cbor, key: &str) -> Option<&'a Cbor> {
    v.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(key))
        .map(|(_, v)| v)
}

/// POSTs a CBOR body and decodes the CBOR answer.
async fn post_cbor(
    endpoint: &str,
    op: &str,
    body: &Cbor,
) -> Result<Cbor, Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(body, &mut bytes)?;
    let raw = post(endpoint, Some(op), "application/x-amz-cbor-1.1", bytes).await?;
    assert_eq!(raw.status, 200, "{op}: {raw:?}");
    assert_eq!(
        raw.header("content-type"),
        Some("application/x-amz-cbor-1.1")
    );
    Ok(ciborium::de::from_reader(&raw.body[..])?)
}

#[tokio::test]
async fn cbor_put_record_and_get_records() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    create_stream(&s.sdk(), "cbor", 1).await?;
    let text = |s: &str| Cbor::Text(s.into());
    let put = post_cbor(
        &s.endpoint,
        "PutRecord",
        &cbor_map(vec![
            ("StreamName", text("cbor")),
            ("PartitionKey", text("pk")),
            ("Data", Cbor::Bytes(NOT_UTF8.to_vec())),
        ]),
    )
    .await?;
    assert_eq!(
        cbor_get(&put, "ShardId"),
        Some(&text("shardId-000000000000"))
    );
    let seq = cbor_get(&put, "SequenceNumber")
        .and_then(Cbor::as_text)
        .ok_or("no SequenceNumber")?
        .to_string();

    let it = post_cbor(
        &s.endpoint,
        "GetShardIterator",
        &cbor_map(vec![
            ("StreamName", text("cbor")),
            ("ShardId", text("shardId-000000000000")),
            ("ShardIteratorType", text("TRIM_HORIZON")),
        ]),
    )
    .await?;
    let it = cbor_get(&it, "ShardIterator")
        .and_then(Cbor::as_text)
        .ok_or("no ShardIterator")?
        .to_string();
    let got = post_cbor(
        &s.endpoint,
        "GetRecords",
        &cbor_map(vec![("ShardIterator", text(&it))]),
    )
    .await?;
    let records = cbor_get(&got, "Records")
        .and_then(Cbor::as_array)
        .ok_or("no Records")?;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        cbor_get(record, "Data"),
        Some(&Cbor::Bytes(NOT_UTF8.to_vec())),
        "Data is a CBOR byte string"
    );
    assert_eq!(cbor_get(record, "SequenceNumber"), Some(&text(&seq)));
    assert_eq!(cbor_get(record, "PartitionKey"), Some(&text("pk")));
    match cbor_get(record, "ApproximateArrivalTimestamp") {
        Some(Cbor::Tag(1, inner)) => {
            let secs = match inner.as_ref() {
                Cbor::Float(f) => *f,
                Cbor::Integer(i) => i128::from(*i) as f64,
                other => return Err(format!("tag 1 over {other:?}").into()),
            };
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            assert!(
                (now.as_secs_f64() - secs).abs() < 60.0,
                "epoch seconds {secs}"
            );
        }
        other => return Err(format!("ApproximateArrivalTimestamp is not tag 1: {other:?}").into()),
    }
    assert!(matches!(
        cbor_get(&got, "MillisBehindLatest"),
        Some(Cbor::Integer(_))
    ));
    Ok(())
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    create_stream(&s.sdk(), "over-h2", 1).await?;
    let client = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let resp = client
        .post(format!("{}/", s.endpoint))
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", AMZ_DATE)
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("content-type", "application/x-amz-json-1.1")
        .body("{}")
        .send()
        .await?;
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let body: Json = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(body["StreamNames"], json!(["over-h2"]));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 6. SigV4 authentication.
// ---------------------------------------------------------------------------------------

async fn auth_server() -> TestServer {
    TestServer::start(ServerConfig {
        auth: Some(Arc::new(Credentials::new([(
            "AKID".to_string(),
            "SECRET".to_string(),
        )]))),
        ..ServerConfig::default()
    })
    .await
}

#[tokio::test]
async fn sdk_signatures_are_verified_and_accepted() -> TestResult {
    let s = auth_server().await;
    let k = sdk_client(&s.endpoint, "AKID", "SECRET");
    create_stream(&k, "signed", 2).await?;
    let mut batch = k.put_records().stream_name("signed");
    for i in 0..20 {
        batch = batch.records(
            PutRecordsRequestEntry::builder()
                .partition_key(format!("pk-{i}"))
                .data(Blob::new(vec![i as u8; 300]))
                .build()?,
        );
    }
    let out = batch.send().await?;
    assert_eq!(out.failed_record_count(), Some(0));
    k.put_record()
        .stream_name("signed")
        .partition_key("single")
        .data(Blob::new(NOT_UTF8))
        .send()
        .await?;
    let mut total = 0;
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let it = iterator(&k, "signed", shard, ShardIteratorType::TrimHorizon).await?;
        total += read_data(&k, &it).await?.len();
    }
    assert_eq!(total, 21);
    assert_eq!(k.list_streams().send().await?.stream_names(), ["signed"]);
    Ok(())
}

#[tokio::test]
async fn wrong_secret_is_invalid_signature() -> TestResult {
    let s = auth_server().await;
    let k = sdk_client(&s.endpoint, "AKID", "NOT-THE-SECRET");
    let err = k
        .list_streams()
        .send()
        .await
        .expect_err("wrong secret")
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    assert_eq!(
        err.message(),
        Some(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        )
    );
    Ok(())
}

#[tokio::test]
async fn unknown_key_id_is_unrecognized_client() -> TestResult {
    let s = auth_server().await;
    let k = sdk_client(&s.endpoint, "NOBODY", "SECRET");
    let err = k
        .list_streams()
        .send()
        .await
        .expect_err("unknown key id")
        .into_service_error();
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("The security token included in the request is invalid.")
    );
    Ok(())
}

#[tokio::test]
async fn unsigned_request_is_missing_authentication_token() -> TestResult {
    let s = auth_server().await;
    let raw = send(
        &s.endpoint,
        "POST",
        "/",
        &[
            ("x-amz-target", "Kinesis_20131202.ListStreams"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        "{}",
    )
    .await?;
    let message = assert_wire_error(&raw, 400, "MissingAuthenticationTokenException")?;
    assert_eq!(message, "Missing Authentication Token");
    Ok(())
}

/// Changes one byte of the body after the SDK signed the request.
#[derive(Debug)]
struct TamperBody;

impl aws_sdk_kinesis::config::Intercept for TamperBody {
    fn name(&self) -> &'static str {
        "TamperBody"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_kinesis::config::interceptors::BeforeTransmitInterceptorContextMut<
            '_,
        >,
        _components: &aws_sdk_kinesis::config::RuntimeComponents,
        _cfg: &mut aws_sdk_kinesis::config::ConfigBag,
    ) -> Result<(), aws_sdk_kinesis::error::BoxError> {
        let body = context.request_mut().body_mut();
        let mut bytes = body.bytes().ok_or("streaming body")?.to_vec();
        // `"PartitionKey":"a"` becomes `"PartitionKey":"b"`: same length, other payload.
        let at = bytes
            .windows(3)
            .position(|w| w == b"\"a\"")
            .ok_or("no \"a\" in the body")?;
        bytes[at + 1] = b'b';
        *body = aws_smithy_types::body::SdkBody::from(bytes);
        Ok(())
    }
}

#[tokio::test]
async fn body_changed_after_signing_is_invalid_signature() -> TestResult {
    let s = auth_server().await;
    let k = sdk_client(&s.endpoint, "AKID", "SECRET");
    create_stream(&k, "tamper", 1).await?;
    let err = k
        .put_record()
        .stream_name("tamper")
        .partition_key("a")
        .data(Blob::new(b"payload".to_vec()))
        .customize()
        .interceptor(TamperBody)
        .send()
        .await
        .expect_err("tampered body")
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    // Nothing was written.
    let it = iterator(
        &k,
        "tamper",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await?;
    assert!(read_data(&k, &it).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn child_shards_and_throttling_through_the_sdk() -> TestResult {
    // Limits on (AWS's), as `rill serve` runs by default.
    let s = TestServer::start_with(EngineConfig::default(), ServerConfig::default()).await;
    let c = sdk_client(&s.endpoint, "AKID", "SECRET");
    c.create_stream()
        .stream_name("kids")
        .shard_count(1)
        .send()
        .await?;
    c.put_record()
        .stream_name("kids")
        .partition_key("a")
        .data(Blob::new("one"))
        .send()
        .await?;
    c.split_shard()
        .stream_name("kids")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("170141183460469231731687303715884105728")
        .send()
        .await?;
    let it = c
        .get_shard_iterator()
        .stream_name("kids")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await?
        .shard_iterator
        .ok_or("iterator")?;
    let page = c.get_records().shard_iterator(it).send().await?;
    assert_eq!(page.records().len(), 1);
    assert!(
        page.next_shard_iterator().is_none(),
        "a closed shard read to its end"
    );
    let kids: Vec<&str> = page.child_shards().iter().map(|k| k.shard_id()).collect();
    assert_eq!(kids, vec!["shardId-000000000001", "shardId-000000000002"]);
    assert_eq!(
        page.child_shards()[0].parent_shards(),
        &["shardId-000000000000".to_string()]
    );
    // The read limit: 5 GetRecords calls per second per shard; the 6th is throttled.
    let it = c
        .get_shard_iterator()
        .stream_name("kids")
        .shard_id("shardId-000000000001")
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::Latest)
        .send()
        .await?
        .shard_iterator
        .ok_or("iterator")?;
    let mut throttled = None;
    for _ in 0..6 {
        if let Err(e) = c.get_records().shard_iterator(&it).send().await {
            throttled = Some(e.into_service_error());
            break;
        }
    }
    let e = throttled.ok_or("the sixth call in a second is throttled")?;
    assert!(e.is_provisioned_throughput_exceeded_exception(), "{e:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 7. AWS's front end: the checks before any operation, in AWS's order.
// ---------------------------------------------------------------------------------------

/// AWS's answer to a request it cannot map to an operation.
const ACCESS_DENIED_XML: &str = "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be authorized</Message>\n</AccessDeniedException>\n";

/// Encodes a CBOR value.
fn cbor_bytes(v: &Cbor) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(v, &mut bytes)?;
    Ok(bytes)
}

/// Asserts `raw` is a CBOR error answer with `code` and no message.
fn assert_cbor_error_without_message(
    raw: &Raw,
    status: u16,
    code: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    assert_eq!(raw.status, status, "{raw:?}");
    assert_eq!(
        raw.header("content-type"),
        Some("application/x-amz-cbor-1.1")
    );
    assert_eq!(raw.header("x-amzn-ErrorType"), Some(code));
    let body: Cbor = ciborium::de::from_reader(&raw.body[..])?;
    assert_eq!(
        cbor_get(&body, "__type").and_then(Cbor::as_text),
        Some(code)
    );
    assert!(cbor_get(&body, "message").is_none(), "{body:?}");
    assert!(cbor_get(&body, "Message").is_none(), "{body:?}");
    Ok(())
}

#[tokio::test]
async fn methods_other_than_post_are_access_denied_xml_on_any_path() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    for method in ["GET", "PUT", "DELETE", "PATCH"] {
        for path in ["/", "/streams", "/a/b/c?x=1"] {
            let raw = send(&s.endpoint, method, path, &[], "").await?;
            assert_eq!(raw.status, 403, "{method} {path}: {raw:?}");
            assert_eq!(
                &raw.body[..],
                ACCESS_DENIED_XML.as_bytes(),
                "{method} {path}"
            );
            assert!(raw.header("x-amzn-ErrorType").is_none(), "{raw:?}");
            assert!(raw.header("x-amzn-RequestId").is_some(), "{raw:?}");
        }
    }
    // The server's own endpoints stay.
    assert_eq!(
        send(&s.endpoint, "GET", "/health", &[], "").await?.status,
        200
    );
    assert_eq!(
        send(&s.endpoint, "GET", "/metrics", &[], "").await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn post_is_served_on_any_path_and_successes_carry_aws_ids() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let raw = send(
        &s.endpoint,
        "POST",
        "/x/y/?z=1",
        &[
            ("authorization", UNSIGNED_AUTH),
            ("x-amz-date", AMZ_DATE),
            ("x-amz-target", "Kinesis_20131202.ListStreams"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        "{}",
    )
    .await?;
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.json()?["StreamNames"], json!([]));
    assert!(raw.header("x-amzn-RequestId").is_some());
    let id2 = raw.header("x-amz-id-2").ok_or("no x-amz-id-2")?;
    assert_eq!(id2.len(), 96, "72 bytes in base64: {id2}");
    Ok(())
}

#[tokio::test]
async fn empty_body_is_serialization_or_unknown_operation_in_the_request_codec() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    // JSON: a known target is SerializationException, an unknown one UnknownOperation.
    let raw = post(
        &s.endpoint,
        Some("ListStreams"),
        "application/x-amz-json-1.1",
        "",
    )
    .await?;
    assert_eq!(assert_wire_error(&raw, 400, "SerializationException")?, "");
    let raw = post(&s.endpoint, Some("Nope"), "application/x-amz-json-1.1", "").await?;
    assert_eq!(
        assert_wire_error(&raw, 400, "UnknownOperationException")?,
        ""
    );
    // CBOR, and any other content type, answers in CBOR.
    let raw = post(
        &s.endpoint,
        Some("ListStreams"),
        "application/x-amz-cbor-1.1",
        "",
    )
    .await?;
    assert_cbor_error_without_message(&raw, 400, "SerializationException")?;
    let raw = post(&s.endpoint, None, "text/plain", "").await?;
    assert_cbor_error_without_message(&raw, 400, "UnknownOperationException")?;
    Ok(())
}

#[tokio::test]
async fn unsupported_content_type_is_unknown_operation_xml_or_access_denied() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    // A target of service.operation form: 404 and a message-less XML element.
    let raw = post(&s.endpoint, Some("ListStreams"), "text/plain", "{}").await?;
    assert_eq!(raw.status, 404, "{raw:?}");
    assert_eq!(&raw.body[..], b"<UnknownOperationException/>\n");
    // No target at all: AWS cannot name an operation to authorize.
    let raw = post(&s.endpoint, None, "application/xml", "{}").await?;
    assert_eq!(raw.status, 403, "{raw:?}");
    assert_eq!(&raw.body[..], ACCESS_DENIED_XML.as_bytes());
    Ok(())
}

#[tokio::test]
async fn plain_json_gets_the_coral_envelope() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let raw = post(&s.endpoint, Some("ListStreams"), "application/json", "{}").await?;
    assert_eq!(raw.status, 404, "{raw:?}");
    assert_eq!(
        raw.json()?,
        json!({"Output": {"__type": "com.amazon.coral.service#UnknownOperationException"}, "Version": "1.0"})
    );
    let raw = post(&s.endpoint, Some("ListStreams"), "application/json", "[1]").await?;
    assert_eq!(raw.status, 400, "{raw:?}");
    assert_eq!(
        raw.json()?,
        json!({"Output": {"__type": "com.amazon.coral.service#SerializationException"}, "Version": "1.0"})
    );
    Ok(())
}

#[tokio::test]
async fn cbor_bodies_that_are_not_maps_or_name_no_operation_fail_in_cbor() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    for body in [
        Cbor::Integer(3.into()),
        Cbor::Array(vec![]),
        Cbor::Text("{}".into()),
    ] {
        let raw = post(
            &s.endpoint,
            Some("ListStreams"),
            "application/x-amz-cbor-1.1",
            cbor_bytes(&body)?,
        )
        .await?;
        assert_cbor_error_without_message(&raw, 400, "SerializationException")?;
    }
    let raw = post(
        &s.endpoint,
        Some("Nope"),
        "application/x-amz-cbor-1.1",
        cbor_bytes(&cbor_map(vec![]))?,
    )
    .await?;
    assert_cbor_error_without_message(&raw, 400, "UnknownOperationException")?;
    // Garbage that is not CBOR at all.
    let raw = post(
        &s.endpoint,
        Some("ListStreams"),
        "application/x-amz-cbor-1.1",
        NOT_UTF8,
    )
    .await?;
    assert_cbor_error_without_message(&raw, 400, "SerializationException")?;
    Ok(())
}

#[tokio::test]
async fn no_authentication_is_missing_token_even_without_auth_keys() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let target = ("x-amz-target", "Kinesis_20131202.ListStreams");
    let raw = send(
        &s.endpoint,
        "POST",
        "/",
        &[target, ("content-type", "application/x-amz-json-1.1")],
        "{}",
    )
    .await?;
    let message = assert_wire_error(&raw, 400, "MissingAuthenticationTokenException")?;
    assert_eq!(message, "Missing Authentication Token");
    let raw = send(
        &s.endpoint,
        "POST",
        "/",
        &[target, ("content-type", "application/x-amz-cbor-1.1")],
        cbor_bytes(&cbor_map(vec![]))?,
    )
    .await?;
    assert_eq!(raw.status, 400, "{raw:?}");
    assert_eq!(
        raw.header("x-amzn-ErrorType"),
        Some("MissingAuthenticationTokenException")
    );
    let body: Cbor = ciborium::de::from_reader(&raw.body[..])?;
    assert_eq!(
        cbor_get(&body, "message").and_then(Cbor::as_text),
        Some("Missing Authentication Token")
    );
    Ok(())
}

#[tokio::test]
async fn incomplete_signatures_name_what_is_missing_as_aws_words_it() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let json_target = [
        ("x-amz-target", "Kinesis_20131202.ListStreams"),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    // A header with none of its parts, and no date.
    let mut headers = json_target.to_vec();
    headers.push(("authorization", "AWS4-HMAC-SHA256"));
    let raw = send(&s.endpoint, "POST", "/", &headers, "{}").await?;
    let message = assert_wire_error(&raw, 400, "IncompleteSignatureException")?;
    assert_eq!(
        message,
        "Authorization header requires 'Credential' parameter. \
         Authorization header requires 'Signature' parameter. \
         Authorization header requires 'SignedHeaders' parameter. \
         Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. \
         Authorization=AWS4-HMAC-SHA256"
    );
    // A presigned query missing all but the algorithm.
    let raw = send(
        &s.endpoint,
        "POST",
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &json_target,
        "{}",
    )
    .await?;
    let message = assert_wire_error(&raw, 400, "IncompleteSignatureException")?;
    assert_eq!(
        message,
        "AWS query-string parameters must include 'X-Amz-Credential'. \
         AWS query-string parameters must include 'X-Amz-Signature'. \
         AWS query-string parameters must include 'X-Amz-SignedHeaders'. \
         AWS query-string parameters must include 'X-Amz-Date'. \
         Re-examine the query-string parameters."
    );
    // Both a header and a query.
    let mut headers = json_target.to_vec();
    headers.push(("authorization", UNSIGNED_AUTH));
    headers.push(("x-amz-date", AMZ_DATE));
    let raw = send(
        &s.endpoint,
        "POST",
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &headers,
        "{}",
    )
    .await?;
    let message = assert_wire_error(&raw, 400, "InvalidSignatureException")?;
    assert_eq!(
        message,
        "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
    );
    Ok(())
}

#[tokio::test]
async fn cors_preflight_and_origin_are_answered_as_aws_does() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    let raw = send(
        &s.endpoint,
        "OPTIONS",
        "/",
        &[
            ("origin", "http://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "x-amz-target,content-type",
            ),
        ],
        "",
    )
    .await?;
    assert_eq!(raw.status, 200, "{raw:?}");
    assert!(raw.body.is_empty());
    assert_eq!(raw.header("access-control-allow-origin"), Some("*"));
    assert_eq!(raw.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        raw.header("access-control-allow-headers"),
        Some("x-amz-target,content-type")
    );
    assert_eq!(raw.header("access-control-max-age"), Some("172800"));
    // An OPTIONS without Origin is just another method that is not POST.
    let raw = send(&s.endpoint, "OPTIONS", "/", &[], "").await?;
    assert_eq!(raw.status, 403, "{raw:?}");
    // A POST with Origin, success or error, exposes AWS's headers.
    for op in ["ListStreams", "Nope"] {
        let target = format!("Kinesis_20131202.{op}");
        let raw = send(
            &s.endpoint,
            "POST",
            "/",
            &[
                ("origin", "http://app.example"),
                ("authorization", UNSIGNED_AUTH),
                ("x-amz-date", AMZ_DATE),
                ("x-amz-target", &target),
                ("content-type", "application/x-amz-json-1.1"),
            ],
            "{}",
        )
        .await?;
        assert_eq!(
            raw.header("access-control-allow-origin"),
            Some("*"),
            "{raw:?}"
        );
        let exposed = raw
            .header("access-control-expose-headers")
            .ok_or("no expose headers")?;
        for name in ["x-amzn-RequestId", "x-amzn-ErrorType", "x-amz-id-2", "Date"] {
            assert!(exposed.split(',').any(|e| e == name), "{name} in {exposed}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 8. AWS's validation step: the service model's checks, before anything is looked up.
// ---------------------------------------------------------------------------------------

/// A request's error answer in either codec: its `__type` and its message (`message` or
/// `Message`, empty when absent).
async fn error_in(
    endpoint: &str,
    op: &str,
    body: &Json,
    cbor: bool,
) -> Result<(u16, String, String), Box<dyn std::error::Error>> {
    let raw = if cbor {
        let value: Cbor = Cbor::serialized(body)?;
        post(
            endpoint,
            Some(op),
            "application/x-amz-cbor-1.1",
            cbor_bytes(&value)?,
        )
        .await?
    } else {
        post_json(endpoint, op, body).await?
    };
    let tree: Json = if cbor {
        let v: Cbor = ciborium::de::from_reader(&raw.body[..])?;
        v.deserialized()?
    } else {
        raw.json()?
    };
    let message = tree
        .get("message")
        .or_else(|| tree.get("Message"))
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let code = tree["__type"].as_str().unwrap_or_default().to_string();
    Ok((raw.status, code, message))
}

#[tokio::test]
async fn every_missing_member_is_reported_at_once_in_json_and_cbor() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    for cbor in [false, true] {
        let got = error_in(&s.endpoint, "MergeShards", &json!({}), cbor).await?;
        assert_eq!(
            got,
            (
                400,
                "ValidationException".to_string(),
                "2 validation errors detected: Value null at 'shardToMerge' failed to satisfy constraint: Member must not be null; Value null at 'adjacentShardToMerge' failed to satisfy constraint: Member must not be null".to_string()
            ),
            "cbor: {cbor}"
        );
        // Pattern and length of one member, and another member's range, together.
        let got = error_in(
            &s.endpoint,
            "ListShards",
            &json!({"StreamName": "bad name!", "MaxResults": 0}),
            cbor,
        )
        .await?;
        assert_eq!(got.1, "ValidationException", "cbor: {cbor}");
        assert_eq!(
            got.2,
            "2 validation errors detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1; Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            "cbor: {cbor}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn validation_comes_before_existence() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    // Too many tags for one call, on a stream that does not exist.
    let tags: serde_json::Map<String, Json> =
        (0..201).map(|i| (format!("k{i}"), json!("v"))).collect();
    for cbor in [false, true] {
        let (status, code, message) = error_in(
            &s.endpoint,
            "AddTagsToStream",
            &json!({"StreamName": "missing", "Tags": tags}),
            cbor,
        )
        .await?;
        assert_eq!((status, code.as_str()), (400, "ValidationException"));
        assert!(
            message.starts_with("1 validation error detected: Value '{")
                && message.ends_with(
                    "' at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"
                ),
            "{message}"
        );
        // A shard id of the wrong form on a missing stream: the form is checked first.
        let (_, code, message) = error_in(
            &s.endpoint,
            "GetShardIterator",
            &json!({"StreamName": "missing", "ShardId": "", "ShardIteratorType": "LATEST"}),
            cbor,
        )
        .await?;
        assert_eq!(code, "ValidationException");
        assert!(
            message.contains("Value '' at 'shardId' failed to satisfy constraint: Member must have length greater than or equal to 1"),
            "{message}"
        );
        // A well-formed request on a missing stream is then ResourceNotFound, in the words
        // AWS uses for GetShardIterator.
        let (_, code, message) = error_in(
            &s.endpoint,
            "GetShardIterator",
            &json!({"StreamName": "missing", "ShardId": "shardId-000000000000",
                    "ShardIteratorType": "LATEST"}),
            cbor,
        )
        .await?;
        assert_eq!(code, "ResourceNotFoundException");
        assert_eq!(
            message,
            format!(
                "Shard shardId-000000000000 in stream missing under account {ACCOUNT} does not exist"
            )
        );
    }
    Ok(())
}

#[tokio::test]
async fn wrong_types_get_the_java_front_ends_messages_in_json_and_cbor() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    for cbor in [false, true] {
        for (op, body, message) in [
            (
                "DescribeStream",
                json!({"StreamName": true}),
                "class java.lang.Boolean can not be converted to an String",
            ),
            (
                "CreateStream",
                json!({"StreamName": "s", "ShardCount": "two"}),
                "class java.lang.String can not be converted to an Integer",
            ),
            (
                "AddTagsToStream",
                json!({"StreamName": "s", "Tags": ["a"]}),
                "Start of list found where not expected",
            ),
            (
                "PutRecords",
                json!({"StreamName": "s", "Records": "x"}),
                "Expected list or null",
            ),
        ] {
            let got = error_in(&s.endpoint, op, &body, cbor).await?;
            assert_eq!(
                got,
                (
                    400,
                    "SerializationException".to_string(),
                    message.to_string()
                ),
                "{op} {body} (cbor: {cbor})"
            );
        }
    }
    // In JSON the member is `Message`, as AWS's Java front end writes it.
    let raw = post_json(&s.endpoint, "DescribeStream", &json!({"StreamName": 1})).await?;
    let body = raw.json()?;
    assert!(
        body.get("Message").is_some() && body.get("message").is_none(),
        "{body}"
    );
    Ok(())
}

/// PutRecord(s) in JSON that parses into the input type skips the model's walk (the write
/// path's fast lane) and meets the engine's own checks; the same bodies in CBOR take the
/// model's path. Both must answer alike.
#[tokio::test]
async fn put_records_constraints_match_the_model() -> TestResult {
    let s = TestServer::start(ServerConfig::default()).await;
    s.sdk()
        .create_stream()
        .stream_name("fast")
        .shard_count(1)
        .send()
        .await?;
    let entry = |key: &str| json!({"PartitionKey": key, "Data": "AA=="});
    let cases = [
        ("PutRecords", json!({"StreamName": "fast", "Records": []})),
        (
            "PutRecords",
            json!({"StreamName": "fast", "Records": [entry(""), entry(&"k".repeat(257))]}),
        ),
        (
            "PutRecords",
            json!({"StreamName": "fast", "Records": [
                {"PartitionKey": "k", "Data": "AA==", "ExplicitHashKey": "abc"}]}),
        ),
        (
            "PutRecords",
            json!({"StreamName": "bad name!", "Records": [entry("k")]}),
        ),
        (
            "PutRecords",
            json!({"StreamName": "missing", "Records": [entry("")]}),
        ),
        (
            "PutRecord",
            json!({"StreamName": "fast", "PartitionKey": "", "Data": "AA==",
                   "ExplicitHashKey": "-1", "SequenceNumberForOrdering": "x"}),
        ),
        (
            "PutRecord",
            json!({"StreamName": "bad name!", "PartitionKey": "k", "Data": "AA=="}),
        ),
    ];
    for (op, body) in cases {
        let json_answer = error_in(&s.endpoint, op, &body, false).await?;
        let cbor_answer = error_in(&s.endpoint, op, &body, true).await?;
        assert_eq!(json_answer.1, "ValidationException", "{op} {body}");
        assert_eq!(json_answer, cbor_answer, "{op} {body}");
    }
    Ok(())
}
