//! Property test: the store against a simple model, on a simulated filesystem that fails and
//! crashes on cue (through the store's I/O seam, `rill_engine::store::fs`).
//!
//! Random sequences of appends (several in flight at once, so that they share a commit),
//! reads at random positions and limits, clean restarts, armed faults (a short write, `EIO`
//! on write, `ENOSPC` on write or on creating a file, `EIO` on `fdatasync`/`fsync`, on a
//! truncation, on a rename, on a directory sync; a failed write whose cut-back fails too),
//! and crashes after any filesystem call: a process crash (everything written stays) or, under
//! `FsyncPolicy::Always`, a power loss (only synced bytes and directory entries stay, plus a
//! torn tail: a prefix of the unsynced bytes, then zeros where blocks were allocated).
//!
//! Checked after every step that can change what is stored, and at the end:
//! * every acknowledged record is readable at the position its append returned;
//! * no record of a failed append (one answered with an error while the filesystem was
//!   still up) is ever served;
//! * records of appends whose outcome the crash left open may be served, once, at one
//!   position, and then stay;
//! * positions are dense from the trim horizon; the log reopens after every crash.
//!
//! `RILL_STORE_MODEL_CASES` sets the cases per fsync policy (default 700: 2,100 in all).

use bytes::Bytes;
use proptest::prelude::*;
use rill_engine::FsyncPolicy;
use rill_engine::store::fs::{FileIo, Fs};
use rill_engine::store::{AppendRecord, LogConfig, StoreError, StreamLog};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

const SHARDS: u32 = 3;

// ------------------------------------------------------------------ simulated filesystem

/// A fault armed for the `skip + 1`-th matching call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A write writes half of what it is given (not an error).
    ShortWrite,
    /// A write writes a prefix, then fails with `EIO`.
    WriteEio,
    /// A write writes a prefix, then fails with `ENOSPC`.
    WriteNoSpace,
    /// `fdatasync` or `fsync` fails with `EIO` (under `Always` runs the unsynced bytes are
    /// dropped, as a kernel may do).
    SyncEio,
    /// A truncation fails with `EIO`.
    SetLenEio,
    /// Creating a file fails with `ENOSPC`.
    CreateNoSpace,
    /// A rename fails with `EIO`.
    RenameEio,
    /// A directory sync fails with `EIO`.
    DirSyncEio,
}

#[derive(Debug, Default, Clone)]
struct Node {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
struct SimState {
    nodes: Vec<Node>,
    dir: BTreeMap<PathBuf, usize>,
    durable_dir: BTreeMap<PathBuf, usize>,
    dirs: HashSet<PathBuf>,
    faults: Vec<(Fault, u32)>,
    crash_in: Option<u32>,
    frozen: bool,
    drop_on_failed_sync: bool,
}

#[derive(Debug)]
struct SimFs {
    st: parking_lot::Mutex<SimState>,
    frozen: tokio::sync::watch::Sender<bool>,
    calls: AtomicU64,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}
fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

impl SimState {
    /// Whether an armed fault of one of `kinds` fires now (consuming it).
    fn fires(&mut self, kinds: &[Fault]) -> Option<Fault> {
        let i = self.faults.iter().position(|(f, _)| kinds.contains(f))?;
        if self.faults[i].1 > 0 {
            self.faults[i].1 -= 1;
            return None;
        }
        Some(self.faults.remove(i).0)
    }
}

impl SimFs {
    fn new(drop_on_failed_sync: bool) -> Arc<SimFs> {
        Arc::new(SimFs {
            st: parking_lot::Mutex::new(SimState {
                drop_on_failed_sync,
                ..Default::default()
            }),
            frozen: tokio::sync::watch::channel(false).0,
            calls: AtomicU64::new(0),
        })
    }

    /// Runs a mutating call: fails without effect once frozen; freezes after it when the
    /// armed crash is due.
    fn mutate<T>(&self, f: impl FnOnce(&mut SimState) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.st.lock();
        if st.frozen {
            return Err(eio());
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let out = f(&mut st);
        if let Some(n) = st.crash_in.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.frozen = true;
                st.crash_in = None;
                self.frozen.send_replace(true);
            }
        }
        out
    }

