//! A worker's part in the fleet protocol of [`super::fleet`]: heartbeats, the leader
//! election, finding the leases assigned to it, and — while it leads — reading the table,
//! assigning free leases and balancing ([`super::balance`]).
//!
//! # Invariants
//!
//! * **One tick at a time.** The scheduler calls [`FleetMember::tick`] every taker
//!   interval from one task. Heartbeats come from a task of their own
//!   ([`FleetMember::heartbeat_loop`], every taker interval), so that a slow tick (a long
//!   leader round) never makes its worker look dead; the leader's tick also renews the
//!   leader row, and learns the whole row from the answer.
//! * **Liveness without clock sync.** A worker (or the leader) is dead when its heartbeat
//!   (or the leader row's counter) has not changed for `failover_time` on this worker's
//!   monotonic clock, counted from the tick that first saw the current value; a worker that
//!   just started judges nobody dead before `failover_time` has passed.
//! * **Every safety-relevant write stays conditional on the lease counter.** The leader
//!   assigns with [`LeaseTable::take_lease`](crate::lease::LeaseTable::take_lease) and moves with
//!   [`LeaseTable::hand_over_lease`](crate::lease::LeaseTable::hand_over_lease), both conditional on the counter it read; a worker
//!   takes its assigned lease with a take conditional on the counter it read. A stale
//!   leader, a stale index read or two overlapping leaders therefore lose races, never
//!   leases.
//! * **Leader death** delays assignment by at most one failover: every worker observes the
//!   leader's counter in its heartbeats and claims the row `failover_time` after it stopped
//!   changing; the new leader knows the heartbeats already, so it assigns the dead workers'
//!   leases (and the old leader's) at once.
//! * **Reads.** The leader reads the whole table when it becomes leader, when the set of
//!   live workers or the row's change count changed, while its last round left work (free
//!   leases, moves, handoffs in flight, leases of unknown owners), and every
//!   `2 × failover_time`. A worker lists its own lease keys (the owner index) when the
//!   assignment epoch changed (and once more at the next tick, for the index's lag), and
//!   every `2 × failover_time`; it reads single rows of leases it waits for (handoffs).

use super::balance::{self, Fleet};
use super::coordinator::{HeldLease, LeaseCoordinator};
use super::{FleetState, LeaderUpdate, Lease, LeaseError};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The load tolerance the leader balances to: every worker within 15 % of the mean.
pub const LOAD_TOLERANCE: f64 = 0.15;

/// How a value was last seen to change.
#[derive(Debug, Clone, Copy)]
struct Seen {
    value: u64,
    since: Instant,
}

impl Seen {
    /// Records `value` at `now`; returns whether it is unchanged for at least `limit`.
    fn observe(slot: &mut Option<Seen>, value: u64, now: Instant, limit: Duration) -> bool {
        match slot {
            Some(s) if s.value == value => now.duration_since(s.since) >= limit,
            _ => {
                *slot = Some(Seen { value, since: now });
                false
            }
        }
    }
}

/// A worker's state in the fleet protocol (see the module docs).
#[derive(Debug)]
pub struct FleetMember {
    coordinator: Arc<LeaseCoordinator>,
    started: Instant,
    last: Option<FleetState>,
    leader_seen: Option<Seen>,
    beats: HashMap<String, Option<Seen>>,
    /// Workers seen to die, and when.
    dead: HashMap<String, Instant>,
    leading: bool,
    /// When the leader row was last renewed by this worker.
    renewed: Option<Instant>,
    bump_epoch: bool,
    last_scan: Option<Instant>,
    scan_again: bool,
    scanned_live: BTreeSet<String>,
    scanned_changes: u64,
    /// Lease counters seen by the leader's scans (for owners that send no heartbeat).
    lease_seen: HashMap<String, Option<Seen>>,
    /// Leases moved recently, not to move again before `2 × failover_time`.
    moved: HashMap<String, Instant>,
    discovered_epoch: Option<u64>,
    discover_again: bool,
    last_discovery: Option<Instant>,
    /// Leases assigned to this worker whose handoff has not completed, with their counter.
    pending: HashMap<String, Option<Seen>>,
    /// The live workers at the previous tick, and when that set last changed.
    live_before: BTreeSet<String>,
    live_changed: Instant,
    /// The fleet row as the heartbeat task last wrote it.
    latest: Arc<std::sync::Mutex<Option<FleetState>>>,
}

