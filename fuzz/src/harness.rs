//! The fuzz harnesses: the body each cargo-fuzz target in `fuzz/fuzz_targets/` runs on one
//! input.
//!
//! This file is compiled twice: as `rill_fuzz::harness` for the fuzz targets, and into the
//! workspace test `engine/tests/fuzz_corpus.rs` (by `#[path]`), which replays every committed
//! corpus and regression input through the same functions on the stable toolchain. It uses
//! only rill-engine's public API and the crates both builds have.
//!
//! A harness returns normally for every input that rill handles correctly, including inputs
//! it rejects with an error; it panics only when an invariant of rill is broken.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use rill_engine::api::agg::{self, AggError, UserRecord};
use rill_engine::api::*;
use rill_engine::server::codec::Codec;
use rill_engine::store::{AppendRecord, FsyncPolicy, LogConfig, StoreError, StreamLog};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// A harness: runs one fuzz input.
pub type Harness = fn(&[u8]);

/// The fuzz targets, each the name of a directory under `fuzz/corpus/` and
/// `fuzz/regressions/`, with its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("agg", agg),
    ("request_json", request_json),
    ("request_cbor", request_cbor),
    ("eventstream_roundtrip", eventstream_roundtrip),
    ("eventstream_decode", eventstream_decode),
    ("store_recovery", store_recovery),
];

// ------------------------------------------------------------------------- input reader

