//! The recovery policy on a real directory: damage that a crash cannot have made refuses to
//! open, naming the file, and changes nothing; a torn tail is cut; a sealed segment's index
//! is checked, and rebuilt when it fails a check.

use bytes::Bytes;
use rill_engine::api::Kinesis;
use rill_engine::store::{AppendRecord, LogConfig, StoreError, StreamLog};
use rill_engine::{Engine, EngineConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SHARDS: u32 = 3;

fn open(dir: &Path, segment_bytes: u64) -> Result<StreamLog, StoreError> {
    StreamLog::open(
        dir,
        LogConfig {
            segment_bytes,
            ..Default::default()
        },
        Arc::new(|| 1_700_000_000_000i64),
    )
}

fn record(i: usize) -> AppendRecord {
    AppendRecord {
        shard: (i % SHARDS as usize) as u32,
        partition_key: format!("key-{i}"),
        data: Bytes::from(format!("record {i:06} ").repeat(1 + i % 5)),
        flags: 0,
    }
}

/// Appends `n` records in commits of 10; returns (shard, position, data) of each.
async fn fill(log: &StreamLog, n: usize) -> TestResult<Vec<(u32, u64, Bytes)>> {
    let mut acked = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let records: Vec<AppendRecord> = chunk.iter().map(|&i| record(i)).collect();
        let res = log.append(records.clone()).await??;
        for (r, p) in records.into_iter().zip(res.positions) {
            acked.push((r.shard, p, r.data));
        }
    }
    Ok(acked)
}

fn assert_serves(log: &StreamLog, acked: &[(u32, u64, Bytes)]) -> TestResult {
    for shard in 0..SHARDS {
        let (got, _) = log.read(shard, 0, usize::MAX, usize::MAX)?;
        let want: Vec<(u64, &Bytes)> = acked
            .iter()
            .filter(|a| a.0 == shard)
            .map(|a| (a.1, &a.2))
            .collect();
        let got: Vec<(u64, &Bytes)> = got.iter().map(|r| (r.position, &r.data)).collect();
        assert_eq!(got, want, "shard {shard}");
    }
    Ok(())
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.extension().is_some_and(|x| x == ext));
    out.sort();
    out
}

fn names_file(e: &StoreError, file: &Path) -> bool {
    e.to_string().contains(&file.display().to_string())
}

/// The segment format's header: magic (8), version (4), shard count (4), segment (8),
/// positions (8 each), crc32c (4).
fn header_len(shards: usize) -> usize {
    24 + 8 * shards + 4
}

#[tokio::test]
async fn every_byte_of_the_newest_header_flipped_refuses_or_serves_everything() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Records first, then a second segment so that the newest header carries positions.
    let log = open(dir.path(), 4096)?;
    let acked = fill(&log, 60).await?;
    log.close();
    drop(log);
    let newest = files(dir.path(), "seg").pop().ok_or("no segment")?;
    let original = std::fs::read(&newest)?;
    let hlen = header_len(SHARDS as usize);
    assert!(original.len() > hlen, "the newest segment holds records");
    let mut refused = 0;
    for at in 0..hlen {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bytes = original.clone();
            bytes[at] ^= mask;
            std::fs::write(&newest, &bytes)?;
            match open(dir.path(), 4096) {
                Err(e) => {
                    assert!(
                        matches!(
                            e,
                            StoreError::Corrupt { .. } | StoreError::UnknownVersion { .. }
                        ),
                        "byte {at}: {e:?}"
                    );
                    assert!(names_file(&e, &newest), "byte {at}: {e}");
                    assert_eq!(
                        std::fs::read(&newest)?,
                        bytes,
                        "byte {at}: the file was changed"
                    );
                    refused += 1;
                }
                Ok(log) => {
                    assert_serves(&log, &acked)?;
                    log.close();
                }
            }
            std::fs::write(&newest, &original)?;
        }
    }
    // Every flip of a checksummed header is caught.
    assert_eq!(refused, hlen * 3);
    let log = open(dir.path(), 4096)?;
    assert_serves(&log, &acked)?;
    Ok(())
}

