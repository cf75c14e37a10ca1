//! `rill serve`: the Kinesis Data Streams wire protocol over HTTP.
//!
//! Every request is a `POST` with `X-Amz-Target: Kinesis_20131202.<Operation>` and a body in
//! `application/x-amz-json-1.1` or `application/x-amz-cbor-1.1` (see [`codec`]); the
//! response uses the request's encoding. HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as
//! the JS SDK v3 sends it) are served on the same port. Every response carries an
//! `x-amzn-RequestId` and an `x-amz-id-2`.
//!
//! Before an operation runs, the request passes AWS's front-end checks in AWS's order (see
//! [`front`]): CORS, the method (anything but `POST` is AWS's 403 `AccessDeniedException`
//! XML), the body and content type, the target, and the presence of a SigV4 authentication
//! (`MissingAuthenticationTokenException`, `IncompleteSignatureException`, with or without
//! [`ServerConfig::auth`]). Then the input is validated against the service model (see
//! [`crate::api::model`]): a member of the wrong type is `SerializationException` with the
//! Java front end's message, every constraint violation is listed in one
//! `ValidationException`. A body over the limit is HTTP 413 `SerializationException`
//! (before any of it is read when its `Content-Length` says so), a body that does not arrive
//! in time HTTP 408 `RequestTimeoutException`. Slow and idle connections are closed (see
//! [`conn`]). With [`ServerConfig::auth`] set, every request's SigV4 signature is also
//! checked against the known keys (see [`auth`]).
//!
//! Errors are HTTP 400 with `{"__type": "<Exception>", "message": "..."}` and the exception
//! name also in `x-amzn-ErrorType`; internal failures are HTTP 500 `InternalFailure`.
//!
//! `GET /metrics` answers the Prometheus text format (see [`metrics_handle`]);
//! `GET /health` answers `ok`.

pub mod audit;
pub mod auth;
pub mod codec;
pub mod conn;
pub mod front;
pub mod policy;
pub mod tls;
mod ui;

pub use conn::ConnConfig;

use crate::api::{Error, Kinesis, Operation};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use codec::Codec;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// The `X-Amz-Target` prefix of Kinesis operations.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes. Default 20 MiB: a 10 MiB record (the largest
    /// a stream accepts after UpdateMaxRecordSize) is about 13.4 MiB once base64-encoded, a
    /// 5 MiB PutRecords about 7 MiB.
    pub body_limit: usize,
    /// When set, requests must carry a valid SigV4 signature by one of these credentials.
    pub auth: Option<Arc<auth::Credentials>>,
    /// When set, one JSON line per call goes to this log (see [`audit`]).
    pub audit: Option<Arc<audit::AuditLog>>,
    /// Region of the ARNs that policies name (the engine's). Default `us-east-1`.
    pub region: String,
    /// Account of the ARNs and principals that policies name. Default `000000000000`.
    pub account_id: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 20 * 1024 * 1024,
            auth: None,
            audit: None,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    kinesis: Arc<dyn Kinesis>,
    config: ServerConfig,
}

/// An error answered by the server: an AWS exception name, a message and an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// HTTP status.
    pub status: StatusCode,
    /// Exception name (`__type`).
    pub code: String,
    /// Message; empty for the answers AWS sends without one.
    pub message: String,
    /// How the body is written.
    pub format: ErrorFormat,
}

/// The body of an error answer, in the forms AWS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `{"__type": "<Exception>", "message": "..."}` in the request's codec (no `message`
    /// when it is empty).
    Json,
    /// The same with an upper-case `Message`, as AWS writes `SerializationException`s about
    /// a member's type.
    JsonUpperMessage,
    /// `<Exception>\n  <Message>...</Message>\n</Exception>\n` (`<Exception/>` without a
    /// message), as AWS answers requests it cannot map to an operation.
    Xml,
    /// `{"Output":{"__type":"com.amazon.coral.service#<Exception>"},"Version":"1.0"}`, AWS's
    /// answer to `application/json` bodies.
    Coral,
}

impl WireError {
    /// An error in the usual JSON form.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> WireError {
        WireError {
            status,
            code: code.into(),
            message: message.into(),
            format: ErrorFormat::Json,
        }
    }

    /// A 400 with the given exception name.
    pub fn bad_request(code: &str, message: impl Into<String>) -> WireError {
        WireError::new(StatusCode::BAD_REQUEST, code, message)
    }
}

impl From<Error> for WireError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        if let Error::Internal { .. } = &e {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "internal failure");
        }
        WireError::new(status, e.code(), e.message())
    }
}