/// Reads structured values off the front of a fuzz input; past its end every read is zero.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// Up to `max` bytes, the count taken from the next byte.
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (self.u8() as usize).min(max).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A string of up to `max` bytes of input (invalid UTF-8 replaced).
    fn string(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// ------------------------------------------------------------------------- agg

/// KPL aggregate decoder: the input as a Kinesis record's data, and the input as the
/// protobuf body of an aggregate with a valid magic and digest (which random bytes almost
/// never have).
///
/// Invariants: [`agg::decode`] and [`agg::deaggregate`] agree (the same records when it
/// decodes; the records before the bad one on a bad key index; the blob itself as one plain
/// record otherwise), and the canonical encoding of decoded records decodes to the same
/// records.
pub fn agg(data: &[u8]) {
    check_aggregate(data);
    check_aggregate(&agg::frame_body(&[data]));
}

fn check_aggregate(blob: &[u8]) {
    let decoded = agg::decode(blob);
    let de = agg::deaggregate("container-key", Some("42"), Bytes::copy_from_slice(blob));
    match decoded {
        Ok(records) => {
            assert_eq!(de, records, "deaggregate disagrees with decode");
            if !records.is_empty() {
                let again = agg::decode(&agg::encode(&records))
                    .expect("the encoding of decoded records decodes");
                assert_eq!(
                    again, records,
                    "encode/decode round trip changed the records"
                );
            }
        }
        Err(AggError::KeyIndexOutOfRange { record, .. }) => {
            assert_eq!(
                de.len(),
                record,
                "deaggregate must keep exactly the sub-records before the bad key index"
            );
        }
        Err(_) => {
            let plain = UserRecord {
                partition_key: "container-key".into(),
                explicit_hash_key: Some("42".into()),
                data: Bytes::copy_from_slice(blob),
            };
            assert_eq!(de, vec![plain], "a non-aggregate must come back as itself");
        }
    }
}

// ------------------------------------------------------------------------- requests

/// Decodes a request body as the server does for an operation's input type: JSON straight
/// into the type (the fast path), else through [`Codec::decode`]'s value tree, which must be
/// an object.
pub fn decode_request<I: DeserializeOwned>(codec: Codec, body: &[u8]) -> Result<I, String> {
    if codec == Codec::Json
        && let Ok(input) = serde_json::from_slice::<I>(body)
    {
        return Ok(input);
    }
    let value = codec.decode(body)?;
    if !value.is_object() {
        return Err("Start of structure or map expected".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

/// The request harnesses' operations, from the operation table: every operation, the first
/// input byte picking one (modulo the count).
macro_rules! operations {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        operations!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        /// The operations the request harnesses decode bodies for; the first input byte
        /// picks one (modulo the count).
        pub const OPERATIONS: &[&str] = &[$(stringify!($op)),+];

        fn decode_operation(codec: Codec, op: &str, body: &[u8]) {
            match op {
                $(stringify!($op) => check_request::<$input>(codec, op, body),)+
                _ => {}
            }
        }
    };
}

rill_engine::kinesis_operations!(operations);

/// JSON request decoder: first byte picks the operation, the rest is the body.
pub fn request_json(data: &[u8]) {
    request(Codec::Json, data);
}

/// CBOR request decoder: first byte picks the operation, the rest is the body.
pub fn request_cbor(data: &[u8]) {
    request(Codec::Cbor, data);
}

fn request(codec: Codec, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = OPERATIONS[pick as usize % OPERATIONS.len()];
    // The value tree alone, as the server decodes every body for authorization.
    let _ = codec.decode(body);
    decode_operation(codec, op, body);
}

/// Invariants: decoding never panics; for JSON the fast path and the value-tree path agree;
/// a decoded input's value tree survives both codecs' encode/decode unchanged, and decodes
/// into the same input again.
fn check_request<I>(codec: Codec, op: &str, body: &[u8])
where
    I: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let Ok(input) = decode_request::<I>(codec, body) else {
        return;
    };
    // When both JSON paths decode a body, they agree. (The fast path may accept more: it
    // skips unknown members without checking their string escapes, which the value tree
    // rejects, such as a lone surrogate `"\udc00"`.)
    if codec == Codec::Json
        && let Ok(fast) = serde_json::from_slice::<I>(body)
        && let Ok(slow) = codec
            .decode(body)
            .and_then(|v| serde_json::from_value::<I>(v).map_err(|e| e.to_string()))
    {
        assert_eq!(
            slow, fast,
            "{op}: the JSON fast path and the value-tree path disagree"
        );
    }
    let value = serde_json::to_value(&input).expect("a decoded input serializes");
    for c in [Codec::Json, Codec::Cbor] {
        let bytes = c.encode(&value);
        let tree = c
            .decode(&bytes)
            .unwrap_or_else(|e| panic!("{op}: {c:?} encoding of a decoded input: {e}"));
        assert_eq!(
            tree, value,
            "{op}: {c:?} encode/decode changed the value tree"
        );
        let again = decode_request::<I>(c, &bytes)
            .unwrap_or_else(|e| panic!("{op}: {c:?} re-encoded input does not decode: {e}"));
        let again = serde_json::to_value(&again).expect("a decoded input serializes");
        let twice = decode_request::<I>(c, &c.encode(&again))
            .unwrap_or_else(|e| panic!("{op}: {c:?} re-encoded input does not decode: {e}"));
        assert_eq!(
            serde_json::to_value(&twice).ok(),
            Some(again),
            "{op}: {c:?} re-encoding is not stable"
        );
    }
}

// ------------------------------------------------------------------------- event stream

/// A Kinesis service that answers SubscribeToShard with scripted events (looked up by the
/// consumer ARN) and nothing else.
#[derive(Default)]
struct Scripted {
    scripts: Mutex<HashMap<String, Script>>,
}

/// The events of one subscription, and the error that ends it, if any.
#[derive(Debug, Clone)]
struct Script {
    events: Vec<SubscribeToShardEvent>,
    error: Option<(String, String)>,
}

fn unsupported() -> Error {
    Error::InvalidArgument("the fuzz service answers SubscribeToShard only".into())
}

impl Scripted {
    /// SubscribeToShard: the script registered for the consumer ARN.
    fn subscribe(&self, input: SubscribeToShardInput) -> Result<SubscribeToShardStream> {
        let script = self
            .scripts
            .lock()
            .expect("scripts lock")
            .remove(&input.consumer_arn)
            .ok_or_else(|| Error::ResourceNotFound(input.consumer_arn.clone()))?;
        let items: Vec<Result<SubscribeToShardEvent>> = script
            .events
            .into_iter()
            .map(Ok)
            .chain(
                script
                    .error
                    .map(|(code, m)| Err(Error::from_code(&code, m))),
            )
            .collect();
        Ok(Box::pin(futures::stream::iter(items)))
    }
}

/// The body of a [`Scripted`] method: SubscribeToShard plays a script, anything else is
/// refused.
macro_rules! scripted_call {
    ($self:ident, SubscribeToShard, $input:ident) => {
        $self.subscribe($input)
    };
    ($self:ident, $op:ident, $input:ident) => {{
        let _ = $input;
        Err(unsupported())
    }};
}

/// `impl Kinesis for Scripted`, from the operation table.
macro_rules! scripted_impl {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        scripted_impl!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        #[async_trait]
        impl Kinesis for Scripted {
            $(
                async fn $method(&self, input: $input) -> Result<$output> {
                    scripted_call!(self, $op, input)
                }
            )*
        }
    };
}

rill_engine::kinesis_operations!(scripted_impl);

/// One process-wide runtime with two local servers: rill's HTTP server over [`Scripted`],
/// and a server that answers every request with the raw bytes registered for the request's
/// consumer ARN.
struct Servers {
    rt: tokio::runtime::Runtime,
    scripted: Arc<Scripted>,
    raw: Arc<Mutex<HashMap<String, Bytes>>>,
    rill_url: String,
    http: reqwest::Client,
    /// The client rill's consumer (`rill-kcl` over [`rill_engine::Remote`]) reads
    /// subscriptions with, pointed at rill's server and at the raw server.
    remote_rill: rill_engine::Remote,
    remote_raw: rill_engine::Remote,
}

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let scripted = Arc::new(Scripted::default());
        let raw: Arc<Mutex<HashMap<String, Bytes>>> = Arc::default();
        let (rill_addr, raw_addr) = rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let rill_addr = l.local_addr().expect("local address");
            let kinesis: Arc<dyn Kinesis> = scripted.clone();
            tokio::spawn(rill_engine::server::serve(
                l,
                kinesis,
                rill_engine::server::ServerConfig::default(),
                std::future::pending(),
            ));
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let raw_addr = l.local_addr().expect("local address");
            let map = raw.clone();
            let app = axum::Router::new().fallback(move |body: Bytes| {
                let map = map.clone();
                async move { raw_response(&map, &body) }
            });
            tokio::spawn(async move { axum::serve(l, app).await });
            (rill_addr, raw_addr)
        });
        Servers {
            scripted,
            raw,
            rill_url: format!("http://{rill_addr}"),
            http: reqwest::Client::new(),
            remote_rill: remote_client(&format!("http://{rill_addr}")),
            remote_raw: remote_client(&format!("http://{raw_addr}")),
            rt,
        }
    })
}

