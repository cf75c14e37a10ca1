//! Disk faults: a filesystem that fills up, and damaged bytes in sealed segments.
//!
//! The full-disk tests mount a small tmpfs on a temporary directory, which needs root (or
//! `CAP_SYS_ADMIN`). The project's test environments run `cargo test` as root, so these tests
//! run in the normal suite; where mounting is not permitted they FAIL and say why, rather
//! than skip silently and pass. Every mount is unmounted by a guard, also when a test panics.

use bytes::Bytes;
use futures::StreamExt;
use rill_engine::api::*;
use rill_engine::embedded::{OpenError, ThroughputLimits};
use rill_engine::store::{NO_SPACE_MESSAGE, StoreError};
use rill_engine::{Engine, EngineConfig};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rill_testkit::wire::{AMZ_DATE, UNSIGNED_AUTH};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A tmpfs of a few MiB mounted on a temporary directory; unmounted on drop.
struct SmallFs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it), or panics saying why not.
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let path = dir.path().to_path_buf();
        let target = CString::new(path.as_os_str().as_bytes())
            .unwrap_or_else(|e| panic!("mount point path: {e}"));
        let options = CString::new(format!("size={size},mode=0700"))
            .unwrap_or_else(|e| panic!("mount options: {e}"));
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        #[allow(unsafe_code)]
        let rc = unsafe {
            libc::mount(
                c"rill-disk-faults".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            panic!(
                "cannot mount a {size} tmpfs on {} ({err}): the disk-full tests need root or \
                 CAP_SYS_ADMIN to make a small filesystem; run them as root (scripts/test does)",
                path.display()
            );
        }
        SmallFs { path, _dir: dir }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let Ok(target) = CString::new(self.path.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: `target` is a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::umount2(target.as_ptr(), 0) };
        if rc != 0 {
            // Still busy (a file left open by a panicking test): detach it now, it goes once
            // the last file is closed.
            // SAFETY: as above.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            if rc != 0 {
                eprintln!(
                    "could not unmount {}: {}",
                    self.path.display(),
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        segment_bytes: 256 * 1024,
        limits: ThroughputLimits::off(),
        retention_interval: Duration::ZERO,
        ..Default::default()
    }
}

async fn create(engine: &Engine, name: &str, shards: i32) -> TestResult {
    engine
        .create_stream(CreateStreamInput {
            stream_name: name.into(),
            shard_count: Some(shards),
            ..Default::default()
        })
        .await?;
    Ok(())
}

/// A payload that names its record and differs from every other record's.
fn payload(i: usize, len: usize) -> Bytes {
    let tag = format!("record-{i:06}-");
    Bytes::from(
        tag.bytes()
            .chain((0..).map(|k: usize| (k * 31 + i) as u8))
            .take(len)
            .collect::<Vec<u8>>(),
    )
}

/// Acknowledged records: (shard id, sequence number) -> data.
type Acked = BTreeMap<(String, String), Bytes>;

async fn put(
    engine: &Engine,
    stream: &str,
    i: usize,
    len: usize,
) -> Result<(String, String), Error> {
    let out = engine
        .put_record(PutRecordInput {
            stream_name: Some(stream.into()),
            data: payload(i, len),
            partition_key: format!("key-{i}"),
            ..Default::default()
        })
        .await?;
    Ok((out.shard_id, out.sequence_number))
}

/// Asserts that `e` is the disk-full failure: `InternalFailure`, retryable, saying "no space
/// left on device", with a [`StoreError`] source that says the same.
fn assert_no_space(e: &Error) {
    assert_eq!(e.code(), "InternalFailure", "{e:?}");
    assert!(e.is_retryable(), "{e:?}");
    assert_eq!(e.message(), NO_SPACE_MESSAGE);
    assert!(e.message().contains("no space left on device"));
    let source = std::error::Error::source(e).and_then(|s| s.downcast_ref::<StoreError>());
    match source {
        Some(s @ StoreError::NoSpace { .. }) => {
            assert!(s.is_no_space());
            assert!(s.to_string().contains("no space left on device"), "{s}");
        }
        other => panic!("expected a StoreError::NoSpace source, got {other:?} in {e:?}"),
    }
}

/// Every record of a shard from its trim horizon to its tip, as (sequence number, data), or
/// the first error.
async fn read_shard(
    engine: &Engine,
    stream: &str,
    shard: &str,
    start: ShardIteratorType,
    at: Option<String>,
    limit: Option<i32>,
) -> (Vec<(String, Bytes)>, Option<Error>) {
    let mut got = Vec::new();
    let it = engine
        .get_shard_iterator(GetShardIteratorInput {
            stream_name: Some(stream.into()),
            shard_id: shard.into(),
            shard_iterator_type: Some(start),
            starting_sequence_number: at,
            ..Default::default()
        })
        .await;
    let mut it = match it {
        Ok(o) => o.shard_iterator,
        Err(e) => return (got, Some(e)),
    };
    for _ in 0..10_000 {
        let Some(iterator) = it else { break };
        let out = match engine
            .get_records(GetRecordsInput {
                shard_iterator: iterator,
                limit,
                ..Default::default()
            })
            .await
        {
            Ok(out) => out,
            Err(e) => return (got, Some(e)),
        };
        let at_tip = out.records.is_empty() && out.millis_behind_latest == Some(0);
        got.extend(out.records.into_iter().map(|r| (r.sequence_number, r.data)));
        if at_tip {
            return (got, None);
        }
        it = out.next_shard_iterator;
    }
    panic!("shard {shard} never reached its tip");
}

async fn shard_ids(engine: &Engine, stream: &str) -> TestResult<Vec<String>> {
    Ok(engine
        .list_shards(ListShardsInput {
            stream_name: Some(stream.into()),
            ..Default::default()
        })
        .await?
        .shards
        .into_iter()
        .map(|s| s.shard_id)
        .collect())
}

/// Reads every shard and asserts it holds exactly the acknowledged records, in sequence order.
async fn assert_holds_exactly(engine: &Engine, stream: &str, acked: &Acked) -> TestResult {
    let mut seen: Acked = BTreeMap::new();
    for shard in shard_ids(engine, stream).await? {
        let (records, err) = read_shard(
            engine,
            stream,
            &shard,
            ShardIteratorType::TrimHorizon,
            None,
            None,
        )
        .await;
        assert!(err.is_none(), "reading {shard}: {err:?}");
        // Decimal sequence numbers: numeric order is (length, text) order.
        let seqs: Vec<(usize, &str)> = records.iter().map(|(s, _)| (s.len(), s.as_str())).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{shard}: out of order"
        );
        for (seq, data) in records {
            assert!(
                seen.insert((shard.clone(), seq.clone()), data).is_none(),
                "{shard} {seq} read twice"
            );
        }
    }
    assert_eq!(seen.len(), acked.len(), "records read vs acknowledged");
    for (key, data) in acked {
        match seen.get(key) {
            Some(d) => assert!(d == data, "{key:?}: data differs"),
            None => panic!("acknowledged record {key:?} is missing"),
        }
    }
    Ok(())
}

