//! A stream's shard topology as the API shows it: shard ids (`shardId-` and 12 digits, parsed
//! as AWS parses them), shard descriptions, the live shards within retention, a shard's
//! children.

use crate::api::*;
use crate::embedded::{Engine, ShardSet, Stream, shard_id};
use crate::store::ShardRow;

/// The children of `parent` (split children, or the merge child it is a parent of).
pub(crate) fn child_shards(shards: &ShardSet, parent: u64) -> Vec<ChildShard> {
    shards
        .all
        .iter()
        .filter(|c| c.parent == Some(parent) || c.adjacent_parent == Some(parent))
        .map(|c| ChildShard {
            shard_id: shard_id(c.shard_index),
            parent_shards: c
                .parent
                .iter()
                .chain(c.adjacent_parent.iter())
                .map(|p| shard_id(*p))
                .collect(),
            hash_key_range: types::HashKeyRange {
                starting_hash_key: c.start_hash.to_string(),
                ending_hash_key: c.end_hash.to_string(),
            },
        })
        .collect()
}

impl Engine {
    pub(crate) fn describe_shard(stream: &Stream, s: &ShardRow) -> Shard {
        let seq = |position| {
            SequenceNumber {
                generation: s.generation,
                position,
                shard_index: s.shard_index,
                stream_epoch: stream.epoch,
                layout: stream.seq_layout,
            }
            .to_string()
        };
        Shard {
            shard_id: shard_id(s.shard_index),
            parent_shard_id: s.parent.map(shard_id),
            adjacent_parent_shard_id: s.adjacent_parent.map(shard_id),
            hash_key_range: types::HashKeyRange {
                starting_hash_key: s.start_hash.to_string(),
                ending_hash_key: s.end_hash.to_string(),
            },
            sequence_number_range: SequenceNumberRange {
                // Position field 0 is the shard's start, below its first record's number, as
                // AWS's StartingSequenceNumber is; a closed shard ends at its last record (field
                // = ending position), or at its start when it never held one.
                starting_sequence_number: seq(0),
                ending_sequence_number: s.ending_position.map(seq),
            },
        }
    }

    /// Shards not yet expired: open ones, and closed ones still within retention.
    pub(crate) fn live_shards(&self, stream: &Stream) -> Vec<ShardRow> {
        let retention_ms = i64::from(stream.meta.read().retention_hours) * 3_600_000;
        let cutoff = self.now() - retention_ms;
        stream
            .shards
            .read()
            .all
            .iter()
            .filter(|s| s.closed_ms.is_none_or(|c| c >= cutoff))
            .cloned()
            .collect()
    }

    /// Parses a shard id as AWS does: the digits after the first `-` (or the whole string).
    pub(crate) fn parse_shard_id(id: &str) -> Option<u64> {
        let digits = id.split_once('-').map_or(id, |(_, d)| d);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok().filter(|&i| i <= i32::MAX as u64)
    }
}
