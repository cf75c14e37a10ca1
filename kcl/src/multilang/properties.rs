//! The MultiLangDaemon's properties file, and the settings rill takes from it.
//!
//! Syntax (Java's `Properties.load`): one `key = value` (or `key: value`, or `key value`)
//! per line; lines starting with `#` or `!` are comments; a line ending in an odd number
//! of backslashes continues on the next (whose leading blanks are dropped); `\t`, `\n`,
//! `\r`, `\f`, `\uXXXX` and `\<char>` escapes. A key given twice keeps the last value.
//!
//! # Keys
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `executableName` | the child's command line, split at blanks (`python3 app.py`) | required |
//! | `streamName` | the stream | required, or `streamArn` |
//! | `streamArn` | `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`: the stream's name | |
//! | `applicationName` | the application: its workers share a lease table named after it | required |
//! | `initialPositionInStream` | `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`, for shards without a checkpoint | `LATEST` |
//! | `initialPositionInStreamExtended` (alias `timestamp`) | epoch seconds (fractions allowed): `AT_TIMESTAMP` there | |
//! | `regionName` | the AWS region of Kinesis and DynamoDB without endpoints | `us-east-1` |
//! | `kinesisEndpoint` | a Kinesis endpoint URL (`rill serve`, kinesalite, ...) | AWS's |
//! | `dynamoDBEndpoint` | a DynamoDB endpoint URL for the lease table (dynalite, DynamoDB Local) | AWS's |
//! | `workerId` | this worker's id in the lease table | host name and a random suffix |
//! | `failoverTimeMillis` | a lease not renewed this long is taken by another worker | 10000 |
//! | `maxRecords` | most records per GetRecords (1..=10000) | 10000 |
//! | `idleTimeBetweenReadsInMillis` | pause after a read that reached the shard's tip | 1000 |
//! | `shardSyncIntervalMillis` | how often shards are synced into leases | 60000 |
//! | `maxLeasesForWorker` | most leases this worker holds | unlimited |
//! | `maxLeasesToStealAtOnce` | most leases stolen in one scan | 1 |
//! | `retrievalMode` | `POLLING` or `FANOUT` (enhanced fan-out, SubscribeToShard) | `POLLING` |
//! | `rillLeaseTable` | `sqlite:PATH` (a lease table in a SQLite file, one host) or `dynamodb` | `dynamodb` |
//! | `rillChildExitTimeoutMillis` | after its last action a child gets this long to exit, then is killed | 10000 |
//!
//! Accepted and ignored (they tune parts of the Java KCL rill does not have, or that rill
//! does its own way): `AwsCredentialsProvider`, `AwsCredentialsProviderDynamoDB`,
//! `AwsCredentialsProviderCloudWatch` (rill uses the AWS SDK's default chain, and fixed
//! local credentials with an endpoint), `processingLanguage`, `callProcessRecordsEvenForEmptyRecordList`
//! (rill never delivers empty batches), `parentShardPollIntervalMillis` (rill polls parents
//! at its taker interval), `cleanupLeasesUponShardCompletion`, `taskBackoffTimeMillis`,
//! `metricsBufferTimeMillis`, `metricsMaxQueueSize`, `metricsLevel`, `metricsEnabledDimensions`,
//! `validateSequenceNumberBeforeCheckpointing`, `maxActiveThreads`, `shutdownGraceMillis`,
//! `clientVersionConfig`, `coordinatorState*`, `leaseTable*`, `workerMetrics*`,
//! `gracefulLeaseHandoffTimeoutMillis`, `isGracefulLeaseHandoffEnabled`, `userAgent`,
//! `kinesisCredentialsProvider`, `dynamoDBCredentialsProvider`, `cloudWatchCredentialsProvider`,
//! `cloudWatchEndpoint`, `maxGetRecordsThreadPool`, `retryGetRecordsInSeconds`. Any other key is
//! ignored with a warning.

use rill_engine::api::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::InitialPosition;

/// Why a properties file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropertiesError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line could not be parsed.
    #[error("line {line}: {reason}")]
    Syntax {
        /// The line number (from 1).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A required key is missing.
    #[error("missing required property {0}")]
    Missing(&'static str),
    /// A key has a value rill cannot use.
    #[error("property {key} = {value:?}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Parses Java properties text into key/value pairs (last value of a key wins).
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let first = raw.trim_start();
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        let mut logical = String::from(first);
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key, i + 1)?;
        let value = unescape(value, i + 1)?;
        out.insert(key, value);
    }
    Ok(out)
}