#[tokio::test]
async fn a_header_of_a_newer_version_refuses_and_changes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 1 << 20)?;
    let acked = fill(&log, 30).await?;
    log.close();
    drop(log);
    let seg = files(dir.path(), "seg").pop().ok_or("no segment")?;
    let original = std::fs::read(&seg)?;
    // Version 2 with a valid checksum, as a newer rill would write it.
    let mut newer = original.clone();
    newer[8..12].copy_from_slice(&2u32.to_le_bytes());
    let n = u32::from_le_bytes(newer[12..16].try_into()?) as usize;
    let end = 24 + 8 * n;
    let crc = crc32c::crc32c(&newer[..end]);
    newer[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &newer)?;
    match open(dir.path(), 1 << 20) {
        Err(e @ StoreError::UnknownVersion { .. }) => {
            let StoreError::UnknownVersion {
                path,
                offset,
                version,
                supported,
            } = &e
            else {
                unreachable!()
            };
            assert_eq!((path, *offset, *version, *supported), (&seg, 8, 2, 1));
            assert!(e.to_string().contains("version 2"), "{e}");
        }
        other => panic!("expected UnknownVersion, got {other:?}"),
    }
    assert_eq!(std::fs::read(&seg)?, newer, "the file is untouched");
    std::fs::write(&seg, &original)?;
    let log = open(dir.path(), 1 << 20)?;
    assert_serves(&log, &acked)?;
    Ok(())
}

