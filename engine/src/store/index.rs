//! The log's index in memory: the runs of every shard and the open segments.
//!
//! A sealed segment's runs are loaded from its persisted index (see [`super::idxfile`]) the
//! first time a read or a search by time needs them. Until then each shard the segment holds
//! has one *lazy* run standing for all of its records there (positions, first arrival;
//! offset and length are unknown), and the segment's index head is kept in
//! [`IndexState::lazy`]. Invariants:
//!
//! * a shard's runs are in position order, contiguous, and in segment order; a lazy run is
//!   the only run of its shard in its segment;
//! * a segment is in [`IndexState::lazy`] exactly while its lazy runs are in the index, and
//!   loading it replaces all of them at once (under the write lock);
//! * the newest (active) segment is never lazy: the writer extends its runs.

use super::fs::FileIo;
use super::idxfile::{Head, Span};
use super::run::{MAX_RUN_BYTES, MAX_RUN_RECORDS, Run};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// The runs of one shard, oldest first, and the position its next record gets.
#[derive(Debug, Default)]
pub(crate) struct ShardIndex {
    pub runs: VecDeque<Run>,
    pub next: u64,
}

impl ShardIndex {
    /// Position of the oldest retained record (`next` when none is retained).
    pub fn trim(&self) -> u64 {
        self.runs.front().map_or(self.next, |r| r.first)
    }
}

/// An open segment.
#[derive(Debug)]
pub(crate) struct SegmentInfo {
    pub path: PathBuf,
    /// The open file; `None` for a sealed segment known from the heads file whose runs are
    /// not loaded yet (opened when they are, see `lazy`).
    pub file: Option<Arc<dyn FileIo>>,
    /// Length of the committed frames (and the header): the end of the last good frame.
    pub len: u64,
    /// Newest arrival of its records.
    pub max_arrival: Option<i64>,
}

/// What readers and the writer share: every shard's runs and every segment.
#[derive(Debug, Default)]
pub(crate) struct IndexState {
    pub shards: Vec<ShardIndex>,
    pub segments: BTreeMap<u64, SegmentInfo>,
    /// Segments whose runs are not loaded yet: their index heads.
    pub lazy: BTreeMap<u64, LazySegment>,
    /// The encoded index head of every sealed segment (what the heads file holds).
    pub heads: BTreeMap<u64, Vec<u8>>,
}

/// A sealed segment whose runs are not loaded yet.
#[derive(Debug, Clone)]
pub(crate) struct LazySegment {
    pub head: Head,
}

impl IndexState {
    /// Adds a record of `shard` at `position` found at `offset` (`len` bytes) of `segment`,
    /// extending the shard's last run when the record continues it.
    pub fn push_frame(
        &mut self,
        shard: u32,
        position: u64,
        segment: u64,
        offset: u64,
        len: u32,
        arrival_ms: i64,
    ) {
        let s = shard as usize;
        if self.shards.len() <= s {
            self.shards.resize_with(s + 1, ShardIndex::default);
        }
        let runs = &mut self.shards[s].runs;
        match runs.back_mut() {
            Some(r)
                if r.segment == segment
                    && r.end() == position
                    && r.offset + u64::from(r.len) == offset
                    && r.arrival_ms == arrival_ms
                    && r.count < MAX_RUN_RECORDS
                    && r.len < MAX_RUN_BYTES =>
            {
                r.count += 1;
                r.len += len;
            }
            _ => runs.push_back(Run {
                first: position,
                count: 1,
                segment,
                offset,
                len,
                arrival_ms,
                lazy: false,
            }),
        }
    }

    /// Adds a sealed segment by its index head: one lazy run per shard it holds.
    pub fn push_lazy(&mut self, head: Head) {
        for span in &head.spans {
            let s = span.shard as usize;
            if self.shards.len() <= s {
                self.shards.resize_with(s + 1, ShardIndex::default);
            }
            self.shards[s].runs.push_back(Run {
                first: span.first,
                count: (span.end - span.first) as u32,
                segment: head.segment,
                offset: 0,
                len: 0,
                arrival_ms: span.first_arrival,
                lazy: true,
            });
        }
        self.lazy.insert(head.segment, LazySegment { head });
    }

    /// The span of `shard` in lazy `segment`, if both are.
    pub fn lazy_span(&self, segment: u64, shard: u32) -> Option<&Span> {
        let l = self.lazy.get(&segment)?;
        l.head.spans.iter().find(|s| s.shard == shard)
    }

    /// Replaces the lazy runs of `segment` by its loaded `runs` (with their shards, in file
    /// order). Does nothing when the segment is no longer lazy (loaded by another reader, or
    /// deleted by retention meanwhile).
    pub fn load(&mut self, segment: u64, runs: Vec<(u32, Run)>) {
        if self.lazy.remove(&segment).is_none() {
            return;
        }
        let mut by_shard: BTreeMap<u32, Vec<Run>> = BTreeMap::new();
        for (shard, r) in runs {
            by_shard.entry(shard).or_default().push(r);
        }
        for (shard, new) in by_shard {
            let Some(s) = self.shards.get_mut(shard as usize) else {
                continue;
            };
            let i = s.runs.partition_point(|r| r.segment < segment);
            if s.runs
                .get(i)
                .is_some_and(|r| r.segment == segment && r.lazy)
            {
                let tail = s.runs.split_off(i + 1);
                s.runs.pop_back();
                s.runs.extend(new);
                s.runs.extend(tail);
            }
        }
    }

    /// The newest arrival among `shard`'s retained records.
    pub fn last_arrival(&self, shard: u32) -> Option<i64> {
        let r = self.shards.get(shard as usize)?.runs.back()?;
        if r.lazy {
            return self.lazy_span(r.segment, shard).map(|s| s.last_arrival);
        }
        Some(r.arrival_ms)
    }

    /// The runs of `segment` with their shards, in file order.
    pub fn runs_of(&self, segment: u64) -> Vec<(u32, Run)> {
        let mut out = Vec::new();
        for (shard, s) in self.shards.iter().enumerate() {
            // Runs of a shard are in segment order: look at the tail for the newest ones
            // and at the head for old ones, skipping the others quickly.
            let from = s.runs.partition_point(|r| r.segment < segment);
            out.extend(
                s.runs
                    .range(from..)
                    .take_while(|r| r.segment == segment)
                    .filter(|r| !r.lazy)
                    .map(|r| (shard as u32, *r)),
            );
        }
        out.sort_by_key(|(_, r)| r.offset);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_a_segment_in_file_order() {
        let mut st = IndexState::default();
        st.push_frame(1, 0, 0, 28, 40, 1);
        st.push_frame(0, 0, 1, 28, 40, 2);
        st.push_frame(1, 1, 1, 68, 40, 2);
        st.push_frame(0, 1, 1, 108, 40, 3);
        let runs = st.runs_of(1);
        let shards: Vec<u32> = runs.iter().map(|(s, _)| *s).collect();
        assert_eq!(shards, vec![0, 1, 0]);
        assert_eq!(runs[0].1.offset, 28);
        assert_eq!(st.runs_of(0).len(), 1);
    }
}
