//! `rill put STREAM [DATA]`: records through the producer ([`rill_kpl::Producer`]).
//!
//! With DATA, one record. Without (or with `-`), one record per line of stdin, read as it
//! comes: the producer's `send` waits for buffer space, so memory stays bounded however long
//! the input is. Every line gets a partition key: random by default, `--partition-key K` for
//! all, or `--key-field NAME` from a JSON line's field. The producer aggregates (KPL format,
//! which `rill tail` and the KCL split again; `--no-aggregation` turns that off), keeps each
//! shard near its write limit and retries throttled records until `--record-ttl`.
//!
//! Progress goes to stderr every `--progress` seconds once a run takes that long, and a
//! summary (lines, acked, failed, seconds) at the end. The exit status is non-zero only when
//! a record finally failed; the first few failures are named by line number and error.

use bytes::Bytes;
use clap::Args;
use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use rill_kpl::{Ack, Producer, ProducerConfig, Record, RecordError, SendError};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::BoxError;
use crate::target::Target;

/// `rill put`'s flags.
#[derive(Args, Debug, Clone)]
pub struct PutArgs {
    /// Stream name.
    pub stream: String,
    /// The record, or `-` (the default) for one record per stdin line.
    #[arg(default_value = "-")]
    pub data: String,
    /// Partition key of every record (default: a random key per record).
    #[arg(long, conflicts_with = "key_field")]
    pub partition_key: Option<String>,
    /// Take each record's partition key from this field of the line, a JSON object (a
    /// string as it is, a number or boolean as its JSON text).
    #[arg(long)]
    pub key_field: Option<String>,
    /// Explicit hash key (decimal), overriding the partition key's hash.
    #[arg(long)]
    pub explicit_hash_key: Option<String>,
    /// Send every line as its own Kinesis record instead of KPL aggregates.
    #[arg(long)]
    pub no_aggregation: bool,
    /// Seconds a record may spend being retried (throttling, errors) before it fails.
    #[arg(long, default_value_t = 600)]
    pub record_ttl: u64,
    /// Seconds between progress lines on stderr; 0 for none.
    #[arg(long, default_value_t = 5)]
    pub progress: u64,
    /// Where the stream is.
    #[command(flatten)]
    pub target: Target,
}

/// How each line's partition key is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    /// A random key per record (spreads records over every shard).
    Random,
    /// The same key for every record.
    Fixed(String),
    /// The named field of a JSON object line.
    Field(String),
}

/// Why a line could not be made into a record (it counts as failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// `--key-field` and the line is not a JSON object.
    #[error("not a JSON object ({0}), so it has no field {1:?} for the partition key")]
    NotJson(String, String),
    /// `--key-field` and the object has no such field (or it is null, an array or object).
    #[error("no string, number or boolean field {0:?} for the partition key")]
    NoField(String),
}

impl KeyChoice {
    /// The partition key for one line.
    pub fn key_for(&self, line: &[u8]) -> Result<String, LineError> {
        match self {
            KeyChoice::Random => Ok(format!("{:032x}", rand::random::<u128>())),
            KeyChoice::Fixed(k) => Ok(k.clone()),
            KeyChoice::Field(name) => {
                let v: serde_json::Value = serde_json::from_slice(line)
                    .map_err(|e| LineError::NotJson(e.to_string(), name.clone()))?;
                let obj = v
                    .as_object()
                    .ok_or_else(|| LineError::NotJson("not an object".into(), name.clone()))?;
                match obj.get(name) {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                        Ok(v.to_string())
                    }
                    _ => Err(LineError::NoField(name.clone())),
                }
            }
        }
    }
}

/// What a put run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutSummary {
    /// Lines (records) read.
    pub lines: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records that finally failed.
    pub failed: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// The first failures: line number (from 1) and why.
    pub first_failures: Vec<(u64, String)>,
}

impl fmt::Display for PutSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines, {} acked, {} failed, {:.2} s ({:.0} records/s)",
            self.lines,
            self.acked,
            self.failed,
            self.seconds,
            self.acked as f64 / self.seconds.max(1e-9)
        )
    }
}

/// The counters the progress printer reads.
#[derive(Default)]
struct Counters {
    lines: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
}

/// Most failures named one by one on stderr (the rest are counted).
pub const NAMED_FAILURES: usize = 10;

/// Runs `rill put`.
///
/// # Cancel safety
/// Not cancel safe: records handed to the producer may or may not be put.
pub async fn put(args: PutArgs) -> Result<(), BoxError> {
    let keys = match (&args.partition_key, &args.key_field) {
        (Some(k), _) => KeyChoice::Fixed(k.clone()),
        (None, Some(f)) => KeyChoice::Field(f.clone()),
        (None, None) => KeyChoice::Random,
    };
    let config = ProducerConfig::builder()
        .aggregation_enabled(!args.no_aggregation)
        .record_ttl(Duration::from_secs(args.record_ttl.max(1)))
        .build()?;
    let conn = args.target.connect().await?;
    let producer = Producer::new(Arc::clone(&conn.kinesis), config);
    let stream: Arc<str> = args.stream.as_str().into();
    let options = PutOptions {
        keys,
        explicit_hash_key: args.explicit_hash_key.clone(),
        progress: (args.progress > 0).then(|| Duration::from_secs(args.progress)),
    };
    let summary = if args.data == "-" {
        let input = BufReader::new(tokio::io::stdin());
        put_lines(&producer, stream, input, &options, |_, _| {}).await
    } else {
        let input = std::io::Cursor::new(args.data.clone().into_bytes());
        let mut ack_line = None;
        let s = put_lines(&producer, stream, input, &options, |_, ack| {
            ack_line = Some(format!("{} {}", ack.shard_id(), ack.sequence_number()));
        })
        .await;
        if let Some(l) = ack_line {
            println!("{l}");
        }
        s
    };
    producer.shutdown().await;
    conn.close().await?;
    let summary = summary?;
    eprintln!("rill put: {summary}");
    if summary.failed > 0 {
        let (line, why) = summary
            .first_failures
            .first()
            .cloned()
            .unwrap_or((0, String::new()));
        return Err(format!(
            "{} of {} records failed; the first, line {line}: {why}",
            summary.failed, summary.lines
        )
        .into());
    }
    Ok(())
}

