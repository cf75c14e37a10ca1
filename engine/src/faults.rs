//! Fault injection: a [`Kinesis`] wrapper that fails, slows down and hangs calls, by
//! configuration, to test what is built on top of a Kinesis service (producers, consumers,
//! your own code) against the failures Amazon Kinesis Data Streams really has.
//!
//! [`FaultyKinesis`] forwards every operation to an inner [`Kinesis`] (the embedded
//! [`Engine`](crate::Engine), a [`Remote`](crate::Remote), another wrapper) and, per call,
//! as its [`FaultConfig`] says:
//!
//! * **adds latency**: a fixed delay plus uniform jitter, before the call;
//! * **fails the call** with an injected error ([`InjectedError`]: `InternalFailure`,
//!   `ServiceUnavailable`, `ProvisionedThroughputExceededException`,
//!   `LimitExceededException`, ...) without calling the inner service;
//! * **hangs** ([`Timeout`]): the call does not answer for a while and then fails with an
//!   `InternalFailure` "timed out", or never answers (until the caller gives up and drops
//!   the future); optionally after the inner call was made (the request was applied);
//! * **fails after success**: the inner call is made and succeeds, but the caller gets an
//!   error, as when the response of an applied write is lost. This is what makes a producer
//!   write a record twice;
//! * **fails PutRecords entries** ([`EntryFaults`]): some entries of a call fail on their
//!   own with `ProvisionedThroughputExceededException` or `InternalFailure` while the others
//!   are written, as AWS answers a partially throttled PutRecords;
//! * **cuts SubscribeToShard streams** ([`StreamFaults`]): an event is replaced by an error
//!   (or the stream just ends) mid-subscription.
//!
//! Decisions come from a seeded random generator ([`FaultConfig::seed`]): the same sequence
//! of calls meets the same faults. The configuration can be replaced while the wrapper is in
//! use ([`FaultyKinesis::set_config`]) and faults switched off and on
//! ([`FaultyKinesis::set_enabled`]), to test recovery after an outage. Counters
//! ([`FaultyKinesis::counts`]) tell what was injected.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rill_engine::api::*;
//! use rill_engine::faults::{FaultConfig, FaultyKinesis, InjectedError, Operation, OperationFaults};
//! use rill_engine::{Engine, EngineConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
//! let faulty = FaultyKinesis::new(
//!     Arc::new(engine),
//!     FaultConfig::new(42)
//!         // Every operation: 1 to 3 ms of latency.
//!         .for_all(OperationFaults::none().with_latency(Duration::from_millis(1), Duration::from_millis(2)))
//!         // PutRecord: always throttled.
//!         .for_operation(
//!             Operation::PutRecord,
//!             OperationFaults::none().with_errors(1.0, [InjectedError::ProvisionedThroughputExceeded]),
//!         ),
//! );
//! faulty
//!     .create_stream(CreateStreamInput {
//!         stream_name: "s".into(),
//!         shard_count: Some(1),
//!         ..Default::default()
//!     })
//!     .await?;
//! let put = faulty
//!     .put_record(PutRecordInput {
//!         stream_name: Some("s".into()),
//!         partition_key: "k".into(),
//!         data: "x".into(),
//!         ..Default::default()
//!     })
//!     .await;
//! assert!(matches!(put, Err(Error::ProvisionedThroughputExceeded(_))));
//! assert_eq!(faulty.counts_for(Operation::PutRecord).errors, 1);
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use crate::api::*;
use async_trait::async_trait;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

// ---------------------------------------------------------------- operations

/// The operations faults are configured and counted by: the operation table's
/// [`Operation`].
pub use crate::api::Operation;

// ---------------------------------------------------------------- configuration

/// An error the wrapper injects. Each becomes the [`Error`] a real service answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InjectedError {
    /// `InternalFailure` (HTTP 500): [`Error::Internal`], retryable.
    InternalFailure,
    /// `ServiceUnavailable` (HTTP 503): an [`Error::Other`] with that code, as a real
    /// service's 503 arrives through `Remote`.
    ServiceUnavailable,
    /// `ProvisionedThroughputExceededException`: a shard's limit was hit.
    ProvisionedThroughputExceeded,
    /// `LimitExceededException`: too many control-plane calls (or a limit).
    LimitExceeded,
    /// `KMSThrottlingException`.
    KmsThrottling,
    /// `ExpiredIteratorException` (meaningful for GetRecords).
    ExpiredIterator,
    /// Any exception by its code (mapped with [`Error::from_code`]) and message.
    Custom {
        /// The exception name, e.g. `AccessDeniedException`.
        code: String,
        /// The message.
        message: String,
    },
}

