//! Where a client command's records go: a Kinesis endpoint (`--endpoint URL`, `rill serve`
//! or Amazon Kinesis) or an embedded engine on a data directory (`--data-dir DIR`).

use clap::Args;
use rill_engine::api::Kinesis;
use rill_engine::{Engine, EngineConfig, Remote};
use std::path::PathBuf;
use std::sync::Arc;

use crate::BoxError;

/// The `--endpoint` / `--data-dir` pair every client command takes.
#[derive(Args, Clone, Debug)]
pub struct Target {
    /// Kinesis endpoint (a `rill serve`, Amazon Kinesis, or any compatible server).
    #[arg(
        long,
        env = "RILL_ENDPOINT",
        default_value = "http://127.0.0.1:4567",
        conflicts_with = "data_dir"
    )]
    pub endpoint: String,
    /// Use an embedded engine on this data directory instead of an endpoint.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A connected target: the `Kinesis` to call, and the embedded engine to close at the end.
pub struct Connection {
    /// The client (or the engine itself).
    pub kinesis: Arc<dyn Kinesis>,
    engine: Option<Engine>,
}

impl Target {
    /// Connects: a `Remote` for an endpoint (no I/O yet), or opens the engine on the data
    /// directory (with per-shard throttling off: a local tool on a local directory).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped while opening an engine, the engine is closed uncleanly
    /// (recovery handles that on the next open).
    pub async fn connect(&self) -> Result<Connection, BoxError> {
        Ok(match &self.data_dir {
            Some(dir) => {
                let engine = Engine::open(
                    dir,
                    EngineConfig {
                        limits: rill_engine::embedded::ThroughputLimits::off(),
                        ..EngineConfig::default()
                    },
                )
                .await?;
                Connection {
                    kinesis: Arc::new(engine.clone()),
                    engine: Some(engine),
                }
            }
            None => Connection {
                kinesis: Arc::new(Remote::from_endpoint(&self.endpoint)),
                engine: None,
            },
        })
    }
}

impl Connection {
    /// A connection to an existing client (no engine to close).
    pub fn from_kinesis(kinesis: Arc<dyn Kinesis>) -> Connection {
        Connection {
            kinesis,
            engine: None,
        }
    }

    /// A connection to an engine opened by the caller; [`close`](Self::close) closes it.
    pub fn from_engine(engine: Engine) -> Connection {
        Connection {
            kinesis: Arc::new(engine.clone()),
            engine: Some(engine),
        }
    }

    /// Closes the embedded engine, if any (every stream's log synced and closed).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropped midway, some logs may not be synced.
    pub async fn close(self) -> Result<(), BoxError> {
        if let Some(e) = self.engine {
            e.close().await?;
        }
        Ok(())
    }
}

/// Every shard of a stream (open and closed), through ListShards pages.
pub use rill_engine::api::list_all_shards;
