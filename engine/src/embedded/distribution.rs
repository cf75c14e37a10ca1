//! A stream's record distribution strategy (UpdateStreamRecordDistributionStrategy).
//!
//! Under USER_PARTITION_KEY, the default, a put places each record on the open shard whose
//! hash-key range holds its explicit hash key or the MD5 of its partition key. Under AUTO a
//! put ignores both and deals records to the open shards in turn, in the order of their hash
//! ranges: the stream's `auto_cursor` counts the records placed, and record n goes to open
//! shard n modulo the open count, so every open shard gets the same number of records (one
//! more for some while a round is incomplete), whatever the keys. A reshard changes the set
//! of open shards the cursor deals over; the cursor itself goes on.
//!
//! AWS allows AUTO on ON_DEMAND streams only, and refuses `SequenceNumberForOrdering` on a
//! PutRecord to an AUTO stream. The strategy is kept in the catalog (`streams.distribution`).

use super::{Engine, ShardSet, Stream};
use crate::api::{Error, RecordDistributionStrategy};
use std::sync::atomic::Ordering;

impl Engine {
    /// The error of a PutRecord that asks for ordering on an AUTO stream, if it does.
    pub(super) fn check_ordering(
        &self,
        stream: &Stream,
        sequence_number_for_ordering: Option<&str>,
    ) -> Result<(), Error> {
        if sequence_number_for_ordering.is_some()
            && stream.meta.read().distribution == RecordDistributionStrategy::Auto
        {
            return Err(Error::InvalidArgument(format!(
                "SequenceNumberForOrdering is not supported on stream {} under account {}, whose record distribution strategy is AUTO.",
                stream.name,
                self.account()
            )));
        }
        Ok(())
    }
}

/// The open shard the next record of an AUTO stream goes to.
pub(super) fn next_auto_shard(stream: &Stream, shards: &ShardSet) -> Result<u64, Error> {
    let open = shards.open.len() as u64;
    if open == 0 {
        return Err(Error::Internal {
            message: format!("stream {} has no open shard", stream.name),
            source: None,
        });
    }
    let n = stream.auto_cursor.fetch_add(1, Ordering::Relaxed);
    // `open` is sorted by hash range, so records go round the key space in order.
    Ok(shards.open[(n % open) as usize].2)
}