impl InjectedError {
    /// The AWS exception name.
    pub fn code(&self) -> &str {
        match self {
            InjectedError::InternalFailure => "InternalFailure",
            InjectedError::ServiceUnavailable => "ServiceUnavailable",
            InjectedError::ProvisionedThroughputExceeded => {
                "ProvisionedThroughputExceededException"
            }
            InjectedError::LimitExceeded => "LimitExceededException",
            InjectedError::KmsThrottling => "KMSThrottlingException",
            InjectedError::ExpiredIterator => "ExpiredIteratorException",
            InjectedError::Custom { code, .. } => code,
        }
    }

    /// The error a call of `operation` fails with.
    pub fn to_error(&self, operation: Operation) -> Error {
        match self {
            InjectedError::InternalFailure => Error::Internal {
                message: format!("Internal service failure (injected into {operation})."),
                source: None,
            },
            InjectedError::ServiceUnavailable => Error::Other {
                code: "ServiceUnavailable".into(),
                message: format!("Service Unavailable (injected into {operation})."),
            },
            InjectedError::ProvisionedThroughputExceeded => Error::ProvisionedThroughputExceeded(
                format!("Rate exceeded (injected into {operation})."),
            ),
            InjectedError::LimitExceeded => {
                Error::LimitExceeded(format!("Rate exceeded (injected into {operation})."))
            }
            InjectedError::KmsThrottling => {
                Error::KmsThrottling(format!("KMS rate exceeded (injected into {operation})."))
            }
            InjectedError::ExpiredIterator => {
                Error::ExpiredIterator(format!("Iterator expired (injected into {operation})."))
            }
            InjectedError::Custom { code, message } => Error::from_code(code, message.clone()),
        }
    }
}

/// How a call that hangs ends. See [`OperationFaults::timeout_rate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout {
    /// How long the call hangs before it fails with an `InternalFailure` ("timed out");
    /// `None`: it never answers, until the caller drops its future (its own timeout).
    pub after: Option<Duration>,
    /// Whether the inner call is made before hanging: the request was applied and its
    /// response lost. Otherwise the request never reached the service.
    pub applied: bool,
}

impl Timeout {
    /// Hangs for `after`, then fails; the request is not applied.
    pub fn fail_after(after: Duration) -> Timeout {
        Timeout {
            after: Some(after),
            applied: false,
        }
    }

    /// Never answers; the request is not applied.
    pub fn forever() -> Timeout {
        Timeout {
            after: None,
            applied: false,
        }
    }

    /// The same, but the inner call is made (and completes) before the hang.
    pub fn applied(mut self) -> Timeout {
        self.applied = true;
        self
    }
}

impl Default for Timeout {
    /// Hangs for 10 s, then fails; not applied.
    fn default() -> Self {
        Timeout::fail_after(Duration::from_secs(10))
    }
}

/// The faults of one operation (or of all, see [`FaultConfig::all`]).
///
/// Per call, one of "error", "timeout", "error after success" or nothing is chosen with the
/// rates given (they are exclusive; past a sum of 1 the later ones lose). Latency is added
/// to every call, whatever else happens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationFaults {
    /// Probability (0 to 1) that a call fails with one of [`errors`](Self::errors) without
    /// reaching the inner service.
    pub error_rate: f64,
    /// The errors injected, one picked at random for each injected failure (also for
    /// "error after success"). Empty: `InternalFailure`.
    pub errors: Vec<InjectedError>,
    /// Latency added before every call.
    pub latency: Duration,
    /// Random extra latency, uniform from zero to this, added to [`latency`](Self::latency).
    pub jitter: Duration,
    /// Probability (0 to 1) that a call hangs, as [`timeout`](Self::timeout) says.
    pub timeout_rate: f64,
    /// How hanging calls end.
    pub timeout: Timeout,
    /// Probability (0 to 1) that a call is made, succeeds, and the caller gets an error
    /// anyway (one of [`errors`](Self::errors)): the write happened but its response was
    /// lost. A call the inner service fails is returned as it is.
    pub error_after_success_rate: f64,
}

impl OperationFaults {
    /// No faults.
    pub fn none() -> OperationFaults {
        OperationFaults::default()
    }

    /// Fails calls with probability `rate`, with errors picked from `errors`.
    pub fn with_errors(
        mut self,
        rate: f64,
        errors: impl IntoIterator<Item = InjectedError>,
    ) -> OperationFaults {
        self.error_rate = rate;
        self.errors = errors.into_iter().collect();
        self
    }

    /// Adds `latency` plus up to `jitter` to every call.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> OperationFaults {
        self.latency = latency;
        self.jitter = jitter;
        self
    }

    /// Hangs calls with probability `rate`, ending as `timeout` says.
    pub fn with_timeouts(mut self, rate: f64, timeout: Timeout) -> OperationFaults {
        self.timeout_rate = rate;
        self.timeout = timeout;
        self
    }

    /// Makes calls, then answers an error anyway, with probability `rate`.
    pub fn with_error_after_success(mut self, rate: f64) -> OperationFaults {
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

/// Per-entry failures of PutRecords calls that reach the inner service: each entry fails on
/// its own with probability [`rate`](Self::rate) (it is not written) while the others are
/// written, and the answer lists each entry's result in order, as AWS does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryFaults {
    /// Probability (0 to 1) that an entry fails.
    pub rate: f64,
    /// The entry error codes, one picked at random per failed entry. Empty:
    /// `ProvisionedThroughputExceededException` and `InternalFailure`, the two codes AWS
    /// answers per entry.
    pub errors: Vec<InjectedError>,
}

