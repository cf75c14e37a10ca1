//! [`FaultyKinesis`]: the wrapper, its decisions and the forwarding of every operation.

use super::{FaultConfig, FaultCounts, InjectedError};
use crate::plan::{self, Fate};
use crate::rng::SeededRng as Rng;
use async_trait::async_trait;
use futures::StreamExt;
use rill_engine::api::*;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One of `errors` (of `default` when `errors` is empty), picked at random.
fn pick(rng: &mut Rng, errors: &[InjectedError], default: &[InjectedError]) -> InjectedError {
    let from = if errors.is_empty() { default } else { errors };
    rng.pick(from)
        .cloned()
        .unwrap_or(InjectedError::InternalFailure)
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

    /// Decides the latency and the fate of one call.
    fn plan(&self, op: Operation) -> (Duration, Fate<Error>) {
        self.count(op, |c| c.calls += 1);
        let Some(config) = self.config() else {
            return (Duration::ZERO, Fate::Pass);
        };
        let f = config.faults_for(op);
        if f.is_none() {
            return (Duration::ZERO, Fate::Pass);
        }
        let (delay, fate) = f.draw(&mut lock(&self.rng), |rng, errors| {
            pick(rng, errors, CALL_DEFAULT).to_error(op)
        });
        self.count(op, |c| {
            c.delayed += u64::from(!delay.is_zero());
            match &fate {
                Fate::Fail(_) => c.errors += 1,
                Fate::Hang(_) => c.timeouts += 1,
                Fate::Pass | Fate::FailAfterSuccess(_) => {}
            }
        });
        (delay, fate)
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
                    .then(|| pick(&mut rng, &f.errors, ENTRY_DEFAULT))
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
/// [`FaultConfig`] describes. See the [module docs](super). Clones share configuration,
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
                rng: Mutex::new(Rng::new(config.seed)),
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
            *lock(&self.shared.rng) = Rng::new(config.seed);
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
        let (delay, fate) = self.shared.plan(op);
        plan::run(
            delay,
            fate,
            call,
            |after| Error::Internal {
                message: format!("{op}: injected timeout: no answer within {after:?} (timed out)"),
                source: None,
            },
            || self.shared.count(op, |c| c.errors_after_success += 1),
        )
        .await
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
    pub(super) fn cuttable(&self, events: SubscribeToShardStream) -> SubscribeToShardStream {
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

rill_engine::kinesis_operations!(forward);
