//! `rill-agent`: `run` tails log files into streams; `generate` puts sample records.

use clap::{Parser, Subcommand};
use rill_agent::BoxError;
use rill_agent::agent::{self, Stats};
use rill_agent::config::Config;
use rill_agent::generate::{GenerateSpec, generate};
use rill_agent::template::Template;
use rill_engine::api::{CreateStreamInput, Error as KinesisError, Kinesis};
use rill_engine::{Engine, EngineConfig, Remote};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "rill-agent",
    version,
    about = "Ships log lines to rill streams; generates sample data"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tails the files of the config's flows until SIGINT/SIGTERM.
    Run {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Puts records made from a template.
    Generate {
        /// A Kinesis endpoint, e.g. http://127.0.0.1:4567 for `rill serve`.
        #[arg(
            long,
            conflicts_with = "data_dir",
            required_unless_present = "data_dir"
        )]
        endpoint: Option<String>,
        /// The data directory of an embedded engine.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The stream.
        #[arg(long)]
        stream: String,
        /// Create the stream with this many shards if it does not exist.
        #[arg(long)]
        shards: Option<i32>,
        /// The record template: text with {{uuid}}, {{int A B}}, {{float A B}},
        /// {{pick "a" "b"}}, {{timestamp}}, {{seq}}.
        #[arg(long)]
        template: String,
        /// The partition key template.
        #[arg(long, default_value = "{{uuid}}")]
        partition_key: String,
        /// How many records.
        #[arg(long)]
        records: u64,
        /// Records per second; 0 = as fast as possible.
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rill-agent: starting the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(main_async(Cli::parse())) {
        tracing::error!("{e}");
        eprintln!("rill-agent: {e}");
        std::process::exit(1);
    }
}

async fn connect(
    endpoint: Option<&str>,
    data_dir: Option<&Path>,
) -> Result<(Arc<dyn Kinesis>, Option<Engine>), BoxError> {
    match (endpoint, data_dir) {
        (Some(url), None) => Ok((Arc::new(Remote::from_endpoint(url)), None)),
        (None, Some(dir)) => {
            let engine = Engine::open(dir, EngineConfig::default()).await?;
            Ok((Arc::new(engine.clone()), Some(engine)))
        }
        _ => Err("give exactly one of endpoint and data_dir".into()),
    }
}

async fn main_async(cli: Cli) -> Result<(), BoxError> {
    match cli.command {
        Command::Run { config } => {
            let config = Config::load(&config)?;
            let (kinesis, engine) =
                connect(config.endpoint.as_deref(), config.data_dir.as_deref()).await?;
            let stats = Arc::new(Stats::default());
            let summary = agent::run(&config, kinesis, stats, shutdown_signal()).await?;
            if let Some(engine) = engine {
                engine.close().await?;
            }
            println!("{}", serde_json::to_string(&summary)?);
        }
        Command::Generate {
            endpoint,
            data_dir,
            stream,
            shards,
            template,
            partition_key,
            records,
            rate,
        } => {
            let (kinesis, engine) = connect(endpoint.as_deref(), data_dir.as_deref()).await?;
            if let Some(shards) = shards {
                match kinesis
                    .create_stream(CreateStreamInput {
                        stream_name: stream.clone(),
                        shard_count: Some(shards),
                        ..Default::default()
                    })
                    .await
                {
                    Ok(()) | Err(KinesisError::ResourceInUse(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let spec = GenerateSpec {
                stream,
                template: Template::parse(&template)?,
                partition_key: Template::parse(&partition_key)?,
                records,
                rate,
                progress: Some(Duration::from_secs(1)),
            };
            let summary = generate(kinesis, &spec).await?;
            if let Some(engine) = engine {
                engine.close().await?;
            }
            println!("{}", serde_json::to_string(&summary)?);
        }
    }
    Ok(())
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received");
}