/// Puts 16 KiB records, 8 at a time (so that they share commits), until the filesystem is
/// full: 3 rounds in a row without one success. Every failure must be the disk-full error.
async fn fill(engine: &Engine, stream: &str, acked: &mut Acked, next: &mut usize) -> usize {
    let mut failed = 0;
    let mut failed_rounds = 0;
    let mut rounds = 0;
    while failed_rounds < 3 {
        rounds += 1;
        assert!(rounds < 1_000, "the filesystem never filled up");
        let first = *next;
        *next += 8;
        let results = futures::future::join_all(
            (first..first + 8).map(|i| put(engine, stream, i, 16 * 1024)),
        )
        .await;
        let mut any_ok = false;
        for (i, r) in (first..).zip(results) {
            match r {
                Ok(key) => {
                    any_ok = true;
                    acked.insert(key, payload(i, 16 * 1024));
                }
                Err(e) => {
                    assert_no_space(&e);
                    failed += 1;
                }
            }
        }
        failed_rounds = if any_ok { 0 } else { failed_rounds + 1 };
    }
    failed
}

/// The disk fills up: puts fail with the typed disk-full error and store nothing, every
/// acknowledged record reads back, writes resume as soon as space is freed (no restart), and a
/// reopened engine holds exactly the acknowledged records.
#[tokio::test]
async fn a_full_disk_fails_puts_keeps_acknowledged_records_and_recovers_when_space_returns()
-> TestResult {
    let fs = SmallFs::mount("4m");
    // Two files of ours on the same filesystem, deleted later to give space back.
    let filler = [fs.path.join("filler-1"), fs.path.join("filler-2")];
    std::fs::write(&filler[0], vec![0x5a; 1024 * 1024])?;
    std::fs::write(&filler[1], vec![0xa5; 512 * 1024])?;
    let data = fs.path.join("data");
    let engine = Engine::open(&data, config()).await?;
    create(&engine, "full", 2).await?;

    let mut acked = Acked::new();
    let mut next = 0usize;
    let failed = fill(&engine, "full", &mut acked, &mut next).await;
    assert!(failed >= 24, "only {failed} puts failed");
    assert!(acked.len() > 50, "only {} records fit", acked.len());

    // PutRecords fails every entry, saying why, and stores none of them.
    let batch = engine
        .put_records(PutRecordsInput {
            stream_name: Some("full".into()),
            records: (0..5)
                .map(|i| PutRecordsRequestEntry {
                    data: payload(900_000 + i, 16 * 1024),
                    partition_key: format!("batch-{i}"),
                    explicit_hash_key: None,
                })
                .collect(),
            ..Default::default()
        })
        .await?;
    assert_eq!(batch.failed_record_count, 5);
    for r in &batch.records {
        assert_eq!(r.error_code.as_deref(), Some("InternalFailure"), "{r:?}");
        assert_eq!(r.error_message.as_deref(), Some(NO_SPACE_MESSAGE));
        assert!(r.sequence_number.is_none());
    }

    // Nothing half-written is served: the shards hold exactly the acknowledged records.
    assert_holds_exactly(&engine, "full", &acked).await?;

    // Space returns: the very next puts succeed, without a restart.
    std::fs::remove_file(&filler[0])?;
    put_round_ok(&engine, &mut acked, &mut next, 4).await;
    assert_holds_exactly(&engine, "full", &acked).await?;

    // Fill it again and restart while it is full: opening needs a little space (the
    // catalog's journal and shared-memory files), so it fails with the typed disk-full error
    // and changes nothing.
    fill(&engine, "full", &mut acked, &mut next).await;
    assert_holds_exactly(&engine, "full", &acked).await?;
    engine.close().await?;
    drop(engine);
    match Engine::open(&data, config()).await {
        Err(OpenError::Store(e)) => assert!(e.is_no_space(), "{e:?}"),
        Err(e) => panic!("expected a disk-full error, got {e:?}"),
        Ok(engine) => {
            // Opened after all (the catalog found room): then it must hold everything and
            // still refuse writes for want of space.
            assert_holds_exactly(&engine, "full", &acked).await?;
            let e = put(&engine, "full", next, 16 * 1024)
                .await
                .expect_err("the disk is still full");
            next += 1;
            assert_no_space(&e);
            engine.close().await?;
        }
    }

    // Space returns again: the engine opens and holds exactly the acknowledged records,
    // writes resume, and one more reopen holds everything.
    std::fs::remove_file(&filler[1])?;
    let engine = Engine::open(&data, config()).await?;
    assert_holds_exactly(&engine, "full", &acked).await?;
    put_round_ok(&engine, &mut acked, &mut next, 2).await;
    assert_holds_exactly(&engine, "full", &acked).await?;
    engine.close().await?;
    drop(engine);
    let engine = Engine::open(&data, config()).await?;
    assert_holds_exactly(&engine, "full", &acked).await?;
    engine.close().await?;
    Ok(())
}

