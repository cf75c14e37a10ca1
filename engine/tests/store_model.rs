//! Property test: the store against a simple in-memory model.
//!
//! Random sequences of appends (alone and several in flight at once, so that they share a
//! commit), reads at random positions and limits, restarts, and torn tails (garbage bytes
//! appended to the newest segment while closed, as a crash mid-write leaves) must read back
//! exactly what the model holds: every acknowledged record, in order, once.

use bytes::Bytes;
use proptest::prelude::*;
use rill_engine::FsyncPolicy;
use rill_engine::store::{AppendRecord, LogConfig, StreamLog};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const SHARDS: u32 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// Several appends submitted before any is awaited: (shard, payload size, tag) per record.
    Append(Vec<Vec<(u32, usize, u8)>>),
    Read {
        shard: u32,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    },
    Restart,
    Tear(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let rec = (0..SHARDS, 0usize..700, any::<u8>());
    prop_oneof![
        6 => prop::collection::vec(prop::collection::vec(rec, 1..20), 1..4).prop_map(Op::Append),
        4 => (0..SHARDS, 0u64..120, 1usize..50, 1usize..6000)
            .prop_map(|(shard, from, max_records, max_bytes)| Op::Read { shard, from, max_records, max_bytes }),
        1 => Just(Op::Restart),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Op::Tear),
    ]
}

fn payload(size: usize, tag: u8) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| tag.wrapping_add(i as u8))
            .collect::<Vec<u8>>(),
    )
}

fn open(dir: &Path, fsync: FsyncPolicy, clock: &Arc<AtomicI64>) -> StreamLog {
    let c = Arc::clone(clock);
    StreamLog::open(
        dir,
        LogConfig {
            fsync,
            segment_bytes: 4096,
        },
        Arc::new(move || c.fetch_add(1, Ordering::SeqCst)),
    )
    .unwrap_or_else(|e| panic!("open failed: {e}"))
}

fn newest_segment(dir: &Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    segs.retain(|p| p.extension().is_some_and(|x| x == "seg"));
    segs.sort();
    segs.pop()
        .unwrap_or_else(|| panic!("no segment in {}", dir.display()))
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn run(ops: Vec<Op>, fsync: FsyncPolicy) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(fail)?;
    let clock = Arc::new(AtomicI64::new(1_700_000_000_000));
    let mut log = Some(open(dir.path(), fsync, &clock));
    let mut model: Vec<Vec<(String, Bytes)>> = vec![Vec::new(); SHARDS as usize];
    for op in ops {
        match op {
            Op::Append(batches) => {
                let l = log.as_ref().ok_or_else(|| fail("no log"))?;
                let mut waits = Vec::new();
                for batch in &batches {
                    let records: Vec<AppendRecord> = batch
                        .iter()
                        .map(|&(shard, size, tag)| AppendRecord {
                            shard,
                            partition_key: format!("pk-{tag}"),
                            data: payload(size, tag),
                            flags: 0,
                        })
                        .collect();
                    waits.push((batch.clone(), l.append(records)));
                }
                for (batch, rx) in waits {
                    let res = futures::executor::block_on(rx)
                        .map_err(fail)?
                        .map_err(fail)?;
                    for (&(shard, size, tag), pos) in batch.iter().zip(&res.positions) {
                        let m = &mut model[shard as usize];
                        prop_assert_eq!(*pos, m.len() as u64, "positions are dense and ordered");
                        m.push((format!("pk-{tag}"), payload(size, tag)));
                    }
                }
            }
            Op::Read {
                shard,
                from,
                max_records,
                max_bytes,
            } => {
                let l = log.as_ref().ok_or_else(|| fail("no log"))?;
                let (got, next) = l.read(shard, from, max_records, max_bytes).map_err(fail)?;
                let m = &model[shard as usize];
                let start = (from as usize).min(m.len());
                let mut expect = Vec::new();
                let mut bytes = 0;
                for (i, (pk, data)) in m.iter().enumerate().skip(start) {
                    let size = pk.len() + data.len();
                    if expect.len() == max_records
                        || (!expect.is_empty() && bytes + size > max_bytes)
                    {
                        break;
                    }
                    bytes += size;
                    expect.push((i as u64, pk.clone(), data.clone()));
                }
                let got: Vec<_> = got
                    .into_iter()
                    .map(|r| (r.position, r.partition_key, r.data))
                    .collect();
                prop_assert_eq!(&got, &expect);
                if let Some(last) = expect.last() {
                    prop_assert_eq!(next, last.0 + 1);
                }
                let state = l.shard_state(shard);
                prop_assert_eq!(state.next_position, m.len() as u64);
            }
            Op::Restart => {
                drop(log.take());
                log = Some(open(dir.path(), fsync, &clock));
            }
            Op::Tear(garbage) => {
                drop(log.take());
                let seg = newest_segment(dir.path());
                let mut bytes = std::fs::read(&seg).map_err(fail)?;
                bytes.extend_from_slice(&garbage);
                std::fs::write(&seg, bytes).map_err(fail)?;
                log = Some(open(dir.path(), fsync, &clock));
            }
        }
    }
    // Finally everything reads back in full, after one more restart.
    drop(log.take());
    let l = open(dir.path(), fsync, &clock);
    for (shard, m) in model.iter().enumerate() {
        let (got, _) = l
            .read(shard as u32, 0, usize::MAX, usize::MAX)
            .map_err(fail)?;
        prop_assert_eq!(got.len(), m.len());
        for (r, (pk, data)) in got.iter().zip(m) {
            prop_assert_eq!(&r.partition_key, pk);
            prop_assert_eq!(&r.data, data);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model_fsync(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, FsyncPolicy::Always)?;
    }

    #[test]
    fn store_matches_model_no_fsync(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, FsyncPolicy::Never)?;
    }
}
