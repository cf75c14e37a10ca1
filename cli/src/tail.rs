//! `rill tail STREAM`: prints a stream's records, KPL aggregates split into their user
//! records.
//!
//! Shards are read parents before children: a shard starts once every parent it has among
//! the shards being read was read to its end (a closed shard ends with `ChildShards` and no
//! next iterator), so the records of one partition key come out in order across a split or
//! a merge. `--from trim-horizon` (the default) starts at the stream's oldest shards;
//! `--from latest` at the open shards' tips. Without `--follow` each open shard is read
//! until it is caught up; with it, reading goes on, and across resharding: the children of
//! a shard that closes are followed from their start once their parents are drained.
//! Read throttling (`ProvisionedThroughputExceededException`) is waited out and retried.

use clap::{Args, ValueEnum};
use rill_engine::api::*;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

use crate::BoxError;
use crate::target::{Target, list_all_shards};

/// Where `rill tail` starts.
#[derive(Clone, Copy, ValueEnum, Debug, PartialEq, Eq)]
pub enum From {
    /// At the oldest record of the stream's oldest shards.
    TrimHorizon,
    /// After the newest record of every open shard.
    Latest,
}

/// `rill tail`'s flags.
#[derive(Args, Debug, Clone)]
pub struct TailArgs {
    /// Stream name.
    pub stream: String,
    /// Where to start in every shard.
    #[arg(long, value_enum, default_value_t = From::TrimHorizon)]
    pub from: From,
    /// Keep waiting for new records, and follow the children of shards that close.
    #[arg(long)]
    pub follow: bool,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
    /// Where the stream is.
    #[command(flatten)]
    pub target: Target,
}

/// Pause between reads of a shard that is caught up (as the KCL does between empty reads).
const IDLE: Duration = Duration::from_millis(250);
/// First pause after a throttled read; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How a shard's reading ended.
struct ShardDone {
    shard_id: String,
    /// The shard is closed and was read to its end; its children (from `ChildShards`).
    closed: Option<Vec<ChildShard>>,
}

/// Runs `rill tail`.
///
/// # Cancel safety
/// Cancel safe: it only reads (records already printed stay printed).
pub async fn tail(args: TailArgs) -> Result<(), BoxError> {
    let conn = args.target.connect().await?;
    let result = tail_on(Arc::clone(&conn.kinesis), &args).await;
    conn.close().await?;
    result
}

/// Which shards to read and in what order: parents before children.
#[derive(Default)]
struct Plan {
    /// Parents of shards not started yet, by shard.
    waiting: HashMap<String, Vec<String>>,
    started: HashSet<String>,
    finished: HashSet<String>,
}

impl Plan {
    /// Shards of `waiting` whose parents among the tracked shards are all finished.
    fn ready(&mut self) -> Vec<String> {
        let tracked = |s: &String, w: &HashMap<String, Vec<String>>, st: &HashSet<String>| {
            w.contains_key(s) || st.contains(s)
        };
        let mut ready: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, parents)| {
                parents
                    .iter()
                    .all(|p| self.finished.contains(p) || !tracked(p, &self.waiting, &self.started))
            })
            .map(|(s, _)| s.clone())
            .collect();
        ready.sort();
        for s in &ready {
            self.waiting.remove(s);
            self.started.insert(s.clone());
        }
        ready
    }
}

async fn tail_on(k: Arc<dyn Kinesis>, args: &TailArgs) -> Result<(), BoxError> {
    let shards = list_all_shards(k.as_ref(), &args.stream).await?;
    let mut plan = Plan::default();
    for s in &shards {
        let open = s.sequence_number_range.ending_sequence_number.is_none();
        if args.from == From::Latest && !open {
            continue;
        }
        let parents = [&s.parent_shard_id, &s.adjacent_parent_shard_id]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        plan.waiting.insert(s.shard_id.clone(), parents);
    }
    let mut tasks: JoinSet<Result<ShardDone, Error>> = JoinSet::new();
    let mut first_round = true;
    loop {
        for shard in plan.ready() {
            // The first shards start where --from says; children always from their start.
            let start = if first_round && args.from == From::Latest {
                ShardIteratorType::Latest
            } else {
                ShardIteratorType::TrimHorizon
            };
            let (k, stream) = (Arc::clone(&k), args.stream.clone());
            let (follow, json) = (args.follow, args.json);
            tasks.spawn(read_shard(k, stream, shard, start, follow, json));
        }
        first_round = false;
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let done = done??;
        plan.finished.insert(done.shard_id.clone());
        for child in done.closed.unwrap_or_default() {
            if !plan.started.contains(&child.shard_id) && !plan.finished.contains(&child.shard_id) {
                let parents = plan.waiting.entry(child.shard_id.clone()).or_default();
                for p in child.parent_shards {
                    if !parents.contains(&p) {
                        parents.push(p);
                    }
                }
            }
        }
    }
    Ok(())
}

async fn read_shard(
    k: Arc<dyn Kinesis>,
    stream: String,
    shard_id: String,
    start: ShardIteratorType,
    follow: bool,
    json: bool,
) -> Result<ShardDone, Error> {
    let mut backoff = MIN_BACKOFF;
    let mut it = loop {
        match k
            .get_shard_iterator(GetShardIteratorInput {
                stream_name: Some(stream.clone()),
                shard_id: shard_id.clone(),
                shard_iterator_type: Some(start),
                ..Default::default()
            })
            .await
        {
            Ok(o) => break o.shard_iterator,
            Err(e) if throttled(&e) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e),
        }
    };
    let mut children = None;
    backoff = MIN_BACKOFF;
    while let Some(i) = it.take() {
        let page = match k
            .get_records(GetRecordsInput {
                shard_iterator: i.clone(),
                ..Default::default()
            })
            .await
        {
            Ok(p) => p,
            Err(e) if throttled(&e) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                it = Some(i);
                continue;
            }
            Err(e) => return Err(e),
        };
        backoff = MIN_BACKOFF;
        let caught_up = page.records.is_empty() && page.millis_behind_latest == Some(0);
        {
            let mut out = std::io::stdout().lock();
            for r in &page.records {
                print_record(&mut out, &shard_id, r, json);
            }
            let _ = out.flush();
        }
        it = page.next_shard_iterator;
        if it.is_none() {
            children = Some(page.child_shards.unwrap_or_default());
            break;
        }
        if caught_up {
            if !follow {
                break;
            }
            tokio::time::sleep(IDLE).await;
        }
    }
    Ok(ShardDone {
        shard_id,
        closed: children,
    })
}

fn throttled(e: &Error) -> bool {
    matches!(
        e,
        Error::ProvisionedThroughputExceeded(_) | Error::LimitExceeded(_)
    )
}

/// Prints one Kinesis record: each user record of an aggregate on its own line, as text
/// (`SHARD SEQ[:SUB] KEY: DATA`) or JSON.
pub fn print_record(out: &mut impl Write, shard: &str, r: &Record, json: bool) {
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
