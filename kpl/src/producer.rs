//! The [`Producer`] handle: validation, backpressure and the handoff to the pipeline task.
//!
//! # Backpressure
//!
//! Two semaphores bound what is outstanding (taken by `send` and not finished): one in
//! records (`buffer_max_records`), one in bytes (`buffer_max_bytes`, data plus partition
//! key). `send` waits for both, first records then bytes, in FIFO order; `try_send` takes
//! both or neither. The pipeline returns the permits when a record finishes.
//!
//! A third bound paces `send` (not `try_send`): at most [`INTAKE`](crate::handoff::INTAKE) records it took may wait
//! in the handoff queue ([`crate::handoff`]) for the pipeline task, which returns those
//! permits as it takes records off the queue. Without it a sender that is faster than the
//! pipeline fills the whole buffer with records the pipeline has not even looked at
//! (hundreds of MB with the default `buffer_max_records`), and everything after runs on
//! cold memory.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use rill_engine::api::agg::UserRecord;
use rill_engine::api::{HashKey, Kinesis};
use tokio::sync::{Semaphore, TryAcquireError, oneshot};

use crate::aggregator::Meta;
use crate::config::ProducerConfig;
use crate::handoff::{Handoff, INTAKE, Msg, Shared};
use crate::pipeline::Pipeline;
use crate::record::{Ack, Record, RecordError, SendError, TrySendError};

/// Owned by the `Producer` clones only: dropping the last one tells the pipeline to flush
/// and stop.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Refused only when the pipeline has stopped already.
        let _ = self.shared.handoff.put(Msg::Dropped);
    }
}

/// The producer: cheap to clone (an `Arc`); every clone feeds the same pipeline.
///
/// Dropping the last clone flushes: the pipeline task keeps running on the runtime until
/// every outstanding record is acknowledged or failed (at most `RecordTtl`), then stops.
/// Call [`Producer::shutdown`] to wait for that.
#[derive(Debug, Clone)]
pub struct Producer {
    inner: Arc<Handle>,
}

/// The result of one user record: `.await` it for the [`Ack`] or the [`RecordError`].
///
/// Dropping it does not cancel the record; it is still put, and its result discarded.
#[derive(Debug)]
#[must_use = "the record is sent either way; await the future to learn its result"]
pub struct RecordFuture {
    rx: crate::slot::ResultRx,
}

impl Future for RecordFuture {
    type Output = Result<Ack, RecordError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.rx.poll(cx)
    }
}

