//! Where a client command's records go: a Kinesis endpoint (`--endpoint URL`, `rill serve`
//! or Amazon Kinesis) or an embedded engine on a data directory (`--data-dir DIR`).
//!
//! An endpoint is called with the credentials of `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY` when both are set (a `rill serve --auth FILE` needs a pair of its
//! file), else as `rill`/`rill`; an `https://` endpoint is trusted through the system's
//! roots, or only through the PEM file of `--ca-bundle` / `AWS_CA_BUNDLE`.

use clap::Args;
use rill_engine::api::Kinesis;
use rill_engine::{Engine, EngineConfig, LocalOptions, Remote};
use std::path::{Path, PathBuf};
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
    /// Trust only the certificates of this PEM file for an https:// endpoint (for example the
    /// file `rill serve --tls-self-signed` writes). Ignored with `--data-dir`.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

/// A client for `url` with the environment's credentials (see the module docs) and the
/// certificates of `ca_bundle` (else those `AWS_CA_BUNDLE` names, else the system's).
pub fn remote(url: &str, ca_bundle: Option<&Path>) -> Result<Remote, BoxError> {
    let mut options = LocalOptions::from_env();
    if let Some(path) = ca_bundle {
        options.ca_bundle = Some(path.to_path_buf());
    }
    Ok(Remote::local(url, &options)?)
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
                kinesis: Arc::new(remote(&self.endpoint, self.ca_bundle.as_deref())?),
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
