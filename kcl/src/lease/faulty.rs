//! Fault injection into a lease table, to test workers against a lease table that fails,
//! is slow, or hangs: [`FaultyLeaseTable`] wraps any [`LeaseTable`] and, per call, as its
//! [`LeaseFaultConfig`] says:
//!
//! * adds latency (fixed plus uniform jitter) before the call;
//! * fails the call with [`LeaseError::Storage`] without reaching the table;
//! * hangs ([`LeaseTimeout`]): no answer for a while and then a storage error, or no
//!   answer at all (until the caller drops the future); optionally after the call was
//!   applied;
//! * fails after success: the call is made and succeeds — a conditional write *is*
//!   written — but the worker gets a storage error, as when the response is lost.
//!
//! The fleet row ([`LeaseTable::supports_fleet`]) is not forwarded: workers over a faulty
//! table coordinate the every-worker way (each scans the table), whose calls all pass
//! through the faults.
//!
//! Decisions come from a seeded random generator ([`LeaseFaultConfig::seed`]). The
//! configuration can be replaced while workers run ([`FaultyLeaseTable::set_config`]) and
//! faults switched off and on ([`FaultyLeaseTable::set_enabled`]), to test recovery after
//! an outage; [`FaultyLeaseTable::counts`] tells what was injected.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rill_kcl::lease::{FaultyLeaseTable, LeaseFaultConfig, LeaseFaults, LeaseOperation};
//! use rill_kcl::{LeaseTable, SqliteLeaseTable};
//!
//! # fn demo(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(dir.join("leases"), "app")?);
//! let faulty = Arc::new(FaultyLeaseTable::new(
//!     table,
//!     LeaseFaultConfig::new(7)
//!         // Every call: 10 % storage errors and up to 5 ms of latency.
//!         .for_all(
//!             LeaseFaults::none()
//!                 .with_error_rate(0.1)
//!                 .with_latency(Duration::ZERO, Duration::from_millis(5)),
//!         )
//!         // Checkpoints: written, then reported failed, 20 % of the time.
//!         .for_operation(
//!             LeaseOperation::UpdateCheckpoint,
//!             LeaseFaults::none().with_error_after_success(0.2),
//!         ),
//! ));
//! // Give `faulty` to the workers (`SchedulerBuilder::lease_table`); later:
//! faulty.set_enabled(false);
//! # Ok(())
//! # }
//! ```

use super::{CheckpointUpdate, Lease, LeaseError, LeaseTable};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

/// A [`LeaseTable`] method, to configure and count faults per method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LeaseOperation {
    /// [`LeaseTable::create_lease_if_not_exists`].
    CreateLeaseIfNotExists,
    /// [`LeaseTable::list_leases`].
    ListLeases,
    /// [`LeaseTable::get_lease`].
    GetLease,
    /// [`LeaseTable::renew_lease`].
    RenewLease,
    /// [`LeaseTable::take_lease`].
    TakeLease,
    /// [`LeaseTable::evict_lease`].
    EvictLease,
    /// [`LeaseTable::hand_over_lease`].
    HandOverLease,
    /// [`LeaseTable::complete_hand_over`].
    CompleteHandOver,
    /// [`LeaseTable::update_checkpoint`].
    UpdateCheckpoint,
    /// [`LeaseTable::update_lease_meta`].
    UpdateLeaseMeta,
    /// [`LeaseTable::delete_lease`].
    DeleteLease,
}