impl Producer {
    /// Starts a producer over `kinesis` (the embedded `Engine`, `Remote`, or any other
    /// [`Kinesis`]).
    ///
    /// The pipeline runs as a task on the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as `tokio::spawn` does.
    pub fn new(kinesis: Arc<dyn Kinesis>, config: ProducerConfig) -> Producer {
        let shared = Arc::new(Shared {
            records: Semaphore::new(config.buffer_max_records.min(Semaphore::MAX_PERMITS)),
            bytes: Semaphore::new(config.buffer_max_bytes.min(Semaphore::MAX_PERMITS)),
            intake: Semaphore::new(INTAKE),
            outstanding: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            handoff: Handoff::default(),
            config,
        });
        tokio::spawn(Pipeline::run(kinesis, Arc::clone(&shared)));
        Producer {
            inner: Arc::new(Handle { shared }),
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.shared.config
    }

    /// User records taken by `send`/`try_send` and not yet acknowledged or failed.
    pub fn outstanding(&self) -> usize {
        self.inner.shared.outstanding.load(Ordering::Acquire)
    }

    /// Takes a record, waiting while the buffer is full; returns the future of its result.
    ///
    /// Fails at once, handing the record back, if the record is invalid (partition key not
    /// 1 to 256 characters, explicit hash key not a decimal below 2^128, data plus partition
    /// key above the stream's record size, empty stream name) or the producer is shut down.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it completes, the record was not taken
    /// (it is dropped with the future) and the buffer space it was waiting for is released;
    /// its place in the FIFO queue of waiting senders is lost. Once it completes, the record
    /// is taken and will be put even if the returned [`RecordFuture`] is dropped.
    pub async fn send(&self, record: Record) -> Result<RecordFuture, SendError> {
        let shared = &self.inner.shared;
        let (hash, size) = match validate(&shared.config, &record) {
            Ok(v) => v,
            Err(reason) => return Err(SendError::Invalid { record, reason }),
        };
        if shared.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed(record));
        }
        let Ok(records) = shared.records.acquire().await else {
            return Err(SendError::Closed(record));
        };
        let Ok(bytes) = shared.bytes.acquire_many(size as u32).await else {
            return Err(SendError::Closed(record));
        };
        let Ok(intake) = shared.intake.acquire().await else {
            return Err(SendError::Closed(record));
        };
        records.forget();
        bytes.forget();
        intake.forget();
        self.enqueue(record, hash, size, true)
            .map_err(SendError::Closed)
    }

    /// Takes a record if the buffer has room, without waiting.
    ///
    /// Hands the record back in [`TrySendError::Full`] when `buffer_max_records` records or
    /// `buffer_max_bytes` bytes are outstanding, and in the other variants as `send` does.
    pub fn try_send(&self, record: Record) -> Result<RecordFuture, TrySendError> {
        let shared = &self.inner.shared;
        let (hash, size) = match validate(&shared.config, &record) {
            Ok(v) => v,
            Err(reason) => return Err(TrySendError::Invalid { record, reason }),
        };
        if shared.closed.load(Ordering::Acquire) {
            return Err(TrySendError::Closed(record));
        }
        let records = match shared.records.try_acquire() {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(record)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(record)),
        };
        let bytes = match shared.bytes.try_acquire_many(size as u32) {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(record)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(record)),
        };
        records.forget();
        bytes.forget();
        self.enqueue(record, hash, size, false)
            .map_err(TrySendError::Closed)
    }

    /// Hands a record whose permits are taken to the pipeline; `paced`: it holds an intake
    /// permit.
    fn enqueue(
        &self,
        record: Record,
        hash: u128,
        size: usize,
        paced: bool,
    ) -> Result<RecordFuture, Record> {
        let shared = &self.inner.shared;
        let (tx, rx) = crate::slot::slot();
        shared.outstanding.fetch_add(1, Ordering::AcqRel);
        let Record {
            stream,
            partition_key,
            explicit_hash_key,
            data,
        } = record;
        let msg = Msg::Record {
            stream,
            record: UserRecord {
                partition_key,
                explicit_hash_key,
                data,
            },
            meta: Meta {
                hash,
                tx,
                arrived: Instant::now(),
                epoch: u64::from(paced),
                size,
                prior: Vec::new(),
            },
        };
        match shared.handoff.put(msg) {
            Ok(()) => Ok(RecordFuture { rx }),
            Err(msg) => {
                shared.outstanding.fetch_sub(1, Ordering::AcqRel);
                shared.records.add_permits(1);
                shared.bytes.add_permits(size);
                if paced {
                    shared.intake.add_permits(1);
                }
                match msg {
                    Msg::Record { stream, record, .. } => Err(Record {
                        stream,
                        partition_key: record.partition_key,
                        explicit_hash_key: record.explicit_hash_key,
                        data: record.data,
                    }),
                    // Unreachable: we sent a record.
                    _ => Err(Record::new("", "", bytes::Bytes::new())),
                }
            }
        }
    }

    /// Sends everything buffered now, without waiting for `RecordMaxBufferedTime`, and
    /// resolves when every record taken before the call is acknowledged or failed.
    ///
    /// Records taken while it waits are sent at once too (the pipeline is in flush mode
    /// while any flush waits).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future only stops the waiting; the records are sent anyway.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.shared.handoff.put(Msg::Flush(tx)).is_ok() {
            // An error means the pipeline is gone, so nothing is outstanding.
            let _ = rx.await;
        }
    }

    /// Refuses new records (on every clone), sends everything buffered, and resolves when
    /// every outstanding record is acknowledged or failed and the pipeline has stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown, once requested, proceeds without the future.
    pub async fn shutdown(&self) {
        let shared = &self.inner.shared;
        shared.closed.store(true, Ordering::Release);
        let (tx, rx) = oneshot::channel();
        if self.inner.shared.handoff.put(Msg::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Checks a record against the Kinesis rules; returns its hash key and buffer size.
fn validate(config: &ProducerConfig, record: &Record) -> Result<(u128, usize), String> {
    if record.stream.is_empty() || record.stream.len() > 128 {
        return Err("stream name must be 1 to 128 characters".into());
    }
    // At most 256 bytes is at most 256 characters: characters are counted for longer keys.
    let pk = &record.partition_key;
    if pk.is_empty() || (pk.len() > 256 && pk.chars().count() > 256) {
        return Err(format!(
            "partition key must be 1 to 256 characters, got {}",
            pk.chars().count()
        ));
    }
    let hash = match &record.explicit_hash_key {
        Some(k) => {
            k.parse::<HashKey>()
                .map_err(|e| format!("explicit hash key {k:?}: {e}"))?
                .0
        }
        None => key_hash(&record.partition_key),
    };
    let size = record.size();
    let max = config.max_record_size_for(&record.stream);
    if size > max {
        return Err(format!(
            "data plus partition key is {size} bytes, above the stream's record size of {max}"
        ));
    }
    Ok((hash, size))
}

/// Partition keys up to this many bytes are remembered by [`key_hash`].
const CACHED_KEY_MAX: usize = 40;
/// Sets of each thread's partition key cache (a power of two), of [`KEY_CACHE_WAYS`] entries.
const KEY_CACHE_SETS: usize = 2048;
/// Entries per set.
const KEY_CACHE_WAYS: usize = 4;

/// One remembered partition key and its hash key (64 bytes).
#[derive(Clone, Copy)]
struct CachedKey {
    hash: u128,
    len: u8,
    key: [u8; CACHED_KEY_MAX],
}

const EMPTY_KEY: CachedKey = CachedKey {
    hash: 0,
    len: u8::MAX,
    key: [0; CACHED_KEY_MAX],
};

thread_local! {
    /// 4-way set associative: a key's cheap hash picks a set of four entries, newest first;
    /// a new key goes to the front and pushes the oldest out (hits move nothing).
    static KEY_CACHE: std::cell::RefCell<Vec<[CachedKey; KEY_CACHE_WAYS]>> =
        std::cell::RefCell::new(vec![[EMPTY_KEY; KEY_CACHE_WAYS]; KEY_CACHE_SETS]);
}

/// The MD5 hash key of a partition key, remembered per thread for keys up to 40 bytes:
/// applications send many records under the same keys (user, device or order ids), and the
/// MD5 is a good part of what `send` costs. Exact: an entry is used only when its key is byte
/// for byte the same. 512 KiB per thread that sends (8,192 keys).
fn key_hash(key: &str) -> u128 {
    let bytes = key.as_bytes();
    if bytes.len() > CACHED_KEY_MAX {
        return HashKey::from_partition_key(key).0;
    }
    let mut h: u64 = bytes.len() as u64;
    for chunk in bytes.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    let set = (h >> 32) as usize & (KEY_CACHE_SETS - 1);
    let same = |c: &CachedKey| usize::from(c.len) == bytes.len() && &c.key[..bytes.len()] == bytes;
    KEY_CACHE.with_borrow_mut(|cache| {
        let ways = &mut cache[set];
        if let Some(hit) = ways.iter().find(|c| same(c)) {
            return hit.hash;
        }
        let hash = HashKey::from_partition_key(key).0;
        ways.rotate_right(1);
        let mut entry = EMPTY_KEY;
        entry.hash = hash;
        entry.len = bytes.len() as u8;
        entry.key[..bytes.len()].copy_from_slice(bytes);
        ways[0] = entry;
        hash
    })
}

#[cfg(test)]
mod key_cache_tests {
    use super::*;

    #[test]
    fn cached_hash_keys_are_the_md5_of_their_own_key() {
        // More keys than entries, each seen twice, short and long, so entries are both hit
        // and pushed out.
        let keys: Vec<String> = (0..20000)
            .map(|i| match i % 3 {
                0 => format!("k{i}"),
                1 => format!("user-{i:040}"),
                _ => format!("a-much-longer-key-than-the-cache-keeps-{i:020}"),
            })
            .collect();
        for _ in 0..2 {
            for k in &keys {
                assert_eq!(key_hash(k), HashKey::from_partition_key(k).0, "{k}");
            }
        }
    }
}
