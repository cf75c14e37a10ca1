//! Resharding: SplitShard, MergeShards and UpdateShardCount.
//!
//! A reshard takes the stream's gate exclusively, so no put is between routing and
//! submitting; waits on a log barrier, so every submitted record is committed; reads each
//! parent's next position, which is now final, as its ending position; and commits the new
//! shard rows, the closed parents, the stream's new generation and next shard index in one
//! catalog transaction before publishing the new shard set. Puts that were waiting on the gate
//! then route by the new set. Children get the next shard indexes and a generation above
//! their parents', so every sequence number of a child is above every one of its parents.
//!
//! UpdateShardCount with UNIFORM_SCALING is a sequence of these steps done under one gate:
//! every open shard is split at each boundary of the even target ranges that falls inside
//! it, then the pieces inside each target range are merged left to right. Every step has at
//! most two parents, as AWS's shards do; intermediate shards hold no records.

use super::{Engine, ShardSet, Stream, shard_id};
use crate::api::{Error, HashKeyRange};
use crate::store::{ShardRow, StoreError};
use std::sync::Arc;

/// The working state of one reshard.
struct Work {
    all: Vec<ShardRow>,
    generation: u32,
    next_index: u64,
    now: i64,
    old_len: usize,
    closed: Vec<u64>,
}

impl Work {
    fn close(&mut self, index: u64, ending: u64) {
        if let Some(s) = self.all.get_mut(index as usize) {
            s.closed_ms = Some(self.now);
            s.ending_position = Some(ending);
        }
        self.closed.push(index);
    }

    fn child(&mut self, start: u128, end: u128, parent: u64, adjacent: Option<u64>) -> u64 {
        let index = self.next_index;
        self.next_index += 1;
        self.all.push(ShardRow {
            shard_index: index,
            parent: Some(parent),
            adjacent_parent: adjacent,
            start_hash: start,
            end_hash: end,
            generation: self.generation,
            created_ms: self.now,
            closed_ms: None,
            ending_position: None,
        });
        index
    }

    /// Splits `index` at `at`; returns (lower child, upper child).
    fn split(&mut self, stream: &Stream, index: u64, at: u128) -> (u64, u64) {
        self.generation += 1;
        let (start, end) = {
            let s = &self.all[index as usize];
            (s.start_hash, s.end_hash)
        };
        let ending = stream.log.shard_state(index as u32).next_position;
        self.close(index, ending);
        let lo = self.child(start, at - 1, index, None);
        let hi = self.child(at, end, index, None);
        (lo, hi)
    }

    /// Merges two adjacent shards; returns the child.
    fn merge(&mut self, stream: &Stream, a: u64, b: u64) -> u64 {
        self.generation += 1;
        let (sa, ea) = (
            self.all[a as usize].start_hash,
            self.all[a as usize].end_hash,
        );
        let (sb, eb) = (
            self.all[b as usize].start_hash,
            self.all[b as usize].end_hash,
        );
        for i in [a, b] {
            let ending = stream.log.shard_state(i as u32).next_position;
            self.close(i, ending);
        }
        self.child(sa.min(sb), ea.max(eb), a, Some(b))
    }
}

impl Engine {
    fn in_state_error(&self, stream: &Stream) -> Option<Error> {
        let status = stream.meta.read().status;
        (status != crate::api::StreamStatus::Active).then(|| {
            Error::ResourceInUse(format!(
                "Stream {} under account {} not ACTIVE, instead in state {status}",
                stream.name, self.inner.config.account_id
            ))
        })
    }

