//! The page of `rill serve` (issue 21, first part): `/ui/` and its script are served from
//! the binary, `/ui/state.json` describes the streams as the API does (summary, every shard
//! with its lineage, tags, consumers) plus the per-stream metrics, `GET /` stays AWS's
//! AccessDenied, and with `--auth` the page needs HTTP Basic credentials of the file.

mod common;

use common::{Served, serve_engine};
use rill_engine::api::*;
use rill_engine::server::auth::Credentials;
use rill_engine::server::{self, ServerConfig};
use rill_engine::{Engine, EngineConfig};
use serde_json::Value as Json;
use std::sync::Arc;

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn serve(config: ServerConfig) -> Result<Served, Box<dyn std::error::Error>> {
    serve_engine(config, EngineConfig::default()).await
}

/// The `data` of a `/ui/records.json` record, as text.
fn data_text(r: &Json) -> String {
    use base64::Engine as _;
    let d = base64::engine::general_purpose::STANDARD
        .decode(r["data"].as_str().unwrap_or_default())
        .unwrap_or_default();
    String::from_utf8_lossy(&d).into_owned()
}

async fn get(url: &str, basic: Option<(&str, &str)>) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = reqwest::Client::new().get(url);
    if let Some((user, password)) = basic {
        req = req.basic_auth(user, Some(password));
    }
    req.send().await
}

#[tokio::test]
async fn the_page_and_its_state_describe_the_streams_as_the_api_does() -> TestResult {
    let s = serve(ServerConfig::default()).await?;
    let e = &s.engine;
    e.create_stream(CreateStreamInput {
        stream_name: "orders".into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    e.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("orders".into()),
        tags: [("team".to_string(), "data".to_string())].into(),
        ..Default::default()
    })
    .await?;
    e.split_shard(SplitShardInput {
        stream_name: Some("orders".into()),
        shard_to_split: "shardId-000000000000".into(),
        new_starting_hash_key: (u128::MAX / 2).to_string(),
        ..Default::default()
    })
    .await?;

    let page = get(&format!("{}/ui/", s.endpoint), None).await?;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()?
            .starts_with("text/html")
    );
    assert!(page.text().await?.contains("/ui/app.js"));
    let script = get(&format!("{}/ui/app.js", s.endpoint), None).await?;
    assert_eq!(script.status(), 200);
    assert!(script.text().await?.contains("/ui/state.json"));

    let state: Json = serde_json::from_str(
        &get(&format!("{}/ui/state.json", s.endpoint), None)
            .await?
            .text()
            .await?,
    )?;
    let streams = state["streams"].as_array().ok_or("no streams")?;
    assert_eq!(streams.len(), 1);
    let orders = &streams[0];
    let summary = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("orders".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(orders["summary"], serde_json::to_value(&summary)?);
    // Every shard, the split parent (closed) and its two children naming it.
    let shards = orders["shards"].as_array().ok_or("no shards")?;
    assert_eq!(shards.len(), 3, "{shards:?}");
    let children: Vec<&Json> = shards
        .iter()
        .filter(|sh| sh["ParentShardId"] == "shardId-000000000000")
        .collect();
    assert_eq!(children.len(), 2);
    assert!(shards[0]["SequenceNumberRange"]["EndingSequenceNumber"].is_string());
    assert_eq!(orders["tags"][0]["Key"], "team");
    assert_eq!(state["limits"]["writeRecordsPerSecond"], 1000);
    assert!(state["metrics"].is_array());

    // AWS's answer to GET / is unchanged.
    let root = get(&format!("{}/", s.endpoint), None).await?;
    assert_eq!(root.status(), 403);
    Ok(())
}

