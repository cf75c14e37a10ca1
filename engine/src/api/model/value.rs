//! Validation of a decoded request body (the JSON tree, or CBOR converted to the same tree by
//! the server's codec) against its input [`Shape`], answering as AWS does.
//!
//! The behaviour mirrors AWS as kinesalite 3.3.3 records it: its `validations/index.js`
//! (`checkTypes`, `checkValidations`) and the tests of its repository (`test/helpers.js`'s
//! `assertType`, `test/putRecords.js`, `test/addTagsToStream.js`, ...), which were written
//! to pass against the real service.
//!
//! # Phase 1: types
//!
//! Members are walked in the shape's order, recursing into lists, maps and structures;
//! unknown members are ignored and `null` counts as absent. The first member of the wrong
//! JSON type ends the check with [`Invalid::Type`], answered as `SerializationException`
//! with the text of AWS's Java front end (its grammar included):
//!
//! * `class java.lang.Boolean can not be converted to an String` (`an Integer`, `an Long`,
//!   `a Blob`, `milliseconds since epoch` for timestamps);
//! * `class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to
//!   an String` (a number for a string, a blob or a boolean);
//! * `class java.lang.String can not be converted to an Integer` (or `an Long`, `an Double`,
//!   `milliseconds since epoch`);
//! * `'23' can not be converted to an Boolean` (a string for a boolean, upper-cased);
//! * `Start of list found where not expected`, `Start of structure or map found where not
//!   expected.`, `Expected list or null`, `Expected map or null`, `Expected null` (a scalar
//!   for a structure);
//! * for a blob that is not base64: `'x' can not be converted to a Blob: ` followed by
//!   `Base64 encoded length is expected a multiple of 4 bytes but found: N`, `Invalid Base64
//!   character: 'c'` or `Invalid last non-pad Base64 character dectected` (sic).
//!
//! Numbers are accepted for integers and longs and rounded down; an integer above
//! 2147483647 counts as 2147483647 (AWS's `TruncatingBigNumber`), which is the value the
//! constraints then see and print.
//!
//! # Phase 2: constraints
//!
//! Every violation, in member order, goes into one `ValidationException` built by
//! [`ValidationErrors`] (AWS lists at most ten, and then says "10 validation errors"):
//! `Value null at 'a' failed to satisfy constraint: Member must not be null` for a required
//! member that is absent or `null`; for a present value its pattern, then its minimum, then
//! its maximum, then its enum (`Member must satisfy regular expression pattern: X`,
//! `Member must have length greater than or equal to N`, `... less than or equal to N`,
//! `Member must have value greater than or equal to N`, `... less than or equal to N`,
//! `Member must satisfy enum value set: [A, B]`). Lengths count UTF-16 code units for
//! strings (Java's and JavaScript's `length`), decoded bytes for blobs, elements or entries
//! for lists and maps. Patterns match the whole string.
//!
//! Values print as AWS's Java does: strings as they are, numbers, blobs as
//! `java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`, lists as `[a, b]`, maps as `{k=v, k2=v2}`,
//! structures as `com.amazonaws.kinesis.v20131202.<Shape>@c965e310` (kinesalite's constant
//! for the object's hash). Paths spell members with a lower-case first letter; a list of
//! structures is checked element by element (`records.1.member.partitionKey`, 1-based), a
//! map of structures value by value (`<map>.<key>.member.<field>`, keys in reverse order as
//! kinesalite does). Scalar elements are not reported one by one: when any element breaks
//! its shape's constraints, the list gets one `Member must satisfy constraint: [...]` (a
//! map `Map keys must satisfy constraint: [...]` or `Map value must satisfy constraint:
//! [...]`) naming all of the element shape's constraints, the maximum before the minimum.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use regex::Regex;
use serde_json::{Map, Value};

use super::{Kind, Member, Shape};
use crate::api::ValidationErrors;
use crate::api::ops::message_name;

/// AWS lists at most this many violations.
const MAX_REPORTED: usize = 10;

/// How AWS's Java front end prints a structure: its class, then its hash.
const STRUCTURE_CLASS: &str = "com.amazonaws.kinesis.v20131202.";
/// The hash kinesalite prints for every structure (AWS's varies with the contents).
const STRUCTURE_HASH: &str = "c965e310";

const LIST_START: &str = "Start of list found where not expected";
const STRUCTURE_START: &str = "Start of structure or map found where not expected.";
const BIG_NUMBER: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";

/// A member of the wrong type: AWS answers `SerializationException` with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// AWS's message, for the upper-case `Message` member.
    pub message: String,
}

impl TypeError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypeError {}

