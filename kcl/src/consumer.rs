//! The processing loop of one shard: from a held lease to processor calls.
//!
//! # Invariants
//!
//! * The processor's methods are called one at a time, in the order of
//!   [`crate::processor`]'s life cycle.
//! * A child shard is not read before every parent lease is at `SHARD_END` or gone.
//! * On a lease signal (handoff, shutdown, loss) the fetch task is dropped first, so nothing
//!   is delivered after `shutdown_requested` or `lease_lost`. A signal is looked at between
//!   batches, never in the middle of one.
//! * After a handoff or shutdown the lease is released only after `shutdown_requested`
//!   returned, so the next owner starts from the processor's last checkpoint.
//! * A processor that reports a failure (`RecordProcessor::failure`, after `initialize`
//!   and each batch) gets no further call; its lease is released at once, so the shard is
//!   taken again from its last checkpoint.

use crate::checkpoint::Checkpointer;
use crate::config::{FanOutConfig, InitialPosition, PollingConfig};
use crate::lease::coordinator::{HeldLease, LeaseCoordinator, LeaseSignal};
use crate::metrics as m;
use crate::processor::{
    InitializationInput, ProcessRecordsInput, RecordProcessorFactory, ShardEndedInput,
    ShutdownRequestedInput,
};
use crate::retrieval::fanout::{self, FanOutFetcher};
use crate::retrieval::polling::PollingFetcher;
use crate::retrieval::{Fetched, Fetcher, StartPosition};
use crate::shard_sync;
use crate::streams::StreamIdentifier;
use rill_engine::api::Kinesis;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Which streams a worker consumes.
pub(crate) enum Streams {
    /// One stream; lease keys are shard ids.
    Single {
        stream_name: String,
        initial_position: InitialPosition,
    },
    /// Several; lease keys name their stream (see [`crate::streams`]). The initial
    /// positions are the tracker's, by stream name, as of the last shard sync.
    Multi {
        positions: RwLock<HashMap<String, InitialPosition>>,
    },
}

/// What a lease key stands for.
pub(crate) struct Target {
    pub stream_name: String,
    pub stream: Option<StreamIdentifier>,
    pub shard_id: String,
    /// The lease key prefix of the stream (empty for a single stream).
    pub prefix: String,
    pub initial_position: InitialPosition,
}

/// What a shard's processing loop needs from its worker.
pub(crate) struct ShardContext {
    pub kinesis: Arc<dyn Kinesis>,
    pub coordinator: Arc<LeaseCoordinator>,
    pub factory: Arc<dyn RecordProcessorFactory>,
    pub streams: Streams,
    pub polling: PollingConfig,
    /// Enhanced fan-out, when selected instead of polling.
    pub fan_out: Option<FanOutContext>,
    /// How often a child polls its parents' leases.
    pub parent_poll: Duration,
}

/// The enhanced fan-out consumer of a worker.
pub(crate) struct FanOutContext {
    /// The stream consumer's name.
    pub consumer_name: String,
    pub config: FanOutConfig,
    /// Its ARN, once found or registered and ACTIVE.
    pub consumer_arn: tokio::sync::OnceCell<String>,
}