/// `rounds` rounds of 8 concurrent 16 KiB puts, every one of which must succeed.
async fn put_round_ok(engine: &Engine, acked: &mut Acked, next: &mut usize, rounds: usize) {
    for _ in 0..rounds {
        let first = *next;
        *next += 8;
        let results = futures::future::join_all(
            (first..first + 8).map(|i| put(engine, "full", i, 16 * 1024)),
        )
        .await;
        for (i, r) in (first..).zip(results) {
            let key = r.unwrap_or_else(|e| panic!("put {i} after space was freed: {e:?}"));
            acked.insert(key, payload(i, 16 * 1024));
        }
    }
}

/// Every segment file under `dir`, oldest first within its stream.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "seg") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn flip_byte(path: &Path, at: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at)?;
    b[0] ^= 0x40;
    f.write_all_at(&b, at)?;
    f.sync_all()
}

fn assert_corrupt(e: &Error, file: &Path) {
    assert_eq!(e.code(), "InternalFailure", "{e:?}");
    assert!(e.message().contains("corrupt data in"), "{e:?}");
    let source = std::error::Error::source(e).and_then(|s| s.downcast_ref::<StoreError>());
    match source {
        Some(StoreError::Corrupt { path, .. }) => assert_eq!(path, file),
        other => panic!("expected a StoreError::Corrupt source, got {other:?} in {e:?}"),
    }
}

