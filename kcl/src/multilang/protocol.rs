//! The MultiLangDaemon's messages: one JSON object per line, `"action"` naming the kind.
//!
//! Daemon to child ([`ToChild`]):
//!
//! ```text
//! {"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}
//! {"action":"processRecords","millisBehindLatest":0,"records":[{"action":"record","data":"aGk=",
//!   "partitionKey":"k","sequenceNumber":"4959…","subSequenceNumber":0,"approximateArrivalTimestamp":1700000000000}]}
//! {"action":"leaseLost"}   {"action":"shardEnded"}   {"action":"shutdownRequested"}
//! {"action":"checkpoint","sequenceNumber":"4959…","subSequenceNumber":0}            (an answer)
//! {"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":"ShutdownException"}
//! ```
//!
//! Child to daemon ([`FromChild`]): `{"action":"checkpoint","sequenceNumber":S|null,
//! "subSequenceNumber":N|null}` (null: at the last record delivered, or `SHARD_END` after
//! `shardEnded`), answered by one `checkpoint` message; and `{"action":"status",
//! "responseFor":"<action>"}`, which ends the action. The shapes are those of
//! amazon_kclpy's `messages.py` and `kcl.py`, the Java `MultiLangProtocol`'s messages and
//! aws-kcl's `lib/kcl`: every record carries `"action":"record"` (kclpy decodes every
//! JSON object by its action), `data` is base64, the timestamp is epoch milliseconds, and
//! the keys kclpy reads with `json_dict[...]` are always present (null when unknown).
//! Libraries write an empty line around each message; blank lines are skipped, and so are
//! lines that are not JSON (a child's stray prints), with a warning.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::record::KinesisClientRecord;

/// A record as the child receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRecord {
    /// Always `"record"`.
    pub action: String,
    /// The data, base64.
    pub data: String,
    /// The (user record's) partition key.
    pub partition_key: String,
    /// The Kinesis record's sequence number.
    pub sequence_number: String,
    /// The index inside a KPL aggregate; 0 for a plain record.
    pub sub_sequence_number: u64,
    /// When Kinesis accepted the record, epoch milliseconds (0 when unknown).
    pub approximate_arrival_timestamp: i64,
}

impl From<&KinesisClientRecord> for JsonRecord {
    fn from(r: &KinesisClientRecord) -> JsonRecord {
        JsonRecord {
            action: "record".into(),
            data: STANDARD.encode(&r.data),
            partition_key: r.partition_key.clone(),
            sequence_number: r.sequence_number.clone(),
            sub_sequence_number: r.sub_sequence_number,
            approximate_arrival_timestamp: r.approximate_arrival_timestamp.map_or(0, |t| t.0),
        }
    }
}

/// A message from the daemon to a child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum ToChild {
    /// Before any record: the shard and the checkpoint processing resumes after.
    Initialize {
        /// The shard.
        shard_id: String,
        /// The checkpoint's sequence number (or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`).
        sequence_number: String,
        /// The checkpoint's sub-sequence number.
        sub_sequence_number: u64,
    },
    /// A batch of records, in shard order.
    ProcessRecords {
        /// The records.
        records: Vec<JsonRecord>,
        /// How far behind the shard's tip the batch was read (null when unknown).
        millis_behind_latest: Option<i64>,
    },
    /// Another worker took the lease: do not checkpoint.
    LeaseLost,
    /// The shard was read to its end: checkpoint (with no sequence number).
    ShardEnded,
    /// The worker shuts down or hands the shard over: checkpoint now to avoid re-delivery.
    ShutdownRequested,
    /// The answer to a child's checkpoint request.
    Checkpoint {
        /// The sequence number the child asked for (null: the last delivered).
        sequence_number: Option<String>,
        /// The sub-sequence number the child asked for.
        sub_sequence_number: Option<u64>,
        /// The Java KCL exception's simple name when the checkpoint failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

impl ToChild {
    /// The action name, as the child's status answers it (`responseFor`).
    pub fn action(&self) -> &'static str {
        match self {
            ToChild::Initialize { .. } => "initialize",
            ToChild::ProcessRecords { .. } => "processRecords",
            ToChild::LeaseLost => "leaseLost",
            ToChild::ShardEnded => "shardEnded",
            ToChild::ShutdownRequested => "shutdownRequested",
            ToChild::Checkpoint { .. } => "checkpoint",
        }
    }

    /// One line of JSON (without the newline).
    pub fn to_line(&self) -> String {
        // Serializing these types cannot fail: strings, numbers and options only.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// A message from a child to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FromChild {
    /// The child finished the action named.
    Status {
        /// The action (`initialize`, `processRecords`, ...).
        response_for: String,
    },
    /// Checkpoint at a record, or at the last delivered one (`None`).
    Checkpoint {
        /// The sequence number (a string; numbers are accepted too).
        sequence_number: Option<String>,
        /// The sub-sequence number (0 when absent with a sequence number).
        sub_sequence_number: Option<u64>,
    },
}

/// A line from a child that is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Blank (libraries write one around each message).
    #[error("blank line")]
    Blank,
    /// Not a JSON object with a string `action`.
    #[error("not a message (a JSON object with an \"action\"): {0}")]
    NotJson(String),
    /// A JSON message with an action the daemon does not take from children.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
    /// A known action with fields of the wrong type.
    #[error("malformed {action} message: {reason}")]
    Malformed {
        /// The action.
        action: String,
        /// What is wrong.
        reason: String,
    },
}