fn raw_response(map: &Mutex<HashMap<String, Bytes>>, body: &[u8]) -> axum::response::Response {
    let arn = serde_json::from_slice::<Json>(body)
        .ok()
        .and_then(|v| {
            v.get("ConsumerARN")
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let bytes = map
        .lock()
        .expect("raw lock")
        .remove(&arn)
        .unwrap_or_default();
    let mut resp = axum::response::Response::new(axum::body::Body::from(bytes));
    resp.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    resp
}

/// An SDK client as rill's consumer uses one, without retries (a scripted subscription can
/// be consumed once) and timeouts.
fn remote_client(url: &str) -> rill_engine::Remote {
    use aws_sdk_kinesis::config::{
        BehaviorVersion, Credentials, Region, retry::RetryConfig, timeout::TimeoutConfig,
    };
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::from_static("us-east-1"))
        .credentials_provider(Credentials::new("rill", "rill", None, None, "fuzz"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        // No connect timeout either: a loaded test machine must not turn into a failure.
        .timeout_config(TimeoutConfig::disabled())
        .build();
    rill_engine::Remote::new(aws_sdk_kinesis::Client::from_conf(conf))
}

fn unique_arn() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "arn:aws:kinesis:us-east-1:000000000000:stream/fuzz/consumer/c{}:1",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn subscribe_input(arn: &str) -> SubscribeToShardInput {
    SubscribeToShardInput {
        consumer_arn: arn.to_string(),
        shard_id: "shardId-000000000000".into(),
        starting_position: StartingPosition {
            position_type: ShardIteratorType::Latest,
            sequence_number: None,
            timestamp: None,
        },
    }
}

const ERROR_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceInUseException",
    "LimitExceededException",
    "InvalidArgumentException",
    "InternalFailure",
    "KMSThrottlingException",
];

/// Builds a subscription script from fuzz input: up to 4 events of up to 4 records with
/// arbitrary keys, payloads and sequence-number strings, arrival times in the range a server
/// stamps (epoch milliseconds up to the year 2100), and maybe a terminal error.
fn script(input: &mut Input<'_>) -> Script {
    let mut events = Vec::new();
    for _ in 0..input.u8() % 5 {
        let mut records = Vec::new();
        for _ in 0..input.u8() % 5 {
            let flags = input.u8();
            records.push(Record {
                sequence_number: input.string(64),
                approximate_arrival_timestamp: (flags & 1 == 1)
                    .then(|| Timestamp((input.u64() % 4_102_444_800_000) as i64)),
                data: Bytes::copy_from_slice(input.bytes(255)),
                partition_key: input.string(64),
                encryption_type: match flags >> 1 & 3 {
                    1 => Some(EncryptionType::None),
                    2 => Some(EncryptionType::Kms),
                    _ => None,
                },
            });
        }
        let child_shards = (input.u8() & 1 == 1).then(|| {
            (0..input.u8() % 3)
                .map(|_| ChildShard {
                    shard_id: input.string(32),
                    parent_shards: (0..input.u8() % 3).map(|_| input.string(32)).collect(),
                    hash_key_range: rill_engine::api::types::HashKeyRange {
                        starting_hash_key: input.u64().to_string(),
                        ending_hash_key: u128::from(input.u64()).pow(2).to_string(),
                    },
                })
                .collect()
        });
        events.push(SubscribeToShardEvent {
            records,
            continuation_sequence_number: input.string(64),
            millis_behind_latest: i64::from(input.u16()) * i64::from(input.u16()),
            child_shards,
        });
    }
    let error = match input.u8() {
        e @ 0..=5 => Some((ERROR_CODES[e as usize].to_string(), input.string(64))),
        _ => None,
    };
    Script { events, error }
}

/// Event-stream round trip: events made from the input are served by rill's HTTP server
/// (its SubscribeToShard encoder, in JSON or CBOR by the first byte) and decoded twice: frame
/// by frame with aws-smithy-eventstream's `MessageFrameDecoder` (the body split into chunks
/// whose sizes come from the input), and by the AWS SDK as rill's consumer reads a
/// subscription ([`rill_engine::Remote`], JSON only: the SDK speaks JSON).
///
/// Invariants: an `initial-response` event, then one `SubscribeToShardEvent` per event with
/// exactly the events' contents, then the scripted error as an `exception` message; the SDK
/// delivers the same events and error.
pub fn eventstream_roundtrip(data: &[u8]) {
    let mut input = Input::new(data);
    let codec = if input.u8() & 1 == 0 {
        Codec::Json
    } else {
        Codec::Cbor
    };
    let chunk = usize::from(input.u8()) + 1;
    let script = script(&mut input);
    let s = servers();

    // Frame by frame.
    let arn = unique_arn();
    s.scripted
        .scripts
        .lock()
        .expect("scripts lock")
        .insert(arn.clone(), script.clone());
    let request = serde_json::to_value(subscribe_input(&arn)).expect("request serializes");
    let body = s.rt.block_on(async {
        let resp = s
            .http
            .post(&s.rill_url)
            .header("content-type", codec.content_type())
            .header("x-amz-target", "Kinesis_20131202.SubscribeToShard")
            .body(codec.encode(&request))
            .send()
            .await
            .expect("SubscribeToShard request");
        assert!(resp.status().is_success(), "status {}", resp.status());
        resp.bytes().await.expect("SubscribeToShard body")
    });
    let (decoded, clean) = decode_frames(&body, chunk);
    assert!(clean, "rill's event stream does not decode cleanly");
    let mut again = Vec::new();
    for (m, _) in &decoded {
        again.extend(encode_message(m));
    }
    assert_eq!(&again[..], &body[..], "rill's frames are not canonical");
    let messages: Vec<_> = decoded.into_iter().map(|(m, _)| m).collect();
    let header = |m: &aws_smithy_types::event_stream::Message, name: &str| {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|v| v.as_str().to_string())
    };
    let expected = 1 + script.events.len() + usize::from(script.error.is_some());
    assert_eq!(messages.len(), expected, "one message per event");
    for m in &messages {
        assert_eq!(
            header(m, ":content-type").as_deref(),
            Some(codec.content_type())
        );
    }
    assert_eq!(
        header(&messages[0], ":event-type").as_deref(),
        Some("initial-response")
    );
    for (m, event) in messages[1..].iter().zip(&script.events) {
        assert_eq!(header(m, ":message-type").as_deref(), Some("event"));
        assert_eq!(
            header(m, ":event-type").as_deref(),
            Some("SubscribeToShardEvent")
        );
        let value = codec.decode(m.payload()).expect("event payload decodes");
        let got: SubscribeToShardEvent =
            serde_json::from_value(value).expect("event payload is a SubscribeToShardEvent");
        assert_eq!(&got, event, "event changed on the wire");
    }
    if let Some((code, message)) = &script.error {
        let m = messages.last().expect("messages");
        assert_eq!(header(m, ":message-type").as_deref(), Some("exception"));
        assert_eq!(header(m, ":exception-type"), Some(code.clone()));
        let value = codec
            .decode(m.payload())
            .expect("exception payload decodes");
        assert_eq!(
            value.get("message").and_then(Json::as_str),
            Some(message.as_str())
        );
    }

    // As rill's consumer reads it.
    let arn = unique_arn();
    s.scripted
        .scripts
        .lock()
        .expect("scripts lock")
        .insert(arn.clone(), script.clone());
    let (events, error) = s.rt.block_on(collect(&s.remote_rill, &arn));
    assert_eq!(
        events, script.events,
        "events changed between rill and its consumer"
    );
    match (&error, &script.error) {
        (None, None) => {}
        (Some(got), Some((code, _))) => {
            // For an `exception` message the SDK's error metadata may have no code: `Remote`
            // then reads the raw message's `:exception-type` header (a regression input
            // covers it).
            let kept = got.code() == code;
            assert!(kept, "error {code} reached rill's consumer as {got:?}");
        }
        (got, want) => panic!("error changed between rill and its consumer: {got:?} != {want:?}"),
    }
}

/// Subscribes with `remote` and collects the events until the stream ends or fails.
async fn collect(
    remote: &rill_engine::Remote,
    arn: &str,
) -> (Vec<SubscribeToShardEvent>, Option<Error>) {
    use futures::StreamExt;
    let mut stream = match remote.subscribe_to_shard(subscribe_input(arn)).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(e) => events.push(e),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

/// Event-stream messages decoded from `bytes` fed to the decoder `chunk` bytes at a time,
/// each with the range of `bytes` it was decoded from, and whether decoding consumed every
/// byte without error (else the messages before the first bad or incomplete frame).
type Decoded = (
    Vec<(aws_smithy_types::event_stream::Message, Range<usize>)>,
    bool,
);

fn decode_frames(bytes: &[u8], chunk: usize) -> Decoded {
    use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
    let mut decoder = MessageFrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    // Bytes the decoder took from `buf`, and where the last whole message ended.
    let (mut consumed, mut end) = (0usize, 0usize);
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            let frame = decoder.decode_frame(&mut buf);
            consumed += before - buf.len();
            match frame {
                Ok(DecodedFrame::Complete(m)) => {
                    out.push((m, end..consumed));
                    end = consumed;
                }
                Ok(DecodedFrame::Incomplete) => break,
                Err(_) => return (out, false),
            }
        }
    }
    let clean = buf.is_empty() && consumed == end && end == bytes.len();
    (out, clean)
}

