//! The embedded engine: a Kinesis Data Streams service in the caller's process.
//!
//! [`Engine::open`] opens (or creates) a data directory, recovers every stream's log (see
//! [`crate::store`]) and serves the [`Kinesis`](crate::api::Kinesis) trait. An `Engine` is a
//! cheap handle: clone it freely; the last clone dropped (or [`Engine::close`]) stops the
//! writers after committing what they hold.
//!
//! Model: a stream has shards; a shard owns a contiguous range of the 128-bit hash key space
//! and is named `shardId-` and 12 digits. A stream of N shards splits the space evenly.
//! Records carry sequence numbers that decode to their shard and position (see
//! [`crate::api::seq`]). Shard iterators and pagination tokens are authenticated tokens that
//! expire (see `token`).

mod blocking;
mod clock;
mod conform;
mod crypto;
mod dispatch;
mod distribution;
mod handlers;
mod limits;
mod messages;
mod metric_set;
mod quotas;
mod recovery;
mod reshard;
mod resolve;
mod scaling;
mod telemetry;
mod token;
mod topology;
mod validate;

pub use clock::{Clock, ManualClock, SystemClock};
pub use crypto::{KeyRing, KeyRingError};
pub use limits::{InvalidLimits, ThroughputLimits};
pub use scaling::OnDemandScaling;

use crate::api::{EncryptionType, Error, RecordDistributionStrategy, StreamMode, StreamStatus};
use crate::store::{Catalog, FsyncPolicy, ShardRow, StoreError, StreamLog};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Settings of an [`Engine`]. Every field has a default ([`EngineConfig::default`]);
/// [`Engine::open`] checks them and names the first bad one.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// When appended records are synced to disk. Default: [`FsyncPolicy::Always`]
    /// (group commit; acknowledged records survive power loss).
    pub fsync: FsyncPolicy,
    /// A segment file is sealed once it reaches this size. Default 64 MiB; at least 4 KiB.
    pub segment_bytes: u64,
    /// Region used in ARNs and messages. Default `us-east-1`.
    pub region: String,
    /// 12-digit account id used in ARNs and messages. Default `000000000000`.
    pub account_id: String,
    /// Most open shards across all streams (AWS's account shard quota). Default 500.
    pub shard_limit: u32,
    /// Most ON_DEMAND streams (AWS's account quota, reported by DescribeLimits and enforced by
    /// CreateStream and UpdateStreamMode). Default 50, as AWS.
    pub on_demand_stream_limit: u32,
    /// Shards of a new ON_DEMAND stream. Default 4, as AWS.
    pub on_demand_shards: u32,
    /// How long shard iterators stay valid. Default 5 minutes, as AWS.
    pub iterator_ttl: Duration,
    /// How long ListShards and ListStreams tokens stay valid. Default 300 s, as AWS.
    pub next_token_ttl: Duration,
    /// How often retention runs in the background. Default 60 s. Set `Duration::ZERO` to
    /// run it only through [`Engine::enforce_retention`].
    pub retention_interval: Duration,
    /// The time source. Default: the system clock.
    pub clock: Arc<dyn Clock>,
    /// Per-shard throughput limits. Default: AWS's ([`ThroughputLimits::aws`]).
    pub limits: ThroughputLimits,
    /// How long a stream stays UPDATING while it is resharded (the new shards appear at the
    /// end). Default 0: resharding is immediate.
    pub update_delay: Duration,
    /// How long a new stream stays CREATING (no shards shown, no writes). Default 0.
    pub create_delay: Duration,
    /// How long a deleted stream stays DELETING before it is gone. Default 0.
    pub delete_delay: Duration,
    /// Keys for streams encrypted with StartStreamEncryption (see [`KeyRing`]). Default: none,
    /// and StartStreamEncryption answers KMSNotFoundException.
    pub kms_keys: Arc<KeyRing>,
    /// Most registered consumers per stream. Default 20, as AWS.
    pub max_consumers: u32,
    /// How long a new consumer stays CREATING. Default 0.
    pub consumer_delay: Duration,
    /// How long a SubscribeToShard subscription lasts. Default 5 minutes, as AWS.
    pub subscription_ttl: Duration,
    /// How ON_DEMAND streams scale themselves.
    pub on_demand: OnDemandScaling,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 * 1024 * 1024,
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            shard_limit: 500,
            on_demand_stream_limit: 50,
            on_demand_shards: 4,
            iterator_ttl: Duration::from_secs(300),
            next_token_ttl: Duration::from_secs(300),
            retention_interval: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            limits: ThroughputLimits::aws(),
            update_delay: Duration::ZERO,
            create_delay: Duration::ZERO,
            delete_delay: Duration::ZERO,
            kms_keys: Arc::new(KeyRing::default()),
            on_demand: OnDemandScaling::default(),
            max_consumers: 20,
            consumer_delay: Duration::ZERO,
            subscription_ttl: Duration::from_secs(300),
        }
    }
}

