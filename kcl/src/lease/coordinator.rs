//! Lease coordination: renewing the leases a worker holds, taking expired and unowned
//! ones, stealing toward an even spread, and graceful handoffs.
//!
//! # Invariants
//!
//! * **Expiry without clock sync.** A lease owned by another worker is expired when its
//!   `leaseCounter` has not changed for `failover_time`, measured on this worker's
//!   monotonic clock from the scan that first saw the current counter. The conservative
//!   start (the scan, not the unknown moment of the write) means a lease is never judged
//!   expired early. With scans every `taker_interval` (half the renewal interval by
//!   default), a dead owner's leases are taken within `failover_time` plus one renewal
//!   interval after its last renewal. A worker that just started has seen no counter for
//!   long, so it takes nothing owned by others before `failover_time` has passed.
//! * **One writer per lease in a worker.** Every write of this worker to a lease it holds
//!   (renewal, checkpoint, release) goes through the lease's [`HeldLease::lease`] mutex and
//!   stores the row it wrote, so the worker's own writes never fail each other's counter
//!   condition. A failed condition therefore means another worker wrote the row.
//! * **A planned move processes nothing twice.** A worker that steals a lease does not take
//!   it: it hands it over (`leaseOwner` = thief, `checkpointOwner` = victim). The victim's
//!   next renewal or checkpoint fails its condition, it re-reads the row, sees itself as
//!   `checkpointOwner`, stops fetching, lets its processor checkpoint (shutdown requested)
//!   and clears `checkpointOwner`. Only then does the thief take the lease and start from the
//!   checkpoint. If the victim does not finish within `failover_time` (counter unchanged),
//!   the lease is expired and taken like any other.
//! * **Shard-end leases** (checkpoint `SHARD_END`) are neither counted nor taken; shard sync
//!   deletes them once their children started.
//! * **Renewal lapse.** A held lease that could not be renewed for `failover_time` (storage
//!   errors) is given up locally (lost), since others may have taken it by then.

use super::{Lease, LeaseError, LeaseTable};
use crate::config::LeaseConfig;
use crate::metrics as m;
use rand::seq::SliceRandom;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the worker wants from the processing of a held lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseSignal {
    /// Keep processing.
    Held,
    /// Another worker asked for the lease: stop, checkpoint, hand it over.
    HandoffRequested,
    /// This worker shuts down: stop, checkpoint, release the lease.
    ShutdownRequested,
    /// The lease is gone: stop without checkpointing.
    Lost,
}

/// A lease this worker holds.
#[derive(Debug)]
pub struct HeldLease {
    /// The shard id.
    pub key: String,
    /// The row as this worker last wrote or read it; lock it around every write.
    pub lease: tokio::sync::Mutex<Lease>,
    /// What processing should do.
    pub signal: watch::Sender<LeaseSignal>,
    /// When the lease was last renewed (or taken).
    last_renewed: Mutex<Instant>,
    /// What was processed since the last renewal, for the load written with it.
    meter: Mutex<Meter>,
}

/// Records and bytes processed since `since`, and the smoothed rate written last.
#[derive(Debug)]
struct Meter {
    records: u64,
    bytes: u64,
    since: Instant,
    rate: Option<(f64, f64)>,
}

impl HeldLease {
    fn new(lease: Lease) -> Arc<HeldLease> {
        Arc::new(HeldLease {
            key: lease.lease_key.clone(),
            lease: tokio::sync::Mutex::new(lease),
            signal: watch::channel(LeaseSignal::Held).0,
            last_renewed: Mutex::new(Instant::now()),
            meter: Mutex::new(Meter {
                records: 0,
                bytes: 0,
                since: Instant::now(),
                rate: None,
            }),
        })
    }

    /// Counts a processed batch toward the shard's measured load.
    pub fn record_load(&self, records: u64, bytes: u64) {
        let mut m = self.meter.lock().unwrap_or_else(|p| p.into_inner());
        m.records += records;
        m.bytes += bytes;
    }

