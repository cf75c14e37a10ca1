//! The agent's TOML configuration: where the stream lives, where checkpoints go, and the
//! flows (file pattern → stream).
//!
//! ```toml
//! endpoint = "http://127.0.0.1:4567"     # or: data_dir = "/var/lib/rill"
//! checkpoint_db = "/var/lib/rill-agent/checkpoints.sqlite"
//! poll_interval_ms = 200                 # optional
//!
//! [[flows]]
//! files = "/var/log/app/*.log"
//! stream = "app-logs"
//! partition_key = "random"               # or "line_hash", or { json_field = "user" }
//! conversion = "none"                    # or { regex = '(?P<ip>\S+) (?P<path>\S+)' }
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

use crate::BoxError;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A Kinesis endpoint (`rill serve`, Amazon Kinesis, any compatible server).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The data directory of an embedded engine (one process per directory at a time).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The SQLite file holding each file's checkpoint (created if missing).
    pub checkpoint_db: PathBuf,
    /// How often the files and their directories are polled, in milliseconds (default 200).
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// The flows.
    pub flows: Vec<FlowConfig>,
}

fn default_poll_ms() -> u64 {
    200
}

/// One flow: the files of a glob pattern shipped line by line to a stream.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// A glob pattern (`*`, `?`, `[...]`, `**`) of the files to tail.
    pub files: String,
    /// The stream the lines go to.
    pub stream: String,
    /// How each record's partition key is chosen (default `random`).
    #[serde(default)]
    pub partition_key: PartitionKey,
    /// How a line becomes a record's data (default `none`: the line as is).
    #[serde(default)]
    pub conversion: Conversion,
}

/// How a record's partition key is chosen.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKey {
    /// A random 128-bit key per line: spreads lines over every shard, no ordering.
    #[default]
    Random,
    /// The MD5 of the line in hex: identical lines share a shard.
    LineHash,
    /// A top-level field of the record's data parsed as a JSON object (after conversion).
    /// A line that is not a JSON object with that field is counted as malformed
    /// (`LinesMalformed`), logged, and sent with a random key.
    JsonField(String),
}

/// How a line becomes a record's data.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// The line as is (without its newline).
    #[default]
    None,
    /// A single-line JSON object of the named groups of this regex (values are strings;
    /// a group that did not take part is left out). A line that does not match is counted
    /// (`LinesMalformed`), logged with its file and offset, and skipped.
    Regex(String),
}

impl Config {
    /// Parses a configuration and checks it.
    pub fn parse(text: &str) -> Result<Config, BoxError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<Config, BoxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading config {}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("config {}: {e}", path.display()).into())
    }

    /// Checks what serde cannot: one target, at least one flow, valid patterns and regexes.
    pub fn validate(&self) -> Result<(), BoxError> {
        if self.endpoint.is_some() == self.data_dir.is_some() {
            return Err("give exactly one of `endpoint` and `data_dir`".into());
        }
        if self.flows.is_empty() {
            return Err("no [[flows]]".into());
        }
        if self.poll_interval_ms == 0 {
            return Err("poll_interval_ms must be above 0".into());
        }
        for flow in &self.flows {
            glob::Pattern::new(&flow.files)
                .map_err(|e| format!("flow files {:?}: {e}", flow.files))?;
            if flow.stream.is_empty() {
                return Err(format!("flow {:?}: empty stream", flow.files).into());
            }
            if let Conversion::Regex(re) = &flow.conversion {
                let re = regex::Regex::new(re).map_err(|e| format!("flow regex: {e}"))?;
                if re.capture_names().flatten().next().is_none() {
                    return Err(format!("flow regex {re}: no named group").into());
                }
            }
            if let PartitionKey::JsonField(f) = &flow.partition_key
                && f.is_empty()
            {
                return Err("partition_key json_field: empty name".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() -> Result<(), BoxError> {
        let c = Config::parse(
            r#"
            data_dir = "/tmp/d"
            checkpoint_db = "/tmp/c.sqlite"
            [[flows]]
            files = "/var/log/*.log"
            stream = "a"
            [[flows]]
            files = "/var/log/x/*.log"
            stream = "b"
            partition_key = "line_hash"
            conversion = { regex = '(?P<n>\d+)' }
            [[flows]]
            files = "/var/log/y/*.json"
            stream = "c"
            partition_key = { json_field = "user" }
            conversion = "none"
            "#,
        )?;
        assert_eq!(c.poll_interval_ms, 200);
        assert_eq!(c.flows[0].partition_key, PartitionKey::Random);
        assert_eq!(c.flows[1].partition_key, PartitionKey::LineHash);
        assert_eq!(
            c.flows[1].conversion,
            Conversion::Regex(r"(?P<n>\d+)".into())
        );
        assert_eq!(
            c.flows[2].partition_key,
            PartitionKey::JsonField("user".into())
        );
        Ok(())
    }

    #[test]
    fn rejects_bad_configs() {
        let base = "checkpoint_db = \"c\"\n";
        assert!(Config::parse(&format!("{base}[[flows]]\nfiles=\"*\"\nstream=\"s\"")).is_err());
        assert!(
            Config::parse(&format!(
                "{base}data_dir=\"d\"\n[[flows]]\nfiles=\"*\"\nstream=\"s\"\nconversion={{regex='(a'}}"
            ))
            .is_err()
        );
        assert!(
            Config::parse(&format!(
                "{base}data_dir=\"d\"\n[[flows]]\nfiles=\"*\"\nstream=\"s\"\npartition_key=\"nope\""
            ))
            .is_err()
        );
    }
}
