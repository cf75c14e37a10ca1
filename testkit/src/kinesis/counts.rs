//! What [`FaultyKinesis`](super::FaultyKinesis) injected: the counters.

/// What was injected (per operation, or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Calls made to the wrapper (injected or not).
    pub calls: u64,
    /// Calls failed with an injected error without reaching the inner service.
    pub errors: u64,
    /// Calls that hung ([`Timeout`](super::Timeout)).
    pub timeouts: u64,
    /// Calls that succeeded in the inner service and were answered with an error.
    pub errors_after_success: u64,
    /// Calls given added latency.
    pub delayed: u64,
    /// PutRecords entries failed on their own.
    pub failed_entries: u64,
    /// SubscribeToShard streams cut.
    pub streams_cut: u64,
}

impl FaultCounts {
    /// Every injected fault but latency.
    pub fn injected(&self) -> u64 {
        self.errors
            + self.timeouts
            + self.errors_after_success
            + self.failed_entries
            + self.streams_cut
    }

    pub(crate) fn add(&mut self, o: &FaultCounts) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.errors_after_success += o.errors_after_success;
        self.delayed += o.delayed;
        self.failed_entries += o.failed_entries;
        self.streams_cut += o.streams_cut;
    }
}