/// One flipped byte in a record of a sealed segment: reads return the records before it and
/// then fail with the corruption (GetRecords and SubscribeToShard alike), never the damaged
/// record; records after it stay readable; reopening refuses the directory naming the file
/// and the frame; with the byte restored everything is back.
#[tokio::test]
async fn a_corrupt_byte_in_a_sealed_segment_is_reported_and_never_served() -> TestResult {
    const RECORD: usize = 600;
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let config = || EngineConfig {
        segment_bytes: 4096,
        ..config()
    };
    let engine = Engine::open(&data, config()).await?;
    create(&engine, "rot", 1).await?;
    // Batches of 4 records of one key: each batch is one commit, one contiguous run.
    let mut seqs = Vec::new();
    for b in 0..10 {
        let out = engine
            .put_records(PutRecordsInput {
                stream_name: Some("rot".into()),
                records: (b * 4..b * 4 + 4)
                    .map(|i| PutRecordsRequestEntry {
                        data: payload(i, RECORD),
                        partition_key: "k".into(),
                        explicit_hash_key: None,
                    })
                    .collect(),
                ..Default::default()
            })
            .await?;
        assert_eq!(out.failed_record_count, 0);
        seqs.extend(out.records.into_iter().filter_map(|r| r.sequence_number));
    }
    assert_eq!(seqs.len(), 40);
    let shard = shard_ids(&engine, "rot").await?.remove(0);

    // Damage the second record of the first batch in the second segment (a sealed one).
    let files = segments(&data);
    assert!(files.len() >= 3, "expected several segments: {files:?}");
    let sealed = files[1].clone();
    let bytes = std::fs::read(&sealed)?;
    let (bad, at) = (0..40)
        .find_map(|i| {
            let tag = format!("record-{i:06}-");
            bytes
                .windows(tag.len())
                .position(|w| w == tag.as_bytes())
                .map(|at| (i, at))
        })
        .map(|(first, _)| first + 1)
        .and_then(|i| {
            let tag = format!("record-{i:06}-");
            bytes
                .windows(tag.len())
                .position(|w| w == tag.as_bytes())
                .map(|at| (i, at))
        })
        .ok_or("no record in the sealed segment")?;
    // Inside the payload, past its tag.
    flip_byte(&sealed, (at + 100) as u64)?;

    // GetRecords from the trim horizon: the records before the damage, then the error.
    let (records, err) = read_shard(
        &engine,
        "rot",
        &shard,
        ShardIteratorType::TrimHorizon,
        None,
        None,
    )
    .await;
    let err = err.ok_or("the damaged record was read without an error")?;
    assert_corrupt(&err, &sealed);
    assert_eq!(records.len(), bad, "records before the damaged one");
    for (i, (seq, d)) in records.iter().enumerate() {
        assert_eq!((seq, d), (&seqs[i], &payload(i, RECORD)));
    }
    // Reading at the damaged record fails every time; it is never returned.
    for limit in [Some(1), None] {
        let (records, err) = read_shard(
            &engine,
            "rot",
            &shard,
            ShardIteratorType::AtSequenceNumber,
            Some(seqs[bad].clone()),
            limit,
        )
        .await;
        assert!(records.is_empty(), "{} records", records.len());
        assert_corrupt(&err.ok_or("read the damaged record")?, &sealed);
    }
    // The records after it (the same run, later segments) are intact and readable.
    let (records, err) = read_shard(
        &engine,
        "rot",
        &shard,
        ShardIteratorType::AfterSequenceNumber,
        Some(seqs[bad].clone()),
        None,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(records.len(), 40 - bad - 1);
    for ((seq, d), i) in records.iter().zip(bad + 1..) {
        assert_eq!((seq, d), (&seqs[i], &payload(i, RECORD)));
    }

    // SubscribeToShard reads the same bytes: records before the damage, then the error.
    let stream_arn = engine
        .describe_stream_summary(DescribeStreamSummaryInput {
            stream_name: Some("rot".into()),
            ..Default::default()
        })
        .await?
        .stream_description_summary
        .stream_arn;
    let consumer = engine
        .register_stream_consumer(RegisterStreamConsumerInput {
            stream_arn,
            consumer_name: "reader".into(),
        })
        .await?
        .consumer
        .consumer_arn;
    let mut events = engine
        .subscribe_to_shard(SubscribeToShardInput {
            consumer_arn: consumer,
            shard_id: shard.clone(),
            starting_position: StartingPosition {
                position_type: ShardIteratorType::TrimHorizon,
                sequence_number: None,
                timestamp: None,
            },
        })
        .await?;
    let mut pushed = Vec::new();
    let err = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            match event {
                Ok(ev) => pushed.extend(ev.records.into_iter().map(|r| r.data)),
                Err(e) => return Some(e),
            }
        }
        None
    })
    .await?
    .ok_or("the subscription ended without reporting the damage")?;
    assert_corrupt(&err, &sealed);
    assert_eq!(pushed.len(), bad);
    assert!(
        pushed
            .iter()
            .zip(0..)
            .all(|(d, i)| *d == payload(i, RECORD))
    );
    assert!(events.next().await.is_none(), "the subscription ends");

    // Reopening reads the sealed segments' persisted indexes, not their frames: it opens,
    // and the damage is still reported where it is read, never served.
    engine.close().await?;
    drop(engine);
    let engine = Engine::open(&data, config()).await?;
    let (records, err) = read_shard(
        &engine,
        "rot",
        &shard,
        ShardIteratorType::TrimHorizon,
        None,
        None,
    )
    .await;
    assert_eq!(records.len(), bad, "the records before the damage");
    assert_corrupt(
        &err.ok_or("the damage is reported after a reopen")?,
        &sealed,
    );
    engine.close().await?;
    drop(engine);

    // Without its index and the heads file the sealed segment is scanned, and opening
    // refuses the directory, naming the file and the damaged frame.
    let index = sealed.with_extension("idx");
    assert!(index.exists(), "a sealed segment has a persisted index");
    std::fs::remove_file(&index)?;
    std::fs::remove_file(sealed.with_file_name("heads"))?;
    let frame_offset = (at - 8 - 23 - 1) as u64; // prefix, fixed body, the key "k"
    match Engine::open(&data, config()).await {
        Err(OpenError::Store(e @ StoreError::Corrupt { .. })) => {
            let StoreError::Corrupt { path, offset, .. } = &e else {
                unreachable!()
            };
            assert_eq!((path, *offset), (&sealed, frame_offset), "{e}");
            assert!(e.to_string().contains(&sealed.display().to_string()), "{e}");
        }
        Err(e) => panic!("expected StoreError::Corrupt, got {e:?}"),
        Ok(_) => panic!("opened a directory with a corrupt sealed segment"),
    }
    assert!(
        std::fs::read(&sealed)?.len() == bytes.len(),
        "recovery must not cut a sealed segment"
    );

    // Repaired (the byte restored), the directory opens and every record is back.
    flip_byte(&sealed, (at + 100) as u64)?;
    let engine = Engine::open(&data, config()).await?;
    let (records, err) = read_shard(
        &engine,
        "rot",
        &shard,
        ShardIteratorType::TrimHorizon,
        None,
        None,
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    let want: Vec<(String, Bytes)> = (0..40)
        .map(|i| (seqs[i].clone(), payload(i, RECORD)))
        .collect();
    assert_eq!(records, want);
    engine.close().await?;
    Ok(())
}

