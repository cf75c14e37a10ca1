//! Parameter validation with AWS's ValidationException wording.

use crate::api::ValidationErrors;

const NAME_PATTERN: &str = "[a-zA-Z0-9_.-]+";

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// A name of the `[a-zA-Z0-9_.-]+` kind with length 1..=128 (stream names, shard ids).
pub(crate) fn name(v: &mut ValidationErrors, field: &str, value: &str) {
    if !value.chars().all(is_name_char) || value.is_empty() {
        v.constraint(
            value,
            field,
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        );
    }
    length(v, field, value, 1, 128);
}

/// A string's length in UTF-16 code units (AWS's count) within `min..=max`.
pub(crate) fn length(v: &mut ValidationErrors, field: &str, value: &str, min: usize, max: usize) {
    // In UTF-16 code units, as AWS's Java front end counts (an emoji is two).
    let n = if value.is_ascii() {
        value.len()
    } else {
        value.encode_utf16().count()
    };
    if n < min {
        v.constraint(
            value,
            field,
            &format!("Member must have length greater than or equal to {min}"),
        );
    }
    if n > max {
        v.constraint(
            value,
            field,
            &format!("Member must have length less than or equal to {max}"),
        );
    }
}

/// An integer within `min..=max`.
pub(crate) fn range(v: &mut ValidationErrors, field: &str, value: Option<i32>, min: i32, max: i32) {
    if let Some(x) = value {
        if x < min {
            v.constraint(
                x,
                field,
                &format!("Member must have value greater than or equal to {min}"),
            );
        }
        if x > max {
            v.constraint(
                x,
                field,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }
}

/// A stream ARN: `arn:aws*:kinesis:<region>:<12 digits>:stream/<name>`, 1..=2048.
pub(crate) fn stream_arn(v: &mut ValidationErrors, field: &str, value: &str) {
    if parse_stream_arn(value).is_none() {
        v.constraint(
            value,
            field,
            "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+",
        );
    }
    length(v, field, value, 1, 2048);
}

/// Splits a stream ARN into (region, account, stream name).
pub(crate) fn parse_stream_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (arn_lit, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if arn_lit != "arn" || !partition.starts_with("aws") || service != "kinesis" {
        return None;
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = resource.strip_prefix("stream/")?;
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return None;
    }
    Some((region, account, name))
}

/// Whether a tag key or value uses only the characters AWS allows: Unicode letters and
/// digits, white space, and `_ . / = + - % @ :`.
pub(crate) fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_alphanumeric()
            || c == ' '
            || matches!(c, '_' | '.' | '/' | '=' | '+' | '-' | '%' | '@' | ':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_arns() {
        let mut v = ValidationErrors::new();
        name(&mut v, "streamName", "ok_name-1.2");
        assert!(v.is_empty());
        name(&mut v, "streamName", "");
        let msg = v
            .finish()
            .err()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        assert_eq!(
            msg,
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        assert_eq!(
            parse_stream_arn("arn:aws:kinesis:us-east-1:123456789012:stream/s1"),
            Some(("us-east-1", "123456789012", "s1"))
        );
        assert_eq!(
            parse_stream_arn("arn:aws:kinesis:us-east-1:1234:stream/s1"),
            None
        );
        assert_eq!(
            parse_stream_arn("arn:aws:sqs:us-east-1:123456789012:stream/s1"),
            None
        );
        let mut v = ValidationErrors::new();
        length(&mut v, "partitionKey", &"é".repeat(256), 1, 256);
        assert!(v.is_empty(), "length counts characters, not bytes");
        length(&mut v, "partitionKey", &"é".repeat(257), 1, 256);
        assert!(!v.is_empty());
        assert!(tag_chars_ok("env=prod @team/ü"));
        assert!(!tag_chars_ok("a;b"));
    }
}