/// How [`put_lines`] makes records and reports.
#[derive(Debug, Clone)]
pub struct PutOptions {
    /// The partition key of each line.
    pub keys: KeyChoice,
    /// An explicit hash key for every record.
    pub explicit_hash_key: Option<String>,
    /// Print a progress line on stderr this often (first after one interval).
    pub progress: Option<Duration>,
}

/// Puts one record per line of `input` (without its `\n` or `\r\n`) through `producer` and
/// waits for every result; `on_ack` sees each acknowledged line number and its ack, in
/// completion order. Failures are printed on stderr (the first [`NAMED_FAILURES`]) and
/// counted. Memory stays bounded: a line is read only once the producer takes the last.
///
/// # Cancel safety
/// Not cancel safe: records handed to the producer may or may not be put.
pub async fn put_lines(
    producer: &Producer,
    stream: Arc<str>,
    mut input: impl AsyncBufRead + Unpin,
    options: &PutOptions,
    mut on_ack: impl FnMut(u64, &Ack),
) -> Result<PutSummary, BoxError> {
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let progress = options.progress.map(|every| {
        let c = Arc::clone(&counters);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                eprintln!(
                    "rill put: {} lines read, {} acked, {} failed, {:.0} s",
                    c.lines.load(Ordering::Relaxed),
                    c.acked.load(Ordering::Relaxed),
                    c.failed.load(Ordering::Relaxed),
                    started.elapsed().as_secs_f64()
                );
            }
        })
    });
    let mut summary = PutSummary::default();
    let mut pending = FuturesUnordered::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let result = async {
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf).await? == 0 {
                break;
            }
            line_no += 1;
            counters.lines.fetch_add(1, Ordering::Relaxed);
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            match options.keys.key_for(&buf) {
                Ok(key) => {
                    let mut record =
                        Record::new(Arc::clone(&stream), key, Bytes::copy_from_slice(&buf));
                    if let Some(h) = &options.explicit_hash_key {
                        record = record.with_explicit_hash_key(h.clone());
                    }
                    match producer.send(record).await {
                        Ok(fut) => {
                            let n = line_no;
                            pending.push(fut.map(move |r| (n, r)));
                        }
                        Err(e @ SendError::Invalid { .. }) => {
                            fail(&mut summary, &counters, line_no, e.to_string())
                        }
                        Err(e) => return Err(e.to_string().into()),
                    }
                }
                Err(e) => fail(&mut summary, &counters, line_no, e.to_string()),
            }
            // Results that are in: keeps `pending` about as long as the producer's buffer.
            while let Some(Some((n, r))) = pending.next().now_or_never() {
                settle(&mut summary, &counters, n, r, &mut on_ack);
            }
        }
        producer.flush().await;
        while let Some((n, r)) = pending.next().await {
            settle(&mut summary, &counters, n, r, &mut on_ack);
        }
        Ok::<(), BoxError>(())
    }
    .await;
    if let Some(p) = progress {
        p.abort();
    }
    result?;
    summary.lines = line_no;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn settle(
    summary: &mut PutSummary,
    counters: &Counters,
    line: u64,
    result: Result<Ack, RecordError>,
    on_ack: &mut impl FnMut(u64, &Ack),
) {
    match result {
        Ok(ack) => {
            summary.acked += 1;
            counters.acked.fetch_add(1, Ordering::Relaxed);
            on_ack(line, &ack);
        }
        Err(e) => fail(summary, counters, line, e.to_string()),
    }
}

fn fail(summary: &mut PutSummary, counters: &Counters, line: u64, why: String) {
    summary.failed += 1;
    counters.failed.fetch_add(1, Ordering::Relaxed);
    if summary.first_failures.len() < NAMED_FAILURES {
        eprintln!("rill put: line {line} failed: {why}");
        summary.first_failures.push((line, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_field_takes_strings_numbers_and_names_bad_lines() {
        let k = KeyChoice::Field("user".into());
        assert_eq!(k.key_for(br#"{"user":"ann","n":1}"#), Ok("ann".into()));
        assert_eq!(k.key_for(br#"{"user":42}"#), Ok("42".into()));
        assert_eq!(
            k.key_for(br#"{"other":1}"#),
            Err(LineError::NoField("user".into()))
        );
        assert!(matches!(
            k.key_for(b"plain text"),
            Err(LineError::NotJson(..))
        ));
        assert!(matches!(k.key_for(b"[1,2]"), Err(LineError::NotJson(..))));
    }

    #[test]
    fn random_keys_differ_and_fit_kinesis() {
        let a = KeyChoice::Random.key_for(b"x").unwrap_or_default();
        let b = KeyChoice::Random.key_for(b"x").unwrap_or_default();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
    }
}