#[tokio::test]
async fn damage_inside_the_newest_segment_refuses_a_torn_tail_is_cut() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 1 << 20)?;
    let acked = fill(&log, 40).await?;
    log.close();
    drop(log);
    let seg = files(dir.path(), "seg").pop().ok_or("no segment")?;
    let original = std::fs::read(&seg)?;
    let hlen = header_len(SHARDS as usize);
    // A clean close left an index of the newest segment: with it, opening reads no frame, and
    // damage is reported where it is read.
    let mid = hlen + (original.len() - hlen) / 2;
    let mut bad = original.clone();
    bad[mid] ^= 0x20;
    std::fs::write(&seg, &bad)?;
    {
        let log = open(dir.path(), 1 << 20)?;
        let mut corrupt = 0;
        for shard in 0..SHARDS {
            // A read returns the records before the damage; the one that starts at it fails.
            let mut at = 0;
            loop {
                match log.read(shard, at, usize::MAX, usize::MAX) {
                    Ok((got, next)) if !got.is_empty() => at = next,
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            matches!(e, StoreError::Corrupt { .. }) && names_file(&e, &seg),
                            "{e}"
                        );
                        corrupt += 1;
                        break;
                    }
                }
            }
        }
        assert_eq!(corrupt, 1, "the damaged shard's read reports it");
        log.close();
    }
    assert_eq!(std::fs::read(&seg)?, bad);
    // Without that index (as after a crash, when the segment had grown past it), the frames
    // are read at open.
    std::fs::remove_file(seg.with_extension("idx"))?;

    // A byte in a record's data in the middle: corruption, named, nothing cut.
    let mut bad = original.clone();
    bad[mid] ^= 0x20;
    std::fs::write(&seg, &bad)?;
    match open(dir.path(), 1 << 20) {
        Err(e @ StoreError::Corrupt { .. }) => assert!(names_file(&e, &seg), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(std::fs::read(&seg)?, bad, "the file is untouched");

    // The last record's data damaged (the file does not end inside a frame): refused too.
    let mut bad = original.clone();
    let last = bad.len() - 2;
    bad[last] ^= 0x01;
    std::fs::write(&seg, &bad)?;
    assert!(matches!(
        open(dir.path(), 1 << 20),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(&seg)?, bad);

    // A write cut short (the file ends inside a frame), and one whose blocks were allocated
    // but never written (zeros to the end): torn tails, cut off; every record stays.
    let extra = {
        let log = open_fresh(&original, &seg)?;
        log.append(vec![record(1000)]).await??;
        log.close();
        std::fs::read(&seg)?
    };
    assert!(extra.len() > original.len());
    let _ = std::fs::remove_file(seg.with_extension("idx"));
    for tail in [
        extra[..extra.len() - 3].to_vec(),
        extra[..original.len() + 5].to_vec(),
        [original.clone(), vec![0u8; 700]].concat(),
        [extra[..original.len() + 20].to_vec(), vec![0u8; 300]].concat(),
    ] {
        std::fs::write(&seg, &tail)?;
        let log = open(dir.path(), 1 << 20)?;
        assert_serves(&log, &acked)?;
        log.close();
        assert_eq!(
            std::fs::read(&seg)?,
            original,
            "cut back to the last whole frame"
        );
        std::fs::remove_file(seg.with_extension("idx"))?;
    }
    Ok(())
}

/// Writes `original` back to `seg` and opens its log.
fn open_fresh(original: &[u8], seg: &Path) -> Result<StreamLog, StoreError> {
    std::fs::write(seg, original).map_err(|e| StoreError::Io {
        op: "write",
        path: seg.to_path_buf(),
        source: e,
    })?;
    open(seg.parent().unwrap_or(Path::new(".")), 1 << 20)
}

#[tokio::test]
async fn sealed_segments_open_from_their_index_and_a_bad_index_is_rebuilt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 4096)?;
    let acked = fill(&log, 300).await?;
    log.close();
    drop(log);
    let segs = files(dir.path(), "seg");
    let idxs = files(dir.path(), "idx");
    assert!(segs.len() > 5, "{segs:?}");
    assert_eq!(
        idxs.len(),
        segs.len(),
        "every segment has an index after a clean close"
    );
    let good = std::fs::read(&idxs[1])?;

    // A flipped byte, a truncated index and a missing one are rebuilt from their segments.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x04;
    std::fs::write(&idxs[1], &flipped)?;
    std::fs::write(&idxs[2], &good[..good.len() - 7])?;
    std::fs::remove_file(&idxs[3])?;
    let log = open(dir.path(), 4096)?;
    assert_serves(&log, &acked)?;
    log.close();
    drop(log);
    assert_eq!(std::fs::read(&idxs[1])?, good, "rebuilt as it was");
    assert!(idxs[3].exists(), "a missing index is written again");

    // An index that passes its checksum but not the segment (another segment's) is not
    // trusted either.
    let other = std::fs::read(&idxs[4])?;
    std::fs::write(&idxs[1], &other)?;
    let log = open(dir.path(), 4096)?;
    assert_serves(&log, &acked)?;
    log.close();
    assert_eq!(std::fs::read(&idxs[1])?, good);

    // A sealed segment cut short no longer matches its index: the scan finds the damage.
    let seg = &segs[2];
    let bytes = std::fs::read(seg)?;
    std::fs::write(seg, &bytes[..bytes.len() - 10])?;
    match open(dir.path(), 4096) {
        Err(e @ StoreError::Corrupt { .. }) => assert!(names_file(&e, seg), "{e}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn an_unfinished_segment_creation_is_removed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 1 << 20)?;
    let acked = fill(&log, 20).await?;
    log.close();
    drop(log);
    // What a crash while creating segment 1 leaves: its file under the temporary name.
    let tmp = dir.path().join(format!("{:020}.seg.tmp", 1));
    std::fs::write(&tmp, b"RILLSEG")?;
    let log = open(dir.path(), 1 << 20)?;
    assert!(!tmp.exists());
    assert_serves(&log, &acked)?;
    Ok(())
}

#[tokio::test]
async fn the_engine_refuses_a_damaged_header_naming_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
    engine
        .create_stream(rill_engine::api::CreateStreamInput {
            stream_name: "s".into(),
            shard_count: Some(2),
            ..Default::default()
        })
        .await?;
    engine
        .put_record(rill_engine::api::PutRecordInput {
            stream_name: Some("s".into()),
            data: Bytes::from_static(b"hello"),
            partition_key: "k".into(),
            ..Default::default()
        })
        .await?;
    engine.close().await?;
    drop(engine);
    let mut segs = Vec::new();
    for d in std::fs::read_dir(dir.path().join("streams"))? {
        segs.extend(files(&d?.path(), "seg"));
    }
    let seg = segs.pop().ok_or("no segment")?;
    let mut bytes = std::fs::read(&seg)?;
    bytes[13] ^= 0x01; // the shard count
    std::fs::write(&seg, &bytes)?;
    match Engine::open(dir.path(), EngineConfig::default()).await {
        Err(e) => assert!(e.to_string().contains(&seg.display().to_string()), "{e}"),
        Ok(_) => panic!("opened a directory with a damaged segment header"),
    }
    assert_eq!(std::fs::read(&seg)?, bytes);
    Ok(())
}

/// (shard, time or trim, last arrival, position).
type Answer = (u64, u64, Option<i64>, u64);
/// (shard, positions served, next or trim, position at a time).
type View = (u32, Vec<u64>, u64, u64);

/// A log whose clock advances 1 ms at every reading (one arrival per commit).
fn open_ticking(dir: &Path, segment_bytes: u64) -> Result<StreamLog, StoreError> {
    let t = Arc::new(std::sync::atomic::AtomicI64::new(1_700_000_000_000));
    StreamLog::open(
        dir,
        LogConfig {
            segment_bytes,
            ..Default::default()
        },
        Arc::new(move || t.fetch_add(1, std::sync::atomic::Ordering::SeqCst)),
    )
}

#[tokio::test]
async fn searches_by_time_and_shard_states_agree_before_and_after_a_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open_ticking(dir.path(), 4096)?;
    fill(&log, 400).await?;
    // Every arrival the log holds, and a little before and after.
    let (lo, hi) = (1_700_000_000_000i64 - 2, 1_700_000_000_000i64 + 200);
    let answers = |log: &StreamLog| -> TestResult<Vec<Answer>> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            for at in lo..hi {
                out.push((
                    u64::from(shard),
                    at as u64,
                    None,
                    log.position_at_time(shard, at)?,
                ));
            }
            let st = log.shard_state(shard);
            out.push((
                u64::from(shard),
                st.trim_position,
                st.last_arrival_ms,
                st.next_position,
            ));
        }
        Ok(out)
    };
    let before = answers(&log)?;
    log.close();
    drop(log);
    assert!(files(dir.path(), "seg").len() > 5);
    // Searched first: the answers come from sealed segments whose runs are not loaded yet.
    let log = open_ticking(dir.path(), 4096)?;
    assert_eq!(answers(&log)?, before);
    Ok(())
}

