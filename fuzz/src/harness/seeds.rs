//! Seed inputs per target.

use super::requests::OPERATIONS;
use super::store::*;
use super::*;

/// Meaningful seed inputs per target (target name, file name, bytes), written to
/// `fuzz/corpus/<target>/` by `RILL_FUZZ_WRITE_SEEDS=1 cargo test --test fuzz_corpus`.
pub fn seeds(kpl_vectors: Option<&Json>) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();

    // agg: the reference vectors, the encoder's output, and bodies without framing.
    if let Some(vectors) = kpl_vectors
        .and_then(|v| v.get("vectors"))
        .and_then(Json::as_array)
    {
        for (i, v) in vectors.iter().enumerate() {
            if let Some(hex) = v.get("aggregate_hex").and_then(Json::as_str)
                && let Some(blob) = from_hex(hex)
            {
                out.push(("agg", format!("vector-{i:02}"), blob.clone()));
                if blob.len() > agg::OVERHEAD {
                    let body = blob[4..blob.len() - 16].to_vec();
                    out.push(("agg", format!("vector-{i:02}-body"), body));
                }
            }
        }
    }
    let records: Vec<UserRecord> = (0..5)
        .map(|i| UserRecord {
            partition_key: format!("key-{}", i % 3),
            explicit_hash_key: (i % 2 == 1).then(|| format!("{}", 1u128 << (100 + i))),
            data: Bytes::from(vec![i as u8; i * 7]),
        })
        .collect();
    let blob = agg::encode(&records);
    out.push(("agg", "encoded-5".into(), blob.clone()));
    out.push((
        "agg",
        "encoded-5-body".into(),
        blob[4..blob.len() - 16].to_vec(),
    ));
    out.push(("agg", "plain".into(), b"just a record".to_vec()));

    // Requests: a typical body per operation, JSON and CBOR.
    let bodies: &[(&str, Json)] = &[
        (
            "CreateStream",
            serde_json::json!({"StreamName": "s", "ShardCount": 2}),
        ),
        (
            "DescribeStream",
            serde_json::json!({"StreamName": "s", "Limit": 10}),
        ),
        (
            "ListShards",
            serde_json::json!({"StreamName": "s", "ShardFilter": {"Type": "AT_TIMESTAMP", "Timestamp": 1700000000.5}}),
        ),
        (
            "PutRecord",
            serde_json::json!({"StreamName": "s", "PartitionKey": "k", "Data": "aGVsbG8=", "ExplicitHashKey": "1"}),
        ),
        (
            "PutRecords",
            serde_json::json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "Records": [{"PartitionKey": "a", "Data": "AA=="}, {"PartitionKey": "b", "Data": ""}]}),
        ),
        (
            "GetShardIterator",
            serde_json::json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1700000000}),
        ),
        (
            "GetRecords",
            serde_json::json!({"ShardIterator": "AAAA", "Limit": 100}),
        ),
        (
            "AddTagsToStream",
            serde_json::json!({"StreamName": "s", "Tags": {"a": "b"}}),
        ),
        (
            "SplitShard",
            serde_json::json!({"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "170141183460469231731687303715884105728"}),
        ),
        (
            "SubscribeToShard",
            serde_json::json!({"ConsumerARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1", "ShardId": "shardId-000000000000", "StartingPosition": {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": "49590338271490256608559692538361571095921575989136588898"}}),
        ),
        (
            "UpdateShardCount",
            serde_json::json!({"StreamName": "s", "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}),
        ),
        (
            "EnableEnhancedMonitoring",
            serde_json::json!({"StreamName": "s", "ShardLevelMetrics": ["ALL"]}),
        ),
        (
            "PutResourcePolicy",
            serde_json::json!({"ResourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "Policy": "{\"Version\":\"2012-10-17\"}"}),
        ),
        (
            "UpdateStreamMode",
            serde_json::json!({"StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}),
        ),
    ];
    for (op, body) in bodies {
        let Some(pick) = OPERATIONS.iter().position(|o| o == op) else {
            continue;
        };
        for (target, codec) in [("request_json", Codec::Json), ("request_cbor", Codec::Cbor)] {
            let mut bytes = vec![pick as u8];
            bytes.extend(codec.encode(body));
            out.push((target, op.to_string(), bytes));
        }
    }

    // Event streams: scripts from fixed inputs, for both codecs; for decoding, rill's frames.
    let mut script_bytes = vec![2u8];
    for e in 0..2u8 {
        script_bytes.push(2 + e); // records
        for r in 0..2 + e {
            script_bytes.push(1 | (r << 1)); // arrival time and encryption type
            script_bytes.extend_from_slice(b"\x0849590338");
            script_bytes.extend_from_slice(&[0x10, 0x70, 0x8f, 0x1a, 0x33, 0x88, 0x01, 0, 0]);
            script_bytes.extend_from_slice(b"\x05hello");
            script_bytes.extend_from_slice(b"\x04pk-1");
        }
        script_bytes.push(e); // child shards on the second event
        if e == 1 {
            script_bytes.extend_from_slice(b"\x02");
            script_bytes.extend_from_slice(b"\x0cshardId-0001\x01\x0cshardId-0000");
            script_bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
            script_bytes.extend_from_slice(b"\x0cshardId-0002\x00");
            script_bytes.extend_from_slice(&[0; 16]);
        }
        script_bytes.extend_from_slice(b"\x0449590");
        script_bytes.extend_from_slice(&[10, 0, 3, 0]);
    }
    script_bytes.push(2); // LimitExceededException
    script_bytes.extend_from_slice(b"\x08too many");
    for (codec, chunk) in [(0u8, 0u8), (1, 7)] {
        let mut b = vec![codec, chunk];
        b.extend_from_slice(&script_bytes);
        out.push((
            "eventstream_roundtrip",
            format!("two-events-codec{codec}"),
            b,
        ));
    }
    out.push(("eventstream_roundtrip", "empty".into(), vec![0, 255, 0, 9]));
    let frames = {
        use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
        let mut out = Vec::new();
        for (kind, payload) in [
            ("initial-response", b"{}".to_vec()),
            (
                "SubscribeToShardEvent",
                br#"{"Records":[{"SequenceNumber":"1","Data":"aGk=","PartitionKey":"k","ApproximateArrivalTimestamp":1700000000.5}],"ContinuationSequenceNumber":"1","MillisBehindLatest":0}"#.to_vec(),
            ),
        ] {
            let m = Message::new(payload)
                .add_header(Header::new(":message-type", HeaderValue::String("event".into())))
                .add_header(Header::new(":event-type", HeaderValue::String(kind.into())))
                .add_header(Header::new(
                    ":content-type",
                    HeaderValue::String("application/x-amz-json-1.1".into()),
                ));
            aws_smithy_eventstream::frame::write_message_to(&m, &mut out)
                .expect("a message encodes");
        }
        out
    };
    for chunk in [0u8, 16, 255] {
        let mut b = vec![chunk];
        b.extend_from_slice(&frames);
        out.push((
            "eventstream_decode",
            format!("initial-and-event-chunk{chunk}"),
            b,
        ));
    }
    let mut exception = vec![3u8];
    {
        use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
        let m = Message::new(&br#"{"message":"slow down"}"#[..])
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("exception".into()),
            ))
            .add_header(Header::new(
                ":exception-type",
                HeaderValue::String("LimitExceededException".into()),
            ))
            .add_header(Header::new(":flag", HeaderValue::Bool(true)))
            .add_header(Header::new(":n", HeaderValue::Int64(-5)))
            .add_header(Header::new(
                ":b",
                HeaderValue::ByteArray(Bytes::from_static(b"\x00\x01")),
            ));
        aws_smithy_eventstream::frame::write_message_to(&m, &mut exception)
            .expect("a message encodes");
    }
    out.push(("eventstream_decode", "exception".into(), exception));

    // Store: segment files written by the log itself, raw (newest and sealed) and damaged.
    let dir = fuzz_dir();
    {
        let log = open_log(dir.path(), 1 << 20).expect("open a new log");
        for i in 0..6u32 {
            let _ = log
                .append(vec![AppendRecord {
                    shard: i % 3,
                    partition_key: format!("key-{i}"),
                    data: Bytes::from(vec![b'x'; i as usize * 5]),
                    flags: (i % 2) as u8,
                }])
                .blocking_recv();
        }
        log.close();
    }
    if let Ok(segment) = std::fs::read(segment_file(dir.path(), 0)) {
        for mode in [0u8, 2] {
            let mut b = vec![mode];
            b.extend_from_slice(&segment);
            out.push(("store_recovery", format!("segment-mode{mode}"), b.clone()));
            b.truncate(b.len() - 5);
            out.push(("store_recovery", format!("torn-segment-mode{mode}"), b));
        }
    }
    let mut damaged = vec![1u8, 8, 3];
    for i in 0..3u8 {
        damaged.extend_from_slice(&[2, i, 4, b'k', b'e', b'y', i, 20]);
        damaged.extend_from_slice(&[i; 20]);
        damaged.extend_from_slice(&[i + 1, 4, b'k', b'e', b'y', i, 3, 1, 2, 3]);
    }
    damaged.extend_from_slice(&[2, 0, 40, 0, 0, 0xff, 1, 0, 7, 0, 2, 0]);
    out.push(("store_recovery", "damaged-log".into(), damaged));
    out
}

pub(super) fn from_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}
