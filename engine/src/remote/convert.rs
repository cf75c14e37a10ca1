//! Conversions between rill's [`api`] types and the SDK's, and the mapping of SDK errors
//! to [`Error`].

use crate::api::{self, Error, Result, Timestamp};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::types as sdk;
use aws_smithy_types::error::operation::BuildError;
use aws_smithy_types::{Blob, DateTime};
use bytes::Bytes;

// ---------------------------------------------------------------- errors

/// Maps an SDK error to rill's: a service error by its exception code (keeping the SDK error
/// as the source when it is an `InternalFailure`), anything else (construction, timeout,
/// dispatch, unreadable response, a service error without a code) to [`Error::Internal`]
/// with the SDK error as the source.
pub(super) fn sdk_error<E>(operation: &str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(service) = err.as_service_error()
        && let Some(code) = service.code()
    {
        return match Error::from_code(code, service.message().unwrap_or_default()) {
            Error::Internal {
                message,
                source: None,
            } => Error::Internal {
                message,
                source: Some(Box::new(err)),
            },
            mapped => mapped,
        };
    }
    Error::internal(format!("{operation}: {}", error_chain(&err)), err)
}

/// An error and its sources, joined with ": ".
pub(super) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let more = s.to_string();
        // Some layers repeat their source's text in their own; don't say it twice.
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A request shape the SDK refused to build (only if a required member were missing, which
/// the conversions below never leave out).
pub(super) fn build_error(err: BuildError) -> Error {
    Error::internal("building the request", err)
}

// ---------------------------------------------------------------- scalars

/// rill's epoch milliseconds as an SDK timestamp (exact).
/// An error inside a subscription's event stream: a modeled exception by its code (from
/// the SDK's error metadata, or else from the raw message's `:exception-type` header and
/// its payload's `message`, which the SDK leaves unparsed for some exceptions), anything
/// else as an internal failure keeping its source.
pub(super) fn stream_error<E>(err: SdkError<E, aws_smithy_types::event_stream::RawMessage>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(se) = &err {
        if let Some(code) = se.err().code() {
            return Error::from_code(code, se.err().message().unwrap_or_default());
        }
        if let aws_smithy_types::event_stream::RawMessage::Decoded(message) = se.raw()
            && let Some(code) = message
                .headers()
                .iter()
                .find(|h| h.name().as_str() == ":exception-type")
                .and_then(|h| h.value().as_string().ok())
        {
            let text = serde_json::from_slice::<serde_json::Value>(message.payload())
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .or_else(|| v.get("Message"))
                        .and_then(|m| m.as_str().map(str::to_owned))
                })
                .unwrap_or_default();
            return Error::from_code(code.as_str(), text);
        }
    }
    Error::internal(format!("SubscribeToShard: {}", error_chain(&err)), err)
}

pub(super) fn consumer_out(
    c: Option<(String, String, sdk::ConsumerStatus, DateTime)>,
) -> api::Consumer {
    match c {
        Some((name, arn, status, created)) => api::Consumer {
            consumer_name: name,
            consumer_arn: arn,
            consumer_status: api::ConsumerStatus::parse(status.as_str()),
            consumer_creation_timestamp: timestamp(created),
        },
        None => api::Consumer::default(),
    }
}

pub(super) fn date_time(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.as_millis())
}

/// An SDK timestamp as epoch milliseconds, rounded to the nearest millisecond.
///
/// Rounding matters: the SDK parses the wire's epoch seconds through an `f64`, so
/// `1700000000.123` arrives as `1700000000.122999906` and `DateTime::to_millis`, which
/// truncates, would answer `...122`.
pub(super) fn timestamp(t: DateTime) -> Timestamp {
    let millis = (t.as_nanos() + 500_000).div_euclid(1_000_000);
    Timestamp(i64::try_from(millis).unwrap_or(if millis < 0 { i64::MIN } else { i64::MAX }))
}