/// Why an engine could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// A configuration field is invalid.
    #[error("invalid engine configuration: {parameter}: {reason}")]
    Config {
        /// The field.
        parameter: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not be opened or recovered.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value in the catalog does not parse (a status, mode or encryption type this rill
    /// does not know, or unreadable account settings): the catalog was written by a newer
    /// rill, or damaged. The engine refuses to open rather than guess, and changes nothing.
    #[error(
        "catalog {table} row {key}: column {column} holds {value:?}, which this rill cannot read; refusing to open"
    )]
    Catalog {
        /// The catalog table.
        table: &'static str,
        /// The row, as `column = value` of its key (e.g. `name = "orders"`).
        key: String,
        /// The column holding the bad value.
        column: &'static str,
        /// The value as stored.
        value: String,
    },
}

impl EngineConfig {
    fn check(&self) -> Result<(), OpenError> {
        let bad = |parameter, reason: &str| {
            Err(OpenError::Config {
                parameter,
                reason: reason.to_string(),
            })
        };
        if self.segment_bytes < 4096 {
            return bad("segment_bytes", "must be at least 4096");
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return bad("account_id", "must be 12 digits");
        }
        if self.region.is_empty() || self.region.contains(':') {
            return bad("region", "must be non-empty and contain no ':'");
        }
        if self.on_demand_shards == 0 {
            return bad("on_demand_shards", "must be at least 1");
        }
        if self.iterator_ttl.is_zero() {
            return bad("iterator_ttl", "must be positive");
        }
        if self.next_token_ttl.is_zero() {
            return bad("next_token_ttl", "must be positive");
        }
        if let FsyncPolicy::Interval(d) = self.fsync
            && d.is_zero()
        {
            return bad("fsync", "interval must be positive");
        }
        Ok(())
    }
}

/// Shards of a stream: every shard by index, and the open ones by hash key.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardSet {
    /// Every shard, indexed by shard index (indexes are dense from 0).
    pub all: Vec<ShardRow>,
    /// Open shards as (start, end, index), sorted by start.
    pub open: Vec<(u128, u128, u64)>,
}

impl ShardSet {
    fn new(all: Vec<ShardRow>) -> ShardSet {
        let mut open: Vec<(u128, u128, u64)> = all
            .iter()
            .filter(|s| s.closed_ms.is_none())
            .map(|s| (s.start_hash, s.end_hash, s.shard_index))
            .collect();
        open.sort_unstable();
        ShardSet { all, open }
    }

    /// The open shard owning `hash`.
    pub fn route(&self, hash: u128) -> Option<u64> {
        let i = self.open.partition_point(|s| s.0 <= hash);
        let (start, end, index) = *self.open.get(i.checked_sub(1)?)?;
        (start <= hash && hash <= end).then_some(index)
    }
}

/// Mutable metadata of a stream.
#[derive(Debug, Clone)]
pub(crate) struct StreamMeta {
    pub status: StreamStatus,
    pub mode: StreamMode,
    pub retention_hours: u32,
    pub encryption: EncryptionType,
    pub key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Enabled shard-level metrics, a bit per name of [`crate::api::SHARD_LEVEL_METRICS`].
    pub shard_metrics: u32,
    /// Largest record accepted, in KiB (1024..=10240).
    pub max_record_kib: u32,
    /// Warm throughput in MiB/s (ON_DEMAND streams), when set.
    pub warm_mibps: Option<u32>,
    /// How puts place records on shards (see `distribution`).
    pub distribution: RecordDistributionStrategy,
    /// Resharding generation: shards created by the next reshard get a higher one.
    pub generation: u32,
    /// Index the next new shard gets.
    pub next_shard_index: u64,
}

/// A stream: identity, metadata, shards and log.
#[derive(Debug)]
pub(crate) struct Stream {
    pub name: String,
    pub arn: String,
    pub epoch: u64,
    /// The layout of the stream's sequence numbers (kept from its creation).
    pub seq_layout: crate::api::seq::Layout,
    pub meta: RwLock<StreamMeta>,
    pub shards: RwLock<Arc<ShardSet>>,
    pub log: StreamLog,
    /// Held shared while a put routes and submits its records, exclusively while shards
    /// change: a shard closes at an exact position. In an `Arc`, so that a change can move
    /// its guard into the blocking task that commits it (see `blocking`).
    pub gate: Arc<tokio::sync::RwLock<()>>,
    /// Per-shard throughput buckets.
    pub limiter: limits::Limiter,
    /// Registered enhanced fan-out consumers.
    pub consumers: resolve::Consumers,
    /// Per-shard write counters since the scaler last looked: (records, bytes).
    pub writes: parking_lot::Mutex<HashMap<u64, (u64, u64)>>,
    /// Per-shard count of consecutive hot (or cold, negative) scaler checks.
    pub heat: parking_lot::Mutex<HashMap<u64, i32>>,
    /// The records placed so far under the AUTO distribution: the next one goes to the open
    /// shard at this count modulo the number of open shards.
    pub auto_cursor: std::sync::atomic::AtomicU64,
}

