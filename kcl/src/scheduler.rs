//! The [`Scheduler`]: one worker of a consumer application.
//!
//! A scheduler runs, until shut down:
//!
//! * shard sync at start and every `shard_sync_interval` (see [`crate::shard_sync`]);
//! * lease renewal every `renewal_interval`, in its own task so that a slow scan never
//!   delays it;
//! * every `taker_interval`, either the fleet protocol's tick (heartbeat, leader election,
//!   the leader's assignment and balancing, finding the leases assigned to this worker: see
//!   [`crate::lease::fleet`] and [`crate::lease::leader`]) or, with
//!   [`Coordination::EveryWorker`] or a table without the fleet row, a lease scan that takes
//!   and steals leases (see [`crate::lease::coordinator`]); either starts a processing loop
//!   per new lease (the private `consumer` module). Under the fleet protocol only the
//!   leader runs the periodic shard sync.
//!
//! Every task is owned by [`Scheduler::run`]'s future: dropping that future (or aborting
//! the task running it) stops the worker abruptly, as a crash would — its leases expire
//! after the failover time and other workers resume from the last checkpoints.
//! [`ShutdownHandle::shutdown`] stops it gracefully: every processor is asked to checkpoint
//! (`shutdown_requested`), then every lease is released so that others take them at once.

use crate::config::{
    Coordination, FanOutConfig, InitialPosition, LeaseConfig, PollingConfig, RetrievalMode,
};
use crate::consumer::{self, FanOutContext, ShardContext, Streams};
use crate::error::KclError;
use crate::lease::FleetMember;
use crate::lease::coordinator::LeaseCoordinator;
use crate::lease::{BoundedLeaseTable, LeaseTable};
use crate::processor::RecordProcessorFactory;
use crate::retrieval::AbortOnDrop;
use crate::shard_sync;
use crate::streams::{StreamConfig, StreamIdentifier, StreamTracker};
use rill_engine::api::Kinesis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

/// First and longest wait between attempts to start a worker after a transient failure.
const START_RETRY_MIN: Duration = Duration::from_millis(200);
const START_RETRY_MAX: Duration = Duration::from_secs(10);

/// Builds a [`Scheduler`]; [`build`](SchedulerBuilder::build) checks every parameter and
/// names the first bad one.
#[derive(Default)]
pub struct SchedulerBuilder {
    application_name: Option<String>,
    stream_name: Option<String>,
    worker_id: Option<String>,
    kinesis: Option<Arc<dyn Kinesis>>,
    lease_table: Option<Arc<dyn LeaseTable>>,
    factory: Option<Arc<dyn RecordProcessorFactory>>,
    initial_position: InitialPosition,
    lease: LeaseConfig,
    renewal_interval_set: bool,
    taker_interval_set: bool,
    polling: PollingConfig,
    retrieval: RetrievalMode,
    fan_out: FanOutConfig,
    shard_sync_interval: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    lease_call_timeout: Option<Duration>,
    coordination: Coordination,
    tracker: Option<Arc<dyn StreamTracker>>,
}

impl std::fmt::Debug for SchedulerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerBuilder")
            .field("application_name", &self.application_name)
            .field("stream_name", &self.stream_name)
            .field("worker_id", &self.worker_id)
            .finish_non_exhaustive()
    }
}