impl ShardContext {
    /// The stream and shard of a lease key; `None` for a key that names no stream in a
    /// multi-stream application.
    pub(crate) fn target(&self, key: &str) -> Option<Target> {
        match &self.streams {
            Streams::Single {
                stream_name,
                initial_position,
            } => Some(Target {
                stream_name: stream_name.clone(),
                stream: None,
                shard_id: key.to_owned(),
                prefix: String::new(),
                initial_position: *initial_position,
            }),
            Streams::Multi { positions } => {
                let (stream, shard) = StreamIdentifier::split_lease_key(key)?;
                let initial_position = positions
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&stream.stream_name)
                    .copied()
                    .unwrap_or_default();
                Some(Target {
                    stream_name: stream.stream_name.clone(),
                    prefix: stream.key_prefix(),
                    shard_id: shard.to_owned(),
                    stream: Some(stream),
                    initial_position,
                })
            }
        }
    }

    /// The single stream's name (fan-out and the start of a single-stream worker).
    pub(crate) fn single_stream(&self) -> Option<(&str, InitialPosition)> {
        match &self.streams {
            Streams::Single {
                stream_name,
                initial_position,
            } => Some((stream_name, *initial_position)),
            Streams::Multi { .. } => None,
        }
    }

    /// The fan-out consumer's ARN: found, or registered and waited for, on first use.
    pub(crate) async fn consumer_arn(&self) -> Result<Option<String>, crate::KclError> {
        let Some(f) = &self.fan_out else {
            return Ok(None);
        };
        let Some((stream_name, _)) = self.single_stream() else {
            return Ok(None);
        };
        let arn = f
            .consumer_arn
            .get_or_try_init(|| {
                fanout::ensure_consumer(
                    self.kinesis.as_ref(),
                    stream_name,
                    &f.consumer_name,
                    &f.config,
                )
            })
            .await?;
        Ok(Some(arn.clone()))
    }

    fn fetcher(
        &self,
        consumer_arn: Option<String>,
        stream_name: String,
        shard_id: String,
        start: StartPosition,
        range: Option<rill_engine::api::HashKeyRange>,
    ) -> Fetcher {
        match (&self.fan_out, consumer_arn) {
            (Some(f), Some(arn)) => FanOutFetcher::spawn(
                Arc::clone(&self.kinesis),
                arn,
                shard_id,
                start,
                f.config.clone(),
                range,
            ),
            _ => PollingFetcher::spawn(
                Arc::clone(&self.kinesis),
                stream_name,
                shard_id,
                start,
                self.polling.clone(),
                range,
            ),
        }
    }
}

/// Runs the shard of `held` until its lease is lost, handed over, released or the shard
/// ended. Cancel safety: dropping the future stops processing abruptly (the lease stays
/// owned until it expires; records after the last checkpoint are delivered again).
pub(crate) async fn run(ctx: Arc<ShardContext>, held: Arc<HeldLease>) {
    let shard_id = held.key.clone();
    let outcome = process(&ctx, &held).await;
    if let Err(e) = outcome {
        tracing::warn!(%shard_id, error = %e, "shard processing stopped; releasing the lease");
        release(&ctx, &held, false).await;
    }
    ctx.coordinator.forget(&held);
}

/// Releases the lease: ends a handoff (`handoff`) or evicts.
async fn release(ctx: &ShardContext, held: &HeldLease, handoff: bool) {
    let table = ctx.coordinator.table();
    let me = ctx.coordinator.worker_id();
    for _ in 0..8 {
        let mut lease = held.lease.lock().await;
        let result = if handoff {
            table.complete_hand_over(&lease).await
        } else {
            table.evict_lease(&lease).await
        };
        match result {
            Ok(Some(l)) => {
                *lease = l;
                ctx.coordinator.note_change();
                return;
            }
            Ok(None) => match table.get_lease(&held.key).await {
                Ok(Some(l))
                    if (handoff && l.checkpoint_owner.as_deref() == Some(me))
                        || (!handoff && l.lease_owner.as_deref() == Some(me)) =>
                {
                    *lease = l;
                }
                Ok(Some(l)) if !handoff && l.checkpoint_owner.as_deref() == Some(me) => {
                    // A handoff was requested while we shut down: finish it instead.
                    *lease = l;
                    drop(lease);
                    return Box::pin(release(ctx, held, true)).await;
                }
                _ => return,
            },
            Err(e) => {
                tracing::warn!(shard_id = %held.key, error = %e, "releasing the lease failed");
                return;
            }
        }
    }
}

