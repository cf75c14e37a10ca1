//! The KCL MultiLangDaemon's protocol: record processors in any language, one child
//! process per shard, talking JSON lines over the child's stdin and stdout.
//!
//! This is what `rill multilang --properties FILE` runs, and what amazon_kclpy (Python),
//! aws-kcl (Node.js) and the other MultiLang libraries speak. For each shard lease the
//! [`Scheduler`](crate::Scheduler) holds, [`MultiLangFactory`] makes a
//! [`MultiLangProcessor`], which starts the `executableName` command and turns each
//! life-cycle call into an action ([`protocol`]): `initialize`, `processRecords` (KPL
//! aggregates already split, sub-sequence numbers given, data base64), and one of
//! `shardEnded`, `shutdownRequested` or `leaseLost`. While an action runs, the child may
//! ask for checkpoints, which go through the shard's [`Checkpointer`](crate::Checkpointer)
//! ([`child`]); its `status` line ends the action. After the last action the child's stdin
//! is closed and it is given time to exit. A child that dies, or breaks the protocol,
//! releases its shard's lease, and the shard is taken again with a new child from its last
//! checkpoint. The settings come from the MultiLangDaemon's own properties file
//! ([`properties`]).
//!
//! ```
//! use rill_kcl::multilang::{MultiLangConfig, MultiLangFactory};
//!
//! let config = MultiLangConfig::parse(
//!     "executableName = python3 sample_kclpy_app.py\n\
//!      streamName = orders\n\
//!      applicationName = order-audit\n\
//!      initialPositionInStream = TRIM_HORIZON\n\
//!      rillLeaseTable = sqlite:leases.sqlite\n",
//! )?;
//! assert_eq!(config.executable, ["python3", "sample_kclpy_app.py"]);
//! // Give the factory to `Scheduler::builder().processor_factory(..)`.
//! let _factory = MultiLangFactory::new(config.executable.clone(), config.child_exit_timeout);
//! # Ok::<(), rill_kcl::multilang::PropertiesError>(())
//! ```

pub mod child;
mod processor;
pub mod properties;
pub mod protocol;

pub use child::{ChildError, exception_name};
pub use processor::{MultiLangFactory, MultiLangProcessor};
pub use properties::{LeaseStore, MultiLangConfig, PropertiesError, Retrieval};