/// Re-encodes `m` with aws-smithy-eventstream's encoder.
fn encode_message(m: &aws_smithy_types::event_stream::Message) -> Vec<u8> {
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(m, &mut out)
        .expect("a decoded message encodes");
    out
}

/// Event-stream decoding of arbitrary bytes (after a first byte that sets the chunk size):
/// with aws-smithy-eventstream's `MessageFrameDecoder`, and as the body of a SubscribeToShard
/// response read by rill's consumer (the AWS SDK's event-stream receiver and unmarshaller
/// behind [`rill_engine::Remote`]).
///
/// Invariants: no panic and no hang; every message decoded re-encodes to bytes that decode
/// to the bytes it was decoded from.
pub fn eventstream_decode(data: &[u8]) {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let (messages, _) = decode_frames(bytes, usize::from(chunk) + 1);
    for (m, range) in &messages {
        assert_eq!(
            encode_message(m),
            &bytes[range.clone()],
            "a decoded message re-encodes to other bytes"
        );
    }

    let s = servers();
    let arn = unique_arn();
    s.raw
        .lock()
        .expect("raw lock")
        .insert(arn.clone(), Bytes::copy_from_slice(bytes));
    let (_events, _error) = s.rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(120),
            collect(&s.remote_raw, &arn),
        )
        .await
        .expect("the consumer's decoder hangs on a finished body")
    });
}

