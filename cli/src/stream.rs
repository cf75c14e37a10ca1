//! `rill stream create|list|describe|delete`.

use clap::Subcommand;
use rill_engine::api::*;
use std::sync::Arc;

use crate::BoxError;
use crate::target::{Target, list_all_shards};

/// `rill stream` subcommands.
#[derive(Subcommand, Debug)]
pub enum StreamCommand {
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
        /// Where the stream is.
        #[command(flatten)]
        target: Target,
    },
    /// List stream names.
    List {
        /// Where the stream is.
        #[command(flatten)]
        target: Target,
    },
    /// Describe a stream and its shards (JSON).
    Describe {
        /// Stream name.
        name: String,
        /// Where the stream is.
        #[command(flatten)]
        target: Target,
    },
    /// Delete a stream.
    Delete {
        /// Stream name.
        name: String,
        /// Where the stream is.
        #[command(flatten)]
        target: Target,
    },
}

/// Runs a `rill stream` subcommand.
///
/// # Cancel safety
/// Not cancel safe: a call dropped midway may or may not have been applied.
pub async fn stream(cmd: StreamCommand) -> Result<(), BoxError> {
    let target = match &cmd {
        StreamCommand::Create { target, .. }
        | StreamCommand::List { target }
        | StreamCommand::Describe { target, .. }
        | StreamCommand::Delete { target, .. } => target.clone(),
    };
    let conn = target.connect().await?;
    let k = Arc::clone(&conn.kinesis);
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
    conn.close().await
}