/// Bytes as an SDK blob, without copying.
pub(super) fn blob(b: Bytes) -> Blob {
    Blob::from_maybe_shared(b)
}

// ---------------------------------------------------------------- structures in

pub(super) fn mode_details_in(d: api::StreamModeDetails) -> Result<sdk::StreamModeDetails> {
    sdk::StreamModeDetails::builder()
        .stream_mode(sdk::StreamMode::from(d.stream_mode.as_str()))
        .build()
        .map_err(build_error)
}

pub(super) fn shard_filter_in(f: api::ShardFilter) -> Result<sdk::ShardFilter> {
    sdk::ShardFilter::builder()
        .r#type(sdk::ShardFilterType::from(f.filter_type.as_str()))
        .set_shard_id(f.shard_id)
        .set_timestamp(f.timestamp.map(date_time))
        .build()
        .map_err(build_error)
}

// ---------------------------------------------------------------- structures out

pub(super) fn status_out(s: &sdk::StreamStatus) -> Option<api::StreamStatus> {
    api::StreamStatus::parse(s.as_str())
}

pub(super) fn mode_details_out(
    d: Option<sdk::StreamModeDetails>,
) -> Option<api::StreamModeDetails> {
    d.and_then(|d| api::StreamMode::parse(d.stream_mode.as_str()))
        .map(|stream_mode| api::StreamModeDetails { stream_mode })
}

pub(super) fn encryption_out(e: Option<&sdk::EncryptionType>) -> Option<api::EncryptionType> {
    e.and_then(|e| api::EncryptionType::parse(e.as_str()))
}

pub(super) fn metrics_out(m: Vec<sdk::EnhancedMetrics>) -> Vec<api::EnhancedMetrics> {
    m.into_iter()
        .map(|m| api::EnhancedMetrics {
            shard_level_metrics: m
                .shard_level_metrics
                .unwrap_or_default()
                .iter()
                .map(|n| n.as_str().to_string())
                .collect(),
        })
        .collect()
}

pub(super) fn metrics_in(names: Vec<String>) -> Vec<sdk::MetricsName> {
    names
        .iter()
        .map(|n| sdk::MetricsName::from(n.as_str()))
        .collect()
}

pub(super) fn metric_names_out(m: Option<Vec<sdk::MetricsName>>) -> Vec<String> {
    m.unwrap_or_default()
        .iter()
        .map(|n| n.as_str().to_string())
        .collect()
}

pub(super) fn commitment_out(
    c: sdk::MinimumThroughputBillingCommitmentOutput,
) -> Option<api::MinimumThroughputBillingCommitmentOutput> {
    Some(api::MinimumThroughputBillingCommitmentOutput {
        status: api::MinimumThroughputBillingCommitmentStatus::parse(c.status.as_str())?,
        started_at: c.started_at.map(timestamp),
        ended_at: c.ended_at.map(timestamp),
        earliest_allowed_end_at: c.earliest_allowed_end_at.map(timestamp),
    })
}

pub(super) fn warm_out(w: sdk::WarmThroughputObject) -> api::WarmThroughputObject {
    api::WarmThroughputObject {
        target_mibps: w.target_mibps,
        current_mibps: w.current_mibps,
    }
}

pub(super) fn hash_key_range_out(r: Option<sdk::HashKeyRange>) -> api::types::HashKeyRange {
    r.map(|r| api::types::HashKeyRange {
        starting_hash_key: r.starting_hash_key,
        ending_hash_key: r.ending_hash_key,
    })
    .unwrap_or_default()
}

pub(super) fn shard_out(s: sdk::Shard) -> api::Shard {
    api::Shard {
        shard_id: s.shard_id,
        parent_shard_id: s.parent_shard_id,
        adjacent_parent_shard_id: s.adjacent_parent_shard_id,
        hash_key_range: hash_key_range_out(s.hash_key_range),
        sequence_number_range: s
            .sequence_number_range
            .map(|r| api::SequenceNumberRange {
                starting_sequence_number: r.starting_sequence_number,
                ending_sequence_number: r.ending_sequence_number,
            })
            .unwrap_or_default(),
    }
}