// ------------------------------------------------------------------------- store

const CLOCK_MS: i64 = 1_700_000_000_000;

fn fuzz_dir() -> tempfile::TempDir {
    // tmpfs when there is one: recovery syncs what it truncates.
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("rill-fuzz").tempdir_in(shm)
    {
        return d;
    }
    tempfile::Builder::new()
        .prefix("rill-fuzz")
        .tempdir()
        .expect("temporary directory")
}

fn open_log(dir: &Path, segment_bytes: u64) -> Result<StreamLog, StoreError> {
    StreamLog::open(
        dir,
        LogConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes,
        },
        Arc::new(|| CLOCK_MS),
    )
}

fn segment_file(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// A valid segment header (see the store's module docs) with no frames.
fn empty_segment(id: u64, next_positions: &[u64]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RILLSEG\x01");
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&(next_positions.len() as u32).to_le_bytes());
    h.extend_from_slice(&id.to_le_bytes());
    for p in next_positions {
        h.extend_from_slice(&p.to_le_bytes());
    }
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Shards the store harness reads back after recovery.
const SHARDS: u32 = 4;

/// Store recovery. First byte: bit 0 clear, the rest of the input is a segment file, the
/// newest (bit 1 clear) or a sealed one followed by a valid empty newest segment (bit 1 set);
/// bit 0 set, records and damage made from the input: a valid log of several segments is
/// written, then bytes are flipped, files truncated or extended, or segments deleted.
///
/// Invariants: opening returns the log or a `Corrupt`/`UnknownVersion`/`Io` error, never
/// panics; a recovered log serves, per shard, a gap-free run of positions (up to damage that
/// a read reports as `Corrupt`) and only records that were written (checksums verified); it accepts an append and reads it back; and it reopens cleanly with
/// the same records.
pub fn store_recovery(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let dir = fuzz_dir();
    let path = dir.path();
    let written = if mode & 1 == 0 {
        let file = input.rest();
        std::fs::write(segment_file(path, 0), file).expect("write segment");
        if mode & 2 != 0 {
            std::fs::write(segment_file(path, 1), empty_segment(1, &[])).expect("write segment");
        }
        None
    } else {
        Some(write_and_damage(path, &mut input))
    };
    let log = match open_log(path, 1024) {
        Ok(log) => log,
        Err(
            StoreError::Corrupt { .. }
            | StoreError::UnknownVersion { .. }
            | StoreError::Io { .. }
            | StoreError::NoSpace { .. },
        ) => {
            return;
        }
        Err(e) => panic!("recovery failed with an unexpected error: {e}"),
    };
    let served = read_all(&log);
    if let Some((written, files)) = &written {
        for (shard, records) in &served {
            for r in records {
                if written.get(&(*shard, r.0)) == Some(&(r.1.clone(), r.2.clone())) {
                    continue;
                }
                // Not a record that was written: then the damage itself made a frame that
                // passes its checksum (fuzzing forges those), and it is in a file verbatim.
                let frame = encode_frame(*shard, r);
                assert!(
                    files
                        .iter()
                        .any(|f| f.windows(frame.len()).any(|w| w == &frame[..])),
                    "shard {shard} position {} is served but was never written: {r:?}",
                    r.0
                );
            }
        }
    }
    // The recovered log takes an append and serves it.
    let shard = u32::from(mode >> 4) % SHARDS;
    let result = log
        .append(vec![AppendRecord {
            shard,
            partition_key: "after-recovery".into(),
            data: Bytes::from_static(b"appended after recovery"),
            flags: 0,
        }])
        .blocking_recv()
        .expect("the writer answers");
    let appended = match result {
        Ok(r) => Some(r.positions[0]),
        // Writing to a recovered log may hit an I/O error (a position space that ran out),
        // never anything else.
        Err(StoreError::Io { .. } | StoreError::Corrupt { .. } | StoreError::NoSpace { .. }) => {
            None
        }
        Err(e) => panic!("append after recovery failed: {e}"),
    };
    if let Some(position) = appended {
        let (records, _) = log
            .read(shard, position, 1, 1 << 20)
            .expect("read after recovery");
        assert_eq!(records.len(), 1, "the appended record reads back");
        assert_eq!(&records[0].data[..], b"appended after recovery");
    }
    let before = read_all(&log);
    log.close();
    drop(log);
    let log = open_log(path, 1024).expect("a recovered log reopens");
    assert_eq!(read_all(&log), before, "reopening changed the records");
    log.close();
}

/// A record as a recovered log serves it: position, partition key, data, arrival, flags.
type Served = (u64, String, Bytes, i64, u8);

/// The segment frame of a served record (see the store's module docs).
fn encode_frame(shard: u32, (position, key, data, arrival_ms, flags): &Served) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&shard.to_le_bytes());
    body.extend_from_slice(&position.to_le_bytes());
    body.extend_from_slice(&arrival_ms.to_le_bytes());
    body.push(*flags);
    body.extend_from_slice(&(key.len() as u16).to_le_bytes());
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(data);
    let mut frame = Vec::new();
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    frame.extend(body);
    frame
}