    /// The load since the last call (smoothed: half the previous rate, half the new one),
    /// or `None` when less than `min` passed.
    fn take_load(&self, min: Duration) -> Option<super::ShardLoad> {
        let mut m = self.meter.lock().unwrap_or_else(|p| p.into_inner());
        let secs = m.since.elapsed().as_secs_f64();
        if secs < min.as_secs_f64().max(0.001) {
            return None;
        }
        let now = (m.bytes as f64 / secs, m.records as f64 / secs);
        let rate = match m.rate {
            Some((b, r)) => ((b + now.0) / 2.0, (r + now.1) / 2.0),
            None => now,
        };
        m.rate = Some(rate);
        m.records = 0;
        m.bytes = 0;
        m.since = Instant::now();
        Some(super::ShardLoad {
            bytes_per_second: rate.0.round() as u64,
            records_per_second: rate.1.round() as u64,
        })
    }

    /// Moves the signal to `to` unless the lease is already lost (lost is final) or, for a
    /// handoff, already shutting down.
    pub fn raise(&self, to: LeaseSignal) {
        self.signal.send_if_modified(|s| {
            let change = match (*s, to) {
                (LeaseSignal::Lost, _) => false,
                (LeaseSignal::ShutdownRequested, LeaseSignal::HandoffRequested) => false,
                (a, b) => a != b,
            };
            if change {
                *s = to;
            }
            change
        });
    }

    /// The current signal.
    pub fn current(&self) -> LeaseSignal {
        *self.signal.borrow()
    }
}

/// Whether `worker` may write a checkpoint to `lease` as it stands.
pub fn may_checkpoint(lease: &Lease, worker: &str) -> bool {
    match lease.checkpoint_owner.as_deref() {
        Some(c) => c == worker,
        None => lease.lease_owner.as_deref() == Some(worker),
    }
}

/// How this worker last saw a lease's counter.
#[derive(Debug, Clone, Copy)]
struct Observation {
    counter: u64,
    since: Instant,
}

/// The leases a worker holds and the work of keeping and balancing them.
#[derive(Debug)]
pub struct LeaseCoordinator {
    worker_id: String,
    table: Arc<dyn LeaseTable>,
    config: LeaseConfig,
    held: Mutex<HashMap<String, Arc<HeldLease>>>,
    /// Leases taken whose processing the scheduler has not started yet (see
    /// [`take_unstarted`](Self::take_unstarted)).
    unstarted: Mutex<Vec<Arc<HeldLease>>>,
    observed: Mutex<HashMap<String, Observation>>,
    /// Set when this worker created or released leases, for the next fleet heartbeat.
    changed: std::sync::atomic::AtomicBool,
}

/// The number of leases each worker should hold: the leases spread over the workers,
/// rounded up, at most `max`.
pub fn target_leases(leases: usize, workers: usize, max: usize) -> usize {
    leases.div_ceil(workers.max(1)).min(max)
}

