//! The pipeline's books: what finishing a user record involves (its result, its buffer
//! permits, its flush epoch, the pending gauges), in one place, so a record is finished
//! exactly once.

use super::*;

/// Finishing records: results, buffer permits, flush epochs, pending gauges.
pub(super) struct Book {
    shared: Arc<Shared>,
    epoch_base: u64,
    /// Unfinished records per epoch from `epoch_base`; the back is the current epoch.
    counts: VecDeque<usize>,
    waiters: VecDeque<(u64, oneshot::Sender<()>)>,
    freed_records: usize,
    freed_bytes: usize,
    /// Unfinished records per stream, and their gauges.
    pending: Vec<usize>,
    gauges: Vec<Gauge>,
}

impl Book {
    /// Starts the books of a new stream, whose pending count `gauge` shows.
    pub(super) fn add_stream(&mut self, gauge: Gauge) {
        self.gauges.push(gauge);
        self.pending.push(0);
    }

    /// Whether a flush is waiting.
    pub(super) fn flush_waiting(&self) -> bool {
        !self.waiters.is_empty()
    }

    pub(super) fn new(shared: Arc<Shared>) -> Book {
        Book {
            shared,
            epoch_base: 0,
            counts: VecDeque::from([0]),
            waiters: VecDeque::new(),
            freed_records: 0,
            freed_bytes: 0,
            pending: Vec::new(),
            gauges: Vec::new(),
        }
    }

    pub(super) fn current_epoch(&self) -> u64 {
        self.epoch_base + self.counts.len() as u64 - 1
    }

    pub(super) fn add(&mut self, stream: usize) -> u64 {
        if let Some(c) = self.counts.back_mut() {
            *c += 1;
        }
        self.pending[stream] += 1;
        self.current_epoch()
    }

    /// Delivers a record's result and releases what it held.
    pub(super) fn finish(
        &mut self,
        stream: usize,
        mut meta: Meta,
        result: Result<Ack, RecordError>,
    ) {
        meta.tx.complete(result);
        self.release(stream, &meta);
    }

    /// Releases what a finished record held (its result is delivered already).
    pub(super) fn release(&mut self, stream: usize, meta: &Meta) {
        let i = meta.epoch.saturating_sub(self.epoch_base) as usize;
        if let Some(c) = self.counts.get_mut(i) {
            *c = c.saturating_sub(1);
        }
        self.pending[stream] = self.pending[stream].saturating_sub(1);
        self.freed_records += 1;
        self.freed_bytes += meta.size;
    }

    pub(super) fn flush_point(&mut self, tx: oneshot::Sender<()>) {
        let target = self.current_epoch() + 1;
        self.counts.push_back(0);
        self.waiters.push_back((target, tx));
    }

    pub(super) fn total_pending(&self) -> usize {
        self.counts.iter().sum()
    }

    /// Returns permits, advances epochs, wakes flushes, updates gauges.
    pub(super) fn settle(&mut self) {
        if self.freed_records > 0 {
            self.shared
                .outstanding
                .fetch_sub(self.freed_records, Ordering::AcqRel);
            self.shared.records.add_permits(self.freed_records);
            self.shared.bytes.add_permits(self.freed_bytes);
            self.freed_records = 0;
            self.freed_bytes = 0;
        }
        while self.counts.len() > 1 && self.counts.front() == Some(&0) {
            self.counts.pop_front();
            self.epoch_base += 1;
        }
        while let Some((target, _)) = self.waiters.front() {
            if *target > self.epoch_base {
                break;
            }
            if let Some((_, tx)) = self.waiters.pop_front() {
                let _ = tx.send(());
            }
        }
        for (gauge, n) in self.gauges.iter().zip(&self.pending) {
            gauge.set(*n as f64);
        }
    }
}
