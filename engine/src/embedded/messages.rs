//! AWS's error texts that more than one operation answers, in one place.

use crate::api::*;
use crate::embedded::{Engine, Stream, shard_id};

pub(crate) const TAG_CHARS_MESSAGE: &str = "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";

impl Engine {
    pub(crate) fn not_found(&self, name: &str) -> Error {
        Error::ResourceNotFound(format!(
            "Stream {name} under account {} not found.",
            self.account()
        ))
    }

    /// AWS's throttling message for a shard.
    pub(crate) fn rate_exceeded(&self, stream: &Stream, shard: u64) -> String {
        format!(
            "Rate exceeded for shard {} in stream {} under account {}.",
            shard_id(shard),
            stream.name,
            self.account()
        )
    }

    /// The LimitExceededException of one ON_DEMAND stream too many.
    pub(crate) fn on_demand_limit_error(&self) -> Error {
        Error::LimitExceeded(format!(
            "This request would exceed the on-demand stream limit for the account {} in {}. Current on-demand stream count for the account: {}. Limit: {}.",
            self.inner.config.account_id,
            self.inner.config.region,
            self.on_demand_stream_count(),
            self.inner.config.on_demand_stream_limit
        ))
    }

    pub(crate) fn consumer_not_found(&self, what: &str) -> Error {
        Error::ResourceNotFound(format!(
            "Consumer {what} under account {} not found.",
            self.inner.config.account_id
        ))
    }
}