#[tokio::test]
async fn with_auth_the_page_needs_the_files_credentials() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("credentials");
    std::fs::write(&file, "AKID SECRET\n")?;
    let s = serve(ServerConfig {
        auth: Some(Arc::new(Credentials::load(&file)?)),
        ..ServerConfig::default()
    })
    .await?;
    for path in ["/ui/", "/ui/app.js", "/ui/state.json"] {
        let url = format!("{}{path}", s.endpoint);
        for basic in [None, Some(("AKID", "WRONG")), Some(("NOBODY", "SECRET"))] {
            let r = get(&url, basic).await?;
            assert_eq!(r.status(), 401, "{path} {basic:?}");
            assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"rill\"");
        }
        assert_eq!(
            get(&url, Some(("AKID", "SECRET"))).await?.status(),
            200,
            "{path}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn latest_records_are_read_on_demand_with_aggregates_split() -> TestResult {
    use rill_engine::api::agg::{self, UserRecord};
    let s = serve(ServerConfig::default()).await?;
    let e = &s.engine;
    e.create_stream(CreateStreamInput {
        stream_name: "events".into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    let user = |k: &str, d: &'static [u8]| UserRecord {
        partition_key: k.into(),
        explicit_hash_key: None,
        data: bytes::Bytes::from_static(d),
    };
    let blob = agg::encode(&[user("a", b"{\"n\":1}"), user("b", b"{\"n\":2}")]);
    for data in [
        bytes::Bytes::from(blob),
        bytes::Bytes::from_static(b"plain"),
    ] {
        e.put_record(PutRecordInput {
            stream_name: Some("events".into()),
            partition_key: "k".into(),
            data,
            ..Default::default()
        })
        .await?;
    }
    let body: Json = serde_json::from_str(
        &get(
            &format!("{}/ui/records.json?stream=events", s.endpoint),
            None,
        )
        .await?
        .text()
        .await?,
    )?;
    let records = body["records"].as_array().ok_or("no records")?;
    let summary: Vec<(String, Json, String)> = records
        .iter()
        .map(|r| {
            (
                r["partitionKey"].as_str().unwrap_or_default().to_string(),
                r["subSequence"].clone(),
                data_text(r),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a".to_string(), Json::from(0), "{\"n\":1}".to_string()),
            ("b".to_string(), Json::from(1), "{\"n\":2}".to_string()),
            ("k".to_string(), Json::Null, "plain".to_string()),
        ]
    );
    // A stream that does not exist is the API's error.
    let r = get(&format!("{}/ui/records.json?stream=nope", s.endpoint), None).await?;
    assert_eq!(r.status(), 400);
    let body: Json = serde_json::from_str(&r.text().await?)?;
    assert_eq!(body["code"], "ResourceNotFoundException");
    Ok(())
}

/// The value of the sample `name` of `stream` in `/ui/state.json` whose other labels are
/// `labels`, if there is one.
fn sample(state: &Json, name: &str, stream: &str, labels: &[(&str, &str)]) -> Option<f64> {
    state["metrics"].as_array()?.iter().find_map(|m| {
        let ok = m["name"] == name
            && m["labels"]["stream"] == stream
            && labels.iter().all(|(k, v)| m["labels"][*k] == *v);
        ok.then(|| m["value"].as_f64()).flatten()
    })
}

async fn state_of(endpoint: &str) -> Result<Json, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(
        &get(&format!("{endpoint}/ui/state.json"), None)
            .await?
            .text()
            .await?,
    )?)
}