    fn look<T>(&self, f: impl FnOnce(&SimState) -> io::Result<T>) -> io::Result<T> {
        let st = self.st.lock();
        if st.frozen {
            return Err(eio());
        }
        f(&st)
    }

    fn arm(&self, fault: Fault, skip: u32) {
        self.st.lock().faults.push((fault, skip));
    }

    fn arm_crash(&self, after: u32) {
        self.st.lock().crash_in = Some(after.max(1));
    }

    fn freeze(&self) {
        let mut st = self.st.lock();
        st.frozen = true;
        st.crash_in = None;
        self.frozen.send_replace(true);
    }

    /// The machine comes back: after a power loss only what was synced is there, plus a
    /// torn tail per file (`keep` bytes of what was written unsynced, then up to `zeros`
    /// zero bytes of the rest); after a process crash, everything written.
    fn reboot(&self, power_loss: bool, keep: usize, zeros: usize) {
        let mut st = self.st.lock();
        if power_loss {
            st.dir = st.durable_dir.clone();
            for n in &mut st.nodes {
                let mut after = n.durable.clone();
                if n.data.len() > n.durable.len() && n.data.starts_with(&n.durable) {
                    let extra = &n.data[n.durable.len()..];
                    let k = keep.min(extra.len());
                    after.extend_from_slice(&extra[..k]);
                    after.resize(after.len() + zeros.min(extra.len() - k), 0);
                }
                n.data = after.clone();
                n.durable = after;
            }
        }
        st.faults.clear();
        st.crash_in = None;
        st.frozen = false;
        self.frozen.send_replace(false);
    }

    fn clear_faults(&self) {
        self.st.lock().faults.clear();
    }
}

#[derive(Debug)]
struct SimFile {
    fs: Arc<SimFs>,
    node: usize,
}

impl FileIo for SimFile {
    fn size(&self) -> io::Result<u64> {
        self.fs.look(|st| Ok(st.nodes[self.node].data.len() as u64))
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.fs.look(|st| {
            let d = &st.nodes[self.node].data;
            let at = (offset as usize).min(d.len());
            let n = buf.len().min(d.len() - at);
            buf[..n].copy_from_slice(&d[at..at + n]);
            Ok(n)
        })
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let node = self.node;
        self.fs.mutate(|st| {
            let fault = st.fires(&[Fault::ShortWrite, Fault::WriteEio, Fault::WriteNoSpace]);
            let n = match fault {
                None => buf.len(),
                Some(_) => buf.len() / 2,
            };
            let d = &mut st.nodes[node].data;
            let end = offset as usize + n;
            if d.len() < end {
                d.resize(end, 0);
            }
            d[offset as usize..end].copy_from_slice(&buf[..n]);
            match fault {
                Some(Fault::WriteEio) => Err(eio()),
                Some(Fault::WriteNoSpace) => Err(enospc()),
                _ => Ok(n),
            }
        })
    }
    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }
    fn sync_all(&self) -> io::Result<()> {
        let node = self.node;
        self.fs.mutate(|st| {
            if st.fires(&[Fault::SyncEio]).is_some() {
                if st.drop_on_failed_sync {
                    let n = &mut st.nodes[node];
                    n.data = n.durable.clone();
                }
                return Err(eio());
            }
            let n = &mut st.nodes[node];
            n.durable = n.data.clone();
            Ok(())
        })
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let node = self.node;
        self.fs.mutate(|st| {
            if st.fires(&[Fault::SetLenEio]).is_some() {
                return Err(eio());
            }
            st.nodes[node].data.resize(len as usize, 0);
            Ok(())
        })
    }
}

impl SimFs {
    fn file(self: &Arc<Self>, node: usize) -> Arc<dyn FileIo> {
        Arc::new(SimFile {
            fs: Arc::clone(self),
            node,
        })
    }
}

/// The filesystem handed to the log: the simulation behind an `Arc`.
#[derive(Debug, Clone)]
struct Sim(Arc<SimFs>);

