//! On-demand capacity: ON_DEMAND streams split their hot shards and merge cold ones by
//! themselves.
//!
//! Every `check_interval` the scaler reads each open shard's writes since the last check
//! and compares the rate with the shard's write limit (1 MiB/s and 1000 records/s by
//! default). A shard above `split_above` of either limit for `sustain` consecutive checks is
//! split at the middle of its hash-key range; two adjacent open shards both below
//! `merge_below` for `sustain` checks are merged, but never below `min_shards`.
//!
//! Warm throughput (UpdateStreamWarmThroughput, in MiB/s) is a floor of open shards, each
//! shard writing 1 MiB/s: at the next check after it is raised, a stream with fewer open
//! shards splits its widest shards (in one reshard, up to `max_shards` and the account's
//! shard limit) until it has that many, and cold shards are never merged below it. Every
//! decision is logged (`tracing` target `rill_engine::embedded::scaling`) and counted in the
//! metrics `OnDemand.Splits` and `OnDemand.Merges`.

use super::{Engine, Stream};
use crate::api::StreamMode;
use std::sync::Arc;
use std::time::Duration;

/// How ON_DEMAND streams scale. The defaults are for real traffic; tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OnDemandScaling {
    /// How often shards are measured; `Duration::ZERO` turns scaling off. Default 10 s.
    pub check_interval: Duration,
    /// Consecutive checks a shard must stay hot (or cold) before it is split (or merged).
    /// Default 3.
    pub sustain: u32,
    /// Fraction of a shard's write limit above which it is hot. Default 0.5.
    pub split_above: f64,
    /// Fraction of a shard's write limit below which it is cold. Default 0.05.
    pub merge_below: f64,
    /// Fewest open shards an ON_DEMAND stream merges down to. Default 4.
    pub min_shards: u32,
    /// Most open shards an ON_DEMAND stream splits up to. Default 200.
    pub max_shards: u32,
}

impl Default for OnDemandScaling {
    fn default() -> Self {
        OnDemandScaling {
            check_interval: Duration::from_secs(10),
            sustain: 3,
            split_above: 0.5,
            merge_below: 0.05,
            min_shards: 4,
            max_shards: 200,
        }
    }
}

impl Stream {
    /// Counts accepted writes for the scaler: (shard, bytes) per record.
    pub(crate) fn count_writes(&self, records: &[(u64, usize)]) {
        let mut w = self.writes.lock();
        for &(shard, bytes) in records {
            let e = w.entry(shard).or_default();
            e.0 += 1;
            e.1 += bytes as u64;
        }
    }
}

impl Engine {
    /// One scaler check over every ON_DEMAND stream (called by the background thread).
    pub(crate) async fn scale_on_demand(&self) {
        let streams: Vec<Arc<Stream>> = self
            .inner
            .streams
            .read()
            .by_name
            .values()
            .cloned()
            .collect();
        for s in streams {
            if s.meta.read().mode != StreamMode::OnDemand {
                s.writes.lock().clear();
                continue;
            }
            if let Err(e) = self.scale_stream(&s).await {
                tracing::warn!(stream = %s.name, error = %e, "on-demand scaling step failed");
            }
        }
    }

    async fn scale_stream(&self, s: &Arc<Stream>) -> Result<(), crate::api::Error> {
        let cfg = self.inner.config.on_demand;
        let limits = self.inner.config.limits;
        let secs = cfg.check_interval.as_secs_f64().max(1e-3);
        let writes = std::mem::take(&mut *s.writes.lock());
        let open = s.shards.read().open.clone();
        let warm = s.meta.read().warm_mibps.unwrap_or(0);
        let want = warm.min(cfg.max_shards) as usize;
        if open.len() < want {
            let more = want - open.len();
            tracing::info!(stream = %s.name, open = open.len(), warm_mibps = warm, "on-demand: splitting up to the warm throughput");
            metrics::counter!("OnDemand.Splits", "stream" => s.name.clone()).increment(more as u64);
            self.check_shard_limit(more as u64)?;
            self.reshard(s, |p| {
                for _ in 0..more {
                    // The widest open shard, split at its middle.
                    let Some((start, end, index)) = p.open().into_iter().max_by_key(|o| o.1 - o.0)
                    else {
                        break;
                    };
                    if end == start {
                        break;
                    }
                    p.split(index, start + (end - start) / 2 + 1);
                }
                Ok(())
            })
            .await?;
            s.heat.lock().clear();
            return Ok(());
        }
        let floor = cfg.min_shards.max(want as u32);
        // Utilisation of each open shard: the larger of its record and byte fractions.
        let util = |index: u64| {
            let (records, bytes) = writes.get(&index).copied().unwrap_or_default();
            let r = records as f64 / secs / limits.write_records_per_sec.max(1) as f64;
            let b = bytes as f64 / secs / limits.write_bytes_per_sec.max(1) as f64;
            r.max(b)
        };
        let hot;
        let mut cold_pair = None;
        {
            let mut heat = s.heat.lock();
            heat.retain(|i, _| open.iter().any(|o| o.2 == *i));
            for &(_, _, index) in &open {
                let u = util(index);
                let h = heat.entry(index).or_default();
                *h = if u > cfg.split_above {
                    (*h).max(0) + 1
                } else if u < cfg.merge_below {
                    (*h).min(0) - 1
                } else {
                    0
                };
            }
            let sustain = cfg.sustain.max(1) as i32;
            // The hottest shard that stayed hot long enough.
            hot = open
                .iter()
                .filter(|o| heat.get(&o.2).copied().unwrap_or(0) >= sustain)
                .max_by(|a, b| util(a.2).total_cmp(&util(b.2)))
                .copied()
                .filter(|_| (open.len() as u32) < cfg.max_shards);
            if hot.is_none() && open.len() as u32 > floor {
                cold_pair = open.windows(2).find_map(|w| {
                    let both_cold = heat.get(&w[0].2).copied().unwrap_or(0) <= -sustain
                        && heat.get(&w[1].2).copied().unwrap_or(0) <= -sustain;
                    (both_cold && w[0].1.checked_add(1) == Some(w[1].0)).then_some((w[0].2, w[1].2))
                });
            }
            if let Some((_, _, i)) = hot {
                heat.remove(&i);
            }
            if let Some((a, b)) = cold_pair {
                heat.remove(&a);
                heat.remove(&b);
            }
        }
        if let Some((start, end, index)) = hot {
            let mid = start + (end - start) / 2 + 1;
            tracing::info!(stream = %s.name, shard = index, utilisation = util(index), "on-demand: splitting a hot shard");
            metrics::counter!("OnDemand.Splits", "stream" => s.name.clone()).increment(1);
            self.check_shard_limit(1)?;
            self.reshard(s, |p| {
                if p.open().iter().any(|o| o.2 == index) {
                    p.split(index, mid);
                }
                Ok(())
            })
            .await?;
        } else if let Some((a, b)) = cold_pair {
            tracing::info!(stream = %s.name, shards = ?(a, b), "on-demand: merging two cold shards");
            metrics::counter!("OnDemand.Merges", "stream" => s.name.clone()).increment(1);
            self.reshard(s, |p| {
                let open = p.open();
                if open.iter().any(|o| o.2 == a) && open.iter().any(|o| o.2 == b) {
                    p.merge(a, b);
                }
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}