/// Every record of shards `0..SHARDS`, as (position, key, data) per shard; asserts that
/// positions are gap-free from the trim horizon.
fn read_all(log: &StreamLog) -> Vec<(u32, Vec<Served>)> {
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        let state = log.shard_state(shard);
        let mut records = Vec::new();
        let mut at = 0;
        let mut damaged = false;
        loop {
            let (batch, next) = match log.read(shard, at, 100, 1 << 20) {
                Ok(r) => r,
                // Damage in a sealed segment whose persisted index is intact is found where
                // it is read: the records before it are served, it never is.
                Err(StoreError::Corrupt { .. }) => {
                    damaged = true;
                    break;
                }
                Err(e) => panic!("reading a recovered log failed: {e}"),
            };
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let expected = records
                    .last()
                    .map_or(state.trim_position, |r: &Served| r.0 + 1);
                assert_eq!(r.position, expected, "shard {shard}: positions have a gap");
                records.push((r.position, r.partition_key, r.data, r.arrival_ms, r.flags));
            }
            at = next;
        }
        if let Some(last) = records.last().filter(|_| !damaged) {
            assert_eq!(
                last.0 + 1,
                state.next_position,
                "shard {shard}: next position"
            );
        }
        out.push((shard, records));
    }
    out
}

type Written = HashMap<(u32, u64), (String, Bytes)>;