/// Why a request fails validation.
#[derive(Debug)]
pub enum Invalid {
    /// A member of the wrong JSON type: `SerializationException`, the first fault only.
    Type(TypeError),
    /// Constraint violations: the `ValidationException` listing them.
    Validation(crate::api::Error),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Type(e) => write!(f, "SerializationException: {e}"),
            Invalid::Validation(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for Invalid {}

/// Checks a request body against its input shape: types first (the first fault ends the
/// check), then every constraint.
pub fn check_value(input: &Shape, value: &Value) -> Result<(), Invalid> {
    check_type(input, value).map_err(Invalid::Type)?;
    let mut found = Violations::default();
    if let Kind::Structure { members } = &input.kind {
        let empty = Map::new();
        let fields = value.as_object().unwrap_or(&empty);
        found.members(members, fields, None);
    }
    found.errors.finish().map_err(Invalid::Validation)
}

/// Replaces every integer and long of `value` by the number AWS reads it as (rounded down,
/// an integer capped at 2147483647), so that what the operation gets is what the checks
/// saw: `"ShardCount": 1.5` is one shard, as on AWS. Run it after [`check_value`] passed.
pub fn coerce_numbers(shape: &Shape, value: &mut Value) {
    match (&shape.kind, value) {
        (kind @ (Kind::Integer { .. } | Kind::Long { .. }), v @ Value::Number(_)) => {
            if let Some(n) = number(kind, v) {
                let n = i64::try_from(n).unwrap_or(if n < 0 { i64::MIN } else { i64::MAX });
                let n = match kind {
                    Kind::Integer { .. } => n.max(i64::from(i32::MIN)),
                    _ => n,
                };
                *v = Value::from(n);
            }
        }
        (Kind::Structure { members }, Value::Object(fields)) => {
            for m in members.iter() {
                if let Some(v) = fields.get_mut(m.name) {
                    coerce_numbers(m.shape, v);
                }
            }
        }
        (Kind::List { member, .. }, Value::Array(items)) => {
            for v in items {
                coerce_numbers(member, v);
            }
        }
        (Kind::Map { value: shape, .. }, Value::Object(entries)) => {
            for v in entries.values_mut() {
                coerce_numbers(shape, v);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Phase 1: types.

/// Checks one value's JSON type against its shape, recursing into containers.
fn check_type(shape: &Shape, value: &Value) -> Result<(), TypeError> {
    let scalar = |accepted: bool, target: &str| {
        if accepted {
            Ok(())
        } else {
            Err(cannot_convert(value, target))
        }
    };
    match (&shape.kind, value) {
        (_, Value::Null) => Ok(()),
        (Kind::Boolean, Value::String(s)) => Err(TypeError::new(format!(
            "'{}' can not be converted to an Boolean",
            s.to_uppercase()
        ))),
        (Kind::Boolean, _) => scalar(value.is_boolean(), "an Boolean"),
        (Kind::Integer { .. }, _) => scalar(value.is_number(), "an Integer"),
        (Kind::Long { .. }, _) => scalar(value.is_number(), "an Long"),
        (Kind::Double, _) => scalar(value.is_number(), "an Double"),
        (Kind::Timestamp, _) => scalar(value.is_number(), "milliseconds since epoch"),
        (Kind::String { .. }, _) => scalar(value.is_string(), "an String"),
        (Kind::Blob { .. }, Value::String(s)) => check_base64(s),
        (Kind::Blob { .. }, _) => scalar(false, "a Blob"),
        (Kind::List { member, .. }, Value::Array(items)) => {
            items.iter().try_for_each(|item| check_type(member, item))
        }
        (Kind::Map { value: member, .. }, Value::Object(entries)) => {
            entries.values().try_for_each(|v| check_type(member, v))
        }
        (Kind::Structure { members }, Value::Object(fields)) => members.iter().try_for_each(|m| {
            fields
                .get(m.name)
                .map_or(Ok(()), |v| check_type(m.shape, v))
        }),
        (Kind::List { .. }, Value::Object(_)) => Err(TypeError::new(STRUCTURE_START)),
        (Kind::Map { .. } | Kind::Structure { .. }, Value::Array(_)) => {
            Err(TypeError::new(LIST_START))
        }
        (Kind::List { .. }, _) => Err(TypeError::new("Expected list or null")),
        (Kind::Map { .. }, _) => Err(TypeError::new("Expected map or null")),
        (Kind::Structure { .. }, _) => Err(TypeError::new("Expected null")),
    }
}

/// AWS's fault for a scalar shape given `value`: "X can not be converted to `target`", X
/// naming the Java class AWS's parser made of the JSON value.
fn cannot_convert(value: &Value, target: &str) -> TypeError {
    let class = match value {
        Value::Array(_) => return TypeError::new(LIST_START),
        Value::Object(_) => return TypeError::new(STRUCTURE_START),
        Value::Number(_) => BIG_NUMBER,
        Value::Bool(_) => "class java.lang.Boolean",
        Value::String(_) | Value::Null => "class java.lang.String",
    };
    TypeError::new(format!("{class} can not be converted to {target}"))
}

/// AWS's three base64 faults, checked in its order.
fn check_base64(s: &str) -> Result<(), TypeError> {
    let fault =
        |why: String| TypeError::new(format!("'{s}' can not be converted to a Blob: {why}"));
    let length = utf16_len(s);
    if !length.is_multiple_of(4) {
        return Err(fault(format!(
            "Base64 encoded length is expected a multiple of 4 bytes but found: {length}"
        )));
    }
    // The first character outside the alphabet, or a `=` that something other than `=`
    // follows.
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let alphabet = c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
        if !alphabet || (c == '=' && chars.peek().is_some_and(|next| *next != '=')) {
            return Err(fault(format!("Invalid Base64 character: '{c}'")));
        }
    }
    // Now every `=` is in one run at the end, so only the last quartet can still be wrong
    // (bits left over after the last byte, or more than two `=`): a strict decoder of that
    // quartet rejects exactly what AWS rejects.
    let tail = s.get(s.len().saturating_sub(4)..).unwrap_or_default();
    if STANDARD.decode(tail).is_err() {
        return Err(fault(
            "Invalid last non-pad Base64 character dectected".to_string(),
        ));
    }
    Ok(())
}

/// Length as Java's `String.length()`: UTF-16 code units.
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The number of bytes a base64 string (already checked) decodes to.
fn blob_len(s: &str) -> usize {
    let padding = s.bytes().rev().take_while(|b| *b == b'=').count();
    (s.len() / 4 * 3).saturating_sub(padding)
}

// ---------------------------------------------------------------------------------------
// Phase 2: constraints.

/// One declared constraint.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// The whole string matches the (Java) regular expression.
    Pattern(&'static str),
    /// At least this long.
    MinLength(u64),
    /// At most this long.
    MaxLength(u64),
    /// At least this value.
    MinValue(i64),
    /// At most this value.
    MaxValue(i64),
    /// One of these strings.
    Enum(&'static [&'static str]),
}

/// A pattern as AWS prints it: botocore writes some patterns anchored and wrapped in one
/// group (`^(0|([1-9]\d{0,38}))$`), AWS's messages show them bare (`0|([1-9]\d{0,38})`).
fn shown_pattern(p: &str) -> &str {
    let Some(inner) = p.strip_prefix('^').and_then(|p| p.strip_suffix('$')) else {
        return p;
    };
    if inner.ends_with('\\') {
        // `\$` is a literal dollar, not an anchor.
        return p;
    }
    if !inner.starts_with('(') {
        return inner;
    }
    // Strip the outer group only when the parenthesis that opens it closes at the end.
    let mut depth = 0usize;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '(' => depth += 1,
            ')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return if i + 1 == inner.len() {
                        &inner[1..i]
                    } else {
                        inner
                    };
                }
            }
            _ => {}
        }
    }
    inner
}