impl Fs for Sim {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.0.mutate(|st| {
            st.dirs.insert(dir.to_path_buf());
            Ok(())
        })
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.0.look(|st| {
            Ok(st
                .dir
                .keys()
                .filter(|p| p.parent() == Some(dir))
                .filter_map(|p| p.file_name().and_then(|n| n.to_str()).map(String::from))
                .collect())
        })
    }
    fn create(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let node = self.0.mutate(|st| {
            if st.fires(&[Fault::CreateNoSpace]).is_some() {
                return Err(enospc());
            }
            st.nodes.push(Node::default());
            let node = st.nodes.len() - 1;
            st.dir.insert(path.to_path_buf(), node);
            Ok(node)
        })?;
        Ok(self.0.file(node))
    }
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        let node = self.0.look(|st| {
            st.dir
                .get(path)
                .copied()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        })?;
        Ok(self.0.file(node))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.mutate(|st| {
            if st.fires(&[Fault::RenameEio]).is_some() {
                return Err(eio());
            }
            let node = st
                .dir
                .remove(from)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
            st.dir.insert(to.to_path_buf(), node);
            Ok(())
        })
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.0.mutate(|st| {
            st.dir
                .remove(path)
                .map(|_| ())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        })
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.0.mutate(|st| {
            if st.fires(&[Fault::DirSyncEio]).is_some() {
                return Err(eio());
            }
            st.durable_dir = st.dir.clone();
            Ok(())
        })
    }
}

// ------------------------------------------------------------------------------- model

/// (shard, payload size) per record of one append.
type Batch = Vec<(u32, usize)>;

#[derive(Debug, Clone)]
enum Op {
    /// Several appends submitted before any is awaited.
    Append(Vec<Batch>),
    Read {
        shard: u32,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    },
    Restart,
    Fault(Fault, u32),
    /// A failed write whose cut-back fails too (then succeeds on a retry).
    FailAndCutFails(Fault),
    /// A crash after `after` more filesystem calls while these appends run.
    Crash {
        after: u32,
        power_loss: bool,
        keep: usize,
        zeros: usize,
        batches: Vec<Batch>,
    },
}

fn batches() -> impl Strategy<Value = Vec<Batch>> {
    prop::collection::vec(prop::collection::vec((0..SHARDS, 0usize..500), 1..12), 1..4)
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::ShortWrite),
        Just(Fault::WriteEio),
        Just(Fault::WriteNoSpace),
        Just(Fault::SyncEio),
        Just(Fault::SetLenEio),
        Just(Fault::CreateNoSpace),
        Just(Fault::RenameEio),
        Just(Fault::DirSyncEio),
    ]
}

fn op(power_loss: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => batches().prop_map(Op::Append),
        3 => (0..SHARDS, 0u64..80, 1usize..40, 1usize..4000)
            .prop_map(|(shard, from, max_records, max_bytes)| Op::Read { shard, from, max_records, max_bytes }),
        1 => Just(Op::Restart),
        2 => (fault(), 0u32..3).prop_map(|(f, skip)| Op::Fault(f, skip)),
        1 => prop_oneof![Just(Fault::WriteEio), Just(Fault::WriteNoSpace), Just(Fault::SyncEio)]
            .prop_map(Op::FailAndCutFails),
        2 => (1u32..24, any::<bool>(), 0usize..3000, 0usize..3000, batches()).prop_map(
            move |(after, p, keep, zeros, batches)| Op::Crash {
                after,
                power_loss: p && power_loss,
                keep,
                zeros,
                batches,
            }
        ),
    ]
}

