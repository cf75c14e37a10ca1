//! The shard map of a stream: which open shard owns which hash key, from ListShards.
//!
//! # Invariants
//!
//! * `open` holds the open shards (no ending sequence number) sorted by starting hash key;
//!   their ranges do not overlap, so a binary search finds the one owning a hash key.
//! * `ranges` holds every shard listed, closed ones included, so that a record that landed
//!   on a shard the map did not predict can be checked against that shard's range.
//! * A map is a snapshot: the pipeline keeps using it until a refresh (map older than
//!   `shard_map_max_age`, or a put that landed on another shard than predicted) replaces it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rill_engine::api::{Error, HashKey, Kinesis, ListShardsInput};

/// An open shard: its hash key range and id.
#[derive(Debug, Clone)]
pub(crate) struct OpenShard {
    /// First hash key.
    pub start: u128,
    /// Last hash key (inclusive).
    pub end: u128,
    /// Shard id.
    pub id: Arc<str>,
}

/// A stream's shards, as listed at one moment.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardMap {
    /// Open shards, sorted by `start`.
    pub open: Vec<OpenShard>,
    /// Every shard's range by id.
    pub ranges: HashMap<Arc<str>, (u128, u128)>,
}

impl ShardMap {
    /// Builds a map from `(id, start, end, open)` rows.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, u128, u128, bool)>) -> ShardMap {
        let mut map = ShardMap::default();
        for (id, start, end, open) in rows {
            let id: Arc<str> = id.into();
            map.ranges.insert(Arc::clone(&id), (start, end));
            if open {
                map.open.push(OpenShard { start, end, id });
            }
        }
        map.open.sort_by_key(|s| s.start);
        map
    }

    /// Index in `open` of the shard owning `hash`.
    pub fn route(&self, hash: u128) -> Option<usize> {
        let i = self
            .open
            .partition_point(|s| s.start <= hash)
            .checked_sub(1)?;
        (self.open[i].end >= hash).then_some(i)
    }

    /// Whether shard `id` (open or closed) owns `hash`; `None` if the shard is unknown.
    pub fn owns(&self, id: &str, hash: u128) -> Option<bool> {
        self.ranges.get(id).map(|&(s, e)| s <= hash && hash <= e)
    }

    /// Lists every shard of `stream`, following `NextToken`, each call bounded by `timeout`.
    pub async fn fetch(
        kinesis: &dyn Kinesis,
        stream: &str,
        timeout: Duration,
    ) -> Result<ShardMap, Error> {
        let mut rows = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            // AWS refuses StreamName together with NextToken.
            let input = match next_token.take() {
                Some(token) => ListShardsInput {
                    next_token: Some(token),
                    ..Default::default()
                },
                None => ListShardsInput {
                    stream_name: Some(stream.to_owned()),
                    ..Default::default()
                },
            };
            let out = tokio::time::timeout(timeout, kinesis.list_shards(input))
                .await
                .map_err(|_| Error::Internal {
                    message: format!("ListShards did not answer within {timeout:?}"),
                    source: None,
                })??;
            for shard in out.shards {
                let parse = |s: &str| {
                    s.parse::<HashKey>()
                        .map(|h| h.0)
                        .map_err(|e| Error::Internal {
                            message: format!(
                                "ListShards returned hash key {s:?} for {}: {e}",
                                shard.shard_id
                            ),
                            source: None,
                        })
                };
                let start = parse(&shard.hash_key_range.starting_hash_key)?;
                let end = parse(&shard.hash_key_range.ending_hash_key)?;
                let open = shard.sequence_number_range.ending_sequence_number.is_none();
                rows.push((shard.shard_id, start, end, open));
            }
            match out.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => break,
            }
        }
        Ok(ShardMap::from_rows(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_to_the_open_shard_owning_the_key() {
        let map = ShardMap::from_rows([
            ("s2".to_string(), 100, u128::MAX, true),
            ("s0".to_string(), 0, u128::MAX, false),
            ("s1".to_string(), 0, 99, true),
        ]);
        let id = |h| map.route(h).map(|i| map.open[i].id.to_string());
        assert_eq!(id(0).as_deref(), Some("s1"));
        assert_eq!(id(99).as_deref(), Some("s1"));
        assert_eq!(id(100).as_deref(), Some("s2"));
        assert_eq!(id(u128::MAX).as_deref(), Some("s2"));
        assert_eq!(map.owns("s0", 5), Some(true));
        assert_eq!(map.owns("s1", 100), Some(false));
        assert_eq!(map.owns("nope", 1), None);
        let gap = ShardMap::from_rows([("a".to_string(), 10, 20, true)]);
        assert_eq!(gap.route(5), None);
        assert_eq!(gap.route(21), None);
    }
}
