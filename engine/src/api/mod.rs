//! The Kinesis surface shared by every implementation: request and response types in the
//! Kinesis JSON shapes, the [`Error`] enum with a variant per AWS exception, the async
//! [`Kinesis`] trait, hash keys and sequence numbers, and the [operation table](ops) the
//! trait, the server's dispatch, the fault wrapper and `Remote` are generated from.
//!
//! The producer (`rill-kpl`) and the consumer (`rill-kcl`) talk to `dyn Kinesis` only, so
//! they run unchanged against the embedded engine, the engine's HTTP server or Amazon
//! Kinesis Data Streams.

pub mod agg;
pub mod bucket;
pub mod channels;
pub mod dates;
pub mod error;
pub mod hash;
#[cfg(feature = "embedded")]
pub mod model;
pub mod ops;
pub mod paging;
pub mod seq;
pub mod types;
pub mod wire;

pub use channels::*;
pub use error::{Error, ValidationErrors};
pub use hash::{HashKey, HashKeyRange};
pub use ops::Operation;
pub use paging::list_all_shards;
pub use seq::SequenceNumber;
pub use types::*;

use async_trait::async_trait;

/// The events of a SubscribeToShard call: each item an event or the error that ended it.
/// The stream ends after the subscription's lifetime (5 minutes) or at the end of a closed
/// shard (the last event then carries `child_shards`).
pub type SubscribeToShardStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<SubscribeToShardEvent>> + Send + 'static>>;

/// The result of a Kinesis call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

macro_rules! kinesis_trait {
    (
        required { $((
            $op:ident, $method:ident, $input:ty, $output:ty,
            $plane:ident, [$($member:ident),*], $doc:literal
        ))* }
        provided { $((
            $pop:ident, $pmethod:ident, $pinput:ty, $poutput:ty,
            $pplane:ident, [$($pmember:ident),*], $pdoc:literal
        ))* }
    ) => {
        /// The Kinesis Data Streams API, one method per operation, generated from the
        /// [operation table](ops).
        ///
        /// # Cancel safety
        ///
        /// Every method is cancel safe in the sense that dropping its future never corrupts
        /// the service; a write whose future is dropped may or may not have been applied,
        /// exactly as a request whose response was lost.
        ///
        /// The methods of the operations added after the first 26 (the table's `provided`
        /// section) have default implementations that answer `UnknownOperationException`
        /// (see [`unsupported`]), so that implementors written before they were added (test
        /// wrappers, fakes) keep compiling. [`Engine`](crate::Engine) and `Remote` override
        /// every one of them.
        #[async_trait]
        pub trait Kinesis: Send + Sync {
            $(
                #[doc = $doc]
                #[doc = ""]
                #[doc = concat!("The `", stringify!($op), "` operation. Cancel safe as the trait says (see [`Kinesis`]).")]
                async fn $method(&self, input: $input) -> Result<$output>;
            )*
            $(
                #[doc = $pdoc]
                #[doc = ""]
                #[doc = concat!("The `", stringify!($pop), "` operation. Cancel safe as the trait says (see [`Kinesis`]).")]
                #[doc = ""]
                #[doc = "Default implementation: `UnknownOperationException` (see [`unsupported`])."]
                async fn $pmethod(&self, input: $pinput) -> Result<$poutput> {
                    let _ = input;
                    Err(unsupported(stringify!($pop)))
                }
            )*
        }
    };
}

crate::kinesis_operations!(kinesis_trait);

/// The error of an operation an implementation does not serve: `UnknownOperationException`
/// (an [`Error::Other`]) with the message "`<Op>` is not supported by this implementation".
/// The default implementations of the [`Kinesis`] methods added after the first 26
/// operations (the operation table's `provided` section) answer it, so older implementors keep compiling.
pub fn unsupported(operation: &str) -> Error {
    Error::Other {
        code: "UnknownOperationException".into(),
        message: format!("{operation} is not supported by this implementation"),
    }
}
