//! The shard-level metric set of EnableEnhancedMonitoring: each of
//! [`SHARD_LEVEL_METRICS`](crate::api::SHARD_LEVEL_METRICS) is one bit of a stream's
//! `shard_metrics` mask (bit i is the i-th name), `ALL` sets every bit.

use crate::api::*;

/// The bit of a shard-level metric name (`None` for `ALL` and unknown names).
pub(crate) fn metric_bit(name: &str) -> Option<u32> {
    SHARD_LEVEL_METRICS
        .iter()
        .position(|m| *m == name)
        .map(|i| 1 << i)
}

/// Every shard-level metric bit.
pub(crate) const ALL_METRICS: u32 = (1 << SHARD_LEVEL_METRICS.len()) - 1;

/// Whether shard-level metric `name` (one of [`SHARD_LEVEL_METRICS`]) is on in `bits`.
pub(crate) fn metric_on(bits: u32, name: &str) -> bool {
    metric_bit(name).is_some_and(|b| bits & b != 0)
}

/// The names of the metrics in `bits`, in [`SHARD_LEVEL_METRICS`] order.
pub(crate) fn metric_names(bits: u32) -> Vec<String> {
    SHARD_LEVEL_METRICS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, m)| (*m).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_bits() {
        assert_eq!(metric_names(ALL_METRICS).len(), 7);
        assert_eq!(metric_names(0), Vec::<String>::new());
        let b =
            metric_bit("IncomingBytes").unwrap_or(0) | metric_bit("OutgoingRecords").unwrap_or(0);
        assert_eq!(metric_names(b), vec!["IncomingBytes", "OutgoingRecords"]);
        assert!(metric_on(b, "IncomingBytes"));
        assert!(!metric_on(b, "IncomingRecords"));
        assert_eq!(metric_bit("ALL"), None);
    }
}