impl SchedulerBuilder {
    /// The application's name (required): workers with the same name share the shards.
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }
    /// The stream to consume (required, unless [`streams`](Self::streams) or
    /// [`stream_tracker`](Self::stream_tracker) make this a multi-stream application).
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = Some(name.into());
        self
    }
    /// This worker's id, unique among the application's workers (required).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }
    /// The Kinesis service (required).
    pub fn kinesis(mut self, kinesis: Arc<dyn Kinesis>) -> Self {
        self.kinesis = Some(kinesis);
        self
    }
    /// The lease table (required), for example a [`SqliteLeaseTable`](crate::SqliteLeaseTable).
    pub fn lease_table(mut self, table: Arc<dyn LeaseTable>) -> Self {
        self.lease_table = Some(table);
        self
    }
    /// Makes a processor per shard (required).
    pub fn processor_factory(mut self, factory: impl RecordProcessorFactory) -> Self {
        self.factory = Some(Arc::new(factory));
        self
    }
    /// Where shards without a checkpoint start. Default `LATEST`.
    pub fn initial_position(mut self, position: InitialPosition) -> Self {
        self.initial_position = position;
        self
    }
    /// The failover time (default 10 s). Unless set explicitly, the renewal interval
    /// follows as a third of it and the taker interval as a sixth.
    pub fn failover_time(mut self, d: Duration) -> Self {
        self.lease.failover_time = d;
        self
    }
    /// How often leases are renewed. Must be below the failover time.
    pub fn renewal_interval(mut self, d: Duration) -> Self {
        self.lease.renewal_interval = d;
        self.renewal_interval_set = true;
        self
    }
    /// How often the lease table is scanned to take and steal leases.
    pub fn taker_interval(mut self, d: Duration) -> Self {
        self.lease.taker_interval = d;
        self.taker_interval_set = true;
        self
    }
    /// Most leases this worker holds (default unlimited; at least 1).
    pub fn max_leases_per_worker(mut self, n: usize) -> Self {
        self.lease.max_leases_per_worker = n;
        self
    }
    /// Most leases stolen per scan (default 1; at least 1).
    pub fn max_leases_to_steal_at_once(mut self, n: usize) -> Self {
        self.lease.max_leases_to_steal_at_once = n;
        self
    }
    /// Polling retrieval settings.
    pub fn polling(mut self, polling: PollingConfig) -> Self {
        self.polling = polling;
        self
    }
    /// How records are retrieved: [`RetrievalMode::Polling`] (the default) or
    /// [`RetrievalMode::FanOut`] (enhanced fan-out, SubscribeToShard).
    pub fn retrieval(mut self, mode: RetrievalMode) -> Self {
        self.retrieval = mode;
        self
    }
    /// Enhanced fan-out settings (used with [`RetrievalMode::FanOut`]).
    pub fn fan_out(mut self, config: FanOutConfig) -> Self {
        self.fan_out = config;
        self
    }
    /// How often shards are listed to create leases for new ones (default 60 s).
    pub fn shard_sync_interval(mut self, d: Duration) -> Self {
        self.shard_sync_interval = Some(d);
        self
    }
    /// How long a graceful shutdown waits for processors before dropping them (default
    /// 30 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = Some(d);
        self
    }

    /// How long any lease table call may take before it is given up as failed (default:
    /// the failover time). A checkpoint, a balancing scan or a shard sync whose call hangs
    /// then fails with [`LeaseError::Timeout`](crate::lease::LeaseError::Timeout) instead of
    /// waiting forever, and is retried like any transient failure. Renewals have a shorter
    /// bound of their own (half the failover time, at least the renewal interval).
    pub fn lease_call_timeout(mut self, d: Duration) -> Self {
        self.lease_call_timeout = Some(d);
        self
    }

    /// Consumes these streams (multi-stream mode, see [`crate::streams`]), each from its own
    /// initial position; instead of [`stream_name`](Self::stream_name).
    pub fn streams(self, streams: Vec<StreamConfig>) -> Self {
        self.stream_tracker(streams)
    }

    /// Consumes the streams `tracker` lists, asked at start and at every shard sync
    /// (multi-stream mode, see [`crate::streams`]): streams may be added and removed while
    /// the application runs. Polling retrieval only.
    pub fn stream_tracker(mut self, tracker: impl StreamTracker) -> Self {
        self.tracker = Some(Arc::new(tracker));
        self
    }

    /// How the workers share the lease table's work (default [`Coordination::Auto`]: an
    /// elected leader when the table supports it).
    pub fn coordination(mut self, c: Coordination) -> Self {
        self.coordination = c;
        self
    }

    /// Checks the parameters and makes the scheduler.
    pub fn build(self) -> Result<Scheduler, KclError> {
        let bad = |parameter: &'static str, reason: &str| KclError::Config {
            parameter,
            reason: reason.to_owned(),
        };
        let non_empty = |v: Option<String>, p: &'static str| {
            v.filter(|s| !s.is_empty())
                .ok_or_else(|| bad(p, "is required and must not be empty"))
        };
        let application_name = non_empty(self.application_name, "application_name")?;
        let streams = match (&self.tracker, self.stream_name) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "stream_name",
                    "give either a stream name or streams (multi-stream), not both",
                ));
            }
            (Some(_), None) => Streams::Multi {
                positions: Default::default(),
            },
            (None, name) => Streams::Single {
                stream_name: non_empty(name, "stream_name")?,
                initial_position: self.initial_position,
            },
        };
        if self.tracker.is_some() && !matches!(self.retrieval, RetrievalMode::Polling) {
            return Err(bad(
                "retrieval",
                "multi-stream applications use polling retrieval",
            ));
        }
        let worker_id = non_empty(self.worker_id, "worker_id")?;
        let kinesis = self.kinesis.ok_or_else(|| bad("kinesis", "is required"))?;
        let table = self
            .lease_table
            .ok_or_else(|| bad("lease_table", "is required"))?;
        let factory = self
            .factory
            .ok_or_else(|| bad("processor_factory", "is required"))?;
        let mut lease = self.lease;
        if lease.failover_time.is_zero() {
            return Err(bad("failover_time", "must be positive"));
        }
        if !self.renewal_interval_set {
            lease.renewal_interval = lease.failover_time / 3;
        }
        if !self.taker_interval_set {
            lease.taker_interval = lease.renewal_interval / 2;
        }
        if lease.renewal_interval.is_zero() || lease.renewal_interval >= lease.failover_time {
            return Err(bad(
                "renewal_interval",
                "must be positive and below the failover time",
            ));
        }
        if lease.taker_interval.is_zero() {
            return Err(bad("taker_interval", "must be positive"));
        }
        let lease_call_timeout = self.lease_call_timeout.unwrap_or(lease.failover_time);
        if lease_call_timeout.is_zero() {
            return Err(bad("lease_call_timeout", "must be positive"));
        }
        let fleet = match self.coordination {
            Coordination::Auto => table.supports_fleet(),
            Coordination::Leader if !table.supports_fleet() => {
                return Err(bad(
                    "coordination",
                    "Leader needs a lease table that supports the fleet row",
                ));
            }
            Coordination::Leader => true,
            Coordination::EveryWorker => false,
        };
        let table: Arc<dyn LeaseTable> =
            Arc::new(BoundedLeaseTable::new(table, lease_call_timeout));
        if lease.max_leases_per_worker == 0 {
            return Err(bad("max_leases_per_worker", "must be at least 1"));
        }
        if lease.max_leases_to_steal_at_once == 0 {
            return Err(bad("max_leases_to_steal_at_once", "must be at least 1"));
        }
        let p = &self.polling;
        if !(1..=10_000).contains(&p.max_records) {
            return Err(bad("polling.max_records", "must be in 1..=10000"));
        }
        if p.prefetch_batches == 0 {
            return Err(bad("polling.prefetch_batches", "must be at least 1"));
        }
        if p.max_idle_time_between_reads < p.idle_time_between_reads {
            return Err(bad(
                "polling.max_idle_time_between_reads",
                "must be at least idle_time_between_reads",
            ));
        }
        if p.retry_min_backoff.is_zero() || p.retry_max_backoff < p.retry_min_backoff {
            return Err(bad(
                "polling.retry_min_backoff",
                "must be positive and at most retry_max_backoff",
            ));
        }
        let fan_out = match self.retrieval {
            RetrievalMode::Polling => None,
            RetrievalMode::FanOut { consumer_name } => {
                let consumer_name = consumer_name.unwrap_or_else(|| application_name.clone());
                if !crate::retrieval::fanout::valid_consumer_name(&consumer_name) {
                    return Err(bad(
                        "retrieval.consumer_name",
                        "must match [a-zA-Z0-9_.-]{1,128} (it defaults to the application name)",
                    ));
                }
                let f = &self.fan_out;
                if f.silence_timeout.is_zero() {
                    return Err(bad("fan_out.silence_timeout", "must be positive"));
                }
                if f.retry_min_backoff.is_zero() || f.retry_max_backoff < f.retry_min_backoff {
                    return Err(bad(
                        "fan_out.retry_min_backoff",
                        "must be positive and at most retry_max_backoff",
                    ));
                }
                if f.prefetch_events == 0 {
                    return Err(bad("fan_out.prefetch_events", "must be at least 1"));
                }
                if f.consumer_poll_interval.is_zero() {
                    return Err(bad("fan_out.consumer_poll_interval", "must be positive"));
                }
                Some(FanOutContext {
                    consumer_name,
                    config: self.fan_out,
                    consumer_arn: tokio::sync::OnceCell::new(),
                })
            }
        };
        let shard_sync_interval = self.shard_sync_interval.unwrap_or(Duration::from_secs(60));
        if shard_sync_interval.is_zero() {
            return Err(bad("shard_sync_interval", "must be positive"));
        }
        let (shutdown_tx, _) = watch::channel(false);
        let (done_tx, _) = watch::channel(false);
        let parent_poll = lease.taker_interval;
        let coordinator = Arc::new(LeaseCoordinator::new(worker_id, table, lease.clone()));
        Ok(Scheduler {
            application_name,
            tracker: self.tracker,
            fleet,
            lease,
            shard_sync_interval,
            shutdown_timeout: self.shutdown_timeout.unwrap_or(Duration::from_secs(30)),
            ctx: Arc::new(ShardContext {
                kinesis,
                coordinator,
                factory,
                streams,
                polling: self.polling,
                fan_out,
                parent_poll,
            }),
            shutdown: Arc::new(shutdown_tx),
            done: Arc::new(done_tx),
        })
    }
}

