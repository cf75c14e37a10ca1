//! Several streams per application (the KCL's multi-stream mode).
//!
//! # Lease keys
//!
//! In multi-stream mode every lease key names its stream as the KCL's multi-stream leases
//! do: the serialized [`StreamIdentifier`], a colon, the shard id:
//!
//! ```text
//! <account id>:<stream name>:<creation epoch seconds>:<shard id>
//! 123456789012:orders:1700000000:shardId-000000000003
//! ```
//!
//! The account id comes from the stream's ARN and the creation epoch from its creation
//! timestamp (DescribeStreamSummary), so that a stream deleted and created again under the
//! same name gets new leases rather than the old checkpoints. `parentShardId` and
//! `childShardIds` hold plain shard ids, as in the KCL; the leases of a shard's parents are
//! found under the same stream prefix. A single-stream application keeps plain shard ids
//! as keys.
//!
//! # Streams that come and go
//!
//! A [`StreamTracker`] says which streams to consume; the scheduler asks it at start and at
//! every shard sync. A stream that the tracker no longer lists, or that Kinesis reports as
//! deleted (ResourceNotFound), has its leases deleted (each conditional on its counter):
//! the workers processing them see the lease lost and stop. A processing loop that reads
//! ResourceNotFound and finds the stream gone asks its processor to shut down and deletes
//! its lease itself.
//!
//! The KCL also writes `streamName` and `shardId` attributes on multi-stream leases; rill
//! does not (it derives both from the key), and reads leases that have them.

use crate::config::InitialPosition;
use rill_engine::api::{DescribeStreamSummaryInput, Error, Kinesis};
use std::fmt;

/// A stream as multi-stream lease keys name it: account, name, creation epoch (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamIdentifier {
    /// The account id (the fifth field of the stream's ARN).
    pub account_id: String,
    /// The stream's name.
    pub stream_name: String,
    /// When the stream was created, in seconds since the Unix epoch.
    pub creation_epoch: i64,
}

impl fmt::Display for StreamIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.account_id, self.stream_name, self.creation_epoch
        )
    }
}

impl StreamIdentifier {
    /// Parses `account:stream:epoch`; `None` when it is not of that form.
    pub fn parse(s: &str) -> Option<StreamIdentifier> {
        let mut parts = s.split(':');
        let (account, name, epoch) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || account.is_empty() || name.is_empty() {
            return None;
        }
        Some(StreamIdentifier {
            account_id: account.to_owned(),
            stream_name: name.to_owned(),
            creation_epoch: epoch.parse().ok()?,
        })
    }

    /// The lease key of `shard_id` of this stream.
    pub fn lease_key(&self, shard_id: &str) -> String {
        format!("{self}:{shard_id}")
    }

    /// The prefix every lease key of this stream starts with (ends with `:`).
    pub fn key_prefix(&self) -> String {
        format!("{self}:")
    }

    /// Splits a multi-stream lease key into its stream and shard id.
    pub fn split_lease_key(key: &str) -> Option<(StreamIdentifier, &str)> {
        let (stream, shard) = key.rsplit_once(':')?;
        Some((StreamIdentifier::parse(stream)?, shard))
    }

    /// The identifier of the stream `stream_name`, from DescribeStreamSummary.
    ///
    /// Cancel safety: cancel safe (a read).
    pub async fn describe(
        kinesis: &dyn Kinesis,
        stream_name: &str,
    ) -> Result<StreamIdentifier, Error> {
        let out = kinesis
            .describe_stream_summary(DescribeStreamSummaryInput {
                stream_name: Some(stream_name.to_owned()),
                ..Default::default()
            })
            .await?;
        let s = out.stream_description_summary;
        let account = s.stream_arn.split(':').nth(4).unwrap_or_default();
        Ok(StreamIdentifier {
            account_id: if account.is_empty() {
                "000000000000".into()
            } else {
                account.to_owned()
            },
            stream_name: s.stream_name,
            creation_epoch: s.stream_creation_timestamp.as_millis().div_euclid(1000),
        })
    }
}

/// A stream to consume and where its shards without a checkpoint start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// The stream's name.
    pub stream_name: String,
    /// Where shards without a checkpoint start.
    pub initial_position: InitialPosition,
}

impl StreamConfig {
    /// `stream_name` starting at `initial_position`.
    pub fn new(stream_name: impl Into<String>, initial_position: InitialPosition) -> StreamConfig {
        StreamConfig {
            stream_name: stream_name.into(),
            initial_position,
        }
    }
}

/// Which streams a multi-stream application consumes; asked at start and at every shard
/// sync, so streams can be added and removed while the application runs.
pub trait StreamTracker: Send + Sync + 'static {
    /// The streams to consume now.
    fn streams(&self) -> Vec<StreamConfig>;
}

impl StreamTracker for Vec<StreamConfig> {
    fn streams(&self) -> Vec<StreamConfig> {
        self.clone()
    }
}

impl<F> StreamTracker for F
where
    F: Fn() -> Vec<StreamConfig> + Send + Sync + 'static,
{
    fn streams(&self) -> Vec<StreamConfig> {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let id = StreamIdentifier {
            account_id: "123456789012".into(),
            stream_name: "orders".into(),
            creation_epoch: 1_700_000_000,
        };
        assert_eq!(id.to_string(), "123456789012:orders:1700000000");
        let key = id.lease_key("shardId-000000000003");
        assert_eq!(key, "123456789012:orders:1700000000:shardId-000000000003");
        let (back, shard) = StreamIdentifier::split_lease_key(&key).expect("a multi-stream key");
        assert_eq!((back, shard), (id.clone(), "shardId-000000000003"));
        assert!(key.starts_with(&id.key_prefix()));
        assert_eq!(
            StreamIdentifier::split_lease_key("shardId-000000000003"),
            None
        );
        assert_eq!(StreamIdentifier::parse("a:b:notanumber"), None);
        assert_eq!(StreamIdentifier::parse("a:b:1:2"), None);
    }
}
