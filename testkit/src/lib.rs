//! # rill-testkit
//!
//! Test tooling for whoever builds on, or writes another implementation of, rill's
//! [`Kinesis`](rill_engine::api::Kinesis) trait or rill-kcl's `LeaseTable` trait:
//!
//! * [`kinesis`]: [`FaultyKinesis`], a `Kinesis` wrapper that injects errors, latency, hangs,
//!   lost responses, per-entry PutRecords failures and cut SubscribeToShard streams, by
//!   configuration ([`FaultConfig`]);
//! * [`lease`] (feature `lease`, on by default): [`FaultyLeaseTable`], the same for any
//!   `LeaseTable`;
//! * [`suite`]: the Kinesis behaviour suite, one set of tests for every implementation of
//!   the trait ([`kinesis_suite!`] turns it into `#[tokio::test]`s), with AWS's exact error
//!   messages;
//! * [`lease_suite`] (feature `lease`): the lease table suite, over `&dyn LeaseTable`;
//! * [`wait_until`]: polls a condition until it holds or a deadline passes;
//! * [`wire`]: the headers a hand-written wire request needs to pass the front end.
//!
//! Fault decisions come from a seeded generator (xoshiro256++): the same seed and the same
//! sequence of calls meet the same faults, on every platform.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rill_engine::api::*;
//! use rill_engine::{Engine, EngineConfig};
//! use rill_testkit::{FaultConfig, FaultyKinesis, InjectedError, Operation, OperationFaults};
//! use std::sync::Arc;
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default()).await?;
//! // Every ListStreams call is throttled.
//! let faulty = FaultyKinesis::new(
//!     Arc::new(engine),
//!     FaultConfig::new(7).for_operation(
//!         Operation::ListStreams,
//!         OperationFaults::none().with_errors(1.0, [InjectedError::LimitExceeded]),
//!     ),
//! );
//! let listed = faulty.list_streams(ListStreamsInput::default()).await;
//! assert!(matches!(listed, Err(Error::LimitExceeded(_))));
//! // Faults off: the call reaches the engine.
//! faulty.set_enabled(false);
//! assert!(faulty.list_streams(ListStreamsInput::default()).await?.stream_names.is_empty());
//! assert_eq!(faulty.counts_for(Operation::ListStreams).errors, 1);
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

pub mod kinesis;
#[cfg(feature = "lease")]
pub mod lease;
#[cfg(feature = "lease")]
pub mod lease_suite;
mod plan;
mod rng;
pub mod suite;
mod wait;
pub mod wire;

pub use kinesis::{
    EntryFaults, FaultConfig, FaultCounts, FaultyKinesis, InjectedError, Operation,
    OperationFaults, StreamFaults, Timeout,
};
#[cfg(feature = "lease")]
pub use lease::{
    FaultyLeaseTable, InjectedLeaseFault, LeaseFaultConfig, LeaseFaultCounts, LeaseFaults,
    LeaseOperation,
};
pub use plan::Faults;
pub use wait::{POLL_INTERVAL, WaitTimeout, wait_until};