fn ends_in_continuation(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or blank, and the separator's surrounding blanks.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str, line: usize) -> Result<String, PropertiesError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| PropertiesError::Syntax {
                        line,
                        reason: format!("bad \\u escape \\u{hex}"),
                    })?;
                out.push(ch);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// Where leases are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseStore {
    /// A DynamoDB table named after the application (at `dynamoDBEndpoint`, or AWS's).
    DynamoDb,
    /// A SQLite file (workers on one host).
    Sqlite(PathBuf),
}

/// Polling or enhanced fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrieval {
    /// GetRecords in a loop.
    Polling,
    /// SubscribeToShard through a stream consumer named after the application.
    FanOut,
}

/// The settings of `rill multilang`, from a properties file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MultiLangConfig {
    /// The child's program and arguments.
    pub executable: Vec<String>,
    /// The stream.
    pub stream_name: String,
    /// The application (and DynamoDB lease table) name.
    pub application_name: String,
    /// Where shards without a checkpoint start.
    pub initial_position: InitialPosition,
    /// The AWS region.
    pub region: String,
    /// A Kinesis endpoint URL.
    pub kinesis_endpoint: Option<String>,
    /// A DynamoDB endpoint URL.
    pub dynamodb_endpoint: Option<String>,
    /// The worker id, if set.
    pub worker_id: Option<String>,
    /// `failoverTimeMillis`.
    pub failover_time: Option<Duration>,
    /// `maxRecords`.
    pub max_records: Option<i32>,
    /// `idleTimeBetweenReadsInMillis`.
    pub idle_time_between_reads: Option<Duration>,
    /// `shardSyncIntervalMillis`.
    pub shard_sync_interval: Option<Duration>,
    /// `maxLeasesForWorker`.
    pub max_leases_per_worker: Option<usize>,
    /// `maxLeasesToStealAtOnce`.
    pub max_leases_to_steal_at_once: Option<usize>,
    /// `retrievalMode`.
    pub retrieval: Retrieval,
    /// `rillLeaseTable`.
    pub lease_store: LeaseStore,
    /// `rillChildExitTimeoutMillis`.
    pub child_exit_timeout: Duration,
    /// Keys accepted without effect, and unknown keys (warned about), as found.
    pub ignored: Vec<String>,
}

const IGNORED: &[&str] = &[
    "AwsCredentialsProvider",
    "AwsCredentialsProviderDynamoDB",
    "AwsCredentialsProviderCloudWatch",
    "processingLanguage",
    "callProcessRecordsEvenForEmptyRecordList",
    "parentShardPollIntervalMillis",
    "cleanupLeasesUponShardCompletion",
    "taskBackoffTimeMillis",
    "metricsBufferTimeMillis",
    "metricsMaxQueueSize",
    "metricsLevel",
    "metricsEnabledDimensions",
    "validateSequenceNumberBeforeCheckpointing",
    "maxActiveThreads",
    "shutdownGraceMillis",
    "clientVersionConfig",
    "gracefulLeaseHandoffTimeoutMillis",
    "isGracefulLeaseHandoffEnabled",
    "userAgent",
    "kinesisCredentialsProvider",
    "dynamoDBCredentialsProvider",
    "cloudWatchCredentialsProvider",
    "cloudWatchEndpoint",
    "maxGetRecordsThreadPool",
    "retryGetRecordsInSeconds",
];
const IGNORED_PREFIXES: &[&str] = &["coordinatorState", "leaseTable", "workerMetrics"];

impl MultiLangConfig {
    /// Reads and checks a properties file.
    pub fn load(path: &Path) -> Result<MultiLangConfig, PropertiesError> {
        let text = std::fs::read_to_string(path).map_err(|source| PropertiesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text)?;
        // A relative SQLite path is relative to the properties file, as executableName
        // is looked up by the caller relative to it.
        if let LeaseStore::Sqlite(p) = &config.lease_store
            && p.is_relative()
            && let Some(dir) = path.parent()
        {
            config.lease_store = LeaseStore::Sqlite(dir.join(p));
        }
        Ok(config)
    }

