//! Retrieval: getting a shard's records from Kinesis to its processor.
//!
//! [`polling`] runs GetRecords in a task per shard, ahead of the processor.

pub mod polling;

/// A task that is aborted when its handle is dropped, so that dropping a worker abruptly
/// stops everything it spawned.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
