//! The embedded `Engine` refuses a bad typed input exactly as `rill serve` refuses the same
//! input sent as a JSON body and as a CBOR body: same exception, same message (every
//! violation, in AWS's order and words). The cases are the constraints the engine's own
//! handler checks used to miss or word differently (lengths counted in UTF-16 units, ARN
//! and name patterns, nested members, list sizes, the order of several violations), and
//! the write path's, whose JSON requests skip the server's model walk.

mod common;

use common::{Served, serve_engine};
use rill_engine::EngineConfig;
use rill_engine::api::*;
use rill_engine::server::ServerConfig;
use serde_json::{Value as Json, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/s";

/// A served engine holding the stream `s`.
async fn serve() -> Result<Served, Box<dyn std::error::Error>> {
    let s = serve_engine(ServerConfig::default(), EngineConfig::default()).await?;
    s.engine
        .create_stream(CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(1),
            ..Default::default()
        })
        .await?;
    Ok(s)
}

/// The JSON tree as CBOR, with base64 `Data` members as byte strings (as SDKs send them).
fn to_cbor(v: &Json, key: Option<&str>) -> ciborium::Value {
    use base64::Engine as _;
    use ciborium::Value as Cbor;
    match v {
        Json::Null => Cbor::Null,
        Json::Bool(b) => Cbor::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(|i| Cbor::Integer(i.into()))
            .unwrap_or_else(|| Cbor::Float(n.as_f64().unwrap_or_default())),
        Json::String(s) if key == Some("Data") => Cbor::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default(),
        ),
        Json::String(s) => Cbor::Text(s.clone()),
        Json::Array(items) => Cbor::Array(items.iter().map(|i| to_cbor(i, None)).collect()),
        Json::Object(m) => Cbor::Map(
            m.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v, Some(k))))
                .collect(),
        ),
    }
}

/// The server's answer to `body` as JSON and as CBOR: (exception, message) each.
async fn served(
    endpoint: &str,
    op: &str,
    body: &Json,
) -> Result<[(String, String); 2], Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let post = |content_type: &'static str, bytes: Vec<u8>| {
        client
            .post(format!("{endpoint}/"))
            .header("x-amz-target", format!("Kinesis_20131202.{op}"))
            .header("content-type", content_type)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00",
            )
            .header("x-amz-date", "20260101T000000Z")
            .body(bytes)
            .send()
    };
    let json_answer = post("application/x-amz-json-1.1", serde_json::to_vec(body)?)
        .await?
        .bytes()
        .await?;
    let j: Json = serde_json::from_slice(&json_answer)?;
    let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
    let from_json = (
        text(&j["__type"]),
        text(j.get("message").unwrap_or(&j["Message"])),
    );
    let mut cbor_body = Vec::new();
    ciborium::ser::into_writer(&to_cbor(body, None), &mut cbor_body)?;
    let cbor_answer = post("application/x-amz-cbor-1.1", cbor_body)
        .await?
        .bytes()
        .await?;
    let c: ciborium::Value = ciborium::de::from_reader(&cbor_answer[..])?;
    let field = |name: &str| {
        c.as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_text() == Some(name)))
            .and_then(|(_, v)| v.as_text())
            .unwrap_or_default()
            .to_string()
    };
    let from_cbor = (field("__type"), {
        let m = field("message");
        if m.is_empty() { field("Message") } else { m }
    });
    Ok([from_json, from_cbor])
}

/// Calls `$method` on the embedded engine with `$body` read as its typed input, sends the
/// same body to the server as JSON and as CBOR, and asserts the three refusals are one.
macro_rules! same_refusal {
    ($s:expr, $op:literal, $method:ident, $body:expr) => {{
        let body: Json = $body;
        // The body as the failure messages show it (some are megabytes long).
        let shown: String = body.to_string().chars().take(300).collect();
        let input = serde_json::from_value(body.clone())?;
        let embedded = match $s.engine.$method(input).await {
            Ok(_) => panic!("{}: the embedded engine accepted {shown}", $op),
            Err(e) => (e.code().to_string(), e.message().to_string()),
        };
        let [json, cbor] = served(&$s.endpoint, $op, &body).await?;
        assert_eq!(embedded, json, "{}: embedded vs JSON for {shown}", $op);
        assert_eq!(embedded, cbor, "{}: embedded vs CBOR for {shown}", $op);
        assert_eq!(embedded.0, "ValidationException", "{}: {embedded:?}", $op);
        embedded.1
    }};
}

