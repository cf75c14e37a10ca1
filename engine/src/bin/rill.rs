//! `rill`: the rill command-line tool.
//!
//! * `rill serve`: the Kinesis wire protocol over HTTP on an embedded engine.
//! * `rill stream create|list|describe|delete`, `rill put`, `rill tail`: a Kinesis client,
//!   against a server (`--endpoint URL`, default `http://127.0.0.1:4567`) or an embedded
//!   engine on a data directory (`--data-dir DIR`).
//!
//! Ctrl-C and SIGTERM stop `serve` gracefully: requests in flight finish, every stream's log
//! is synced and closed.

use clap::{Args, Parser, Subcommand, ValueEnum};
use rill_engine::api::*;
use rill_engine::embedded::{KeyRing, ThroughputLimits};
use rill_engine::server::{ServerConfig, auth::Credentials};
use rill_engine::{Engine, EngineConfig, FsyncPolicy, Remote};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "rill",
    version,
    about = "rill: a Kinesis Data Streams engine and client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Kinesis API over HTTP (HTTP/1.1 and cleartext HTTP/2 on one port).
    Serve(ServeArgs),
    /// Create, list, describe or delete streams.
    Stream {
        #[command(subcommand)]
        command: StreamCommand,
    },
    /// Put records: DATA as one record, or `-` (the default) for one record per stdin line.
    Put {
        /// Stream name.
        stream: String,
        /// Partition key of every record.
        #[arg(long)]
        partition_key: String,
        /// Explicit hash key (decimal), overriding the partition key's hash.
        #[arg(long)]
        explicit_hash_key: Option<String>,
        /// The record, or `-` to read lines from stdin.
        #[arg(default_value = "-")]
        data: String,
        #[command(flatten)]
        target: Target,
    },
    /// Print a stream's records (KPL aggregates are split into their user records).
    Tail {
        /// Stream name.
        stream: String,
        /// Where to start in every shard.
        #[arg(long, value_enum, default_value_t = From::TrimHorizon)]
        from: From,
        /// Keep waiting for new records.
        #[arg(long)]
        follow: bool,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum StreamCommand {
    /// Create a stream.
    Create {
        /// Stream name.
        name: String,
        /// Number of shards (provisioned mode).
        #[arg(long, default_value_t = 1)]
        shards: i32,
        /// On-demand capacity mode instead of provisioned.
        #[arg(long)]
        on_demand: bool,
        #[command(flatten)]
        target: Target,
    },
    /// List stream names.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Describe a stream and its shards (JSON).
    Describe {
        /// Stream name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a stream.
    Delete {
        /// Stream name.
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum From {
    TrimHorizon,
    Latest,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Limits {
    Aws,
    Off,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:4567")]
    addr: SocketAddr,
    /// Data directory (default: ./rill-data).
    #[arg(long, default_value = "rill-data")]
    data_dir: PathBuf,
    /// fsync policy: always (group commit), interval:MS or none.
    #[arg(long, default_value = "always")]
    fsync: String,
    /// Per-shard throughput limits: aws (1 MiB/s and 1000 records/s written, 5 calls/s and
    /// 2 MiB/s read, per shard) or off. Request-size limits always apply.
    #[arg(long, value_enum, default_value_t = Limits::Aws)]
    limits: Limits,
    /// Require SigV4 signatures by the credentials in FILE (`ACCESS_KEY_ID SECRET` per line).
    #[arg(long)]
    auth: Option<PathBuf>,
    /// Append one JSON line per API call to FILE (control plane; see --audit-data-plane).
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Also log data-plane calls (PutRecord(s), GetRecords, GetShardIterator, SubscribeToShard).
    #[arg(long)]
    audit_data_plane: bool,
    /// Keys for StartStreamEncryption: `KEY_ID BASE64_OF_32_BYTES` per line.
    #[arg(long)]
    kms_keys: Option<PathBuf>,
    /// Largest request body in bytes (the default fits a 10 MiB record in base64).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    body_limit: usize,
    /// Seconds an HTTP/1.1 request head may take to arrive (also the keep-alive idle limit).
    #[arg(long, default_value_t = 30)]
    header_timeout: u64,
    /// Seconds a request body may take to arrive after its head.
    #[arg(long, default_value_t = 60)]
    body_timeout: u64,
    /// Seconds a connection may stay open with no request in flight.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Most connections served at once; more wait in the listen backlog until one closes.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
}

#[derive(Args, Clone)]
struct Target {
    /// Kinesis endpoint (a `rill serve`, Amazon Kinesis, or any compatible server).
    #[arg(
        long,
        env = "RILL_ENDPOINT",
        default_value = "http://127.0.0.1:4567",
        conflicts_with = "data_dir"
    )]
    endpoint: String,
    /// Use an embedded engine on this data directory instead of an endpoint.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Target {
    async fn connect(
        &self,
    ) -> Result<(Arc<dyn Kinesis>, Option<Engine>), Box<dyn std::error::Error>> {
        Ok(match &self.data_dir {
            Some(dir) => {
                let engine = Engine::open(
                    dir,
                    EngineConfig {
                        // A local tool on a local directory: no per-shard throttling.
                        limits: rill_engine::embedded::ThroughputLimits::off(),
                        ..EngineConfig::default()
                    },
                )
                .await?;
                (Arc::new(engine.clone()), Some(engine))
            }
            None => (Arc::new(Remote::from_endpoint(&self.endpoint)), None),
        })
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run(cli).await {
        eprintln!("rill: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Stream { command } => stream(command).await,
        Command::Put {
            stream,
            partition_key,
            explicit_hash_key,
            data,
            target,
        } => put(stream, partition_key, explicit_hash_key, data, target).await,
        Command::Tail {
            stream,
            from,
            follow,
            json,
            target,
        } => tail(stream, from, follow, json, target).await,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
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
        shutdown_signal(),
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

async fn stream(cmd: StreamCommand) -> Result<(), Box<dyn std::error::Error>> {
    let target = match &cmd {
        StreamCommand::Create { target, .. }
        | StreamCommand::List { target }
        | StreamCommand::Describe { target, .. }
        | StreamCommand::Delete { target, .. } => target.clone(),
    };
    let (k, engine) = target.connect().await?;
    match cmd {
        StreamCommand::Create {
            name,
            shards,
            on_demand,
            ..
        } => {
            k.create_stream(CreateStreamInput {
                stream_name: name.clone(),
                shard_count: (!on_demand).then_some(shards),
                stream_mode_details: on_demand.then_some(StreamModeDetails {
                    stream_mode: StreamMode::OnDemand,
                }),
                ..Default::default()
            })
            .await?;
            println!("created {name}");
        }
        StreamCommand::List { .. } => {
            let mut token = None;
            loop {
                let page = k
                    .list_streams(ListStreamsInput {
                        next_token: token.take(),
                        ..Default::default()
                    })
                    .await?;
                for n in page.stream_names {
                    println!("{n}");
                }
                match page.next_token {
                    Some(t) if page.has_more_streams => token = Some(t),
                    _ => break,
                }
            }
        }
        StreamCommand::Describe { name, .. } => {
            let summary = k
                .describe_stream_summary(DescribeStreamSummaryInput {
                    stream_name: Some(name.clone()),
                    ..Default::default()
                })
                .await?;
            let shards = list_all_shards(k.as_ref(), &name).await?;
            let mut v = serde_json::to_value(&summary.stream_description_summary)?;
            v["Shards"] = serde_json::to_value(&shards)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        StreamCommand::Delete { name, .. } => {
            k.delete_stream(DeleteStreamInput {
                stream_name: Some(name.clone()),
                ..Default::default()
            })
            .await?;
            println!("deleted {name}");
        }
    }
    if let Some(e) = engine {
        e.close().await?;
    }
    Ok(())
}

async fn list_all_shards(k: &dyn Kinesis, stream: &str) -> Result<Vec<Shard>, Error> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = k
            .list_shards(ListShardsInput {
                stream_name: token.is_none().then(|| stream.to_string()),
                next_token: token.take(),
                ..Default::default()
            })
            .await?;
        shards.extend(page.shards);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(shards),
        }
    }
}

async fn put(
    stream: String,
    partition_key: String,
    explicit_hash_key: Option<String>,
    data: String,
    target: Target,
) -> Result<(), Box<dyn std::error::Error>> {
    let (k, engine) = target.connect().await?;
    let one = |data: String| PutRecordInput {
        stream_name: Some(stream.clone()),
        partition_key: partition_key.clone(),
        explicit_hash_key: explicit_hash_key.clone(),
        data: data.into(),
        ..Default::default()
    };
    if data != "-" {
        let r = k.put_record(one(data)).await?;
        println!("{} {}", r.shard_id, r.sequence_number);
    } else {
        // One record per line, sent in PutRecords batches of up to 500.
        let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
        for chunk in lines.chunks(500) {
            let out = k
                .put_records(PutRecordsInput {
                    stream_name: Some(stream.clone()),
                    records: chunk
                        .iter()
                        .map(|l| PutRecordsRequestEntry {
                            data: l.clone().into(),
                            partition_key: partition_key.clone(),
                            explicit_hash_key: explicit_hash_key.clone(),
                        })
                        .collect(),
                    ..Default::default()
                })
                .await?;
            for r in out.records {
                match (r.shard_id, r.sequence_number, r.error_code) {
                    (Some(s), Some(q), _) => println!("{s} {q}"),
                    (_, _, Some(code)) => {
                        println!("FAILED {code}: {}", r.error_message.unwrap_or_default())
                    }
                    _ => println!("FAILED"),
                }
            }
            if out.failed_record_count > 0 {
                return Err(format!("{} records failed", out.failed_record_count).into());
            }
        }
    }
    if let Some(e) = engine {
        e.close().await?;
    }
    Ok(())
}

async fn tail(
    stream: String,
    from: From,
    follow: bool,
    json: bool,
    target: Target,
) -> Result<(), Box<dyn std::error::Error>> {
    let (k, engine) = target.connect().await?;
    let shards = list_all_shards(k.as_ref(), &stream).await?;
    let mut tasks = Vec::new();
    for shard in shards {
        let (k, stream) = (Arc::clone(&k), stream.clone());
        tasks.push(tokio::spawn(async move {
            let mut it = k
                .get_shard_iterator(GetShardIteratorInput {
                    stream_name: Some(stream),
                    shard_id: shard.shard_id.clone(),
                    shard_iterator_type: Some(match from {
                        From::TrimHorizon => ShardIteratorType::TrimHorizon,
                        From::Latest => ShardIteratorType::Latest,
                    }),
                    ..Default::default()
                })
                .await?
                .shard_iterator;
            while let Some(i) = it {
                let page = k
                    .get_records(GetRecordsInput {
                        shard_iterator: i,
                        ..Default::default()
                    })
                    .await?;
                let caught_up = page.records.is_empty() && page.millis_behind_latest == Some(0);
                {
                    let mut out = std::io::stdout().lock();
                    for r in &page.records {
                        print_record(&mut out, &shard.shard_id, r, json);
                    }
                    let _ = out.flush();
                }
                it = page.next_shard_iterator;
                if caught_up {
                    if !follow {
                        break;
                    }
                    // A command-line poller: wait a little between empty reads, as the KCL does.
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    if let Some(e) = engine {
        e.close().await?;
    }
    Ok(())
}

fn print_record(out: &mut impl Write, shard: &str, r: &Record, json: bool) {
    let users = rill_engine::api::agg::deaggregate(&r.partition_key, None, r.data.clone());
    let aggregated = users.len() > 1 || rill_engine::api::agg::is_aggregated(&r.data);
    for (sub, u) in users.iter().enumerate() {
        let text = String::from_utf8_lossy(&u.data);
        if json {
            let v = serde_json::json!({
                "ShardId": shard,
                "SequenceNumber": r.sequence_number,
                "SubSequenceNumber": if aggregated { Some(sub) } else { None },
                "PartitionKey": u.partition_key,
                "ApproximateArrivalTimestamp": r.approximate_arrival_timestamp,
                "Data": text,
            });
            let _ = writeln!(out, "{v}");
        } else if aggregated {
            let _ = writeln!(
                out,
                "{shard} {}:{sub} {}: {text}",
                r.sequence_number, u.partition_key
            );
        } else {
            let _ = writeln!(
                out,
                "{shard} {} {}: {text}",
                r.sequence_number, u.partition_key
            );
        }
    }
}
