//! Hostile input (issue 11): what `rill serve` answers to requests that are malformed, too
//! big, too slow, forged or unsigned, and what the KPL aggregate decoder does with broken
//! aggregates. Every row of the "Hostile input" table in docs/reliability.md is a test here,
//! named in the table; after each hostile request the server must still serve others.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rill_engine::api::agg::{self, AggError, UserRecord};
use rill_engine::embedded::{ManualClock, ThroughputLimits};
use rill_engine::server::auth::Credentials;
use rill_engine::server::{self, ConnConfig, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use rill_testkit::wire::{AMZ_DATE, UNSIGNED_AUTH};
use serde_json::{Value as Json, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const JSON: &str = "application/x-amz-json-1.1";
const CBOR: &str = "application/x-amz-cbor-1.1";

/// Short connection timeouts, so that the slow-client rows take a second, not a minute.
fn short_timeouts() -> ConnConfig {
    ConnConfig {
        header_read_timeout: Duration::from_millis(800),
        body_read_timeout: Duration::from_millis(800),
        idle_timeout: Duration::from_millis(800),
        ..ConnConfig::default()
    }
}

/// An engine (limits off) served on 127.0.0.1:0; stops when dropped.
struct Server {
    endpoint: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(ServerConfig::default(), ConnConfig::default(), None).await
    }

    async fn start_with(
        config: ServerConfig,
        conn: ConnConfig,
        clock: Option<Arc<ManualClock>>,
    ) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut engine_config = EngineConfig {
            limits: ThroughputLimits::off(),
            ..EngineConfig::default()
        };
        if let Some(c) = clock {
            engine_config.clock = c;
        }
        let engine = Engine::open(dir.path(), engine_config)
            .await
            .expect("engine");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server::serve_with(
            listener,
            Arc::new(engine),
            config,
            conn,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            endpoint: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// POSTs a JSON body to `op`.
    async fn json(&self, op: &str, body: Json) -> Result<Resp, reqwest::Error> {
        post(&self.endpoint, Some(op), Some(JSON), body.to_string()).await
    }

    /// The server still answers a well-formed request, promptly.
    async fn assert_serving(&self) -> TestResult {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), self.json("ListStreams", json!({})))
            .await??;
        assert_eq!(r.status, 200, "the server still serves: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        Ok(())
    }

    async fn create_stream(&self, name: &str) -> Result<(), Box<dyn std::error::Error>> {
        let r = self
            .json("CreateStream", json!({"StreamName": name, "ShardCount": 1}))
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        Ok(())
    }

    async fn iterator(&self, stream: &str) -> Result<String, Box<dyn std::error::Error>> {
        let r = self
            .json(
                "GetShardIterator",
                json!({"StreamName": stream, "ShardId": "shardId-000000000000",
                       "ShardIteratorType": "TRIM_HORIZON"}),
            )
            .await?;
        assert_eq!(r.status, 200, "{r:?}");
        Ok(r.json()?["ShardIterator"]
            .as_str()
            .ok_or("no ShardIterator")?
            .to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// An HTTP answer.
struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Result<Json, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl std::fmt::Debug for Resp {
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

async fn post(
    endpoint: &str,
    op: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Result<Resp, reqwest::Error> {
    let mut req = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", AMZ_DATE)
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(op) = op {
        req = req.header("x-amz-target", format!("Kinesis_20131202.{op}"));
    }
    let resp = req.send().await?;
    Ok(Resp {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await?.to_vec(),
    })
}

/// Asserts `r` is an AWS-shaped error (`__type` in the body and `x-amzn-ErrorType`, a
/// request id) with this status and exception, whose message contains `gist`. `row` names
/// the case in failures.
fn expect_error(row: &str, r: &Resp, status: u16, code: &str, gist: &str) {
    assert_eq!(r.status, status, "{row}: status of {r:?}");
    let body: Json = match r.headers.get("content-type").map(|v| v.as_bytes()) {
        Some(ct) if ct.starts_with(b"application/x-amz-cbor") => {
            let v: ciborium::Value =
                ciborium::de::from_reader(&r.body[..]).unwrap_or(ciborium::Value::Null);
            let mut m = serde_json::Map::new();
            if let ciborium::Value::Map(entries) = v {
                for (k, v) in entries {
                    if let (ciborium::Value::Text(k), ciborium::Value::Text(v)) = (k, v) {
                        m.insert(k, Json::String(v));
                    }
                }
            }
            Json::Object(m)
        }
        _ => r.json().unwrap_or(Json::Null),
    };
    assert_eq!(body["__type"], code, "{row}: {r:?}");
    assert_eq!(
        r.headers.get("x-amzn-ErrorType").map(|v| v.as_bytes()),
        Some(code.as_bytes()),
        "{row}: {r:?}"
    );
    assert!(
        r.headers.contains_key("x-amzn-RequestId"),
        "{row}: a request id: {r:?}"
    );
    // AWS's Java front end writes `Message` (type faults), its services `message`.
    let message = body["message"]
        .as_str()
        .or_else(|| body["Message"].as_str())
        .unwrap_or_default();
    assert!(
        message.contains(gist),
        "{row}: message {message:?} should contain {gist:?}"
    );
}

/// [`expect_error`] for an answer AWS sends without a message (`__type` only), in JSON or
/// CBOR.
fn expect_bare_error(row: &str, r: &Resp, status: u16, code: &str) {
    expect_error(row, r, status, code, "");
    let cbor = r
        .headers
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-amz-cbor"));
    let has_message = if cbor {
        let v: ciborium::Value =
            ciborium::de::from_reader(&r.body[..]).unwrap_or(ciborium::Value::Null);
        v.as_map().is_some_and(|m| {
            m.iter()
                .any(|(k, _)| matches!(k.as_text(), Some("message" | "Message")))
        })
    } else {
        r.json()
            .is_ok_and(|v| v.get("message").is_some() || v.get("Message").is_some())
    };
    assert!(!has_message, "{row}: AWS sends no message: {r:?}");
}

// ---------------------------------------------------------------------------------------
// Raw HTTP/1.1 over TCP, for what reqwest will not send.
// ---------------------------------------------------------------------------------------

/// A response read off a raw connection.
#[derive(Debug)]
struct RawResp {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResp {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn error_type(&self) -> Option<String> {
        let v: Json = serde_json::from_slice(&self.body).ok()?;
        v["__type"].as_str().map(str::to_string)
    }
}

/// Reads one HTTP/1.1 response (`Content-Length` framed, or up to EOF) from `tcp`; `None` if
/// the server closed the connection without answering.
async fn read_response(tcp: &mut TcpStream) -> std::io::Result<Option<RawResp>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = match tcp.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut resp = RawResp {
        status,
        head,
        body: buf[head_end..].to_vec(),
    };
    let len = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    while len.is_none_or(|l| resp.body.len() < l) {
        let n = tcp.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        resp.body.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(resp))
}

/// Sends `request` on a new connection and reads the answer (within 10 s).
async fn raw(
    addr: SocketAddr,
    request: &[u8],
) -> Result<Option<RawResp>, Box<dyn std::error::Error>> {
    let mut tcp = TcpStream::connect(addr).await?;
    // The server may answer and close before all of a large request is written.
    let _ = tcp.write_all(request).await;
    Ok(tokio::time::timeout(Duration::from_secs(10), read_response(&mut tcp)).await??)
}

/// A POST / head for `op` with the given extra header lines and body length.
fn head(op: &str, extra: &str, content_length: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nhost: rill\r\nauthorization: {UNSIGNED_AUTH}\r\nx-amz-date: {AMZ_DATE}\r\ncontent-type: {JSON}\r\nx-amz-target: Kinesis_20131202.{op}\r\n{extra}content-length: {content_length}\r\n\r\n"
    )
}

/// Waits until the server closes `tcp` (EOF or reset) and returns how long that took and
/// what it sent first. Gives up after `limit`.
async fn await_close(
    tcp: &mut TcpStream,
    limit: Duration,
) -> Result<(Duration, Vec<u8>), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), tcp.read(&mut chunk)).await {
            Err(_) => return Err(format!("connection still open after {limit:?}").into()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok((started.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encodings.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn h01_malformed_json() -> TestResult {
    let s = Server::start().await;
    let deep_array = "[".repeat(100_000);
    let deep_object = r#"{"a":"#.repeat(50_000);
    let cases: &[(&str, &[u8])] = &[
        ("truncated", br#"{"StreamName": "#),
        ("not json", b"not json"),
        ("trailing garbage", br#"{"StreamName": "s"} xyz"#),
        ("invalid utf-8", b"{\"StreamName\": \"\xff\xfe\"}"),
        ("nested 100000 deep", deep_array.as_bytes()),
        ("objects nested 50000 deep", deep_object.as_bytes()),
        ("NUL bytes", b"\0\0\0\0"),
    ];
    for (row, body) in cases {
        let r = post(
            &s.endpoint,
            Some("DescribeStream"),
            Some(JSON),
            body.to_vec(),
        )
        .await?;
        expect_bare_error(row, &r, 400, "SerializationException");
    }
    // A body that is JSON but not an object.
    for body in ["[1, 2]", "\"StreamName\"", "42", "null", "true"] {
        let r = post(&s.endpoint, Some("ListStreams"), Some(JSON), body).await?;
        expect_bare_error(body, &r, 400, "SerializationException");
    }
    s.assert_serving().await
}

#[tokio::test]
async fn h02_malformed_cbor() -> TestResult {
    let s = Server::start().await;
    // 0x81 is "array of one item": 100 000 of them nest arrays 100 000 deep.
    let deep = vec![0x81u8; 100_000];
    // A map with an integer key; a map of one entry whose value is missing.
    let int_key = vec![0xa1, 0x01, 0x61, b'x'];
    let mut truncated = vec![0xa1, 0x6a];
    truncated.extend_from_slice(b"StreamName");
    // A text string claiming 2^63 bytes.
    let huge_len = vec![0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    // A byte string claiming 4 GiB, then nothing.
    let huge_bytes = vec![
        0xa1, 0x64, b'D', b'a', b't', b'a', 0x5a, 0xff, 0xff, 0xff, 0xff,
    ];
    let cases: &[(&str, &[u8])] = &[
        ("break byte", &[0xff, 0x00]),
        ("reserved additional info", &[0x1c]),
        ("integer map key", &int_key),
        ("truncated map", &truncated),
        ("text length 2^63", &huge_len),
        ("bytes length 4 GiB", &huge_bytes),
        ("nested 100000 deep", &deep),
    ];
    for (row, body) in cases {
        let r = post(
            &s.endpoint,
            Some("DescribeStream"),
            Some(CBOR),
            body.to_vec(),
        )
        .await?;
        expect_bare_error(row, &r, 400, "SerializationException");
        assert_eq!(
            r.headers.get("content-type").map(|v| v.as_bytes()),
            Some(CBOR.as_bytes()),
            "{row}: a CBOR request gets a CBOR error"
        );
    }
    s.assert_serving().await
}

#[tokio::test]
async fn h03_wrong_json_types() -> TestResult {
    let s = Server::start().await;
    s.create_stream("typed").await?;
    let number =
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted";
    // AWS's Java front end names each fault (in `Message`), before any lookup.
    let cases = [
        (
            "number for a string",
            "PutRecord",
            json!({"StreamName": "typed", "PartitionKey": 42, "Data": "AA=="}),
            format!("{number} to an String"),
        ),
        (
            "number for a blob",
            "PutRecord",
            json!({"StreamName": "typed", "PartitionKey": "k", "Data": 42}),
            format!("{number} to a Blob"),
        ),
        (
            "blob not base64",
            "PutRecord",
            json!({"StreamName": "typed", "PartitionKey": "k", "Data": "not base64!"}),
            "'not base64!' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 11".into(),
        ),
        (
            "string for an integer",
            "CreateStream",
            json!({"StreamName": "t2", "ShardCount": "one"}),
            "class java.lang.String can not be converted to an Integer".into(),
        ),
        (
            "object for an array",
            "PutRecords",
            json!({"StreamName": "typed", "Records": {"PartitionKey": "k", "Data": "AA=="}}),
            "Start of structure or map found where not expected.".into(),
        ),
        (
            "array for a string (an enum)",
            "GetShardIterator",
            json!({"StreamName": "typed", "ShardId": "shardId-000000000000",
                   "ShardIteratorType": ["TRIM_HORIZON"]}),
            "Start of list found where not expected".into(),
        ),
        (
            "array for a string",
            "DescribeStream",
            json!({"StreamName": ["typed"]}),
            "Start of list found where not expected".into(),
        ),
        (
            "bool for an integer",
            "GetRecords",
            json!({"ShardIterator": "x", "Limit": true}),
            "class java.lang.Boolean can not be converted to an Integer".into(),
        ),
        (
            "string for a map",
            "AddTagsToStream",
            json!({"StreamName": "typed", "Tags": "k=v"}),
            "Expected map or null".into(),
        ),
        (
            "string for a timestamp",
            "GetShardIterator",
            json!({"StreamName": "typed", "ShardId": "shardId-000000000000",
                   "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": "yesterday"}),
            "class java.lang.String can not be converted to milliseconds since epoch".into(),
        ),
        (
            "a type fault on a stream that does not exist",
            "PutRecord",
            json!({"StreamName": "missing", "PartitionKey": true, "Data": "AA=="}),
            "class java.lang.Boolean can not be converted to an String".into(),
        ),
    ];
    for (row, op, body, message) in cases {
        let r = s.json(op, body).await?;
        expect_error(row, &r, 400, "SerializationException", &message);
        assert_eq!(
            r.json()?["Message"].as_str(),
            Some(message.as_str()),
            "{row}: the whole text, in an upper-case Message"
        );
    }
    // An enum value AWS does not know is a constraint violation, not a type fault.
    let r = s
        .json(
            "GetShardIterator",
            json!({"StreamName": "typed", "ShardId": "shardId-000000000000",
                   "ShardIteratorType": "SIDEWAYS"}),
        )
        .await?;
    expect_error(
        "unknown enum value",
        &r,
        400,
        "ValidationException",
        "1 validation error detected: Value 'SIDEWAYS' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]",
    );
    // Numbers for integers are read as AWS reads them: rounded down, capped at 2^31 - 1.
    let r = s
        .json(
            "CreateStream",
            json!({"StreamName": "t2", "ShardCount": 1.5}),
        )
        .await?;
    assert_eq!(r.status, 200, "1.5 shards is one shard: {r:?}");
    let r = s
        .json("DescribeStreamSummary", json!({"StreamName": "t2"}))
        .await?;
    assert_eq!(r.json()?["StreamDescriptionSummary"]["OpenShardCount"], 1);
    let r = s
        .json(
            "CreateStream",
            json!({"StreamName": "t3", "ShardCount": 1e40}),
        )
        .await?;
    expect_error(
        "integer over 2^31",
        &r,
        400,
        "LimitExceededException",
        "Number of additional shards that would have resulted from this request: 2147483647.",
    );
    s.assert_serving().await
}

#[tokio::test]
async fn h04_missing_required_fields() -> TestResult {
    let s = Server::start().await;
    s.create_stream("req").await?;
    let cases = [
        ("CreateStream {}", "CreateStream", json!({}), "'streamName'"),
        (
            // Today's model requires only Data (a stream dealing records AUTOmatically
            // needs no keys); a missing key is reported once Data is there.
            "PutRecord without key and data",
            "PutRecord",
            json!({"StreamName": "req"}),
            "1 validation error detected: Value null at 'data'",
        ),
        (
            "PutRecord with null data",
            "PutRecord",
            json!({"StreamName": "req", "PartitionKey": "k", "Data": null}),
            "Value null at 'data'",
        ),
        (
            "PutRecords entry without data",
            "PutRecords",
            json!({"StreamName": "req", "Records": [{"PartitionKey": "k"}]}),
            "Value null at 'records.1.member.data'",
        ),
        (
            "GetShardIterator without type",
            "GetShardIterator",
            json!({"StreamName": "req", "ShardId": "shardId-000000000000"}),
            "Value null at 'shardIteratorType'",
        ),
        (
            "GetRecords {}",
            "GetRecords",
            json!({}),
            "Value null at 'shardIterator'",
        ),
        (
            "SubscribeToShard {}",
            "SubscribeToShard",
            json!({}),
            "Value null at 'consumerARN'",
        ),
    ];
    for (row, op, body, gist) in cases {
        let r = s.json(op, body).await?;
        expect_error(row, &r, 400, "ValidationException", gist);
    }
    // No stream named at all: AWS names neither, the stream is not found.
    let r = s.json("DescribeStream", json!({})).await?;
    assert_eq!(r.status, 400, "{r:?}");
    s.assert_serving().await
}

#[tokio::test]
async fn h05_unknown_fields_are_ignored() -> TestResult {
    let s = Server::start().await;
    let r = s
        .json(
            "CreateStream",
            json!({"StreamName": "extra", "ShardCount": 1, "Bogus": {"deep": [1, 2, 3]},
                   "streamname": "other"}),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let r = s
        .json(
            "PutRecords",
            json!({"StreamName": "extra", "Records": [{"PartitionKey": "k", "Data": "AA==", "Nope": 1}]}),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()?["FailedRecordCount"], 0);
    s.assert_serving().await
}

// ---------------------------------------------------------------------------------------
// Size.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn h06_huge_bodies() -> TestResult {
    let s = Server::start_with(
        ServerConfig {
            body_limit: 64 * 1024,
            ..ServerConfig::default()
        },
        ConnConfig::default(),
        None,
    )
    .await;
    // A body over the limit, with its length declared.
    let big = json!({"StreamName": "s", "PartitionKey": "pk", "Data": "A".repeat(100_000)});
    let r = s.json("PutRecord", big).await?;
    expect_error("declared", &r, 413, "SerializationException", "limit");

    // A declared length of 1 TB and no body: refused at once, without waiting for the body.
    let started = Instant::now();
    let r = raw(s.addr, head("PutRecord", "", 1 << 40).as_bytes())
        .await?
        .ok_or("no answer")?;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    assert_eq!(r.header("connection"), Some("close"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A chunked body (no declared length) that grows past the limit: answered as soon as
    // the limit is passed, while the client is still sending.
    let mut tcp = TcpStream::connect(s.addr).await?;
    tcp.write_all(
        format!(
            "POST / HTTP/1.1\r\nhost: rill\r\nauthorization: {UNSIGNED_AUTH}\r\nx-amz-date: {AMZ_DATE}\r\ncontent-type: {JSON}\r\nx-amz-target: Kinesis_20131202.ListStreams\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let chunk = [b"1000\r\n".as_slice(), &[b' '; 4096], b"\r\n"].concat();
    for _ in 0..17 {
        tcp.write_all(&chunk).await?;
    }
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut tcp))
        .await??
        .ok_or("no answer to a chunked body over the limit")?;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    s.assert_serving().await
}

#[tokio::test]
async fn h07_huge_headers() -> TestResult {
    let s = Server::start().await;
    // 200 headers: hyper allows 100.
    let many: String = (0..200).map(|i| format!("x-h-{i}: v\r\n")).collect();
    let r = raw(s.addr, head("ListStreams", &many, 2).as_bytes())
        .await?
        .ok_or("no answer to 200 headers")?;
    assert_eq!(r.status, 431, "many headers: {r:?}");
    // One 1 MiB header: over hyper's ~400 KiB head buffer.
    let huge = format!("x-huge: {}\r\n", "a".repeat(1 << 20));
    let r = raw(s.addr, head("ListStreams", &huge, 2).as_bytes())
        .await?
        .ok_or("no answer to a 1 MiB header")?;
    assert_eq!(r.status, 431, "enormous header: {r:?}");
    // 64 KiB of headers is fine (an Authorization header is a few hundred bytes).
    let fine = format!("x-big: {}\r\n", "a".repeat(64 * 1024));
    let mut req = head("ListStreams", &fine, 2).into_bytes();
    req.extend_from_slice(b"{}");
    let r = raw(s.addr, &req).await?.ok_or("no answer")?;
    assert_eq!(r.status, 200, "{r:?}");

    // HTTP/2: a header list over 16 KiB is refused (hyper's SETTINGS_MAX_HEADER_LIST_SIZE):
    // a little over gets 431, far over ends the connection with GOAWAY ENHANCE_YOUR_CALM.
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build()?;
    let huge_h2 = |size: usize| {
        h2.post(format!("{}/", s.endpoint))
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .header("content-type", JSON)
            .header("x-huge", "a".repeat(size))
            .body("{}")
            .send()
    };
    let r = huge_h2(20 * 1024).await?;
    assert_eq!(r.status().as_u16(), 431, "h2 20 KiB header: {r:?}");
    let e = huge_h2(64 * 1024)
        .await
        .err()
        .ok_or("h2 64 KiB header answered")?;
    assert!(
        format!("{e:?}").contains("ENHANCE_YOUR_CALM"),
        "h2 64 KiB header: {e:?}"
    );
    let r = h2
        .post(format!("{}/", s.endpoint))
        .header("x-amz-target", "Kinesis_20131202.ListStreams")
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", AMZ_DATE)
        .header("content-type", JSON)
        .body("{}")
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    s.assert_serving().await
}

// ---------------------------------------------------------------------------------------
// Slow clients.
// ---------------------------------------------------------------------------------------

/// Writes `bytes` one byte at a time, `every` apart, until the server closes the
/// connection; returns how long after the first byte it closed.
async fn trickle(
    tcp: TcpStream,
    bytes: Vec<u8>,
    every: Duration,
) -> Result<(Duration, Vec<u8>), Box<dyn std::error::Error + Send + Sync>> {
    let (mut rd, mut wr) = tcp.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for b in bytes.iter().cycle() {
            if wr.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
        }
    });
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let result = loop {
        match tokio::time::timeout(Duration::from_secs(20), rd.read(&mut chunk)).await {
            Err(_) => break Err("the server never closed a trickling connection".into()),
            Ok(Ok(0)) | Ok(Err(_)) => break Ok((started.elapsed(), got)),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    };
    writer.abort();
    result
}

#[tokio::test]
async fn h08_slow_headers() -> TestResult {
    let s = Server::start_with(ServerConfig::default(), short_timeouts(), None).await;
    // Slowloris: a head trickled a byte every 100 ms never completes (a header line that
    // never ends), and several of them at once.
    let line = b"POST / HTTP/1.1\r\nhost: rill\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec();
    let mut slow = Vec::new();
    for _ in 0..20 {
        let tcp = TcpStream::connect(s.addr).await?;
        slow.push(tokio::spawn(trickle(
            tcp,
            line.clone(),
            Duration::from_millis(100),
        )));
    }
    // Meanwhile other clients are served at once.
    s.assert_serving().await?;
    for t in slow {
        let (took, answer) = t.await?.map_err(|e| e.to_string())?;
        assert!(
            took < Duration::from_secs(5),
            "closed after the 800 ms header timeout, not {took:?}"
        );
        // hyper closes the connection without an answer.
        assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    }
    s.assert_serving().await
}

#[tokio::test]
async fn h09_slow_body() -> TestResult {
    let s = Server::start_with(ServerConfig::default(), short_timeouts(), None).await;
    s.create_stream("slow").await?;
    let body = br#"{"StreamName": "slow", "PartitionKey": "k", "Data": "AAAA"}"#.to_vec();
    let started = Instant::now();
    let mut tcp = TcpStream::connect(s.addr).await?;
    tcp.write_all(head("PutRecord", "", body.len()).as_bytes())
        .await?;
    let trickler = tokio::spawn(trickle(tcp, body, Duration::from_millis(200)));
    s.assert_serving().await?;
    let (_, answer) = trickler.await?.map_err(|e| e.to_string())?;
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("RequestTimeoutException"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The trickled record was not written.
    let it = s.iterator("slow").await?;
    let r = s.json("GetRecords", json!({"ShardIterator": it})).await?;
    assert_eq!(r.json()?["Records"], json!([]));

    // A declared length that never arrives: the same.
    let mut tcp = TcpStream::connect(s.addr).await?;
    tcp.write_all(head("PutRecord", "", 1000).as_bytes())
        .await?;
    tcp.write_all(b"{\"Stream").await?;
    let (took, answer) = await_close(&mut tcp, Duration::from_secs(10)).await?;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    s.assert_serving().await
}

#[tokio::test]
async fn h10_idle_connections() -> TestResult {
    let s = Server::start_with(ServerConfig::default(), short_timeouts(), None).await;
    // Connections that send nothing at all, 50 of them.
    let mut idle = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(s.addr).await?);
    }
    // An HTTP/2 connection that sends its preface and settings, then nothing.
    let mut h2 = TcpStream::connect(s.addr).await?;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await?;
    // A keep-alive HTTP/1.1 connection after one request.
    let mut kept = TcpStream::connect(s.addr).await?;
    let mut req = head("ListStreams", "", 2).into_bytes();
    req.extend_from_slice(b"{}");
    kept.write_all(&req).await?;
    let first = read_response(&mut kept).await?.ok_or("no answer")?;
    assert_eq!(first.status, 200, "{first:?}");
    // Others are served while they sit there.
    s.assert_serving().await?;
    for (i, tcp) in idle.iter_mut().enumerate() {
        let (took, got) = await_close(tcp, Duration::from_secs(10)).await?;
        assert!(got.is_empty(), "idle {i}: {got:?}");
        assert!(took < Duration::from_secs(5), "idle {i}: {took:?}");
    }
    let (_, got) = await_close(&mut h2, Duration::from_secs(10)).await?;
    // The server's SETTINGS, then a GOAWAY frame (type 7).
    assert!(
        got.windows(4).any(|w| w[3] == 7 && w[..3] == [0, 0, 8]),
        "GOAWAY: {got:?}"
    );
    let (_, got) = await_close(&mut kept, Duration::from_secs(10)).await?;
    assert!(got.is_empty(), "{got:?}");
    s.assert_serving().await
}

#[tokio::test]
async fn h23_connection_cap() -> TestResult {
    let s = Server::start_with(
        ServerConfig::default(),
        ConnConfig {
            max_connections: 2,
            ..ConnConfig::default()
        },
        None,
    )
    .await;
    // Two connections that send nothing take both slots (the idle timeout is a minute).
    let mut first = TcpStream::connect(s.addr).await?;
    let mut second = TcpStream::connect(s.addr).await?;
    // Both are being served: a request on the second is answered.
    let mut req = head("ListStreams", "", 2).into_bytes();
    req.extend_from_slice(b"{}");
    second.write_all(&req).await?;
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut second))
        .await??
        .ok_or("no answer")?;
    assert_eq!(answer.status, 200, "{answer:?}");
    // A third waits in the listen backlog: not answered while both are open (an absence,
    // so a bounded wait).
    let mut third = TcpStream::connect(s.addr).await?;
    third.write_all(&req).await?;
    let early = tokio::time::timeout(Duration::from_millis(500), read_response(&mut third)).await;
    assert!(early.is_err(), "answered above the cap: {early:?}");
    // One closes: the third is served.
    drop(first.shutdown().await);
    drop(first);
    let late = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third))
        .await??
        .ok_or("no answer after a slot freed")?;
    assert_eq!(late.status, 200, "{late:?}");
    drop(second);
    drop(third);
    s.assert_serving().await
}

// ---------------------------------------------------------------------------------------
// Parameters.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn h11_invalid_stream_names() -> TestResult {
    let s = Server::start().await;
    let long = "a".repeat(129);
    for (row, name, gist) in [
        (
            "empty",
            "",
            "Member must have length greater than or equal to 1",
        ),
        ("space", "bad name", "regular expression pattern"),
        ("slash", "a/b", "regular expression pattern"),
        ("unicode", "strëam", "regular expression pattern"),
        ("control", "a\u{0}b", "regular expression pattern"),
        (
            "129 chars",
            long.as_str(),
            "length less than or equal to 128",
        ),
    ] {
        let r = s
            .json("CreateStream", json!({"StreamName": name, "ShardCount": 1}))
            .await?;
        expect_error(row, &r, 400, "ValidationException", gist);
        let r = s
            .json("DescribeStream", json!({"StreamName": name}))
            .await?;
        expect_error(row, &r, 400, "ValidationException", gist);
    }
    // A well-formed name that does not exist.
    let r = s
        .json("DescribeStream", json!({"StreamName": "nope"}))
        .await?;
    expect_error("missing", &r, 400, "ResourceNotFoundException", "nope");
    // A malformed ARN.
    let r = s
        .json(
            "DescribeStreamSummary",
            json!({"StreamARN": "arn:aws:sqs:x:1:stream/s"}),
        )
        .await?;
    expect_error("bad arn", &r, 400, "ValidationException", "streamARN");
    s.assert_serving().await
}

#[tokio::test]
async fn h12_invalid_partition_keys() -> TestResult {
    let s = Server::start().await;
    s.create_stream("pk").await?;
    let long = "k".repeat(257);
    for (row, key, gist) in [
        (
            "empty",
            "",
            "Member must have length greater than or equal to 1",
        ),
        (
            "257 chars",
            long.as_str(),
            "Member must have length less than or equal to 256",
        ),
    ] {
        let r = s
            .json(
                "PutRecord",
                json!({"StreamName": "pk", "PartitionKey": key, "Data": "AA=="}),
            )
            .await?;
        expect_error(row, &r, 400, "ValidationException", gist);
        let r = s
            .json(
                "PutRecords",
                json!({"StreamName": "pk", "Records": [{"PartitionKey": key, "Data": "AA=="}]}),
            )
            .await?;
        expect_error(row, &r, 400, "ValidationException", gist);
    }
    // 256 UTF-16 units of any Unicode is a valid key (an emoji counts two, as AWS's Java
    // front end counts); 257 is not.
    let r = s
        .json(
            "PutRecord",
            json!({"StreamName": "pk", "PartitionKey": "é\u{0}🦀".repeat(64), "Data": "AA=="}),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let r = s
        .json(
            "PutRecord",
            json!({"StreamName": "pk", "PartitionKey": format!("é{}", "🦀".repeat(128)), "Data": "AA=="}),
        )
        .await?;
    expect_error(
        "257 UTF-16 units",
        &r,
        400,
        "ValidationException",
        "Member must have length less than or equal to 256",
    );
    s.assert_serving().await
}

#[tokio::test]
async fn h13_invalid_explicit_hash_keys() -> TestResult {
    let s = Server::start().await;
    s.create_stream("ehk").await?;
    for (row, key, code) in [
        ("letters", "abc", "ValidationException"),
        ("negative", "-1", "ValidationException"),
        ("fraction", "1.5", "ValidationException"),
        ("empty", "", "ValidationException"),
        (
            "2^128",
            "340282366920938463463374607431768211456",
            "InvalidArgumentException",
        ),
        (
            "40 digits",
            "9999999999999999999999999999999999999999",
            "ValidationException",
        ),
    ] {
        let r = s
            .json(
                "PutRecord",
                json!({"StreamName": "ehk", "PartitionKey": "k", "Data": "AA==",
                       "ExplicitHashKey": key}),
            )
            .await?;
        expect_error(row, &r, 400, code, "");
    }
    // 2^128 - 1 is the largest valid key.
    let r = s
        .json(
            "PutRecord",
            json!({"StreamName": "ehk", "PartitionKey": "k", "Data": "AA==",
                   "ExplicitHashKey": "340282366920938463463374607431768211455"}),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    s.assert_serving().await
}

#[tokio::test]
async fn h14_invalid_sequence_numbers() -> TestResult {
    let s = Server::start().await;
    s.create_stream("seq").await?;
    s.create_stream("other").await?;
    let put = |stream: &str| json!({"StreamName": stream, "PartitionKey": "k", "Data": "AA=="});
    let mine = s.json("PutRecord", put("seq")).await?.json()?["SequenceNumber"]
        .as_str()
        .ok_or("no sequence number")?
        .to_string();
    let theirs = s.json("PutRecord", put("other")).await?.json()?["SequenceNumber"]
        .as_str()
        .ok_or("no sequence number")?
        .to_string();
    let huge = "9".repeat(200);
    for (row, seq, code, gist) in [
        (
            "letters",
            "abc",
            "ValidationException",
            "startingSequenceNumber",
        ),
        (
            "negative",
            "-1",
            "ValidationException",
            "startingSequenceNumber",
        ),
        (
            "200 digits",
            huge.as_str(),
            "ValidationException",
            "startingSequenceNumber",
        ),
        ("zero", "0", "InvalidArgumentException", "is invalid"),
        (
            "from another stream",
            theirs.as_str(),
            "InvalidArgumentException",
            "",
        ),
    ] {
        let r = s
            .json(
                "GetShardIterator",
                json!({"StreamName": "seq", "ShardId": "shardId-000000000000",
                       "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": seq}),
            )
            .await?;
        expect_error(row, &r, 400, code, gist);
    }
    // SequenceNumberForOrdering is checked too.
    let r = s
        .json(
            "PutRecord",
            json!({"StreamName": "seq", "PartitionKey": "k", "Data": "AA==",
                   "SequenceNumberForOrdering": "abc"}),
        )
        .await?;
    expect_error(
        "ordering",
        &r,
        400,
        "ValidationException",
        "sequenceNumberForOrdering",
    );
    // The stream's own sequence number works.
    let r = s
        .json(
            "GetShardIterator",
            json!({"StreamName": "seq", "ShardId": "shardId-000000000000",
                   "ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": mine}),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    s.assert_serving().await
}

#[tokio::test]
async fn h15_shard_iterators() -> TestResult {
    // 2023-11-14T22:13:20Z.
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let s = Server::start_with(
        ServerConfig::default(),
        ConnConfig::default(),
        Some(clock.clone()),
    )
    .await;
    s.create_stream("its").await?;
    s.create_stream("else").await?;
    let real = s.iterator("its").await?;
    let raw_bytes = STANDARD.decode(&real)?;
    let mut cases = vec![
        ("garbage", "not an iterator at all".to_string()),
        ("random bytes", STANDARD.encode([7u8; 80])),
        ("empty base64 body", STANDARD.encode([0u8; 50])),
        ("truncated", real[..real.len() / 2].to_string()),
    ];
    // Every byte flipped, one at a time.
    for i in 0..raw_bytes.len() {
        let mut b = raw_bytes.clone();
        b[i] ^= 0x01;
        cases.push(("one byte flipped", STANDARD.encode(&b)));
    }
    // Another kind of token: a ListShards NextToken.
    let r = s
        .json("ListShards", json!({"StreamName": "its", "MaxResults": 1}))
        .await?;
    if let Some(t) = r.json()?["NextToken"].as_str() {
        cases.push(("a NextToken", t.to_string()));
    }
    for (row, it) in &cases {
        let r = s.json("GetRecords", json!({"ShardIterator": it})).await?;
        expect_error(
            row,
            &r,
            400,
            "InvalidArgumentException",
            "Invalid ShardIterator.",
        );
    }
    let r = s
        .json("GetRecords", json!({"ShardIterator": "A".repeat(513)}))
        .await?;
    expect_error("513 chars", &r, 400, "ValidationException", "shardIterator");

    // For another stream: the iterator of `its` with the ARN of `else`.
    let arn = "arn:aws:kinesis:us-east-1:000000000000:stream/else";
    let r = s
        .json(
            "GetRecords",
            json!({"ShardIterator": real, "StreamARN": arn}),
        )
        .await?;
    expect_error(
        "another stream",
        &r,
        400,
        "InvalidArgumentException",
        "does not match the stream of the shard iterator",
    );

    // Expired: one millisecond past the five-minute time to live.
    clock.advance(Duration::from_millis(300_001));
    let r = s.json("GetRecords", json!({"ShardIterator": real})).await?;
    expect_error(
        "expired",
        &r,
        400,
        "ExpiredIteratorException",
        "Iterator expired.",
    );
    s.assert_serving().await
}

// ---------------------------------------------------------------------------------------
// SigV4.
// ---------------------------------------------------------------------------------------

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// `YYYYMMDDTHHMMSSZ` of `t`.
fn amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The `Authorization` header SigV4 gives a `POST /` with these headers and body.
fn sign(host: &str, target: &str, date: &str, body: &str, key: &str, secret: &str) -> String {
    use sha2::Digest;
    let day = &date[..8];
    let canonical = format!(
        "POST\n/\n\ncontent-type:{JSON}\nhost:{host}\nx-amz-date:{date}\nx-amz-target:{target}\n\ncontent-type;host;x-amz-date;x-amz-target\n{}",
        hex(&sha2::Sha256::digest(body.as_bytes()))
    );
    let scope = format!("{day}/us-east-1/kinesis/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&sha2::Sha256::digest(canonical.as_bytes()))
    );
    let k = hmac(format!("AWS4{secret}").as_bytes(), day);
    let k = hmac(&k, "us-east-1");
    let k = hmac(&k, "kinesis");
    let k = hmac(&k, "aws4_request");
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={}",
        hex(&hmac(&k, &to_sign))
    )
}

#[tokio::test]
async fn h16_bad_signatures() -> TestResult {
    let s = Server::start_with(
        ServerConfig {
            auth: Some(Arc::new(Credentials::new([(
                "AKID".to_string(),
                "SECRET".to_string(),
            )]))),
            ..ServerConfig::default()
        },
        ConnConfig::default(),
        None,
    )
    .await;
    let host = s.addr.to_string();
    let target = "Kinesis_20131202.ListStreams";
    let body = "{}";
    let now = amz_date(SystemTime::now());
    let hour_ago = amz_date(SystemTime::now() - Duration::from_secs(3600));
    let good = sign(&host, target, &now, body, "AKID", "SECRET");
    let send = |auth: Option<String>, date: String| {
        let endpoint = s.endpoint.clone();
        async move {
            let mut req = reqwest::Client::new()
                .post(format!("{endpoint}/"))
                .header("content-type", JSON)
                .header("x-amz-target", target)
                .header("x-amz-date", date)
                .body(body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await?;
            Ok::<_, reqwest::Error>(Resp {
                status: resp.status().as_u16(),
                headers: resp.headers().clone(),
                body: resp.bytes().await?.to_vec(),
            })
        }
    };
    // The well-signed request is accepted.
    let r = send(Some(good.clone()), now.clone()).await?;
    assert_eq!(r.status, 200, "{r:?}");
    let cases = [
        (
            "missing",
            None,
            now.clone(),
            400,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ),
        (
            "wrong secret",
            Some(sign(&host, target, &now, body, "AKID", "WRONG")),
            now.clone(),
            403,
            "InvalidSignatureException",
            "does not match",
        ),
        (
            "unknown key",
            Some(sign(&host, target, &now, body, "NOBODY", "SECRET")),
            now.clone(),
            400,
            "UnrecognizedClientException",
            "security token",
        ),
        (
            "an hour old, correctly signed",
            Some(sign(&host, target, &hour_ago, body, "AKID", "SECRET")),
            hour_ago.clone(),
            400,
            "InvalidSignatureException",
            "Signature expired",
        ),
        (
            "date header an hour off the signed one",
            Some(good.clone()),
            hour_ago.clone(),
            400,
            "InvalidSignatureException",
            "Signature expired",
        ),
        (
            "credential scope of another day",
            Some(good.replacen(&format!("/{}/", &now[..8]), "/20000101/", 1)),
            now.clone(),
            403,
            "InvalidSignatureException",
            "Date in Credential scope does not match",
        ),
        (
            "date not ISO 8601",
            Some(good.clone()),
            "yesterday".to_string(),
            400,
            "IncompleteSignatureException",
            "X-Amz-Date",
        ),
        (
            "truncated after the credential",
            Some(good[..good.find(',').unwrap_or(good.len())].to_string()),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. Authorization=",
        ),
        (
            "truncated signature",
            Some(good[..good.len() - 10].to_string()),
            now.clone(),
            403,
            "InvalidSignatureException",
            "does not match",
        ),
        (
            "truncated to the algorithm",
            Some("AWS4-HMAC-SHA256".to_string()),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "",
        ),
        (
            "credential scope cut short",
            Some(good.replacen("/us-east-1/kinesis/aws4_request", "", 1)),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "Credential should be scoped",
        ),
        (
            "another algorithm",
            Some(good.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1)),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "AWS4-HMAC-SHA256",
        ),
        (
            "host not signed",
            Some(good.replacen("content-type;host;", "content-type;", 1)),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "'Host' must be a 'SignedHeader'",
        ),
        (
            "another scheme",
            Some("Basic dXNlcjpwYXNz".to_string()),
            now.clone(),
            400,
            "IncompleteSignatureException",
            "",
        ),
    ];
    for (row, auth, date, status, code, gist) in cases {
        let r = send(auth, date).await?;
        expect_error(row, &r, status, code, gist);
    }
    // Not UTF-8 in the Authorization header: raw, since reqwest will not send it.
    let req = [
        format!(
            "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: {JSON}\r\nx-amz-target: {target}\r\nx-amz-date: {now}\r\ncontent-length: 2\r\nauthorization: AWS4-HMAC-SHA256 Credential="
        )
        .as_bytes(),
        &[0xff, 0xfe],
        b"\r\n\r\n{}",
    ]
    .concat();
    let r = raw(s.addr, &req).await?.ok_or("no answer")?;
    assert_eq!(r.status, 400, "{r:?}");
    // A header is there, so it is incomplete (no Signature, no SignedHeaders), not missing.
    assert_eq!(
        r.error_type().as_deref(),
        Some("IncompleteSignatureException")
    );
    let r = send(Some(good), now).await?;
    assert_eq!(r.status, 200, "still serving signed requests: {r:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KPL aggregates (the engine's decoder, which the consumer uses).
// ---------------------------------------------------------------------------------------

/// Protobuf: a varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Protobuf: a length-delimited field.
fn field(tag: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(tag << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// An aggregate body with one key in each table and one record with these key indexes.
fn body_with_indexes(pk: u64, ehk: Option<u64>) -> Vec<u8> {
    let mut record = Vec::new();
    varint(1 << 3, &mut record);
    varint(pk, &mut record);
    if let Some(e) = ehk {
        varint(2 << 3, &mut record);
        varint(e, &mut record);
    }
    field(3, b"payload", &mut record);
    let mut body = Vec::new();
    field(1, b"pk", &mut body);
    field(2, b"1234", &mut body);
    field(3, &record, &mut body);
    body
}

#[test]
fn h17_invalid_kpl_aggregates() -> TestResult {
    let records: Vec<UserRecord> = (0..5)
        .map(|i| UserRecord {
            partition_key: format!("pk-{i}"),
            explicit_hash_key: (i % 2 == 0).then(|| format!("{i}")),
            data: bytes::Bytes::from(vec![i as u8; 10]),
        })
        .collect();
    let good = agg::encode(&records);
    assert_eq!(agg::decode(&good)?, records);

    let mut bad_magic = good.clone();
    bad_magic[0] ^= 0xff;
    assert!(
        matches!(agg::decode(&bad_magic), Err(AggError::NotAggregated)),
        "bad magic"
    );

    let mut bad_md5 = good.clone();
    let last = bad_md5.len() - 1;
    bad_md5[last] ^= 1;
    assert!(
        matches!(agg::decode(&bad_md5), Err(AggError::ChecksumMismatch)),
        "bad MD5"
    );

    let mut body_edited = good.clone();
    body_edited[10] ^= 1;
    assert!(
        matches!(agg::decode(&body_edited), Err(AggError::ChecksumMismatch)),
        "edited body"
    );

    let short = agg::frame_body(&[]);
    assert!(
        matches!(agg::decode(&short), Err(AggError::TooShort { len: 20 })),
        "no body"
    );
    assert!(
        matches!(agg::decode(&agg::MAGIC), Err(AggError::TooShort { len: 4 })),
        "magic only"
    );

    // Truncated protobuf, with a valid MD5 of the truncated body: cut inside a field.
    let body = &good[agg::MAGIC.len()..good.len() - agg::DIGEST_LEN];
    for cut in [1, body.len() / 2, body.len() - 1] {
        let truncated = agg::frame_body(&[&body[..cut]]);
        match agg::decode(&truncated) {
            Err(AggError::Protobuf(_) | AggError::MissingField { .. }) => {}
            other => panic!("truncated at {cut}: {other:?}"),
        }
    }
    // Garbage protobuf with a valid MD5.
    let garbage = agg::frame_body(&[&[0xff; 40]]);
    assert!(
        matches!(agg::decode(&garbage), Err(AggError::Protobuf(_))),
        "garbage body"
    );

    // Indexes out of range, with a valid MD5.
    for (row, pk, ehk, table) in [
        (
            "partition key index 1 of 1",
            1,
            None,
            agg::KeyTable::PartitionKey,
        ),
        (
            "partition key index 2^64-1",
            u64::MAX,
            None,
            agg::KeyTable::PartitionKey,
        ),
        (
            "explicit hash key index 5 of 1",
            0,
            Some(5),
            agg::KeyTable::ExplicitHashKey,
        ),
    ] {
        let blob = agg::frame_body(&[&body_with_indexes(pk, ehk)]);
        match agg::decode(&blob) {
            Err(AggError::KeyIndexOutOfRange {
                record: 0,
                table: t,
                ..
            }) => {
                assert_eq!(t, table, "{row}")
            }
            other => panic!("{row}: {other:?}"),
        }
        // The consumer's rule: the aggregate is real (its MD5 matched), the bad sub-record
        // and the rest are dropped.
        assert!(
            agg::deaggregate("outer", None, bytes::Bytes::from(blob)).is_empty(),
            "{row}"
        );
    }
    let fine = agg::frame_body(&[&body_with_indexes(0, Some(0))]);
    assert_eq!(agg::decode(&fine)?.len(), 1);

    // Whatever fails the frame checks comes back from `deaggregate` as one plain record.
    for (row, blob) in [
        ("bad magic", &bad_magic),
        ("bad md5", &bad_md5),
        ("short", &short),
        ("garbage", &garbage),
    ] {
        let out = agg::deaggregate("outer", Some("7"), bytes::Bytes::from(blob.clone()));
        assert_eq!(out.len(), 1, "{row}");
        assert_eq!(out[0].partition_key, "outer", "{row}");
        assert_eq!(&out[0].data[..], &blob[..], "{row}");
    }

    // Every single-byte edit and every truncation of a valid aggregate: no panic, and
    // `deaggregate` returns either the whole blob or sub-records.
    for i in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= flip;
            let _ = agg::decode(&b);
            let _ = agg::deaggregate("outer", None, bytes::Bytes::from(b));
        }
        let _ = agg::decode(&good[..i]);
        let _ = agg::deaggregate("outer", None, bytes::Bytes::copy_from_slice(&good[..i]));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Protocol.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn h18_wrong_content_type() -> TestResult {
    let s = Server::start().await;
    // AWS serves only its two amz encodings: a target of `service.operation` form under any
    // other content type (or none) is 404 with a message-less XML element; plain
    // `application/json` gets Coral's envelope.
    for (row, ct) in [
        ("text/plain", Some("text/plain")),
        ("absent", None),
        (
            "unknown version",
            Some("application/x-amz-json-9.9; charset=ebcdic"),
        ),
    ] {
        let r = post(&s.endpoint, Some("ListStreams"), ct, "{}").await?;
        assert_eq!(r.status, 404, "{row}: {r:?}");
        assert_eq!(r.body, b"<UnknownOperationException/>\n", "{row}");
    }
    let r = post(
        &s.endpoint,
        Some("ListStreams"),
        Some("application/json"),
        "{}",
    )
    .await?;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        r.json()?["Output"]["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    // A body in the other encoding than declared does not parse.
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(
        &ciborium::Value::Map(vec![(
            ciborium::Value::Text("StreamName".into()),
            ciborium::Value::Text("s".into()),
        )]),
        &mut cbor,
    )?;
    let r = post(&s.endpoint, Some("DescribeStream"), Some(JSON), cbor).await?;
    expect_error(
        "CBOR body sent as JSON",
        &r,
        400,
        "SerializationException",
        "",
    );
    let r = post(
        &s.endpoint,
        Some("DescribeStream"),
        Some(CBOR),
        r#"{"StreamName": "s"}"#,
    )
    .await?;
    expect_error(
        "JSON body sent as CBOR",
        &r,
        400,
        "SerializationException",
        "",
    );
    s.assert_serving().await
}

#[tokio::test]
async fn h19_unknown_targets() -> TestResult {
    let s = Server::start().await;
    // AWS answers all of these UnknownOperationException without a message.
    for (row, target) in [
        ("unknown operation", Some("Kinesis_20131202.DropTables")),
        ("other service", Some("DynamoDB_20120810.ListTables")),
        ("no operation", Some("Kinesis_20131202.")),
        ("lower case", Some("kinesis_20131202.ListStreams")),
        ("absent", None),
        (
            "enormous",
            Some(&*format!("Kinesis_20131202.{}", "A".repeat(10_000))),
        ),
    ] {
        let mut req = reqwest::Client::new()
            .post(format!("{}/", s.endpoint))
            .header("content-type", JSON)
            .body("{}");
        if let Some(t) = target {
            req = req.header("x-amz-target", t);
        }
        let resp = req.send().await?;
        let r = Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await?.to_vec(),
        };
        expect_bare_error(row, &r, 400, "UnknownOperationException");
    }
    // Not UTF-8.
    let req = [
        &b"POST / HTTP/1.1\r\nhost: rill\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: 2\r\nx-amz-target: Kinesis_20131202.\xff\xfe\r\n\r\n{}"[..],
    ]
    .concat();
    let r = raw(s.addr, &req).await?.ok_or("no answer")?;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error_type().as_deref(), Some("UnknownOperationException"));
    s.assert_serving().await
}

#[tokio::test]
async fn h20_non_post_methods() -> TestResult {
    let s = Server::start().await;
    let client = reqwest::Client::new();
    // AWS answers every method but POST, on any path, with a 403 XML AccessDeniedException.
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes())?,
                format!("{}/", s.endpoint),
            )
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .body("{}")
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 403, "{method}");
        let body = r.text().await?;
        assert!(
            body.starts_with("<AccessDeniedException>")
                && body.contains(
                    "<Message>Unable to determine service/operation name to be authorized</Message>"
                ),
            "{method}: {body}"
        );
    }
    // HEAD: the same status, no body.
    let r = client.head(format!("{}/", s.endpoint)).send().await?;
    assert_eq!(r.status().as_u16(), 403);
    // AWS ignores the path of a POST: /x/y/ and /health are Kinesis requests.
    for path in ["/x/y", "/health"] {
        let r = post(
            &format!("{}{path}", s.endpoint),
            Some("ListStreams"),
            Some(JSON),
            "{}",
        )
        .await?;
        assert_eq!(r.status, 200, "POST {path}/: {r:?}");
    }
    // A method that is not a token, and a request line that is not HTTP.
    let r = raw(s.addr, b"G(T / HTTP/1.1\r\nhost: rill\r\n\r\n").await?;
    assert_eq!(r.map(|r| r.status), Some(400));
    let r = raw(
        s.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage-like-tls\r\n\r\n",
    )
    .await?;
    assert!(
        r.is_none_or(|r| r.status == 400),
        "TLS handshake on the cleartext port"
    );
    s.assert_serving().await
}

#[tokio::test]
async fn h21_extreme_values() -> TestResult {
    let s = Server::start().await;
    s.create_stream("ext").await?;
    let sid = "shardId-000000000000";
    let mib = STANDARD.encode(vec![0u8; 1024 * 1024 + 1]);
    let many: Vec<Json> = (0..501)
        .map(|_| json!({"PartitionKey": "k", "Data": "AA=="}))
        .collect();
    let cases = [
        (
            "timestamp 1e300",
            "GetShardIterator",
            json!({"StreamName": "ext", "ShardId": sid, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1e300}),
            400,
            "InvalidArgumentException",
            "cannot be greater than",
        ),
        (
            "timestamp -1e300",
            "GetShardIterator",
            json!({"StreamName": "ext", "ShardId": sid, "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": -1e300}),
            200,
            "",
            "",
        ),
        (
            "shard id garbage",
            "GetShardIterator",
            json!({"StreamName": "ext", "ShardId": "shardId-99999999999999999999", "ShardIteratorType": "LATEST"}),
            400,
            "ResourceNotFoundException",
            "Could not find shard",
        ),
        (
            "shard id not a shard",
            "GetShardIterator",
            json!({"StreamName": "ext", "ShardId": "nope", "ShardIteratorType": "LATEST"}),
            400,
            "ResourceNotFoundException",
            "Could not find shard",
        ),
        (
            "limit -5",
            "GetRecords",
            json!({"ShardIterator": "x", "Limit": -5}),
            400,
            "ValidationException",
            "'limit'",
        ),
        (
            "limit 1e40",
            "GetRecords",
            json!({"ShardIterator": "x", "Limit": 1e40}),
            400,
            "ValidationException",
            "Value '2147483647' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000",
        ),
        (
            "next token forged",
            "ListShards",
            json!({"NextToken": "garbage"}),
            400,
            "InvalidArgumentException",
            "Invalid NextToken.",
        ),
        (
            "max results 0",
            "ListShards",
            json!({"StreamName": "ext", "MaxResults": 0}),
            400,
            "ValidationException",
            "'maxResults'",
        ),
        (
            "max results 100000",
            "ListShards",
            json!({"StreamName": "ext", "MaxResults": 100000}),
            400,
            "ValidationException",
            "'maxResults'",
        ),
        (
            "shard count 0",
            "CreateStream",
            json!({"StreamName": "ext0", "ShardCount": 0}),
            400,
            "ValidationException",
            "'shardCount'",
        ),
        (
            "shard count 2^31-1",
            "CreateStream",
            json!({"StreamName": "ext1", "ShardCount": 2147483647}),
            400,
            "LimitExceededException",
            "shard limit",
        ),
        (
            "retention 2^31-1",
            "IncreaseStreamRetentionPeriod",
            json!({"StreamName": "ext", "RetentionPeriodHours": 2147483647}),
            400,
            "InvalidArgumentException",
            "Maximum allowed retention period",
        ),
        (
            "record 1 MiB + 1",
            "PutRecord",
            json!({"StreamName": "ext", "PartitionKey": "k", "Data": mib}),
            400,
            "ValidationException",
            "'data'",
        ),
        (
            "501 entries",
            "PutRecords",
            json!({"StreamName": "ext", "Records": many}),
            400,
            "ValidationException",
            "'records'",
        ),
        (
            "0 entries",
            "PutRecords",
            json!({"StreamName": "ext", "Records": []}),
            400,
            "ValidationException",
            "'records'",
        ),
        (
            "split at garbage",
            "SplitShard",
            json!({"StreamName": "ext", "ShardToSplit": sid, "NewStartingHashKey": "x"}),
            400,
            "ValidationException",
            "'newStartingHashKey'",
        ),
        (
            "split at 2^128",
            "SplitShard",
            json!({"StreamName": "ext", "ShardToSplit": sid, "NewStartingHashKey": "340282366920938463463374607431768211456"}),
            400,
            "InvalidArgumentException",
            "NewStartingHashKey",
        ),
        (
            "merge with itself",
            "MergeShards",
            json!({"StreamName": "ext", "ShardToMerge": sid, "AdjacentShardToMerge": sid}),
            400,
            "InvalidArgumentException",
            "not an adjacent pair",
        ),
        (
            "update shard count 2^31-1",
            "UpdateShardCount",
            json!({"StreamName": "ext", "TargetShardCount": 2147483647, "ScalingType": "UNIFORM_SCALING"}),
            400,
            "ValidationException",
            "'targetShardCount'",
        ),
        (
            "consumer arn garbage",
            "SubscribeToShard",
            json!({"ConsumerARN": "arn:aws:kinesis:x:000000000000:stream/ext/consumer/c:1", "ShardId": sid, "StartingPosition": {"Type": "LATEST"}}),
            400,
            "ResourceNotFoundException",
            "not found",
        ),
        (
            "tags 1000",
            "AddTagsToStream",
            json!({"StreamName": "ext", "Tags": (0..1000).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            400,
            "ValidationException",
            "'tags'",
        ),
        (
            "policy garbage",
            "PutResourcePolicy",
            json!({"ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/ext", "Policy": "{not json"}),
            400,
            "InvalidArgumentException",
            "Invalid policy document",
        ),
    ];
    for (row, op, body, status, code, gist) in cases {
        let r = s.json(op, body).await?;
        if status == 200 {
            assert_eq!(r.status, 200, "{row}: {r:?}");
        } else {
            expect_error(row, &r, status, code, gist);
        }
    }
    s.assert_serving().await
}

#[tokio::test]
async fn h22_body_cut_short() -> TestResult {
    let s = Server::start().await;
    s.create_stream("cut").await?;
    // The head promises 1000 bytes; 20 come, then the client closes its sending side.
    let mut tcp = TcpStream::connect(s.addr).await?;
    tcp.write_all(head("PutRecord", "", 1000).as_bytes())
        .await?;
    tcp.write_all(br#"{"StreamName": "cut", "#).await?;
    tcp.shutdown().await?;
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut tcp))
        .await??
        .ok_or("no answer to a body cut short")?;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error_type().as_deref(), Some("SerializationException"));
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("Request body could not be read"), "{text}");
    // Nothing was written.
    let it = s.iterator("cut").await?;
    let r = s.json("GetRecords", json!({"ShardIterator": it})).await?;
    assert_eq!(r.json()?["Records"], json!([]));
    s.assert_serving().await
}