impl EntryFaults {
    /// Entries fail with probability `rate`, with AWS's two per-entry codes.
    pub fn new(rate: f64) -> EntryFaults {
        EntryFaults {
            rate,
            errors: Vec::new(),
        }
    }

    /// Entries fail with probability `rate`, with codes picked from `errors`.
    pub fn with_errors(rate: f64, errors: impl IntoIterator<Item = InjectedError>) -> EntryFaults {
        EntryFaults {
            rate,
            errors: errors.into_iter().collect(),
        }
    }
}

/// Cuts of SubscribeToShard event streams: before each event, with probability
/// [`cut_rate`](Self::cut_rate), the subscription breaks: the event is lost and the stream
/// ends, with [`error`](Self::error) as its last item (or without one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamFaults {
    /// Probability (0 to 1), per event, that the stream is cut there.
    pub cut_rate: f64,
    /// The error the cut stream ends with; `None`: it just ends.
    pub error: Option<InjectedError>,
}

/// What [`FaultyKinesis`] injects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Seeds the random generator that makes every decision.
    pub seed: u64,
    /// The faults of every operation without an entry in [`operations`](Self::operations).
    pub all: OperationFaults,
    /// Faults per operation; an entry replaces [`all`](Self::all) for its operation.
    pub operations: HashMap<Operation, OperationFaults>,
    /// Per-entry failures of PutRecords.
    pub put_records_entries: EntryFaults,
    /// Cuts of SubscribeToShard streams.
    pub subscribe_to_shard: StreamFaults,
}

impl FaultConfig {
    /// No faults, with a seed.
    pub fn new(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            ..FaultConfig::default()
        }
    }

    /// Sets the faults of every operation without its own.
    pub fn for_all(mut self, faults: OperationFaults) -> FaultConfig {
        self.all = faults;
        self
    }

    /// Sets the faults of one operation (replacing [`all`](Self::all) for it).
    pub fn for_operation(mut self, operation: Operation, faults: OperationFaults) -> FaultConfig {
        self.operations.insert(operation, faults);
        self
    }

    /// Sets the faults of several operations.
    pub fn for_operations(
        mut self,
        operations: impl IntoIterator<Item = Operation>,
        faults: OperationFaults,
    ) -> FaultConfig {
        for op in operations {
            self.operations.insert(op, faults.clone());
        }
        self
    }

    /// Sets the per-entry failures of PutRecords.
    pub fn with_entry_failures(mut self, entries: EntryFaults) -> FaultConfig {
        self.put_records_entries = entries;
        self
    }

    /// Sets the cuts of SubscribeToShard streams.
    pub fn with_stream_cuts(mut self, cuts: StreamFaults) -> FaultConfig {
        self.subscribe_to_shard = cuts;
        self
    }

    /// The faults of `operation`.
    pub fn faults_for(&self, operation: Operation) -> &OperationFaults {
        self.operations.get(&operation).unwrap_or(&self.all)
    }
}

// ---------------------------------------------------------------- counters

/// What was injected (per operation, or in total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Calls made to the wrapper (injected or not).
    pub calls: u64,
    /// Calls failed with an injected error without reaching the inner service.
    pub errors: u64,
    /// Calls that hung ([`Timeout`]).
    pub timeouts: u64,
    /// Calls that succeeded in the inner service and were answered with an error.
    pub errors_after_success: u64,
    /// Calls given added latency.
    pub delayed: u64,
    /// PutRecords entries failed on their own.
    pub failed_entries: u64,
    /// SubscribeToShard streams cut.
    pub streams_cut: u64,
}

impl FaultCounts {
    /// Every injected fault but latency.
    pub fn injected(&self) -> u64 {
        self.errors
            + self.timeouts
            + self.errors_after_success
            + self.failed_entries
            + self.streams_cut
    }

    fn add(&mut self, o: &FaultCounts) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.errors_after_success += o.errors_after_success;
        self.delayed += o.delayed;
        self.failed_entries += o.failed_entries;
        self.streams_cut += o.streams_cut;
    }
}

// ---------------------------------------------------------------- the wrapper