impl LeaseOperation {
    /// Every method of [`LeaseTable`].
    pub const ALL: &'static [LeaseOperation] = &[
        LeaseOperation::CreateLeaseIfNotExists,
        LeaseOperation::ListLeases,
        LeaseOperation::GetLease,
        LeaseOperation::RenewLease,
        LeaseOperation::TakeLease,
        LeaseOperation::EvictLease,
        LeaseOperation::HandOverLease,
        LeaseOperation::CompleteHandOver,
        LeaseOperation::UpdateCheckpoint,
        LeaseOperation::UpdateLeaseMeta,
        LeaseOperation::DeleteLease,
    ];

    /// The conditional writes (every method but the two reads).
    pub const WRITES: &'static [LeaseOperation] = &[
        LeaseOperation::CreateLeaseIfNotExists,
        LeaseOperation::RenewLease,
        LeaseOperation::TakeLease,
        LeaseOperation::EvictLease,
        LeaseOperation::HandOverLease,
        LeaseOperation::CompleteHandOver,
        LeaseOperation::UpdateCheckpoint,
        LeaseOperation::UpdateLeaseMeta,
        LeaseOperation::DeleteLease,
    ];

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseOperation::CreateLeaseIfNotExists => "create_lease_if_not_exists",
            LeaseOperation::ListLeases => "list_leases",
            LeaseOperation::GetLease => "get_lease",
            LeaseOperation::RenewLease => "renew_lease",
            LeaseOperation::TakeLease => "take_lease",
            LeaseOperation::EvictLease => "evict_lease",
            LeaseOperation::HandOverLease => "hand_over_lease",
            LeaseOperation::CompleteHandOver => "complete_hand_over",
            LeaseOperation::UpdateCheckpoint => "update_checkpoint",
            LeaseOperation::UpdateLeaseMeta => "update_lease_meta",
            LeaseOperation::DeleteLease => "delete_lease",
        }
    }
}