impl FromChild {
    /// Parses one line from a child's stdout.
    pub fn parse(line: &str) -> Result<FromChild, LineError> {
        let line = line.trim();
        if line.is_empty() {
            return Err(LineError::Blank);
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| LineError::NotJson(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| LineError::NotJson("not an object".into()))?;
        let action = obj
            .get("action")
            .and_then(|a| a.as_str())
            .ok_or_else(|| LineError::NotJson("no string \"action\"".into()))?;
        let malformed = |reason: &str| LineError::Malformed {
            action: action.to_string(),
            reason: reason.to_string(),
        };
        match action {
            "status" => match obj.get("responseFor").and_then(|r| r.as_str()) {
                Some(r) => Ok(FromChild::Status {
                    response_for: r.to_string(),
                }),
                None => Err(malformed("no string \"responseFor\"")),
            },
            "checkpoint" => {
                let sequence_number = match obj.get("sequenceNumber") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    Some(_) => return Err(malformed("\"sequenceNumber\" is not a string")),
                };
                let sub_sequence_number = match obj.get("subSequenceNumber") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(v) => Some(v.as_u64().ok_or_else(|| {
                        malformed("\"subSequenceNumber\" is not a non-negative integer")
                    })?),
                };
                Ok(FromChild::Checkpoint {
                    sequence_number,
                    sub_sequence_number,
                })
            }
            other => Err(LineError::UnknownAction(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn daemon_messages_have_the_multilang_shapes() {
        let init = ToChild::Initialize {
            shard_id: "shardId-000000000001".into(),
            sequence_number: "TRIM_HORIZON".into(),
            sub_sequence_number: 0,
        };
        let v: serde_json::Value = serde_json::from_str(&init.to_line()).unwrap_or_default();
        assert_eq!(
            v,
            json!({"action":"initialize","shardId":"shardId-000000000001",
                   "sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0})
        );
        let rec = KinesisClientRecord {
            sequence_number: "49".into(),
            sub_sequence_number: 2,
            partition_key: "k".into(),
            explicit_hash_key: None,
            data: bytes::Bytes::from_static(b"hi"),
            approximate_arrival_timestamp: Some(rill_engine::api::Timestamp(1_700_000_000_123)),
            aggregated: true,
        };
        let batch = ToChild::ProcessRecords {
            records: vec![JsonRecord::from(&rec)],
            millis_behind_latest: None,
        };
        let v: serde_json::Value = serde_json::from_str(&batch.to_line()).unwrap_or_default();
        assert_eq!(
            v,
            json!({"action":"processRecords","millisBehindLatest":null,"records":[
                {"action":"record","data":"aGk=","partitionKey":"k","sequenceNumber":"49",
                 "subSequenceNumber":2,"approximateArrivalTimestamp":1_700_000_000_123_i64}]})
        );
        assert_eq!(ToChild::ShardEnded.to_line(), r#"{"action":"shardEnded"}"#);
        assert_eq!(ToChild::LeaseLost.to_line(), r#"{"action":"leaseLost"}"#);
        assert_eq!(
            ToChild::ShutdownRequested.to_line(),
            r#"{"action":"shutdownRequested"}"#
        );
        let ok = ToChild::Checkpoint {
            sequence_number: None,
            sub_sequence_number: None,
            error: None,
        };
        assert_eq!(
            ok.to_line(),
            r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
        );
        let failed = ToChild::Checkpoint {
            sequence_number: Some("7".into()),
            sub_sequence_number: Some(0),
            error: Some("ShutdownException".into()),
        };
        assert_eq!(
            failed.to_line(),
            r#"{"action":"checkpoint","sequenceNumber":"7","subSequenceNumber":0,"error":"ShutdownException"}"#
        );
    }

    #[test]
    fn child_messages_parse_as_the_libraries_write_them() {
        assert_eq!(
            FromChild::parse(r#"{"action": "status", "responseFor": "initialize"}"#),
            Ok(FromChild::Status {
                response_for: "initialize".into()
            })
        );
        // kclpy: both keys, possibly null.
        assert_eq!(
            FromChild::parse(
                r#"{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}"#
            ),
            Ok(FromChild::Checkpoint {
                sequence_number: None,
                sub_sequence_number: None
            })
        );
        // aws-kcl: no subSequenceNumber.
        assert_eq!(
            FromChild::parse(r#"{"action":"checkpoint","sequenceNumber":"123"}"#),
            Ok(FromChild::Checkpoint {
                sequence_number: Some("123".into()),
                sub_sequence_number: None
            })
        );
        assert_eq!(FromChild::parse("   "), Err(LineError::Blank));
        assert!(matches!(
            FromChild::parse("Was throttled while checkpointing"),
            Err(LineError::NotJson(_))
        ));
        assert_eq!(
            FromChild::parse(r#"{"action":"dance"}"#),
            Err(LineError::UnknownAction("dance".into()))
        );
        assert!(matches!(
            FromChild::parse(r#"{"action":"checkpoint","subSequenceNumber":-1}"#),
            Err(LineError::Malformed { .. })
        ));
        assert!(matches!(
            FromChild::parse(r#"{"action":"status"}"#),
            Err(LineError::Malformed { .. })
        ));
    }
}