    /// Checks properties text.
    pub fn parse(text: &str) -> Result<MultiLangConfig, PropertiesError> {
        let props = parse_properties(text)?;
        let get = |k: &str| props.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let invalid = |key: &str, value: &str, reason: &str| PropertiesError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let millis = |key: &str| -> Result<Option<Duration>, PropertiesError> {
            get(key)
                .map(|v| {
                    v.parse::<u64>()
                        .map(Duration::from_millis)
                        .map_err(|_| invalid(key, v, "not a whole number of milliseconds"))
                })
                .transpose()
        };
        let count = |key: &str| -> Result<Option<usize>, PropertiesError> {
            get(key)
                .map(|v| match v.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(invalid(key, v, "not a positive whole number")),
                })
                .transpose()
        };
        let executable: Vec<String> = get("executableName")
            .ok_or(PropertiesError::Missing("executableName"))?
            .split_whitespace()
            .map(String::from)
            .collect();
        let stream_name = match (get("streamName"), get("streamArn")) {
            (Some(n), _) => n.to_string(),
            (None, Some(arn)) => match arn.rsplit_once(":stream/") {
                Some((_, name)) if !name.is_empty() => name.to_string(),
                _ => return Err(invalid("streamArn", arn, "not arn:...:stream/NAME")),
            },
            (None, None) => return Err(PropertiesError::Missing("streamName")),
        };
        let application_name = get("applicationName")
            .ok_or(PropertiesError::Missing("applicationName"))?
            .to_string();
        let timestamp = match get("initialPositionInStreamExtended").or(get("timestamp")) {
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => Some(Timestamp::from_secs_f64(s)),
                _ => {
                    return Err(invalid(
                        "initialPositionInStreamExtended",
                        v,
                        "not epoch seconds",
                    ));
                }
            },
            None => None,
        };
        let initial_position = match (get("initialPositionInStream"), timestamp) {
            (None | Some("AT_TIMESTAMP"), Some(t)) => InitialPosition::AtTimestamp(t),
            (Some("AT_TIMESTAMP"), None) => {
                return Err(invalid(
                    "initialPositionInStream",
                    "AT_TIMESTAMP",
                    "needs initialPositionInStreamExtended (epoch seconds)",
                ));
            }
            (Some("TRIM_HORIZON"), _) => InitialPosition::TrimHorizon,
            (Some("LATEST") | None, _) => InitialPosition::Latest,
            (Some(other), _) => {
                return Err(invalid(
                    "initialPositionInStream",
                    other,
                    "not TRIM_HORIZON, LATEST or AT_TIMESTAMP",
                ));
            }
        };
        let max_records = match get("maxRecords") {
            Some(v) => match v.parse::<i32>() {
                Ok(n) if (1..=10_000).contains(&n) => Some(n),
                _ => return Err(invalid("maxRecords", v, "not 1 to 10000")),
            },
            None => None,
        };
        let retrieval = match get("retrievalMode") {
            None | Some("POLLING") => Retrieval::Polling,
            Some("FANOUT") => Retrieval::FanOut,
            Some(v) => return Err(invalid("retrievalMode", v, "not POLLING or FANOUT")),
        };
        let lease_store = match get("rillLeaseTable") {
            None | Some("dynamodb") => LeaseStore::DynamoDb,
            Some(v) => match v.strip_prefix("sqlite:") {
                Some(p) if !p.is_empty() => LeaseStore::Sqlite(PathBuf::from(p)),
                _ => return Err(invalid("rillLeaseTable", v, "not sqlite:PATH or dynamodb")),
            },
        };
        const USED: &[&str] = &[
            "executableName",
            "streamName",
            "streamArn",
            "applicationName",
            "initialPositionInStream",
            "initialPositionInStreamExtended",
            "timestamp",
            "regionName",
            "kinesisEndpoint",
            "dynamoDBEndpoint",
            "workerId",
            "failoverTimeMillis",
            "maxRecords",
            "idleTimeBetweenReadsInMillis",
            "shardSyncIntervalMillis",
            "maxLeasesForWorker",
            "maxLeasesToStealAtOnce",
            "retrievalMode",
            "rillLeaseTable",
            "rillChildExitTimeoutMillis",
        ];
        let ignored = props
            .keys()
            .filter(|k| !USED.contains(&k.as_str()))
            .cloned()
            .collect();
        let failover_time = millis("failoverTimeMillis")?;
        if failover_time.is_some_and(|d| d.is_zero()) {
            return Err(invalid("failoverTimeMillis", "0", "must be positive"));
        }
        Ok(MultiLangConfig {
            executable,
            stream_name,
            application_name,
            initial_position,
            region: get("regionName").unwrap_or("us-east-1").to_string(),
            kinesis_endpoint: get("kinesisEndpoint").map(String::from),
            dynamodb_endpoint: get("dynamoDBEndpoint").map(String::from),
            worker_id: get("workerId").map(String::from),
            failover_time,
            max_records,
            idle_time_between_reads: millis("idleTimeBetweenReadsInMillis")?,
            shard_sync_interval: millis("shardSyncIntervalMillis")?,
            max_leases_per_worker: count("maxLeasesForWorker")?,
            max_leases_to_steal_at_once: count("maxLeasesToStealAtOnce")?,
            retrieval,
            lease_store,
            child_exit_timeout: millis("rillChildExitTimeoutMillis")?
                .unwrap_or(Duration::from_secs(10)),
            ignored,
        })
    }

    /// Whether `key` is one the Java KCL honours and rill accepts without effect (as
    /// opposed to a key nobody knows).
    pub fn is_known_ignored(key: &str) -> bool {
        IGNORED.contains(&key) || IGNORED_PREFIXES.iter().any(|p| key.starts_with(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let p = parse_properties(
            "# comment\n! also\n  a = 1\nb:2\nc 3\nd=x \\\n   y\ne = tab\\there\\u0041\nf=\\\\\nempty=\n",
        )
        .unwrap_or_default();
        assert_eq!(p.get("a").map(String::as_str), Some("1"));
        assert_eq!(p.get("b").map(String::as_str), Some("2"));
        assert_eq!(p.get("c").map(String::as_str), Some("3"));
        assert_eq!(p.get("d").map(String::as_str), Some("x y"));
        assert_eq!(p.get("e").map(String::as_str), Some("tab\thereA"));
        assert_eq!(p.get("f").map(String::as_str), Some("\\"));
        assert_eq!(p.get("empty").map(String::as_str), Some(""));
        assert!(matches!(
            parse_properties("k = \\u12"),
            Err(PropertiesError::Syntax { line: 1, .. })
        ));
    }

    #[test]
    fn the_kclpy_sample_properties_are_accepted() {
        let c = MultiLangConfig::parse(
            "executableName = sample_kclpy_app.py\n\
             streamArn = arn:aws:kinesis:us-east-5:000000000000:stream/kclpysample\n\
             streamName = kclpysample\n\
             applicationName = PythonKCLSample\n\
             AwsCredentialsProvider = DefaultCredentialsProvider\n\
             processingLanguage = python/3.8\n\
             initialPositionInStream = TRIM_HORIZON\n\
             regionName = us-east-1\n",
        );
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.executable, vec!["sample_kclpy_app.py".to_string()]);
        assert_eq!(c.stream_name, "kclpysample");
        assert_eq!(c.application_name, "PythonKCLSample");
        assert_eq!(c.initial_position, InitialPosition::TrimHorizon);
        assert_eq!(c.lease_store, LeaseStore::DynamoDb);
        assert!(
            c.ignored
                .iter()
                .all(|k| MultiLangConfig::is_known_ignored(k))
        );
        assert_eq!(c.ignored.len(), 2);
    }

    #[test]
    fn settings_map_and_bad_values_are_named() {
        let base = "executableName = python3 app.py --flag\nstreamName = s\napplicationName = a\n";
        let c = MultiLangConfig::parse(&format!(
            "{base}initialPositionInStreamExtended = 1636609142.5\nfailoverTimeMillis = 2000\n\
             maxRecords = 100\nidleTimeBetweenReadsInMillis = 50\nrillLeaseTable = sqlite:l.db\n\
             kinesisEndpoint = http://127.0.0.1:4567\nbogus = 1\n"
        ));
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(c.executable, ["python3", "app.py", "--flag"]);
        assert_eq!(
            c.initial_position,
            InitialPosition::AtTimestamp(Timestamp(1_636_609_142_500))
        );
        assert_eq!(c.failover_time, Some(Duration::from_secs(2)));
        assert_eq!(c.max_records, Some(100));
        assert_eq!(c.idle_time_between_reads, Some(Duration::from_millis(50)));
        assert_eq!(c.lease_store, LeaseStore::Sqlite("l.db".into()));
        assert_eq!(c.kinesis_endpoint.as_deref(), Some("http://127.0.0.1:4567"));
        assert_eq!(c.ignored, ["bogus"]);
        assert!(!MultiLangConfig::is_known_ignored("bogus"));

        for (extra, key) in [
            ("maxRecords = 0", "maxRecords"),
            (
                "initialPositionInStream = OLDEST",
                "initialPositionInStream",
            ),
            (
                "initialPositionInStream = AT_TIMESTAMP",
                "initialPositionInStream",
            ),
            ("failoverTimeMillis = soon", "failoverTimeMillis"),
            ("rillLeaseTable = mysql:x", "rillLeaseTable"),
        ] {
            match MultiLangConfig::parse(&format!("{base}{extra}\n")) {
                Err(PropertiesError::Invalid { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{extra}: {other:?}"),
            }
        }
        assert!(matches!(
            MultiLangConfig::parse("streamName = s\napplicationName = a\n"),
            Err(PropertiesError::Missing("executableName"))
        ));
    }
}
