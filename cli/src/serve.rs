//! `rill serve`: the Kinesis wire protocol over HTTP (HTTP/1.1 and cleartext HTTP/2 on one
//! port) on an embedded engine. Prints `listening on ADDR` as its first stdout line.

use clap::{Args, ValueEnum};
use rill_engine::embedded::{KeyRing, ThroughputLimits};
use rill_engine::server::{ServerConfig, auth::Credentials};
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::BoxError;

/// Per-shard throughput limits of `rill serve`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Limits {
    /// AWS's per-shard limits.
    Aws,
    /// No per-shard throttling.
    Off,
}

/// `rill serve`'s flags.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub addr: SocketAddr,
    /// Data directory (default: ./rill-data).
    #[arg(long, default_value = "rill-data")]
    pub data_dir: PathBuf,
    /// fsync policy: always (group commit), interval:MS or none.
    #[arg(long, default_value = "always")]
    pub fsync: String,
    /// Per-shard throughput limits: aws (1 MiB/s and 1000 records/s written, 5 calls/s and
    /// 2 MiB/s read, per shard) or off. Request-size limits always apply.
    #[arg(long, value_enum, default_value_t = Limits::Aws)]
    pub limits: Limits,
    /// Require SigV4 signatures by the credentials in FILE (`ACCESS_KEY_ID SECRET` per line).
    #[arg(long)]
    pub auth: Option<PathBuf>,
    /// Append one JSON line per API call to FILE (control plane; see --audit-data-plane).
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Also log data-plane calls (PutRecord(s), GetRecords, GetShardIterator, SubscribeToShard).
    #[arg(long)]
    pub audit_data_plane: bool,
    /// Keys for StartStreamEncryption: `KEY_ID BASE64_OF_32_BYTES` per line.
    #[arg(long)]
    pub kms_keys: Option<PathBuf>,
    /// Largest request body in bytes (the default fits a 10 MiB record in base64).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    pub body_limit: usize,
    /// Seconds an HTTP/1.1 request head may take to arrive (also the keep-alive idle limit).
    #[arg(long, default_value_t = 30)]
    pub header_timeout: u64,
    /// Seconds a request body may take to arrive after its head.
    #[arg(long, default_value_t = 60)]
    pub body_timeout: u64,
    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, default_value_t = 60)]
    pub idle_timeout: u64,
    /// Most connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, default_value_t = 4096)]
    pub max_connections: usize,
}

/// Runs `rill serve` until SIGINT or SIGTERM: requests in flight finish, the audit log and
/// every stream's log are synced and closed.
///
/// # Cancel safety
/// Not cancel safe: dropped, the engine is closed uncleanly (recovery handles it).
pub async fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let fsync: FsyncPolicy = args.fsync.parse()?;
    let auth = match &args.auth {
        Some(path) => Some(Arc::new(Credentials::load(path)?)),
        None => None,
    };
    let engine = Engine::open(
        &args.data_dir,
        EngineConfig {
            fsync,
            kms_keys: Arc::new(match &args.kms_keys {
                Some(path) => KeyRing::load(path)?,
                None => KeyRing::default(),
            }),
            limits: match args.limits {
                Limits::Aws => ThroughputLimits::aws(),
                Limits::Off => ThroughputLimits::off(),
            },
            ..Default::default()
        },
    )
    .await?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        ?fsync,
        limits = if args.limits == Limits::Aws { "aws" } else { "off" },
        auth = auth.is_some(),
        "rill serve started"
    );
    let audit = match &args.audit_log {
        Some(path) => {
            Some(rill_engine::server::audit::AuditLog::open(path, args.audit_data_plane).await?)
        }
        None => None,
    };
    let config = ServerConfig {
        body_limit: args.body_limit,
        auth,
        audit: audit.clone(),
        region: engine.config().region.clone(),
        account_id: engine.config().account_id.clone(),
    };
    let conn = rill_engine::server::ConnConfig {
        header_read_timeout: std::time::Duration::from_secs(args.header_timeout.max(1)),
        body_read_timeout: std::time::Duration::from_secs(args.body_timeout.max(1)),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout.max(1)),
        max_connections: args.max_connections.max(1),
        ..Default::default()
    };
    rill_engine::server::serve_with(
        listener,
        Arc::new(engine.clone()),
        config,
        conn,
        crate::signal::shutdown_signal(),
    )
    .await?;
    if let Some(a) = audit {
        // Everything logged is written and synced before the process exits.
        a.close().await?;
    }
    engine.close().await?;
    tracing::info!("stopped");
    Ok(())
}