/// The process-wide Prometheus recorder, installed on first use. `None` if another
/// `metrics` recorder was installed first.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// The axum router of the Kinesis endpoint, `/metrics`, `/health` and the page under `/ui/`
/// (see `ui`).
pub fn router(kinesis: Arc<dyn Kinesis>, config: ServerConfig) -> Router {
    let _ = metrics_handle();
    let state = AppState { kinesis, config };
    Router::new()
        // Any other method on these paths is a Kinesis request, as on any path.
        .route("/metrics", get(metrics).fallback(handle))
        .route("/health", get(|| async { "ok" }).fallback(handle))
        .merge(ui::routes())
        .fallback(handle)
        .with_state(state)
}

/// Serves the Kinesis endpoint on `listener` until `shutdown` completes, then finishes the
/// requests in flight; connections get the default [`ConnConfig`] limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    kinesis: Arc<dyn Kinesis>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, kinesis, config, ConnConfig::default(), shutdown).await
}

/// [`serve`] with the given connection limits and timeouts (see [`conn`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    kinesis: Arc<dyn Kinesis>,
    config: ServerConfig,
    conn: ConnConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::serve(listener, router(kinesis, config), conn, shutdown).await
}

async fn metrics() -> Response {
    match metrics_handle() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process",
        )
            .into_response(),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn error_response(codec: Codec, id: &str, e: WireError) -> Response {
    let (body, content_type) = match e.format {
        ErrorFormat::Json | ErrorFormat::JsonUpperMessage => {
            let mut m = serde_json::Map::new();
            m.insert("__type".into(), Json::String(e.code.clone()));
            if !e.message.is_empty() {
                let key = if e.format == ErrorFormat::Json {
                    "message"
                } else {
                    "Message"
                };
                m.insert(key.into(), Json::String(e.message.clone()));
            }
            (codec.encode(&Json::Object(m)), Some(codec.content_type()))
        }
        ErrorFormat::Xml => {
            let xml = if e.message.is_empty() {
                format!("<{}/>\n", e.code)
            } else {
                format!(
                    "<{code}>\n  <Message>{}</Message>\n</{code}>\n",
                    e.message,
                    code = e.code
                )
            };
            (xml.into_bytes(), None)
        }
        ErrorFormat::Coral => {
            let body = serde_json::json!({
                "Output": { "__type": format!("com.amazon.coral.service#{}", e.code) },
                "Version": "1.0",
            });
            (body.to_string().into_bytes(), Some("application/json"))
        }
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = e.status;
    let h = resp.headers_mut();
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if let Ok(v) = HeaderValue::from_str(&e.code) {
            h.insert("x-amzn-ErrorType", v);
        }
    }
    stamp(&mut resp, id);
    resp
}

/// Adds the request id and AWS's `x-amz-id-2` (72 random bytes, base64) to an answer.
fn stamp(resp: &mut Response, id: &str) {
    use base64::Engine as _;
    use rand::RngCore;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-RequestId", v);
    }
    let mut bytes = [0u8; 72];
    rand::rng().fill_bytes(&mut bytes);
    let id2 = base64::engine::general_purpose::STANDARD.encode(bytes);
    if let Ok(v) = HeaderValue::from_str(&id2) {
        h.insert("x-amz-id-2", v);
    }
}

/// Every request but `GET /metrics` and `/health`: CORS first (a preflight is answered
/// here), then [`serve_request`].
async fn handle(State(state): State<AppState>, req: Request) -> Response {
    let id = request_id();
    if let Some(mut resp) = front::preflight(req.method(), req.headers()) {
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-amzn-RequestId", v);
        }
        return resp;
    }
    let cors = front::has_origin(req.headers());
    let mut resp = serve_request(&state, &id, req).await;
    if cors {
        front::add_cors(&mut resp);
    }
    resp
}

