//! One child process speaking the MultiLang protocol over its stdin and stdout.
//!
//! The daemon writes an action line, then reads the child's lines until the child's
//! `status` for that action: meanwhile every `checkpoint` request is carried out with the
//! shard's [`Checkpointer`] (when the action allows one) and answered by one `checkpoint`
//! line, with `error` set to the Java KCL's exception name when it failed. The child's
//! stderr is inherited: it goes straight to the daemon's stderr. All I/O is tokio's
//! (`tokio::process`), so a slow child never blocks a runtime worker.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout, Command};

use super::protocol::{FromChild, LineError, ToChild};
use crate::checkpoint::{CheckpointError, Checkpointer};

/// Why talking to a child failed. The shard's processor stops; its lease is released.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChildError {
    /// The program could not be started.
    #[error("starting {program:?}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The error.
        source: std::io::Error,
    },
    /// `executableName` was empty.
    #[error("no program to run (executableName is empty)")]
    NoProgram,
    /// Writing to or reading from the child failed.
    #[error("talking to the child: {0}")]
    Io(#[from] std::io::Error),
    /// The child closed its stdout (it exited or died) in the middle of an action.
    #[error("the child closed its stdout during {action}{}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Exited {
        /// The action in progress.
        action: &'static str,
        /// How it exited, when it did.
        status: Option<ExitStatus>,
    },
    /// The child answered with the status of another action.
    #[error("the child answered {got:?} to {action}")]
    WrongStatus {
        /// The action in progress.
        action: &'static str,
        /// What the child's status named.
        got: String,
    },
}

/// What a child may do with checkpoints during an action.
#[derive(Debug, Clone, Copy)]
pub enum CheckpointRights<'a> {
    /// Checkpoint through this checkpointer.
    Allowed(&'a Checkpointer),
    /// The lease is gone (`leaseLost`): answered `ShutdownException`.
    LeaseLost,
    /// Not during this action (`initialize`): answered `InvalidStateException`.
    NotNow,
}

/// A running child for one shard.
#[derive(Debug)]
pub struct Child {
    process: tokio::process::Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    shard_id: String,
}

impl Child {
    /// Starts `command` (program and arguments) with piped stdin and stdout and inherited
    /// stderr; it is killed if the `Child` is dropped while it runs.
    pub fn spawn(command: &[String], shard_id: &str) -> Result<Child, ChildError> {
        let (program, args) = command.split_first().ok_or(ChildError::NoProgram)?;
        let mut process = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ChildError::Spawn {
                program: program.clone(),
                source,
            })?;
        let stdin = process.stdin.take();
        let stdout = process
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("child stdout was not piped"))?;
        tracing::info!(shard_id, pid = process.id(), program, "child started");
        Ok(Child {
            process,
            stdin,
            stdout: BufReader::new(stdout).lines(),
            shard_id: shard_id.to_string(),
        })
    }

    /// The child's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.process.id()
    }

    /// Sends `message` and serves the child's checkpoint requests until its status for it.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped midway, the child is left in the middle of an action (and a
    /// checkpoint may or may not have been written); the only sensible next step is to
    /// drop or [`finish`](Self::finish) the child.
    pub async fn perform(
        &mut self,
        message: &ToChild,
        rights: CheckpointRights<'_>,
    ) -> Result<(), ChildError> {
        let action = message.action();
        self.write(message).await?;
        loop {
            let Some(line) = self.stdout.next_line().await? else {
                let status = self.process.try_wait().ok().flatten();
                return Err(ChildError::Exited { action, status });
            };
            match FromChild::parse(&line) {
                Ok(FromChild::Status { response_for }) if response_for == action => return Ok(()),
                Ok(FromChild::Status { response_for }) => {
                    return Err(ChildError::WrongStatus {
                        action,
                        got: response_for,
                    });
                }
                Ok(FromChild::Checkpoint {
                    sequence_number,
                    sub_sequence_number,
                }) => {
                    let error = checkpoint(rights, sequence_number.as_deref(), sub_sequence_number)
                        .await
                        .err();
                    if let Some(e) = &error {
                        tracing::info!(shard_id = %self.shard_id, error = e, ?sequence_number, "child checkpoint refused");
                    }
                    self.write(&ToChild::Checkpoint {
                        sequence_number,
                        sub_sequence_number,
                        error,
                    })
                    .await?;
                }
                Err(LineError::Blank) => {}
                Err(e) => {
                    tracing::warn!(shard_id = %self.shard_id, %e, line = %line, "skipping a line on the child's stdout");
                }
            }
        }
    }

    async fn write(&mut self, message: &ToChild) -> Result<(), ChildError> {
        let stdin = self.stdin.as_mut().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "child stdin closed")
        })?;
        let mut line = message.to_line();
        line.push('\n');
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// Closes the child's stdin (its end of input) and waits up to `grace` for it to exit,
    /// then kills it. Returns how it exited (`None` when it had to be killed).
    ///
    /// # Cancel safety
    /// Cancel safe: dropped, the child is killed (`kill_on_drop`).
    pub async fn finish(mut self, grace: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
        // Drain stdout so a child writing at exit is not stuck on a full pipe.
        let drain = async { while let Ok(Some(_)) = self.stdout.next_line().await {} };
        let waited = tokio::time::timeout(grace, async {
            drain.await;
            self.process.wait().await
        })
        .await;
        match waited {
            Ok(Ok(status)) => {
                tracing::info!(shard_id = %self.shard_id, %status, "child exited");
                Some(status)
            }
            _ => {
                tracing::warn!(shard_id = %self.shard_id, ?grace, "child did not exit in time; killing it");
                let _ = self.process.kill().await;
                None
            }
        }
    }
}

/// Carries out a checkpoint request; the error is the Java KCL exception's simple name.
async fn checkpoint(
    rights: CheckpointRights<'_>,
    sequence_number: Option<&str>,
    sub_sequence_number: Option<u64>,
) -> Result<(), String> {
    let checkpointer = match rights {
        CheckpointRights::Allowed(c) => c,
        CheckpointRights::LeaseLost => return Err("ShutdownException".into()),
        CheckpointRights::NotNow => return Err("InvalidStateException".into()),
    };
    let result = match sequence_number {
        None => checkpointer.checkpoint().await,
        Some(seq) if is_sequence_number(seq) => {
            checkpointer
                .checkpoint_at(seq, sub_sequence_number.unwrap_or(0))
                .await
        }
        Some(_) => return Err("IllegalArgumentException".into()),
    };
    result.map_err(|e| exception_name(&e).to_string())
}

fn is_sequence_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 129 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The Java KCL's exception for a refused checkpoint (what MultiLang children test for).
pub fn exception_name(e: &CheckpointError) -> &'static str {
    match e {
        CheckpointError::Backwards { .. } | CheckpointError::BeyondDelivered { .. } => {
            "IllegalArgumentException"
        }
        CheckpointError::LeaseLost(_) => "ShutdownException",
        _ => "KinesisClientLibDependencyException",
    }
}