#[tokio::test]
async fn typed_inputs_are_refused_as_the_server_refuses_their_bodies() -> TestResult {
    let s = serve().await?;
    let astral_key = "\u{20000}".repeat(65); // 65 chars, 130 UTF-16 units
    let consumer = format!("{ARN}/consumer/c:1700000000");

    same_refusal!(
        s,
        "DescribeStreamConsumer",
        describe_stream_consumer,
        json!({"StreamARN": "not-an-arn", "ConsumerName": "bad name"})
    );
    same_refusal!(
        s,
        "DeregisterStreamConsumer",
        deregister_stream_consumer,
        json!({"ConsumerARN": "a".repeat(2049)})
    );
    same_refusal!(
        s,
        "GetRecords",
        get_records,
        json!({"ShardIterator": "AAAA", "StreamARN": "not-an-arn"})
    );
    same_refusal!(
        s,
        "ListShards",
        list_shards,
        json!({"StreamName": "s", "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "bad id!"}})
    );
    same_refusal!(
        s,
        "ListStreamConsumers",
        list_stream_consumers,
        json!({"StreamARN": ARN, "NextToken": ""})
    );
    same_refusal!(
        s,
        "SubscribeToShard",
        subscribe_to_shard,
        json!({"ConsumerARN": consumer, "ShardId": "shardId-000000000000",
               "StartingPosition": {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "abc"}})
    );
    let m = same_refusal!(
        s,
        "AddTagsToStream",
        add_tags_to_stream,
        json!({"StreamName": "s", "Tags": {astral_key.clone(): "v"}})
    );
    assert!(m.contains("128"), "the key is 130 UTF-16 units: {m}");
    same_refusal!(
        s,
        "RemoveTagsFromStream",
        remove_tags_from_stream,
        json!({"StreamName": "s", "TagKeys": [astral_key]})
    );
    same_refusal!(
        s,
        "TagResource",
        tag_resource,
        json!({"ResourceARN": format!("{ARN}/consumer/ x"), "Tags": {"a": "b"}})
    );
    same_refusal!(
        s,
        "EnableEnhancedMonitoring",
        enable_enhanced_monitoring,
        json!({"StreamName": "bad name!", "ShardLevelMetrics": ["Nope"]})
    );
    // Several violations: in the model's order, whatever order the handler checks in.
    let m = same_refusal!(
        s,
        "GetShardIterator",
        get_shard_iterator,
        json!({"StreamName": "bad name!", "ShardId": "bad id!", "ShardIteratorType": "AT_SEQUENCE_NUMBER",
               "StartingSequenceNumber": "x", "StreamARN": "not-an-arn"})
    );
    assert!(m.starts_with("4 validation errors detected"), "{m}");
    same_refusal!(
        s,
        "SplitShard",
        split_shard,
        json!({"StreamName": "bad name!", "ShardToSplit": "", "NewStartingHashKey": "x", "StreamARN": "arn"})
    );
    Ok(())
}

/// PutRecord(s) in JSON take the server's fast lane (no model walk), CBOR the model's path,
/// the embedded engine its handler: the three refuse alike.
#[tokio::test]
async fn the_write_path_refuses_alike_on_every_lane() -> TestResult {
    use base64::Engine as _;
    let s = serve().await?;
    let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
    // Members of an entry in the model's order: PartitionKey, ExplicitHashKey, Data.
    let m = same_refusal!(
        s,
        "PutRecords",
        put_records,
        json!({"StreamName": "s", "Records": [
            {"PartitionKey": "", "ExplicitHashKey": "x", "Data": b64(10 * 1024 * 1024 + 1)}]})
    );
    let (key, hash, data) = (
        m.find("partitionKey"),
        m.find("explicitHashKey"),
        m.find("member.data"),
    );
    assert!(key.is_some() && key < hash && hash < data, "{m}");
    assert!(m.contains("less than or equal to 10485760"), "{m}");
    // More than 500 entries.
    let entries: Vec<Json> = (0..501)
        .map(|i| json!({"PartitionKey": format!("k{i}"), "Data": b64(1)}))
        .collect();
    same_refusal!(
        s,
        "PutRecords",
        put_records,
        json!({"StreamName": "s", "Records": entries})
    );
    same_refusal!(
        s,
        "PutRecord",
        put_record,
        json!({"StreamName": "bad name!", "PartitionKey": "", "Data": b64(10 * 1024 * 1024 + 1),
               "SequenceNumberForOrdering": "x"})
    );
    // Over the stream's record size but within the model's: the handler's own check, alike.
    let m = same_refusal!(
        s,
        "PutRecord",
        put_record,
        json!({"StreamName": "s", "PartitionKey": "k", "Data": b64(1024 * 1024 + 1)})
    );
    assert!(m.contains("less than or equal to 1048576"), "{m}");
    Ok(())
}