impl fmt::Display for LeaseOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call that hangs ends. See [`LeaseFaults::timeout_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimeout {
    /// How long the call hangs before failing with a storage error ("timed out"); `None`:
    /// it never answers, until the caller drops its future.
    pub after: Option<Duration>,
    /// Whether the call is made (and applied) before hanging.
    pub applied: bool,
}

impl LeaseTimeout {
    /// Hangs for `after`, then fails; not applied.
    pub fn fail_after(after: Duration) -> LeaseTimeout {
        LeaseTimeout {
            after: Some(after),
            applied: false,
        }
    }

    /// Never answers; not applied. Workers have no timeout of their own on lease table
    /// calls (a real table's client has), so a worker meeting this stalls.
    pub fn forever() -> LeaseTimeout {
        LeaseTimeout {
            after: None,
            applied: false,
        }
    }

    /// The same, but the call is made (and applied) before the hang.
    pub fn applied(mut self) -> LeaseTimeout {
        self.applied = true;
        self
    }
}

impl Default for LeaseTimeout {
    /// Hangs for 5 s, then fails; not applied.
    fn default() -> Self {
        LeaseTimeout::fail_after(Duration::from_secs(5))
    }
}

/// The faults of one lease table method (or of all, see [`LeaseFaultConfig::all`]).
///
/// Per call, one of "error", "timeout", "error after success" or nothing is chosen with the
/// rates given (exclusive; past a sum of 1 the later ones lose). Latency is added to every
/// call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseFaults {
    /// Probability (0 to 1) that a call fails with [`LeaseError::Storage`] without reaching
    /// the table.
    pub error_rate: f64,
    /// Latency added before every call.
    pub latency: Duration,
    /// Random extra latency, uniform from zero to this.
    pub jitter: Duration,
    /// Probability (0 to 1) that a call hangs, as [`timeout`](Self::timeout) says.
    pub timeout_rate: f64,
    /// How hanging calls end.
    pub timeout: LeaseTimeout,
    /// Probability (0 to 1) that a call is made, succeeds (a conditional write is written,
    /// or its condition failed), and the caller gets a storage error anyway.
    pub error_after_success_rate: f64,
}

impl LeaseFaults {
    /// No faults.
    pub fn none() -> LeaseFaults {
        LeaseFaults::default()
    }

    /// Fails calls with probability `rate`.
    pub fn with_error_rate(mut self, rate: f64) -> LeaseFaults {
        self.error_rate = rate;
        self
    }

    /// Adds `latency` plus up to `jitter` to every call.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> LeaseFaults {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    /// Hangs calls with probability `rate`, ending as `timeout` says.
    pub fn with_timeouts(mut self, rate: f64, timeout: LeaseTimeout) -> LeaseFaults {
        self.timeout_rate = rate;
        self.timeout = timeout;
        self
    }

    /// Makes calls, then answers a storage error anyway, with probability `rate`.
    pub fn with_error_after_success(mut self, rate: f64) -> LeaseFaults {
        self.error_after_success_rate = rate;
        self
    }

    fn is_none(&self) -> bool {
        self.error_rate <= 0.0
            && self.timeout_rate <= 0.0
            && self.error_after_success_rate <= 0.0
            && self.latency.is_zero()
            && self.jitter.is_zero()
    }
}

/// What [`FaultyLeaseTable`] injects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseFaultConfig {
    /// Seeds the random generator that makes every decision.
    pub seed: u64,
    /// The faults of every method without an entry in [`operations`](Self::operations).
    pub all: LeaseFaults,
    /// Faults per method; an entry replaces [`all`](Self::all) for its method.
    pub operations: HashMap<LeaseOperation, LeaseFaults>,
}

impl LeaseFaultConfig {
    /// No faults, with a seed.
    pub fn new(seed: u64) -> LeaseFaultConfig {
        LeaseFaultConfig {
            seed,
            ..LeaseFaultConfig::default()
        }
    }

    /// Sets the faults of every method without its own.
    pub fn for_all(mut self, faults: LeaseFaults) -> LeaseFaultConfig {
        self.all = faults;
        self
    }

    /// Sets the faults of one method.
    pub fn for_operation(mut self, op: LeaseOperation, faults: LeaseFaults) -> LeaseFaultConfig {
        self.operations.insert(op, faults);
        self
    }

    /// Sets the faults of several methods (e.g. [`LeaseOperation::WRITES`]).
    pub fn for_operations(
        mut self,
        ops: impl IntoIterator<Item = LeaseOperation>,
        faults: LeaseFaults,
    ) -> LeaseFaultConfig {
        for op in ops {
            self.operations.insert(op, faults.clone());
        }
        self
    }

    /// The faults of `op`.
    pub fn faults_for(&self, op: LeaseOperation) -> &LeaseFaults {
        self.operations.get(&op).unwrap_or(&self.all)
    }
}

/// What was injected (per method, or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaseFaultCounts {
    /// Calls made to the wrapper.
    pub calls: u64,
    /// Calls failed without reaching the table.
    pub errors: u64,
    /// Calls that hung.
    pub timeouts: u64,
    /// Calls that succeeded in the table and were answered with an error.
    pub errors_after_success: u64,
    /// Calls given added latency.
    pub delayed: u64,
}

impl LeaseFaultCounts {
    /// Every injected fault but latency.
    pub fn injected(&self) -> u64 {
        self.errors + self.timeouts + self.errors_after_success
    }
}

/// The error of an injected fault (the source of the [`LeaseError::Storage`]).
#[derive(Debug, Clone, thiserror::Error)]
#[error("injected fault: {0}")]
pub struct InjectedLeaseFault(pub String);

/// SplitMix64: small, seedable, the same everywhere.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Outcome {
    Pass,
    Fail,
    Hang(LeaseTimeout),
    FailAfterSuccess,
}

/// A [`LeaseTable`] that forwards every method to an inner table and injects the faults
/// its [`LeaseFaultConfig`] describes. See the [module docs](self).
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
            rng: Mutex::new(Rng(config.seed)),
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
            *lock(&self.rng) = Rng(config.seed);
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

    fn plan(&self, op: LeaseOperation) -> (Duration, Outcome) {
        self.count(op, |c| c.calls += 1);
        if !self.is_enabled() {
            return (Duration::ZERO, Outcome::Pass);
        }
        let config = Arc::clone(&self.config.read().unwrap_or_else(|p| p.into_inner()));
        let f = config.faults_for(op);
        if f.is_none() {
            return (Duration::ZERO, Outcome::Pass);
        }
        let (jitter, roll) = {
            let mut rng = lock(&self.rng);
            (rng.unit(), rng.unit())
        };
        let delay = f.latency + f.jitter.mul_f64(jitter);
        let clamp = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let (e, t, s) = (
            clamp(f.error_rate),
            clamp(f.timeout_rate),
            clamp(f.error_after_success_rate),
        );
        let outcome = if roll < e {
            Outcome::Fail
        } else if roll < e + t {
            Outcome::Hang(f.timeout)
        } else if roll < e + t + s {
            Outcome::FailAfterSuccess
        } else {
            Outcome::Pass
        };
        self.count(op, |c| {
            c.delayed += u64::from(!delay.is_zero());
            match outcome {
                Outcome::Fail => c.errors += 1,
                Outcome::Hang(_) => c.timeouts += 1,
                Outcome::Pass | Outcome::FailAfterSuccess => {}
            }
        });
        (delay, outcome)
    }

    async fn call<T, Fut>(
        &self,
        op: LeaseOperation,
        call: impl FnOnce() -> Fut,
    ) -> Result<T, LeaseError>
    where
        Fut: Future<Output = Result<T, LeaseError>>,
    {
        let (delay, outcome) = self.plan(op);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match outcome {
            Outcome::Pass => call().await,
            Outcome::Fail => Err(storage(op, "the lease table is unavailable".into())),
            Outcome::Hang(t) => {
                if t.applied {
                    let _ = call().await;
                }
                match t.after {
                    Some(after) => {
                        tokio::time::sleep(after).await;
                        Err(storage(
                            op,
                            format!("no answer within {after:?} (timed out)"),
                        ))
                    }
                    None => std::future::pending().await,
                }
            }
            Outcome::FailAfterSuccess => {
                let out = call().await?;
                drop(out);
                self.count(op, |c| c.errors_after_success += 1);
                Err(storage(
                    op,
                    "the call was applied but its answer was lost".into(),
                ))
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::SqliteLeaseTable;
    use crate::sequence::ExtendedSequenceNumber;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn error_after_success_writes_and_errors_do_not() -> TestResult {
        let dir = tempfile::tempdir()?;
        let inner: Arc<dyn LeaseTable> =
            Arc::new(SqliteLeaseTable::open(dir.path().join("l"), "app")?);
        let lease = Lease::new("shard-0", ExtendedSequenceNumber::trim_horizon());
        inner.create_lease_if_not_exists(&lease).await?;
        let faulty = FaultyLeaseTable::new(
            Arc::clone(&inner),
            LeaseFaultConfig::new(1).for_operation(
                LeaseOperation::TakeLease,
                LeaseFaults::none().with_error_after_success(1.0),
            ),
        );
        let e = faulty.take_lease(&lease, "w").await;
        assert!(matches!(e, Err(LeaseError::Storage { .. })), "{e:?}");
        let now = inner.get_lease("shard-0").await?.ok_or("gone")?;
        assert_eq!(now.lease_owner.as_deref(), Some("w"), "taken anyway");
        assert_eq!(faulty.counts().errors_after_success, 1);
        faulty
            .set_config(LeaseFaultConfig::new(1).for_all(LeaseFaults::none().with_error_rate(1.0)));
        assert!(faulty.evict_lease(&now).await.is_err());
        let after = inner.get_lease("shard-0").await?.ok_or("gone")?;
        assert_eq!(after, now, "not written");
        // Hangs: fail after a while, or never answer.
        faulty.set_config(
            LeaseFaultConfig::new(2).for_all(
                LeaseFaults::none()
                    .with_timeouts(1.0, LeaseTimeout::fail_after(Duration::from_millis(30))),
            ),
        );
        let start = std::time::Instant::now();
        assert!(faulty.list_leases().await.is_err());
        assert!(start.elapsed() >= Duration::from_millis(30));
        faulty
            .set_config(LeaseFaultConfig::new(2).for_all(
                LeaseFaults::none().with_timeouts(1.0, LeaseTimeout::forever().applied()),
            ));
        let r = tokio::time::timeout(Duration::from_millis(50), faulty.evict_lease(&now)).await;
        assert!(r.is_err(), "never answered");
        let evicted = inner.get_lease("shard-0").await?.ok_or("gone")?;
        assert_eq!(evicted.lease_owner, None, "applied before hanging");
        // Off: straight through.
        faulty.set_enabled(false);
        assert_eq!(faulty.list_leases().await?.len(), 1);
        assert_eq!(faulty.counts().timeouts, 2);
        assert_eq!(faulty.counts().errors, 1);
        Ok(())
    }
}