impl Check {
    /// AWS's text for the constraint.
    fn text(&self) -> String {
        match self {
            Check::Pattern(p) => format!(
                "Member must satisfy regular expression pattern: {}",
                shown_pattern(p)
            ),
            Check::MinLength(n) => format!("Member must have length greater than or equal to {n}"),
            Check::MaxLength(n) => format!("Member must have length less than or equal to {n}"),
            Check::MinValue(n) => format!("Member must have value greater than or equal to {n}"),
            Check::MaxValue(n) => format!("Member must have value less than or equal to {n}"),
            Check::Enum(values) => {
                format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                )
            }
        }
    }

    /// Whether `value` (of a shape of `kind`) meets it; values it does not apply to do.
    fn holds(&self, kind: &Kind, value: &Value) -> bool {
        match *self {
            Check::Pattern(p) => value.as_str().is_none_or(|s| pattern_matches(p, s)),
            Check::MinLength(n) => length(kind, value).is_none_or(|l| l >= n),
            Check::MaxLength(n) => length(kind, value).is_none_or(|l| l <= n),
            Check::MinValue(n) => number(kind, value).is_none_or(|v| v >= i128::from(n)),
            Check::MaxValue(n) => number(kind, value).is_none_or(|v| v <= i128::from(n)),
            Check::Enum(values) => value.as_str().is_none_or(|s| values.contains(&s)),
        }
    }
}

