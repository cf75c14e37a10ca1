//! Blocking work of the engine, kept off the tokio workers.
//!
//! Catalog calls (SQLite with `synchronous=FULL`: a write is an fsync), log reads (preads of
//! up to 10 MiB), log creation and recovery block the calling thread. The engine runs them
//! on tokio's blocking pool ([`tokio::task::spawn_blocking`]), so one client's 10 MiB
//! GetRecords or a catalog fsync does not stall the other connections served by the same
//! worker. Without a tokio runtime (the engine's own background threads drive their futures
//! with `futures::executor::block_on`) the work runs inline, on the calling thread.
//!
//! **Cancellation.** A blocking task runs to completion even when the future awaiting it is
//! dropped. So every closure handed to [`Engine::catalog`] does the catalog write *and* the
//! in-memory update that must agree with it together, under the catalog mutex: a cancelled
//! caller leaves both changed or neither, never one of them. Work after the closure (logging,
//! timers) is what cancelling may skip.

use super::{Engine, Stream};
use crate::api::Error;
use crate::store::{Catalog, StoreError, StoredRecord};
use std::sync::Arc;

/// Runs `f` on tokio's blocking pool, or inline when no tokio runtime is running. A panic
/// in `f` resumes in the caller, as it would have inline; a runtime shutting down before `f`
/// started answers [`StoreError::Closed`].
///
/// # Cancel safety
///
/// Dropping the future does not stop `f`: once started it runs to completion and its
/// result is dropped.
pub(crate) async fn blocking<T, E, F>(f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => match rt.spawn_blocking(f).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Closed.into()),
        },
        Err(_) => f(),
    }
}

/// Reads records of `shard` of `stream`'s log on a blocking thread (see
/// [`crate::store::StreamLog::read`]).
///
/// # Cancel safety
///
/// Cancel safe: a read changes nothing; a cancelled one finishes on its thread unobserved.
pub(crate) async fn read_log(
    stream: &Arc<Stream>,
    shard: u32,
    from: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<(Vec<StoredRecord>, u64), Error> {
    let s = Arc::clone(stream);
    blocking(move || {
        s.log
            .read(shard, from, max_records, max_bytes)
            .map_err(Error::from)
    })
    .await
}

/// The first position of `shard` of `stream` at or after `at_ms` (see
/// [`crate::store::StreamLog::position_at_time`]), on a blocking thread: it may read a
/// sealed segment's persisted index.
///
/// # Cancel safety
///
/// Cancel safe: a search changes nothing but the in-memory index it loads, which a
/// cancelled one still completes unobserved.
pub(crate) async fn position_at_time(
    stream: &Arc<Stream>,
    shard: u32,
    at_ms: i64,
) -> Result<u64, Error> {
    let s = Arc::clone(stream);
    blocking(move || s.log.position_at_time(shard, at_ms).map_err(Error::from)).await
}

impl Engine {
    /// Runs `f` with the catalog locked, on a blocking thread. `f` also makes the in-memory
    /// changes that must agree with what it writes (see the module docs), so they happen
    /// under the catalog mutex, in the order the engine has always taken its locks: the
    /// catalog, then the registry, a stream's metadata or consumers.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not stop `f`: its catalog writes and in-memory updates all
    /// happen, and only its result is lost.
    pub(crate) async fn catalog<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Catalog) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        blocking(move || f(&mut inner.catalog.lock())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::*;
    use std::collections::HashMap;

    /// On a runtime with one worker, a catalog call that waits for the catalog lets the
    /// worker serve other calls meanwhile: with the call on the worker itself, nothing else
    /// would run until the catalog was free (and here, since the test holds it, never).
    #[test]
    // The test holds the catalog lock across awaits on purpose: that is the stall it shows
    // the engine surviving.
    #[allow(clippy::await_holding_lock)]
    fn a_call_waiting_for_the_catalog_does_not_hold_the_worker() -> Result<(), Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal("runtime", e))?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let dir = tempfile::tempdir().map_err(|e| Error::internal("tempdir", e))?;
        let path = dir.path().to_path_buf();
        // The runtime runs on its own thread, so a stalled worker fails the test below
        // instead of hanging it.
        let runner = std::thread::spawn(move || {
            let result = rt.block_on(async move {
                let engine = Engine::open(&path, Default::default())
                    .await
                    .map_err(|e| Error::internal("open", e))?;
                engine
                    .create_stream(CreateStreamInput {
                        stream_name: "s".into(),
                        shard_count: Some(1),
                        ..Default::default()
                    })
                    .await?;
                let held = engine.inner.catalog.lock();
                let e2 = engine.clone();
                let tagging = tokio::spawn(async move {
                    e2.add_tags_to_stream(AddTagsToStreamInput {
                        stream_name: Some("s".into()),
                        tags: HashMap::from([("k".into(), "v".into())]),
                        ..Default::default()
                    })
                    .await
                });
                // Let the tagging task run up to its wait for the catalog.
                tokio::task::yield_now().await;
                // The worker is free: an in-memory call completes while the tag call waits.
                let summary = engine
                    .describe_stream_summary(DescribeStreamSummaryInput {
                        stream_name: Some("s".into()),
                        ..Default::default()
                    })
                    .await?;
                assert_eq!(summary.stream_description_summary.open_shard_count, 1);
                assert!(!tagging.is_finished(), "the tag call waits for the catalog");
                drop(held);
                tagging
                    .await
                    .map_err(|e| Error::internal("tagging task", e))??;
                assert_eq!(
                    engine
                        .list_tags_for_stream(ListTagsForStreamInput {
                            stream_name: Some("s".into()),
                            ..Default::default()
                        })
                        .await?
                        .tags
                        .len(),
                    1
                );
                engine.close().await
            });
            let _ = done_tx.send(result);
        });
        // A watchdog, not synchronisation: a worker held by the catalog never answers.
        let result = done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .map_err(|_| Error::internal("the worker stalled", "no answer in 60 s"))?;
        runner
            .join()
            .map_err(|_| Error::internal("runner", "panicked"))?;
        result
    }
}
