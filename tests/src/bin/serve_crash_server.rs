//! A child process for the `serve_crash` test: `rill serve` on the library code path.
//!
//! It does what `rill serve` (cli/src/serve.rs) does, minus the options the test does
//! not use (auth, audit log, KMS keys, body limit): opens the embedded [`Engine`] on the data
//! directory with the given fsync policy and throughput limits, binds the address, prints
//! `listening on <addr>` as the first line of stdout, and serves the Kinesis wire protocol
//! with [`rill_engine::server::serve`] until it is killed. The test kills it with SIGKILL,
//! so there is no graceful shutdown path here.
//!
//! The test crate cannot start the real `rill` binary (`CARGO_BIN_EXE_rill` only exists in
//! the `rill` (cli/) package's own tests, and cargo does not build a dependency's binaries), hence this
//! wrapper over the same library calls.
//!
//! Usage: `serve_crash_server --addr HOST:PORT --data-dir DIR [--fsync POLICY]
//! [--limits aws|off]`, with `rill serve`'s defaults (`--fsync always`, `--limits aws`).
//!
//! One difference from `rill serve`: when the port is still held (`AddrInUse`), the bind
//! is retried for up to 5 s. Tokio's listener sets `SO_REUSEADDR`, so connections of the
//! killed predecessor in TIME_WAIT do not block it; the retry only covers the moment the
//! kernel needs to tear down the killed process's listening socket.

use rill_engine::embedded::ThroughputLimits;
use rill_engine::server::ServerConfig;
use rill_engine::{Engine, EngineConfig, FsyncPolicy};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The parsed command line.
struct Args {
    addr: SocketAddr,
    data_dir: String,
    fsync: FsyncPolicy,
    limits: ThroughputLimits,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut addr: Option<SocketAddr> = None;
    let mut data_dir: Option<String> = None;
    let mut fsync = String::from("always");
    let mut limits = String::from("aws");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = Some(value.parse()?),
            "--data-dir" => data_dir = Some(value),
            "--fsync" => fsync = value,
            "--limits" => limits = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        data_dir: data_dir.ok_or("--data-dir is required")?,
        fsync: fsync.parse()?,
        limits: match limits.as_str() {
            "aws" => ThroughputLimits::aws(),
            "off" => ThroughputLimits::off(),
            other => return Err(format!("--limits must be aws or off, got {other}").into()),
        },
    })
}

async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                eprintln!("serve_crash_server: {addr} in use, retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let engine = Engine::open(
        &args.data_dir,
        EngineConfig {
            fsync: args.fsync,
            limits: args.limits,
            ..Default::default()
        },
    )
    .await?;
    let listener = bind(args.addr).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    let config = ServerConfig {
        region: engine.config().region.clone(),
        account_id: engine.config().account_id.clone(),
        ..ServerConfig::default()
    };
    rill_engine::server::serve(
        listener,
        Arc::new(engine.clone()),
        config,
        std::future::pending::<()>(),
    )
    .await?;
    engine.close().await?;
    Ok(())
}
