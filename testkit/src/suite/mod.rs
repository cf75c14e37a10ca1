//! The Kinesis behaviour suite: one set of tests for every implementation of the
//! [`Kinesis`] trait.
//!
//! Each test is a `pub async fn name(k: &dyn Kinesis) -> TestResult` that starts from a
//! service with no streams and talks to it through the trait only: no clock control, no
//! restart, no look at a data directory (tests that need those stay with the implementation,
//! in `tests/api.rs`). Error messages are compared exactly, as Amazon Kinesis Data Streams
//! words them (see `docs/research/aws-messages.md`).
//!
//! [`kinesis_suite!`](crate::kinesis_suite) turns the suite into `#[tokio::test]`s against
//! one implementation; the crate invoking it needs `tokio` (features `macros` and `rt`) as a
//! dependency, for `#[tokio::test]`.

use rill_engine::api::*;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt::Debug;

/// What a test returns.
pub type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The account id in ARNs and messages.
pub const ACCOUNT: &str = "000000000000";
/// 2^128 - 1.
pub const MAX_HASH_KEY: &str = "340282366920938463463374607431768211455";
const ONE_MIB: usize = 1024 * 1024;

/// Expands to one `#[tokio::test]` per suite function, in a module `suite`. Each test awaits
/// `$make` for a fresh implementation (a guard that derefs to `dyn Kinesis` and keeps whatever
/// serves it alive until the test ends) and runs the suite function against it.
///
/// `$make` is resolved inside the generated module, which imports the invoking module's
/// items (`use super::*`).
#[macro_export]
macro_rules! kinesis_suite {
    ($make:expr) => {
        $crate::kinesis_suite!(@tests $make;
            create_stream_names_shards_and_splits_hash_keys_evenly,
            create_stream_twice_is_resource_in_use,
            create_stream_validation_messages,
            on_demand_stream_gets_four_shards,
            create_stream_with_tags,
            describe_stream_pages_shards,
            describe_stream_summary_counts_open_shards,
            missing_stream_is_resource_not_found_everywhere,
            list_streams_pages_by_limit_start_name_and_next_token,
            list_shards_pages_with_max_results_and_next_token,
            list_shards_argument_errors,
            put_record_routes_by_md5_of_partition_key,
            explicit_hash_key_routes_and_is_range_checked,
            put_record_size_limits_are_validation_errors,
            put_records_request_limits,
            put_records_results_follow_request_order,
            trim_horizon_and_latest_iterators,
            at_and_after_sequence_number_iterators,
            at_timestamp_iterator_reads_from_arrival_times,
            get_shard_iterator_errors,
            get_records_limit_and_continuation,
            forged_or_edited_iterators_are_invalid,
            iterator_of_deleted_stream_is_resource_not_found,
            tags_add_list_page_and_remove,
            more_than_50_tags_is_invalid_argument,
            tags_with_invalid_characters_are_invalid_argument,
            retention_period_changes_and_messages,
            delete_stream_removes_the_stream_and_its_records,
            auto_distribution_spreads_records_evenly_whatever_their_keys,
            record_distribution_strategy_errors,
            channels_are_created_described_listed_updated_and_deleted,
            channel_errors_are_aws_errors,
            list_channels_pages_and_filters_by_stream,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        /// The Kinesis behaviour suite (`rill_testkit::suite`) against this implementation.
        mod suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() -> $crate::suite::TestResult {
                    let kinesis = $make.await?;
                    $crate::suite::$name(&*kinesis).await
                }
            )+
        }
    };
}

// The tests of the newest operations live in `newer.rs`; they are named from here.
mod newer;
pub use newer::*;

// ------------------------------------------------------------------------------- helpers

/// Creates a provisioned stream with `shards` shards.
pub async fn create(k: &dyn Kinesis, name: &str, shards: i32) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    })
    .await?;
    Ok(())
}

/// The ARN of stream `name`.
pub fn arn(name: &str) -> String {
    format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{name}")
}

/// AWS's message for a stream that does not exist.
pub fn not_found(name: &str) -> String {
    format!("Stream {name} under account {ACCOUNT} not found.")
}

/// The error of a call that must fail.
#[track_caller]
pub fn err_of<T: Debug>(r: Result<T>) -> Error {
    match r {
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
        Err(e) => e,
    }
}

/// Asserts that a call failed with exception `code` and exactly `message`.
#[track_caller]
pub fn assert_fails<T: Debug>(r: Result<T>, code: &str, message: &str) {
    let e = err_of(r);
    assert_eq!(e.code(), code, "{e}");
    assert_eq!(e.message(), message, "{e}");
}

/// Asserts that a call failed with exception `code` and a message starting with `prefix`.
#[track_caller]
pub fn assert_fails_with_prefix<T: Debug>(r: Result<T>, code: &str, prefix: &str) {
    let e = err_of(r);
    assert_eq!(e.code(), code, "{e}");
    assert!(e.message().starts_with(prefix), "{e}");
}

