//! Reusable read buffers for large segment reads.
//!
//! A GetRecords of up to 10 MiB reads whole runs of frames into one buffer and hands out
//! the records as [`Bytes`] slices of it. Allocating that buffer afresh for every read costs
//! more than the read: the allocator returns freed multi-megabyte blocks to the kernel, so
//! each new one is zeroed page by page through page faults (measured: a third of a drain's
//! CPU time went to faults, zeroing and `madvise`). This pool keeps freed buffers instead.
//!
//! Invariants:
//! * A buffer's length is always its capacity; a read uses a prefix of it and the [`Bytes`]
//!   made from it show only that prefix, which the read filled completely. Bytes left over
//!   from an earlier read are never visible.
//! * A buffer comes back to the pool when the last [`Bytes`] slice of it is dropped (so a
//!   caller that keeps one record keeps its whole buffer, as it would without the pool).
//! * The pool holds at most [`POOL_BYTES`] of idle buffers, process-wide; buffers under
//!   [`MIN_POOLED`] are left to the allocator, which serves small sizes well.

use bytes::Bytes;
use parking_lot::Mutex;

/// Idle bytes the pool keeps at most (three 10 MiB reads' worth).
pub(crate) const POOL_BYTES: usize = 32 << 20;
/// Buffers smaller than this are allocated and freed normally.
pub(crate) const MIN_POOLED: usize = 256 << 10;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of at least `len` bytes, whose first `len` bytes the caller overwrites.
pub(crate) fn take(len: usize) -> Vec<u8> {
    if len >= MIN_POOLED {
        let mut pool = POOL.lock();
        // The smallest idle buffer that fits.
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() >= len)
            .min_by_key(|(_, b)| b.len())
            .map(|(i, _)| i);
        if let Some(i) = best {
            return pool.swap_remove(i);
        }
        // Round up to whole MiB, so a buffer fits later reads of similar size.
        let cap = len.div_ceil(1 << 20) << 20;
        drop(pool);
        return vec![0; cap];
    }
    vec![0; len]
}

/// Freezes the first `len` bytes of `buf` (from [`take`], filled by the caller) as
/// [`Bytes`]; the buffer returns to the pool when the last slice of it is dropped.
pub(crate) fn freeze(mut buf: Vec<u8>, len: usize) -> Bytes {
    if buf.len() < MIN_POOLED {
        buf.truncate(len);
        return Bytes::from(buf);
    }
    let len = len.min(buf.len());
    Bytes::from_owner(Pooled { buf, len })
}

/// A pooled buffer while [`Bytes`] slices of it are alive.
struct Pooled {
    buf: Vec<u8>,
    len: usize,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut pool = POOL.lock();
        let idle: usize = pool.iter().map(Vec::len).sum();
        if idle + buf.len() <= POOL_BYTES {
            pool.push(buf);
        } else if let Some((i, _)) = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.len() < buf.len())
            .min_by_key(|(_, b)| b.len())
        {
            // Keep the larger buffer when the smallest idle one makes room for it.
            if idle - pool[i].len() + buf.len() <= POOL_BYTES {
                pool.swap_remove(i);
                pool.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_buffer_shows_only_what_the_new_read_filled() {
        let mut a = take(MIN_POOLED * 2);
        a.fill(7);
        let first = freeze(a, MIN_POOLED * 2);
        assert!(first.iter().all(|&b| b == 7));
        drop(first);
        let mut b = take(MIN_POOLED + 1);
        b[..MIN_POOLED + 1].fill(9);
        let second = freeze(b, MIN_POOLED + 1);
        assert_eq!(second.len(), MIN_POOLED + 1);
        assert!(second.iter().all(|&x| x == 9));
    }

    #[test]
    fn small_buffers_are_exact_and_not_pooled() {
        let b = take(10);
        assert_eq!(b.len(), 10);
        let bytes = freeze(b, 4);
        assert_eq!(bytes.len(), 4);
    }

    #[test]
    fn the_pool_never_holds_more_than_its_bound() {
        let bufs: Vec<Bytes> = (0..8)
            .map(|_| {
                let len = 10 << 20;
                freeze(take(len), len)
            })
            .collect();
        drop(bufs);
        let idle: usize = POOL.lock().iter().map(Vec::len).sum();
        assert!(idle <= POOL_BYTES, "{idle} idle bytes");
    }
}
