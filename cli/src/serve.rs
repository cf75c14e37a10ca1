//! `rill serve`: the Kinesis wire protocol over HTTP (HTTP/1.1 and cleartext HTTP/2 on one
//! port) or HTTPS (`--tls-cert`/`--tls-key` or `--tls-self-signed`; HTTP/2 and HTTP/1.1 by
//! ALPN) on an embedded engine. Prints `listening on ADDR` as its first stdout line; with
//! `--plain-addr` beside TLS, `cleartext on ADDR` as its second.

use clap::{Args, ValueEnum};
use rill_engine::embedded::{KeyRing, ThroughputLimits};
use rill_engine::server::tls::TlsConfig;
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
    /// Serve HTTPS on --addr with the certificate chain (leaf first) in this PEM file.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS on --addr with a certificate generated at start for localhost, 127.0.0.1
    /// and ::1 (and --tls-name), its PEM written to this file for clients to trust.
    #[arg(long)]
    pub tls_self_signed: Option<PathBuf>,
    /// Another DNS name or IP address for --tls-self-signed's certificate (repeatable).
    #[arg(long = "tls-name", requires = "tls_self_signed")]
    pub tls_names: Vec<String>,
    /// With TLS on --addr, also serve cleartext HTTP (and h2c) on this address.
    #[arg(long)]
    pub plain_addr: Option<SocketAddr>,
}

/// The TLS settings the flags ask for, if any.
fn tls_config(args: &ServeArgs) -> Result<Option<TlsConfig>, BoxError> {
    Ok(
        match (&args.tls_cert, &args.tls_key, &args.tls_self_signed) {
            (Some(cert), Some(key), _) => Some(TlsConfig::from_pem_files(cert, key)?),
            (_, _, Some(path)) => Some(TlsConfig::self_signed(path, &args.tls_names)?),
            _ => None,
        },
    )
}

/// Runs `rill serve` until SIGINT or SIGTERM: requests in flight finish, the audit log and
/// every stream's log are synced and closed.
///
/// # Cancel safety
/// Not cancel safe: dropped, the engine is closed uncleanly (recovery handles it).
pub async fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let fsync: FsyncPolicy = args.fsync.parse()?;
    let tls = tls_config(&args)?;
    if args.plain_addr.is_some() && tls.is_none() {
        return Err("--plain-addr goes with --tls-cert/--tls-key or --tls-self-signed".into());
    }
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
    let plain = match args.plain_addr {
        Some(a) => Some(tokio::net::TcpListener::bind(a).await?),
        None => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        if let Some(p) = &plain {
            writeln!(out, "cleartext on {}", p.local_addr()?)?;
        }
        out.flush()?;
    }
    tracing::info!(
        %addr,
        data_dir = %args.data_dir.display(),
        ?fsync,
        limits = if args.limits == Limits::Aws { "aws" } else { "off" },
        auth = auth.is_some(),
        tls = tls.is_some(),
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
        tls,
        ..Default::default()
    };
    // One signal stops both listeners.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::signal::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let kinesis: Arc<dyn rill_engine::api::Kinesis> = Arc::new(engine.clone());
    let cleartext = plain.map(|listener| {
        rill_engine::server::serve_with(
            listener,
            Arc::clone(&kinesis),
            config.clone(),
            rill_engine::server::ConnConfig {
                tls: None,
                ..conn.clone()
            },
            stopped(stop_rx.clone()),
        )
    });
    let main = rill_engine::server::serve_with(listener, kinesis, config, conn, stopped(stop_rx));
    match cleartext {
        Some(cleartext) => {
            let (a, b) = tokio::join!(main, cleartext);
            a?;
            b?;
        }
        None => main.await?,
    }
    if let Some(a) = audit {
        // Everything logged is written and synced before the process exits.
        a.close().await?;
    }
    engine.close().await?;
    tracing::info!("stopped");
    Ok(())
}