/// All shards of a stream, in one page.
pub async fn list_shards(k: &dyn Kinesis, name: &str) -> TestResult<Vec<Shard>> {
    let out = k
        .list_shards(ListShardsInput {
            stream_name: Some(name.into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.next_token, None);
    Ok(out.shards)
}

/// PutRecord of `data` under partition key `key`.
pub async fn put(
    k: &dyn Kinesis,
    name: &str,
    key: &str,
    data: &str,
) -> TestResult<PutRecordOutput> {
    Ok(k.put_record(PutRecordInput {
        stream_name: Some(name.into()),
        partition_key: key.into(),
        data: data.to_string().into(),
        ..Default::default()
    })
    .await?)
}

/// A GetShardIterator request of type `kind`.
pub fn iterator_input(name: &str, shard: &str, kind: ShardIteratorType) -> GetShardIteratorInput {
    GetShardIteratorInput {
        stream_name: Some(name.into()),
        shard_id: shard.into(),
        shard_iterator_type: Some(kind),
        ..Default::default()
    }
}

/// The iterator GetShardIterator returns for `input`.
pub async fn iterator(k: &dyn Kinesis, input: GetShardIteratorInput) -> TestResult<String> {
    let out = k.get_shard_iterator(input).await?;
    Ok(out
        .shard_iterator
        .ok_or("GetShardIterator returned no iterator")?)
}

/// A TRIM_HORIZON iterator.
pub async fn trim_horizon(k: &dyn Kinesis, name: &str, shard: &str) -> TestResult<String> {
    iterator(
        k,
        iterator_input(name, shard, ShardIteratorType::TrimHorizon),
    )
    .await
}

/// Reads from `it` until a call returns no records; returns the records read.
pub async fn read_all(k: &dyn Kinesis, mut it: String) -> TestResult<Vec<Record>> {
    let mut all = Vec::new();
    for _ in 0..1000 {
        let out = k
            .get_records(GetRecordsInput {
                shard_iterator: it,
                ..Default::default()
            })
            .await?;
        if out.records.is_empty() {
            return Ok(all);
        }
        all.extend(out.records);
        it = out
            .next_shard_iterator
            .ok_or("an open shard returned no NextShardIterator")?;
    }
    Err("too many GetRecords calls".into())
}

/// The records' data, as text.
pub fn data_of(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(&r.data).into_owned())
        .collect()
}

/// Numeric order of two decimal strings without leading zeros.
pub fn cmp_seq(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[track_caller]
fn assert_sequence_number_form(s: &str) {
    assert_eq!(s.len(), 56, "{s}");
    assert!(s.bytes().all(|b| b.is_ascii_digit()), "{s}");
    assert!(!s.starts_with('0'), "{s}");
}

fn range_of(s: &Shard) -> TestResult<(u128, u128)> {
    Ok((
        s.hash_key_range.starting_hash_key.parse()?,
        s.hash_key_range.ending_hash_key.parse()?,
    ))
}

/// The id of the shard whose hash key range holds `key`.
fn shard_owning(shards: &[Shard], key: u128) -> TestResult<String> {
    for s in shards {
        let (start, end) = range_of(s)?;
        if start <= key && key <= end {
            return Ok(s.shard_id.clone());
        }
    }
    Err(format!("no shard owns {key}").into())
}

/// Changes one character in the middle of a base64 token.
fn tamper(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn retention_hours(k: &dyn Kinesis, name: &str) -> TestResult<i32> {
    Ok(k.describe_stream(DescribeStreamInput {
        stream_name: Some(name.into()),
        ..Default::default()
    })
    .await?
    .stream_description
    .retention_period_hours)
}

// ------------------------------------------------------------------------ CreateStream

pub async fn create_stream_names_shards_and_splits_hash_keys_evenly(k: &dyn Kinesis) -> TestResult {
    create(k, "three", 3).await?;
    let shards = list_shards(k, "three").await?;
    let ids: Vec<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "shardId-000000000000",
            "shardId-000000000001",
            "shardId-000000000002"
        ]
    );
    let ranges: Vec<(&str, &str)> = shards
        .iter()
        .map(|s| {
            (
                s.hash_key_range.starting_hash_key.as_str(),
                s.hash_key_range.ending_hash_key.as_str(),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            ("0", "113427455640312821154458202477256070484"),
            (
                "113427455640312821154458202477256070485",
                "226854911280625642308916404954512140969"
            ),
            ("226854911280625642308916404954512140970", MAX_HASH_KEY),
        ]
    );
    for s in &shards {
        assert_eq!(s.parent_shard_id, None);
        assert_eq!(s.adjacent_parent_shard_id, None);
        assert_sequence_number_form(&s.sequence_number_range.starting_sequence_number);
        assert_eq!(s.sequence_number_range.ending_sequence_number, None);
    }

    // Any count splits the whole space into contiguous ranges.
    create(k, "seven", 7).await?;
    let shards = list_shards(k, "seven").await?;
    assert_eq!(shards.len(), 7);
    assert_eq!(shards[0].hash_key_range.starting_hash_key, "0");
    assert_eq!(shards[6].hash_key_range.ending_hash_key, MAX_HASH_KEY);
    for w in shards.windows(2) {
        assert_eq!(range_of(&w[0])?.1 + 1, range_of(&w[1])?.0);
    }

    let d = k
        .describe_stream(DescribeStreamInput {
            stream_name: Some("three".into()),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(d.stream_status, Some(StreamStatus::Active));
    assert_eq!(d.retention_period_hours, 24);
    assert_eq!(d.encryption_type, Some(EncryptionType::None));
    assert_eq!(d.enhanced_monitoring, vec![EnhancedMetrics::default()]);
    assert_eq!(
        d.stream_mode_details.map(|m| m.stream_mode),
        Some(StreamMode::Provisioned)
    );
    Ok(())
}

pub async fn create_stream_twice_is_resource_in_use(k: &dyn Kinesis) -> TestResult {
    create(k, "dup", 1).await?;
    assert_fails(
        k.create_stream(CreateStreamInput {
            stream_name: "dup".into(),
            shard_count: Some(2),
            ..Default::default()
        })
        .await,
        "ResourceInUseException",
        "Stream dup under account 000000000000 already exists.",
    );
    // The first stream is untouched.
    assert_eq!(list_shards(k, "dup").await?.len(), 1);
    Ok(())
}

pub async fn create_stream_validation_messages(k: &dyn Kinesis) -> TestResult {
    let create_input = |name: &str, shards: i32| CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(shards),
        ..Default::default()
    };
    assert_fails(
        k.create_stream(create_input("", 0)).await,
        "ValidationException",
        "3 validation errors detected: \
         Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1; \
         Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
         Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
    let long = "a".repeat(129);
    assert_fails(
        k.create_stream(create_input(&long, 1)).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long}' at 'streamName' failed to satisfy constraint: \
             Member must have length less than or equal to 128"
        ),
    );
    assert_fails(
        k.create_stream(create_input("bad name", 1)).await,
        "ValidationException",
        "1 validation error detected: Value 'bad name' at 'streamName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    assert_fails(
        k.create_stream(create_input("neg", -1)).await,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'shardCount' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    // 128 characters of every allowed kind are fine.
    let ok = format!("{}_.-xy", "aZ9".repeat(41));
    assert_eq!(ok.len(), 128);
    k.create_stream(create_input(&ok, 1)).await?;
    // Nothing was created by the failed calls.
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, vec![ok]);
    Ok(())
}

pub async fn on_demand_stream_gets_four_shards(k: &dyn Kinesis) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: "od".into(),
        stream_mode_details: Some(StreamModeDetails {
            stream_mode: StreamMode::OnDemand,
        }),
        ..Default::default()
    })
    .await?;
    let s = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("od".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(s.open_shard_count, 4);
    assert_eq!(
        s.stream_mode_details.map(|m| m.stream_mode),
        Some(StreamMode::OnDemand)
    );
    let shards = list_shards(k, "od").await?;
    assert_eq!(shards.len(), 4);
    assert_eq!(
        shards[1].hash_key_range.starting_hash_key,
        (1u128 << 126).to_string()
    );
    assert_eq!(shards[3].hash_key_range.ending_hash_key, MAX_HASH_KEY);
    Ok(())
}

