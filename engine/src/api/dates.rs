//! The date texts the engine writes and reads, on the `time` crate: RFC 3339 with
//! milliseconds (audit lines, generated records), Java's `Date.toString()` in UTC (AWS's
//! ExpiredIteratorException message) and SigV4's `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
//!
//! Instants outside the years 1 to 9999 have no such text; they are written as their
//! milliseconds since the Unix epoch instead (never produced by a running engine, whose
//! clock is the system's).

use std::time::SystemTime;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

fn utc(ms: i64) -> Option<OffsetDateTime> {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds: `2015-12-10T01:59:39.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    utc(ms)
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Epoch milliseconds as Java's `Date.toString()` writes them in UTC, the form AWS uses in
/// ExpiredIteratorException messages: `Thu Dec 10 01:59:39 UTC 2015`.
pub fn java_date(ms: i64) -> String {
    let fmt = format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] UTC [year]"
    );
    utc(ms)
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Parses SigV4's `X-Amz-Date` (`20151210T015939Z`, UTC).
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|t| SystemTime::from(t.assume_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn texts_match_aws_and_java() {
        // From an AWS ExpiredIteratorException: "Thu Dec 10 01:59:39 UTC 2015".
        assert_eq!(java_date(1_449_712_779_000), "Thu Dec 10 01:59:39 UTC 2015");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(rfc3339(1_449_712_779_123), "2015-12-10T01:59:39.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(i64::MAX), format!("{} ms", i64::MAX));
    }

    #[test]
    fn amz_dates_parse_and_bad_ones_do_not() {
        assert_eq!(
            parse_amz_date("20151210T015939Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_449_712_779))
        );
        for bad in [
            "",
            "20151210T015939",
            "20151310T015939Z",
            "20150230T015939Z",
            "20151210T245939Z",
            "2015-12-10T01:59:39Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }
}
