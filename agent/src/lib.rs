//! # rill-agent: log files into streams, and sample data
//!
//! The counterpart of the Amazon Kinesis Agent and the Kinesis Data Generator, built on the
//! rill producer ([`rill_kpl`]):
//!
//! * `rill agent run --config agent.toml` (the `rill` binary, package `rill` in `cli/`) tails the files of each flow's glob pattern and
//!   ships every complete line, through the aggregating producer, to the flow's stream. It
//!   follows rename and copy-truncate rotation and new files, and checkpoints each file's
//!   (device, inode, offset) in SQLite only once every line before that offset is
//!   acknowledged: a restart after a stop or a crash neither loses nor re-sends
//!   acknowledged lines (lines sent after the last checkpoint may be sent again). See
//!   [`agent`] for the details and [`config`] for the file format.
//! * `rill generate --stream S --template T --records N [--rate R]` puts records made
//!   from a [`template::Template`] with random fields.
//!
//! Both work against an embedded engine (`--data-dir` / `data_dir`), `rill serve` or any
//! Kinesis endpoint (`--endpoint` / `endpoint`).
//!
//! ```
//! use rill_agent::config::{Config, PartitionKey};
//! use rill_agent::template::Template;
//!
//! let config = Config::parse(r#"
//!     endpoint = "http://127.0.0.1:4567"
//!     checkpoint_db = "/var/lib/rill-agent/checkpoints.sqlite"
//!     [[flows]]
//!     files = "/var/log/app/*.log"
//!     stream = "app-logs"
//!     partition_key = { json_field = "user" }
//! "#)?;
//! assert_eq!(config.flows[0].partition_key, PartitionKey::JsonField("user".into()));
//!
//! let template = Template::parse(r#"{"user":"{{pick "ann" "bob"}}","n":{{int 1 6}}}"#)?;
//! let record = template.render(0, &mut rand::rng());
//! assert!(record.starts_with(r#"{"user":""#));
//! # Ok::<(), rill_agent::BoxError>(())
//! ```
//!
//! ## Metrics
//!
//! Counters through the `metrics` facade, labelled by `stream`: `LinesRead`, `RecordsSent`,
//! `RecordsAcked`, `RecordsFailed`, `LinesMalformed`, `CheckpointsWritten` (see
//! [`agent::Stats`]); the producer's own metrics come along. The agent prints the same
//! counters as one JSON line on stdout when it exits.

pub mod agent;
pub mod checkpoint;
pub mod config;
pub mod generate;
pub mod template;

/// The error type of the agent.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