impl FleetMember {
    /// The fleet member of the worker that `coordinator` coordinates.
    pub fn new(coordinator: Arc<LeaseCoordinator>) -> FleetMember {
        FleetMember {
            coordinator,
            started: Instant::now(),
            last: None,
            leader_seen: None,
            beats: HashMap::new(),
            dead: HashMap::new(),
            leading: false,
            renewed: None,
            bump_epoch: false,
            last_scan: None,
            scan_again: true,
            scanned_live: BTreeSet::new(),
            scanned_changes: 0,
            lease_seen: HashMap::new(),
            moved: HashMap::new(),
            discovered_epoch: None,
            discover_again: false,
            last_discovery: None,
            pending: HashMap::new(),
            live_before: BTreeSet::new(),
            live_changed: Instant::now(),
            latest: Arc::default(),
        }
    }

    /// The heartbeat: adds one to this worker's heartbeat every taker interval (telling the
    /// leader when this worker created or released leases), forever. The scheduler runs
    /// it as a task of its own and aborts it before [`leave`](Self::leave).
    ///
    /// Cancel safety: cancel safe; a heartbeat whose write was dropped is as if missed.
    pub fn heartbeat_loop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let coordinator = Arc::clone(&self.coordinator);
        let latest = Arc::clone(&self.latest);
        async move {
            let mut tick = tokio::time::interval(coordinator.config().taker_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let changed = coordinator.take_change();
                match coordinator
                    .table()
                    .fleet_heartbeat(coordinator.worker_id(), changed, false)
                    .await
                {
                    Ok(s) => *latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(s),
                    Err(e) => {
                        if changed {
                            coordinator.note_change();
                        }
                        tracing::warn!(error = %e, "fleet heartbeat failed");
                    }
                }
            }
        }
    }

    /// Whether this worker leads the fleet (as of its last tick).
    pub fn is_leader(&self) -> bool {
        self.leading
    }

    /// The fleet row as last written by this worker.
    pub fn state(&self) -> Option<&FleetState> {
        self.last.as_ref()
    }

    fn failover(&self) -> Duration {
        self.coordinator.config().failover_time
    }

    fn me(&self) -> &str {
        self.coordinator.worker_id()
    }

    /// One tick: heartbeat (or the leader's renewal), election, the leader's round, and
    /// finding this worker's assigned leases. Returns the leases newly held, for the caller
    /// to start processing.
    ///
    /// Cancel safety: cancel safe in effect, like
    /// [`LeaseCoordinator::take_leases`]: a dropped write may or may not be applied, and the
    /// next tick starts from what the table says.
    pub async fn tick(&mut self) -> Result<Vec<Arc<HeldLease>>, LeaseError> {
        let now = Instant::now();
        let state = self.beat(now).await?;
        self.observe(&state, now);
        let mut state = state;
        if !self.leading && self.leader_expired(&state, now) {
            let claim = LeaderUpdate {
                leader: Some(self.me().to_owned()),
                ..LeaderUpdate::default()
            };
            if let Some(s) = self
                .coordinator
                .table()
                .update_fleet_leader(&state, &claim)
                .await?
            {
                tracing::info!(worker_id = %self.me(), previous = ?state.leader, "became the fleet leader");
                self.leading = true;
                self.renewed = Some(Instant::now());
                self.scan_again = true;
                self.lease_seen.clear();
                state = s;
            }
        }
        self.last = Some(state.clone());
        let mut taken = Vec::new();
        if self.leading && self.needs_scan(&state, now) {
            let (mine, wrote) = self.lead(&state, now).await?;
            taken.extend(mine);
            if wrote {
                // Tell the fleet at once rather than at the next tick.
                self.bump_epoch = true;
                let s = self.beat(Instant::now()).await?;
                self.last = Some(s);
            }
        }
        taken.extend(self.discover(now).await?);
        Ok(taken)
    }

    /// Leaves the fleet: resigns the leadership (so that another worker leads at once) and
    /// removes this worker's heartbeat. Called after the worker released its leases.
    ///
    /// Cancel safety: cancel safe; a dropped call leaves the heartbeat to expire.
    pub async fn leave(&mut self) -> Result<(), LeaseError> {
        let table = Arc::clone(self.coordinator.table());
        if self.leading
            && let Some(last) = &self.last
        {
            let resign = LeaderUpdate::default();
            let _ = table.update_fleet_leader(last, &resign).await?;
            self.leading = false;
        }
        table.fleet_heartbeat(self.me(), true, true).await?;
        Ok(())
    }

    /// The fleet row: the leader renews it (conditional on the counter of its own last
    /// write, never on a heartbeat's answer, so that a deposed leader cannot win it back by
    /// accident); the others take the heartbeat task's last answer.
    async fn beat(&mut self, now: Instant) -> Result<FleetState, LeaseError> {
        let table = Arc::clone(self.coordinator.table());
        if self.leading
            && let Some(last) = self.last.clone()
        {
            let forget: Vec<String> = self
                .dead
                .keys()
                .filter(|w| last.beats.contains_key(*w))
                .cloned()
                .collect();
            let update = LeaderUpdate {
                leader: Some(self.me().to_owned()),
                bump_epoch: std::mem::take(&mut self.bump_epoch),
                forget,
            };
            match table.update_fleet_leader(&last, &update).await {
                Ok(Some(s)) => {
                    self.renewed = Some(now);
                    return Ok(s);
                }
                Ok(None) => {
                    tracing::info!(worker_id = %self.me(), "no longer the fleet leader");
                    self.leading = false;
                }
                Err(e) => {
                    if update.bump_epoch {
                        self.bump_epoch = true;
                    }
                    if self
                        .renewed
                        .is_none_or(|t| now.duration_since(t) >= self.failover())
                    {
                        tracing::warn!(worker_id = %self.me(), "fleet leadership not renewed for the failover time: giving it up");
                        self.leading = false;
                    }
                    return Err(e);
                }
            }
        }
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match latest {
            Some(s) => Ok(s),
            // Before the heartbeat task's first answer.
            None => {
                let changed = self.coordinator.take_change();
                table.fleet_heartbeat(self.me(), changed, false).await
            }
        }
    }

    /// Updates what this worker saw of the leader and the heartbeats.
    fn observe(&mut self, state: &FleetState, now: Instant) {
        let failover = self.failover();
        let mut dead_now = Vec::new();
        self.beats.retain(|w, _| state.beats.contains_key(w));
        for (w, b) in &state.beats {
            let slot = self.beats.entry(w.clone()).or_insert(None);
            if Seen::observe(slot, *b, now, failover) {
                dead_now.push(w.clone());
            } else {
                self.dead.remove(w);
            }
        }
        for w in dead_now {
            if w != self.me() {
                self.dead.entry(w).or_insert(now);
            }
        }
        // Forget the dead after a while (their leases are reassigned long before).
        self.dead
            .retain(|_, t| now.duration_since(*t) < failover * 10);
        let live = self.live(state);
        if live != self.live_before {
            self.live_before = live;
            self.live_changed = now;
        }
    }

    fn leader_expired(&mut self, state: &FleetState, now: Instant) -> bool {
        let failover = self.failover();
        let expired = Seen::observe(&mut self.leader_seen, state.counter, now, failover);
        match state.leader.as_deref() {
            None => true,
            Some(l) if l == self.me() => true, // a restart of ours: nobody renews it
            // A leader that sends no heartbeat is not a rill worker (a Java KCL worker that
            // took the row for a lease) or is dead.
            Some(l) if !state.beats.contains_key(l) || self.dead.contains_key(l) => true,
            Some(_) => expired,
        }
    }

    /// The live workers: heartbeats not dead, and this worker.
    fn live(&self, state: &FleetState) -> BTreeSet<String> {
        let mut live: BTreeSet<String> = state
            .beats
            .keys()
            .filter(|w| !self.dead.contains_key(*w))
            .cloned()
            .collect();
        live.insert(self.me().to_owned());
        live
    }

    fn needs_scan(&self, state: &FleetState, now: Instant) -> bool {
        self.scan_again
            || self.live(state) != self.scanned_live
            || state.changes != self.scanned_changes
            || self
                .last_scan
                .is_none_or(|t| now.duration_since(t) >= self.failover() * 2)
    }

    /// The leader's round: read the table, plan, write. Returns the leases it took for
    /// itself and whether it wrote anything.
    async fn lead(
        &mut self,
        state: &FleetState,
        now: Instant,
    ) -> Result<(Vec<Arc<HeldLease>>, bool), LeaseError> {
        let failover = self.failover();
        // While the fleet forms (workers starting together), wait for one tick without a
        // new member before the first assignment, so that it needs no moves afterwards.
        if now.duration_since(self.started) < failover && self.live_changed == now {
            self.scan_again = true;
            return Ok((Vec::new(), false));
        }
        let table = Arc::clone(self.coordinator.table());
        let leases = table.list_leases().await?;
        let live = self.live(state);
        self.last_scan = Some(now);
        self.scanned_live = live.clone();
        self.scanned_changes = state.changes;
        self.scan_again = false;
        let keys: HashSet<&str> = leases.iter().map(|l| l.lease_key.as_str()).collect();
        self.lease_seen.retain(|k, _| keys.contains(k.as_str()));
        self.moved
            .retain(|k, t| keys.contains(k.as_str()) && now.duration_since(*t) < failover * 2);
        let settled = now.duration_since(self.started) >= failover;
        let mut free = HashSet::new();
        let mut unknown_owners = false;
        let mut in_flight = false;
        for l in leases.iter().filter(|l| !l.is_shard_end()) {
            let expired = Seen::observe(
                self.lease_seen.entry(l.lease_key.clone()).or_insert(None),
                l.lease_counter,
                now,
                failover,
            );
            let gone = |w: &str| self.dead.contains_key(w) || (!live.contains(w) && expired);
            let is_free = match (l.lease_owner.as_deref(), l.checkpoint_owner.as_deref()) {
                (None, _) => true,
                (Some(o), c) => {
                    gone(o) && c.is_none_or(gone) && (settled || self.dead.contains_key(o))
                }
            };
            if is_free {
                free.insert(l.lease_key.clone());
            } else if let Some(o) = l.lease_owner.as_deref()
                && !live.contains(o)
            {
                unknown_owners = true;
            }
            in_flight |= l.checkpoint_owner.is_some();
        }
        let frozen: HashSet<String> = self.moved.keys().cloned().collect();
        let active = leases.iter().filter(|l| !l.is_shard_end()).count();
        let plan = balance::plan(
            &leases,
            &Fleet {
                live: &live,
                free: &free,
                frozen: &frozen,
                max_per_worker: self.coordinator.config().max_leases_per_worker,
                max_moves: (active / 10).max(1),
                tolerance: LOAD_TOLERANCE,
            },
        );
        let by_key: HashMap<&str, &Lease> =
            leases.iter().map(|l| (l.lease_key.as_str(), l)).collect();
        let me = self.me().to_owned();
        let mut mine = Vec::new();
        let mut wrote = false;
        for (key, to) in &plan.assign {
            let Some(l) = by_key.get(key.as_str()) else {
                continue;
            };
            if *to == me {
                if let Some(h) = self.coordinator.adopt(l).await? {
                    mine.push(h);
                }
            } else if table.take_lease(l, to).await?.is_some() {
                tracing::info!(shard_id = %key, to = %to, previous_owner = ?l.lease_owner, "lease assigned");
                wrote = true;
            }
        }
        for (key, from, to) in &plan.moves {
            let Some(l) = by_key.get(key.as_str()) else {
                continue;
            };
            if table.hand_over_lease(l, to).await?.is_some() {
                tracing::info!(shard_id = %key, %from, %to, by_load = plan.by_load, "lease moved by handoff");
                metrics::counter!(crate::metrics::STOLEN_LEASES, crate::metrics::WORKER => me.clone())
                    .increment(1);
                self.moved.insert(key.clone(), now);
                wrote = true;
            }
        }
        // Scan again next tick while the round left work or needs more observations.
        self.scan_again = !plan.assign.is_empty()
            || !plan.moves.is_empty()
            || in_flight
            || unknown_owners
            || (!free.is_empty() && !settled);
        Ok((mine, wrote))
    }

    /// Finds this worker's assigned leases and takes the ones that are ready.
    async fn discover(&mut self, now: Instant) -> Result<Vec<Arc<HeldLease>>, LeaseError> {
        let table = Arc::clone(self.coordinator.table());
        let me = self.me().to_owned();
        let failover = self.failover();
        let epoch = self.last.as_ref().map(|s| s.epoch);
        let epoch_changed = epoch != self.discovered_epoch;
        let due = self
            .last_discovery
            .is_none_or(|t| now.duration_since(t) >= failover * 2);
        let mut candidates: Vec<String> = Vec::new();
        if epoch_changed || self.discover_again || due {
            self.discover_again = epoch_changed;
            self.discovered_epoch = epoch;
            self.last_discovery = Some(now);
            for key in table.list_lease_keys_by_owner(&me).await? {
                if !self.coordinator.holds(&key) && !self.pending.contains_key(&key) {
                    candidates.push(key);
                }
            }
        }
        candidates.extend(self.pending.keys().cloned());
        let mut taken = Vec::new();
        for key in candidates {
            if self.coordinator.holds(&key) {
                self.pending.remove(&key);
                continue;
            }
            let Some(l) = table.get_lease(&key).await? else {
                self.pending.remove(&key);
                continue;
            };
            if l.lease_owner.as_deref() != Some(me.as_str()) || l.is_shard_end() {
                self.pending.remove(&key);
                continue;
            }
            let ready = match l.checkpoint_owner.as_deref() {
                None => true,
                Some(c) if c == me => true,
                Some(c) => {
                    // The previous owner still has to checkpoint: wait, unless it is dead or
                    // the row did not change for the failover time.
                    let slot = self.pending.entry(key.clone()).or_insert(None);
                    Seen::observe(slot, l.lease_counter, now, failover) || self.dead.contains_key(c)
                }
            };
            if ready {
                self.pending.remove(&key);
                if let Some(h) = self.coordinator.adopt(&l).await? {
                    taken.push(h);
                }
            }
        }
        Ok(taken)
    }
}