/// One request, through the front end's checks (see [`front`]), authentication and the
/// operation.
async fn serve_request(state: &AppState, id: &str, req: Request) -> Response {
    let id = id.to_string();
    if req.method() != axum::http::Method::POST {
        return error_response(Codec::Json, &id, front::not_post());
    }
    let headers = req.headers().clone();
    let (parts, body) = req.into_parts();
    let deadline = parts.extensions.get::<conn::BodyDeadline>().map(|d| d.0);
    let body = match read_body(&headers, body, state.config.body_limit, deadline).await {
        Ok(b) => b,
        Err(e) => {
            let codec = Codec::from_content_type(
                headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok()),
            );
            let mut resp = error_response(codec, &id, e);
            // The rest of the body is not read: the connection cannot carry another request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
    };
    let front::Classified {
        codec,
        operation: operation_id,
    } = match front::classify(&headers, &body) {
        Ok(c) => c,
        Err((codec, e)) => return error_response(codec, &id, e),
    };
    if let Err(e) = front::check_authentication(&headers, &parts.uri) {
        return error_response(codec, &id, e);
    }
    let source = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let op = operation_id.as_str().to_string();
    let audit = |key: Option<String>,
                 resources: Vec<String>,
                 error: Option<String>,
                 denied: bool| {
        if let Some(log) = &state.config.audit {
            log.record(&audit::AuditRecord {
                event_time: crate::api::dates::rfc3339(crate::api::Timestamp::now().as_millis()),
                access_key_id: key,
                source_ip_address: source.clone(),
                event_name: op.clone(),
                resources,
                request_id: id.clone(),
                error_code: error,
                denied,
            });
        }
    };
    let mut key = None;
    if let Some(creds) = &state.config.auth {
        match auth::verify(creds, &parts.method, &parts.uri, &headers, &body) {
            Ok(k) => key = Some(k),
            Err(e) => {
                tracing::debug!(code = %e.code, "request refused: {}", e.message);
                audit(None, Vec::new(), Some(e.code.clone()), false);
                return error_response(codec, &id, e);
            }
        }
    }
    let resources = if state.config.auth.is_some() || state.config.audit.is_some() {
        resources_of(&state.config, &op, codec, &body)
    } else {
        Vec::new()
    };
    if let (Some(creds), Some(k)) = (&state.config.auth, &key)
        && let Err(e) = authorize(state, creds, k, &op, &resources).await
    {
        audit(key.clone(), resources, Some(e.code.clone()), true);
        return error_response(codec, &id, e);
    }
    if operation_id == Operation::SubscribeToShard {
        let resp = subscribe(state, codec, &id, &body).await;
        let error = resp
            .headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        audit(key, resources, error, false);
        return resp;
    }
    let started = std::time::Instant::now();
    let result = dispatch(state, operation_id, codec, &body).await;
    tracing::debug!(op = %op, ok = result.is_ok(), micros = started.elapsed().as_micros() as u64, "request");
    audit(
        key,
        resources,
        result.as_ref().err().map(|e| e.code.clone()),
        false,
    );
    match result {
        Ok(out) => {
            let mut resp = Response::new(Body::from(out));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(codec.content_type()),
            );
            stamp(&mut resp, &id);
            resp
        }
        Err(e) => error_response(codec, &id, e),
    }
}

/// Reads a request body of at most `limit` bytes, all of it by `deadline`.
///
/// A `Content-Length` over the limit is refused before any of the body is read. Over the
/// limit: 413 `SerializationException`; past the deadline: 408 `RequestTimeoutException`;
/// a body cut short (the client went away, an HTTP/2 stream reset): 400
/// `SerializationException`.
async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    limit: usize,
    deadline: Option<tokio::time::Instant>,
) -> Result<bytes::Bytes, WireError> {
    use futures::StreamExt;
    let too_large = || {
        WireError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SerializationException",
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = bytes::BytesMut::with_capacity(declared.map_or(0, |n| n as usize));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                WireError::bad_request(
                    "SerializationException",
                    format!("Request body could not be read: {e}"),
                )
            })?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    match deadline {
        None => read.await,
        Some(d) => tokio::time::timeout_at(d, read).await.unwrap_or_else(|_| {
            Err(WireError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeoutException",
                "The request body did not arrive within the server's body read timeout",
            ))
        }),
    }
}

/// The ARNs a request acts on, as IAM sees them: the stream (by `StreamARN`, `StreamName`,
/// or the stream a shard iterator reads), the consumer (`ConsumerARN`), or the resource of a
/// tagging or policy call (`ResourceARN`); account-level operations act on `*`.
fn resources_of(config: &ServerConfig, op: &str, codec: Codec, body: &[u8]) -> Vec<String> {
    let Ok(v) = codec.decode(body) else {
        return Vec::new();
    };
    let stream_arn = |name: &str| {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{name}",
            config.region, config.account_id
        )
    };
    let field = |k: &str| v.get(k).and_then(Json::as_str).map(str::to_string);
    if let Some(a) = field("ConsumerARN").or_else(|| field("ResourceARN")) {
        return vec![a];
    }
    if let Some(a) = field("StreamARN") {
        return vec![a];
    }
    if let Some(n) = field("StreamName") {
        return vec![stream_arn(&n)];
    }
    if op == "GetRecords"
        && let Some(name) =
            field("ShardIterator").and_then(|i| crate::embedded::iterator_stream_name(&i))
    {
        return vec![stream_arn(&name)];
    }
    vec!["*".to_string()]
}

