//! # rill-engine
//!
//! The stream service of rill, a Rust implementation of the Kinesis Data Streams stack.
//!
//! * [`api`]: the Kinesis request/response types, the [`api::Error`] enum (one variant per AWS
//!   exception), the async [`api::Kinesis`] trait, hash keys and sequence numbers. Always built;
//!   this is what the producer and the consumer depend on. The operations are declared once,
//!   in the [operation table](api::ops) ([`kinesis_operations!`]), from which the trait, the
//!   server's dispatch, the fault wrapper and `Remote` are generated.
//! * [`Engine`] (feature `embedded`, on by default): an in-process Kinesis service with
//!   durable per-stream logs on disk. See [`store`] for the on-disk format and exactly when an
//!   acknowledged write is durable.
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rill_engine::api::*;
//! use rill_engine::{Engine, EngineConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
//! engine
//!     .create_stream(CreateStreamInput {
//!         stream_name: "orders".into(),
//!         shard_count: Some(2),
//!         ..Default::default()
//!     })
//!     .await?;
//! let put = engine
//!     .put_record(PutRecordInput {
//!         stream_name: Some("orders".into()),
//!         partition_key: "customer-1".into(),
//!         data: "hello".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! let it = engine
//!     .get_shard_iterator(GetShardIteratorInput {
//!         stream_name: Some("orders".into()),
//!         shard_id: put.shard_id.clone(),
//!         shard_iterator_type: Some(ShardIteratorType::TrimHorizon),
//!         ..Default::default()
//!     })
//!     .await?;
//! let got = engine
//!     .get_records(GetRecordsInput {
//!         shard_iterator: it.shard_iterator.unwrap_or_default(),
//!         ..Default::default()
//!     })
//!     .await?;
//! assert_eq!(&got.records[0].data[..], b"hello");
//! engine.close().await?;
//! # Ok(())
//! # }
//! # #[cfg(feature = "embedded")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

pub mod api;
pub mod config_file;

#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "embedded")]
pub mod store;
#[cfg(feature = "remote")]
pub use remote::{LocalError, LocalOptions, Remote};

#[cfg(feature = "embedded")]
pub use embedded::{Engine, EngineConfig};
#[cfg(feature = "embedded")]
pub use store::{FsyncPolicy, InvalidFsyncPolicy};

#[cfg(feature = "server")]
pub mod server;