pub(super) fn child_shard_out(c: sdk::ChildShard) -> api::ChildShard {
    api::ChildShard {
        shard_id: c.shard_id,
        parent_shards: c.parent_shards,
        hash_key_range: hash_key_range_out(c.hash_key_range),
    }
}

pub(super) fn record_out(r: sdk::Record) -> api::Record {
    api::Record {
        sequence_number: r.sequence_number,
        approximate_arrival_timestamp: r.approximate_arrival_timestamp.map(timestamp),
        data: r.data.into_bytes(),
        partition_key: r.partition_key.unwrap_or_default(),
        encryption_type: encryption_out(r.encryption_type.as_ref()),
    }
}

pub(super) fn description_out(d: sdk::StreamDescription) -> api::StreamDescription {
    api::StreamDescription {
        stream_status: status_out(&d.stream_status),
        stream_mode_details: mode_details_out(d.stream_mode_details),
        shards: d.shards.into_iter().map(shard_out).collect(),
        has_more_shards: d.has_more_shards,
        retention_period_hours: d.retention_period_hours,
        stream_creation_timestamp: timestamp(d.stream_creation_timestamp),
        enhanced_monitoring: metrics_out(d.enhanced_monitoring),
        encryption_type: encryption_out(d.encryption_type.as_ref()),
        key_id: d.key_id,
        stream_name: d.stream_name,
        stream_arn: d.stream_arn,
    }
}

pub(super) fn description_summary_out(
    d: sdk::StreamDescriptionSummary,
) -> api::StreamDescriptionSummary {
    api::StreamDescriptionSummary {
        stream_status: status_out(&d.stream_status),
        stream_mode_details: mode_details_out(d.stream_mode_details),
        retention_period_hours: d.retention_period_hours,
        stream_creation_timestamp: timestamp(d.stream_creation_timestamp),
        enhanced_monitoring: metrics_out(d.enhanced_monitoring),
        encryption_type: encryption_out(d.encryption_type.as_ref()),
        key_id: d.key_id,
        open_shard_count: d.open_shard_count,
        consumer_count: d.consumer_count,
        warm_throughput: d.warm_throughput.map(warm_out),
        max_record_size_in_kib: d.max_record_size_in_kib,
        record_distribution_strategy: d
            .record_distribution_strategy
            .and_then(|s| api::RecordDistributionStrategy::parse(s.as_str())),
        stream_name: d.stream_name,
        stream_arn: d.stream_arn,
    }
}

