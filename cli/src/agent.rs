//! `rill agent run --config FILE` (log files into streams) and `rill generate` (sample
//! records from a template): the commands of the rill-agent library ([`rill_agent`]).

use clap::Args;
use rill_agent::agent::{self, Stats};
use rill_agent::config::Config;
use rill_agent::generate::{GenerateSpec, generate};
use rill_agent::template::Template;
use rill_engine::api::{CreateStreamInput, Error as KinesisError, Kinesis};
use rill_engine::{Engine, EngineConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::BoxError;
use crate::target::Connection;

/// `rill agent run`'s flags.
#[derive(Args, Debug, Clone)]
pub struct AgentRunArgs {
    /// The TOML configuration (flows, endpoint or data_dir, checkpoint_db).
    #[arg(long, short)]
    pub config: PathBuf,
}

/// `rill generate`'s flags.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// A Kinesis endpoint, e.g. http://127.0.0.1:4567 for `rill serve`.
    #[arg(
        long,
        conflicts_with = "data_dir",
        required_unless_present = "data_dir"
    )]
    pub endpoint: Option<String>,
    /// The data directory of an embedded engine.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The stream.
    #[arg(long)]
    pub stream: String,
    /// Create the stream with this many shards if it does not exist.
    #[arg(long)]
    pub shards: Option<i32>,
    /// The record template: text with {{uuid}}, {{int A B}}, {{float A B}},
    /// {{pick "a" "b"}}, {{timestamp}}, {{seq}}.
    #[arg(long)]
    pub template: String,
    /// The partition key template.
    #[arg(long, default_value = "{{uuid}}")]
    pub partition_key: String,
    /// How many records.
    #[arg(long)]
    pub records: u64,
    /// Records per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

async fn connect(endpoint: Option<&str>, data_dir: Option<&Path>) -> Result<Connection, BoxError> {
    match (endpoint, data_dir) {
        (Some(url), None) => Ok(Connection::from_kinesis(Arc::new(crate::target::remote(
            url, None,
        )?))),
        (None, Some(dir)) => Ok(Connection::from_engine(
            Engine::open(dir, EngineConfig::default()).await?,
        )),
        _ => Err("give exactly one of endpoint and data_dir".into()),
    }
}

/// Runs `rill agent run` until SIGINT or SIGTERM (then flushes, checkpoints, and prints the
/// JSON summary on stdout).
///
/// # Cancel safety
/// Not cancel safe: dropped, lines sent since the last checkpoint are sent again next time.
pub async fn agent_run(args: AgentRunArgs) -> Result<(), BoxError> {
    let config = Config::load(&args.config)?;
    let conn = connect(config.endpoint.as_deref(), config.data_dir.as_deref()).await?;
    let stats = Arc::new(Stats::default());
    let summary = agent::run(
        &config,
        Arc::clone(&conn.kinesis),
        stats,
        crate::signal::shutdown_signal(),
    )
    .await?;
    conn.close().await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}

/// Runs `rill generate`: progress on stderr, a JSON summary on stdout.
///
/// # Cancel safety
/// Not cancel safe: records handed to the producer may or may not be put.
pub async fn generate_cmd(args: GenerateArgs) -> Result<(), BoxError> {
    let conn = connect(args.endpoint.as_deref(), args.data_dir.as_deref()).await?;
    let kinesis: Arc<dyn Kinesis> = Arc::clone(&conn.kinesis);
    if let Some(shards) = args.shards {
        match kinesis
            .create_stream(CreateStreamInput {
                stream_name: args.stream.clone(),
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
        stream: args.stream,
        template: Template::parse(&args.template)?,
        partition_key: Template::parse(&args.partition_key)?,
        records: args.records,
        rate: args.rate,
        progress: Some(Duration::from_secs(1)),
    };
    let summary = generate(kinesis, &spec).await?;
    conn.close().await?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