/// A shape's constraints: pattern, minimum, maximum, enum (the maximum first when
/// `max_first`, as AWS lists an element shape's constraints).
fn checks(kind: &Kind, max_first: bool) -> Vec<Check> {
    let mut out = Vec::new();
    let (low, high) = match kind {
        Kind::String {
            min, max, pattern, ..
        } => {
            if let Some(p) = *pattern {
                out.push(Check::Pattern(p));
            }
            (min.map(Check::MinLength), max.map(Check::MaxLength))
        }
        Kind::Blob { min, max } | Kind::List { min, max, .. } | Kind::Map { min, max, .. } => {
            (min.map(Check::MinLength), max.map(Check::MaxLength))
        }
        Kind::Integer { min, max } | Kind::Long { min, max } => {
            (min.map(Check::MinValue), max.map(Check::MaxValue))
        }
        Kind::Double | Kind::Boolean | Kind::Timestamp | Kind::Structure { .. } => (None, None),
    };
    let bounds = if max_first { [high, low] } else { [low, high] };
    out.extend(bounds.into_iter().flatten());
    if let Kind::String { enums, .. } = kind
        && !enums.is_empty()
    {
        out.push(Check::Enum(enums));
    }
    out
}

/// The length the length constraints count, if `value` has one.
fn length(kind: &Kind, value: &Value) -> Option<u64> {
    let n = match (kind, value) {
        (Kind::Blob { .. }, Value::String(s)) => blob_len(s),
        (_, Value::String(s)) => utf16_len(s),
        (_, Value::Array(items)) => items.len(),
        (_, Value::Object(entries)) => entries.len(),
        _ => return None,
    };
    u64::try_from(n).ok()
}

/// An integer's or long's number as AWS sees it: rounded down (saturating), an integer
/// capped at 2147483647.
fn number(kind: &Kind, value: &Value) -> Option<i128> {
    let Value::Number(n) = value else {
        return None;
    };
    let n = match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i128::from(i),
        (None, Some(u)) => i128::from(u),
        // Float-to-integer `as` saturates; a JSON number is never NaN.
        (None, None) => n.as_f64().unwrap_or_default().floor() as i128,
    };
    match kind {
        Kind::Integer { .. } => Some(n.min(i128::from(i32::MAX))),
        Kind::Long { .. } => Some(n),
        _ => None,
    }
}

/// How AWS prints a value in "Value '...' at".
fn display(shape: &Shape, value: &Value) -> String {
    match (&shape.kind, value) {
        (_, Value::Null) => "null".to_string(),
        (Kind::Structure { .. }, _) => format!("{STRUCTURE_CLASS}{}@{STRUCTURE_HASH}", shape.name),
        (Kind::Blob { .. }, Value::String(s)) => {
            let n = blob_len(s);
            format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]")
        }
        (Kind::List { member, .. }, Value::Array(items)) => {
            let items: Vec<String> = items.iter().map(|item| display(member, item)).collect();
            format!("[{}]", items.join(", "))
        }
        (Kind::Map { value: member, .. }, Value::Object(entries)) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k}={}", display(member, v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        (kind, Value::Number(n)) => {
            number(kind, value).map_or_else(|| n.to_string(), |v| v.to_string())
        }
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// Whether a shape's values are checked member by member rather than as a whole.
fn is_composite(shape: &Shape) -> bool {
    matches!(
        shape.kind,
        Kind::List { .. } | Kind::Map { .. } | Kind::Structure { .. }
    )
}

/// The violations found so far, at most [`MAX_REPORTED`].
#[derive(Default)]
struct Violations {
    errors: ValidationErrors,
    count: usize,
}

impl Violations {
    fn full(&self) -> bool {
        self.count >= MAX_REPORTED
    }

    fn null(&mut self, path: &str) {
        if !self.full() {
            self.errors.null(path);
            self.count += 1;
        }
    }

    fn constraint(&mut self, shape: &Shape, value: &Value, path: &str, constraint: &str) {
        if !self.full() {
            self.errors
                .constraint(display(shape, value), path, constraint);
            self.count += 1;
        }
    }

    /// A structure's members, in order, under `parent`.
    fn members(&mut self, members: &[Member], fields: &Map<String, Value>, parent: Option<&str>) {
        for member in members {
            if self.full() {
                return;
            }
            let name = message_name(member.name);
            let path = match parent {
                Some(parent) => format!("{parent}.{name}"),
                None => name,
            };
            match fields.get(member.name).filter(|v| !v.is_null()) {
                Some(value) => self.value(member.shape, value, &path),
                None if member.required => self.null(&path),
                None => {}
            }
        }
    }