#[tokio::test]
async fn a_sealed_segment_damaged_behind_a_good_index_head_fails_the_read_that_reaches_it()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 4096)?;
    let acked = fill(&log, 300).await?;
    log.close();
    drop(log);
    let segs = files(dir.path(), "seg");
    let idxs = files(dir.path(), "idx");
    // The runs of segment 2's index damaged (its head intact), and a frame of the segment.
    let mut idx = std::fs::read(&idxs[2])?;
    let last = idx.len() - 10;
    idx[last] ^= 0x10;
    std::fs::write(&idxs[2], &idx)?;
    let mut seg = std::fs::read(&segs[2])?;
    let mid = seg.len() / 2;
    seg[mid] ^= 0x10;
    std::fs::write(&segs[2], &seg)?;

    // The open reads only the head, so it succeeds.
    let log = open(dir.path(), 4096)?;
    for shard in 0..SHARDS {
        let want: Vec<u64> = acked.iter().filter(|a| a.0 == shard).map(|a| a.1).collect();
        // From the start: the records before segment 2 are served, then the read that
        // starts in it fails naming it.
        let (got, next) = log.read(shard, 0, usize::MAX, usize::MAX)?;
        let got: Vec<u64> = got.iter().map(|r| r.position).collect();
        assert!(!got.is_empty() && want.starts_with(&got), "shard {shard}");
        match log.read(shard, next, usize::MAX, usize::MAX) {
            Err(e @ StoreError::Corrupt { .. }) => assert!(names_file(&e, &segs[2]), "{e}"),
            other => panic!("shard {shard}: expected Corrupt, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read(&segs[2])?,
        seg,
        "the segment is left as it is"
    );
    Ok(())
}

#[tokio::test]
async fn a_sealed_segments_damaged_header_is_found_when_its_records_are_first_read() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 4096)?;
    let acked = fill(&log, 300).await?;
    log.close();
    drop(log);
    let segs = files(dir.path(), "seg");
    let mut seg = std::fs::read(&segs[1])?;
    seg[16] ^= 0x01; // the segment number
    std::fs::write(&segs[1], &seg)?;
    // Opening reads a sealed segment's index head only.
    let log = open(dir.path(), 4096)?;
    let mut failed = 0;
    for shard in 0..SHARDS {
        let want: Vec<u64> = acked.iter().filter(|a| a.0 == shard).map(|a| a.1).collect();
        let (got, next) = log.read(shard, 0, usize::MAX, usize::MAX)?;
        let got: Vec<u64> = got.iter().map(|r| r.position).collect();
        assert!(want.starts_with(&got), "shard {shard}");
        if got.len() < want.len() {
            match log.read(shard, next, usize::MAX, usize::MAX) {
                Err(e @ StoreError::Corrupt { .. }) => {
                    assert!(names_file(&e, &segs[1]), "{e}");
                    failed += 1;
                }
                other => panic!("shard {shard}: expected Corrupt, got {other:?}"),
            }
        }
    }
    assert!(failed > 0, "some shard has records in the damaged segment");
    assert_eq!(
        std::fs::read(&segs[1])?,
        seg,
        "the segment is left as it is"
    );
    Ok(())
}