    fn open_shard<'a>(
        &self,
        stream: &Stream,
        set: &'a ShardSet,
        id: &str,
    ) -> Result<&'a ShardRow, Error> {
        let account = &self.inner.config.account_id;
        let shard = Self::parse_shard_id(id)
            .and_then(|i| set.all.get(i as usize))
            .ok_or_else(|| {
                Error::ResourceNotFound(format!(
                    "Could not find shard {id} in stream {} under account {account}.",
                    stream.name
                ))
            })?;
        if shard.closed_ms.is_some() {
            return Err(Error::ResourceInUse(format!(
                "Shard {} in stream {} under account {account} has already been merged or split, and thus is not eligible for merging or splitting.",
                shard_id(shard.shard_index),
                stream.name
            )));
        }
        Ok(shard)
    }

    /// Runs `plan` on the stream's shards with every put held back and every submitted
    /// record committed, then makes the result durable and visible.
    pub(crate) async fn reshard(
        &self,
        stream: &Arc<Stream>,
        plan: impl FnOnce(&mut ReshardPlan<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        // An owned guard: it moves into the blocking task that commits the change, so a
        // cancelled caller cannot let puts route on the old shards after the new ones are
        // durable.
        let gate = Arc::clone(&stream.gate).write_owned().await;
        match stream.log.barrier().await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(Error::ResourceNotFound(format!(
                    "Stream {} was deleted.",
                    stream.name
                )));
            }
        }
        let (generation, next_index) = {
            let m = stream.meta.read();
            (m.generation, m.next_shard_index)
        };
        let all = stream.shards.read().all.clone();
        let old_len = all.len();
        let mut work = Work {
            all,
            generation,
            next_index,
            now: self.inner.config.clock.now_ms(),
            old_len,
            closed: Vec::new(),
        };
        plan(&mut ReshardPlan {
            work: &mut work,
            stream,
        })?;
        if work.closed.is_empty() {
            return Ok(());
        }
        if work.generation > crate::api::seq::MAX_GENERATION {
            return Err(Error::LimitExceeded(format!(
                "Stream {} has been resharded too many times.",
                stream.name
            )));
        }
        let closed: Vec<(u64, i64, u64)> = work
            .closed
            .iter()
            .filter(|&&i| (i as usize) < work.old_len)
            .filter_map(|&i| {
                let s = work.all.get(i as usize)?;
                Some((i, s.closed_ms?, s.ending_position?))
            })
            .collect();
        let new_rows: Vec<ShardRow> = work.all[work.old_len..].to_vec();
        // The catalog transaction and the new shard set are published together, under the
        // catalog lock and the gate, on a blocking thread: cancelling the caller does not
        // split them (see `blocking`).
        let s = Arc::clone(stream);
        self.catalog(move |catalog| {
            catalog
                .reshard(
                    s.epoch,
                    work.generation,
                    work.next_index,
                    &closed,
                    &new_rows,
                )
                .map_err(StoreError::from)?;
            {
                let mut m = s.meta.write();
                m.generation = work.generation;
                m.next_shard_index = work.next_index;
            }
            *s.shards.write() = Arc::new(ShardSet::new(work.all));
            drop(gate);
            tracing::info!(
                stream = %s.name,
                closed = closed.len(),
                created = new_rows.len(),
                "resharded"
            );
            Ok(())
        })
        .await
    }
}

/// The steps of one reshard, applied in order under the gate.
pub(crate) struct ReshardPlan<'a> {
    work: &'a mut Work,
    stream: &'a Stream,
}

impl ReshardPlan<'_> {
    /// Splits an open shard at `at` (start < at <= end).
    pub fn split(&mut self, index: u64, at: u128) -> (u64, u64) {
        self.work.split(self.stream, index, at)
    }

    /// Merges two open, adjacent shards.
    pub fn merge(&mut self, a: u64, b: u64) -> u64 {
        self.work.merge(self.stream, a, b)
    }

    /// Open shards as (start, end, index), by start.
    pub fn open(&self) -> Vec<(u128, u128, u64)> {
        let mut v: Vec<_> = self
            .work
            .all
            .iter()
            .filter(|s| s.closed_ms.is_none())
            .map(|s| (s.start_hash, s.end_hash, s.shard_index))
            .collect();
        v.sort_unstable();
        v
    }

    /// Reshapes the open shards into `target` even ranges.
    pub fn uniform(&mut self, target: u32) {
        let ranges = HashKeyRange::split_evenly(target);
        // Split every open shard at each target boundary strictly inside it.
        for (start, end, index) in self.open() {
            let mut current = index;
            for r in &ranges {
                let b = r.start.0;
                if b > start && b <= end {
                    let (_, hi) = self.split(current, b);
                    current = hi;
                }
            }
        }
        // Merge the pieces inside each target range, left to right.
        for r in &ranges {
            let pieces: Vec<u64> = self
                .open()
                .into_iter()
                .filter(|(s, e, _)| *s >= r.start.0 && *e <= r.end.0)
                .map(|(_, _, i)| i)
                .collect();
            let mut acc = None;
            for p in pieces {
                acc = Some(match acc {
                    None => p,
                    Some(a) => self.merge(a, p),
                });
            }
        }
    }
}

impl Engine {
    pub(crate) async fn reshard_split(
        &self,
        stream: Arc<Stream>,
        shard: &str,
        key: &str,
    ) -> Result<(), Error> {
        if let Some(e) = self.in_state_error(&stream) {
            return Err(e);
        }
        let set = Arc::clone(&stream.shards.read());
        let parent = self.open_shard(&stream, &set, shard)?.clone();
        let at: u128 = key.parse().map_err(|_| {
            Error::InvalidArgument(format!(
                "NewStartingHashKey {key} used in SplitShard() on shard {} in stream {} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                shard_id(parent.shard_index), stream.name, self.inner.config.account_id, parent.start_hash, parent.end_hash
            ))
        })?;
        if !(at > parent.start_hash && at < parent.end_hash) {
            return Err(Error::InvalidArgument(format!(
                "NewStartingHashKey {key} used in SplitShard() on shard {} in stream {} under account {} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
                shard_id(parent.shard_index),
                stream.name,
                self.inner.config.account_id,
                parent.start_hash,
                parent.end_hash
            )));
        }
        self.check_shard_limit(1)?;
        let index = parent.shard_index;
        self.with_update_delay(&stream, move |engine, stream| {
            Box::pin(async move {
                engine
                    .reshard(&stream, |p| {
                        // Re-check under the gate: another reshard may have closed it.
                        if !p.open().iter().any(|o| o.2 == index) {
                            return Err(Error::ResourceInUse(format!(
                                "Shard {} has already been merged or split.",
                                shard_id(index)
                            )));
                        }
                        p.split(index, at);
                        Ok(())
                    })
                    .await
            })
        })
        .await
    }