    /// A present value's own constraints, then its contents'.
    fn value(&mut self, shape: &Shape, value: &Value, path: &str) {
        for check in checks(&shape.kind, false) {
            if !check.holds(&shape.kind, value) {
                self.constraint(shape, value, path, &check.text());
            }
        }
        match (&shape.kind, value) {
            (Kind::List { member, .. }, Value::Array(items)) => {
                if is_composite(member) {
                    for (i, item) in items.iter().enumerate() {
                        if self.full() {
                            return;
                        }
                        if !item.is_null() {
                            self.value(member, item, &format!("{path}.{}.member", i + 1));
                        }
                    }
                } else {
                    let lead = "Member must satisfy constraint";
                    self.elements(shape, value, path, lead, member, items.iter());
                }
            }
            (
                Kind::Map {
                    key, value: member, ..
                },
                Value::Object(entries),
            ) => {
                let keys: Vec<Value> = entries.keys().map(|k| Value::String(k.clone())).collect();
                let lead = "Map keys must satisfy constraint";
                self.elements(shape, value, path, lead, key, keys.iter());
                if is_composite(member) {
                    for (k, v) in entries.iter().rev() {
                        if !v.is_null() {
                            self.value(member, v, &format!("{path}.{k}.member"));
                        }
                    }
                } else {
                    let lead = "Map value must satisfy constraint";
                    self.elements(shape, value, path, lead, member, entries.values());
                }
            }
            (Kind::Structure { members }, Value::Object(fields)) => {
                self.members(members, fields, Some(path));
            }
            _ => {}
        }
    }

    /// One violation for the whole of `value` when any of `items` (of `element`'s shape)
    /// breaks one of that shape's constraints, naming them all.
    fn elements<'a>(
        &mut self,
        shape: &Shape,
        value: &Value,
        path: &str,
        lead: &str,
        element: &Shape,
        mut items: impl Iterator<Item = &'a Value>,
    ) {
        let checks = checks(&element.kind, true);
        if checks.is_empty() {
            return;
        }
        let broken = items
            .any(|item| !item.is_null() && checks.iter().any(|c| !c.holds(&element.kind, item)));
        if broken {
            let texts: Vec<String> = checks.iter().map(Check::text).collect();
            let constraint = format!("{lead}: [{}]", texts.join(", "));
            self.constraint(shape, value, path, &constraint);
        }
    }
}

/// Compiled patterns, `None` for one the `regex` crate cannot compile.
/// The model's patterns, compiled once each and kept for the process (there are a few dozen):
/// shared, not cloned, since a cloned `Regex` starts without the match caches of the
/// original and builds them again on its first match (microseconds per call).
static PATTERNS: LazyLock<RwLock<HashMap<&'static str, Option<&'static Regex>>>> =
    LazyLock::new(Default::default);

/// Whether the whole of `s` matches the model's pattern; a pattern that cannot be compiled
/// matches everything. (A read lock once a pattern is known; the write lock only the first
/// time it is seen.)
fn pattern_matches(pattern: &'static str, s: &str) -> bool {
    let known = PATTERNS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(pattern)
        .copied();
    let compiled = known.unwrap_or_else(|| {
        *PATTERNS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(pattern)
            .or_insert_with(|| {
                Regex::new(&whole_match(pattern))
                    .ok()
                    .map(|re| &*Box::leak(Box::new(re)))
            })
    });
    compiled.is_none_or(|re| re.is_match(s))
}