async fn wait_for_parents(
    ctx: &ShardContext,
    held: &HeldLease,
    prefix: &str,
) -> Result<bool, crate::KclError> {
    let parents = held.lease.lock().await.parent_shard_ids.clone();
    let mut signal = held.signal.subscribe();
    for p in parents {
        let key = format!("{prefix}{p}");
        loop {
            match ctx.coordinator.table().get_lease(&key).await? {
                Some(l) if !l.is_shard_end() => {}
                _ => break,
            }
            tracing::debug!(parent = %p, "waiting for parent shard to end");
            tokio::select! {
                _ = tokio::time::sleep(ctx.parent_poll) => {}
                _ = signal.changed() => {}
            }
            if *signal.borrow() != LeaseSignal::Held {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

async fn process(ctx: &ShardContext, held: &Arc<HeldLease>) -> Result<(), crate::KclError> {
    let Some(target) = ctx.target(&held.key) else {
        tracing::error!(lease_key = %held.key, "the lease key names no stream of this multi-stream application; releasing it");
        release(ctx, held, false).await;
        return Ok(());
    };
    let shard_id = target.shard_id.clone();
    let me = ctx.coordinator.worker_id().to_owned();
    if !wait_for_parents(ctx, held, &target.prefix).await? {
        return finish_without_processor(ctx, held).await;
    }
    let lease = held.lease.lock().await.clone();
    if lease.is_shard_end() {
        release(ctx, held, false).await;
        return Ok(());
    }
    // Before the processor exists: a failure here releases the lease untouched.
    let consumer_arn = ctx.consumer_arn().await?;
    let checkpointer = Checkpointer::new(
        me.clone(),
        Arc::clone(held),
        Arc::clone(ctx.coordinator.table()),
        lease.checkpoint(),
        lease.pending_checkpoint(),
    );
    let mut processor = ctx.factory.create_processor(&shard_id);
    processor
        .initialize(InitializationInput {
            shard_id: shard_id.clone(),
            stream_name: target.stream_name.clone(),
            stream_identifier: target.stream.as_ref().map(ToString::to_string),
            extended_sequence_number: lease.checkpoint(),
            pending_checkpoint: lease.pending_checkpoint(),
            pending_checkpoint_state: lease.pending_checkpoint_state.clone(),
        })
        .await;
    if let Some(reason) = processor.failure() {
        tracing::warn!(%shard_id, %reason, "processor failed in initialize; releasing the lease");
        release(ctx, held, false).await;
        return Ok(());
    }
    let timestamp = match target.initial_position {
        InitialPosition::AtTimestamp(t) => Some(t),
        _ => None,
    };
    let mut fetcher = Some(ctx.fetcher(
        consumer_arn,
        target.stream_name.clone(),
        shard_id.clone(),
        StartPosition {
            checkpoint: lease.checkpoint(),
            timestamp,
        },
        lease.hash_key_range(),
    ));
    let mut signal = held.signal.subscribe();
    let records_processed = metrics::counter!(m::RECORDS_PROCESSED, m::SHARD => held.key.clone());
    let bytes_processed = metrics::counter!(m::DATA_BYTES_PROCESSED, m::SHARD => held.key.clone());
    let processing_time =
        metrics::histogram!(m::RECORD_PROCESSOR_TIME, m::SHARD => held.key.clone());
    loop {
        let state = *signal.borrow_and_update();
        match state {
            LeaseSignal::Held => {}
            LeaseSignal::Lost => {
                drop(fetcher.take());
                processor.lease_lost().await;
                return Ok(());
            }
            LeaseSignal::HandoffRequested | LeaseSignal::ShutdownRequested => {
                drop(fetcher.take());
                processor
                    .shutdown_requested(ShutdownRequestedInput {
                        checkpointer: &checkpointer,
                    })
                    .await;
                // A loss during shutdown_requested leaves nothing to release.
                if held.current() != LeaseSignal::Lost {
                    let handoff = held.current() == LeaseSignal::HandoffRequested;
                    release(ctx, held, handoff).await;
                    tracing::info!(%shard_id, handoff, checkpoint = %checkpointer.last_checkpoint(), "lease released");
                }
                return Ok(());
            }
        }
        let Some(f) = fetcher.as_mut() else {
            return Ok(());
        };
        let next = tokio::select! {
            biased;
            _ = signal.changed() => continue,
            next = f.rx.recv() => next,
        };
        match next {
            Some(Fetched::Records {
                records,
                millis_behind_latest,
            }) => {
                let Some(last) = records.last() else { continue };
                checkpointer.delivered(last.extended_sequence_number());
                let n = records.len() as u64;
                let bytes: usize = records.iter().map(|r| r.data.len()).sum();
                let started = Instant::now();
                processor
                    .process_records(ProcessRecordsInput {
                        stream_name: &target.stream_name,
                        records,
                        millis_behind_latest,
                        checkpointer: &checkpointer,
                    })
                    .await;
                processing_time.record(started.elapsed().as_secs_f64());
                records_processed.increment(n);
                bytes_processed.increment(bytes as u64);
                held.record_load(n, bytes as u64);
                if let Some(reason) = processor.failure() {
                    drop(fetcher.take());
                    tracing::warn!(%shard_id, %reason, "processor failed; releasing the lease");
                    release(ctx, held, false).await;
                    return Ok(());
                }
            }
            Some(Fetched::ShardEnd { child_shards }) => {
                drop(fetcher.take());
                let parent = held.lease.lock().await.clone();
                if let Some(updated) = shard_sync::create_child_leases(
                    ctx.coordinator.table().as_ref(),
                    &parent,
                    &child_shards,
                    &target.prefix,
                )
                .await?
                {
                    let mut l = held.lease.lock().await;
                    if l.lease_counter == updated.lease_counter {
                        *l = updated;
                    }
                }
                ctx.coordinator.note_change();
                checkpointer.delivered(crate::ExtendedSequenceNumber::shard_end());
                processor
                    .shard_ended(ShardEndedInput {
                        checkpointer: &checkpointer,
                    })
                    .await;
                if checkpointer.last_checkpoint().is_shard_end() {
                    tracing::info!(%shard_id, children = child_shards.len(), "shard ended");
                    release(ctx, held, false).await;
                } else if held.current() != LeaseSignal::Lost {
                    tracing::error!(%shard_id, "shard_ended returned without checkpointing; the shard will be processed again");
                    release(ctx, held, false).await;
                }
                return Ok(());
            }
            Some(Fetched::Failed(e)) => {
                drop(fetcher.take());
                processor
                    .shutdown_requested(ShutdownRequestedInput {
                        checkpointer: &checkpointer,
                    })
                    .await;
                if let Some(stream) = &target.stream
                    && matches!(e, rill_engine::api::Error::ResourceNotFound(_))
                    && stream_gone(ctx, stream).await
                {
                    let lease = held.lease.lock().await.clone();
                    match ctx.coordinator.table().delete_lease(&lease).await {
                        Ok(true) => {
                            tracing::info!(lease_key = %held.key, "the stream was deleted: lease deleted");
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(lease_key = %held.key, error = %e, "deleting the lease of a deleted stream failed")
                        }
                    }
                    ctx.coordinator.note_change();
                    return Ok(());
                }
                return Err(e.into());
            }
            None => return Ok(()),
        }
    }
}

/// Whether `stream` no longer exists (deleted, or deleted and created again).
async fn stream_gone(ctx: &ShardContext, stream: &StreamIdentifier) -> bool {
    match StreamIdentifier::describe(ctx.kinesis.as_ref(), &stream.stream_name).await {
        Ok(now) => now != *stream,
        Err(rill_engine::api::Error::ResourceNotFound(_)) => true,
        Err(_) => false,
    }
}

/// The lease was signalled before processing started: nothing was delivered, so release
/// or give up the lease without a processor.
async fn finish_without_processor(
    ctx: &ShardContext,
    held: &HeldLease,
) -> Result<(), crate::KclError> {
    match held.current() {
        LeaseSignal::Lost | LeaseSignal::Held => {}
        LeaseSignal::HandoffRequested => release(ctx, held, true).await,
        LeaseSignal::ShutdownRequested => release(ctx, held, false).await,
    }
    Ok(())
}
