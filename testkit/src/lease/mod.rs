//! Fault injection into a lease table, to test workers against a lease table that fails,
//! is slow, or hangs: [`FaultyLeaseTable`] wraps any [`LeaseTable`](rill_kcl::lease::LeaseTable) and, per call, as its
//! [`LeaseFaultConfig`] says:
//!
//! * adds latency (fixed plus uniform jitter) before the call;
//! * fails the call with [`LeaseError::Storage`](rill_kcl::lease::LeaseError::Storage) without reaching the table;
//! * hangs ([`Timeout`]): no answer for a while and then a storage error, or no
//!   answer at all (until the caller drops the future); optionally after the call was
//!   applied;
//! * fails after success: the call is made and succeeds — a conditional write *is*
//!   written — but the worker gets a storage error, as when the response is lost.
//!
//! Every method of [`LeaseTable`](rill_kcl::lease::LeaseTable) is forwarded, the fleet row's and the owner index's
//! included ([`LeaseOperation::FleetHeartbeat`], [`LeaseOperation::UpdateFleetLeader`],
//! [`LeaseOperation::ListLeaseKeysByOwner`]), each with its faults; [`LeaseTable::supports_fleet`](rill_kcl::lease::LeaseTable::supports_fleet)
//! answers as the inner table does.
//!
//! Decisions come from a seeded random generator ([`LeaseFaultConfig::seed`]): the same
//! seed and the same sequence of calls meet the same faults. The
//! configuration can be replaced while workers run ([`FaultyLeaseTable::set_config`]) and
//! faults switched off and on ([`FaultyLeaseTable::set_enabled`]), to test recovery after
//! an outage; [`FaultyLeaseTable::counts`] tells what was injected.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rill_testkit::lease::{FaultyLeaseTable, LeaseFaultConfig, LeaseFaults, LeaseOperation};
//! use rill_kcl::{LeaseTable, SqliteLeaseTable};
//!
//! # fn demo(dir: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! let table: Arc<dyn LeaseTable> = Arc::new(SqliteLeaseTable::open(dir.join("leases"), "app")?);
//! let faulty = Arc::new(FaultyLeaseTable::new(
//!     table,
//!     LeaseFaultConfig::new(7)
//!         // Every call: 10 % storage errors and up to 5 ms of latency.
//!         .for_all(
//!             LeaseFaults::none()
//!                 .with_error_rate(0.1)
//!                 .with_latency(Duration::ZERO, Duration::from_millis(5)),
//!         )
//!         // Checkpoints: written, then reported failed, 20 % of the time.
//!         .for_operation(
//!             LeaseOperation::UpdateCheckpoint,
//!             LeaseFaults::none().with_error_after_success(0.2),
//!         ),
//! ));
//! // Give `faulty` to the workers (`SchedulerBuilder::lease_table`); later:
//! faulty.set_enabled(false);
//! # Ok(())
//! # }
//! ```

mod config;
#[cfg(test)]
mod tests;
mod wrapper;

pub use crate::plan::Timeout;
pub use config::{LeaseFaultConfig, LeaseFaultCounts, LeaseFaults, LeaseOperation};
pub use wrapper::{FaultyLeaseTable, InjectedLeaseFault};