    pub(crate) async fn reshard_merge(
        &self,
        stream: Arc<Stream>,
        a: &str,
        b: &str,
    ) -> Result<(), Error> {
        if let Some(e) = self.in_state_error(&stream) {
            return Err(e);
        }
        let set = Arc::clone(&stream.shards.read());
        let sa = self.open_shard(&stream, &set, a)?.clone();
        let sb = self.open_shard(&stream, &set, b)?.clone();
        let adjacent = sa.shard_index != sb.shard_index
            && (sa.end_hash.checked_add(1) == Some(sb.start_hash)
                || sb.end_hash.checked_add(1) == Some(sa.start_hash));
        if !adjacent {
            return Err(Error::InvalidArgument(format!(
                "Shards {} and {} in stream {} under account {} are not an adjacent pair of shards eligible for merging",
                shard_id(sa.shard_index),
                shard_id(sb.shard_index),
                stream.name,
                self.inner.config.account_id
            )));
        }
        let (ia, ib) = (sa.shard_index, sb.shard_index);
        self.with_update_delay(&stream, move |engine, stream| {
            Box::pin(async move {
                engine
                    .reshard(&stream, |p| {
                        let open = p.open();
                        if !open.iter().any(|o| o.2 == ia) || !open.iter().any(|o| o.2 == ib) {
                            return Err(Error::ResourceInUse(
                                "A shard to merge has already been merged or split.".into(),
                            ));
                        }
                        p.merge(ia, ib);
                        Ok(())
                    })
                    .await
            })
        })
        .await
    }

    pub(crate) async fn reshard_to_count(
        &self,
        stream: Arc<Stream>,
        target: u32,
    ) -> Result<u32, Error> {
        if let Some(e) = self.in_state_error(&stream) {
            return Err(e);
        }
        let current = stream.shards.read().open.len() as u32;
        if target > current.saturating_mul(2) {
            return Err(Error::InvalidArgument(format!(
                "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: {current} Target shard count: {target}"
            )));
        }
        if target < current.div_ceil(2) {
            return Err(Error::InvalidArgument(format!(
                "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: {current} Target shard count: {target}"
            )));
        }
        if target > current {
            self.check_shard_limit(u64::from(target - current))?;
        }
        self.with_update_delay(&stream, move |engine, stream| {
            Box::pin(async move {
                engine
                    .reshard(&stream, |p| {
                        p.uniform(target);
                        Ok(())
                    })
                    .await
            })
        })
        .await?;
        Ok(current)
    }

    /// Runs a reshard now (no delay configured), or marks the stream UPDATING, runs it after
    /// `update_delay` in the background and marks it ACTIVE again.
    async fn with_update_delay(
        &self,
        stream: &Arc<Stream>,
        job: impl FnOnce(
            Engine,
            Arc<Stream>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
        > + Send
        + 'static,
    ) -> Result<(), Error> {
        let delay = self.inner.config.update_delay;
        if delay.is_zero() {
            return job(self.clone(), Arc::clone(stream)).await;
        }
        self.set_status(stream, crate::api::StreamStatus::Updating)
            .await?;
        let (engine, stream) = (self.clone(), Arc::clone(stream));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = job(engine.clone(), Arc::clone(&stream)).await {
                tracing::error!(stream = %stream.name, error = %e, "delayed reshard failed");
            }
            if let Err(e) = engine
                .set_status(&stream, crate::api::StreamStatus::Active)
                .await
            {
                tracing::error!(stream = %stream.name, error = %e, "could not mark stream ACTIVE");
            }
        });
        Ok(())
    }

    /// Sets a stream's status in the catalog and in memory, together (see `blocking`).
    pub(crate) async fn set_status(
        &self,
        stream: &Arc<Stream>,
        status: crate::api::StreamStatus,
    ) -> Result<(), Error> {
        let s = Arc::clone(stream);
        self.catalog(move |catalog| {
            catalog
                .set_status(s.epoch, status.as_str())
                .map_err(StoreError::from)?;
            s.meta.write().status = status;
            Ok(())
        })
        .await
    }
}