/// Applies the key's identity policy and the resources' policies (see [`policy`]).
async fn authorize(
    state: &AppState,
    creds: &auth::Credentials,
    key: &str,
    op: &str,
    resources: &[String],
) -> Result<(), WireError> {
    let principal = format!("arn:aws:iam::{}:user/{key}", state.config.account_id);
    let action = format!("kinesis:{op}");
    for resource in resources {
        // A consumer is also governed by its stream's policy.
        let mut owners = vec![resource.clone()];
        if let Some((stream, _)) = resource.split_once("/consumer/") {
            owners.push(stream.to_string());
        }
        let mut resource_policy: Option<policy::Policy> = None;
        for owner in owners.iter().filter(|r| r.starts_with("arn:")) {
            let text = state
                .kinesis
                .get_resource_policy(crate::api::ResourcePolicyInput {
                    resource_arn: owner.clone(),
                })
                .await
                .map(|o| o.policy)
                .unwrap_or_default();
            if let Ok(p) = policy::Policy::parse(&text) {
                let merged = match resource_policy.take() {
                    None => p,
                    Some(prev) => prev.merge(p),
                };
                resource_policy = Some(merged);
            }
        }
        if let policy::Decision::Deny(why) = policy::decide(
            creds.policy(key),
            resource_policy.as_ref(),
            &principal,
            &state.config.account_id,
            &action,
            resource,
        ) {
            return Err(WireError::bad_request(
                "AccessDeniedException",
                format!(
                    "User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
                ),
            ));
        }
    }
    Ok(())
}

/// One event-stream message (see [`subscribe`]).
fn event_message(headers: &[(&'static str, String)], payload: Vec<u8>) -> bytes::Bytes {
    use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
    let mut m = Message::new(payload);
    for (name, value) in headers {
        m = m.add_header(Header::new(*name, EsValue::String(value.clone().into())));
    }
    let mut out = Vec::new();
    // Writing a well-formed message into a Vec cannot fail.
    let _ = aws_smithy_eventstream::frame::write_message_to(&m, &mut out);
    out.into()
}

/// SubscribeToShard: `application/vnd.amazon.eventstream`, an `initial-response` event, then
/// one `SubscribeToShardEvent` per push; an error after the start is an `exception` message
/// (`:exception-type` = the AWS exception name) and ends the stream.
async fn subscribe(state: &AppState, codec: Codec, id: &str, body: &[u8]) -> Response {
    use futures::StreamExt;
    let input: crate::api::SubscribeToShardInput = match codec
        .decode(body)
        .map_err(|_| not_parsable())
        .and_then(|mut v| {
            validate(Operation::SubscribeToShard, &mut v)?;
            serde_json::from_value(v)
                .map_err(|e| WireError::bad_request("SerializationException", e.to_string()))
        }) {
        Ok(i) => i,
        Err(e) => return error_response(codec, id, e),
    };
    let events = match state.kinesis.subscribe_to_shard(input).await {
        Ok(s) => s,
        Err(e) => return error_response(codec, id, e.into()),
    };
    let content_type = codec.content_type().to_string();
    let initial = event_message(
        &[
            (":message-type", "event".into()),
            (":event-type", "initial-response".into()),
            (":content-type", content_type.clone()),
        ],
        codec.encode(&serde_json::json!({})),
    );
    let frames = events.map(move |item| {
        let frame = match item {
            Ok(event) => {
                let value = serde_json::to_value(&event).unwrap_or_default();
                event_message(
                    &[
                        (":message-type", "event".into()),
                        (":event-type", "SubscribeToShardEvent".into()),
                        (":content-type", content_type.clone()),
                    ],
                    codec.encode(&value),
                )
            }
            Err(e) => event_message(
                &[
                    (":message-type", "exception".into()),
                    (":exception-type", e.code().to_string()),
                    (":content-type", content_type.clone()),
                ],
                codec.encode(&serde_json::json!({ "message": e.message() })),
            ),
        };
        Ok::<_, std::convert::Infallible>(frame)
    });
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(initial) })
        .chain(frames);
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(id) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// AWS's answer to a body that does not parse, or is not an object: a
/// `SerializationException` without a message.
fn not_parsable() -> WireError {
    WireError::bad_request("SerializationException", "")
}

/// The one validation step before an operation: the service model's checks
/// ([`crate::api::model`]: a member of the wrong type is a `SerializationException` with
/// AWS's Java message in `Message`; otherwise every constraint violation at once), then the
/// members the operation table requires beyond the model. Integers are then read as AWS
/// reads them (rounded down, capped).
fn validate(op: Operation, value: &mut Json) -> Result<(), WireError> {
    use crate::api::model::{self, Invalid};
    if let Some(shape) = model::input(op.as_str()) {
        match model::check_value(shape, value) {
            Ok(()) => model::coerce_numbers(shape, value),
            Err(Invalid::Type(t)) => {
                return Err(WireError {
                    format: ErrorFormat::JsonUpperMessage,
                    ..WireError::bad_request("SerializationException", t.message)
                });
            }
            Err(Invalid::Validation(e)) => return Err(WireError::from(e)),
        }
    }
    check_required(op, value)
}

/// Checks the members the operation table marks required; a request without one gets AWS's
/// "Value null at '...' failed to satisfy constraint: Member must not be null", every missing
/// member reported at once.
fn check_required(op: Operation, value: &Json) -> Result<(), WireError> {
    let mut v = crate::api::ValidationErrors::new();
    let present = |obj: &Json, k: &str| obj.get(k).is_some_and(|x| !x.is_null());
    for member in op.required_members() {
        if !present(value, member) {
            v.null(&crate::api::ops::message_name(member));
        }
    }
    if op == Operation::PutRecords
        && let Some(Json::Array(records)) = value.get("Records")
    {
        for (i, r) in records.iter().enumerate() {
            for (wire, name) in [("PartitionKey", "partitionKey"), ("Data", "data")] {
                if !present(r, wire) {
                    v.null(&format!("records.{}.member.{name}", i + 1));
                }
            }
        }
    }
    v.finish().map_err(WireError::from)
}

async fn call<I, O, F, Fut>(
    codec: Codec,
    op: Operation,
    body: &[u8],
    f: F,
) -> Result<Vec<u8>, WireError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    // The write path's fast lane: JSON for PutRecord(s) that parses straight into the input
    // type skips the value tree. Its types are then right, and the engine checks every
    // constraint the model has for these two inputs (all at once, before the stream is looked
    // up, in the same words: `put_records_constraints_match_the_model` holds them together);
    // any body the typed parse refuses takes the model's path below, which names the fault.
    if codec == Codec::Json
        && matches!(op, Operation::PutRecord | Operation::PutRecords)
        && let Ok(input) = serde_json::from_slice::<I>(body)
    {
        return encode_output(codec, f(input).await?);
    }
    // Every other body goes through the value tree: the model's checks (types, then every
    // constraint) run on it before the operation looks anything up.
    let mut value = codec.decode(body).map_err(|_| not_parsable())?;
    if !value.is_object() {
        return Err(not_parsable());
    }
    validate(op, &mut value)?;
    let input: I = serde_json::from_value(value)
        .map_err(|e| WireError::bad_request("SerializationException", e.to_string()))?;
    encode_output(codec, f(input).await?)
}

