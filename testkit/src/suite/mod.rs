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
            sequence_number_for_ordering_is_checked,
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
mod streams;
pub use streams::*;
mod listing;
pub use listing::*;
mod put;
pub use put::*;
mod read;
pub use read::*;
mod settings;
pub use settings::*;

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
/// AWS's version-2 form: 56 digits, a number in [2^185, 3 * 2^184) (47 hex digits, the
/// first a 2).
fn assert_sequence_number_form(s: &str) {
    assert_eq!(s.len(), 56, "{s}");
    assert!(s.bytes().all(|b| b.is_ascii_digit()), "{s}");
    let approx: f64 = s.parse().unwrap_or_default();
    assert!(
        (2f64.powi(185)..3.0 * 2f64.powi(184)).contains(&approx),
        "not in AWS's version-2 range: {s}"
    );
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