/// SplitMix64: small, seedable, and the same on every platform and version.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    fn pick(&mut self, errors: &[InjectedError], default: &[InjectedError]) -> InjectedError {
        let from = if errors.is_empty() { default } else { errors };
        from.get(self.below(from.len()))
            .cloned()
            .unwrap_or(InjectedError::InternalFailure)
    }

    fn up_to(&mut self, d: Duration) -> Duration {
        if d.is_zero() {
            Duration::ZERO
        } else {
            d.mul_f64(self.unit())
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

const CALL_DEFAULT: &[InjectedError] = &[InjectedError::InternalFailure];
const ENTRY_DEFAULT: &[InjectedError] = &[
    InjectedError::ProvisionedThroughputExceeded,
    InjectedError::InternalFailure,
];

#[derive(Debug)]
struct Shared {
    config: RwLock<Arc<FaultConfig>>,
    enabled: AtomicBool,
    rng: Mutex<Rng>,
    counts: Mutex<BTreeMap<Operation, FaultCounts>>,
}

/// What happens to one call.
enum Outcome {
    Pass,
    Fail(Error),
    Hang(Timeout),
    FailAfterSuccess(Error),
}

impl Shared {
    fn config(&self) -> Option<Arc<FaultConfig>> {
        if !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        Some(Arc::clone(
            &self.config.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    fn count(&self, op: Operation, f: impl FnOnce(&mut FaultCounts)) {
        f(lock(&self.counts).entry(op).or_default());
    }

    /// Decides the latency and the outcome of one call.
    fn plan(&self, op: Operation) -> (Duration, Outcome) {
        self.count(op, |c| c.calls += 1);
        let Some(config) = self.config() else {
            return (Duration::ZERO, Outcome::Pass);
        };
        let f = config.faults_for(op);
        if f.is_none() {
            return (Duration::ZERO, Outcome::Pass);
        }
        let mut rng = lock(&self.rng);
        let delay = f.latency + rng.up_to(f.jitter);
        let roll = rng.unit();
        let clamp = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let (e, t, s) = (
            clamp(f.error_rate),
            clamp(f.timeout_rate),
            clamp(f.error_after_success_rate),
        );
        let outcome = if roll < e {
            Outcome::Fail(rng.pick(&f.errors, CALL_DEFAULT).to_error(op))
        } else if roll < e + t {
            Outcome::Hang(f.timeout)
        } else if roll < e + t + s {
            Outcome::FailAfterSuccess(rng.pick(&f.errors, CALL_DEFAULT).to_error(op))
        } else {
            Outcome::Pass
        };
        drop(rng);
        self.count(op, |c| {
            c.delayed += u64::from(!delay.is_zero());
            match &outcome {
                Outcome::Fail(_) => c.errors += 1,
                Outcome::Hang(_) => c.timeouts += 1,
                Outcome::Pass | Outcome::FailAfterSuccess(_) => {}
            }
        });
        (delay, outcome)
    }

    /// The entries of a PutRecords call of `n` entries that fail, with their errors.
    fn entry_plan(&self, n: usize) -> Vec<Option<InjectedError>> {
        let Some(config) = self.config() else {
            return Vec::new();
        };
        let f = &config.put_records_entries;
        if f.rate <= 0.0 || f.rate.is_nan() {
            return Vec::new();
        }
        let mut rng = lock(&self.rng);
        (0..n)
            .map(|_| {
                rng.chance(f.rate)
                    .then(|| rng.pick(&f.errors, ENTRY_DEFAULT))
            })
            .collect()
    }

    /// Whether to cut a subscription before its next event: `Some(error to end with)`.
    fn cut(&self) -> Option<Option<Error>> {
        let config = self.config()?;
        let f = &config.subscribe_to_shard;
        if !lock(&self.rng).chance(f.cut_rate) {
            return None;
        }
        self.count(Operation::SubscribeToShard, |c| c.streams_cut += 1);
        Some(
            f.error
                .as_ref()
                .map(|e| e.to_error(Operation::SubscribeToShard)),
        )
    }
}

/// A [`Kinesis`] that forwards every operation to an inner one and injects the faults its
/// [`FaultConfig`] describes. See the [module docs](self). Clones share configuration,
/// random generator and counters.
#[derive(Clone)]
pub struct FaultyKinesis {
    inner: Arc<dyn Kinesis>,
    shared: Arc<Shared>,
}

impl fmt::Debug for FaultyKinesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyKinesis")
            .field("enabled", &self.is_enabled())
            .field("config", &self.config())
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl FaultyKinesis {
    /// Wraps `inner`; faults are enabled at once.
    pub fn new(inner: Arc<dyn Kinesis>, config: FaultConfig) -> FaultyKinesis {
        FaultyKinesis {
            inner,
            shared: Arc::new(Shared {
                rng: Mutex::new(Rng(config.seed)),
                config: RwLock::new(Arc::new(config)),
                enabled: AtomicBool::new(true),
                counts: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The wrapped service (to read back what was really written, without faults).
    pub fn inner(&self) -> &Arc<dyn Kinesis> {
        &self.inner
    }

    /// The configuration in force.
    pub fn config(&self) -> FaultConfig {
        (**self.shared.config.read().unwrap_or_else(|p| p.into_inner())).clone()
    }

    /// Replaces the configuration, for calls from now on (a call already hanging keeps
    /// hanging). The random generator is reseeded when the seed changes.
    pub fn set_config(&self, config: FaultConfig) {
        let mut current = self
            .shared
            .config
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if current.seed != config.seed {
            *lock(&self.shared.rng) = Rng(config.seed);
        }
        *current = Arc::new(config);
    }

    /// Switches every fault off (`false`: calls go straight to the inner service, streams
    /// are no longer cut) or back on.
    pub fn set_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether faults are injected.
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }

    /// What was injected so far, over every operation.
    pub fn counts(&self) -> FaultCounts {
        let mut total = FaultCounts::default();
        for c in lock(&self.shared.counts).values() {
            total.add(c);
        }
        total
    }

    /// What was injected so far into `operation`.
    pub fn counts_for(&self, operation: Operation) -> FaultCounts {
        lock(&self.shared.counts)
            .get(&operation)
            .copied()
            .unwrap_or_default()
    }

    /// Sets every counter back to zero.
    pub fn reset_counts(&self) {
        lock(&self.shared.counts).clear();
    }

    /// Runs one call of `op` (`call` makes the inner call) with its faults.
    async fn call<T, Fut>(&self, op: Operation, call: impl FnOnce() -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let (delay, outcome) = self.shared.plan(op);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match outcome {
            Outcome::Pass => call().await,
            Outcome::Fail(e) => Err(e),
            Outcome::Hang(t) => {
                if t.applied {
                    let _ = call().await;
                }
                match t.after {
                    Some(after) => {
                        tokio::time::sleep(after).await;
                        Err(Error::Internal {
                            message: format!(
                                "{op}: injected timeout: no answer within {after:?} (timed out)"
                            ),
                            source: None,
                        })
                    }
                    None => std::future::pending().await,
                }
            }
            Outcome::FailAfterSuccess(e) => {
                let out = call().await?;
                drop(out);
                self.shared.count(op, |c| c.errors_after_success += 1);
                Err(e)
            }
        }
    }

    /// PutRecords with per-entry failures: the entries that fail are left out of the
    /// inner call, and their results put back in place.
    async fn put_records_with_entry_faults(
        &self,
        input: PutRecordsInput,
    ) -> Result<PutRecordsOutput> {
        let plan = self.shared.entry_plan(input.records.len());
        if plan.iter().all(Option::is_none) {
            return self.inner.put_records(input).await;
        }
        let stream = input
            .stream_name
            .clone()
            .or_else(|| input.stream_arn.clone())
            .unwrap_or_default();
        let PutRecordsInput {
            records,
            stream_name,
            stream_arn,
        } = input;
        let total = records.len();
        let pass: Vec<PutRecordsRequestEntry> = records
            .into_iter()
            .zip(&plan)
            .filter(|(_, p)| p.is_none())
            .map(|(r, _)| r)
            .collect();
        let failed = total - pass.len();
        self.shared
            .count(Operation::PutRecords, |c| c.failed_entries += failed as u64);
        let (mut results, encryption_type) = if pass.is_empty() {
            (Vec::new().into_iter(), None)
        } else {
            let out = self
                .inner
                .put_records(PutRecordsInput {
                    records: pass,
                    stream_name,
                    stream_arn,
                })
                .await?;
            (out.records.into_iter(), out.encryption_type)
        };
        let mut out = PutRecordsOutput {
            failed_record_count: 0,
            records: Vec::with_capacity(total),
            encryption_type,
        };
        for p in plan {
            let entry = match p {
                Some(e) => {
                    let message = match &e {
                        InjectedError::ProvisionedThroughputExceeded => format!(
                            "Rate exceeded for shard in stream {stream} (injected into PutRecords)."
                        ),
                        InjectedError::InternalFailure => {
                            "Internal service failure (injected into PutRecords).".to_string()
                        }
                        other => other.to_error(Operation::PutRecords).message().to_string(),
                    };
                    PutRecordsResultEntry {
                        error_code: Some(e.code().to_string()),
                        error_message: Some(message),
                        ..Default::default()
                    }
                }
                None => results.next().unwrap_or_else(|| PutRecordsResultEntry {
                    error_code: Some("InternalFailure".into()),
                    error_message: Some("the inner service answered too few results".into()),
                    ..Default::default()
                }),
            };
            if entry.error_code.is_some() {
                out.failed_record_count += 1;
            }
            out.records.push(entry);
        }
        Ok(out)
    }

    /// Wraps a subscription's events so that it may be cut.
    fn cuttable(&self, events: SubscribeToShardStream) -> SubscribeToShardStream {
        let shared = Arc::clone(&self.shared);
        Box::pin(futures::stream::unfold(Some(events), move |state| {
            let shared = Arc::clone(&shared);
            async move {
                let mut events = state?;
                let item = events.next().await?;
                if item.is_ok()
                    && let Some(end) = shared.cut()
                {
                    // The event is lost with the connection.
                    return end.map(|e| (Err(e), None));
                }
                Some((item, Some(events)))
            }
        }))
    }
}

/// The body of a forwarded method: the inner call, through [`FaultyKinesis::call`].
/// PutRecords also fails entries on their own; SubscribeToShard's stream can be cut.
macro_rules! forward_call {
    ($self:ident, PutRecords, $method:ident, $input:ident) => {
        $self
            .call(Operation::PutRecords, || {
                $self.put_records_with_entry_faults($input)
            })
            .await
    };
    ($self:ident, SubscribeToShard, $method:ident, $input:ident) => {{
        let events = $self
            .call(Operation::SubscribeToShard, || {
                $self.inner.subscribe_to_shard($input)
            })
            .await?;
        Ok($self.cuttable(events))
    }};
    ($self:ident, $op:ident, $method:ident, $input:ident) => {
        $self
            .call(Operation::$op, || $self.inner.$method($input))
            .await
    };
}

/// `impl Kinesis for FaultyKinesis`, from the operation table: every method forwarded.
macro_rules! forward {
    (required { $($required:tt)* } provided { $($provided:tt)* }) => {
        forward!(@lines $($required)* $($provided)*);
    };
    (@lines $((
        $op:ident, $method:ident, $input:ty, $output:ty,
        $plane:ident, [$($member:ident),*], $doc:literal
    ))*) => {
        #[async_trait]
        impl Kinesis for FaultyKinesis {
            $(
                async fn $method(&self, input: $input) -> Result<$output> {
                    forward_call!(self, $op, $method, input)
                }
            )*
        }
    };
}

crate::kinesis_operations!(forward);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig};
    use std::time::Instant;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    async fn engine(
        shards: i32,
    ) -> std::result::Result<(Engine, tempfile::TempDir), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
        engine
            .create_stream(CreateStreamInput {
                stream_name: "s".into(),
                shard_count: Some(shards),
                ..Default::default()
            })
            .await?;
        Ok((engine, dir))
    }

    /// Calls every operation once (with mostly empty inputs) and returns each one's error
    /// code (`None` on success).
    async fn call_every_operation(k: &dyn Kinesis) -> Vec<(Operation, Option<String>)> {
        macro_rules! calls {
            ($($op:ident: $call:expr;)*) => {{
                let mut out = Vec::new();
                $(
                    let r: Result<()> = $call.await.map(|_| ());
                    out.push((Operation::$op, r.err().map(|e| e.code().to_string())));
                )*
                out
            }};
        }
        calls! {
            CreateStream: k.create_stream(Default::default());
            DeleteStream: k.delete_stream(Default::default());
            DescribeStream: k.describe_stream(Default::default());
            DescribeStreamSummary: k.describe_stream_summary(Default::default());
            ListStreams: k.list_streams(Default::default());
            ListShards: k.list_shards(Default::default());
            PutRecord: k.put_record(Default::default());
            PutRecords: k.put_records(Default::default());
            GetShardIterator: k.get_shard_iterator(Default::default());
            GetRecords: k.get_records(Default::default());
            AddTagsToStream: k.add_tags_to_stream(Default::default());
            ListTagsForStream: k.list_tags_for_stream(Default::default());
            RemoveTagsFromStream: k.remove_tags_from_stream(Default::default());
            IncreaseStreamRetentionPeriod: k.increase_stream_retention_period(Default::default());
            DecreaseStreamRetentionPeriod: k.decrease_stream_retention_period(Default::default());
            SplitShard: k.split_shard(Default::default());
            MergeShards: k.merge_shards(Default::default());
            RegisterStreamConsumer: k.register_stream_consumer(Default::default());
            DescribeStreamConsumer: k.describe_stream_consumer(Default::default());
            ListStreamConsumers: k.list_stream_consumers(Default::default());
            DeregisterStreamConsumer: k.deregister_stream_consumer(Default::default());
            SubscribeToShard: k.subscribe_to_shard(SubscribeToShardInput {
                consumer_arn: String::new(),
                shard_id: String::new(),
                starting_position: StartingPosition {
                    position_type: ShardIteratorType::TrimHorizon,
                    sequence_number: None,
                    timestamp: None,
                },
            });
            UpdateStreamMode: k.update_stream_mode(UpdateStreamModeInput {
                stream_arn: String::new(),
                stream_mode_details: StreamModeDetails {
                    stream_mode: StreamMode::OnDemand,
                },
            });
            StartStreamEncryption: k.start_stream_encryption(Default::default());
            StopStreamEncryption: k.stop_stream_encryption(Default::default());
            UpdateShardCount: k.update_shard_count(Default::default());
            DescribeLimits: k.describe_limits(Default::default());
            DescribeAccountSettings: k.describe_account_settings(Default::default());
            UpdateAccountSettings: k.update_account_settings(Default::default());
            EnableEnhancedMonitoring: k.enable_enhanced_monitoring(Default::default());
            DisableEnhancedMonitoring: k.disable_enhanced_monitoring(Default::default());
            TagResource: k.tag_resource(Default::default());
            UntagResource: k.untag_resource(Default::default());
            ListTagsForResource: k.list_tags_for_resource(Default::default());
            UpdateMaxRecordSize: k.update_max_record_size(Default::default());
            UpdateStreamWarmThroughput: k.update_stream_warm_throughput(Default::default());
            PutResourcePolicy: k.put_resource_policy(Default::default());
            GetResourcePolicy: k.get_resource_policy(Default::default());
            DeleteResourcePolicy: k.delete_resource_policy(Default::default());
            UpdateStreamRecordDistributionStrategy:
                k.update_stream_record_distribution_strategy(Default::default());
            CreateChannel: k.create_channel(Default::default());
            DescribeChannel: k.describe_channel(Default::default());
            ListChannels: k.list_channels(Default::default());
            UpdateChannel: k.update_channel(Default::default());
            DeleteChannel: k.delete_channel(Default::default());
        }
    }

    #[tokio::test]
    async fn every_operation_is_forwarded_and_counted_under_its_name() -> TestResult {
        let (engine, _dir) = engine(1).await?;
        let faulty = FaultyKinesis::new(
            Arc::new(engine),
            FaultConfig::new(1).for_all(OperationFaults::none().with_errors(
                1.0,
                [InjectedError::Custom {
                    code: "Injected".into(),
                    message: "x".into(),
                }],
            )),
        );
        let results = call_every_operation(&faulty).await;
        assert_eq!(results.len(), Operation::ALL.len());
        for (op, code) in &results {
            assert_eq!(code.as_deref(), Some("Injected"), "{op}");
            let c = faulty.counts_for(*op);
            assert_eq!((c.calls, c.errors), (1, 1), "{op}");
        }
        assert_eq!(faulty.counts().errors, Operation::ALL.len() as u64);
        // Without faults, every call reaches the engine: none answers the trait's default
        // UnknownOperationException.
        faulty.set_enabled(false);
        for (op, code) in call_every_operation(&faulty).await {
            assert_ne!(code.as_deref(), Some("UnknownOperationException"), "{op}");
            assert_ne!(code.as_deref(), Some("Injected"), "{op}");
        }
        assert_eq!(faulty.counts().injected(), Operation::ALL.len() as u64);
        Ok(())
    }

    fn entries(n: usize) -> Vec<PutRecordsRequestEntry> {
        (0..n)
            .map(|i| PutRecordsRequestEntry {
                data: format!("{i}").into(),
                partition_key: format!("k{i}"),
                explicit_hash_key: None,
            })
            .collect()
    }

    async fn stored(k: &dyn Kinesis) -> std::result::Result<Vec<Record>, Error> {
        let it = k
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some("s".into()),
                shard_id: "shardId-000000000000".into(),
                shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
                ..Default::default()
            })
            .await?;
        Ok(k.get_records(GetRecordsInput {
            shard_iterator: it.shard_iterator.unwrap_or_default(),
            ..Default::default()
        })
        .await?
        .records)
    }

    #[tokio::test]
    async fn put_records_entries_fail_on_their_own() -> TestResult {
        let (engine, _dir) = engine(1).await?;
        let inner: Arc<dyn Kinesis> = Arc::new(engine);
        let faulty = FaultyKinesis::new(
            Arc::clone(&inner),
            FaultConfig::new(7).with_entry_failures(EntryFaults::new(0.3)),
        );
        let out = faulty
            .put_records(PutRecordsInput {
                records: entries(300),
                stream_name: Some("s".into()),
                stream_arn: None,
            })
            .await?;
        assert_eq!(out.records.len(), 300);
        let failed: Vec<_> = out
            .records
            .iter()
            .filter(|r| r.error_code.is_some())
            .collect();
        assert_eq!(failed.len(), out.failed_record_count as usize);
        assert!((50..130).contains(&failed.len()), "{}", failed.len());
        let codes: std::collections::HashSet<_> =
            failed.iter().filter_map(|r| r.error_code.clone()).collect();
        assert_eq!(codes.len(), 2, "{codes:?}");
        assert!(failed.iter().all(|r| r.sequence_number.is_none()));
        assert_eq!(faulty.counts().failed_entries, failed.len() as u64);
        // Exactly the successful entries were written, at their sequence numbers.
        let got = stored(&*inner).await?;
        let ok: Vec<(String, String)> = out
            .records
            .iter()
            .zip(0..)
            .filter_map(|(r, i)| Some((r.sequence_number.clone()?, format!("{i}"))))
            .collect();
        let read: Vec<(String, String)> = got
            .iter()
            .map(|r| {
                (
                    r.sequence_number.clone(),
                    String::from_utf8_lossy(&r.data).into_owned(),
                )
            })
            .collect();
        assert_eq!(read, ok);
        Ok(())
    }

    #[tokio::test]
    async fn error_after_success_writes_and_timeouts_hang() -> TestResult {
        let (engine, _dir) = engine(1).await?;
        let inner: Arc<dyn Kinesis> = Arc::new(engine);
        let put = || PutRecordInput {
            stream_name: Some("s".into()),
            partition_key: "k".into(),
            data: "x".into(),
            ..Default::default()
        };
        let faulty = FaultyKinesis::new(
            Arc::clone(&inner),
            FaultConfig::new(3).for_operation(
                Operation::PutRecord,
                OperationFaults::none()
                    .with_errors(0.0, [InjectedError::ServiceUnavailable])
                    .with_error_after_success(1.0),
            ),
        );
        let e = faulty.put_record(put()).await.err().ok_or("no error")?;
        assert_eq!(e.code(), "ServiceUnavailable");
        assert_eq!(stored(&*inner).await?.len(), 1, "written anyway");
        assert_eq!(faulty.counts().errors_after_success, 1);

        // Hang, then fail: not applied.
        let mut config = faulty.config();
        config.operations.insert(
            Operation::PutRecord,
            OperationFaults::none()
                .with_timeouts(1.0, Timeout::fail_after(Duration::from_millis(80))),
        );
        faulty.set_config(config.clone());
        let start = Instant::now();
        let e = faulty.put_record(put()).await.err().ok_or("no error")?;
        assert!(start.elapsed() >= Duration::from_millis(80));
        assert_eq!(e.code(), "InternalFailure");
        assert!(e.message().contains("timed out"), "{e}");
        assert_eq!(stored(&*inner).await?.len(), 1, "not applied");
        // Hang forever, applied: the caller's own timeout ends it; the write happened.
        config.operations.insert(
            Operation::PutRecord,
            OperationFaults::none().with_timeouts(1.0, Timeout::forever().applied()),
        );
        faulty.set_config(config);
        let r = tokio::time::timeout(Duration::from_millis(100), faulty.put_record(put())).await;
        assert!(r.is_err(), "never answered");
        assert_eq!(stored(&*inner).await?.len(), 2, "applied");
        assert_eq!(faulty.counts_for(Operation::PutRecord).timeouts, 2);
        // Latency.
        faulty.set_config(
            FaultConfig::new(3).for_all(
                OperationFaults::none()
                    .with_latency(Duration::from_millis(60), Duration::from_millis(20)),
            ),
        );
        let start = Instant::now();
        faulty.put_record(put()).await?;
        assert!(start.elapsed() >= Duration::from_millis(60));
        assert_eq!(faulty.counts_for(Operation::PutRecord).delayed, 1);
        Ok(())
    }

    #[tokio::test]
    async fn the_same_seed_injects_the_same_faults() -> TestResult {
        let (engine, _dir) = engine(1).await?;
        let inner: Arc<dyn Kinesis> = Arc::new(engine);
        let config = FaultConfig::new(99).for_all(OperationFaults::none().with_errors(
            0.5,
            [
                InjectedError::InternalFailure,
                InjectedError::LimitExceeded,
                InjectedError::ProvisionedThroughputExceeded,
            ],
        ));
        let mut runs = Vec::new();
        for _ in 0..2 {
            let faulty = FaultyKinesis::new(Arc::clone(&inner), config.clone());
            let mut codes = Vec::new();
            for _ in 0..64 {
                let r = faulty.list_shards(ListShardsInput {
                    stream_name: Some("s".into()),
                    ..Default::default()
                });
                codes.push(r.await.err().map(|e| e.code().to_string()));
            }
            runs.push(codes);
        }
        assert_eq!(runs[0], runs[1]);
        let failed = runs[0].iter().filter(|c| c.is_some()).count();
        assert!((16..48).contains(&failed), "{failed}");
        Ok(())
    }

    #[tokio::test]
    async fn subscriptions_are_cut() -> TestResult {
        let (engine, _dir) = engine(1).await?;
        let faulty = FaultyKinesis::new(
            Arc::new(engine),
            FaultConfig::new(5).with_stream_cuts(StreamFaults {
                cut_rate: 0.2,
                error: Some(InjectedError::InternalFailure),
            }),
        );
        let event = |i: usize| SubscribeToShardEvent {
            records: Vec::new(),
            continuation_sequence_number: i.to_string(),
            millis_behind_latest: 0,
            child_shards: None,
        };
        let events: Vec<Result<SubscribeToShardEvent>> = (0..100).map(|i| Ok(event(i))).collect();
        let mut cut = faulty.cuttable(Box::pin(futures::stream::iter(events)));
        let mut got = Vec::new();
        while let Some(item) = cut.next().await {
            got.push(item);
        }
        assert!(got.len() < 100, "cut");
        let last = got.pop().ok_or("nothing")?;
        assert!(matches!(last, Err(Error::Internal { .. })));
        for (i, e) in got.iter().enumerate() {
            let e = e.as_ref().map_err(|e| e.to_string())?;
            assert_eq!(e.continuation_sequence_number, i.to_string());
        }
        assert_eq!(faulty.counts().streams_cut, 1);
        Ok(())
    }
}