#[tokio::test]
async fn a_log_trimmed_by_retention_reopens_to_the_same_records_and_trim_horizons() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open_ticking(dir.path(), 4096)?;
    let acked = fill(&log, 400).await?;
    let segments = log.segment_count();
    // Arrivals are 1 ms apart per commit: this cutoff falls about a third of the way in.
    let deleted = log.enforce_retention(1_700_000_000_000 + 13).await?;
    assert!(deleted > 0 && deleted < segments, "{deleted} of {segments}");
    let view = |log: &StreamLog| -> TestResult<Vec<View>> {
        let mut out = Vec::new();
        for shard in 0..SHARDS {
            let (got, next) = log.read(shard, 0, usize::MAX, usize::MAX)?;
            let trim = log.shard_state(shard).trim_position;
            let at = log.position_at_time(shard, 1_700_000_000_000 + 25)?;
            out.push((
                shard,
                got.iter().map(|r| r.position).collect(),
                next.max(trim),
                at,
            ));
        }
        Ok(out)
    };
    let before = view(&log)?;
    for (shard, got, _, _) in &before {
        let kept = acked.iter().filter(|a| a.0 == *shard).count();
        assert!(
            !got.is_empty() && got.len() < kept,
            "shard {shard}: retention trimmed it"
        );
    }
    log.close();
    drop(log);
    let log = open_ticking(dir.path(), 4096)?;
    assert_eq!(view(&log)?, before);
    Ok(())
}

/// The real filesystem, counting the files opened and read.
#[derive(Debug, Default)]
struct Counting {
    opened: std::sync::Mutex<Vec<PathBuf>>,
}

impl rill_engine::store::fs::Fs for Counting {
    fn create_dir_all(&self, dir: &Path) -> std::io::Result<()> {
        rill_engine::store::fs::StdFs.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<String>> {
        rill_engine::store::fs::StdFs.list(dir)
    }
    fn create(&self, path: &Path) -> std::io::Result<Arc<dyn rill_engine::store::fs::FileIo>> {
        rill_engine::store::fs::StdFs.create(path)
    }
    fn open(&self, path: &Path) -> std::io::Result<Arc<dyn rill_engine::store::fs::FileIo>> {
        if let Ok(mut o) = self.opened.lock() {
            o.push(path.to_path_buf());
        }
        rill_engine::store::fs::StdFs.open(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        rill_engine::store::fs::StdFs.rename(from, to)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        rill_engine::store::fs::StdFs.remove(path)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        rill_engine::store::fs::StdFs.sync_dir(dir)
    }
    fn file_len(&self, path: &Path) -> std::io::Result<u64> {
        rill_engine::store::fs::StdFs.file_len(path)
    }
}

fn open_counting(dir: &Path) -> Result<(StreamLog, Arc<Counting>), StoreError> {
    let fs = Arc::new(Counting::default());
    let log = StreamLog::open_with(
        fs.clone(),
        dir,
        LogConfig {
            segment_bytes: 4096,
            ..Default::default()
        },
        Arc::new(|| 1_700_000_000_000i64),
    )?;
    Ok((log, fs))
}

fn opened(fs: &Counting) -> Vec<String> {
    let o = fs.opened.lock().map(|o| o.clone()).unwrap_or_default();
    o.iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

#[tokio::test]
async fn opening_reads_the_heads_file_and_no_sealed_segment_and_a_bad_heads_file_is_rewritten()
-> TestResult {
    let dir = tempfile::tempdir()?;
    let log = open(dir.path(), 4096)?;
    let acked = fill(&log, 300).await?;
    log.close();
    drop(log);
    let segs = files(dir.path(), "seg");
    assert!(segs.len() > 5);
    let newest = segs
        .last()
        .and_then(|p| p.file_name())
        .ok_or("no segment")?;
    let newest = newest.to_string_lossy().into_owned();

    // A clean reopen opens the heads file and the newest segment (and its index), nothing
    // of the sealed ones.
    let (log, fs) = open_counting(dir.path())?;
    let names = opened(&fs);
    assert!(names.contains(&"heads".to_string()), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n == "heads" || n.starts_with(&newest[..20])),
        "opened {names:?}"
    );
    // Reads open the sealed segments they need, and serve everything.
    assert_serves(&log, &acked)?;
    assert!(opened(&fs).len() > names.len());
    log.close();
    drop(log);

    // A damaged heads file is not used: every segment's index head is read instead, the
    // records are served, and the file is written anew.
    let heads = dir.path().join("heads");
    let good = std::fs::read(&heads)?;
    let mut bad = good.clone();
    bad[good.len() / 2] ^= 0x01;
    std::fs::write(&heads, &bad)?;
    let (log, fs) = open_counting(dir.path())?;
    assert!(opened(&fs).iter().filter(|n| n.ends_with(".idx")).count() >= segs.len() - 1);
    assert_serves(&log, &acked)?;
    log.close();
    drop(log);
    assert_eq!(std::fs::read(&heads)?, good, "rewritten as it was");
    Ok(())
}