pub(super) fn stream_summary_out(s: sdk::StreamSummary) -> api::StreamSummary {
    api::StreamSummary {
        stream_status: status_out(&s.stream_status),
        stream_mode_details: mode_details_out(s.stream_mode_details),
        stream_creation_timestamp: s.stream_creation_timestamp.map(timestamp),
        stream_name: s.stream_name,
        stream_arn: s.stream_arn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Remote;
    use aws_sdk_kinesis::config::http::HttpResponse;
    use aws_sdk_kinesis::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_kinesis::operation::get_records::GetRecordsError;
    use aws_sdk_kinesis::operation::put_record::PutRecordError;
    use aws_smithy_types::body::SdkBody;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn response(status: u16) -> std::result::Result<HttpResponse, Box<dyn std::error::Error>> {
        Ok(HttpResponse::new(status.try_into()?, SdkBody::empty()))
    }

    #[test]
    fn timestamps_to_sdk_are_exact() {
        let t = date_time(Timestamp(1_700_000_000_123));
        assert_eq!((t.secs(), t.subsec_nanos()), (1_700_000_000, 123_000_000));
        let t = date_time(Timestamp(-1));
        assert_eq!((t.secs(), t.subsec_nanos()), (-1, 999_000_000));
        for ms in [
            0,
            1,
            999,
            1_000,
            1_700_000_000_123,
            -1,
            -1_001,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(timestamp(date_time(Timestamp(ms))), Timestamp(ms), "{ms}");
        }
    }

    #[test]
    fn timestamps_from_sdk_round_to_the_millisecond() {
        // What the SDK's JSON parser makes of `1700000000.123`: not quite .123 seconds.
        let parsed = DateTime::from_secs_f64(1_700_000_000.123);
        assert!(parsed.subsec_nanos() < 123_000_000, "{parsed:?}");
        assert_eq!(timestamp(parsed), Timestamp(1_700_000_000_123));
        assert_eq!(
            timestamp(DateTime::from_secs_f64(1_700_000_000.0)),
            Timestamp(1_700_000_000_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(1, 999_600_000)),
            Timestamp(2_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(1, 400_000)),
            Timestamp(1_000)
        );
        assert_eq!(
            timestamp(DateTime::from_secs_and_nanos(-1, 999_999_000)),
            Timestamp(0)
        );
        assert_eq!(
            timestamp(DateTime::from_secs(i64::MAX)),
            Timestamp(i64::MAX)
        );
        assert_eq!(
            timestamp(DateTime::from_secs(i64::MIN)),
            Timestamp(i64::MIN)
        );
    }

    #[test]
    fn blobs_are_not_copied() {
        let data = Bytes::from(vec![1u8, 2, 3]);
        let ptr = data.as_ptr();
        let back = blob(data).into_bytes();
        assert_eq!(&back[..], &[1, 2, 3]);
        assert_eq!(back.as_ptr(), ptr);
    }

    #[test]
    fn enums_use_the_sdk_spellings() {
        use api::{ShardFilterType as F, ShardIteratorType as I, StreamMode as M};
        for t in [
            I::AtSequenceNumber,
            I::AfterSequenceNumber,
            I::AtTimestamp,
            I::TrimHorizon,
            I::Latest,
        ] {
            assert!(
                sdk::ShardIteratorType::values().contains(&t.as_str()),
                "{t}"
            );
        }
        for t in [
            F::AfterShardId,
            F::AtTrimHorizon,
            F::FromTrimHorizon,
            F::AtLatest,
            F::AtTimestamp,
            F::FromTimestamp,
        ] {
            assert!(sdk::ShardFilterType::values().contains(&t.as_str()), "{t}");
        }
        for m in [M::Provisioned, M::OnDemand] {
            assert!(sdk::StreamMode::values().contains(&m.as_str()), "{m}");
        }
        for s in sdk::StreamStatus::values() {
            assert!(api::StreamStatus::parse(s).is_some(), "{s}");
        }
        for e in sdk::EncryptionType::values() {
            assert!(api::EncryptionType::parse(e).is_some(), "{e}");
        }
    }

    #[test]
    fn structures_convert() -> TestResult {
        let r = record_out(
            sdk::Record::builder()
                .sequence_number("49590338271490256608559692538361571095921575989136588898")
                .approximate_arrival_timestamp(DateTime::from_secs_f64(1_700_000_000.5))
                .data(Blob::new("hi"))
                .partition_key("k")
                .encryption_type(sdk::EncryptionType::Kms)
                .build()?,
        );
        assert_eq!(
            r,
            api::Record {
                sequence_number: "49590338271490256608559692538361571095921575989136588898".into(),
                approximate_arrival_timestamp: Some(Timestamp(1_700_000_000_500)),
                data: Bytes::from_static(b"hi"),
                partition_key: "k".into(),
                encryption_type: Some(api::EncryptionType::Kms),
            }
        );
        let f = shard_filter_in(api::ShardFilter {
            filter_type: api::ShardFilterType::AtTimestamp,
            shard_id: None,
            timestamp: Some(Timestamp(1_700_000_000_001)),
        })?;
        assert_eq!(f.r#type, sdk::ShardFilterType::AtTimestamp);
        assert_eq!(f.timestamp, Some(DateTime::from_millis(1_700_000_000_001)));
        let m = mode_details_in(api::StreamModeDetails {
            stream_mode: api::StreamMode::OnDemand,
        })?;
        assert_eq!(
            mode_details_out(Some(m)),
            Some(api::StreamModeDetails {
                stream_mode: api::StreamMode::OnDemand
            })
        );
        Ok(())
    }

    #[test]
    fn service_errors_map_by_code() -> TestResult {
        let not_found = aws_sdk_kinesis::types::error::ResourceNotFoundException::builder()
            .message("Stream s under account 000000000000 not found.")
            .meta(
                ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .message("Stream s under account 000000000000 not found.")
                    .build(),
            )
            .build();
        let e = sdk_error(
            "PutRecord",
            SdkError::service_error(
                PutRecordError::ResourceNotFoundException(not_found),
                response(400)?,
            ),
        );
        assert!(
            matches!(&e, Error::ResourceNotFound(m) if m == "Stream s under account 000000000000 not found."),
            "{e:?}"
        );

        let generic =
            |code: &str, message: &str| -> std::result::Result<_, Box<dyn std::error::Error>> {
                Ok(SdkError::service_error(
                    GetRecordsError::generic(
                        ErrorMetadata::builder().code(code).message(message).build(),
                    ),
                    response(400)?,
                ))
            };
        let e = sdk_error(
            "GetRecords",
            generic("ExpiredIteratorException", "too old")?,
        );
        assert!(
            matches!(&e, Error::ExpiredIterator(m) if m == "too old"),
            "{e:?}"
        );
        let e = sdk_error(
            "GetRecords",
            generic("ProvisionedThroughputExceededException", "slow down")?,
        );
        assert!(matches!(e, Error::ProvisionedThroughputExceeded(_)));
        assert!(e.is_retryable());
        let e = sdk_error("GetRecords", generic("SomethingNew", "m")?);
        assert_eq!((e.code(), e.message()), ("SomethingNew", "m"));

        // InternalFailure keeps the SDK error as its source.
        let e = sdk_error("GetRecords", generic("InternalFailure", "oops")?);
        assert!(
            matches!(&e, Error::Internal { message, source: Some(_) } if message == "oops"),
            "{e:?}"
        );

        // A service error without a code (say an HTTP 502 from a proxy) is internal.
        let e = sdk_error(
            "GetRecords",
            SdkError::service_error(
                GetRecordsError::generic(ErrorMetadata::builder().build()),
                response(502)?,
            ),
        );
        assert!(
            matches!(
                &e,
                Error::Internal {
                    source: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        Ok(())
    }

    #[test]
    fn transport_errors_are_internal_with_source() {
        let refused = SdkError::<PutRecordError, HttpResponse>::dispatch_failure(
            ConnectorError::io(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))),
        );
        let e = sdk_error("PutRecord", refused);
        assert_eq!(e.code(), "InternalFailure");
        assert!(e.is_retryable());
        assert!(
            e.message().starts_with("PutRecord: dispatch failure"),
            "{e}"
        );
        assert!(e.message().contains("connection refused"), "{e}");
        let source = std::error::Error::source(&e);
        assert!(
            source.is_some_and(|s| s
                .downcast_ref::<SdkError<PutRecordError, HttpResponse>>()
                .is_some()),
            "{e:?}"
        );

        let timeout = SdkError::<PutRecordError, HttpResponse>::timeout_error("deadline");
        let e = sdk_error("PutRecord", timeout);
        assert!(
            matches!(&e, Error::Internal { message, source: Some(_) } if message.contains("timed out")),
            "{e:?}"
        );
    }

    #[test]
    fn from_endpoint_configures_a_local_client() {
        let remote = Remote::from_endpoint("http://127.0.0.1:4567");
        let conf = remote.client().config();
        assert_eq!(conf.region().map(|r| r.as_ref()), Some("us-east-1"));
    }
}
