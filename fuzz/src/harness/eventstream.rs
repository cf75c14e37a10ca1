//! The event-stream harnesses: SubscribeToShard served by rill and read back.

use super::*;

/// A Kinesis service that answers SubscribeToShard with scripted events (looked up by the
/// consumer ARN) and nothing else.
#[derive(Default)]
pub(super) struct Scripted {
    scripts: Mutex<HashMap<String, Script>>,
}

/// The events of one subscription, and the error that ends it, if any.
#[derive(Debug, Clone)]
pub(super) struct Script {
    events: Vec<SubscribeToShardEvent>,
    error: Option<(String, String)>,
}

pub(super) fn unsupported() -> Error {
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
pub(super) struct Servers {
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

pub(super) fn servers() -> &'static Servers {
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

pub(super) fn raw_response(
    map: &Mutex<HashMap<String, Bytes>>,
    body: &[u8],
) -> axum::response::Response {
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
pub(super) fn remote_client(url: &str) -> rill_engine::Remote {
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

pub(super) fn unique_arn() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "arn:aws:kinesis:us-east-1:000000000000:stream/fuzz/consumer/c{}:1",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

pub(super) fn subscribe_input(arn: &str) -> SubscribeToShardInput {
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

pub(super) const ERROR_CODES: &[&str] = &[
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
pub(super) fn script(input: &mut Input<'_>) -> Script {
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
            // The front end wants authentication present (it checks no keys here); the
            // same headers as rill_testkit::wire, which this crate does not depend on.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=fuzz/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
            )
            .header("x-amz-date", "20260101T000000Z")
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
pub(super) type Decoded = (
    Vec<(aws_smithy_types::event_stream::Message, Range<usize>)>,
    bool,
);

pub(super) fn decode_frames(bytes: &[u8], chunk: usize) -> Decoded {
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
pub(super) fn encode_message(m: &aws_smithy_types::event_stream::Message) -> Vec<u8> {
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
