//! The audit log of `rill serve --audit-log FILE`: one JSON line per API call, in the spirit
//! of CloudTrail records.
//!
//! ```json
//! {"eventTime":"2026-11-22T01:02:03.456Z","accessKeyId":"AKID","sourceIPAddress":"127.0.0.1",
//!  "eventName":"PutRecord","resources":["arn:aws:kinesis:...:stream/orders"],
//!  "requestID":"…","errorCode":"AccessDeniedException","denied":true}
//! ```
//!
//! Control-plane calls are always logged; data-plane calls (PutRecord, PutRecords,
//! GetRecords, GetShardIterator, SubscribeToShard: the operation table's `data` lines, see
//! [`Operation::is_data_plane`](crate::api::Operation::is_data_plane)) only with
//! `--audit-data-plane`. Lines go
//! through a bounded channel to a writer task, so a request never waits on the file; if the
//! channel is full the line is dropped and counted (`AuditLog::dropped`, metric
//! `Audit.Dropped`). [`AuditLog::close`] writes what is queued and flushes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// One call.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// RFC 3339 UTC time of the call.
    pub event_time: String,
    /// The signing access key id, when the request was signed and verified.
    pub access_key_id: Option<String>,
    /// The caller's address.
    #[serde(rename = "sourceIPAddress")]
    pub source_ip_address: Option<String>,
    /// The operation.
    pub event_name: String,
    /// The stream or consumer ARNs concerned.
    pub resources: Vec<String>,
    /// The response's `x-amzn-RequestId`.
    #[serde(rename = "requestID")]
    pub request_id: String,
    /// The exception name, if the call failed.
    pub error_code: Option<String>,
    /// Whether the call was refused by an access policy.
    pub denied: bool,
}

/// The audit log writer.
#[derive(Debug)]
pub struct AuditLog {
    tx: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<String>>>,
    writer: tokio::sync::Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
    /// Whether data-plane calls are logged.
    pub data_plane: bool,
    dropped: AtomicU64,
}

impl AuditLog {
    /// Opens (appending) `path` and starts the writer task.
    pub async fn open(path: &Path, data_plane: bool) -> std::io::Result<Arc<AuditLog>> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(65_536);
        let writer = tokio::spawn(async move {
            let mut out = tokio::io::BufWriter::new(file);
            while let Some(line) = rx.recv().await {
                out.write_all(line.as_bytes()).await?;
                out.write_all(b"\n").await?;
                // Flush when nothing else is waiting, so the file stays current.
                if rx.is_empty() {
                    out.flush().await?;
                }
            }
            out.flush().await?;
            out.get_ref().sync_all().await
        });
        Ok(Arc::new(AuditLog {
            tx: std::sync::Mutex::new(Some(tx)),
            writer: tokio::sync::Mutex::new(Some(writer)),
            data_plane,
            dropped: AtomicU64::new(0),
        }))
    }

    /// Queues a record without waiting.
    pub fn record(&self, r: &AuditRecord) {
        if !self.data_plane
            && crate::api::Operation::from_wire(&r.event_name).is_some_and(|o| o.is_data_plane())
        {
            return;
        }
        let Ok(line) = serde_json::to_string(r) else {
            return;
        };
        let sent = match self.tx.lock() {
            Ok(guard) => guard.as_ref().is_some_and(|tx| tx.try_send(line).is_ok()),
            Err(_) => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("Audit.Dropped").increment(1);
        }
    }

    /// Lines dropped because the writer fell behind (or came after [`AuditLog::close`]).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes everything queued, flushes and syncs the file, and stops the writer.
    pub async fn close(&self) -> std::io::Result<()> {
        // Dropping the only sender closes the channel once the writer has drained it.
        if let Ok(mut guard) = self.tx.lock() {
            guard.take();
        }
        let handle = self.writer.lock().await.take();
        match handle {
            Some(h) => h.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}
