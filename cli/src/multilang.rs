//! `rill multilang --properties FILE`: the KCL MultiLangDaemon on rill-kcl.
//!
//! Reads the MultiLangDaemon's properties file ([`rill_kcl::multilang::properties`] lists
//! every key), connects to Kinesis (`kinesisEndpoint`, signing with `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY` when both are set and trusting `AWS_CA_BUNDLE` when it is set,
//! else AWS in `regionName` through the SDK's default chain) and to the lease table (`rillLeaseTable = sqlite:PATH`, or
//! DynamoDB: a table named `applicationName`, created when missing, at `dynamoDBEndpoint`
//! with fixed local credentials, else AWS's), and runs a [`Scheduler`] whose processors
//! are child processes ([`rill_kcl::multilang`]). SIGINT or SIGTERM sends
//! `shutdownRequested` to every child (each may checkpoint), releases the leases, and
//! exits 0.
//!
//! A relative program in `executableName` that exists next to the properties file is run
//! from there (as the samples of amazon_kclpy expect); otherwise it is looked up as usual
//! (`PATH`, or relative to the working directory).

use aws_config::BehaviorVersion;
use clap::Args;
use rill_engine::Remote;
use rill_engine::api::Kinesis;
use rill_kcl::multilang::{LeaseStore, MultiLangConfig, MultiLangFactory, Retrieval};
use rill_kcl::{
    DynamoLeaseTable, LeaseTable, PollingConfig, RetrievalMode, Scheduler, SqliteLeaseTable,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::BoxError;

/// `rill multilang`'s flags.
#[derive(Args, Debug, Clone)]
pub struct MultiLangArgs {
    /// The MultiLangDaemon properties file (executableName, streamName, applicationName, ...).
    #[arg(long)]
    pub properties: PathBuf,
}

/// Runs `rill multilang` until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Cancel safety
/// Not cancel safe: dropped, the worker stops abruptly (children are killed; leases expire
/// and records after the last checkpoints are delivered again).
pub async fn multilang(args: MultiLangArgs) -> Result<(), BoxError> {
    let mut config = MultiLangConfig::load(&args.properties)?;
    for key in &config.ignored {
        if MultiLangConfig::is_known_ignored(key) {
            tracing::debug!(key, "property accepted and ignored");
        } else {
            tracing::warn!(key, "unknown property ignored");
        }
    }
    if let Some(dir) = args.properties.parent() {
        resolve_program(&mut config.executable, dir);
    }
    let aws = if config.kinesis_endpoint.is_none() || needs_aws_dynamodb(&config) {
        Some(
            aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(config.region.clone()))
                .load()
                .await,
        )
    } else {
        None
    };
    let kinesis: Arc<dyn Kinesis> = match (&config.kinesis_endpoint, &aws) {
        (Some(url), _) => Arc::new(crate::target::remote(url, None)?),
        (None, Some(conf)) => Arc::new(Remote::from_conf(conf)),
        (None, None) => return Err("no Kinesis configuration".into()),
    };
    let table: Arc<dyn LeaseTable> = match &config.lease_store {
        LeaseStore::Sqlite(path) => {
            Arc::new(SqliteLeaseTable::open(path, &config.application_name)?)
        }
        LeaseStore::DynamoDb => {
            let t = match (&config.dynamodb_endpoint, &aws) {
                (Some(url), _) => DynamoLeaseTable::from_endpoint(url, &config.application_name)?,
                (None, Some(conf)) => DynamoLeaseTable::new(
                    aws_sdk_dynamodb::Client::new(conf),
                    &config.application_name,
                )?,
                (None, None) => return Err("no DynamoDB configuration".into()),
            };
            t.create_table_if_not_exists().await?;
            Arc::new(t)
        }
    };
    let worker_id = config.worker_id.clone().unwrap_or_else(default_worker_id);
    let mut polling = PollingConfig::default();
    if let Some(n) = config.max_records {
        polling.max_records = n;
    }
    if let Some(d) = config.idle_time_between_reads {
        polling.idle_time_between_reads = d;
        polling.max_idle_time_between_reads = polling.max_idle_time_between_reads.max(d);
    }
    let mut builder = Scheduler::builder()
        .application_name(config.application_name.clone())
        .stream_name(config.stream_name.clone())
        .worker_id(worker_id.clone())
        .kinesis(kinesis)
        .lease_table(table)
        .initial_position(config.initial_position)
        .polling(polling)
        .processor_factory(MultiLangFactory::new(
            config.executable.clone(),
            config.child_exit_timeout,
        ));
    if let Some(d) = config.failover_time {
        builder = builder.failover_time(d);
    }
    if let Some(d) = config.shard_sync_interval {
        builder = builder.shard_sync_interval(d);
    }
    if let Some(n) = config.max_leases_per_worker {
        builder = builder.max_leases_per_worker(n);
    }
    if let Some(n) = config.max_leases_to_steal_at_once {
        builder = builder.max_leases_to_steal_at_once(n);
    }
    if config.retrieval == Retrieval::FanOut {
        builder = builder.retrieval(RetrievalMode::FanOut {
            consumer_name: None,
        });
    }
    let scheduler = builder.build()?;
    tracing::info!(
        stream = %config.stream_name,
        application = %config.application_name,
        worker_id,
        executable = ?config.executable,
        "rill multilang started"
    );
    let stop = scheduler.shutdown_handle();
    let mut worker = tokio::spawn(scheduler.run());
    tokio::select! {
        result = &mut worker => {
            // The scheduler stopped on its own: an error.
            return match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            };
        }
        () = crate::signal::shutdown_signal() => {}
    }
    stop.shutdown().await;
    worker.await??;
    tracing::info!("rill multilang stopped");
    Ok(())
}

fn needs_aws_dynamodb(config: &MultiLangConfig) -> bool {
    config.lease_store == LeaseStore::DynamoDb && config.dynamodb_endpoint.is_none()
}

/// Runs a relative program found next to the properties file from there.
fn resolve_program(executable: &mut [String], dir: &Path) {
    if let Some(program) = executable.first_mut() {
        let p = Path::new(program.as_str());
        if p.is_relative() && p.components().count() >= 1 {
            let beside = dir.join(p);
            if beside.is_file() && (program.contains('/') || !on_path(program)) {
                *program = beside.to_string_lossy().into_owned();
            }
        }
    }
    // Arguments that name files beside the properties (`python3 app.py`) are left as
    // given: the child's working directory is the daemon's.
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "rill".into());
    format!("{host}-{:08x}", rand::random::<u32>())
}