/// The log itself on a full disk, with segments so small that every commit starts a new one
/// (so creating segments fails too): every failure is `NoSpace`, no half-made segment file
/// is left behind, the files end at their last good frame (reopening cuts nothing), and
/// appends resume once space is freed. Under every fsync policy.
#[tokio::test]
async fn the_log_on_a_full_disk_leaves_its_segments_consistent() -> TestResult {
    for fsync in [
        rill_engine::FsyncPolicy::Always,
        rill_engine::FsyncPolicy::Interval(Duration::from_millis(5)),
        rill_engine::FsyncPolicy::Never,
    ] {
        log_on_a_full_disk(fsync)
            .await
            .map_err(|e| format!("{fsync:?}: {e}"))?;
    }
    Ok(())
}

async fn log_on_a_full_disk(fsync: rill_engine::FsyncPolicy) -> TestResult {
    use rill_engine::store::{AppendRecord, LogConfig, StreamLog};
    let fs = SmallFs::mount("1m");
    let filler = fs.path.join("filler");
    std::fs::write(&filler, vec![1u8; 256 * 1024])?;
    let dir = fs.path.join("log");
    let clock = || std::sync::Arc::new(|| 1_700_000_000_000i64);
    let log_config = LogConfig {
        fsync,
        segment_bytes: 4096,
    };
    let log = StreamLog::open(&dir, log_config.clone(), clock())?;
    let record = |i: usize| AppendRecord {
        shard: (i % 3) as u32,
        partition_key: format!("k{i}"),
        data: payload(i, 3000),
        flags: 0,
    };
    // (shard, position) -> index of the record.
    let mut stored: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    let mut i = 0;
    let mut failures = 0;
    let mut appended_since_failure = 0;
    while failures < 5 || appended_since_failure > 0 {
        assert!(i < 10_000, "the filesystem never filled up");
        // Three appends in flight at once share commits.
        let rxs: Vec<_> = (i..i + 3)
            .map(|k| (k, log.append(vec![record(k)])))
            .collect();
        i += 3;
        for (k, rx) in rxs {
            match rx.await? {
                Ok(r) => {
                    stored.insert((record(k).shard, r.positions[0]), k);
                    appended_since_failure += 1;
                }
                Err(e) => {
                    assert!(e.is_no_space(), "{e:?}");
                    failures += 1;
                    appended_since_failure = 0;
                }
            }
        }
        let files = segments(&dir);
        assert_eq!(
            files.len(),
            log.segment_count(),
            "a half-made segment was left behind: the newest files are {:?}",
            &files[files.len().saturating_sub(2)..]
        );
    }
    let check = |log: &StreamLog, stored: &BTreeMap<(u32, u64), usize>| {
        for shard in 0..3u32 {
            let (records, _) = log
                .read(shard, 0, usize::MAX, usize::MAX)
                .unwrap_or_else(|e| panic!("read shard {shard}: {e}"));
            let want: Vec<(u64, Bytes)> = stored
                .range((shard, 0)..(shard, u64::MAX))
                .map(|(&(_, p), &k)| (p, payload(k, 3000)))
                .collect();
            let got: Vec<(u64, Bytes)> =
                records.into_iter().map(|r| (r.position, r.data)).collect();
            assert_eq!(got, want, "shard {shard}");
        }
    };
    check(&log, &stored);

    // Space returns: appends succeed at once.
    std::fs::remove_file(&filler)?;
    for k in i..i + 30 {
        let r = log.append(vec![record(k)]).await??;
        stored.insert((record(k).shard, r.positions[0]), k);
    }
    check(&log, &stored);

    // Every file ends at its last good frame: reopening truncates nothing.
    log.close();
    drop(log);
    let sizes = |dir: &Path| -> Vec<(PathBuf, u64)> {
        segments(dir)
            .into_iter()
            .map(|p| {
                let len = std::fs::metadata(&p).map_or(0, |m| m.len());
                (p, len)
            })
            .collect()
    };
    let before = sizes(&dir);
    let log = StreamLog::open(&dir, log_config, clock())?;
    assert_eq!(sizes(&dir), before);
    check(&log, &stored);
    log.close();
    Ok(())
}

