//! The service model's validation for typed inputs: what makes the embedded [`Engine`]'s
//! refusals the same as `rill serve`'s.
//!
//! A typed input cannot hold a value of the wrong type, but it can break any constraint the
//! model states (a length, a range, a pattern, a required member left `None`). The dispatch
//! serializes the input to the wire's JSON (the types' serde names are the wire's) and runs
//! [`model::check_value`] on it before the handler, so every violation is reported at once,
//! in AWS's order and words, exactly as the server reports it for a JSON or CBOR body.
//!
//! The write path is the exception: PutRecord and PutRecords are the engine's hot path, and
//! their handlers check every constraint the model has for them. Only when a handler refuses
//! an input does it ask [`violations`] for the model's wording of that refusal.
//!
//! [`Engine`]: crate::Engine

use crate::api::model::{self, Invalid};
use crate::api::{Error, Operation};
use serde::Serialize;

/// Whether the dispatch checks `op`'s input against the model before its handler.
pub(crate) fn checked_before_handler(op: Operation) -> bool {
    !matches!(op, Operation::PutRecord | Operation::PutRecords)
}

/// The model's `ValidationException` for `input` of `op`, or `None` when the model finds
/// nothing to refuse.
///
/// A type fault here would be a serialization bug of rill's own types, not the caller's
/// error: it is logged and the input is left to the handler's checks.
pub(crate) fn violations<I: Serialize>(op: Operation, input: &I) -> Option<Error> {
    let shape = model::input(op.as_str())?;
    let value = match serde_json::to_value(input) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(operation = op.as_str(), error = %e, "input does not serialize; model check skipped");
            return None;
        }
    };
    match model::check_value(shape, &value) {
        Ok(()) => None,
        Err(Invalid::Validation(e)) => Some(e),
        Err(Invalid::Type(t)) => {
            // A bug of rill's types, which the test suite (debug builds) must not hit.
            debug_assert!(false, "{} input serializes off the model: {t}", op.as_str());
            tracing::warn!(operation = op.as_str(), fault = %t, "typed input serializes off the model; model check skipped");
            None
        }
    }
}
