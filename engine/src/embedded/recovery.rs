//! Opening a data directory: its lock, the catalog, and every stream's log.
//!
//! [`recover`] is synchronous and blocks (it reads segment files and the catalog, and may
//! fsync): [`Engine::open`](super::Engine::open) runs it on a blocking thread. A catalog
//! value that does not parse (a status, mode or encryption type this rill does not know, or
//! unreadable account settings) fails the open with [`OpenError::Catalog`] naming the table,
//! the row, the column and the value: the engine never guesses a default for it.

use super::{
    Engine, EngineConfig, OpenError, Registry, ShardSet, Stream, StreamMeta, limits, remove_dir,
    stream_arn, telemetry,
};
use crate::api::{EncryptionType, RecordDistributionStrategy, StreamMode, StreamStatus};
use crate::store::{Catalog, LogConfig, StoreError, StreamLog, StreamRow};
use parking_lot::RwLock;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

/// What [`recover`] opened: the lock file (locked), the catalog, the iterator key and the
/// streams.
pub(super) struct Recovered {
    pub lock: File,
    pub catalog: Catalog,
    pub key: Vec<u8>,
    pub registry: Registry,
}

/// Parses a catalog value with `parse`, or names it in an [`OpenError::Catalog`].
fn parse<T>(
    table: &'static str,
    key: &str,
    column: &'static str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, OpenError> {
    parse(value).ok_or_else(|| OpenError::Catalog {
        table,
        key: key.to_string(),
        column,
        value: value.to_string(),
    })
}

/// The typed values of a stream row, or the first that does not parse.
fn typed(row: &StreamRow) -> Result<(StreamStatus, StreamMode, EncryptionType), OpenError> {
    let key = format!("name = {:?}", row.name);
    Ok((
        parse("streams", &key, "status", &row.status, StreamStatus::parse)?,
        parse("streams", &key, "mode", &row.mode, StreamMode::parse)?,
        parse(
            "streams",
            &key,
            "encryption_type",
            &row.encryption_type,
            EncryptionType::parse,
        )?,
    ))
}

/// Locks `root`, opens its catalog and recovers every stream's log. Blocks.
pub(super) fn recover(root: &Path, config: &EngineConfig) -> Result<Recovered, OpenError> {
    std::fs::create_dir_all(root.join("streams"))
        .map_err(|e| StoreError::io("create data directory", root, e))?;
    let lock_path = root.join("LOCK");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| StoreError::io("open lock file", &lock_path, e))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(StoreError::Locked(root.to_path_buf()).into());
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(StoreError::io("lock data directory", &lock_path, e).into());
        }
    }
    let catalog_path = root.join("catalog.sqlite");
    Catalog::check_version(&catalog_path)?;
    let mut catalog = Catalog::open(&catalog_path).map_err(StoreError::from)?;
    let v2_from = catalog.seq_v2_from_epoch().map_err(StoreError::from)?;
    let key = catalog
        .iterator_key(rand::random::<[u8; 32]>())
        .map_err(StoreError::from)?;
    if let Some(bytes) = catalog
        .meta(super::handlers::ACCOUNT_SETTINGS_KEY)
        .map_err(StoreError::from)?
        && !super::handlers::account_settings_parse(&bytes)
    {
        return Err(OpenError::Catalog {
            table: "meta",
            key: format!("key = {:?}", super::handlers::ACCOUNT_SETTINGS_KEY),
            column: "value",
            value: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    let rows = catalog.load().map_err(StoreError::from)?;
    // Every row is checked before anything is changed: a bad one fails the open untouched.
    let typed_rows = rows
        .iter()
        .map(|(row, _, _)| typed(row))
        .collect::<Result<Vec<_>, _>>()?;
    let mut registry = Registry::default();
    let clock = Arc::clone(&config.clock);
    let log_config = LogConfig {
        fsync: config.fsync,
        segment_bytes: config.segment_bytes,
    };
    let mut known_dirs = Vec::new();
    for ((mut row, shards, tags), (status, mode, encryption)) in rows.into_iter().zip(typed_rows) {
        let dir = root.join("streams").join(row.epoch.to_string());
        let status = match status {
            StreamStatus::Deleting => {
                // A deletion that a crash interrupted: finish it.
                remove_dir(&dir)?;
                catalog.delete_stream(row.epoch).map_err(StoreError::from)?;
                continue;
            }
            // A CREATING or UPDATING stream whose timer died with the process is ACTIVE now.
            StreamStatus::Creating | StreamStatus::Updating => {
                catalog
                    .set_status(row.epoch, StreamStatus::Active.as_str())
                    .map_err(StoreError::from)?;
                row.status = StreamStatus::Active.as_str().into();
                StreamStatus::Active
            }
            other => other,
        };
        known_dirs.push(row.epoch.to_string());
        let c = Arc::clone(&clock);
        let log = StreamLog::open(&dir, log_config.clone(), Arc::new(move || c.now_ms()))?;
        let stream = Arc::new(Stream {
            arn: stream_arn(config, &row.name),
            name: row.name.clone(),
            epoch: row.epoch,
            seq_layout: if row.epoch >= v2_from {
                crate::api::seq::Layout::V2
            } else {
                crate::api::seq::Layout::Decimal
            },
            meta: RwLock::new(StreamMeta {
                status,
                mode,
                retention_hours: row.retention_hours,
                encryption,
                key_id: row.key_id.clone(),
                tags: tags.into_iter().collect(),
                shard_metrics: row.shard_metrics,
                max_record_kib: row.max_record_kib,
                warm_mibps: row.warm_mibps,
                distribution: RecordDistributionStrategy::parse(&row.distribution)
                    .unwrap_or(RecordDistributionStrategy::UserPartitionKey),
                generation: row.generation,
                next_shard_index: row.next_shard_index,
            }),
            shards: RwLock::new(Arc::new(ShardSet::new(shards))),
            log,
            gate: Default::default(),
            limiter: limits::Limiter::new(config.limits),
            writes: Default::default(),
            heat: Default::default(),
            auto_cursor: Default::default(),
            consumers: Default::default(),
        });
        telemetry::stream_created(&row.name);
        for (name, created_ms) in catalog.consumers(row.epoch).map_err(StoreError::from)? {
            let c = Engine::consumer_for_load(config, &stream, &name, created_ms);
            stream.consumers.lock().insert(name, c);
        }
        registry.by_epoch.insert(row.epoch, Arc::clone(&stream));
        registry.by_name.insert(row.name, stream);
    }
    // Directories without a catalog row belong to a creation that did not commit.
    let streams_dir = root.join("streams");
    for entry in
        std::fs::read_dir(&streams_dir).map_err(|e| StoreError::io("list", &streams_dir, e))?
    {
        let entry = entry.map_err(|e| StoreError::io("list", &streams_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !known_dirs.contains(&name) {
            tracing::warn!(dir = %entry.path().display(), "removing stream directory without catalog entry");
            remove_dir(&entry.path())?;
        }
    }
    Ok(Recovered {
        lock,
        catalog,
        key,
        registry,
    })
}