pub(crate) fn shard_id(index: u64) -> String {
    format!("shardId-{index:012}")
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub by_name: BTreeMap<String, Arc<Stream>>,
    pub by_epoch: HashMap<u64, Arc<Stream>>,
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub root: PathBuf,
    pub catalog: Mutex<Catalog>,
    pub streams: RwLock<Registry>,
    pub key: Vec<u8>,
    lock: File,
    pub closed: std::sync::atomic::AtomicBool,
    /// Token buckets of the account-level call limits of DescribeLimits and the account
    /// settings operations, by operation (one second of calls, in seconds of the engine's
    /// clock).
    pub call_rates: Mutex<HashMap<&'static str, crate::api::bucket::TokenBucket>>,
    /// Background threads (retention, on-demand scaling) and the senders that stop them.
    background: Mutex<Vec<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// The embedded Kinesis engine. Cheap to clone; every clone serves the same streams.
///
/// Blocking work (catalog calls, log reads and recovery) runs on tokio's blocking pool, never
/// on the worker that polls the call (see `blocking`).
///
/// # Cancel safety
///
/// Every [`Kinesis`](crate::api::Kinesis) operation may be cancelled (its future dropped).
/// What that leaves behind:
///
/// * A change of the catalog (streams, tags, retention, mode, encryption, reshards,
///   consumers, policies, account settings) runs together with the in-memory state it must
///   agree with, in one task on a blocking thread that completes regardless: the cancelled
///   call made all of its change or none of it; only the answer is lost. A DeleteStream
///   cancelled after marking the stream DELETING leaves it DELETING until the deletion is
///   finished by the next open of the data directory.
/// * Records a PutRecord or PutRecords handed to the log are stored, as if the answer had
///   been lost on the wire.
/// * GetRecords and SubscribeToShard change nothing but the read budget they charged.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl Engine {
    /// Opens the engine on `dir` (created if missing), recovering every stream.
    ///
    /// Fails if `config` is invalid, if another engine has `dir` open, if the store holds
    /// damage that is not a torn tail or a segment of an unknown format version (see
    /// [`crate::store`], "Recovery policy"; then nothing on disk is changed), or if a catalog
    /// value does not parse ([`OpenError::Catalog`]). Recovery reads each sealed segment's
    /// header and persisted index and at most the newest segment's frames, so its time does
    /// not grow with the bytes retained. It runs on a blocking thread (tokio's blocking pool),
    /// not on the caller's worker.
    ///
    /// # Cancel safety
    ///
    /// Cancelling the open does not stop the recovery already running on its blocking
    /// thread: it completes (cutting provably torn tails, finishing interrupted deletions, as
    /// an open does), then closes everything it opened and unlocks `dir`. Nothing else is
    /// left behind; opening again later is safe.
    pub async fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine, OpenError> {
        config.check()?;
        let root = dir.as_ref().to_path_buf();
        let (recovered, config, root) = blocking::blocking(move || {
            recovery::recover(&root, &config).map(|r| (r, config, root))
        })
        .await?;
        let recovery::Recovered {
            lock,
            catalog,
            key,
            registry,
        } = recovered;
        tracing::info!(dir = %root.display(), streams = registry.by_name.len(), "engine opened");
        let inner = Arc::new(Inner {
            config,
            root,
            catalog: Mutex::new(catalog),
            streams: RwLock::new(registry),
            key,
            lock,
            closed: std::sync::atomic::AtomicBool::new(false),
            call_rates: Mutex::new(HashMap::new()),
            background: Mutex::new(Vec::new()),
        });
        if !inner.config.retention_interval.is_zero() {
            spawn_background(
                &inner,
                "rill-retention",
                inner.config.retention_interval,
                |engine| {
                    if let Err(e) = futures::executor::block_on(engine.enforce_retention()) {
                        tracing::error!(error = %e, "retention failed");
                    }
                },
            )?;
        }
        if !inner.config.on_demand.check_interval.is_zero() {
            spawn_background(
                &inner,
                "rill-scaler",
                inner.config.on_demand.check_interval,
                |engine| {
                    futures::executor::block_on(engine.scale_on_demand());
                },
            )?;
        }
        Ok(Engine { inner })
    }

    /// The directory the engine stores its data in.
    pub fn data_dir(&self) -> &Path {
        &self.inner.root
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Deletes, in every stream, the segments whose records are all older than the stream's
    /// retention period. Runs in the background every `retention_interval`; call it to run
    /// it now. Returns the number of segments deleted. The deleting is done by each log's
    /// writer thread; this only waits for it.
    ///
    /// # Cancel safety
    ///
    /// Cancelling stops the walk over the streams: the streams whose retention was asked
    /// for are trimmed (their writer threads finish it), the rest are not. Nothing is half
    /// deleted; call it again to finish.
    pub async fn enforce_retention(&self) -> Result<usize, Error> {
        let streams: Vec<Arc<Stream>> = self
            .inner
            .streams
            .read()
            .by_name
            .values()
            .cloned()
            .collect();
        let now = self.inner.config.clock.now_ms();
        let mut deleted = 0;
        for s in streams {
            let hours = s.meta.read().retention_hours;
            let cutoff = now - i64::from(hours) * 3_600_000;
            match s.log.enforce_retention(cutoff).await {
                Ok(n) => deleted += n,
                Err(StoreError::Closed) => {} // deleted meanwhile
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }

    /// Write counters of a stream's log: (commits, records, bytes, syncs).
    pub fn log_stats(&self, stream: &str) -> Option<(u64, u64, u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        let reg = self.inner.streams.read();
        let s = reg.by_name.get(stream)?;
        let st = s.log.stats();
        Some((
            st.commits.load(Relaxed),
            st.records.load(Relaxed),
            st.bytes.load(Relaxed),
            st.syncs.load(Relaxed),
        ))
    }

    /// Commits and syncs everything written, stops the writers and the retention thread.
    /// Calls made after `close` fail with `InternalFailure`, and the data directory is
    /// unlocked, so another engine may open it. Dropping the last clone also commits and
    /// syncs (but reports no errors).
    ///
    /// # Cancel safety
    ///
    /// The engine is marked closed at once, and the stopping of the writers and background
    /// threads runs on a blocking thread that completes even if this is cancelled; but the
    /// directory is unlocked only when this future completes (or when the last clone is
    /// dropped).
    pub async fn close(&self) -> Result<(), Error> {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let background: Vec<_> = self.inner.background.lock().drain(..).collect();
        for (tx, _) in &background {
            let _ = tx.send(());
        }
        let streams: Vec<Arc<Stream>> = self
            .inner
            .streams
            .read()
            .by_name
            .values()
            .cloned()
            .collect();
        let join = move || {
            for (_, h) in background {
                let _ = h.join();
            }
            for s in streams {
                s.log.close();
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt
                .spawn_blocking(join)
                .await
                .map_err(|e| Error::internal("close failed", e))?,
            Err(_) => join(),
        }
        // Everything is committed and synced: another engine may open the directory now.
        self.inner
            .lock
            .unlock()
            .map_err(|e| Error::internal("unlock data directory", e))?;
        tracing::info!(dir = %self.inner.root.display(), "engine closed");
        Ok(())
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Internal {
                message: "the engine is closed".into(),
                source: None,
            });
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let background: Vec<_> = self.background.lock().drain(..).collect();
        for (tx, _) in &background {
            let _ = tx.send(());
        }
        // Background threads hold only a weak reference; one of them may be dropping us.
        for (_, h) in background {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// Starts a thread that calls `work` every `every` until the engine closes or is dropped.
fn spawn_background(
    inner: &Arc<Inner>,
    name: &str,
    every: Duration,
    work: impl Fn(Engine) + Send + 'static,
) -> Result<(), StoreError> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let weak = Arc::downgrade(inner);
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let Some(inner) = weak.upgrade() else { return };
                work(Engine { inner });
            }
        })
        .map_err(|e| StoreError::io("spawn background thread", &inner.root, e))?;
    inner.background.lock().push((tx, handle));
    Ok(())
}

/// The name of the stream a shard iterator of this engine reads (unauthenticated: use it
/// only to decide which policy applies; the engine itself verifies the iterator).
pub fn iterator_stream_name(iterator: &str) -> Option<String> {
    token::peek_name(iterator)
}

pub(crate) fn stream_arn(config: &EngineConfig, name: &str) -> String {
    format!(
        "arn:aws:kinesis:{}:{}:stream/{}",
        config.region, config.account_id, name
    )
}

pub(crate) fn remove_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("remove stream directory", dir, e)),
    }
    if let Some(parent) = dir.parent() {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("fsync directory", parent, e))?;
    }
    Ok(())
}
