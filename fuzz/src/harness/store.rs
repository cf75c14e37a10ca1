//! The store-recovery harness.

use super::*;

pub(super) const CLOCK_MS: i64 = 1_700_000_000_000;

pub(super) fn fuzz_dir() -> tempfile::TempDir {
    // tmpfs when there is one: recovery syncs what it truncates.
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new().prefix("rill-fuzz").tempdir_in(shm)
    {
        return d;
    }
    tempfile::Builder::new()
        .prefix("rill-fuzz")
        .tempdir()
        .expect("temporary directory")
}

pub(super) fn open_log(dir: &Path, segment_bytes: u64) -> Result<StreamLog, StoreError> {
    StreamLog::open(
        dir,
        LogConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes,
        },
        Arc::new(|| CLOCK_MS),
    )
}

pub(super) fn segment_file(dir: &Path, id: u64) -> std::path::PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// A valid segment header (see the store's module docs) with no frames.
pub(super) fn empty_segment(id: u64, next_positions: &[u64]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"RILLSEG\x01");
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&(next_positions.len() as u32).to_le_bytes());
    h.extend_from_slice(&id.to_le_bytes());
    for p in next_positions {
        h.extend_from_slice(&p.to_le_bytes());
    }
    let crc = crc32c::crc32c(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h
}

/// Shards the store harness reads back after recovery.
pub(super) const SHARDS: u32 = 4;

/// Store recovery. First byte: bit 0 clear, the rest of the input is a segment file, the
/// newest (bit 1 clear) or a sealed one followed by a valid empty newest segment (bit 1 set);
/// bit 0 set, records and damage made from the input: a valid log of several segments is
/// written, then bytes are flipped, files truncated or extended, or segments deleted.
///
/// Invariants: opening returns the log or a `Corrupt`/`UnknownVersion`/`Io` error, never
/// panics; a recovered log serves, per shard, a gap-free run of positions (up to damage that
/// a read reports as `Corrupt`) and only records that were written (checksums verified); it accepts an append and reads it back; and it reopens cleanly with
/// the same records.
pub fn store_recovery(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.u8();
    let dir = fuzz_dir();
    let path = dir.path();
    let written = if mode & 1 == 0 {
        let file = input.rest();
        std::fs::write(segment_file(path, 0), file).expect("write segment");
        if mode & 2 != 0 {
            std::fs::write(segment_file(path, 1), empty_segment(1, &[])).expect("write segment");
        }
        None
    } else {
        Some(write_and_damage(path, &mut input))
    };
    let log = match open_log(path, 1024) {
        Ok(log) => log,
        Err(
            StoreError::Corrupt { .. }
            | StoreError::UnknownVersion { .. }
            | StoreError::Io { .. }
            | StoreError::NoSpace { .. },
        ) => {
            return;
        }
        Err(e) => panic!("recovery failed with an unexpected error: {e}"),
    };
    let served = read_all(&log);
    if let Some((written, files)) = &written {
        for (shard, records) in &served {
            for r in records {
                if written.get(&(*shard, r.0)) == Some(&(r.1.clone(), r.2.clone())) {
                    continue;
                }
                // Not a record that was written: then the damage itself made a frame that
                // passes its checksum (fuzzing forges those), and it is in a file verbatim.
                let frame = encode_frame(*shard, r);
                assert!(
                    files
                        .iter()
                        .any(|f| f.windows(frame.len()).any(|w| w == &frame[..])),
                    "shard {shard} position {} is served but was never written: {r:?}",
                    r.0
                );
            }
        }
    }
    // The recovered log takes an append and serves it.
    let shard = u32::from(mode >> 4) % SHARDS;
    let result = log
        .append(vec![AppendRecord {
            shard,
            partition_key: "after-recovery".into(),
            data: Bytes::from_static(b"appended after recovery"),
            flags: 0,
        }])
        .blocking_recv()
        .expect("the writer answers");
    let appended = match result {
        Ok(r) => Some(r.positions[0]),
        // Writing to a recovered log may hit an I/O error (a position space that ran out),
        // never anything else.
        Err(StoreError::Io { .. } | StoreError::Corrupt { .. } | StoreError::NoSpace { .. }) => {
            None
        }
        Err(e) => panic!("append after recovery failed: {e}"),
    };
    if let Some(position) = appended {
        let (records, _) = log
            .read(shard, position, 1, 1 << 20)
            .expect("read after recovery");
        assert_eq!(records.len(), 1, "the appended record reads back");
        assert_eq!(&records[0].data[..], b"appended after recovery");
    }
    let before = read_all(&log);
    log.close();
    drop(log);
    let log = open_log(path, 1024).expect("a recovered log reopens");
    assert_eq!(read_all(&log), before, "reopening changed the records");
    log.close();
}