#[tokio::test]
async fn live_subscriptions_fan_out_reads_and_throttles_reach_the_page() -> TestResult {
    use futures::StreamExt as _;
    let _ = server::metrics_handle();
    let s = serve(ServerConfig::default()).await?;
    let e = &s.engine;
    // The recorder is process-wide: a name no other test uses.
    let name = "ui-fan-7d2a";
    let shard = "shardId-000000000000";
    e.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    e.enable_enhanced_monitoring(EnhancedMonitoringInput {
        stream_name: Some(name.into()),
        shard_level_metrics: vec!["ALL".into()],
        ..Default::default()
    })
    .await?;
    let stream_arn = e
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some(name.into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    let consumer = e
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn,
            consumer_name: "app".into(),
        })
        .await?
        .consumer
        .consumer_arn;
    let mut events = e
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: consumer.clone(),
            shard_id: shard.into(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
        })
        .await?;
    let live = [("consumer", "app"), ("shard", shard)];
    let state = state_of(&s.endpoint).await?;
    assert_eq!(
        sample(&state, "SubscribeToShard_Live", name, &live),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &state,
            "SubscribeToShard_Success",
            name,
            &[("consumer", "app")]
        ),
        Some(1.0)
    );

    for i in 0..3 {
        e.put_record(PutRecordInput {
            stream_name: Some(name.into()),
            partition_key: format!("k{i}"),
            data: bytes::Bytes::from_static(b"abc"),
            ..Default::default()
        })
        .await?;
    }
    let mut pushed = 0;
    while pushed < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await?
            .ok_or("the subscription ended")??;
        pushed += event.records.len();
    }
    let state = state_of(&s.endpoint).await?;
    let consumer_label = [("consumer", "app")];
    assert_eq!(
        sample(
            &state,
            "SubscribeToShardEvent_Records",
            name,
            &consumer_label
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&state, "Shard_OutgoingRecords", name, &[("shard", shard)]),
        Some(3.0),
        "pushed events count as the shard's outgoing records"
    );
    assert_eq!(
        sample(&state, "GetRecords_Records", name, &[]),
        None,
        "pushed events are not GetRecords"
    );
    drop(events);
    let state = state_of(&s.endpoint).await?;
    assert_eq!(
        sample(&state, "SubscribeToShard_Live", name, &live),
        Some(0.0),
        "an ended subscription is no longer live"
    );

    // Writes over the shard's 1000 records/s are throttled and counted per shard.
    let mut failed = 0;
    for _ in 0..10 {
        let out = e
            .put_records(PutRecordsInput {
                stream_name: Some(name.into()),
                records: (0..500)
                    .map(|i| PutRecordsRequestEntry {
                        data: bytes::Bytes::from_static(b"x"),
                        partition_key: format!("p{i}"),
                        explicit_hash_key: None,
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        failed += out.failed_record_count;
        if failed > 0 {
            break;
        }
    }
    assert!(failed > 0, "5000 records in a burst are throttled");
    let state = state_of(&s.endpoint).await?;
    assert_eq!(
        sample(
            &state,
            "Shard_WriteProvisionedThroughputExceeded",
            name,
            &[("shard", shard)]
        ),
        Some(f64::from(failed))
    );
    assert_eq!(
        sample(&state, "WriteProvisionedThroughputExceeded", name, &[]),
        Some(f64::from(failed))
    );
    Ok(())
}

async fn put_many(e: &Engine, stream: &str, from: usize, n: usize) -> TestResult {
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(500) {
        let out = e
            .put_records(PutRecordsInput {
                stream_name: Some(stream.into()),
                records: chunk
                    .iter()
                    .map(|i| PutRecordsRequestEntry {
                        data: bytes::Bytes::from(format!("r{i}")),
                        partition_key: "k".into(),
                        explicit_hash_key: None,
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.failed_record_count, 0);
    }
    Ok(())
}

async fn latest_json(endpoint: &str, stream: &str) -> Result<Json, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(
        &get(&format!("{endpoint}/ui/records.json?stream={stream}"), None)
            .await?
            .text()
            .await?,
    )?)
}

/// A shard that took more than one GetRecords' worth (10000) a minute ago and a few records
/// now: "latest" holds the few of now, not the oldest of the minutes before (nor those with
/// a gap before the few); a quiet shard gets its older records joined before the newest.
#[tokio::test]
async fn latest_records_are_the_newest_even_behind_a_busy_minute() -> TestResult {
    use rill_engine::embedded::{ManualClock, ThroughputLimits};
    let real_now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let clock = Arc::new(ManualClock::new(real_now - 60_000));
    let s = serve_engine(
        ServerConfig::default(),
        EngineConfig {
            clock: clock.clone(),
            limits: ThroughputLimits::off(),
            ..Default::default()
        },
    )
    .await?;
    let e = &s.engine;
    e.create_stream(CreateStreamInput {
        stream_name: "busy".into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    put_many(e, "busy", 0, 12_000).await?;
    clock.set(real_now);
    put_many(e, "busy", 12_000, 5).await?;
    let body = latest_json(&s.endpoint, "busy").await?;
    let data: Vec<String> = body["records"]
        .as_array()
        .ok_or("no records")?
        .iter()
        .map(data_text)
        .collect();
    // One GetRecords from 5 minutes ago holds r0..r9999 only: it does not join the newest
    // five, so they are shown alone rather than after a gap.
    let newest: Vec<String> = (12_000..12_005).map(|i| format!("r{i}")).collect();
    assert_eq!(data, newest, "the newest five, and no gap: {data:?}");
    assert!(body["skipped"].as_array().is_some_and(|a| a.is_empty()));

    // A quiet shard: 30 records a minute ago and 5 now make one joined run of the last 20.
    clock.set(real_now - 60_000);
    e.create_stream(CreateStreamInput {
        stream_name: "quiet".into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    put_many(e, "quiet", 0, 30).await?;
    clock.set(real_now);
    put_many(e, "quiet", 30, 5).await?;
    let body = latest_json(&s.endpoint, "quiet").await?;
    let got: Vec<String> = body["records"]
        .as_array()
        .ok_or("no records")?
        .iter()
        .map(data_text)
        .collect();
    let want: Vec<String> = (15..35).map(|i| format!("r{i}")).collect();
    assert_eq!(got, want, "the last 20, old and new joined in order");
    Ok(())
}

/// The page's reads count against the shard's 5 reads/s: a shard that refuses one is
/// reported as skipped, with AWS's message, and the answer is still 200.
#[tokio::test]
async fn a_throttled_shard_is_skipped_with_its_message() -> TestResult {
    let s = serve(ServerConfig::default()).await?;
    let e = &s.engine;
    e.create_stream(CreateStreamInput {
        stream_name: "tight".into(),
        shard_count: Some(1),
        ..Default::default()
    })
    .await?;
    put_many(e, "tight", 0, 3).await?;
    let mut skipped = Vec::new();
    for _ in 0..10 {
        let body = latest_json(&s.endpoint, "tight").await?;
        skipped = body["skipped"].as_array().cloned().unwrap_or_default();
        if !skipped.is_empty() {
            break;
        }
    }
    assert_eq!(skipped.len(), 1, "ten asks in a row exceed 5 reads/s");
    assert_eq!(skipped[0]["shardId"], "shardId-000000000000");
    let message = skipped[0]["error"].as_str().unwrap_or_default();
    assert!(message.starts_with("Rate exceeded for shard"), "{message}");
    Ok(())
}