/// A Java pattern as a `regex` one anchored at both ends, with Java's ASCII-only `\d`,
/// `\w`, `\s` (and their negations) spelled out, since `regex`'s are Unicode-wide.
fn whole_match(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('s') => out.push_str(r"[\t\n\x0B\f\r ]"),
            Some('S') => out.push_str(r"[^\t\n\x0B\f\r ]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    format!("^(?:{out})$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Hand-built shapes, one a line.
    #[rustfmt::skip]
    mod fixtures {
        use super::super::{Kind, Member, Shape};

        const fn string(name: &'static str, min: Option<u64>, max: Option<u64>, pattern: Option<&'static str>) -> Shape {
            Shape { name, kind: Kind::String { min, max, pattern, enums: &[] } }
        }
        const fn list(name: &'static str, member: &'static Shape, max: u64) -> Shape {
            Shape { name, kind: Kind::List { member, min: Some(1), max: Some(max) } }
        }
        const fn member(name: &'static str, required: bool, shape: &'static Shape) -> Member {
            Member { name, required, shape }
        }

        static NAME: Shape = string("StreamName", Some(1), Some(128), Some("[a-zA-Z0-9_.-]+"));
        static KEY: Shape = string("PartitionKey", Some(1), Some(256), None);
        static HASH: Shape = string("HashKey", None, None, Some(r"0|([1-9]\d{0,38})"));
        static DATA: Shape = Shape { name: "Data", kind: Kind::Blob { min: None, max: Some(4) } };
        static ENTRY: Shape = Shape { name: "PutRecordsRequestEntry", kind: Kind::Structure { members: &[
            member("PartitionKey", true, &KEY),
            member("ExplicitHashKey", false, &HASH),
            member("Data", true, &DATA),
        ] } };
        static RECORDS: Shape = list("PutRecordsRequestEntryList", &ENTRY, 500);
        static COUNT: Shape = Shape { name: "Count", kind: Kind::Integer { min: Some(1), max: Some(100_000) } };
        static TAG_KEY: Shape = string("TagKey", Some(1), Some(128), None);
        static TAG_VALUE: Shape = string("TagValue", Some(0), Some(256), None);
        static TAGS: Shape = Shape { name: "TagMap", kind: Kind::Map { key: &TAG_KEY, value: &TAG_VALUE, min: Some(1), max: Some(10) } };
        static TAG_KEYS: Shape = list("TagKeyList", &TAG_KEY, 10);
        static ITERATOR_TYPE: Shape = Shape { name: "ShardIteratorType", kind: Kind::String {
            min: None, max: None, pattern: None, enums: &["AT_SEQUENCE_NUMBER", "LATEST"],
        } };
        static FLAG: Shape = Shape { name: "BooleanObject", kind: Kind::Boolean };
        /// The input every test checks.
        pub(super) static INPUT: Shape = Shape { name: "TestInput", kind: Kind::Structure { members: &[
            member("Records", true, &RECORDS),
            member("StreamName", true, &NAME),
            member("ShardCount", false, &COUNT),
            member("Tags", false, &TAGS),
            member("TagKeys", false, &TAG_KEYS),
            member("ShardIteratorType", false, &ITERATOR_TYPE),
            member("Flag", false, &FLAG),
        ] } };
    }
    use fixtures::INPUT;

    /// A valid body with `extra`'s members added or replaced.
    fn body(extra: Value) -> Value {
        let mut body = json!({"StreamName": "s", "Records": [{"PartitionKey": "k", "Data": ""}]});
        if let (Some(fields), Value::Object(extra)) = (body.as_object_mut(), extra) {
            fields.extend(extra);
        }
        body
    }

    fn type_message(value: Value) -> String {
        match check_value(&INPUT, &value) {
            Err(Invalid::Type(e)) => e.message,
            other => format!("not a type error: {other:?}"),
        }
    }

    fn validation_message(value: Value) -> String {
        match check_value(&INPUT, &value) {
            Err(Invalid::Validation(e)) => e.message().to_string(),
            other => format!("not a validation error: {other:?}"),
        }
    }

    const BIG: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";
    const FAILED: &str = "failed to satisfy constraint: Member must";

    #[test]
    fn valid_bodies_pass_and_unknown_members_are_ignored() {
        assert!(check_value(&INPUT, &body(json!({"Unknown": [true], "Flag": true}))).is_ok());
        assert!(check_value(&INPUT, &body(json!({"ShardCount": 5, "Flag": null}))).is_ok());
    }

    #[test]
    fn members_of_the_wrong_type() {
        let to = |class: &str, target: &str| format!("{class} can not be converted to {target}");
        let (boolean, string) = ("class java.lang.Boolean", "class java.lang.String");
        let cases = [
            (json!({"StreamName": true}), to(boolean, "an String")),
            (json!({"StreamName": 34.56}), to(BIG, "an String")),
            (json!({"StreamName": []}), LIST_START.to_string()),
            (json!({"StreamName": {}}), STRUCTURE_START.to_string()),
            (
                json!({"Records": [{"PartitionKey": false}]}),
                to(boolean, "an String"),
            ),
            (json!({"Tags": {"a": 1}}), to(BIG, "an String")),
            (json!({"ShardCount": "23"}), to(string, "an Integer")),
            (json!({"ShardCount": true}), to(boolean, "an Integer")),
            (json!({"Flag": "yes"}), to("'YES'", "an Boolean")),
            (json!({"Flag": 1}), to(BIG, "an Boolean")),
            (json!({"Records": {}}), STRUCTURE_START.to_string()),
            (
                json!({"Records": "23"}),
                "Expected list or null".to_string(),
            ),
            (json!({"Records": [23]}), "Expected null".to_string()),
            (json!({"Tags": 23}), "Expected map or null".to_string()),
            (json!({"Tags": []}), LIST_START.to_string()),
        ];
        for (extra, message) in cases {
            assert_eq!(type_message(body(extra)), message);
        }
        // The first fault in member order wins.
        let first = json!({"Flag": 1, "StreamName": false, "Records": "x"});
        assert_eq!(type_message(first), "Expected list or null");
    }

    #[test]
    fn blobs_that_are_not_base64() {
        let last = "Invalid last non-pad Base64 character dectected";
        let length = "Base64 encoded length is expected a multiple of 4 bytes but found: 5";
        let cases = [
            ("23456", length),
            ("=+/=", "Invalid Base64 character: '='"),
            ("ab*d", "Invalid Base64 character: '*'"),
            ("+/+=", last),
            ("AAAA====", last),
        ];
        for (data, why) in cases {
            let records = json!({"Records": [{"PartitionKey": "k", "Data": data}]});
            let expected = format!("'{data}' can not be converted to a Blob: {why}");
            assert_eq!(type_message(body(records)), expected);
        }
        let ok = json!({"Records": [{"PartitionKey": "k", "Data": "aGk="}]});
        assert!(check_value(&INPUT, &body(ok)).is_ok());
    }

    #[test]
    fn missing_and_null_required_members_are_reported_together_in_member_order() {
        let expected = format!(
            "2 validation errors detected: Value null at 'records' {FAILED} not be null; \
             Value null at 'streamName' {FAILED} not be null"
        );
        assert_eq!(validation_message(json!({})), expected);
        let nulls = json!({"StreamName": null, "Records": null});
        assert_eq!(validation_message(nulls), expected);
    }

    #[test]
    fn pattern_then_length_on_one_member() {
        assert_eq!(
            validation_message(body(json!({"StreamName": ""}))),
            format!(
                "2 validation errors detected: Value '' at 'streamName' {FAILED} satisfy regular \
                 expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' {FAILED} have \
                 length greater than or equal to 1"
            )
        );
    }

    #[test]
    fn enum_violation() {
        assert_eq!(
            validation_message(body(json!({"ShardIteratorType": "OLDEST"}))),
            format!(
                "1 validation error detected: Value 'OLDEST' at 'shardIteratorType' {FAILED} \
                 satisfy enum value set: [AT_SEQUENCE_NUMBER, LATEST]"
            )
        );
    }

    #[test]
    fn integers_are_rounded_down_and_capped() {
        assert_eq!(
            validation_message(body(json!({"ShardCount": 100_000_000_000_u64}))),
            format!(
                "1 validation error detected: Value '2147483647' at 'shardCount' {FAILED} have \
                 value less than or equal to 100000"
            )
        );
        assert_eq!(
            validation_message(body(json!({"ShardCount": 0.9}))),
            format!(
                "1 validation error detected: Value '0' at 'shardCount' {FAILED} have value \
                 greater than or equal to 1"
            )
        );
    }

    #[test]
    fn list_elements_have_nested_paths() {
        let records = json!({"Records": [
            {"PartitionKey": "k", "Data": ""},
            {"PartitionKey": "", "ExplicitHashKey": "01", "Data": "AAAAAAAA"},
            {"ExplicitHashKey": "1"},
        ]});
        assert_eq!(
            validation_message(body(records)),
            format!(
                "5 validation errors detected: \
                 Value '' at 'records.2.member.partitionKey' {FAILED} have length greater than or \
                 equal to 1; \
                 Value '01' at 'records.2.member.explicitHashKey' {FAILED} satisfy regular \
                 expression pattern: 0|([1-9]\\d{{0,38}}); \
                 Value 'java.nio.HeapByteBuffer[pos=0 lim=6 cap=6]' at 'records.2.member.data' \
                 {FAILED} have length less than or equal to 4; \
                 Value null at 'records.3.member.partitionKey' {FAILED} not be null; \
                 Value null at 'records.3.member.data' {FAILED} not be null"
            )
        );
    }

    #[test]
    fn string_length_counts_utf16_units() {
        let key = "\u{1F600}".repeat(129); // 129 characters, 258 UTF-16 units
        let message = validation_message(body(
            json!({"Records": [{"PartitionKey": key, "Data": ""}]}),
        ));
        let expected = format!("{FAILED} have length less than or equal to 256");
        assert!(
            message.starts_with("1 validation error detected: "),
            "{message}"
        );
        assert!(message.ends_with(&expected), "{message}");
    }

    #[test]
    fn lists_of_scalars_are_reported_whole() {
        let keys: Vec<String> = (1..=11).map(|i| i.to_string()).collect();
        assert_eq!(
            validation_message(body(json!({"TagKeys": keys}))),
            format!(
                "1 validation error detected: Value '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]' at \
                 'tagKeys' {FAILED} have length less than or equal to 10"
            )
        );
        let long = "a".repeat(129);
        assert_eq!(
            validation_message(body(json!({"TagKeys": ["a", long, "b"]}))),
            format!(
                "1 validation error detected: Value '[a, {long}, b]' at 'tagKeys' {FAILED} \
                 satisfy constraint: [Member must have length less than or equal to 128, Member \
                 must have length greater than or equal to 1]"
            )
        );
    }

    #[test]
    fn maps_with_bad_keys_or_values() {
        let long = "a".repeat(257);
        assert_eq!(
            validation_message(body(json!({"Tags": {"a": "1", "c": long}}))),
            format!(
                "1 validation error detected: Value '{{a=1, c={long}}}' at 'tags' failed to \
                 satisfy constraint: Map value must satisfy constraint: [Member must have length \
                 less than or equal to 256, Member must have length greater than or equal to 0]"
            )
        );
        assert_eq!(
            validation_message(body(json!({"Tags": {"": "1"}}))),
            "1 validation error detected: Value '{=1}' at 'tags' failed to satisfy constraint: \
             Map keys must satisfy constraint: [Member must have length less than or equal to \
             128, Member must have length greater than or equal to 1]"
        );
        assert_eq!(
            validation_message(body(json!({"Tags": {}}))),
            format!(
                "1 validation error detected: Value '{{}}' at 'tags' {FAILED} have length \
                 greater than or equal to 1"
            )
        );
    }

    #[test]
    fn numbers_are_coerced_in_the_tree() {
        let mut v = body(json!({"ShardCount": 1.5}));
        assert!(check_value(&fixtures::INPUT, &v).is_ok());
        coerce_numbers(&fixtures::INPUT, &mut v);
        assert_eq!(v["ShardCount"], json!(1));
        let mut v = body(json!({"ShardCount": 1e40}));
        coerce_numbers(&fixtures::INPUT, &mut v);
        assert_eq!(v["ShardCount"], json!(2_147_483_647));
    }

    #[test]
    fn anchored_patterns_are_shown_bare() {
        assert_eq!(
            shown_pattern(r"^(0|([1-9]\d{0,38}))$"),
            r"0|([1-9]\d{0,38})"
        );
        assert_eq!(shown_pattern(r"^(a)|(b)$"), r"(a)|(b)");
        assert_eq!(shown_pattern(r"[a-z]+"), r"[a-z]+");
        assert_eq!(shown_pattern(r"^\d+$"), r"\d+");
    }

    #[test]
    fn at_most_ten_violations_are_counted_and_listed() {
        let records = vec![json!({"PartitionKey": "", "Data": ""}); 501];
        let message = validation_message(json!({"StreamName": "", "Records": records}));
        let entry = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310";
        let start = format!("10 validation errors detected: Value '[{entry}, {entry}, ");
        assert!(message.starts_with(&start), "{message}");
        let list = format!(
            "{entry}]' at 'records' {FAILED} have length less than or equal to 500; Value '' at \
             'records.1.member.partitionKey'"
        );
        assert!(message.contains(&list), "{message}");
        let last = format!(
            "Value '' at 'records.9.member.partitionKey' {FAILED} have length greater than or \
             equal to 1"
        );
        assert!(message.ends_with(&last), "{message}");
        assert_eq!(message.matches("failed to satisfy constraint").count(), 10);
        assert!(!message.contains("streamName"), "{message}");
    }

    #[test]
    fn java_patterns_are_ascii_and_whole_string() {
        let hash = r"0|([1-9]\d{0,38})";
        assert!(pattern_matches(hash, "123"));
        assert!(!pattern_matches(hash, "1\u{0663}"));
        assert!(!pattern_matches(hash, "0123"));
        let arn = r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+";
        assert!(pattern_matches(
            arn,
            "arn:aws:kinesis:us-east-1:123456789012:stream/s"
        ));
        assert!(!pattern_matches(arn, "arn:aws:kinesis:x:1:stream/s"));
        assert!(!pattern_matches(
            arn,
            "arn:aws:kinesis:x:123456789012:stream/a b"
        ));
        // A pattern `regex` cannot compile (a look-ahead) matches everything.
        assert!(pattern_matches("(?=a)b", "zzz"));
    }
}