/// What the store must hold.
#[derive(Debug, Default)]
struct Model {
    /// Per shard: position -> data of every record known stored.
    stored: Vec<BTreeMap<u64, Bytes>>,
    /// Records whose append failed: never to be served.
    failed: HashSet<Bytes>,
    /// Records whose append's outcome a crash left open, with their shard.
    open: HashMap<Bytes, u32>,
    serial: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            stored: vec![BTreeMap::new(); SHARDS as usize],
            ..Default::default()
        }
    }

    /// Unique payloads: a serial number, then filler.
    fn records(&mut self, batch: &Batch) -> Vec<AppendRecord> {
        batch
            .iter()
            .map(|&(shard, size)| {
                self.serial += 1;
                let mut data = format!("r{:08}-", self.serial).into_bytes();
                data.extend((0..size).map(|i| (i % 251) as u8));
                AppendRecord {
                    shard,
                    partition_key: format!("pk-{}", self.serial % 7),
                    data: Bytes::from(data),
                    flags: 0,
                }
            })
            .collect()
    }

    /// A served record at `position` of `shard`: an acknowledged one where it was put, or
    /// one whose outcome was open (from now on known stored), never a failed one.
    fn served(&mut self, shard: u32, position: u64, data: &Bytes) -> Result<(), TestCaseError> {
        prop_assert!(
            !self.failed.contains(data),
            "a failed append's record is served: {:?}",
            &data[..9]
        );
        match self.stored[shard as usize].get(&position) {
            Some(d) => prop_assert_eq!(d, data, "shard {} position {}", shard, position),
            None => {
                let s = self.open.remove(data);
                prop_assert_eq!(
                    s,
                    Some(shard),
                    "an unknown record at {} {}: {:?}",
                    shard,
                    position,
                    &data[..9]
                );
                self.stored[shard as usize].insert(position, data.clone());
            }
        }
        Ok(())
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// Reads every shard in full and checks it against the model.
fn check_all(log: &StreamLog, model: &mut Model) -> Result<(), TestCaseError> {
    for shard in 0..SHARDS {
        let state = log.shard_state(shard);
        let (got, _) = log.read(shard, 0, usize::MAX, usize::MAX).map_err(fail)?;
        prop_assert_eq!(got.len() as u64, state.next_position - state.trim_position);
        for (r, want) in got.iter().zip(state.trim_position..) {
            prop_assert_eq!(r.position, want, "positions are dense");
            model.served(shard, r.position, &r.data)?;
        }
        let positions: Vec<u64> = got.iter().map(|r| r.position).collect();
        for p in model.stored[shard as usize].keys() {
            prop_assert!(
                positions.binary_search(p).is_ok(),
                "shard {} lost position {}",
                shard,
                p
            );
        }
    }
    Ok(())
}

fn open(fs: &Sim, fsync: FsyncPolicy, clock: &Arc<AtomicI64>) -> Result<StreamLog, TestCaseError> {
    let c = Arc::clone(clock);
    StreamLog::open_with(
        Arc::new(fs.clone()),
        Path::new("/log"),
        LogConfig {
            fsync,
            segment_bytes: 4096,
        },
        Arc::new(move || c.fetch_add(1, Ordering::SeqCst)),
    )
    .map_err(|e| fail(format!("open failed: {e}")))
}

type Replies = Vec<(
    Batch,
    Vec<Bytes>,
    tokio::sync::oneshot::Receiver<Result<rill_engine::store::AppendResult, StoreError>>,
)>;

fn submit(log: &StreamLog, model: &mut Model, batches: &[Batch]) -> Replies {
    batches
        .iter()
        .map(|b| {
            let records = model.records(b);
            let data = records.iter().map(|r| r.data.clone()).collect();
            (b.clone(), data, log.append(records))
        })
        .collect()
}

fn settle(
    model: &mut Model,
    batch: &Batch,
    data: Vec<Bytes>,
    res: Result<rill_engine::store::AppendResult, StoreError>,
    crashed: bool,
) -> Result<(), TestCaseError> {
    match res {
        Ok(r) => {
            for ((&(shard, _), d), pos) in batch.iter().zip(data).zip(&r.positions) {
                let prev = model.stored[shard as usize].insert(*pos, d);
                prop_assert!(
                    prev.is_none(),
                    "position {} of shard {} given twice",
                    pos,
                    shard
                );
            }
        }
        Err(_) if crashed => {
            for (&(shard, _), d) in batch.iter().zip(data) {
                model.open.insert(d, shard);
            }
        }
        Err(_) => model.failed.extend(data),
    }
    Ok(())
}

fn run(ops: Vec<Op>, fsync: FsyncPolicy) -> Result<(), TestCaseError> {
    let sim = Sim(SimFs::new(fsync == FsyncPolicy::Always));
    let clock = Arc::new(AtomicI64::new(1_700_000_000_000));
    let mut log = Some(open(&sim, fsync, &clock)?);
    let mut model = Model::new();
    for op in ops {
        let l = log.as_ref().ok_or_else(|| fail("no log"))?;
        match op {
            Op::Append(batches) => {
                for (batch, data, rx) in submit(l, &mut model, &batches) {
                    let res = futures::executor::block_on(rx).map_err(fail)?;
                    settle(&mut model, &batch, data, res, false)?;
                }
            }
            Op::Read {
                shard,
                from,
                max_records,
                max_bytes,
            } => {
                let (got, next) = l.read(shard, from, max_records, max_bytes).map_err(fail)?;
                prop_assert!(got.len() <= max_records);
                let bytes: usize = got
                    .iter()
                    .map(|r| r.data.len() + r.partition_key.len())
                    .sum();
                prop_assert!(got.len() <= 1 || bytes <= max_bytes);
                let start = from.max(l.shard_state(shard).trim_position);
                for (r, want) in got.iter().zip(start..) {
                    prop_assert_eq!(r.position, want);
                    model.served(shard, r.position, &r.data)?;
                }
                if let Some(last) = got.last() {
                    prop_assert_eq!(next, last.position + 1);
                }
            }
            Op::Restart => {
                drop(log.take());
                sim.0.clear_faults();
                let l = open(&sim, fsync, &clock)?;
                check_all(&l, &mut model)?;
                log = Some(l);
            }
            Op::Fault(f, skip) => sim.0.arm(f, skip),
            Op::FailAndCutFails(f) => {
                sim.0.arm(f, 0);
                sim.0.arm(Fault::SetLenEio, 0);
            }
            Op::Crash {
                after,
                power_loss,
                keep,
                zeros,
                batches,
            } => {
                sim.0.arm_crash(after);
                let replies = submit(l, &mut model, &batches);
                // Wait until every append is answered or the crash came; then the process
                // is gone (what is still unanswered is answered by closing the log).
                let mut frozen = sim.0.frozen.subscribe();
                let mut answered = Box::pin(futures::future::join_all(
                    replies
                        .into_iter()
                        .map(|(b, d, rx)| async move { (b, d, rx.await) }),
                ));
                let early = futures::executor::block_on(async {
                    let crash = Box::pin(async move {
                        let _ = frozen.wait_for(|f| *f).await;
                    });
                    match futures::future::select(&mut answered, crash).await {
                        futures::future::Either::Left((r, _)) => Some(r),
                        futures::future::Either::Right(_) => None,
                    }
                });
                sim.0.freeze();
                drop(log.take());
                let results = match early {
                    Some(r) => r,
                    None => futures::executor::block_on(answered),
                };
                for (batch, data, res) in results {
                    settle(&mut model, &batch, data, res.map_err(fail)?, true)?;
                }
                sim.0.reboot(power_loss, keep, zeros);
                let l = open(&sim, fsync, &clock)?;
                check_all(&l, &mut model)?;
                log = Some(l);
            }
        }
    }
    drop(log.take());
    sim.0.clear_faults();
    let l = open(&sim, fsync, &clock)?;
    check_all(&l, &mut model)?;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("RILL_STORE_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(700)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model_fsync(ops in prop::collection::vec(op(true), 1..40)) {
        run(ops, FsyncPolicy::Always)?;
    }

    #[test]
    fn store_matches_model_no_fsync(ops in prop::collection::vec(op(false), 1..40)) {
        run(ops, FsyncPolicy::Never)?;
    }

    #[test]
    fn store_matches_model_interval(ops in prop::collection::vec(op(false), 1..40)) {
        run(ops, FsyncPolicy::Interval(std::time::Duration::from_millis(1)))?;
    }
}

/// A roll whose directory sync fails after the rename has put the next segment in place:
/// the old segment must not be written again (here a failed commit whose cut fails, then
/// a crash, would leave a torn tail in what recovery takes for a sealed segment).
#[test]
fn failed_roll_leaves_the_old_segment_sealed() {
    let ops = vec![
        Op::Append(vec![vec![(0, 900), (1, 900), (2, 900)]]),
        // The first directory sync is the sealed segment's index's; the second follows the
        // rename of the next segment.
        Op::Fault(Fault::DirSyncEio, 1),
        Op::Append(vec![vec![(0, 1500)]]),
        Op::FailAndCutFails(Fault::WriteNoSpace),
        Op::Crash {
            after: 2,
            power_loss: false,
            keep: 0,
            zeros: 0,
            batches: vec![vec![(0, 10)]],
        },
        Op::Append(vec![vec![(1, 10)]]),
    ];
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
        if let Err(e) = run(ops.clone(), fsync) {
            panic!("{fsync:?}: {e}");
        }
    }
}