/// One worker of a consumer application. Make it with [`Scheduler::builder`], run it with
/// [`Scheduler::run`], stop it with a [`ShutdownHandle`].
pub struct Scheduler {
    application_name: String,
    /// The streams of a multi-stream application.
    tracker: Option<Arc<dyn StreamTracker>>,
    /// Whether the fleet protocol coordinates (else every worker scans).
    fleet: bool,
    lease: LeaseConfig,
    shard_sync_interval: Duration,
    shutdown_timeout: Duration,
    ctx: Arc<ShardContext>,
    shutdown: Arc<watch::Sender<bool>>,
    done: Arc<watch::Sender<bool>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("application_name", &self.application_name)
            .field("worker_id", &self.ctx.coordinator.worker_id())
            .field("stream", &self.ctx.single_stream().map(|s| s.0))
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Scheduler`] gracefully. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    shutdown: Arc<watch::Sender<bool>>,
    done: watch::Receiver<bool>,
}

impl ShutdownHandle {
    /// Asks the scheduler to shut down and waits until it has: every processor was asked
    /// to checkpoint and every lease released. Returns at once if it has already stopped.
    ///
    /// Cancel safety: cancel safe; dropping the future does not withdraw the request.
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Asks the scheduler to shut down without waiting.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Scheduler {
    /// A builder with every default.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// A handle to shut the scheduler down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shutdown: Arc::clone(&self.shutdown),
            done: self.done.subscribe(),
        }
    }

    /// This worker's id.
    pub fn worker_id(&self) -> &str {
        self.ctx.coordinator.worker_id()
    }

    /// Runs the worker until [`ShutdownHandle::shutdown`]; returns after the graceful
    /// shutdown completed.
    ///
    /// Fails only if the lease table or Kinesis fails at start (the first shard sync, and
    /// with enhanced fan-out finding or registering the stream consumer) with an error that
    /// will not pass by itself ([`KclError::is_transient`] false: no such stream, a malformed
    /// lease table, refused permissions); transient failures at start are retried with
    /// backoff (200 ms doubling to 10 s), and later failures are logged and retried.
    ///
    /// Cancel safety: dropping the future stops the worker abruptly, like a crash: every
    /// task it started is aborted, no lease is released, nothing more is checkpointed.
    pub async fn run(self) -> Result<(), KclError> {
        let span = tracing::info_span!("worker", application = %self.application_name, worker_id = %self.ctx.coordinator.worker_id());
        let result = self.run_inner().instrument(span).await;
        self.done.send_replace(true);
        result
    }

    async fn run_inner(&self) -> Result<(), KclError> {
        let ctx = &self.ctx;
        let coordinator = Arc::clone(&ctx.coordinator);
        let mut shutdown = self.shutdown.subscribe();
        if *shutdown.borrow_and_update() {
            return Ok(());
        }
        // The first shard sync and, with enhanced fan-out, the stream consumer (which must
        // exist and be ACTIVE before any subscription). Transient failures (throttling, a
        // service or lease table briefly unavailable) are retried with backoff until they
        // pass or the worker is shut down; permanent ones (no such stream, a malformed lease
        // table, refused permissions) end `run` with the error.
        let mut delay = START_RETRY_MIN;
        loop {
            let started = async {
                self.sync_shards().await?;
                ctx.consumer_arn().await.map(|_| ())
            }
            .await;
            match started {
                Ok(()) => break,
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, ?delay, "worker start failed: retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ok(()),
                    }
                    delay = (delay * 2).min(START_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
        let renewer = {
            let coordinator = Arc::clone(&coordinator);
            let every = self.lease.renewal_interval;
            AbortOnDrop(tokio::spawn(
                async move {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tick.tick().await;
                        coordinator.renew_all().await;
                    }
                }
                .in_current_span(),
            ))
        };
        let mut shards: JoinSet<()> = JoinSet::new();
        let mut take = tokio::time::interval(self.lease.taker_interval);
        take.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sync = tokio::time::interval(self.shard_sync_interval);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sync.reset();
        let mut member = self
            .fleet
            .then(|| FleetMember::new(Arc::clone(&coordinator)));
        let heartbeat = member
            .as_ref()
            .map(|m| AbortOnDrop(tokio::spawn(m.heartbeat_loop().in_current_span())));
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = take.tick() => {
                    let scanned = match member.as_mut() {
                        Some(m) => m.tick().await.map(drop),
                        None => coordinator.take_leases().await.map(drop),
                    };
                    if let Err(e) = scanned {
                        tracing::warn!(error = %e, "lease scan failed");
                    }
                    // Every lease taken, also by a scan that failed after taking some (it
                    // holds and renews them): each gets its processing loop.
                    for held in coordinator.take_unstarted() {
                        let span = tracing::info_span!("shard", shard_id = %held.key);
                        shards.spawn(consumer::run(Arc::clone(ctx), held).instrument(span));
                    }
                },
                _ = sync.tick(), if member.as_ref().is_none_or(FleetMember::is_leader) => {
                    if let Err(e) = self.sync_shards().await {
                        tracing::warn!(error = %e, "shard sync failed");
                    }
                },
                Some(done) = shards.join_next(), if !shards.is_empty() => {
                    if let Err(e) = done && e.is_panic() {
                        tracing::error!(error = %e, "a shard's processing loop panicked");
                    }
                },
            }
        }
        tracing::info!(leases = coordinator.held().len(), "shutting down");
        coordinator.request_shutdown();
        let drain = async { while shards.join_next().await.is_some() {} };
        if tokio::time::timeout(self.shutdown_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("processors did not finish within the shutdown timeout");
        }
        drop(renewer);
        drop(heartbeat);
        if let Some(mut m) = member
            && let Err(e) = m.leave().await
        {
            tracing::warn!(error = %e, "leaving the fleet failed; the heartbeat will expire");
        }
        Ok(())
    }

    /// One shard sync: of the stream, or of every stream the tracker lists, deleting the
    /// leases of streams no longer listed or deleted (see [`crate::streams`]).
    async fn sync_shards(&self) -> Result<(), KclError> {
        let ctx = &self.ctx;
        let table = ctx.coordinator.table().as_ref();
        let kinesis = ctx.kinesis.as_ref();
        let (Some(tracker), Streams::Multi { positions }) = (&self.tracker, &ctx.streams) else {
            if let Some((name, initial)) = ctx.single_stream() {
                shard_sync::sync(kinesis, table, name, initial).await?;
            }
            return Ok(());
        };
        let wanted = tracker.streams();
        *positions.write().unwrap_or_else(|p| p.into_inner()) = wanted
            .iter()
            .map(|s| (s.stream_name.clone(), s.initial_position))
            .collect();
        let all = table.list_leases().await?;
        let mut keep = std::collections::HashSet::new();
        // Streams whose state is unknown (a transient failure): their leases stay.
        let mut unsure = std::collections::HashSet::new();
        for sc in &wanted {
            let id = match StreamIdentifier::describe(kinesis, &sc.stream_name).await {
                Ok(id) => id,
                Err(rill_engine::api::Error::ResourceNotFound(_)) => {
                    tracing::warn!(stream = %sc.stream_name, "stream does not exist; not consumed");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(stream = %sc.stream_name, error = %e, "cannot describe stream");
                    unsure.insert(sc.stream_name.clone());
                    continue;
                }
            };
            let prefix = id.key_prefix();
            match shard_sync::sync_prefixed(
                kinesis,
                table,
                &sc.stream_name,
                sc.initial_position,
                &prefix,
                &all,
            )
            .await
            {
                Ok(_) => {
                    keep.insert(prefix);
                }
                Err(KclError::Kinesis(rill_engine::api::Error::ResourceNotFound(_))) => {
                    tracing::warn!(stream = %sc.stream_name, "stream deleted during shard sync");
                }
                Err(e) => {
                    tracing::warn!(stream = %sc.stream_name, error = %e, "shard sync of stream failed");
                    keep.insert(prefix);
                }
            }
        }
        let former: std::collections::BTreeSet<String> = all
            .iter()
            .filter_map(|l| StreamIdentifier::split_lease_key(&l.lease_key).map(|(id, _)| id))
            .filter(|id| !unsure.contains(&id.stream_name))
            .map(|id| id.key_prefix())
            .filter(|p| !keep.contains(p))
            .collect();
        for prefix in former {
            let n = shard_sync::delete_stream_leases(table, &prefix, &all).await?;
            if n > 0 {
                tracing::info!(stream = %prefix.trim_end_matches(':'), leases = n, "leases of a former stream deleted");
                ctx.coordinator.note_change();
            }
        }
        Ok(())
    }
}
