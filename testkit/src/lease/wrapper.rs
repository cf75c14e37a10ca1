//! [`FaultyLeaseTable`]: the wrapper and the forwarding of every `LeaseTable` method.

use super::{LeaseFaultConfig, LeaseFaultCounts, LeaseOperation};
use crate::plan::{self, Fate};
use crate::rng::SeededRng as Rng;
use async_trait::async_trait;
use rill_kcl::lease::{CheckpointUpdate, FleetState, LeaderUpdate, Lease, LeaseError, LeaseTable};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

/// The error of an injected fault (the source of the [`LeaseError::Storage`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("injected fault: {0}")]
pub struct InjectedLeaseFault(pub String);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A [`LeaseTable`] that forwards every method to an inner table and injects the faults
/// its [`LeaseFaultConfig`] describes. See the [module docs](super).
pub struct FaultyLeaseTable {
    inner: Arc<dyn LeaseTable>,
    config: RwLock<Arc<LeaseFaultConfig>>,
    enabled: AtomicBool,
    rng: Mutex<Rng>,
    counts: Mutex<BTreeMap<LeaseOperation, LeaseFaultCounts>>,
}

impl fmt::Debug for FaultyLeaseTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyLeaseTable")
            .field("inner", &self.inner)
            .field("enabled", &self.is_enabled())
            .field("config", &self.config())
            .finish_non_exhaustive()
    }
}

fn storage(op: LeaseOperation, what: String) -> LeaseError {
    LeaseError::Storage {
        message: format!("{op} (injected)"),
        source: Box::new(InjectedLeaseFault(what)),
    }
}

impl FaultyLeaseTable {
    /// Wraps `inner`; faults are enabled at once.
    pub fn new(inner: Arc<dyn LeaseTable>, config: LeaseFaultConfig) -> FaultyLeaseTable {
        FaultyLeaseTable {
            inner,
            rng: Mutex::new(Rng::new(config.seed)),
            config: RwLock::new(Arc::new(config)),
            enabled: AtomicBool::new(true),
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// The wrapped table (to read the leases as they really are).
    pub fn inner(&self) -> &Arc<dyn LeaseTable> {
        &self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> LeaseFaultConfig {
        (**self.config.read().unwrap_or_else(|p| p.into_inner())).clone()
    }

    /// Replaces the configuration for calls from now on; reseeds when the seed changes.
    pub fn set_config(&self, config: LeaseFaultConfig) {
        let mut current = self.config.write().unwrap_or_else(|p| p.into_inner());
        if current.seed != config.seed {
            *lock(&self.rng) = Rng::new(config.seed);
        }
        *current = Arc::new(config);
    }

    /// Switches every fault off (`false`) or back on.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether faults are injected.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// What was injected so far, over every method.
    pub fn counts(&self) -> LeaseFaultCounts {
        let mut t = LeaseFaultCounts::default();
        for c in lock(&self.counts).values() {
            t.calls += c.calls;
            t.errors += c.errors;
            t.timeouts += c.timeouts;
            t.errors_after_success += c.errors_after_success;
            t.delayed += c.delayed;
        }
        t
    }

    /// What was injected so far into `op`.
    pub fn counts_for(&self, op: LeaseOperation) -> LeaseFaultCounts {
        lock(&self.counts).get(&op).copied().unwrap_or_default()
    }

    fn count(&self, op: LeaseOperation, f: impl FnOnce(&mut LeaseFaultCounts)) {
        f(lock(&self.counts).entry(op).or_default());
    }

    fn plan(&self, op: LeaseOperation) -> (Duration, Fate<LeaseError>) {
        self.count(op, |c| c.calls += 1);
        if !self.is_enabled() {
            return (Duration::ZERO, Fate::Pass);
        }
        let config = Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()));
        let f = config.faults_for(op);
        if f.is_none() {
            return (Duration::ZERO, Fate::Pass);
        }
        let (delay, fate) = f.draw(&mut lock(&self.rng), |_, _| ());
        let fate = fate.map(|failed_after_success| {
            storage(
                op,
                if failed_after_success {
                    "the call was applied but its answer was lost"
                } else {
                    "the lease table is unavailable"
                }
                .into(),
            )
        });
        self.count(op, |c| {
            c.delayed += u64::from(!delay.is_zero());
            match fate {
                Fate::Fail(_) => c.errors += 1,
                Fate::Hang(_) => c.timeouts += 1,
                Fate::Pass | Fate::FailAfterSuccess(_) => {}
            }
        });
        (delay, fate)
    }

    async fn call<T, Fut>(
        &self,
        op: LeaseOperation,
        call: impl FnOnce() -> Fut,
    ) -> Result<T, LeaseError>
    where
        Fut: Future<Output = Result<T, LeaseError>>,
    {
        let (delay, fate) = self.plan(op);
        plan::run(
            delay,
            fate,
            call,
            |after| storage(op, format!("no answer within {after:?} (timed out)")),
            || self.count(op, |c| c.errors_after_success += 1),
        )
        .await
    }
}

#[async_trait]
impl LeaseTable for FaultyLeaseTable {
    async fn create_lease_if_not_exists(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.call(LeaseOperation::CreateLeaseIfNotExists, || {
            self.inner.create_lease_if_not_exists(lease)
        })
        .await
    }

