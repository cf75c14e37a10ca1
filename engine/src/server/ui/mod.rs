//! `GET /ui/`: a page for people, served on the Kinesis port, with its assets compiled into
//! the binary (nothing is fetched from elsewhere).
//!
//! * `/ui/` — the page (`page.html`), `/ui/app.js` — its script. The page refreshes itself
//!   every 2 seconds from `/ui/state.json` and draws, per stream, its summary, tags, the
//!   shard lineage as a tree, per shard the write and read rates it computes from
//!   successive counter samples (one per refresh, at least a second apart) against AWS's
//!   per-shard limits, throttles, iterator age and the fan-out consumers subscribed, and per
//!   enhanced fan-out consumer its live subscriptions (`SubscribeToShard.Live`), records
//!   pushed per second and `MillisBehindLatest`.
//! * `/ui/state.json` — `{"streams": [...], "metrics": [...], "limits": {...}}`: for each
//!   stream its `DescribeStreamSummary`, `ListShards` (every shard, open and closed),
//!   `ListTagsForStream` and `ListStreamConsumers` answers in AWS's JSON shapes, read
//!   through the same [`Kinesis`] trait the wire serves; `metrics` holds every sample of
//!   the server's Prometheus registry labelled with a stream (name, labels, value), counters
//!   since the process started; `limits` holds AWS's per-shard limits and the names of the
//!   shard-level metrics (what `ALL` turns on).
//! * `/ui/records.json?stream=NAME` — the stream's latest records, at most [`LATEST`] per
//!   open shard, KPL aggregates split into their user records: `{"records": [{"shardId",
//!   "sequenceNumber", "subSequence", "partitionKey", "arrival" (epoch ms), "data" (base64)}],
//!   "skipped": [{"shardId", "error"}]}`. Read only when the page asks (a button), per open
//!   shard: one GetShardIterator AT_TIMESTAMP of 5 seconds ago and one GetRecords, and when
//!   those hold too few records a second pair from 5 minutes ago, merged with the first when
//!   it joins them (reaches the tip or their first record; one GetRecords of a busy shard
//!   may stop minutes short, and a gap is never shown as the latest records). These
//!   reads count against the shard's read budget as any reader's would: a shard that
//!   refuses them (`ProvisionedThroughputExceededException`) is listed in `skipped` with
//!   AWS's message, the others are still read.
//! * Access: without `--auth` anyone who reaches the port (127.0.0.1 by default) may look.
//!   With `--auth`, the page and its JSON need HTTP Basic credentials: a key id of the
//!   credentials file as the user name and its secret as the password (a browser asks for
//!   them); anything else is 401 with `WWW-Authenticate: Basic realm="rill"`.
//!
//! AWS answers `GET /` with its AccessDenied XML, and so does rill: only `/ui/...` is the
//! page.

use super::AppState;
use crate::api::*;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value as Json, json};

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");

/// Most user records per shard `/ui/records.json` returns (the latest).
const LATEST: usize = 20;

/// Most streams the page describes (the first ones by name).
const MAX_STREAMS: usize = 100;

/// The page's routes, to merge into the server's router.
pub(super) fn routes() -> axum::Router<AppState> {
    // Other methods on these paths are Kinesis requests, as on any path.
    axum::Router::new()
        .route(
            "/ui",
            get(|| async { axum::response::Redirect::permanent("/ui/") }).fallback(super::handle),
        )
        .route("/ui/", get(page).fallback(super::handle))
        .route("/ui/app.js", get(script).fallback(super::handle))
        .route("/ui/state.json", get(state_json).fallback(super::handle))
        .route(
            "/ui/records.json",
            get(records_json).fallback(super::handle),
        )
}

/// `None` when the request may see the page, else the 401 answer.
fn refused(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let creds = state.config.auth.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    if let Some(pair) = given
        && let Some((key, secret)) = pair.split_once(':')
        && creds.accepts(key, secret)
    {
        return None;
    }
    let mut resp = (StatusCode::UNAUTHORIZED, "credentials required\n").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"rill\""),
    );
    Some(resp)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    refused(&state, &headers).unwrap_or_else(|| asset("text/html; charset=utf-8", PAGE))
}

async fn script(State(state): State<AppState>, headers: HeaderMap) -> Response {
    refused(&state, &headers).unwrap_or_else(|| asset("text/javascript; charset=utf-8", SCRIPT))
}