pub async fn create_stream_with_tags(k: &dyn Kinesis) -> TestResult {
    k.create_stream(CreateStreamInput {
        stream_name: "tagged".into(),
        shard_count: Some(1),
        tags: Some(HashMap::from([
            ("team".to_string(), "data".to_string()),
            ("env".to_string(), "prod".to_string()),
        ])),
        ..Default::default()
    })
    .await?;
    let out = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("tagged".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        out.tags,
        vec![
            Tag {
                key: "env".into(),
                value: Some("prod".into())
            },
            Tag {
                key: "team".into(),
                value: Some("data".into())
            },
        ]
    );
    assert!(!out.has_more_tags);
    // Invalid tag characters at creation fail, and create nothing.
    assert_fails(
        k.create_stream(CreateStreamInput {
            stream_name: "badtags".into(),
            shard_count: Some(1),
            tags: Some(HashMap::from([("a;b".to_string(), "x".to_string())])),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
    );
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, vec!["tagged".to_string()]);
    Ok(())
}

// ---------------------------------------------------------------------- DescribeStream

pub async fn describe_stream_pages_shards(k: &dyn Kinesis) -> TestResult {
    create(k, "five", 5).await?;
    let describe = |limit: Option<i32>, after: Option<&str>| DescribeStreamInput {
        stream_name: Some("five".into()),
        limit,
        exclusive_start_shard_id: after.map(String::from),
        ..Default::default()
    };
    let ids = |d: &StreamDescription| -> Vec<String> {
        d.shards.iter().map(|s| s.shard_id.clone()).collect()
    };

    let all = k
        .describe_stream(describe(None, None))
        .await?
        .stream_description;
    assert_eq!(all.shards.len(), 5);
    assert!(!all.has_more_shards);
    assert_eq!(all.stream_name, "five");
    assert_eq!(
        all.stream_arn,
        "arn:aws:kinesis:us-east-1:000000000000:stream/five"
    );

    let p1 = k
        .describe_stream(describe(Some(2), None))
        .await?
        .stream_description;
    assert_eq!(ids(&p1), ["shardId-000000000000", "shardId-000000000001"]);
    assert!(p1.has_more_shards);
    let p2 = k
        .describe_stream(describe(Some(2), Some("shardId-000000000001")))
        .await?
        .stream_description;
    assert_eq!(ids(&p2), ["shardId-000000000002", "shardId-000000000003"]);
    assert!(p2.has_more_shards);
    let p3 = k
        .describe_stream(describe(Some(2), Some("shardId-000000000003")))
        .await?
        .stream_description;
    assert_eq!(ids(&p3), ["shardId-000000000004"]);
    assert!(!p3.has_more_shards);
    // A page that ends exactly at the last shard has no more.
    let p = k
        .describe_stream(describe(Some(2), Some("shardId-000000000002")))
        .await?
        .stream_description;
    assert_eq!(ids(&p), ["shardId-000000000003", "shardId-000000000004"]);
    assert!(!p.has_more_shards);
    // The pages together are the whole list.
    let joined: Vec<Shard> = [p1.shards, p2.shards, p3.shards].concat();
    assert_eq!(joined, all.shards);

    assert_fails(
        k.describe_stream(describe(Some(0), None)).await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    assert_fails(
        k.describe_stream(describe(Some(100_000), None)).await,
        "ValidationException",
        "1 validation error detected: Value '100000' at 'limit' failed to satisfy constraint: \
         Member must have value less than or equal to 10000",
    );

    // By ARN.
    let by_arn = k
        .describe_stream(DescribeStreamInput {
            stream_arn: Some(arn("five")),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(by_arn, all);
    Ok(())
}

pub async fn describe_stream_summary_counts_open_shards(k: &dyn Kinesis) -> TestResult {
    create(k, "sum", 3).await?;
    let by_name = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("sum".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(by_name.open_shard_count, 3);
    assert_eq!(by_name.stream_name, "sum");
    assert_eq!(by_name.stream_arn, arn("sum"));
    assert_eq!(by_name.stream_status, Some(StreamStatus::Active));
    assert_eq!(by_name.retention_period_hours, 24);
    assert_eq!(by_name.consumer_count, Some(0));
    let by_arn = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_arn: Some(arn("sum")),
            ..Default::default()
        })
        .await?
        .stream_description_summary;
    assert_eq!(by_arn, by_name);
    // Same creation time as DescribeStream reports.
    let d = k
        .describe_stream(DescribeStreamInput {
            stream_name: Some("sum".into()),
            ..Default::default()
        })
        .await?
        .stream_description;
    assert_eq!(
        d.stream_creation_timestamp,
        by_name.stream_creation_timestamp
    );
    Ok(())
}

pub async fn missing_stream_is_resource_not_found_everywhere(k: &dyn Kinesis) -> TestResult {
    create(k, "other", 1).await?;
    let msg = not_found("nope");
    let rnf = "ResourceNotFoundException";
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_arn: Some(arn("nope")),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.describe_stream_summary(DescribeStreamSummaryInput {
            stream_arn: Some(arn("nope")),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("nope".into()),
            partition_key: "k".into(),
            data: "d".into(),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.put_records(PutRecordsInput {
            stream_name: Some("nope".into()),
            records: vec![PutRecordsRequestEntry {
                partition_key: "k".into(),
                data: "d".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.delete_stream(DeleteStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.increase_stream_retention_period(RetentionPeriodInput {
            stream_name: Some("nope".into()),
            retention_period_hours: 25,
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    assert_fails(
        k.list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("nope".into()),
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    // Existence is checked before the tag characters (AWS order).
    assert_fails(
        k.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream_name: Some("nope".into()),
            tag_keys: vec![";".into()],
            ..Default::default()
        })
        .await,
        rnf,
        &msg,
    );
    // A bad name is a ValidationException even when no such stream exists.
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("no pe".into()),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value 'no pe' at 'streamName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
    );
    Ok(())
}

// ------------------------------------------------------------------------- ListStreams

pub async fn list_streams_pages_by_limit_start_name_and_next_token(k: &dyn Kinesis) -> TestResult {
    let names: Vec<String> = ["g", "c", "a", "e", "b", "f", "d"]
        .iter()
        .map(|n| format!("stream-{n}"))
        .collect();
    for n in &names {
        create(k, n, 1).await?;
    }
    let mut sorted = names.clone();
    sorted.sort();

    let all = k.list_streams(ListStreamsInput::default()).await?;
    assert_eq!(all.stream_names, sorted);
    assert!(!all.has_more_streams);
    assert_eq!(all.next_token, None);
    let summary_names: Vec<&str> = all
        .stream_summaries
        .iter()
        .map(|s| s.stream_name.as_str())
        .collect();
    assert_eq!(summary_names, sorted);
    assert_eq!(all.stream_summaries[0].stream_arn, arn("stream-a"));

    // NextToken round trip, Limit 3: 3 + 3 + 1.
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = k
            .list_streams(ListStreamsInput {
                limit: Some(3),
                next_token: token.take(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.has_more_streams, out.next_token.is_some());
        pages.push(out.stream_names);
        match out.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(pages.concat(), sorted);

    // ExclusiveStartStreamName.
    let out = k
        .list_streams(ListStreamsInput {
            limit: Some(2),
            exclusive_start_stream_name: Some("stream-c".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.stream_names, ["stream-d", "stream-e"]);
    assert!(out.has_more_streams);
    let out = k
        .list_streams(ListStreamsInput {
            limit: Some(5),
            exclusive_start_stream_name: Some("stream-e".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.stream_names, ["stream-f", "stream-g"]);
    assert!(!out.has_more_streams);

    assert_fails(
        k.list_streams(ListStreamsInput {
            limit: Some(0),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    let first = k
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    let t = first.next_token.ok_or("no NextToken")?;
    assert_eq!(
        err_of(
            k.list_streams(ListStreamsInput {
                next_token: Some(tamper(&t)),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    Ok(())
}

// -------------------------------------------------------------------------- ListShards

pub async fn list_shards_pages_with_max_results_and_next_token(k: &dyn Kinesis) -> TestResult {
    create(k, "ten", 10).await?;
    let all = list_shards(k, "ten").await?;
    assert_eq!(all.len(), 10);

    let first = k
        .list_shards(ListShardsInput {
            stream_name: Some("ten".into()),
            max_results: Some(3),
            ..Default::default()
        })
        .await?;
    let mut pages = vec![first.shards];
    let mut token = first.next_token;
    while let Some(t) = token.take() {
        let out = k
            .list_shards(ListShardsInput {
                next_token: Some(t),
                max_results: Some(3),
                ..Default::default()
            })
            .await?;
        pages.push(out.shards);
        token = out.next_token;
        assert!(pages.len() < 10, "pagination does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [3, 3, 3, 1]);
    assert_eq!(pages.concat(), all);

    // ExclusiveStartShardId.
    let out = k
        .list_shards(ListShardsInput {
            stream_name: Some("ten".into()),
            exclusive_start_shard_id: Some("shardId-000000000007".into()),
            ..Default::default()
        })
        .await?;
    let ids: Vec<&str> = out.shards.iter().map(|s| s.shard_id.as_str()).collect();
    assert_eq!(ids, ["shardId-000000000008", "shardId-000000000009"]);
    assert_eq!(out.next_token, None);

    // By ARN.
    let out = k
        .list_shards(ListShardsInput {
            stream_arn: Some(arn("ten")),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.shards, all);
    Ok(())
}

pub async fn list_shards_argument_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    create(k, "other", 1).await?;
    let token = k
        .list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            max_results: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no NextToken")?;
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and StreamName cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_arn: Some(arn("s")),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and StreamARN cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput {
            exclusive_start_shard_id: Some("shardId-000000000000".into()),
            next_token: Some(token.clone()),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        "NextToken and ExclusiveStartShardId cannot be provided together.",
    );
    assert_fails(
        k.list_shards(ListShardsInput::default()).await,
        "InvalidArgumentException",
        "Either NextToken or StreamName should be provided.",
    );
    // A tampered token is rejected, as is a ListStreams token.
    assert_eq!(
        err_of(
            k.list_shards(ListShardsInput {
                next_token: Some(tamper(&token)),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    let streams_token = k
        .list_streams(ListStreamsInput {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .next_token
        .ok_or("no ListStreams NextToken")?;
    assert_eq!(
        err_of(
            k.list_shards(ListShardsInput {
                next_token: Some(streams_token),
                ..Default::default()
            })
            .await
        )
        .code(),
        "InvalidArgumentException"
    );
    // The untampered token still works.
    let out = k
        .list_shards(ListShardsInput {
            next_token: Some(token),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.shards.len(), 3);
    assert_eq!(out.shards[0].shard_id, "shardId-000000000001");
    assert_fails(
        k.list_shards(ListShardsInput {
            stream_name: Some("s".into()),
            max_results: Some(0),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    Ok(())
}

// ------------------------------------------------------------------------ PutRecord(s)

pub async fn put_record_routes_by_md5_of_partition_key(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    let shards = list_shards(k, "s").await?;
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for i in 0..40 {
        let key = format!("partition-{i}");
        let out = put(k, "s", &key, &key).await?;
        let owner = shard_owning(&shards, HashKey::from_partition_key(&key).0)?;
        assert_eq!(out.shard_id, owner, "partition key {key}");
        assert_sequence_number_form(&out.sequence_number);
        expected.entry(owner).or_default().push(key);
    }
    assert_eq!(expected.len(), 4, "40 keys should reach all 4 shards");
    // Each shard holds exactly the records routed to it, in put order.
    for s in &shards {
        let got = read_all(k, trim_horizon(k, "s", &s.shard_id).await?).await?;
        assert_eq!(
            data_of(&got),
            expected.get(&s.shard_id).cloned().unwrap_or_default(),
            "{}",
            s.shard_id
        );
        for r in &got {
            assert_eq!(String::from_utf8_lossy(&r.data), r.partition_key);
        }
    }
    Ok(())
}

pub async fn explicit_hash_key_routes_and_is_range_checked(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 4).await?;
    let shards = list_shards(k, "s").await?;
    // A partition key whose MD5 lives in shard 0, sent elsewhere by its explicit hash key.
    let key = (0..1000)
        .map(|i| format!("k{i}"))
        .find(|key| HashKey::from_partition_key(key).0 < (1u128 << 126))
        .ok_or("no key hashes into shard 0")?;
    let cases = [
        ("0".to_string(), "shardId-000000000000"),
        (
            shards[1].hash_key_range.ending_hash_key.clone(),
            "shardId-000000000001",
        ),
        (
            shards[2].hash_key_range.starting_hash_key.clone(),
            "shardId-000000000002",
        ),
        (MAX_HASH_KEY.to_string(), "shardId-000000000003"),
    ];
    for (ehk, shard) in &cases {
        let out = k
            .put_record(PutRecordInput {
                stream_name: Some("s".into()),
                partition_key: key.clone(),
                explicit_hash_key: Some(ehk.clone()),
                data: "x".into(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.shard_id, *shard, "explicit hash key {ehk}");
    }
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: cases
                .iter()
                .map(|(ehk, _)| PutRecordsRequestEntry {
                    partition_key: key.clone(),
                    explicit_hash_key: Some(ehk.clone()),
                    data: "y".into(),
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    let got: Vec<Option<String>> = out.records.iter().map(|r| r.shard_id.clone()).collect();
    let want: Vec<Option<String>> = cases.iter().map(|(_, s)| Some(s.to_string())).collect();
    assert_eq!(got, want);

    let too_big = "340282366920938463463374607431768211456";
    let msg = format!(
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {too_big}"
    );
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some(too_big.into()),
            data: "x".into(),
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &msg,
    );
    // In PutRecords one bad entry fails the whole request: nothing is written.
    assert_fails(
        k.put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: vec![
                PutRecordsRequestEntry {
                    partition_key: "fine".into(),
                    data: "not written".into(),
                    ..Default::default()
                },
                PutRecordsRequestEntry {
                    partition_key: "k".into(),
                    explicit_hash_key: Some(too_big.into()),
                    data: "x".into(),
                },
            ],
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        &msg,
    );
    let mut total = 0;
    for s in &shards {
        let got = read_all(k, trim_horizon(k, "s", &s.shard_id).await?).await?;
        assert!(!data_of(&got).contains(&"not written".to_string()));
        total += got.len();
    }
    assert_eq!(total, 8);
    // Not a hash key at all: ValidationException.
    assert_fails(
        k.put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some("01".into()),
            data: "x".into(),
            ..Default::default()
        })
        .await,
        "ValidationException",
        "1 validation error detected: Value '01' at 'explicitHashKey' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
    );
    Ok(())
}

pub async fn put_record_size_limits_are_validation_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let input = |key: String, data: Vec<u8>| PutRecordInput {
        stream_name: Some("s".into()),
        partition_key: key,
        data: data.into(),
        ..Default::default()
    };
    let long_key = "p".repeat(257);
    assert_fails(
        k.put_record(input(long_key.clone(), b"x".to_vec())).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_key}' at 'partitionKey' failed to satisfy constraint: \
             Member must have length less than or equal to 256"
        ),
    );
    assert_fails(
        k.put_record(input(String::new(), b"x".to_vec())).await,
        "ValidationException",
        "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: \
         Member must have length greater than or equal to 1",
    );
    assert_fails(
        k.put_record(input("k".into(), vec![7u8; ONE_MIB + 1]))
            .await,
        "ValidationException",
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' \
         failed to satisfy constraint: Member must have length less than or equal to 1048576",
    );
    // The limits themselves are allowed; so is empty data, and 256 two-byte characters.
    k.put_record(input("p".repeat(256), b"x".to_vec())).await?;
    k.put_record(input("é".repeat(256), b"x".to_vec())).await?;
    k.put_record(input("k".into(), vec![7u8; ONE_MIB])).await?;
    k.put_record(input("k".into(), Vec::new())).await?;
    let got = read_all(k, trim_horizon(k, "s", "shardId-000000000000").await?).await?;
    let sizes: Vec<usize> = got.iter().map(|r| r.data.len()).collect();
    assert_eq!(sizes, [1, 1, ONE_MIB, 0]);
    assert_eq!(got[1].partition_key, "é".repeat(256));
    Ok(())
}

pub async fn put_records_request_limits(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    let entry = |key: &str, len: usize| PutRecordsRequestEntry {
        partition_key: key.into(),
        data: vec![1u8; len].into(),
        ..Default::default()
    };
    let request = |records: Vec<PutRecordsRequestEntry>| PutRecordsInput {
        stream_name: Some("s".into()),
        records,
        ..Default::default()
    };

    let e = err_of(k.put_records(request(vec![entry("k", 1); 501])).await);
    assert_eq!(e.code(), "ValidationException", "{e}");
    assert!(
        e.message().starts_with("1 validation error detected: "),
        "{e}"
    );
    assert!(
        e.message().contains(
            "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"
        ),
        "{e}"
    );
    assert_fails(
        k.put_records(request(Vec::new())).await,
        "ValidationException",
        "1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: \
         Member must have length greater than or equal to 1",
    );
    // Entries are numbered from 1 in messages.
    let long_key = "p".repeat(257);
    assert_fails(
        k.put_records(request(vec![entry("k", 1), entry(&long_key, 1)]))
            .await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{long_key}' at 'records.2.member.partitionKey' \
             failed to satisfy constraint: Member must have length less than or equal to 256"
        ),
    );
    assert_fails(
        k.put_records(request(vec![entry("k", ONE_MIB + 1)])).await,
        "ValidationException",
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' \
         at 'records.1.member.data' failed to satisfy constraint: Member must have length less than or equal to 1048576",
    );
    // 5 MiB counts data and partition keys: five 1 MiB records with 1-byte keys are over it.
    assert_fails(
        k.put_records(request(vec![entry("k", ONE_MIB); 5])).await,
        "InvalidArgumentException",
        "Records size exceeds 5 MB limit",
    );
    // Exactly 5 MiB is allowed.
    let out = k
        .put_records(request(vec![entry("k", ONE_MIB - 1); 5]))
        .await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), 5);
    // 500 entries are allowed.
    let out = k.put_records(request(vec![entry("k", 1); 500])).await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), 500);
    Ok(())
}

pub async fn put_records_results_follow_request_order(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 3).await?;
    let shards = list_shards(k, "s").await?;
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
    let out = k
        .put_records(PutRecordsInput {
            stream_name: Some("s".into()),
            records: keys
                .iter()
                .map(|key| PutRecordsRequestEntry {
                    partition_key: key.clone(),
                    data: key.clone().into_bytes().into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    assert_eq!(out.failed_record_count, 0);
    assert_eq!(out.records.len(), keys.len());
    let mut last: HashMap<String, String> = HashMap::new();
    let mut by_shard: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for (key, r) in keys.iter().zip(&out.records) {
        assert_eq!(r.error_code, None);
        assert_eq!(r.error_message, None);
        let shard = r.shard_id.clone().ok_or("entry without ShardId")?;
        let seq = r
            .sequence_number
            .clone()
            .ok_or("entry without SequenceNumber")?;
        assert_eq!(
            shard,
            shard_owning(&shards, HashKey::from_partition_key(key).0)?
        );
        assert_sequence_number_form(&seq);
        if let Some(prev) = last.get(&shard) {
            assert_eq!(
                cmp_seq(prev, &seq),
                Ordering::Less,
                "{prev} then {seq} in {shard}"
            );
        }
        last.insert(shard.clone(), seq.clone());
        by_shard.entry(shard).or_default().push((seq, key.clone()));
    }
    // Reading back gives each shard's entries in request order, with the same numbers.
    for (shard, want) in &by_shard {
        let got = read_all(k, trim_horizon(k, "s", shard).await?).await?;
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|r| (r.sequence_number, r.partition_key))
            .collect();
        assert_eq!(&got, want);
    }
    // A later PutRecord gets a higher number in its shard; numbers are unique in the stream.
    let later = put(k, "s", &keys[0], "later").await?;
    let prev = last.get(&later.shard_id).ok_or("shard of key-0 unseen")?;
    assert_eq!(cmp_seq(prev, &later.sequence_number), Ordering::Less);
    let mut all: Vec<&String> = out
        .records
        .iter()
        .filter_map(|r| r.sequence_number.as_ref())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
    Ok(())
}

// -------------------------------------------------------- GetShardIterator, GetRecords

pub async fn trim_horizon_and_latest_iterators(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    for i in 0..3 {
        put(k, "s", "k", &format!("old-{i}")).await?;
    }
    let latest = iterator(k, iterator_input("s", shard, ShardIteratorType::Latest)).await?;
    let out = k
        .get_records(GetRecordsInput {
            shard_iterator: latest.clone(),
            ..Default::default()
        })
        .await?;
    assert!(out.records.is_empty());
    assert_eq!(out.millis_behind_latest, Some(0));
    let next = out.next_shard_iterator.ok_or("no NextShardIterator")?;
    put(k, "s", "k", "new-0").await?;
    put(k, "s", "k", "new-1").await?;
    assert_eq!(data_of(&read_all(k, next).await?), ["new-0", "new-1"]);
    // The LATEST iterator itself also sees exactly the records put after it was taken.
    assert_eq!(data_of(&read_all(k, latest).await?), ["new-0", "new-1"]);
    assert_eq!(
        data_of(&read_all(k, trim_horizon(k, "s", shard).await?).await?),
        ["old-0", "old-1", "old-2", "new-0", "new-1"]
    );
    // Shard ids are read as AWS does: the number after the first '-'.
    let it = iterator(
        k,
        iterator_input("s", "shardId-0", ShardIteratorType::TrimHorizon),
    )
    .await?;
    assert_eq!(read_all(k, it).await?.len(), 5);
    // By ARN.
    let it = iterator(
        k,
        GetShardIteratorInput {
            stream_arn: Some(arn("s")),
            shard_id: shard.into(),
            shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(read_all(k, it).await?.len(), 5);
    Ok(())
}

pub async fn at_and_after_sequence_number_iterators(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    let mut seqs = Vec::new();
    for i in 0..5 {
        seqs.push(put(k, "s", "k", &format!("r{i}")).await?.sequence_number);
    }
    let at = |kind, seq: &str| GetShardIteratorInput {
        starting_sequence_number: Some(seq.into()),
        ..iterator_input("s", shard, kind)
    };
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AtSequenceNumber, &seqs[2])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r2", "r3", "r4"]);
    assert_eq!(got[0].sequence_number, seqs[2]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AfterSequenceNumber, &seqs[2])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r3", "r4"]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AtSequenceNumber, &seqs[0])).await?,
    )
    .await?;
    assert_eq!(data_of(&got), ["r0", "r1", "r2", "r3", "r4"]);
    let got = read_all(
        k,
        iterator(k, at(ShardIteratorType::AfterSequenceNumber, &seqs[4])).await?,
    )
    .await?;
    assert!(got.is_empty());
    Ok(())
}

pub async fn at_timestamp_iterator_reads_from_arrival_times(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    for i in 0..3 {
        put(k, "s", "k", &format!("r{i}")).await?;
    }
    let all = read_all(k, trim_horizon(k, "s", shard).await?).await?;
    let arrivals: Vec<i64> = all
        .iter()
        .map(|r| r.approximate_arrival_timestamp.map(|t| t.0))
        .collect::<Option<_>>()
        .ok_or("a record without ApproximateArrivalTimestamp")?;
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]), "{arrivals:?}");
    let at = |ms: i64| GetShardIteratorInput {
        timestamp: Some(Timestamp(ms)),
        ..iterator_input("s", shard, ShardIteratorType::AtTimestamp)
    };
    // At a record's own arrival time: that record and everything after it, nothing before.
    for (i, &t) in arrivals.iter().enumerate() {
        let got = read_all(k, iterator(k, at(t)).await?).await?;
        let want: Vec<&Record> = all
            .iter()
            .filter(|r| r.approximate_arrival_timestamp.is_some_and(|a| a.0 >= t))
            .collect();
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "at {t}");
        assert!(
            got.contains(&all[i]),
            "record {i} at its own arrival time {t}"
        );
    }
    // Before the first record: everything.
    let day_before = arrivals[0] - 86_400_000;
    assert_eq!(read_all(k, iterator(k, at(day_before)).await?).await?, all);
    // The future is an error.
    let future = arrivals[2] + 3_600_000;
    assert_fails_with_prefix(
        k.get_shard_iterator(at(future)).await,
        "InvalidArgumentException",
        &format!(
            "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. \
             timestampInMillis: {future}, currentTimestampInMillis: "
        ),
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", shard, ShardIteratorType::AtTimestamp))
            .await,
        "InvalidArgumentException",
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. \
         Current request has no timestamp parameter.",
    );
    Ok(())
}

pub async fn get_shard_iterator_errors(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    let on_shard_1 = k
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some(MAX_HASH_KEY.into()),
            data: "x".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(on_shard_1.shard_id, "shardId-000000000001");
    let with_seq = |shard: &str, kind, seq: Option<&str>| GetShardIteratorInput {
        starting_sequence_number: seq.map(String::from),
        ..iterator_input("s", shard, kind)
    };
    assert_fails(
        k.get_shard_iterator(with_seq(
            "shardId-000000000000",
            ShardIteratorType::AtSequenceNumber,
            Some(&on_shard_1.sequence_number),
        ))
        .await,
        "InvalidArgumentException",
        "Invalid StartingSequenceNumber. It encodes shardId-000000000001, \
         while it was used in a call to a shard with shardId-000000000000",
    );
    let must = "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber \
                or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber.";
    for kind in [
        ShardIteratorType::AtSequenceNumber,
        ShardIteratorType::AfterSequenceNumber,
    ] {
        assert_fails(
            k.get_shard_iterator(with_seq("shardId-000000000000", kind, None))
                .await,
            "InvalidArgumentException",
            &format!("{must} Request specified {kind} and no StartingSequenceNumber."),
        );
    }
    for kind in [ShardIteratorType::TrimHorizon, ShardIteratorType::Latest] {
        assert_fails(
            k.get_shard_iterator(with_seq(
                "shardId-000000000001",
                kind,
                Some(&on_shard_1.sequence_number),
            ))
            .await,
            "InvalidArgumentException",
            &format!("{must} Request specified {kind} and also a StartingSequenceNumber."),
        );
    }
    // Unknown shards.
    assert_fails(
        k.get_shard_iterator(iterator_input(
            "s",
            "shardId-000000000005",
            ShardIteratorType::Latest,
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000005 in stream s under account 000000000000 does not exist",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", "ABKLFD8", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard ABKLFD8 in stream s under account 000000000000.",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("s", "2147483648", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard 2147483648 in stream s under account 000000000000.",
    );
    // On an unknown stream AWS names the shard, not the stream.
    assert_fails(
        k.get_shard_iterator(iterator_input(
            "nope",
            "shardId-0",
            ShardIteratorType::Latest,
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000000 in stream nope under account 000000000000 does not exist",
    );
    assert_fails(
        k.get_shard_iterator(iterator_input("nope", "ABKLFD8", ShardIteratorType::Latest))
            .await,
        "ResourceNotFoundException",
        "Could not find shard ABKLFD8 in stream nope under account 000000000000.",
    );
    // Shard existence is checked before the iterator type's arguments.
    assert_fails(
        k.get_shard_iterator(with_seq(
            "shardId-5",
            ShardIteratorType::AtSequenceNumber,
            Some("5"),
        ))
        .await,
        "ResourceNotFoundException",
        "Shard shardId-000000000005 in stream s under account 000000000000 does not exist",
    );
    Ok(())
}

pub async fn get_records_limit_and_continuation(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    let mut put_seqs = Vec::new();
    for i in 0..25 {
        put_seqs.push(
            put(k, "s", &format!("k{i}"), &format!("r{i}"))
                .await?
                .sequence_number,
        );
    }
    let mut it = trim_horizon(k, "s", shard).await?;
    let mut got: Vec<Record> = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let out = k
            .get_records(GetRecordsInput {
                shard_iterator: it,
                limit: Some(4),
                ..Default::default()
            })
            .await?;
        it = out.next_shard_iterator.ok_or("no NextShardIterator")?;
        sizes.push(out.records.len());
        for r in &out.records {
            assert!(r.approximate_arrival_timestamp.is_some());
        }
        let caught_up = got.len() + out.records.len() == 25;
        if caught_up {
            assert_eq!(out.millis_behind_latest, Some(0));
        }
        if out.records.is_empty() {
            assert_eq!(out.millis_behind_latest, Some(0));
            break;
        }
        got.extend(out.records);
        assert!(sizes.len() < 20, "reading does not end");
    }
    assert_eq!(sizes, [4, 4, 4, 4, 4, 4, 1, 0]);
    let seqs: Vec<String> = got.iter().map(|r| r.sequence_number.clone()).collect();
    assert_eq!(seqs, put_seqs, "no gap, no duplicate, in order");
    let want: Vec<String> = (0..25).map(|i| format!("r{i}")).collect();
    assert_eq!(data_of(&got), want);
    assert_eq!(got[7].partition_key, "k7");
    // The iterator of the empty read continues with what comes next.
    put(k, "s", "k", "r25").await?;
    assert_eq!(data_of(&read_all(k, it).await?), ["r25"]);

    let th = trim_horizon(k, "s", shard).await?;
    for (limit, bound) in [
        (0, "greater than or equal to 1"),
        (10_001, "less than or equal to 10000"),
    ] {
        assert_fails(
            k.get_records(GetRecordsInput {
                shard_iterator: th.clone(),
                limit: Some(limit),
                ..Default::default()
            })
            .await,
            "ValidationException",
            &format!(
                "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: \
                 Member must have value {bound}"
            ),
        );
    }
    Ok(())
}

pub async fn forged_or_edited_iterators_are_invalid(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    put(k, "s", "k", "x").await?;
    let it = trim_horizon(k, "s", "shardId-000000000000").await?;
    assert!(it.len() <= 512, "AWS iterators are at most 512 characters");
    let read = |shard_iterator: String| GetRecordsInput {
        shard_iterator,
        ..Default::default()
    };
    let invalid = "Invalid ShardIterator.";
    for forged in [
        "not-an-iterator".to_string(),
        "AAAAAAAAAAE=".to_string(),
        tamper(&it),
        format!("{it}AAAA"),
        it[..it.len() - 4].to_string(),
    ] {
        assert_fails(
            k.get_records(read(forged.clone())).await,
            "InvalidArgumentException",
            invalid,
        );
    }
    assert_fails(
        k.get_records(read("a".repeat(513))).await,
        "ValidationException",
        &format!(
            "1 validation error detected: Value '{}' at 'shardIterator' failed to satisfy constraint: \
             Member must have length less than or equal to 512",
            "a".repeat(513)
        ),
    );
    // The genuine iterator still works.
    assert_eq!(data_of(&read_all(k, it).await?), ["x"]);
    Ok(())
}

pub async fn iterator_of_deleted_stream_is_resource_not_found(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    put(k, "s", "k", "x").await?;
    let it0 = trim_horizon(k, "s", "shardId-000000000000").await?;
    let it1 = trim_horizon(k, "s", "shardId-000000000001").await?;
    k.delete_stream(DeleteStreamInput {
        stream_name: Some("s".into()),
        ..Default::default()
    })
    .await?;
    for (it, shard) in [(it0, "shardId-000000000000"), (it1, "shardId-000000000001")] {
        assert_fails(
            k.get_records(GetRecordsInput {
                shard_iterator: it,
                ..Default::default()
            })
            .await,
            "ResourceNotFoundException",
            &format!("Shard {shard} in stream s under account 000000000000 does not exist"),
        );
    }
    Ok(())
}

// -------------------------------------------------------------------------------- tags

pub async fn tags_add_list_page_and_remove(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from(
            ["e", "c", "a", "d", "b"].map(|key| (key.to_string(), format!("v-{key}"))),
        ),
        ..Default::default()
    })
    .await?;
    let list = |limit: Option<i32>, start: Option<&str>| ListTagsForStreamInput {
        stream_name: Some("s".into()),
        limit,
        exclusive_start_tag_key: start.map(String::from),
        ..Default::default()
    };
    let keys = |out: &ListTagsForStreamOutput| -> Vec<String> {
        out.tags.iter().map(|t| t.key.clone()).collect()
    };
    let all = k.list_tags_for_stream(list(None, None)).await?;
    assert_eq!(keys(&all), ["a", "b", "c", "d", "e"]);
    assert_eq!(all.tags[2].value.as_deref(), Some("v-c"));
    assert!(!all.has_more_tags);

    let p1 = k.list_tags_for_stream(list(Some(2), None)).await?;
    assert_eq!(keys(&p1), ["a", "b"]);
    assert!(p1.has_more_tags);
    let p2 = k.list_tags_for_stream(list(Some(2), Some("b"))).await?;
    assert_eq!(keys(&p2), ["c", "d"]);
    assert!(p2.has_more_tags);
    let p3 = k.list_tags_for_stream(list(Some(2), Some("d"))).await?;
    assert_eq!(keys(&p3), ["e"]);
    assert!(!p3.has_more_tags);

    // Overwrite one value, add one key.
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from([
            ("c".to_string(), "changed".to_string()),
            ("f".to_string(), String::new()),
        ]),
        ..Default::default()
    })
    .await?;
    // Remove two keys and one that does not exist (ignored).
    k.remove_tags_from_stream(RemoveTagsFromStreamInput {
        stream_name: Some("s".into()),
        tag_keys: vec!["a".into(), "e".into(), "zzz".into()],
        ..Default::default()
    })
    .await?;
    let all = k.list_tags_for_stream(list(None, None)).await?;
    assert_eq!(
        all.tags,
        vec![
            Tag {
                key: "b".into(),
                value: Some("v-b".into())
            },
            Tag {
                key: "c".into(),
                value: Some("changed".into())
            },
            Tag {
                key: "d".into(),
                value: Some("v-d".into())
            },
            Tag {
                key: "f".into(),
                value: Some(String::new())
            },
        ]
    );
    // By ARN.
    let by_arn = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_arn: Some(arn("s")),
            ..Default::default()
        })
        .await?;
    assert_eq!(by_arn, all);
    Ok(())
}

pub async fn more_than_50_tags_is_invalid_argument(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    create(k, "t", 1).await?;
    let tags = |from: usize, to: usize| -> HashMap<String, String> {
        (from..to)
            .map(|i| (format!("key{i:02}"), format!("{i}")))
            .collect()
    };
    let add = |stream: &str, tags: HashMap<String, String>| AddTagsToStreamInput {
        stream_name: Some(stream.into()),
        tags,
        ..Default::default()
    };
    let too_many = |stream: &str| {
        format!(
            "Failed to add tags to stream {stream} under account 000000000000 because a given stream \
             cannot have more than 50 tags associated with it."
        )
    };
    k.add_tags_to_stream(add("s", tags(0, 30))).await?;
    k.add_tags_to_stream(add("s", tags(30, 50))).await?;
    // Overwriting existing keys does not count twice.
    k.add_tags_to_stream(add("s", tags(10, 50))).await?;
    assert_fails(
        k.add_tags_to_stream(add("s", tags(45, 51))).await,
        "InvalidArgumentException",
        &too_many("s"),
    );
    let listed = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(listed.tags.len(), 50);
    assert!(!listed.has_more_tags);
    assert!(listed.tags.iter().all(|t| t.key != "key50"));
    // 51 new tags in one call: the request is well formed (AWS allows 200 entries in the map);
    // the stream's limit is what is exceeded.
    assert_fails(
        k.add_tags_to_stream(add("t", tags(0, 51))).await,
        "InvalidArgumentException",
        &too_many("t"),
    );
    // The same limit holds at creation.
    let create_tagged = |name: &str, n: usize| CreateStreamInput {
        stream_name: name.into(),
        shard_count: Some(1),
        tags: Some(tags(0, n)),
        ..Default::default()
    };
    assert_fails_with_prefix(
        k.create_stream(create_tagged("u", 51)).await,
        "InvalidArgumentException",
        "Failed to create stream u under account 000000000000",
    );
    assert_eq!(
        k.list_streams(ListStreamsInput::default())
            .await?
            .stream_names,
        ["s", "t"]
    );
    k.create_stream(create_tagged("u", 50)).await?;
    Ok(())
}

pub async fn tags_with_invalid_characters_are_invalid_argument(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let msg = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";
    for (key, value) in [
        ("a;b", "x"),
        ("ok", "a,b"),
        ("tab\there", "x"),
        ("ok", "new\nline"),
    ] {
        assert_fails(
            k.add_tags_to_stream(AddTagsToStreamInput {
                stream_name: Some("s".into()),
                tags: HashMap::from([(key.to_string(), value.to_string())]),
                ..Default::default()
            })
            .await,
            "InvalidArgumentException",
            msg,
        );
    }
    assert_fails(
        k.remove_tags_from_stream(RemoveTagsFromStreamInput {
            stream_name: Some("s".into()),
            tag_keys: vec!["a;b".into()],
            ..Default::default()
        })
        .await,
        "InvalidArgumentException",
        msg,
    );
    // Every allowed kind of character.
    k.add_tags_to_stream(AddTagsToStreamInput {
        stream_name: Some("s".into()),
        tags: HashMap::from([("Ünïcode key 9_./=+-@".to_string(), "välue %".to_string())]),
        ..Default::default()
    })
    .await?;
    let listed = k
        .list_tags_for_stream(ListTagsForStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(listed.tags.len(), 1, "the failed calls added nothing");
    Ok(())
}

// --------------------------------------------------------------------------- retention

pub async fn retention_period_changes_and_messages(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 1).await?;
    let input = |hours: i32| RetentionPeriodInput {
        stream_name: Some("s".into()),
        retention_period_hours: hours,
        ..Default::default()
    };
    k.increase_stream_retention_period(input(48)).await?;
    assert_eq!(retention_hours(k, "s").await?, 48);
    let summary = k
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await?;
    assert_eq!(
        summary.stream_description_summary.retention_period_hours,
        48
    );

    assert_fails(
        k.increase_stream_retention_period(input(24)).await,
        "InvalidArgumentException",
        "Requested retention period (24 hours) for stream s can not be shorter than existing retention period \
         (48 hours). Use DecreaseRetentionPeriod API.",
    );
    assert_fails(
        k.decrease_stream_retention_period(input(72)).await,
        "InvalidArgumentException",
        "Requested retention period (72 hours) for stream s can not be longer than existing retention period \
         (48 hours). Use IncreaseRetentionPeriod API.",
    );
    for call in [true, false] {
        let r = if call {
            k.increase_stream_retention_period(input(23)).await
        } else {
            k.decrease_stream_retention_period(input(23)).await
        };
        assert_fails(
            r,
            "InvalidArgumentException",
            "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.",
        );
    }
    assert_fails(
        k.increase_stream_retention_period(input(8761)).await,
        "InvalidArgumentException",
        "Maximum allowed retention period is 8760 hours. Requested retention period (8761 hours) is too long.",
    );
    assert_fails(
        k.increase_stream_retention_period(input(-1)).await,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'retentionPeriodHours' failed to satisfy constraint: \
         Member must have value greater than or equal to 1",
    );
    assert_eq!(
        retention_hours(k, "s").await?,
        48,
        "failed calls change nothing"
    );
    // Equal to the current value is allowed both ways.
    k.increase_stream_retention_period(input(48)).await?;
    k.decrease_stream_retention_period(input(48)).await?;
    k.increase_stream_retention_period(input(8760)).await?;
    assert_eq!(retention_hours(k, "s").await?, 8760);
    k.decrease_stream_retention_period(input(24)).await?;
    assert_eq!(retention_hours(k, "s").await?, 24);
    // By ARN.
    k.increase_stream_retention_period(RetentionPeriodInput {
        stream_arn: Some(arn("s")),
        retention_period_hours: 100,
        ..Default::default()
    })
    .await?;
    assert_eq!(retention_hours(k, "s").await?, 100);
    Ok(())
}

// ------------------------------------------------------------------------ DeleteStream

pub async fn delete_stream_removes_the_stream_and_its_records(k: &dyn Kinesis) -> TestResult {
    create(k, "s", 2).await?;
    create(k, "keep", 1).await?;
    let old = k
        .put_record(PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            explicit_hash_key: Some("0".into()),
            data: "old".into(),
            ..Default::default()
        })
        .await?;
    assert_eq!(old.shard_id, "shardId-000000000000");
    k.delete_stream(DeleteStreamInput {
        stream_name: Some("s".into()),
        ..Default::default()
    })
    .await?;
    assert_fails(
        k.describe_stream(DescribeStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        &not_found("s"),
    );
    let names = k
        .list_streams(ListStreamsInput::default())
        .await?
        .stream_names;
    assert_eq!(names, ["keep"]);
    assert_fails(
        k.delete_stream(DeleteStreamInput {
            stream_name: Some("s".into()),
            ..Default::default()
        })
        .await,
        "ResourceNotFoundException",
        &not_found("s"),
    );

    // A new stream of the same name starts empty, and does not accept the old numbers.
    create(k, "s", 1).await?;
    let shard = "shardId-000000000000";
    assert!(
        read_all(k, trim_horizon(k, "s", shard).await?)
            .await?
            .is_empty()
    );
    let e = err_of(
        k.get_shard_iterator(GetShardIteratorInput {
            starting_sequence_number: Some(old.sequence_number.clone()),
            ..iterator_input("s", &old.shard_id, ShardIteratorType::AtSequenceNumber)
        })
        .await,
    );
    assert_eq!(e.code(), "InvalidArgumentException", "{e}");
    put(k, "s", "k", "new").await?;
    assert_eq!(
        data_of(&read_all(k, trim_horizon(k, "s", shard).await?).await?),
        ["new"]
    );
    // The other stream is untouched.
    assert_eq!(list_shards(k, "keep").await?.len(), 1);
    Ok(())
}
