//! Request and response types in the shapes of the Kinesis JSON protocol.
//!
//! Field names serialize exactly as AWS spells them (`StreamName`, `StreamARN`,
//! `MillisBehindLatest`, ...). Blobs (`Data`) are base64 strings in JSON and [`Bytes`](bytes::Bytes) in
//! Rust. Timestamps are [`Timestamp`]s: epoch milliseconds in Rust, epoch seconds (a JSON
//! number, fractional for milliseconds) on the wire, as the AWS JSON 1.1 protocol sends them.
//! Optional members are omitted when `None`. Every type implements `Default`, so inputs are
//! written as `PutRecordInput { stream_name: Some(..), ..Default::default() }`.
//!
//! The shapes are grouped by family of operations, one module each; everything is re-exported
//! here (and from [`crate::api`]). The wire infrastructure they build on (timestamps, blobs,
//! enums with AWS's spellings) is in [`crate::api::wire`].

mod account;
mod common;
mod fanout;
mod records;
mod settings;
mod streams;

pub use super::wire::{Timestamp, blob};
pub use account::*;
pub use common::*;
pub use fanout::*;
pub use records::*;
pub use settings::*;
pub use streams::*;

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn wire_names_match_aws() -> Result<(), serde_json::Error> {
        let out = GetRecordsOutput {
            records: vec![Record {
                sequence_number: "1".into(),
                approximate_arrival_timestamp: Some(Timestamp(1_700_000_000_123)),
                data: Bytes::from_static(b"hi"),
                partition_key: "k".into(),
                encryption_type: None,
            }],
            next_shard_iterator: Some("it".into()),
            millis_behind_latest: Some(0),
            child_shards: None,
        };
        let v = serde_json::to_value(&out)?;
        assert_eq!(
            v,
            serde_json::json!({
                "Records": [{"SequenceNumber": "1", "ApproximateArrivalTimestamp": 1700000000.123,
                             "Data": "aGk=", "PartitionKey": "k"}],
                "NextShardIterator": "it", "MillisBehindLatest": 0
            })
        );
        let back: GetRecordsOutput = serde_json::from_value(v)?;
        assert_eq!(back, out);

        let input: PutRecordInput = serde_json::from_str(
            r#"{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/s","Data":"AAE=","PartitionKey":"p"}"#,
        )?;
        assert_eq!(
            input.stream_arn.as_deref(),
            Some("arn:aws:kinesis:us-east-1:000000000000:stream/s")
        );
        assert_eq!(&input.data[..], &[0u8, 1]);
        let it: GetShardIteratorInput = serde_json::from_str(
            r#"{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1700000000}"#,
        )?;
        assert_eq!(it.timestamp, Some(Timestamp(1_700_000_000_000)));
        assert_eq!(it.shard_iterator_type, Some(ShardIteratorType::AtTimestamp));
        Ok(())
    }

    #[test]
    fn bad_base64_is_an_error() {
        let r: Result<PutRecordInput, _> =
            serde_json::from_str(r#"{"StreamName":"s","Data":"!!","PartitionKey":"p"}"#);
        assert!(r.is_err());
    }
}