async fn state_json(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(r) = refused(&state, &headers) {
        return r;
    }
    match snapshot(state.kinesis.as_ref()).await {
        Ok(mut body) => {
            body["metrics"] = Json::Array(stream_samples());
            body["limits"] = json!({
                "writeBytesPerSecond": 1 << 20,
                "writeRecordsPerSecond": 1000,
                "readBytesPerSecond": 2 << 20,
                "readCallsPerSecond": 5,
                "shardLevelMetrics": SHARD_LEVEL_METRICS,
            });
            (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": e.to_string()}).to_string(),
        )
            .into_response(),
    }
}

/// The `stream` parameter of a query string, percent-decoded.
fn stream_param(uri: &axum::http::Uri) -> String {
    uri.query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("stream="))
        .map(|v| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

async fn records_json(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Some(r) = refused(&state, &headers) {
        return r;
    }
    let stream = stream_param(&uri);
    let (status, body) = match latest(state.kinesis.as_ref(), &stream).await {
        Ok((records, skipped)) => (
            StatusCode::OK,
            json!({ "records": records, "skipped": skipped }),
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            json!({"error": e.to_string(), "code": e.code()}),
        ),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The latest user records of each open shard of `stream` (see the module docs), and the
/// shards skipped because their read budget refused the page (`{"shardId", "error"}`).
///
/// # Cancel safety
/// Cancel safe: it only reads.
async fn latest(k: &dyn Kinesis, stream: &str) -> Result<(Vec<Json>, Vec<Json>), Error> {
    let shards = k
        .list_shards(ListShardsInput {
            stream_name: Some(stream.into()),
            ..Default::default()
        })
        .await?
        .shards;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for shard in shards {
        if shard.sequence_number_range.ending_sequence_number.is_some() {
            continue;
        }
        let id = shard.shard_id;
        // The last seconds first; the last minutes only if they hold too few records.
        let mut records = match read_since(k, stream, &id, now - RECENT_S).await {
            Ok((r, _)) => r,
            Err(Error::ProvisionedThroughputExceeded(m)) => {
                skipped.push(json!({"shardId": id, "error": m}));
                continue;
            }
            Err(e) => return Err(e),
        };
        if user_count(&records) < LATEST {
            match read_since(k, stream, &id, now - WINDOW_S).await {
                Ok((older, at_tip)) => {
                    // One GetRecords from minutes ago may end long before the recent
                    // records start (a busy shard): only records that join them are shown,
                    // never a gap presented as "latest".
                    let first = records.first().map(|r| r.sequence_number.clone());
                    let joins = at_tip
                        || first
                            .as_ref()
                            .is_some_and(|f| older.iter().any(|r| &r.sequence_number == f));
                    if joins {
                        let mut merged: Vec<Record> = older
                            .into_iter()
                            .take_while(|r| Some(&r.sequence_number) != first.as_ref())
                            .collect();
                        merged.append(&mut records);
                        records = merged;
                    }
                }
                Err(Error::ProvisionedThroughputExceeded(m)) => {
                    skipped.push(json!({"shardId": id, "error": m}));
                }
                Err(e) => return Err(e),
            }
        }
        let users = user_records(&id, &records);
        let skip = users.len().saturating_sub(LATEST);
        out.extend(users.into_iter().skip(skip));
    }
    Ok((out, skipped))
}

/// How far back the first read of [`latest`] starts, and the widest it goes, in seconds.
const RECENT_S: i64 = 5;
const WINDOW_S: i64 = 300;

/// One GetRecords of shard `id` from `since` (epoch seconds): its records, and whether they
/// reach the shard's tip (`MillisBehindLatest` 0, or nothing to read).
async fn read_since(
    k: &dyn Kinesis,
    stream: &str,
    id: &str,
    since: i64,
) -> Result<(Vec<Record>, bool), Error> {
    let it = k
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(stream.into()),
            shard_id: id.into(),
            shard_iterator_type: Some(ShardIteratorType::AtTimestamp),
            timestamp: Some(Timestamp(since * 1000)),
            ..Default::default()
        })
        .await?
        .shard_iterator;
    let Some(it) = it else {
        return Ok((Vec::new(), true));
    };
    let got = k
        .get_records(GetRecordsInput {
            shard_iterator: it,
            ..Default::default()
        })
        .await?;
    Ok((got.records, got.millis_behind_latest.unwrap_or(0) == 0))
}

/// How many user records `records` hold (KPL aggregates counted by their parts).
fn user_count(records: &[Record]) -> usize {
    records
        .iter()
        .map(|r| agg::decode(&r.data).map_or(1, |parts| parts.len().max(1)))
        .sum()
}

/// The user records of `records` (aggregates split) as the page's JSON.
fn user_records(shard_id: &str, records: &[Record]) -> Vec<Json> {
    use base64::Engine as _;
    let mut users = Vec::new();
    for r in records {
        let parts = agg::deaggregate(&r.partition_key, None, r.data.clone());
        let aggregated = parts.len() > 1 || agg::decode(&r.data).is_ok();
        for (i, u) in parts.into_iter().enumerate() {
            users.push(json!({
                "shardId": shard_id,
                "sequenceNumber": r.sequence_number,
                "subSequence": if aggregated { Json::from(i) } else { Json::Null },
                "partitionKey": u.partition_key,
                "arrival": r.approximate_arrival_timestamp.map(|t| t.0),
                "data": base64::engine::general_purpose::STANDARD.encode(&u.data),
            }));
        }
    }
    users
}

/// Every stream (up to [`MAX_STREAMS`]) as the API describes it.
///
/// # Cancel safety
/// Cancel safe: it only reads.
async fn snapshot(k: &dyn Kinesis) -> Result<Json, Error> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = k
            .list_streams(ListStreamsInput {
                next_token: token.take(),
                ..Default::default()
            })
            .await?;
        names.extend(page.stream_names);
        if !page.has_more_streams || names.len() >= MAX_STREAMS || page.next_token.is_none() {
            break;
        }
        token = page.next_token;
    }
    names.truncate(MAX_STREAMS);
    let mut streams = Vec::new();
    for name in names {
        // A stream deleted between the listing and here is left out.
        match describe(k, &name).await {
            Ok(s) => streams.push(s),
            Err(Error::ResourceNotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json!({ "streams": streams }))
}

async fn describe(k: &dyn Kinesis, name: &str) -> Result<Json, Error> {
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some(name.into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    let shards = list_all_shards(k, name).await?;
    let tags = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some(name.into()),
            ..Default::default()
        })
        .await?
        .tags;
    let consumers = k
        .list_stream_consumers(ListStreamConsumersInput {
            stream_arn: summary.stream_arn.clone(),
            ..Default::default()
        })
        .await?
        .consumers;
    Ok(json!({
        "summary": summary,
        "shards": shards,
        "tags": tags,
        "consumers": consumers,
    }))
}

/// The Prometheus registry's samples that carry a `stream` label.
fn stream_samples() -> Vec<Json> {
    let Some(handle) = super::metrics_handle() else {
        return Vec::new();
    };
    parse_samples(&handle.render())
        .into_iter()
        .filter(|s| s["labels"].get("stream").is_some())
        .collect()
}

/// Reads Prometheus text: `name{k="v",...} value` lines (comments skipped) as
/// `{"name", "labels": {...}, "value"}`.
fn parse_samples(text: &str) -> Vec<Json> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (head, value) = match line.rsplit_once(' ') {
            Some(p) => p,
            None => continue,
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
            None => (head, ""),
        };
        let mut map = serde_json::Map::new();
        for pair in split_labels(labels) {
            if let Some((k, v)) = pair.split_once('=') {
                let v = v
                    .trim_matches('"')
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\");
                map.insert(k.trim().to_string(), Json::String(v));
            }
        }
        out.push(json!({"name": name, "labels": map, "value": value}));
    }
    out
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        parts.push(&s[start..]);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_samples_are_read_with_their_labels() {
        let text = "# TYPE x counter\nIncomingRecords{stream=\"a,b\",shard=\"shardId-000000000001\"} 42\nup 1\n";
        let got = parse_samples(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["name"], "IncomingRecords");
        assert_eq!(got[0]["labels"]["stream"], "a,b");
        assert_eq!(got[0]["labels"]["shard"], "shardId-000000000001");
        assert_eq!(got[0]["value"], 42.0);
        assert_eq!(got[1]["labels"], json!({}));
    }
}