/// Writes a log from the input (small segments, so there are several), then damages its
/// files as the input says. Returns what was written, and the files' bytes after the damage.
fn write_and_damage(dir: &Path, input: &mut Input<'_>) -> (Written, Vec<Vec<u8>>) {
    let mut written = Written::new();
    {
        let log = open_log(dir, 64 + u64::from(input.u8()) * 4).expect("open a new log");
        for _ in 0..1 + input.u8() % 6 {
            let batch: Vec<AppendRecord> = (0..1 + input.u8() % 5)
                .map(|_| AppendRecord {
                    shard: u32::from(input.u8()) % SHARDS,
                    partition_key: input.string(16),
                    data: Bytes::copy_from_slice(input.bytes(48)),
                    flags: 0,
                })
                .collect();
            let result = log
                .append(batch.clone())
                .blocking_recv()
                .expect("the writer answers")
                .expect("append to a new log");
            for (r, p) in batch.into_iter().zip(result.positions) {
                written.insert((r.shard, p), (r.partition_key, r.data));
            }
        }
        log.close();
    }
    let mut ids: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("list log")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    ids.sort();
    if ids.is_empty() {
        return (written, Vec::new());
    }
    for _ in 0..1 + input.u8() % 3 {
        let file = &ids[usize::from(input.u8()) % ids.len()];
        let Ok(mut bytes) = std::fs::read(file) else {
            continue;
        };
        let at = usize::from(input.u16());
        match input.u8() % 6 {
            0 | 1 => {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= input.u8() | 1;
                }
            }
            2 => bytes.truncate(at % (bytes.len() + 1)),
            3 => bytes.extend_from_slice(input.bytes(64)),
            4 => {
                let patch = input.bytes(8);
                let i = at % (bytes.len() + 1);
                let end = (i + patch.len()).min(bytes.len());
                bytes.splice(i..end, patch.iter().copied());
            }
            _ => {
                let _ = std::fs::remove_file(file);
                continue;
            }
        }
        std::fs::write(file, &bytes).expect("rewrite segment");
    }
    let files = ids.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    (written, files)
}

// ------------------------------------------------------------------------- seeds

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

fn from_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}