/// Encodes an operation's output; an operation without output answers an empty body, as AWS
/// does.
fn encode_output<O: Serialize>(codec: Codec, output: O) -> Result<Vec<u8>, WireError> {
    let internal = |e: serde_json::Error| {
        WireError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            e.to_string(),
        )
    };
    match codec {
        Codec::Json => {
            let bytes = serde_json::to_vec(&output).map_err(internal)?;
            Ok(if bytes == b"null" { Vec::new() } else { bytes })
        }
        Codec::Cbor => {
            let value = serde_json::to_value(&output).map_err(internal)?;
            Ok(if value.is_null() {
                Vec::new()
            } else {
                codec.encode(&value)
            })
        }
    }
}

/// The arm of [`dispatch`] for one operation: decode, call the trait method, encode.
/// SubscribeToShard answers an event stream, which [`handle`] serves before dispatching.
macro_rules! dispatch_call {
    ($k:ident, $codec:ident, $body:ident, SubscribeToShard, $method:ident) => {
        Err(WireError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "SubscribeToShard is served as an event stream",
        ))
    };
    ($k:ident, $codec:ident, $body:ident, $op:ident, $method:ident) => {
        call($codec, Operation::$op, $body, |i| $k.$method(i)).await
    };
}

/// [`dispatch`], from the operation table: one arm per operation.
macro_rules! dispatch_table {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        dispatch_table!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        /// Calls `op` with the request body.
        async fn dispatch(
            state: &AppState,
            op: Operation,
            codec: Codec,
            body: &[u8],
        ) -> Result<Vec<u8>, WireError> {
            let k = &state.kinesis;
            match op {
                $(Operation::$op => dispatch_call!(k, codec, body, $op, $method),)*
            }
        }
    };
}

crate::kinesis_operations!(dispatch_table);