impl LeaseCoordinator {
    /// A coordinator for `worker_id` on `table`.
    pub fn new(worker_id: String, table: Arc<dyn LeaseTable>, config: LeaseConfig) -> Self {
        LeaseCoordinator {
            worker_id,
            table,
            config,
            held: Mutex::new(HashMap::new()),
            unstarted: Mutex::new(Vec::new()),
            observed: Mutex::new(HashMap::new()),
            changed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The lease settings.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Notes that this worker created or released leases (the fleet leader reads the table
    /// when a heartbeat says so).
    pub fn note_change(&self) {
        self.changed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a change was noted since the last call.
    pub fn take_change(&self) -> bool {
        self.changed
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether this worker holds the lease `key`.
    pub fn holds(&self, key: &str) -> bool {
        self.held_map().contains_key(key)
    }

    /// Takes `lease` (as just read) for this worker and holds it, unless it is held
    /// already or the take loses a race. Returns the lease newly held.
    ///
    /// Cancel safety: as [`take_leases`](Self::take_leases).
    pub async fn adopt(&self, lease: &Lease) -> Result<Option<Arc<HeldLease>>, LeaseError> {
        if self.holds(&lease.lease_key)
            || self.held_map().len() >= self.config.max_leases_per_worker
        {
            return Ok(None);
        }
        let me = self.worker_id.as_str();
        let Some(new) = self.table.take_lease(lease, me).await? else {
            tracing::debug!(shard_id = %lease.lease_key, "lost a race to take a lease");
            return Ok(None);
        };
        tracing::info!(shard_id = %new.lease_key, worker_id = me, previous_owner = ?lease.lease_owner, "lease taken");
        metrics::counter!(m::TAKEN_LEASES, m::WORKER => self.worker_id.clone()).increment(1);
        let h = HeldLease::new(new);
        let n = self.hold(&h);
        metrics::gauge!(m::CURRENT_LEASES, m::WORKER => self.worker_id.clone()).set(n as f64);
        Ok(Some(h))
    }

    /// Holds a lease just taken: renewed from now on, and queued for
    /// [`take_unstarted`](Self::take_unstarted). Returns how many leases are held.
    fn hold(&self, h: &Arc<HeldLease>) -> usize {
        let n = {
            let mut held = self.held_map();
            held.insert(h.key.clone(), Arc::clone(h));
            held.len()
        };
        self.unstarted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::clone(h));
        n
    }

    /// The leases taken since the last call (by [`take_leases`](Self::take_leases),
    /// [`adopt`](Self::adopt) or a fleet tick), whose processing is to be started. The
    /// scheduler calls it after every scan, whether the scan succeeded or not: a scan that
    /// fails after taking some leases (a later call to the table failed) still holds them
    /// and renews them, so without a processing loop their shards would stall with nobody
    /// else allowed to take them.
    pub fn take_unstarted(&self) -> Vec<Arc<HeldLease>> {
        std::mem::take(&mut *self.unstarted.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The lease table.
    pub fn table(&self) -> &Arc<dyn LeaseTable> {
        &self.table
    }

    fn held_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<HeldLease>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leases held now.
    pub fn held(&self) -> Vec<Arc<HeldLease>> {
        self.held_map().values().cloned().collect()
    }

    /// Forgets a held lease (processing ended).
    pub fn remove(&self, key: &str) {
        let n = {
            let mut held = self.held_map();
            held.remove(key);
            held.len()
        };
        metrics::gauge!(m::CURRENT_LEASES, m::WORKER => self.worker_id.clone()).set(n as f64);
    }

    /// Forgets `lease` if it is still the one held for its shard: a processing loop that
    /// ends late (after its lease was lost and taken again) must not forget the new one.
    pub fn forget(&self, lease: &HeldLease) {
        let n = {
            let mut held = self.held_map();
            if held
                .get(&lease.key)
                .is_some_and(|h| std::ptr::eq(Arc::as_ptr(h), lease))
            {
                held.remove(&lease.key);
            }
            held.len()
        };
        metrics::gauge!(m::CURRENT_LEASES, m::WORKER => self.worker_id.clone()).set(n as f64);
    }

    fn lose(&self, held: &HeldLease, why: &str) {
        tracing::info!(shard_id = %held.key, worker_id = %self.worker_id, why, "lease lost");
        held.raise(LeaseSignal::Lost);
        metrics::counter!(m::LOST_LEASES, m::WORKER => self.worker_id.clone()).increment(1);
        self.forget(held);
    }

    /// Asks every held lease to shut down (checkpoint and release).
    pub fn request_shutdown(&self) {
        for h in self.held() {
            h.raise(LeaseSignal::ShutdownRequested);
        }
    }

    /// Renews every held lease that is being processed (not mid-handoff).
    ///
    /// A failed condition re-reads the row: if this worker is now its `checkpointOwner` a
    /// handoff was requested; otherwise the lease is lost.
    ///
    /// Cancel safety: cancel safe; a dropped renewal is as if it had not run (or had, see
    /// [`LeaseTable`]), and the next call catches up.
    pub async fn renew_all(&self) {
        let held = self.held();
        let renewals = held.iter().map(|h| self.renew_one(h));
        futures::future::join_all(renewals).await;
    }

    async fn renew_one(&self, h: &Arc<HeldLease>) {
        if !matches!(
            h.current(),
            LeaseSignal::Held | LeaseSignal::ShutdownRequested
        ) {
            return;
        }
        let mut lease = h.lease.lock().await;
        if lease.lease_owner.as_deref() != Some(self.worker_id.as_str()) {
            return; // mid-handoff away from us: the new owner's row
        }
        // A renewal that does not answer within half the failover time (at least the
        // renewal interval) counts as failed, so that a hung lease table cannot keep this
        // worker processing a shard whose lease expired for everyone else; a merely slow
        // one (a slow disk under SQLite, a DynamoDB latency spike) still gets its chance.
        let limit = (self.config.failover_time / 2)
            .max(self.config.renewal_interval)
            .max(Duration::from_millis(100));
        let mut with_load = lease.clone();
        if let Some(load) = h.take_load(self.config.renewal_interval / 2) {
            with_load.load = Some(load);
        }
        let renewed = match tokio::time::timeout(limit, self.table.renew_lease(&with_load)).await {
            Ok(result) => result,
            Err(_) => Err(LeaseError::Timeout {
                operation: "RenewLease",
                after: limit,
            }),
        };
        match renewed {
            Ok(Some(l)) => {
                *lease = l;
                *h.last_renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            }
            Ok(None) => match self.table.get_lease(&h.key).await {
                Ok(Some(l)) if l.checkpoint_owner.as_deref() == Some(self.worker_id.as_str()) => {
                    tracing::info!(shard_id = %h.key, to = ?l.lease_owner, "handoff requested");
                    *lease = l;
                    h.raise(LeaseSignal::HandoffRequested);
                }
                Ok(_) => {
                    drop(lease);
                    self.lose(h, "renewal condition failed");
                }
                Err(e) => self.renewal_error(h, &e),
            },
            Err(e) => self.renewal_error(h, &e),
        }
    }

    fn renewal_error(&self, h: &Arc<HeldLease>, e: &LeaseError) {
        tracing::warn!(shard_id = %h.key, error = %e, "lease renewal failed");
        let since = *h.last_renewed.lock().unwrap_or_else(|p| p.into_inner());
        if since.elapsed() >= self.config.failover_time {
            self.lose(h, "not renewed for the failover time");
        }
    }

    /// One scan of the table: takes unowned, expired and handed-over leases up to this
    /// worker's share, and steals (by handoff) when none are free. Returns the leases
    /// newly held, for the caller to start processing; they are also queued for
    /// [`take_unstarted`](Self::take_unstarted), which also has those of a scan that failed
    /// after taking some (the scheduler starts its loops from there).
    ///
    /// Cancel safety: cancel safe in effect — a take whose future is dropped may or may not
    /// be applied; if applied, this worker owns a lease it does not hold, which it takes
    /// again on the next scan (a lease owned by oneself and not held is free to take).
    pub async fn take_leases(&self) -> Result<Vec<Arc<HeldLease>>, LeaseError> {
        let leases = self.table.list_leases().await?;
        let now = Instant::now();
        let me = self.worker_id.as_str();
        let failover = self.config.failover_time;
        let expired: HashSet<String> = {
            let mut obs = self.observed.lock().unwrap_or_else(|p| p.into_inner());
            let keys: HashSet<&str> = leases.iter().map(|l| l.lease_key.as_str()).collect();
            obs.retain(|k, _| keys.contains(k.as_str()));
            leases
                .iter()
                .filter(|l| {
                    let o = obs.entry(l.lease_key.clone()).or_insert(Observation {
                        counter: l.lease_counter,
                        since: now,
                    });
                    if o.counter != l.lease_counter {
                        *o = Observation {
                            counter: l.lease_counter,
                            since: now,
                        };
                    }
                    now.duration_since(o.since) >= failover
                })
                .map(|l| l.lease_key.clone())
                .collect()
        };
        let held: HashSet<String> = self.held_map().keys().cloned().collect();
        let active: Vec<&Lease> = leases.iter().filter(|l| !l.is_shard_end()).collect();
        let is_expired = |l: &Lease| l.lease_owner.is_none() || expired.contains(&l.lease_key);
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for l in &active {
            if let Some(o) = l.lease_owner.as_deref()
                && (o == me || !is_expired(l))
            {
                *counts.entry(o).or_default() += 1;
            }
        }
        let mine = counts.get(me).copied().unwrap_or(0);
        let workers = counts.len() + usize::from(!counts.contains_key(me));
        let target = target_leases(active.len(), workers, self.config.max_leases_per_worker);
        let mut free: Vec<&Lease> = active
            .iter()
            .copied()
            .filter(|l| !held.contains(&l.lease_key))
            .filter(|l| {
                let own = l.lease_owner.as_deref() == Some(me);
                // Our own row (a handoff that completed, or a restart) is free unless the
                // previous processor still has to checkpoint.
                (own && l.checkpoint_owner.as_deref().is_none_or(|c| c == me)) || is_expired(l)
            })
            .collect();
        free.shuffle(&mut rand::rng());
        // Leases already ours in the table (handed over to us, or a restart) come first;
        // they are counted in `mine` already, so they do not use the budget.
        free.sort_by_key(|l| l.lease_owner.as_deref() != Some(me));
        let mut budget = target.saturating_sub(mine);
        let mut taken = Vec::new();
        let mut took_free = false;
        for l in free {
            let own = l.lease_owner.as_deref() == Some(me);
            if !own && budget == 0 {
                continue;
            }
            if held.len() + taken.len() >= self.config.max_leases_per_worker {
                break;
            }
            match self.table.take_lease(l, me).await? {
                Some(new) => {
                    tracing::info!(shard_id = %new.lease_key, worker_id = me, previous_owner = ?l.lease_owner, "lease taken");
                    metrics::counter!(m::TAKEN_LEASES, m::WORKER => self.worker_id.clone())
                        .increment(1);
                    let h = HeldLease::new(new);
                    self.hold(&h);
                    taken.push(h);
                    if !own {
                        budget -= 1;
                        took_free = true;
                    }
                }
                None => tracing::debug!(shard_id = %l.lease_key, "lost a race to take a lease"),
            }
        }
        let n = self.held_map().len();
        metrics::gauge!(m::CURRENT_LEASES, m::WORKER => self.worker_id.clone()).set(n as f64);
        // Steal only when nothing was free to take.
        let any_free = active.iter().any(|l| {
            !held.contains(&l.lease_key) && l.lease_owner.as_deref() != Some(me) && is_expired(l)
        });
        if budget > 0 && !took_free && !any_free {
            self.steal(&active, &counts, target, budget, &expired)
                .await?;
        }
        Ok(taken)
    }

    async fn steal(
        &self,
        active: &[&Lease],
        counts: &HashMap<&str, usize>,
        target: usize,
        need: usize,
        expired: &HashSet<String>,
    ) -> Result<(), LeaseError> {
        let is_expired = |l: &Lease| l.lease_owner.is_none() || expired.contains(&l.lease_key);
        let me = self.worker_id.as_str();
        let Some((victim, &most)) = counts
            .iter()
            .filter(|(w, _)| **w != me)
            .max_by_key(|(w, c)| (**c, std::cmp::Reverse(**w)))
        else {
            return Ok(());
        };
        let n = if most > target {
            (most - target).min(need)
        } else if most == target && need > 1 {
            1
        } else {
            return Ok(());
        }
        .min(self.config.max_leases_to_steal_at_once);
        let mut candidates: Vec<&Lease> = active
            .iter()
            .copied()
            .filter(|l| {
                l.lease_owner.as_deref() == Some(*victim)
                    && l.checkpoint_owner.is_none()
                    && !is_expired(l)
            })
            .collect();
        candidates.shuffle(&mut rand::rng());
        for l in candidates.into_iter().take(n) {
            if self.table.hand_over_lease(l, me).await?.is_some() {
                tracing::info!(shard_id = %l.lease_key, from = %victim, to = me, "stealing lease by handoff");
                metrics::counter!(m::STOLEN_LEASES, m::WORKER => self.worker_id.clone())
                    .increment(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(target_leases(12, 3, usize::MAX), 4);
        assert_eq!(target_leases(13, 3, usize::MAX), 5);
        assert_eq!(target_leases(12, 1, 5), 5);
        assert_eq!(target_leases(0, 0, 5), 0);
    }

    #[test]
    fn checkpoint_permission() {
        let mut l = Lease::new("s", crate::ExtendedSequenceNumber::trim_horizon());
        l.lease_owner = Some("a".into());
        assert!(may_checkpoint(&l, "a"));
        assert!(!may_checkpoint(&l, "b"));
        l.lease_owner = Some("b".into());
        l.checkpoint_owner = Some("a".into());
        assert!(may_checkpoint(&l, "a"));
        assert!(!may_checkpoint(&l, "b"));
    }
}