/// A record as a recovered log serves it: position, partition key, data, arrival, flags.
pub(super) type Served = (u64, String, Bytes, i64, u8);

/// The segment frame of a served record (see the store's module docs).
pub(super) fn encode_frame(
    shard: u32,
    (position, key, data, arrival_ms, flags): &Served,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&shard.to_le_bytes());
    body.extend_from_slice(&position.to_le_bytes());
    body.extend_from_slice(&arrival_ms.to_le_bytes());
    body.push(*flags);
    body.extend_from_slice(&(key.len() as u16).to_le_bytes());
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(data);
    let mut frame = Vec::new();
    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    frame.extend(body);
    frame
}

/// Every record of shards `0..SHARDS`, as (position, key, data) per shard; asserts that
/// positions are gap-free from the trim horizon.
pub(super) fn read_all(log: &StreamLog) -> Vec<(u32, Vec<Served>)> {
    let mut out = Vec::new();
    for shard in 0..SHARDS {
        let state = log.shard_state(shard);
        let mut records = Vec::new();
        let mut at = 0;
        let mut damaged = false;
        loop {
            let (batch, next) = match log.read(shard, at, 100, 1 << 20) {
                Ok(r) => r,
                // Damage in a sealed segment whose persisted index is intact is found where
                // it is read: the records before it are served, it never is.
                Err(StoreError::Corrupt { .. }) => {
                    damaged = true;
                    break;
                }
                Err(e) => panic!("reading a recovered log failed: {e}"),
            };
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let expected = records
                    .last()
                    .map_or(state.trim_position, |r: &Served| r.0 + 1);
                assert_eq!(r.position, expected, "shard {shard}: positions have a gap");
                records.push((r.position, r.partition_key, r.data, r.arrival_ms, r.flags));
            }
            at = next;
        }
        if let Some(last) = records.last().filter(|_| !damaged) {
            assert_eq!(
                last.0 + 1,
                state.next_position,
                "shard {shard}: next position"
            );
        }
        out.push((shard, records));
    }
    out
}

pub(super) type Written = HashMap<(u32, u64), (String, Bytes)>;

/// Writes a log from the input (small segments, so there are several), then damages its
/// files as the input says. Returns what was written, and the files' bytes after the damage.
pub(super) fn write_and_damage(dir: &Path, input: &mut Input<'_>) -> (Written, Vec<Vec<u8>>) {
    let mut written = Written::new();
    {
        let log = open_log(dir, 64 + u64::from(input.u8()) * 4).expect("open a new log");
        for _ in 0..1 + input.u8() % 6 {
            let batch: Vec<AppendRecord> = (0..1 + input.u8() % 5)
                .map(|_| AppendRecord {
                    shard: u32::from(input.u8()) % SHARDS,
                    partition_key: input.string(16),
                    data: Bytes::copy_from_slice(input.bytes(48)),
                    flags: 0,
                })
                .collect();
            let result = log
                .append(batch.clone())
                .blocking_recv()
                .expect("the writer answers")
                .expect("append to a new log");
            for (r, p) in batch.into_iter().zip(result.positions) {
                written.insert((r.shard, p), (r.partition_key, r.data));
            }
        }
        log.close();
    }
    let mut ids: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("list log")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    ids.sort();
    if ids.is_empty() {
        return (written, Vec::new());
    }
    for _ in 0..1 + input.u8() % 3 {
        let file = &ids[usize::from(input.u8()) % ids.len()];
        let Ok(mut bytes) = std::fs::read(file) else {
            continue;
        };
        let at = usize::from(input.u16());
        match input.u8() % 6 {
            0 | 1 => {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= input.u8() | 1;
                }
            }
            2 => bytes.truncate(at % (bytes.len() + 1)),
            3 => bytes.extend_from_slice(input.bytes(64)),
            4 => {
                let patch = input.bytes(8);
                let i = at % (bytes.len() + 1);
                let end = (i + patch.len()).min(bytes.len());
                bytes.splice(i..end, patch.iter().copied());
            }
            _ => {
                let _ = std::fs::remove_file(file);
                continue;
            }
        }
        std::fs::write(file, &bytes).expect("rewrite segment");
    }
    let files = ids.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    (written, files)
}