/// Over HTTP the full disk is AWS's `InternalFailure` (HTTP 500, which SDKs retry) with a
/// message that says so.
#[cfg(feature = "server")]
#[tokio::test]
async fn over_http_a_full_disk_is_a_500_internal_failure_naming_it() -> TestResult {
    use base64::Engine as _;
    use rill_engine::server::{self, ServerConfig};
    let fs = SmallFs::mount("2m");
    let engine = Engine::open(fs.path.join("data"), config()).await?;
    create(&engine, "full", 1).await?;
    let mut acked = Acked::new();
    let mut next = 0;
    fill(&engine, "full", &mut acked, &mut next).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server::serve(
        listener,
        std::sync::Arc::new(engine.clone()),
        ServerConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let body = serde_json::json!({
        "StreamName": "full",
        "PartitionKey": "k",
        "Data": base64::engine::general_purpose::STANDARD.encode(payload(next, 16 * 1024)),
    });
    let resp = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("authorization", UNSIGNED_AUTH)
        .header("x-amz-date", AMZ_DATE)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Kinesis_20131202.PutRecord")
        .body(body.to_string())
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(
        resp.headers()
            .get("x-amzn-ErrorType")
            .and_then(|v| v.to_str().ok()),
        Some("InternalFailure")
    );
    let json: serde_json::Value = serde_json::from_slice(&resp.bytes().await?)?;
    assert_eq!(json["__type"], "InternalFailure", "{json}");
    assert_eq!(json["message"], NO_SPACE_MESSAGE, "{json}");
    let _ = stop.send(());
    served.await??;
    engine.close().await?;
    Ok(())
}

/// A damaged frame length in a sealed segment: reads neither follow it into the middle of
/// other frames nor return what they would find there; reopening names the frame.
#[tokio::test]
async fn a_damaged_frame_length_is_caught_not_followed() -> TestResult {
    use rill_engine::store::{AppendRecord, LogConfig, StreamLog};
    let dir = tempfile::tempdir()?;
    let open = || {
        StreamLog::open(
            dir.path(),
            LogConfig {
                segment_bytes: 4096,
                ..Default::default()
            },
            std::sync::Arc::new(|| 1_700_000_000_000i64),
        )
    };
    let log = open()?;
    let record = |i: usize| AppendRecord {
        shard: 0,
        partition_key: "k".into(),
        data: payload(i, 600),
        flags: 0,
    };
    // Records 0..5 in one commit (one run of the first segment), 5..10 in the next segment.
    log.append((0..5).map(record).collect()).await??;
    log.append((5..10).map(record).collect()).await??;
    let files = segments(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let sealed = &files[0];
    let bytes = std::fs::read(sealed)?;
    let tag = "record-000001-";
    let at = bytes
        .windows(tag.len())
        .position(|w| w == tag.as_bytes())
        .ok_or("record 1 is not in the first segment")?;
    let frame = (at - 8 - 23 - 1) as u64; // prefix, fixed body, the key "k"
    flip_byte(sealed, frame)?; // the length's low byte

    let corrupt_at = |r: Result<(Vec<rill_engine::store::StoredRecord>, u64), StoreError>| match r {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!(&path, sealed);
            offset
        }
        other => panic!("expected StoreError::Corrupt, got {other:?}"),
    };
    // From 0: record 0, then the error at record 1's frame.
    let (records, next) = log.read(0, 0, 100, usize::MAX)?;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].position, &records[0].data),
        (0, &payload(0, 600))
    );
    assert_eq!(corrupt_at(log.read(0, next, 100, usize::MAX)), frame);
    // From 2: stepping over record 1 by its damaged length lands off the frame boundaries,
    // which is detected rather than read as records.
    let offset = corrupt_at(log.read(0, 2, 100, usize::MAX));
    assert!(offset > frame, "{offset}");
    // The next segment is untouched.
    let (records, _) = log.read(0, 5, 100, usize::MAX)?;
    let got: Vec<(u64, Bytes)> = records.into_iter().map(|r| (r.position, r.data)).collect();
    let want: Vec<(u64, Bytes)> = (5..10).map(|i| (i as u64, payload(i, 600))).collect();
    assert_eq!(got, want);
    log.close();
    drop(log);
    // Reopened, the damage is still caught where it is read; with the segment's index
    // gone, opening scans the segment and refuses, naming the frame.
    let log = open()?;
    assert_eq!(corrupt_at(log.read(0, 1, 100, usize::MAX)), frame);
    log.close();
    drop(log);
    // Without the index the read that reaches the segment scans it and fails the same way;
    // without the heads file too (which holds the segment's index head), opening scans it.
    std::fs::remove_file(sealed.with_extension("idx"))?;
    let log = open()?;
    assert_eq!(corrupt_at(log.read(0, 1, 100, usize::MAX)), frame);
    log.close();
    drop(log);
    assert!(
        !sealed.with_extension("idx").exists(),
        "no index is made of a damaged segment"
    );
    std::fs::remove_file(sealed.with_file_name("heads"))?;
    match open() {
        Err(StoreError::Corrupt { path, offset, .. }) => {
            assert_eq!((&path, offset), (sealed, frame));
        }
        other => panic!("expected StoreError::Corrupt, got {other:?}"),
    }
    Ok(())
}
