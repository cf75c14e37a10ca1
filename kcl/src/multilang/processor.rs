//! [`MultiLangProcessor`]: a [`RecordProcessor`] that drives one child process per shard.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

use super::child::{CheckpointRights, Child};
use super::protocol::{JsonRecord, ToChild};
use crate::processor::{
    InitializationInput, ProcessRecordsInput, RecordProcessor, RecordProcessorFactory,
    ShardEndedInput, ShutdownRequestedInput,
};

/// Makes a [`MultiLangProcessor`] (and so a child process) for each shard.
#[derive(Debug, Clone)]
pub struct MultiLangFactory {
    command: Arc<[String]>,
    exit_timeout: Duration,
}

impl MultiLangFactory {
    /// Children run `command` (program and arguments); after its last action a child gets
    /// `exit_timeout` to exit before it is killed.
    pub fn new(command: Vec<String>, exit_timeout: Duration) -> MultiLangFactory {
        MultiLangFactory {
            command: command.into(),
            exit_timeout,
        }
    }
}

impl RecordProcessorFactory for MultiLangFactory {
    fn create_processor(&self, shard_id: &str) -> Box<dyn RecordProcessor> {
        Box::new(MultiLangProcessor {
            command: Arc::clone(&self.command),
            shard_id: shard_id.to_string(),
            exit_timeout: self.exit_timeout,
            child: None,
            failed: None,
        })
    }
}

/// One shard's processor: each life-cycle call becomes an action sent to the child.
///
/// A child that cannot be started, dies, or breaks the protocol makes the processor
/// [`failure`](RecordProcessor::failure) report it: the scheduler releases the lease and
/// the shard is taken again (a new child, from the last checkpoint).
#[derive(Debug)]
pub struct MultiLangProcessor {
    command: Arc<[String]>,
    shard_id: String,
    exit_timeout: Duration,
    child: Option<Child>,
    failed: Option<String>,
}

impl MultiLangProcessor {
    async fn perform(&mut self, message: ToChild, rights: CheckpointRights<'_>) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if let Err(e) = child.perform(&message, rights).await {
            tracing::warn!(shard_id = %self.shard_id, error = %e, "child failed");
            self.failed = Some(e.to_string());
            // Dropping kills it (kill_on_drop).
            self.child = None;
        }
    }

    /// The last action was sent: let the child exit.
    async fn finish(&mut self) {
        if let Some(child) = self.child.take() {
            child.finish(self.exit_timeout).await;
        }
    }
}

#[async_trait]
impl RecordProcessor for MultiLangProcessor {
    async fn initialize(&mut self, input: InitializationInput) {
        match Child::spawn(&self.command, &self.shard_id) {
            Ok(c) => self.child = Some(c),
            Err(e) => {
                tracing::error!(shard_id = %self.shard_id, error = %e, "cannot start the child");
                self.failed = Some(e.to_string());
                return;
            }
        }
        let message = ToChild::Initialize {
            shard_id: input.shard_id,
            sequence_number: input.extended_sequence_number.sequence_number.clone(),
            sub_sequence_number: input.extended_sequence_number.sub_sequence_number,
        };
        self.perform(message, CheckpointRights::NotNow).await;
    }

    async fn process_records(&mut self, input: ProcessRecordsInput<'_>) {
        let message = ToChild::ProcessRecords {
            records: input.records.iter().map(JsonRecord::from).collect(),
            millis_behind_latest: input.millis_behind_latest,
        };
        self.perform(message, CheckpointRights::Allowed(input.checkpointer))
            .await;
    }

    async fn lease_lost(&mut self) {
        self.perform(ToChild::LeaseLost, CheckpointRights::LeaseLost)
            .await;
        self.finish().await;
    }

    async fn shard_ended(&mut self, input: ShardEndedInput<'_>) {
        self.perform(
            ToChild::ShardEnded,
            CheckpointRights::Allowed(input.checkpointer),
        )
        .await;
        self.finish().await;
    }

    async fn shutdown_requested(&mut self, input: ShutdownRequestedInput<'_>) {
        self.perform(
            ToChild::ShutdownRequested,
            CheckpointRights::Allowed(input.checkpointer),
        )
        .await;
        self.finish().await;
    }

    fn failure(&mut self) -> Option<String> {
        self.failed.clone()
    }
}