    async fn list_leases(&self) -> Result<Vec<Lease>, LeaseError> {
        self.call(LeaseOperation::ListLeases, || self.inner.list_leases())
            .await
    }

    async fn get_lease(&self, key: &str) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::GetLease, || self.inner.get_lease(key))
            .await
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::RenewLease, || self.inner.renew_lease(lease))
            .await
    }

    async fn take_lease(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::TakeLease, || {
            self.inner.take_lease(lease, owner)
        })
        .await
    }

    async fn evict_lease(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::EvictLease, || self.inner.evict_lease(lease))
            .await
    }

    async fn hand_over_lease(
        &self,
        lease: &Lease,
        new_owner: &str,
    ) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::HandOverLease, || {
            self.inner.hand_over_lease(lease, new_owner)
        })
        .await
    }

    async fn complete_hand_over(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::CompleteHandOver, || {
            self.inner.complete_hand_over(lease)
        })
        .await
    }

    async fn update_checkpoint(
        &self,
        lease: &Lease,
        update: &CheckpointUpdate,
    ) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::UpdateCheckpoint, || {
            self.inner.update_checkpoint(lease, update)
        })
        .await
    }

    async fn update_lease_meta(&self, lease: &Lease) -> Result<Option<Lease>, LeaseError> {
        self.call(LeaseOperation::UpdateLeaseMeta, || {
            self.inner.update_lease_meta(lease)
        })
        .await
    }

    async fn delete_lease(&self, lease: &Lease) -> Result<bool, LeaseError> {
        self.call(LeaseOperation::DeleteLease, || {
            self.inner.delete_lease(lease)
        })
        .await
    }

    async fn list_lease_keys_by_owner(&self, owner: &str) -> Result<Vec<String>, LeaseError> {
        self.call(LeaseOperation::ListLeaseKeysByOwner, || {
            self.inner.list_lease_keys_by_owner(owner)
        })
        .await
    }

    fn supports_fleet(&self) -> bool {
        self.config.read().unwrap_or_else(|p| p.into_inner()).fleet && self.inner.supports_fleet()
    }

    async fn fleet_heartbeat(
        &self,
        worker: &str,
        changed: bool,
        leaving: bool,
    ) -> Result<FleetState, LeaseError> {
        self.call(LeaseOperation::FleetHeartbeat, || {
            self.inner.fleet_heartbeat(worker, changed, leaving)
        })
        .await
    }

    async fn update_fleet_leader(
        &self,
        seen: &FleetState,
        update: &LeaderUpdate,
    ) -> Result<Option<FleetState>, LeaseError> {
        self.call(LeaseOperation::UpdateFleetLeader, || {
            self.inner.update_fleet_leader(seen, update)
        })
        .await
    }
}
